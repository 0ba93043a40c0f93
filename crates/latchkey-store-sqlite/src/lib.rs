#![doc = include_str!("../README.md")]

mod clients;
mod codec;
mod conn;
mod grants;
mod migrate;
mod others;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use latchkey_store::StoreError;
#[cfg(doc)]
use latchkey_store::{ClientStore, ConsentStore, GrantStore, KeyStore, ReplayStore, UserStore};
use rusqlite::Connection;

use crate::codec::backend;
use crate::conn::{Connections, Location};

pub use crate::conn::MAX_BATCH;

/// How long a connection waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a commit waits for before its callers are answered (SQLite's
/// `synchronous` pragma, in WAL mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// `synchronous=NORMAL`, the default: a commit is complete once its WAL
    /// frames are handed to the operating system. Every answered write
    /// survives a crash or `SIGKILL` of the process; an operating-system
    /// crash or power loss can lose the writes committed since the last
    /// checkpoint (the file stays consistent, but may come back older).
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit also waits for `fsync` of the WAL, so
    /// every answered write survives a power loss too. Group commit shares
    /// one `fsync` among the writes of concurrent callers.
    Full,
}

impl Synchronous {
    /// The setting's name in configuration: `normal` or `full`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Full => "full",
        }
    }
}

/// A `synchronous` setting that is neither `normal` nor `full`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSynchronous;

impl std::fmt::Display for UnknownSynchronous {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("expected \"normal\" or \"full\"")
    }
}

impl std::error::Error for UnknownSynchronous {}

impl FromStr for Synchronous {
    type Err = UnknownSynchronous;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "normal" => Ok(Self::Normal),
            "full" => Ok(Self::Full),
            _ => Err(UnknownSynchronous),
        }
    }
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// What a commit waits for; see [`Synchronous`].
    pub synchronous: Synchronous,
}

impl SqliteOptions {
    /// These options with `synchronous` set.
    #[must_use]
    pub const fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }
}

/// A [`latchkey_store::Store`] in one SQLite database.
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    connections: Arc<Connections>,
}

impl SqliteStore {
    /// Opens the database at `path` with the default options, creating the
    /// file if it does not exist, and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default()).await
    }

    /// Opens the database at `path` with `options`, creating the file if it
    /// does not exist, and brings its schema up to date.
    pub async fn open_with(path: &Path, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || SqliteStore::open_now(path, options))
            .await
            .map_err(backend)?
    }

    fn open_now(path: PathBuf, options: SqliteOptions) -> Result<SqliteStore, StoreError> {
        create_private(&path)?;
        let location = Location::File(path);
        let mut writer = conn::open_writer(&location, options.synchronous)?;
        migrate::migrate(&mut writer)?;
        SqliteStore::start(writer, location)
    }

    /// An empty store in memory, gone when the store is dropped. One
    /// connection serves reads and writes.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let mut writer = conn::open_writer(&Location::Memory, Synchronous::Normal)?;
        migrate::migrate(&mut writer)?;
        SqliteStore::start(writer, Location::Memory)
    }

    fn start(writer: Connection, location: Location) -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore {
            connections: Arc::new(Connections::start(writer, location)?),
        })
    }

    /// Finishes the writes already queued, then closes every connection;
    /// the last one to close checkpoints the WAL into the database file.
    /// Operations started afterwards fail as a backend error.
    pub async fn close(&self) {
        self.connections.close().await;
    }

    /// How many transactions this store's writer has committed since it
    /// opened. Compared with the number of writes, it shows how many
    /// operations a group commit carried on average.
    #[must_use]
    pub fn commits(&self) -> u64 {
        self.connections.commits()
    }

    /// Runs `work` as one atomic operation of the writer (see the crate
    /// docs): an `Err` rolls back everything it did.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.connections.write(work).await
    }

    /// Runs a read bounded to a few rows inline, on a read-only connection.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.connections.read(work).await
    }

    /// Runs a read of unbounded size off the async threads.
    async fn read_large<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.connections.read_large(work).await
    }
}

/// Creates the database file, readable and writable by its owner only, if it
/// does not exist yet.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(backend(error)),
    }
}

/// Elsewhere SQLite creates the file with the platform's defaults.
#[cfg(not(unix))]
fn create_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[cfg(test)]
mod tests;
