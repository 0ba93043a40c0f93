//! Engine-level durability on SQLite: what the token endpoint answered
//! survives a `SIGKILL` of the server process.
//!
//! The parent test re-executes this test binary with [`CHILD_ENV`] naming a
//! database file and the filter [`CHILD_TEST`]. The child runs an engine over
//! a `SqliteStore` on that file and a stream of token requests: it issues
//! codes through the store as the authorization endpoint would, redeems them
//! (OAuth 2.1 section 4.1.3) and refreshes the refresh tokens it got (section
//! 4.3.1), printing one `ACK` line per 200 answer after `Engine::token`
//! returned it. The parent kills it with `SIGKILL` mid-stream, starts a new
//! engine on the same file and checks:
//!
//! - every answered access token's `jti` is recorded and not revoked;
//! - every answered refresh token still leads to its family, and the last one
//!   answered per family still refreshes (it is the current token, or the
//!   previous one if one more rotation committed unanswered: the retry rule
//!   gives the same successor);
//! - no redeemed code can be redeemed again (`invalid_grant`).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test helpers outside #[test] functions: a failed step should panic; \
              the parent and child bound their run time with the monotonic clock"
)]

mod over_stores;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use latchkey_store::GrantStore;
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::refresh::{FamilyState, RefreshToken};
use over_stores::{
    PUBLIC, body, engine_over, issue_code, jti, now, post_token, redeem_params, refresh_params, rng,
};

/// Names the database file the child serves from; its presence selects child mode.
const CHILD_ENV: &str = "LATCHKEY_ENGINE_SQLITE_DURABILITY_DB";

/// The test the child runs.
const CHILD_TEST: &str = "durability_token_server_child";

/// The parent kills the child after this many answers...
const ACKS_WANTED: usize = 600;

/// ...or after this long.
const READ_FOR: Duration = Duration::from_secs(4);

/// How many refresh families the child keeps rotating at once.
const CHAINS: usize = 6;

/// Every token response the child got survives its `SIGKILL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_answered_tokens_survive_sigkill_of_the_server() {
    let path = over_stores::temp_sqlite_path("durability");
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("piped stdout");
    // Drain the pipe all the time, so the child never blocks on it and is
    // killed in the middle of its work.
    let (lines_tx, lines_rx) = mpsc::channel();
    let drain = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + READ_FOR;
    let mut lines = Vec::new();
    let mut acks = 0;
    while acks < ACKS_WANTED {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => {
                acks += usize::from(line.starts_with("ACK "));
                lines.push(line);
            }
            Err(_) => break,
        }
    }
    child.kill().expect("SIGKILL the server");
    let status = child.wait().expect("reap the server");
    assert!(
        !status.success(),
        "the server was killed, it did not finish"
    );
    drain.join().expect("drain thread");
    lines.extend(lines_rx.try_iter());

    let log = Log::parse(&lines);
    assert!(
        log.acks >= 50,
        "the server answered only {} requests",
        log.acks
    );
    log.verify(&path).await;
    over_stores::remove_sqlite(&path);
}

/// Child mode (with [`CHILD_ENV`]): serves until killed. In a normal run: a
/// bounded stream in process, checked by the same verifier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_token_server_child() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let mut stdout = std::io::stdout();
        // libtest printed `test durability_token_server_child ... ` without a
        // newline: start the answers on a line of their own.
        writeln!(stdout).expect("write");
        serve_stream(Path::new(&path), usize::MAX, &mut stdout).await;
        return;
    }
    let path = over_stores::temp_sqlite_path("durability-inline");
    let mut out = Vec::new();
    serve_stream(&path, 120, &mut out).await;
    let text = String::from_utf8(out).expect("answer lines are text");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let log = Log::parse(&lines);
    assert_eq!(log.acks, 120, "one line per answer");
    log.verify(&path).await;
    over_stores::remove_sqlite(&path);
}

/// Up to `answers` token requests (and at most 30 seconds, so a child whose
/// parent died stops by itself), one `ACK` line per 200 answer:
/// `ACK code <code> <jti> <refresh token>` or
/// `ACK refresh <presented> <jti> <refresh token>`.
async fn serve_stream(path: &Path, answers: usize, out: &mut impl Write) {
    let store = SqliteStore::open(path).await.expect("open");
    let engine = engine_over(Arc::new(store), true).await;
    let mut rng = rng(31);
    let started = Instant::now();
    let mut chains: Vec<String> = Vec::new();
    let mut acks = 0usize;
    let mut i = 0usize;
    while acks < answers && started.elapsed() < Duration::from_secs(30) {
        if chains.len() < CHAINS || i.is_multiple_of(4) {
            let code = issue_code(&engine, PUBLIC, now(), &mut rng).await;
            let response = engine
                .token(&redeem_params(&code), &post_token(), now(), &mut rng)
                .await;
            assert_eq!(response.status, 200, "a fresh code redeems");
            let answer = body(&response);
            let refresh = answer["refresh_token"].as_str().expect("refresh token");
            let access = jti(answer["access_token"].as_str().expect("access token"));
            ack(out, format!("code {code} {access} {refresh}"));
            if chains.len() < CHAINS {
                chains.push(refresh.to_owned());
            } else {
                chains[i % CHAINS] = refresh.to_owned();
            }
        } else {
            let slot = i % chains.len();
            let presented = chains[slot].clone();
            let response = engine
                .token(&refresh_params(&presented), &post_token(), now(), &mut rng)
                .await;
            assert_eq!(response.status, 200, "the current token refreshes");
            let answer = body(&response);
            let refresh = answer["refresh_token"].as_str().expect("refresh token");
            let access = jti(answer["access_token"].as_str().expect("access token"));
            ack(out, format!("refresh {presented} {access} {refresh}"));
            chains[slot] = refresh.to_owned();
        }
        acks += 1;
        i += 1;
    }
    engine.store().close().await;
}

/// What the server answered.
#[derive(Default)]
struct Log {
    acks: usize,
    codes: Vec<String>,
    access_jtis: Vec<String>,
    /// Every answered refresh token, with the one it was derived from (the
    /// first of each family: none).
    refresh_parent: HashMap<String, Option<String>>,
}

impl Log {
    fn parse(lines: &[String]) -> Self {
        let mut log = Log::default();
        for line in lines {
            let Some(ack) = line.strip_prefix("ACK ") else {
                continue;
            };
            log.acks += 1;
            let words: Vec<&str> = ack.split(' ').collect();
            match words.as_slice() {
                ["code", code, jti, refresh] => {
                    log.codes.push((*code).to_owned());
                    log.access_jtis.push((*jti).to_owned());
                    log.refresh_parent.insert((*refresh).to_owned(), None);
                }
                ["refresh", presented, jti, refresh] => {
                    assert!(
                        log.refresh_parent.contains_key(*presented),
                        "refreshes are answered in order"
                    );
                    log.access_jtis.push((*jti).to_owned());
                    log.refresh_parent
                        .insert((*refresh).to_owned(), Some((*presented).to_owned()));
                }
                _ => panic!("unexpected answer line {line:?}"),
            }
        }
        log
    }

    /// The answered refresh tokens no answered refresh was derived from: the
    /// newest answered token of each family.
    fn newest_refresh_tokens(&self) -> Vec<&String> {
        let parents: Vec<&String> = self.refresh_parent.values().flatten().collect();
        self.refresh_parent
            .keys()
            .filter(|token| !parents.contains(token))
            .collect()
    }

    /// Starts a new engine on the file and checks every answer.
    async fn verify(&self, path: &Path) {
        let store = SqliteStore::open(path)
            .await
            .expect("reopen after the crash");
        let engine = engine_over(Arc::new(store), false).await;
        let store = engine.store();
        for jti in &self.access_jtis {
            let record = store
                .access_token(jti)
                .await
                .expect("lookup")
                .unwrap_or_else(|| panic!("answered access token {jti} was not recorded"));
            assert!(!record.revoked, "answered access token {jti} is revoked");
        }
        for token in self.refresh_parent.keys() {
            let family = store
                .family_by_token(&RefreshToken::new(token.clone()).digest())
                .await
                .expect("lookup")
                .expect("an answered refresh token leads to its family");
            assert_eq!(family.state(), FamilyState::Active);
        }
        // Within the retry window of an unanswered last rotation.
        let at = now().saturating_add(Duration::from_secs(1));
        let mut rng = rng(32);
        for token in self.newest_refresh_tokens() {
            let response = engine
                .token(&refresh_params(token), &post_token(), at, &mut rng)
                .await;
            assert_eq!(
                response.status,
                200,
                "the newest answered refresh token still refreshes: {}",
                body(&response)
            );
        }
        for code in &self.codes {
            let response = engine
                .token(&redeem_params(code), &post_token(), at, &mut rng)
                .await;
            assert_eq!(response.status, 400, "a redeemed code redeemed again");
            assert_eq!(body(&response)["error"], "invalid_grant");
        }
        engine.store().close().await;
    }
}

/// Prints one answer, flushed before the next request starts.
fn ack(out: &mut impl Write, line: String) {
    writeln!(out, "ACK {line}").expect("write answer");
    out.flush().expect("flush answer");
}
