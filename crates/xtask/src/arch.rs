//! The architecture check: every workspace crate's direct dependencies, read from
//! `cargo metadata`, held against `rules::RULES`. Dev-dependencies are exempt (tests may reach
//! further than the code they test); normal and build dependencies are not.

use std::collections::HashSet;
use std::fmt;
use std::process::Command;

use serde::Deserialize;

use crate::rules::Rules;

/// The workspace's crates and what each depends on directly.
#[derive(Debug, Deserialize)]
pub struct Workspace {
    #[serde(rename = "packages")]
    pub crates: Vec<Crate>,
}

#[derive(Debug, Deserialize)]
pub struct Crate {
    pub name: String,
    pub dependencies: Vec<Dependency>,
}

#[derive(Debug, Deserialize)]
pub struct Dependency {
    pub name: String,
    /// `None` for a normal dependency, else `"dev"` or `"build"`.
    pub kind: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Violation {
    UnknownCrate { name: String },
    ForbiddenWorkspaceDependency { from: String, to: String, allowed: Vec<&'static str> },
    PureCrateUsesImpureCrate { from: String, to: String },
    PureCrateUsesExternal { from: String, external: String },
    NotTheOwner { from: String, external: String, owners: Vec<&'static str>, why: &'static str },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::UnknownCrate { name } => {
                write!(f, "{name} has no rule: add it to crates/xtask/src/rules.rs and ARCHITECTURE.md")
            }
            Violation::ForbiddenWorkspaceDependency { from, to, allowed } => {
                write!(f, "{from} must not depend on {to}; it may use only [{}]", allowed.join(", "))
            }
            Violation::PureCrateUsesImpureCrate { from, to } => {
                write!(f, "{from} is pure and must not depend on {to}, which does IO")
            }
            Violation::PureCrateUsesExternal { from, external } => write!(
                f,
                "{from} is pure and must not depend on {external}; pure crates may use only the \
                 crates in rules.rs `pure_may_use`"
            ),
            Violation::NotTheOwner { from, external, owners, why } => {
                write!(f, "{from} must not depend on {external}: {why} ({})", owners.join(", "))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("cannot run cargo metadata: {0}")]
    Run(std::io::Error),
    #[error("cargo metadata failed: {0}")]
    Failed(String),
    #[error("cargo metadata printed something unexpected: {0}")]
    Parse(serde_json::Error),
}

impl Workspace {
    /// The workspace that cargo sees from the current directory.
    pub fn from_cargo_metadata() -> Result<Workspace, MetadataError> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
            .output()
            .map_err(MetadataError::Run)?;
        if !output.status.success() {
            return Err(MetadataError::Failed(String::from_utf8_lossy(&output.stderr).into_owned()));
        }
        Workspace::from_json(&output.stdout)
    }

    pub fn from_json(json: &[u8]) -> Result<Workspace, MetadataError> {
        serde_json::from_slice(json).map_err(MetadataError::Parse)
    }
}

/// Every broken rule; empty when the workspace keeps its architecture.
pub fn check(workspace: &Workspace, rules: &Rules) -> Vec<Violation> {
    let members: HashSet<&str> = workspace.crates.iter().map(|c| c.name.as_str()).collect();
    let rule_of = |name: &str| rules.crates.iter().find(|rule| rule.name == name);
    let mut violations = Vec::new();
    for krate in &workspace.crates {
        let Some(rule) = rule_of(&krate.name) else {
            violations.push(Violation::UnknownCrate { name: krate.name.clone() });
            continue;
        };
        let shipped = krate.dependencies.iter().filter(|dep| dep.kind.as_deref() != Some("dev"));
        for dep in shipped {
            let from = krate.name.clone();
            if members.contains(dep.name.as_str()) {
                if !rule.may_use.contains(&dep.name.as_str()) {
                    let allowed = rule.may_use.to_vec();
                    violations.push(Violation::ForbiddenWorkspaceDependency {
                        from,
                        to: dep.name.clone(),
                        allowed,
                    });
                } else if rule.pure && !rule_of(&dep.name).is_some_and(|target| target.pure) {
                    violations.push(Violation::PureCrateUsesImpureCrate { from, to: dep.name.clone() });
                }
                continue;
            }
            let owned = rules.owned.iter().find(|o| o.external == dep.name);
            if let Some(owned) = owned.filter(|o| !o.owners.contains(&krate.name.as_str())) {
                violations.push(Violation::NotTheOwner {
                    from,
                    external: dep.name.clone(),
                    owners: owned.owners.to_vec(),
                    why: owned.why,
                });
                continue;
            }
            if rule.pure && !rules.pure_may_use.contains(&dep.name.as_str()) {
                violations.push(Violation::PureCrateUsesExternal { from, external: dep.name.clone() });
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RULES;

    /// One crate as a test writes it: (crate, [(dependency, kind)]).
    type CrateSketch = (&'static str, &'static [(&'static str, Option<&'static str>)]);

    /// A workspace as `cargo metadata` would print it.
    fn workspace(crates: &[CrateSketch]) -> Workspace {
        let packages: Vec<_> = crates
            .iter()
            .map(|(name, deps)| {
                let deps: Vec<_> =
                    deps.iter().map(|(dep, kind)| serde_json::json!({ "name": dep, "kind": kind })).collect();
                serde_json::json!({ "name": name, "dependencies": deps, "version": "0.1.0" })
            })
            .collect();
        let json = serde_json::json!({ "packages": packages, "workspace_members": [] });
        Workspace::from_json(json.to_string().as_bytes()).unwrap()
    }

    const LEDGER_AND_FRIENDS: [CrateSketch; 4] = [
        ("facepay-domain", &[("serde", None)]),
        ("facepay-api", &[("facepay-domain", None), ("axum", None)]),
        ("facepay-biometric", &[("ort", None)]),
        ("facepay-ledger", &[("facepay-domain", None), ("thiserror", None)]),
    ];

    #[test]
    fn a_workspace_that_keeps_the_rules_passes() {
        assert_eq!(check(&workspace(&LEDGER_AND_FRIENDS), &RULES), []);
    }

    #[test]
    fn the_ledger_gaining_the_api_is_caught() {
        let mut crates = LEDGER_AND_FRIENDS.to_vec();
        crates[3] = ("facepay-ledger", &[("facepay-domain", None), ("facepay-api", None)]);
        let violations = check(&workspace(&crates), &RULES);
        assert_eq!(
            violations,
            [Violation::ForbiddenWorkspaceDependency {
                from: "facepay-ledger".into(),
                to: "facepay-api".into(),
                allowed: vec!["facepay-domain"],
            }]
        );
        assert!(violations[0].to_string().contains("facepay-ledger must not depend on facepay-api"));
    }

    #[test]
    fn an_owned_external_crate_outside_its_owner_is_caught() {
        let crates: [CrateSketch; 2] =
            [("facepay-api", &[("ort", None)]), ("facepay-store-sqlite", &[("axum", Some("build"))])];
        let violations = check(&workspace(&crates), &RULES);
        assert_eq!(violations.len(), 2, "{violations:?}");
        assert!(violations[0].to_string().contains("only biometric links ONNX Runtime"));
        assert!(matches!(&violations[1], Violation::NotTheOwner { external, .. } if external == "axum"));
    }

    #[test]
    fn a_pure_crate_reaching_for_io_is_caught() {
        let crates: [CrateSketch; 2] =
            [("facepay-payments", &[("tokio", None), ("facepay-vault", None)]), ("facepay-vault", &[])];
        let violations = check(&workspace(&crates), &RULES);
        assert!(violations.contains(&Violation::PureCrateUsesExternal {
            from: "facepay-payments".into(),
            external: "tokio".into()
        }));
        assert!(
            matches!(&violations[1], Violation::ForbiddenWorkspaceDependency { to, .. } if to == "facepay-vault")
        );
    }

    #[test]
    fn dev_dependencies_are_exempt_and_unknown_crates_are_not() {
        let crates: [CrateSketch; 2] =
            [("facepay-ledger", &[("proptest", Some("dev"))]), ("facepay-newthing", &[])];
        let violations = check(&workspace(&crates), &RULES);
        assert_eq!(violations, [Violation::UnknownCrate { name: "facepay-newthing".into() }]);
    }

    /// The real workspace, as cargo sees it now, keeps every rule.
    #[test]
    fn this_workspace_keeps_its_architecture() {
        let workspace = Workspace::from_cargo_metadata().unwrap();
        assert!(workspace.crates.len() >= 14, "read {} crates", workspace.crates.len());
        let violations = check(&workspace, &RULES);
        let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert!(violations.is_empty(), "{listed:#?}");
    }
}
