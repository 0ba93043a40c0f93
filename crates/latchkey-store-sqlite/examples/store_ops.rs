//! CPU per store operation on a SQLite file, one caller at a time.
//!
//! ```text
//! cargo run --release -p latchkey-store-sqlite --example store_ops [-- current]
//! ```
//!
//! Runs on a two-worker multi-threaded runtime, as `latchkey serve` does
//! (`current` for a current-thread runtime). CPU is this process's, all
//! threads (the store's writer thread included), read from `/proc/self/stat`;
//! the machine's other load inflates the wall time but much less the CPU.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a measurement: failures should panic; it reads the clock and prints results"
)]

use std::time::{Duration, Instant};

use latchkey_store::conformance::{client_record, code_record, family, rng};
use latchkey_store::{AccessTokenRecord, ClientStore, GrantStore, NewFamily};
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{Subject, UnixTime};
use rand_core::Rng;

const N: usize = 5_000;

fn main() {
    let current = std::env::args().any(|a| a == "current");
    let runtime = if current {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(2);
        builder
    }
    .enable_all()
    .build()
    .unwrap();
    println!(
        "{} runtime, {N} operations each",
        if current {
            "current-thread"
        } else {
            "multi-threaded"
        }
    );
    runtime.block_on(store_operations());
}

/// Each operation a token response makes, on the store itself.
async fn store_operations() {
    let path = std::env::temp_dir().join(format!(
        "latchkey-store-ops-{}-store.db",
        std::process::id()
    ));
    let store = SqliteStore::open(&path).await.unwrap();
    let mut rng = rng(1);
    let client = client_record(&mut rng, None);
    store.register_client(&client, u64::MAX).await.unwrap();
    let codes: Vec<_> = (0..N)
        .map(|_| code_record(&client.client_id, &mut rng))
        .collect();
    for code in &codes {
        store.insert_code(code).await.unwrap();
    }
    let families: Vec<_> = (0..N)
        .map(|_| family(&client.client_id, &mut rng).1)
        .collect();
    let token = |rng: &mut rand_chacha::ChaCha20Rng, i: usize, grant: bool| AccessTokenRecord {
        jti: format!("jti-{:016x}", rng.next_u64()),
        client_id: client.client_id.clone(),
        subject: Some(Subject::parse("alice").unwrap()),
        family: grant.then(|| families[i].id()),
        from_code: grant.then(|| *codes[i].digest()),
        expires_at: UnixTime::from_secs(2_000_000_000),
        revoked: false,
    };
    let granted: Vec<_> = (0..N).map(|i| token(&mut rng, i, true)).collect();
    let bare: Vec<_> = (0..N).map(|i| token(&mut rng, i, false)).collect();

    let start = Measure::start();
    for _ in 0..N {
        store.client(&client.client_id).await.unwrap().unwrap();
    }
    start.report("client (a read)");
    let start = Measure::start();
    for code in &codes {
        store.consume_code(code.digest()).await.unwrap();
    }
    start.report("consume_code");
    let start = Measure::start();
    for (i, token) in granted.iter().enumerate() {
        let new = NewFamily {
            family: &families[i],
            from_code: Some(codes[i].digest()),
        };
        store.record_issuance(Some(new), token).await.unwrap();
    }
    start.report("record_issuance (family + token)");
    let start = Measure::start();
    for token in &bare {
        store.record_access_token(token).await.unwrap();
    }
    start.report("record_access_token (no grant)");
    store.close().await;
    remove(&path);
}

struct Measure {
    wall: Instant,
    cpu: Duration,
}

impl Measure {
    fn start() -> Self {
        Measure {
            wall: Instant::now(),
            cpu: process_cpu(),
        }
    }

    fn report(self, name: &str) {
        let per_op = |d: Duration| d.as_secs_f64() * 1e6 / N as f64;
        println!(
            "{name:<36} {:>8.1} µs CPU/op {:>8.1} µs wall/op",
            per_op(process_cpu().saturating_sub(self.cpu)),
            per_op(self.wall.elapsed())
        );
    }
}

/// User plus system CPU of this process (every thread), in clock ticks of 10 ms.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn remove(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}
