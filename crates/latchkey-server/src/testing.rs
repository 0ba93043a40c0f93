//! Helpers for this crate's unit tests.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A fresh path under the system temp directory, unique in this process run.
pub(crate) fn temp_path(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("latchkey-server-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{n}-{name}"))
}
