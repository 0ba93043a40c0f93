//! Token endpoint throughput per store, against the raw ES256 signature.
//!
//! Per store (memory; SQLite on a temporary file in WAL mode; PostgreSQL in
//! a fresh schema when `LATCHKEY_TEST_POSTGRES_URL` is set), one operation at
//! a time through `Engine::token`: an authorization_code redemption (codes
//! inserted beforehand, outside the measurement), a refresh rotation (each
//! iteration presents the token the previous one returned), and a
//! client_credentials issuance with `client_secret_basic`. Alongside, the
//! signature alone: the engine's `KeySet` signing claims of the same shape.
//!
//! The runtime is multi-threaded with two workers, as in `latchkey serve`
//! (`LATCHKEY_BENCH_RUNTIME=current` for a current-thread runtime).
//!
//! After the criterion groups, a summary line per operation gives ops/s, the
//! ratio to the signature-only rate and the CPU time per operation of this
//! process (all its threads, from `/proc/self/stat`; PostgreSQL's own CPU is
//! not included). Each operation is summarised twice: one caller at a time,
//! and [`CALLERS`] concurrent callers (tasks on the runtime, each waiting for
//! its own answer before asking again), which is where a store can share
//! work between requests (the SQLite store's group commit).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::disallowed_methods,
    reason = "a benchmark: setup failures should panic; it reads the clock and prints results"
)]

#[path = "../tests/over_stores/mod.rs"]
mod over_stores;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use latchkey_engine::Engine;
use latchkey_store::{MemoryStore, Store};
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::{AccessTokenClaims, Audience};
use latchkey_types::{ClientId, Scope, Subject};
use latchkey_uri::ResourceUri;
use over_stores::{
    BASIC, ISSUER, PUBLIC, RESOURCE, basic_token, body, client_credentials_params, engine_over,
    issue_code, now, post_token, redeem_params, refresh_params, rng,
};
use rand_chacha::ChaCha20Rng;
use tokio::runtime::Runtime;

const MEASUREMENT: Duration = Duration::from_secs(2);
const SUMMARY_RUN: Duration = Duration::from_secs(2);
/// Concurrent callers in the second summary of each operation.
const CALLERS: usize = 16;

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(MEASUREMENT)
        .configure_from_args();
    // A two-worker multi-threaded runtime, as `latchkey serve` runs;
    // `LATCHKEY_BENCH_RUNTIME=current` for a current-thread one.
    let current = std::env::var("LATCHKEY_BENCH_RUNTIME").is_ok_and(|v| v == "current");
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
        "runtime: {}",
        if current {
            "current-thread"
        } else {
            "multi-threaded, 2 workers"
        }
    );
    let mut summary = Vec::new();

    let memory = Arc::new(runtime.block_on(engine_over(Arc::new(MemoryStore::new()), true)));
    let signature = bench_signature(&mut criterion, &memory, &mut summary);
    bench_store(&mut criterion, &runtime, "memory", &memory, &mut summary);

    let path = over_stores::temp_sqlite_path("bench");
    let sqlite_store = runtime.block_on(SqliteStore::open(&path)).unwrap();
    let sqlite = Arc::new(runtime.block_on(engine_over(Arc::new(sqlite_store), true)));
    bench_store(&mut criterion, &runtime, "sqlite", &sqlite, &mut summary);
    runtime.block_on(sqlite.store().close());
    over_stores::remove_sqlite(&path);

    if let Ok(url) = std::env::var(over_stores::POSTGRES_URL_VAR) {
        let schema = over_stores::fresh_schema();
        let options = latchkey_store_postgres::PostgresOptions::new().schema(&schema);
        let store = runtime
            .block_on(latchkey_store_postgres::PostgresStore::connect_with(
                &url, &options,
            ))
            .unwrap();
        let admin = store.clone();
        let postgres = Arc::new(runtime.block_on(engine_over(Arc::new(store), true)));
        bench_store(
            &mut criterion,
            &runtime,
            "postgres",
            &postgres,
            &mut summary,
        );
        runtime.block_on(async {
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(admin.pool())
                .await
                .unwrap();
        });
    } else {
        println!(
            "postgres skipped: {} is unset",
            over_stores::POSTGRES_URL_VAR
        );
    }

    criterion.final_summary();
    println!();
    println!(
        "{:<34} {:>12} {:>14} {:>16}",
        "operation", "ops/s", "vs signature", "CPU us/op"
    );
    for line in &summary {
        let Line { name, ops, cpu_us } = line;
        println!(
            "{name:<34} {ops:>12.0} {:>14.2} {cpu_us:>16.1}",
            ops / signature
        );
    }
}

struct Line {
    name: String,
    ops: f64,
    cpu_us: f64,
}

/// The raw ES256 signature of claims shaped like the engine's.
fn bench_signature<S: Store>(
    criterion: &mut Criterion,
    engine: &Engine<S>,
    summary: &mut Vec<Line>,
) -> f64 {
    let keys = engine.keys();
    let mut rng = rng(1);
    let sign = |rng: &mut ChaCha20Rng| {
        let claims = AccessTokenClaims::new(
            ISSUER.to_owned(),
            Subject::parse("alice").unwrap(),
            ClientId::parse(PUBLIC).unwrap(),
            Audience::new(ResourceUri::parse(RESOURCE).unwrap()),
            now(),
            rng,
        )
        .with_scope(Scope::parse("mcp:read").unwrap());
        keys.issue(&claims)
    };
    let mut group = criterion.benchmark_group("signature");
    group.throughput(Throughput::Elements(1));
    group.bench_function("es256_access_token", |b| {
        b.iter(|| std::hint::black_box(sign(&mut rng)));
    });
    group.finish();
    let line = measure("signature only (ES256 KeySet)", || {
        std::hint::black_box(sign(&mut rng));
        true
    });
    let ops = line.ops;
    summary.push(line);
    ops
}

fn bench_store<S: Store + 'static>(
    criterion: &mut Criterion,
    runtime: &Runtime,
    store_name: &str,
    engine: &Arc<Engine<S>>,
    summary: &mut Vec<Line>,
) {
    let mut group = criterion.benchmark_group(store_name);
    group.throughput(Throughput::Elements(1));
    let mut rng = rng(2);

    group.bench_function("authorization_code", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut codes = Vec::new();
                for _ in 0..iters {
                    codes.push(redeem_params(
                        &issue_code(engine, PUBLIC, now(), &mut rng).await,
                    ));
                }
                let start = Instant::now();
                for params in &codes {
                    let response = engine.token(params, &post_token(), now(), &mut rng).await;
                    assert_eq!(response.status, 200);
                }
                start.elapsed()
            })
        });
    });

    let mut refresh = runtime.block_on(first_refresh_token(engine, &mut rng));
    group.bench_function("refresh_rotation", |b| {
        b.iter(|| {
            refresh = runtime.block_on(rotate(engine, &refresh, &mut rng));
        });
    });

    let cc = client_credentials_params();
    group.bench_function("client_credentials_basic", |b| {
        b.iter(|| {
            let response = runtime.block_on(engine.token(&cc, &basic_token(), now(), &mut rng));
            assert_eq!(response.status, 200);
        });
    });
    group.finish();

    // The summary: the same operations, timed with process CPU.
    let mut codes = Vec::new();
    let estimate = 20_000usize;
    runtime.block_on(async {
        for _ in 0..estimate {
            codes.push(redeem_params(
                &issue_code(engine, PUBLIC, now(), &mut rng).await,
            ));
        }
    });
    let mut codes = codes.into_iter();
    summary.push(measure(
        &format!("{store_name}: authorization_code"),
        || {
            let Some(params) = codes.next() else {
                return false;
            };
            let response = runtime.block_on(engine.token(&params, &post_token(), now(), &mut rng));
            assert_eq!(response.status, 200);
            true
        },
    ));
    summary.push(measure(&format!("{store_name}: refresh_rotation"), || {
        refresh = runtime.block_on(rotate(engine, &refresh, &mut rng));
        true
    }));
    summary.push(measure(
        &format!("{store_name}: client_credentials ({BASIC})"),
        || {
            let response = runtime.block_on(engine.token(&cc, &basic_token(), now(), &mut rng));
            assert_eq!(response.status, 200);
            true
        },
    ));
    bench_callers(runtime, store_name, engine, summary);
}

/// The same three operations with [`CALLERS`] concurrent callers.
fn bench_callers<S: Store + 'static>(
    runtime: &Runtime,
    store_name: &str,
    engine: &Arc<Engine<S>>,
    summary: &mut Vec<Line>,
) {
    let mut rng = rng(3);
    let codes = runtime.block_on(async {
        let mut codes = Vec::new();
        for _ in 0..40_000usize {
            codes.push(redeem_params(
                &issue_code(engine, PUBLIC, now(), &mut rng).await,
            ));
        }
        Arc::new(Mutex::new(codes))
    });
    summary.push(measure_callers(
        &format!("{store_name}: authorization_code x{CALLERS}"),
        runtime,
        |caller, deadline| {
            let engine = Arc::clone(engine);
            let codes = Arc::clone(&codes);
            tokio::spawn(async move {
                let mut rng = over_stores::rng(100 + caller as u64);
                let mut n = 0;
                while Instant::now() < deadline {
                    let Some(params) = codes.lock().unwrap().pop() else {
                        break;
                    };
                    let response = engine.token(&params, &post_token(), now(), &mut rng).await;
                    assert_eq!(response.status, 200);
                    n += 1;
                }
                n
            })
        },
    ));
    let tokens = runtime.block_on(async {
        let mut tokens = Vec::new();
        for _ in 0..CALLERS {
            tokens.push(first_refresh_token(engine, &mut rng).await);
        }
        Arc::new(Mutex::new(tokens))
    });
    summary.push(measure_callers(
        &format!("{store_name}: refresh_rotation x{CALLERS}"),
        runtime,
        |caller, deadline| {
            let engine = Arc::clone(engine);
            let tokens = Arc::clone(&tokens);
            tokio::spawn(async move {
                let mut rng = over_stores::rng(200 + caller as u64);
                let mut token = tokens.lock().unwrap().pop().unwrap();
                let mut n = 0;
                while Instant::now() < deadline {
                    token = rotate(&engine, &token, &mut rng).await;
                    n += 1;
                }
                n
            })
        },
    ));
    summary.push(measure_callers(
        &format!("{store_name}: client_credentials ({BASIC}) x{CALLERS}"),
        runtime,
        |caller, deadline| {
            let engine = Arc::clone(engine);
            tokio::spawn(async move {
                let mut rng = over_stores::rng(300 + caller as u64);
                let cc = client_credentials_params();
                let mut n = 0;
                while Instant::now() < deadline {
                    let response = engine.token(&cc, &basic_token(), now(), &mut rng).await;
                    assert_eq!(response.status, 200);
                    n += 1;
                }
                n
            })
        },
    ));
}

/// Runs [`CALLERS`] tasks made by `spawn` (each given the deadline, each
/// returning how many operations it completed); their total rate and this
/// process's CPU per op.
fn measure_callers(
    name: &str,
    runtime: &Runtime,
    spawn: impl Fn(usize, Instant) -> tokio::task::JoinHandle<u64>,
) -> Line {
    let cpu_start = process_cpu();
    let start = Instant::now();
    let deadline = start + SUMMARY_RUN;
    let n: u64 = runtime.block_on(async {
        let handles: Vec<_> = (0..CALLERS).map(|caller| spawn(caller, deadline)).collect();
        let mut n = 0;
        for handle in handles {
            n += handle.await.unwrap();
        }
        n
    });
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_start).as_secs_f64();
    Line {
        name: name.to_owned(),
        ops: n as f64 / wall,
        cpu_us: cpu * 1e6 / n as f64,
    }
}

async fn first_refresh_token<S: Store>(engine: &Engine<S>, rng: &mut ChaCha20Rng) -> String {
    let code = issue_code(engine, PUBLIC, now(), rng).await;
    let response = engine
        .token(&redeem_params(&code), &post_token(), now(), rng)
        .await;
    assert_eq!(response.status, 200);
    body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn rotate<S: Store>(engine: &Engine<S>, token: &str, rng: &mut ChaCha20Rng) -> String {
    let response = engine
        .token(&refresh_params(token), &post_token(), now(), rng)
        .await;
    assert_eq!(response.status, 200);
    body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs `op` for [`SUMMARY_RUN`] or until it returns `false`; its rate and
/// this process's CPU per op.
fn measure(name: &str, mut op: impl FnMut() -> bool) -> Line {
    let cpu_start = process_cpu();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < SUMMARY_RUN && op() {
        n += 1;
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu = process_cpu().saturating_sub(cpu_start).as_secs_f64();
    Line {
        name: name.to_owned(),
        ops: n as f64 / wall,
        cpu_us: cpu * 1e6 / n as f64,
    }
}

/// User plus system CPU time of this process (every thread), from
/// `/proc/self/stat` (clock ticks of 10 ms); zero where it cannot be read.
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the whole line.
    let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // `rest` starts at field 3 (state), so utime (14) is index 11.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
