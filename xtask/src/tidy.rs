//! Layering rules that a reviewer would otherwise have to remember.
//!
//! Core crates (types through engine) are pure: they may not depend, even
//! transitively through normal dependencies, on an async runtime, an HTTP
//! framework or client, a database driver, or the OS RNG crate (STYLE.md
//! section 1). The check reads `cargo tree` for each core crate. Each core
//! crate also carries a `clippy.toml` that bans the system clock and OS RNG.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The crates that must stay free of I/O.
pub(crate) const CORE_CRATES: &[&str] = &[
    "latchkey-types",
    "latchkey-pkce",
    "latchkey-uri",
    "latchkey-metadata",
    "latchkey-registration",
    "latchkey-jose",
    "latchkey-token",
    "latchkey-dpop",
    "latchkey-engine",
    "latchkey-upstream",
];

/// The framework-neutral HTTP layer under the adapters (STYLE.md section 11:
/// one place on the `http` types for what every adapter does): no framework,
/// and, as in the core crates, no clock or RNG reads (a `clippy.toml` bans them).
pub(crate) const NEUTRAL_CRATES: &[&str] = &["latchkey-http"];

/// Packages a framework-neutral crate may never pull in.
const FRAMEWORKS: &[&str] = &["axum", "actix-web", "actix-rt", "getrandom"];

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
    let mut problems = Vec::new();
    for core in CORE_CRATES {
        let dir = root.join("crates").join(core);
        if !dir.exists() {
            continue;
        }
        match normal_dependencies(root, core) {
            Ok(tree) => {
                for dep in forbidden_in(&tree, FORBIDDEN) {
                    problems.push(format!(
                        "core crate {core} depends on {dep} (STYLE.md section 1)"
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
        let clippy = std::fs::read_to_string(dir.join("clippy.toml")).unwrap_or_default();
        if !clippy.contains("std::time::SystemTime::now") {
            problems.push(format!(
                "core crate {core} has no clippy.toml banning the system clock"
            ));
        }
    }
    for neutral in NEUTRAL_CRATES {
        let dir = root.join("crates").join(neutral);
        match normal_dependencies(root, neutral) {
            Ok(tree) => {
                for dep in forbidden_in(&tree, FRAMEWORKS) {
                    problems.push(format!(
                        "framework-neutral crate {neutral} depends on {dep} (STYLE.md section 11)"
                    ));
                }
            }
            Err(e) => problems.push(e),
        }
        let clippy = std::fs::read_to_string(dir.join("clippy.toml")).unwrap_or_default();
        if !clippy.contains("std::time::SystemTime::now") {
            problems.push(format!(
                "framework-neutral crate {neutral} has no clippy.toml banning the system clock"
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// `cargo tree` of one package's normal dependencies, with features resolved as
/// for building that package alone (so a feature another member enables, such as
/// a store's test-only conformance suite, does not count against it).
fn normal_dependencies(root: &Path, package: &str) -> Result<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(root)
        .args([
            "tree", "--locked", "-e", "normal", "--prefix", "none", "-f", "{p}", "-p", package,
        ])
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("cargo tree output: {e}"))
}

/// The `forbidden` package names in `cargo tree --prefix none -f {p}` output.
fn forbidden_in(tree: &str, forbidden: &[&str]) -> BTreeSet<String> {
    tree.lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| forbidden.contains(name))
        .map(str::to_owned)
        .collect()
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
    fn forbidden_packages_are_found_in_tree_output() {
        let tree = "latchkey-engine v0.1.0 (/w/crates/latchkey-engine)\nserde v1.0.0\ntokio v1.47.0\nmio v1.0.0\ntokio v1.47.0 (*)\n";
        let found: Vec<String> = forbidden_in(tree, FORBIDDEN).into_iter().collect();
        assert_eq!(found, vec!["mio".to_owned(), "tokio".to_owned()]);
        assert!(forbidden_in("serde v1.0.0\nlatchkey-types v0.1.0\n", FORBIDDEN).is_empty());
        assert!(forbidden_in(tree, FRAMEWORKS).is_empty());
        assert_eq!(forbidden_in("axum v0.8.0\n", FRAMEWORKS).len(), 1);
    }
}
