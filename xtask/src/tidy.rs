//! Layering rules that a reviewer would otherwise have to remember.
//!
//! Core crates (types through engine) are pure: they may not depend, even
//! transitively through normal dependencies, on an async runtime, an HTTP
//! framework or client, or a database driver (STYLE.md section 1). Each core
//! crate also carries a `clippy.toml` that bans the system clock and OS RNG.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The crates that must stay free of I/O.
pub(crate) const CORE_CRATES: &[&str] = &[
    "latchkey-types",
    "latchkey-pkce",
    "latchkey-uri",
    "latchkey-metadata",
    "latchkey-registration",
    "latchkey-token",
    "latchkey-dpop",
    "latchkey-engine",
];

/// Packages a core crate may never pull in.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "async-std",
    "smol",
    "mio",
    "hyper",
    "axum",
    "actix-web",
    "actix-rt",
    "reqwest",
    "sqlx",
    "redis",
    "rusqlite",
    "postgres",
    "tokio-postgres",
    "tower",
    "getrandom",
];

/// Checks every rule; returns the list of violations.
pub(crate) fn check(root: &Path) -> Result<(), Vec<String>> {
    let metadata = cargo_metadata(root).map_err(|e| vec![e])?;
    let mut problems = Vec::new();
    for (core, deps) in normal_dependency_closure(&metadata) {
        for dep in deps.iter().filter(|d| FORBIDDEN.contains(&d.as_str())) {
            problems.push(format!(
                "core crate {core} depends on {dep} (STYLE.md section 1)"
            ));
        }
    }
    for core in CORE_CRATES {
        let dir = root.join("crates").join(core);
        if !dir.exists() {
            continue;
        }
        let clippy = std::fs::read_to_string(dir.join("clippy.toml")).unwrap_or_default();
        if !clippy.contains("std::time::SystemTime::now") {
            problems.push(format!(
                "core crate {core} has no clippy.toml banning the system clock"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn cargo_metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

/// For each core crate in the workspace: the names of every package it reaches
/// through normal (not dev, not build) dependencies.
fn normal_dependency_closure(metadata: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let empty = Vec::new();
    let packages = metadata["packages"].as_array().unwrap_or(&empty);
    let name_of: BTreeMap<&str, &str> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    let nodes = metadata["resolve"]["nodes"].as_array().unwrap_or(&empty);
    let edges: BTreeMap<&str, Vec<&str>> = nodes
        .iter()
        .filter_map(|node| {
            let id = node["id"].as_str()?;
            let deps = node["deps"]
                .as_array()?
                .iter()
                .filter(|dep| {
                    dep["dep_kinds"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
                })
                .filter_map(|dep| dep["pkg"].as_str())
                .collect();
            Some((id, deps))
        })
        .collect();
    let mut out = BTreeMap::new();
    for (id, name) in &name_of {
        if !CORE_CRATES.contains(name) {
            continue;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![*id];
        while let Some(current) = stack.pop() {
            for dep in edges.get(current).into_iter().flatten() {
                if seen.insert(*dep) {
                    stack.push(dep);
                }
            }
        }
        let names = seen
            .iter()
            .filter_map(|id| name_of.get(id))
            .map(|n| (*n).to_owned())
            .collect();
        out.insert((*name).to_owned(), names);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_crates_depend_on_no_runtime_framework_or_driver() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        if let Err(problems) = check(root) {
            panic!("tidy found problems:\n{}", problems.join("\n"));
        }
    }

    #[test]
    fn the_closure_sees_transitive_normal_dependencies_only() {
        let metadata = serde_json::json!({
            "packages": [
                {"id": "a", "name": "latchkey-types"},
                {"id": "b", "name": "middle"},
                {"id": "c", "name": "tokio"},
                {"id": "d", "name": "sqlx"}
            ],
            "resolve": {"nodes": [
                {"id": "a", "deps": [
                    {"pkg": "b", "dep_kinds": [{"kind": null}]},
                    {"pkg": "d", "dep_kinds": [{"kind": "dev"}]}
                ]},
                {"id": "b", "deps": [{"pkg": "c", "dep_kinds": [{"kind": null}]}]},
                {"id": "c", "deps": []},
                {"id": "d", "deps": []}
            ]}
        });
        let closure = normal_dependency_closure(&metadata);
        let deps = &closure["latchkey-types"];
        assert!(
            deps.contains("tokio"),
            "transitive normal dependency missed"
        );
        assert!(!deps.contains("sqlx"), "dev dependency counted");
    }
}
