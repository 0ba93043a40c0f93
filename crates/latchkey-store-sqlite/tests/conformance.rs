//! The shared `latchkey-store` conformance suite against a SQLite file in WAL
//! mode, one fresh file per case, so real concurrency between the writer and
//! reader connections is exercised.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use latchkey_store_sqlite::SqliteStore;

/// A database path no other case or run uses: `<temp>/<PREFIX><pid>/<n>.db`.
fn fresh_path() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        remove_stale_runs();
    }
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir.join(format!("{n}.db"))
}

const PREFIX: &str = "latchkey-store-sqlite-conformance-";

/// Best effort: removes what runs at least an hour old left behind (a run
/// cannot clean up after itself, the macro owns the stores until exit).
fn remove_stale_runs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if stale && entry.file_name().to_string_lossy().starts_with(PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn fresh_store() -> SqliteStore {
    SqliteStore::open(&fresh_path())
        .await
        .expect("open a fresh database")
}

latchkey_store::conformance_tests!(fresh_store());

/// The same suite against [`SqliteStore::open_in_memory`], where one
/// connection serves reads and writes.
mod in_memory {
    async fn fresh_store() -> latchkey_store_sqlite::SqliteStore {
        latchkey_store_sqlite::SqliteStore::open_in_memory()
            .await
            .expect("open in memory")
    }

    latchkey_store::conformance_tests!(fresh_store());
}
