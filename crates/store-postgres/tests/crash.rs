//! The crash test on PostgreSQL: this binary kills copies of itself mid-payment with SIGKILL (20
//! times in CI, `FACEPAY_CRASH_KILLS` for more) and checks the schema after each. The server
//! keeps running: what is tested is that a node dying between its commit and its answer, or
//! before its commit, loses nothing acknowledged and doubles nothing on retry.
#![allow(clippy::disallowed_methods)] // reads the crash test's environment

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::Schema;
use facepay_store_contract::crash::{CHILD_ENV, crash_child, crash_test};

const SCHEMA_ENV: &str = "FACEPAY_CRASH_POSTGRES_SCHEMA";

#[test]
fn acknowledged_payments_survive_sigkill() {
    let schema = Schema::new(format!("facepay_crash_{}", std::process::id()));
    let kills = std::env::var("FACEPAY_CRASH_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(20);
    let spawn = |first_id: u128| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, first_id.to_string())
            .env(SCHEMA_ENV, &schema.name)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the test binary starts again as the child")
    };
    crash_test(&schema, spawn, kills, 0x5eed, Duration::from_millis(300));
}

/// The child: does nothing unless the crash test started this binary. It must not drop the
/// schema when it ends, so it is forgotten rather than dropped.
#[test]
fn child() {
    let (Ok(first_id), Ok(name)) = (std::env::var(CHILD_ENV), std::env::var(SCHEMA_ENV)) else { return };
    let schema = Schema::new(name);
    crash_child(&schema, first_id.parse().expect("a payment id"));
    std::mem::forget(schema);
}
