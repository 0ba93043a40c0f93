//! The `latchkey` binary's command line: `check` and the admin commands
//! against a temporary database.

use std::path::PathBuf;
use std::process::{Command, Output};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latchkey-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn latchkey(dir: &PathBuf, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("LATCHKEY_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::piped());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn latchkey");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("run latchkey")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[test]
fn check_accepts_the_defaults() {
    let dir = temp_dir("defaults");
    let output = latchkey(&dir, &["check"], &[], None);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "the configuration is fine: issuer http://127.0.0.1:8080, listening on 127.0.0.1:8080\n\
         sign-in limits: 5 failures per user name, or 20 per client address, within 900 s \
         lock it out for 900 s, doubling on each repeat up to 3600 s; trusted proxies: none \
         (the client address is the connection's peer)\n\
         introspection: no client may introspect (set introspection_clients)\n\
         connection limits: headers within 10 s, bodies within 30 s, responses within 60 s, \
         at most 512 connections at once, 64 from one address\n\
         rate limits: 300 requests per minute per address (burst 60), 600 per client \
         (burst 120), 20 registrations per address per hour\n"
    );
}

#[test]
fn mcp_a12_check_refuses_a_public_http_issuer_with_exit_code_1() {
    let dir = temp_dir("http");
    let output = latchkey(
        &dir,
        &["check"],
        &[
            ("LATCHKEY_ISSUER", "http://auth.example.com"),
            ("LATCHKEY_BIND", "nowhere"),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("problem: issuer \"http://auth.example.com\" uses plain http"));
    assert!(lines[1].starts_with("problem: bind \"nowhere\" is not an address and port"));
}

#[test]
fn check_reports_an_unreadable_config_file() {
    let dir = temp_dir("nofile");
    let output = latchkey(&dir, &["check", "--config", "missing.toml"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output)
            .starts_with("problem: the configuration file missing.toml could not be read")
    );
}

#[test]
fn users_add_from_stdin_then_list() {
    let dir = temp_dir("users");
    let output = latchkey(
        &dir,
        &["users", "add", "alice", "--password-stdin"],
        &[],
        Some("a-long-enough-password\n"),
    );
    assert_eq!(output.status.code(), Some(0), "{:?}", output);
    assert_eq!(stdout(&output), "added user alice\n");
    let output = latchkey(&dir, &["users", "list"], &[], None);
    assert!(stdout(&output).starts_with("alice\tadded "));
    assert!(dir.join("latchkey.db").exists());
    let output = latchkey(&dir, &["users", "remove", "nobody"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).expect("utf-8"),
        "latchkey: user \"nobody\" does not exist\n"
    );
}
