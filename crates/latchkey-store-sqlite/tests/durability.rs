//! Durability against a process crash: every write whose `.await` returned
//! `Ok` survives a `SIGKILL` of the writing process (`journal_mode=WAL`,
//! `synchronous=NORMAL`; see the crate docs for what an OS crash may lose).
//!
//! The parent test re-executes this test binary with [`CHILD_ENV`] naming a
//! database file and the filter [`CHILD_TEST`]. The child runs a stream of
//! operations (insert a code, consume every other code, start and rotate
//! refresh families, record access tokens) and prints one `ACK` line after
//! each operation returned `Ok`. The parent reads acknowledgments for a while,
//! kills the child with `SIGKILL`, reopens the database and checks every
//! acknowledged write, and that no code can be consumed twice.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use latchkey_store::conformance::{self, NOW};
use latchkey_store::{AccessTokenRecord, Consumption, GrantStore, Rotated};
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::refresh::{
    FamilyId, RefreshDecision, RefreshFamily, RefreshPolicy, RefreshPresentation, RefreshToken,
    RotationKey,
};
use latchkey_types::{ClientId, SecretString, TokenDigest};

/// Names the database file the child writes to; its presence selects child mode.
const CHILD_ENV: &str = "LATCHKEY_STORE_SQLITE_DURABILITY_DB";

/// The test the child runs.
const CHILD_TEST: &str = "durability_writer_child";

/// The parent stops reading after this many acknowledgments...
const ACKS_WANTED: usize = 2000;

/// ...or after this long.
const READ_FOR: Duration = Duration::from_secs(3);

/// Writes acknowledged by the child, then killed with SIGKILL mid-stream, are
/// all there after reopening; no code is consumed twice.
#[tokio::test]
async fn durability_acknowledged_writes_survive_sigkill_of_the_writer() {
    let path = fresh_path();
    let mut child = Command::new(std::env::current_exe().expect("the test binary"))
        .args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().expect("piped stdout");
    // A thread drains the pipe all the time, so the child never blocks on a
    // full pipe and is killed in the middle of its writes.
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
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().expect("reap the writer");
    assert!(
        !status.success(),
        "the writer was killed, it did not finish"
    );
    drain.join().expect("drain thread");
    // Lines the child printed before it died are acknowledgments too.
    lines.extend(lines_rx.try_iter());

    let log = Log::parse(&lines);
    assert!(
        log.acks >= 200,
        "the writer acknowledged only {} operations",
        log.acks
    );
    log.verify(&path).await;
    remove(&path);
}

/// Child mode (with [`CHILD_ENV`]): writes until killed. In a normal run:
/// the same stream, bounded, in process, checked by the same verifier.
#[tokio::test]
async fn durability_writer_child() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let mut stdout = std::io::stdout();
        // libtest has printed `test durability_writer_child ... ` without a
        // newline: start the acknowledgments on a line of their own.
        writeln!(stdout).expect("write");
        write_stream(Path::new(&path), usize::MAX, &mut stdout).await;
        return;
    }
    let path = fresh_path();
    let mut out = Vec::new();
    write_stream(&path, 400, &mut out).await;
    let text = String::from_utf8(out).expect("ack lines are text");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let log = Log::parse(&lines);
    assert_eq!(log.acks, 400, "one ack per operation");
    log.verify(&path).await;
    remove(&path);
}

/// Runs up to `operations` acknowledged operations (and at most 30 seconds, so
/// a child whose parent died stops by itself), one `ACK` line each.
async fn write_stream(path: &Path, operations: usize, out: &mut impl Write) {
    let store = SqliteStore::open(path).await.expect("open");
    let mut rng = conformance::rng(21);
    let client = ClientId::parse("durability-client").expect("valid client id");
    let key = RotationKey::new(&SecretString::new(
        "durability-rotation-key-0123456789".into(),
    ))
    .expect("rotation key");
    let started = Instant::now();
    let mut family: Option<(RefreshToken, RefreshFamily)> = None;
    let mut acks = 0usize;
    let mut i = 0u64;
    while acks < operations && started.elapsed() < Duration::from_secs(30) {
        match i % 5 {
            // Insert a code; consume every other one right away.
            0 | 1 => {
                let record = conformance::code_record(&client, &mut rng);
                store.insert_code(&record).await.expect("insert code");
                ack(out, format!("code {}", digest_hex(record.digest())));
                acks += 1;
                if i.is_multiple_of(5) && acks < operations {
                    match store.consume_code(record.digest()).await.expect("consume") {
                        Consumption::First(_) => {}
                        other => panic!("a fresh code was not First: {other:?}"),
                    }
                    ack(out, format!("consume {}", digest_hex(record.digest())));
                    acks += 1;
                }
            }
            // Start a family every so often, rotate the latest otherwise.
            2 | 3 => match family.take() {
                Some((token, current)) if i % 20 != 2 => {
                    let presentation = RefreshPresentation {
                        token: &token,
                        client_id: &client,
                        client_authenticated: true,
                        dpop_jkt: None,
                        scope: None,
                        resources: &[],
                    };
                    let RefreshDecision::Rotate(rotation) =
                        current.present(&presentation, NOW, &RefreshPolicy::default(), &key)
                    else {
                        panic!("the current token must rotate");
                    };
                    let outcome = store.rotate_family(&rotation.next).await.expect("rotate");
                    assert_eq!(outcome, Rotated::Applied);
                    ack(
                        out,
                        format!(
                            "rotate {} {} {}",
                            id_hex(&rotation.next.id()),
                            rotation.next.generation(),
                            digest_hex(rotation.next.current())
                        ),
                    );
                    family = Some((rotation.successor, rotation.next));
                    acks += 1;
                }
                _ => {
                    let (token, started) = conformance::family(&client, &mut rng);
                    store.insert_family(&started, None).await.expect("insert");
                    ack(
                        out,
                        format!(
                            "rotate {} 0 {}",
                            id_hex(&started.id()),
                            digest_hex(started.current())
                        ),
                    );
                    family = Some((token, started));
                    acks += 1;
                }
            },
            // Record an access token under the latest family.
            _ => {
                let jti = format!("jti-{i}");
                let token = AccessTokenRecord {
                    jti: jti.clone(),
                    client_id: client.clone(),
                    subject: None,
                    family: family.as_ref().map(|(_, f)| f.id()),
                    from_code: None,
                    expires_at: NOW.saturating_add(Duration::from_secs(300)),
                    revoked: false,
                };
                store.record_access_token(&token).await.expect("record");
                ack(out, format!("token {jti}"));
                acks += 1;
            }
        }
        i += 1;
    }
    store.close().await;
}

/// What the writer acknowledged.
#[derive(Default)]
struct Log {
    acks: usize,
    /// Every acknowledged code, and whether its consumption was acknowledged.
    codes: Vec<(String, bool)>,
    /// Per family id: the last acknowledged generation and every acknowledged digest.
    families: HashMap<String, (u64, Vec<String>)>,
    tokens: Vec<String>,
}

impl Log {
    fn parse(lines: &[String]) -> Self {
        let mut log = Log::default();
        let mut consumed = Vec::new();
        for line in lines {
            let Some(ack) = line.strip_prefix("ACK ") else {
                continue;
            };
            log.acks += 1;
            let words: Vec<&str> = ack.split(' ').collect();
            match words.as_slice() {
                ["code", digest] => log.codes.push(((*digest).to_owned(), false)),
                ["consume", digest] => consumed.push((*digest).to_owned()),
                ["rotate", id, generation, digest] => {
                    let generation: u64 = generation.parse().expect("generation");
                    let entry = log.families.entry((*id).to_owned()).or_default();
                    assert!(
                        generation == 0 || generation == entry.0 + 1,
                        "rotations are acknowledged in order"
                    );
                    entry.0 = generation;
                    entry.1.push((*digest).to_owned());
                }
                ["token", jti] => log.tokens.push((*jti).to_owned()),
                _ => panic!("unexpected ack line {line:?}"),
            }
        }
        for digest in consumed {
            let code = log
                .codes
                .iter_mut()
                .find(|(d, _)| *d == digest)
                .expect("a consumed code was inserted first");
            code.1 = true;
        }
        log
    }

    /// Reopens the database and checks every acknowledged write.
    async fn verify(&self, path: &Path) {
        let store = SqliteStore::open(path)
            .await
            .expect("reopen after the crash");
        for (hex, consumed) in &self.codes {
            let digest = parse_digest(hex);
            let first = store.consume_code(&digest).await.expect("consume");
            match (consumed, &first) {
                (true, Consumption::AlreadyConsumed(_)) => {}
                (true, other) => panic!("acknowledged consumption lost: {other:?}"),
                (false, Consumption::First(_) | Consumption::AlreadyConsumed(_)) => {}
                (false, Consumption::Unknown) => panic!("acknowledged code lost"),
            }
            let again = store.consume_code(&digest).await.expect("consume again");
            assert!(
                matches!(again, Consumption::AlreadyConsumed(_)),
                "a code was consumed twice: {again:?}"
            );
        }
        for (id, (generation, digests)) in &self.families {
            for hex in digests {
                let family = store
                    .family_by_token(&parse_digest(hex))
                    .await
                    .expect("lookup")
                    .expect("an acknowledged token leads to its family");
                assert_eq!(&id_hex(&family.id()), id);
                // One more rotation may have committed without its ack.
                assert!(
                    family.generation() == *generation || family.generation() == generation + 1,
                    "acknowledged generation {generation}, stored {}",
                    family.generation()
                );
                if family.generation() == *generation {
                    assert_eq!(
                        digest_hex(family.current()),
                        *digests.last().expect("at least one digest")
                    );
                }
            }
        }
        for jti in &self.tokens {
            let token = store.access_token(jti).await.expect("lookup");
            assert!(token.is_some(), "acknowledged access token {jti} lost");
        }
        store.close().await;
    }
}

/// Prints one acknowledgment, flushed before the next operation starts.
fn ack(out: &mut impl Write, line: String) {
    writeln!(out, "ACK {line}").expect("write ack");
    out.flush().expect("flush ack");
}

fn fresh_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "latchkey-store-sqlite-durability-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir.join("store.db")
}

fn remove(path: &Path) {
    if let Some(dir) = path.parent() {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_hex(digest: &TokenDigest) -> String {
    hex(digest.as_bytes())
}

fn id_hex(id: &FamilyId) -> String {
    hex(id.as_bytes())
}

fn parse_digest(hex: &str) -> TokenDigest {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let pair = hex.get(2 * i..2 * i + 2).expect("64 hex digits");
        *byte = u8::from_str_radix(pair, 16).expect("hex digit");
    }
    TokenDigest::from_bytes(bytes)
}
