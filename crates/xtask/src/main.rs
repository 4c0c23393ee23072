//! `cargo xtask`: project checks that cargo itself cannot express.
//!
//! `cargo xtask check-arch` reads `cargo metadata` and fails when a crate gains a dependency that
//! ARCHITECTURE.md forbids. The same check runs in the test suite (`arch::tests`).

// An edge tool: it runs cargo and reports on the terminal.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::print_stderr)]

mod arch;
mod rules;

use std::process::ExitCode;

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    match task.as_deref() {
        Some("check-arch") => check_arch(),
        _ => {
            eprintln!("usage: cargo xtask check-arch");
            ExitCode::from(2)
        }
    }
}

fn check_arch() -> ExitCode {
    let workspace = match arch::Workspace::from_cargo_metadata() {
        Ok(workspace) => workspace,
        Err(err) => {
            eprintln!("xtask: {err}");
            return ExitCode::from(2);
        }
    };
    let violations = arch::check(&workspace, &rules::RULES);
    if violations.is_empty() {
        println!("architecture: {} crates, every dependency allowed", workspace.crates.len());
        return ExitCode::SUCCESS;
    }
    for violation in &violations {
        eprintln!("architecture: {violation}");
    }
    ExitCode::FAILURE
}
