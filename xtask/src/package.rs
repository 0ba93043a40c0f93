//! `cargo xtask package`: every library crate packaged as it would be
//! published, then built, and the no-I/O ones tested, from the tarballs alone.
//!
//! Publishing is off (`publish = false` in the workspace), and cargo's own
//! verification cannot help with that: `cargo package --workspace` puts only
//! publishable crates into the local registry it overlays on crates.io
//! (rust-lang/cargo#14408), so the first crate that depends on a sibling fails
//! to resolve, `--no-verify` or not, unless the lockfile is left out. So this
//! task does the verification itself, the same way:
//!
//! 1. `cargo package --no-verify --exclude-lockfile` for every library crate
//!    (the `.crate` files land in `<target>/package/`), after checking with
//!    `cargo package --list` that every file git tracks in the crate is in its
//!    package (migrations, templates, README, test data).
//! 2. The tarballs are unpacked into a fresh scratch workspace,
//!    `<target>/package-check/`, whose `[patch.crates-io]` points every
//!    `latchkey-*` dependency (a plain version requirement once packaged) at
//!    the unpacked sibling; the repository's `Cargo.lock` pins everything else
//!    to the versions the rest of CI tested.
//! 3. `cargo check --workspace` there: every library crate compiles from its
//!    tarball with its siblings' tarballs.
//! 4. `cargo test` of the crates without I/O ([`TESTED`]), doctests (the
//!    READMEs' examples) included. Their fuzz-corpus replay tests read
//!    `../../fuzz` from the crate, the repository's corpora, so the scratch
//!    workspace has a `fuzz` link to them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, run, workspace_root};

/// Library crates that need no network, database or server for their tests;
/// their tests run from the unpacked tarballs.
const TESTED: [&str; 10] = [
    "latchkey-types",
    "latchkey-pkce",
    "latchkey-uri",
    "latchkey-metadata",
    "latchkey-registration",
    "latchkey-jose",
    "latchkey-token",
    "latchkey-dpop",
    "latchkey-upstream",
    "latchkey-store",
];

/// Crates under `crates/` that are not libraries to pick: the server binary's
/// package.
const NOT_PICKED: [&str; 1] = ["latchkey-server"];

/// Library crates that are test support only and need no README of their own.
const TEST_SUPPORT: [&str; 1] = ["latchkey-http-tests"];

pub(crate) fn package() -> Result<(), String> {
    let root = workspace_root();
    let crates = library_crates(&root)?;
    let mut problems = Vec::new();
    for name in &crates {
        problems.extend(check_crate(&root, name)?);
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }

    let target = target_dir(&root);
    let package_dir = target.join("package");
    let mut command = Command::new(cargo());
    command.current_dir(&root).args([
        "package",
        "--no-verify",
        "--exclude-lockfile",
        "--allow-dirty",
    ]);
    for name in &crates {
        command.args(["-p", name]);
    }
    run(&mut command)?;

    let scratch = target.join("package-check");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    }
    let unpacked = scratch.join("crates");
    std::fs::create_dir_all(&unpacked).map_err(|e| format!("{}: {e}", unpacked.display()))?;
    let version = workspace_version(&root)?;
    let mut manifest = String::from(
        "# Written by `cargo xtask package`: the packaged crates, built from their tarballs.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\"crates/*\"]\n\n[patch.crates-io]\n",
    );
    for name in &crates {
        let tarball = package_dir.join(format!("{name}-{version}.crate"));
        run(Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&unpacked))?;
        manifest.push_str(&format!(
            "{name} = {{ path = \"crates/{name}-{version}\" }}\n"
        ));
    }
    // The libsqlite3-sys setting of the workspace, so the SQLite build is shared.
    manifest.push_str("\n[profile.dev.package.libsqlite3-sys]\nopt-level = 3\n");
    write(&scratch.join("Cargo.toml"), &manifest)?;
    std::fs::copy(root.join("Cargo.lock"), scratch.join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    // The corpus-replay tests read `$CARGO_MANIFEST_DIR/../../fuzz`.
    std::os::unix::fs::symlink(root.join("fuzz"), scratch.join("fuzz"))
        .map_err(|e| format!("fuzz link: {e}"))?;

    let in_scratch = |args: &[&str]| {
        let mut command = Command::new(cargo());
        command
            .current_dir(&scratch)
            .env("CARGO_TARGET_DIR", &target)
            .args(args);
        command
    };
    // `check`, not `build`: it proves the same thing (every crate and its
    // dependencies resolve and compile from the tarballs) without code
    // generation for the I/O crates' dependencies, whose features unify
    // differently here than in the repository, so they are not shared with
    // the rest of CI's build; the tested crates are built by `cargo test`.
    run(&mut in_scratch(&["check", "--workspace"]))?;
    let mut test = in_scratch(&["test", "--all-features"]);
    for name in TESTED {
        test.args(["-p", name]);
    }
    run(&mut test)?;
    eprintln!(
        "xtask: {} crates packaged and checked from their tarballs; tests of {} passed there",
        crates.len(),
        TESTED.join(", ")
    );
    Ok(())
}

/// Every package under `crates/` with a library target, but the server's.
fn library_crates(root: &Path) -> Result<Vec<String>, String> {
    let dir = root.join("crates");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("src/lib.rs").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !NOT_PICKED.contains(&name.as_str()))
        .collect();
    names.sort();
    Ok(names)
}

/// What a picked crate must carry: a README that is its crate documentation,
/// and every file git tracks in it inside its package.
fn check_crate(root: &Path, name: &str) -> Result<Vec<String>, String> {
    let dir = root.join("crates").join(name);
    let mut problems = Vec::new();
    if !TEST_SUPPORT.contains(&name) {
        let manifest = read(&dir.join("Cargo.toml"))?;
        if !manifest.contains("\nreadme = \"README.md\"\n") {
            problems.push(format!(
                "{name}: Cargo.toml sets no `readme = \"README.md\"`"
            ));
        }
        if !dir.join("README.md").is_file() {
            problems.push(format!("{name}: no README.md"));
        }
        let lib = read(&dir.join("src/lib.rs"))?;
        if !lib.starts_with("#![doc = include_str!(\"../README.md\")]") {
            problems.push(format!(
                "{name}: src/lib.rs does not begin with #![doc = include_str!(\"../README.md\")]"
            ));
        }
    }
    let listed = output(Command::new(cargo()).current_dir(root).args([
        "package",
        "--list",
        "--allow-dirty",
        "--exclude-lockfile",
        "-p",
        name,
    ]))?;
    let listed: Vec<&str> = listed.lines().collect();
    let tracked =
        output(
            Command::new("git")
                .current_dir(&dir)
                .args(["ls-files", "--full-name", "."]),
        )?;
    let prefix = format!("crates/{name}/");
    for file in tracked.lines() {
        let Some(relative) = file.strip_prefix(&prefix) else {
            continue;
        };
        if !listed.contains(&relative) {
            problems.push(format!("{name}: {relative} is not in the package"));
        }
    }
    Ok(problems)
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// `version` of `[workspace.package]`, which every crate inherits.
fn workspace_version(root: &Path) -> Result<String, String> {
    let manifest = read(&root.join("Cargo.toml"))?;
    manifest
        .split("[workspace.package]")
        .nth(1)
        .and_then(|section| {
            section
                .lines()
                .find_map(|line| line.strip_prefix("version = \""))
        })
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .ok_or_else(|| "Cargo.toml: no version in [workspace.package]".to_owned())
}

fn output(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{command:?}: {e}"))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}
