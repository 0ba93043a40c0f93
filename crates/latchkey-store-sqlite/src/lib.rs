#![doc = include_str!("../README.md")]

mod clients;
mod codec;
mod conn;
mod grants;
mod others;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use latchkey_store::StoreError;
#[cfg(doc)]
use latchkey_store::{ClientStore, ConsentStore, GrantStore, KeyStore, ReplayStore, UserStore};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

use crate::codec::backend;
use crate::conn::{Connections, Held};

/// How long a connection waits for another process's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many read-only connections a file-backed store keeps.
pub const READER_CONNECTIONS: usize = 4;

/// The schema migrations, embedded at build time.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A [`latchkey_store::Store`] in one SQLite database.
///
/// Cheap to share behind an `Arc`; every method takes `&self`.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The one connection that writes.
    writer: Arc<Connections>,
    /// Connections that only read (the writer itself for an in-memory store).
    reader: Arc<Connections>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it does not exist,
    /// and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        create_private(path)?;
        let common = SqliteConnectOptions::new()
            .filename(path)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let writer_options = common
            .clone()
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        migrate(&writer_options).await?;
        let writer = Connections::open(&writer_options, 1).await?;
        // The readers join the file in WAL mode that the writer set; they do
        // not set `journal_mode` themselves, which would need an exclusive lock
        // when it changes anything.
        let reader_options = common
            .synchronous(SqliteSynchronous::Normal)
            .pragma("query_only", "ON");
        let reader = Connections::open(&reader_options, READER_CONNECTIONS).await?;
        Ok(SqliteStore {
            writer: Arc::new(writer),
            reader: Arc::new(reader),
        })
    }

    /// An empty store in memory, gone when the store is dropped. One
    /// connection serves reads and writes.
    pub async fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(backend)?
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let connections = Connections::open(&options, 1).await?;
        {
            let mut connection = connections.get().await?;
            MIGRATOR
                .run_direct(&mut *connection)
                .await
                .map_err(backend)?;
        }
        let connections = Arc::new(connections);
        Ok(SqliteStore {
            reader: Arc::clone(&connections),
            writer: connections,
        })
    }

    /// Closes every connection, waiting for operations in flight; the last
    /// connection to close checkpoints the WAL into the database file.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// The writer connection, once no other operation holds it.
    async fn writer(&self) -> Result<Held<'_>, StoreError> {
        self.writer.get().await
    }

    /// A reader connection (the writer, for an in-memory store).
    async fn reader(&self) -> Result<Held<'_>, StoreError> {
        self.reader.get().await
    }
}

/// Starts an `IMMEDIATE` transaction on `connection`: the write lock is taken
/// now, so the transaction never fails on a lock upgrade. Dropped without
/// commit, it rolls back.
async fn begin_immediate(
    connection: &mut SqliteConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
    connection
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(backend)
}

/// Brings the schema of the database up to date through a connection of its
/// own, closed afterwards.
async fn migrate(options: &SqliteConnectOptions) -> Result<(), StoreError> {
    let mut connection = SqliteConnection::connect_with(options)
        .await
        .map_err(backend)?;
    MIGRATOR
        .run_direct(&mut connection)
        .await
        .map_err(backend)?;
    connection.close().await.map_err(backend)
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
