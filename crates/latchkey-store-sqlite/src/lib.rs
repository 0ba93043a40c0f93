//! The embedded default store for Latchkey: every `latchkey-store` trait
//! ([`ClientStore`], [`GrantStore`], [`ConsentStore`], [`KeyStore`],
//! [`UserStore`], [`ReplayStore`]) over one SQLite file, through `rusqlite`
//! and the SQLite it compiles in (`bundled`).
//!
//! [`SqliteStore::open`] opens (or creates) the file, applies the pragmas
//! below and runs the embedded migrations; [`SqliteStore::open_with`] takes
//! [`SqliteOptions`] (the durability setting); [`SqliteStore::open_in_memory`]
//! is the same store in memory, for tests. The store passes the shared
//! `latchkey_store::conformance` suite (`tests/conformance.rs`) against a real
//! file in WAL mode, including 200 trials of 64 concurrent redemptions of one
//! code.
//!
//! # The rules it keeps
//!
//! - OAuth 2.1 section 4.1.3 and RFC 9700 section 4.5: an authorization code is
//!   consumed exactly once, and a replay revokes what the code issued.
//! - OAuth 2.1 section 4.3.1 and RFC 9700 section 4.14.2: a refresh family
//!   rotates by compare-and-set on its generation, and every token digest it
//!   ever had still leads to it, so reuse of a rotated token is recognised.
//! - RFC 7591 section 3.2.1 and RFC 7592 sections 2.2 and 2.3: registration
//!   (idempotent by fingerprint, capped), update and deletion of clients;
//!   deletion revokes the client's grants.
//! - RFC 7009 section 2.1: revocation of one access token or a whole family.
//! - RFC 9449 section 11.1 and RFC 7523 section 3: one-time `jti` values.
//!
//! # Threads: one writer with group commit, readers inline
//!
//! Every write goes to one thread that owns the only writing connection
//! (`conn.rs`). It takes the first queued operation and every other one
//! already waiting (up to [`MAX_BATCH`]), runs them in one `BEGIN IMMEDIATE`
//! transaction, each inside its own `SAVEPOINT` (an operation that fails is
//! rolled back alone), commits once, and only then answers each caller
//! (through a oneshot channel; the async API never blocks a runtime thread
//! on a write). So an answered write is a committed write, as with one
//! transaction per operation, while concurrent callers share a commit and
//! its `fsync`. A caller that stops waiting does not stop its operation: it
//! runs whole or not at all, and its answer is dropped.
//!
//! Lookups of one row (a client, a family by token digest, an access token,
//! a user, consents, the signing keys) run inline on the calling thread, on
//! a read-only connection from a small pool: a primary-key lookup in WAL
//! mode costs a few microseconds of CPU and never waits for the writer,
//! which is less than a hand-off to another thread. They see the last
//! commit, so a caller reads its own answered writes. Listings of every
//! client or user run on tokio's blocking pool. Statements are prepared once
//! per connection and cached.
//!
//! Why this shape (measured with `cargo bench -p latchkey-engine --bench
//! engine`, figures in `docs/benchmarks.md`): through `sqlx` every statement
//! was a hand-off to the connection's worker thread and back (futexes and
//! context switches, about a third of an operation's CPU), and every
//! operation paid its own commit. Here an operation is one hand-off, reads
//! none, and with 16 concurrent callers most operations share a commit.
//!
//! # Pragmas, and what "durable" means here
//!
//! - `journal_mode=WAL`: readers never block the writer nor each other, and a
//!   commit appends to the write-ahead log instead of rewriting pages.
//! - `synchronous`, set by [`Synchronous`] (in `latchkey serve`:
//!   `database_synchronous` in the configuration file, or
//!   `LATCHKEY_DATABASE_SYNCHRONOUS`):
//!   - `NORMAL`, the default: a commit is complete once its WAL frames are
//!     written to the operating system (`write(2)`), without waiting for
//!     `fsync`; the WAL is synced at checkpoints. An operation whose `.await`
//!     returned `Ok` is durable against a crash or `SIGKILL` of *this
//!     process* (`tests/durability.rs` kills a writer mid-stream and checks
//!     every acknowledged write; the engine's `sqlite_durability` test does
//!     the same for issued tokens). An *operating-system crash or power
//!     loss* can lose the transactions committed since the WAL was last
//!     synced (at the last checkpoint, by default every 1000 pages of WAL):
//!     the file stays consistent, but it may come back older. Then a code
//!     consumed in that window may be redeemable once more, a family may be
//!     some rotations behind (its newest tokens unknown, the one before them
//!     current again), and a revocation, registration or replay key may be
//!     undone.
//!   - `FULL`: every commit also waits for `fsync` of the WAL, so an answered
//!     operation survives a power loss too (on storage that honours
//!     `fsync`). It costs an `fsync` per commit, shared by the operations of
//!     a group commit.
//! - `foreign_keys=ON`: `refresh_tokens` rows go with their family.
//! - `busy_timeout=5s`: another process holding the write lock (the
//!   `latchkey` administration commands) is waited for, not reported as
//!   `SQLITE_BUSY`.
//!
//! # Atomicity of each operation
//!
//! Each operation is one closure run by the writer inside its savepoint, so
//! everything it does lands together or not at all, and operations are
//! serialized: each sees every write answered before it.
//!
//! - [`GrantStore::consume_code`]:
//!   `UPDATE codes SET consumed = 1 WHERE digest = ? AND consumed = 0 RETURNING ...`;
//!   only the caller whose update changed the row gets `First`. Otherwise a
//!   `SELECT` tells `AlreadyConsumed` from `Unknown`. A row that then does not
//!   read back is `Corrupt` and stays consumed (fails closed).
//! - [`GrantStore::rotate_family`] and [`GrantStore::rotate_family_with_token`]:
//!   `UPDATE ... WHERE id = ? AND generation = ? AND state = 'active'`, whose
//!   trigger indexes the new current digest, then (with a token) the
//!   access-token insert only if the update changed the row; a loser reads
//!   the family as the winner left it.
//! - [`GrantStore::record_issuance`]: the family insert and the access-token
//!   insert.
//! - [`GrantStore::revoke_family`] (the state columns and every access token
//!   of the family), [`GrantStore::revoke_code_grant`],
//!   [`GrantStore::purge_expired`], [`ClientStore::register_client`]
//!   (fingerprint lookup, id check, cap count and insert),
//!   [`ClientStore::delete_client`] (the client, its consents, the
//!   administrative revocation of its families and of its access tokens),
//!   [`ConsentStore::remember_consent`] (read, union, write),
//!   [`KeyStore::activate_key`] and [`UserStore::remove_user`] (the user,
//!   their consents, the administrative revocation of their families and of
//!   their access tokens).
//! - [`ReplayStore::remember_once`]: one statement,
//!   `INSERT ... ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at
//!   WHERE replay.expires_at < ?now`; the key is new exactly when a row changed.
//! - The code-replay tombstone: [`GrantStore::revoke_code_grant`] first sets
//!   `codes.revoked_at` (migration `0002_code_tombstones.sql`);
//!   [`GrantStore::insert_family`] with that code stores the new family
//!   revoked when the tombstone exists, and [`GrantStore::record_access_token`]
//!   is one `INSERT` whose `revoked` value checks the code's tombstone and
//!   the family's state. All writes are serialized on the one writer, so
//!   either the revocation sees the insert or the insert sees the tombstone.
//!   `purge_expired` keeps a tombstoned code until `CODE_TOMBSTONE_MARGIN`
//!   after its expiry.
//!
//! [`GrantStore::revoke_family`] changes only the state of the stored family,
//! never its current token or generation, so a revocation computed from a stale
//! read cannot roll a family back.
//!
//! # Schema and migrations
//!
//! `migrations/0001_initial.sql` to `0008_grants_by_subject.sql` (`0005`
//! dropped the consents remembered without their resources, so their users
//! are asked again), embedded in the binary and applied on open, each in one
//! `IMMEDIATE` transaction with its record in `_sqlx_migrations`: the table
//! and checksums (SHA-384 of the SQL) that earlier versions of this store,
//! built on `sqlx`, wrote. So a database they created opens and is upgraded
//! in place (`tests/upgrade.rs` opens one they wrote,
//! `tests/fixtures/sqlx-0008.db`); a migration recorded as failed, changed
//! since it was applied, or unknown (from a newer Latchkey) is refused.
//! Tables: `clients`, `codes`, `refresh_families`, `refresh_tokens` (every
//! digest a family ever had, indexed by triggers in the statement that
//! stores the family or rotates it), `access_tokens`, `consents` (one row
//! per user, client and resource set), `signing_keys`, `users`, `replay`,
//! with an index for each lookup the operations make. Tables are `STRICT`,
//! with `CHECK`s on digest lengths and closed sets. Tokens, codes and
//! secrets are stored only as SHA-256 digests. A row that does not read back
//! into its record (a bad scope, URI, digest length, negative time, unknown
//! state, ...) is [`StoreError::Corrupt`], never a panic. Instants beyond
//! `i64::MAX` seconds cannot be stored and are refused as
//! [`StoreError::Backend`].
//!
//! # What it does not do
//!
//! - No encryption at rest of its own: a signing key is stored as the engine
//!   hands it over, sealed with AES-256-GCM when the engine has a key wrap key
//!   (`EngineSecrets::key_wrap_key`, as `latchkey serve` always does), plain
//!   PKCS#8 DER otherwise; everything else is in the clear or a digest. On
//!   Unix a file this store creates is made readable by its owner only (mode
//!   0600; SQLite gives the `-wal` and `-shm` files the same mode). Bytes read
//!   through SQLite pass through buffers that are not zeroized.
//! - No sharing between hosts (use the PostgreSQL store), no scheduled purge
//!   (call [`GrantStore::purge_expired`] and
//!   [`ClientStore::purge_unused_clients`] in batches, as `latchkey serve`
//!   does: each call is one operation of at most its `limit` rows, so a
//!   backlog never holds the writer for long), no backup, no
//!   down-migrations.
//! - It logs nothing.
//!
//! ```
//! use latchkey_store::ReplayStore;
//! use latchkey_store_sqlite::SqliteStore;
//! use latchkey_types::UnixTime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), latchkey_store::StoreError> {
//! let store = SqliteStore::open_in_memory().await?;
//! let now = UnixTime::from_secs(1_700_000_000);
//! let later = UnixTime::from_secs(1_700_000_060);
//! assert!(store.remember_once(&[7; 32], later, now).await?);
//! assert!(!store.remember_once(&[7; 32], later, now).await?, "a replay");
//! # Ok(()) }
//! ```

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
