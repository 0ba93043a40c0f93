//! `cargo xtask`: the project's chores, written once so CI and people run the same thing.
//!
//! - `cargo xtask ci`: exactly what `.ci/run` runs after it has set the machine up
//!   (format check, clippy with warnings denied, the README's test command).
//! - `cargo xtask fuzz [--seconds N] [--no-asan] [TARGET...]`: builds every fuzz
//!   target (or the named ones) in one `cargo build` with libFuzzer's
//!   instrumentation (no `cargo fuzz` needed), runs each for N seconds (default
//!   60), and reports every failure at the end with its artifact; on stable
//!   through `RUSTC_BOOTSTRAP=1`. See docs/fuzzing.md.
//! - `cargo xtask bench [--quick] [--ops a,b] [--connections 1,16,64] ...`: Latchkey
//!   beside node-oidc-provider over HTTP with wrk, same core budget (see `bench.rs`);
//!   `cargo xtask bench --criterion` runs the in-process criterion benchmarks.
//! - `cargo xtask tidy`: checks the layering rules (also a `#[test]`).
//! - `cargo xtask package`: packages every library crate, checks them all from
//!   their tarballs and runs the tests of the no-I/O ones there (`package.rs`).

mod bench;
mod package;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("fuzz") => fuzz(&args[1..]),
        Some("bench") => bench::bench(&args[1..]),
        Some("package") => package::package(),
        Some("tidy") => tidy::check(&workspace_root()).map_err(|problems| problems.join("\n")),
        _ => Err(
            "usage: cargo xtask <ci | fuzz [--seconds N] [--no-asan] [TARGET...] | bench [--quick | --smoke] \
             [--ops a,b] [--connections 1,16,64] [--duration S] [--reps N] [--no-peer] \
             [--log-filter F] [--latchkey-bin PATH] [--write | --no-write] [--criterion] | tidy | package>"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The test command the README gives; `.ci/run` runs exactly this.
pub(crate) const TEST_COMMAND: [&str; 2] = ["test", "--workspace"];

fn ci() -> Result<(), String> {
    run(Command::new(cargo()).args(["fmt", "--all", "--", "--check"]))?;
    run(Command::new(cargo()).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new(cargo()).args(TEST_COMMAND))
}

/// The RUSTFLAGS `cargo fuzz build` sets (rust-fuzz/cargo-fuzz `src/project.rs`,
/// `Project::cargo`, at its default options on Linux): SanitizerCoverage with
/// 8-bit counters, the PC table and compare tracing for libFuzzer, `--cfg
/// fuzzing`, no branch folding, stack-depth tracing, debug assertions and
/// AddressSanitizer. Two deliberate differences: no `-Ccodegen-units=1` (to keep
/// the one cold CI build short: a single unit per crate leaves LLVM nothing to
/// run in parallel; its effect on executions was not measured), and overflow checks are on as well. AddressSanitizer works
/// on stable under `RUSTC_BOOTSTRAP=1` with the std the toolchain ships (as
/// with `cargo fuzz`, std itself is not instrumented); `--no-asan` drops it.
const FUZZ_RUSTFLAGS: [&str; 10] = [
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg fuzzing",
    "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// A target that did not finish clean: its name, why, and the input
/// libFuzzer saved (if it saved one).
struct FuzzFailure {
    target: String,
    status: String,
    artifacts: Vec<PathBuf>,
    log: PathBuf,
}

/// `cargo xtask fuzz`: builds every fuzz target in one `cargo build` (no
/// `cargo fuzz` needed), runs each for `--seconds` over its committed corpus
/// and regressions, and reports every failure at the end with its artifact.
fn fuzz(args: &[String]) -> Result<(), String> {
    let mut seconds = 60u64;
    let mut asan = true;
    let mut targets = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--seconds" {
            let value = iter.next().ok_or("--seconds needs a value")?;
            seconds = value
                .parse()
                .map_err(|_| format!("--seconds: not a number: {value}"))?;
            // libFuzzer reads -max_total_time=0 as "no limit".
            if seconds == 0 {
                return Err("--seconds must be at least 1".to_owned());
            }
        } else if arg == "--no-asan" {
            asan = false;
        } else if arg.starts_with('-') {
            return Err(format!("fuzz: unknown option {arg}"));
        } else {
            targets.push(arg.clone());
        }
    }
    let fuzz_dir = workspace_root().join("fuzz");
    let all = fuzz_targets(&fuzz_dir)?;
    if targets.is_empty() {
        targets.clone_from(&all);
    }
    if let Some(unknown) = targets.iter().find(|target| !all.contains(target)) {
        return Err(format!("fuzz: no target named {unknown}"));
    }
    let binaries = fuzz_build(&fuzz_dir, &targets, asan)?;
    let mut failures = Vec::new();
    for target in &targets {
        if let Some(failure) = fuzz_run(&fuzz_dir, &binaries, target, seconds)? {
            failures.push(failure);
        }
    }
    if failures.is_empty() {
        eprintln!("xtask: all {} fuzz targets ran clean", targets.len());
        return Ok(());
    }
    let mut report = format!(
        "{} of {} fuzz targets failed:",
        failures.len(),
        targets.len()
    );
    for failure in &failures {
        report.push_str(&format!(
            "\n  {}: {} (log {})",
            failure.target,
            failure.status,
            failure.log.display()
        ));
        for artifact in &failure.artifacts {
            report.push_str(&format!("\n    artifact: {}", artifact.display()));
        }
    }
    report.push_str(
        "\nreproduce with: cargo xtask fuzz --seconds 1 <target> after copying the \
         artifact into fuzz/regressions/<target>/",
    );
    Err(report)
}

/// Builds the named targets in one `cargo build` with the fuzzing flags and
/// returns the directory holding their binaries.
fn fuzz_build(fuzz_dir: &Path, targets: &[String], asan: bool) -> Result<PathBuf, String> {
    let triple = host_triple()?;
    let mut rustflags = FUZZ_RUSTFLAGS.join(" ");
    if asan {
        rustflags.push_str(" -Zsanitizer=address");
    }
    // Like `cargo fuzz`, the caller's own flags (a linker, say) come last.
    if let Ok(extra) = std::env::var("RUSTFLAGS")
        && !extra.trim().is_empty()
    {
        rustflags.push(' ');
        rustflags.push_str(&extra);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz_dir.join("target"));
    let mut command = Command::new(cargo());
    command
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", rustflags)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_PROFILE_RELEASE_DEBUG", "line-tables-only")
        .env("CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS", "true")
        .env("CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS", "true")
        // `--target` keeps the flags off build scripts and proc macros.
        .args(["build", "--locked", "--release", "--target", &triple]);
    for target in targets {
        command.args(["--bin", target]);
    }
    let started = std::time::Instant::now();
    run(&mut command)?;
    eprintln!(
        "xtask: built {} fuzz targets in {:.0} s",
        targets.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(target_dir.join(triple).join("release"))
}

/// Runs one target for `seconds`; `Ok(Some(..))` when it failed.
fn fuzz_run(
    fuzz_dir: &Path,
    binaries: &Path,
    target: &str,
    seconds: u64,
) -> Result<Option<FuzzFailure>, String> {
    let artifacts = fuzz_dir.join("artifacts").join(target);
    // New inputs go to a scratch corpus, so the committed seeds stay as committed.
    let scratch = fuzz_dir.join("artifacts").join("corpus").join(target);
    for dir in [&artifacts, &scratch] {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let before = list_dir(&artifacts);
    let log = fuzz_dir.join("artifacts").join(format!("{target}.log"));
    let log_file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut command = Command::new(binaries.join(target));
    command.arg(&scratch);
    for seeds in ["corpus", "regressions"] {
        let dir = fuzz_dir.join(seeds).join(target);
        if dir.is_dir() {
            command.arg(dir);
        }
    }
    let mut prefix = artifacts.clone().into_os_string();
    prefix.push("/");
    let mut prefix_arg = std::ffi::OsString::from("-artifact_prefix=");
    prefix_arg.push(prefix);
    command
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=10")
        .arg("-print_final_stats=1")
        .arg(prefix_arg)
        .env("ASAN_OPTIONS", asan_options())
        .stdout(std::process::Stdio::null())
        .stderr(log_file);
    let started = std::time::Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{}: {e}", binaries.join(target).display()))?;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let stat = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("stat::{name}:")))
            .map_or("?", str::trim)
            .to_owned()
    };
    let coverage = text
        .lines()
        .rev()
        .find_map(|line| line.split_once(" cov: "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    eprintln!(
        "xtask: fuzz {target}: {} in {:.0} s, {} executions ({} /s), coverage {coverage}",
        if status.success() { "clean" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        stat("number_of_executed_units"),
        stat("average_exec_per_sec"),
    );
    if status.success() {
        return Ok(None);
    }
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    for line in tail.iter().rev() {
        eprintln!("  | {line}");
    }
    let after = list_dir(&artifacts);
    Ok(Some(FuzzFailure {
        target: target.to_owned(),
        status: status.to_string(),
        artifacts: after
            .into_iter()
            .filter(|path| !before.contains(path))
            .collect(),
        log,
    }))
}

/// The caller's `ASAN_OPTIONS` with the one default `cargo fuzz run` adds
/// (`detect_odr_violation=0`, same `src/project.rs`).
fn asan_options() -> String {
    let mut options = std::env::var("ASAN_OPTIONS").unwrap_or_default();
    if !options.is_empty() {
        options.push(':');
    }
    options.push_str("detect_odr_violation=0");
    options
}

fn list_dir(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Result<String, String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(&rustc)
        .arg("-vV")
        .output()
        .map_err(|e| format!("{rustc} -vV: {e}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| format!("{rustc} -vV names no host"))
}

fn fuzz_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    names.sort();
    Ok(names)
}

fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {command:?}");
    let status = command.status().map_err(|e| format!("{command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
