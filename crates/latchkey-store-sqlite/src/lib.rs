//! The embedded default store for Latchkey: every `latchkey-store` trait
//! ([`ClientStore`], [`GrantStore`], [`ConsentStore`], [`KeyStore`],
//! [`UserStore`], [`ReplayStore`]) over one SQLite file, through `sqlx`.
//!
//! [`SqliteStore::open`] opens (or creates) the file, applies the pragmas
//! below and runs the embedded migrations; [`SqliteStore::open_in_memory`] is
//! the same store in memory, for tests. The store passes the shared
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
//! # Pragmas, and what "durable" means here
//!
//! - `journal_mode=WAL`: readers never block the writer nor each other, and a
//!   commit appends to the write-ahead log instead of rewriting pages.
//! - `synchronous=NORMAL`: a commit is complete once its WAL frames are written
//!   to the operating system (`write(2)`), without waiting for `fsync`; the WAL
//!   is synced at checkpoints. So an operation whose `.await` returned `Ok` is
//!   durable against a crash or `SIGKILL` of *this process* (the durability test
//!   in `tests/durability.rs` kills a writer mid-stream and checks every
//!   acknowledged write). An *operating-system crash or power loss* can lose the
//!   transactions committed since the WAL was last synced (at the last
//!   checkpoint, by default every 1000 pages of WAL): the file stays
//!   consistent, but it may come back older. Then a code consumed in that
//!   window may be redeemable once more, a family may be some rotations behind
//!   (its newest tokens unknown, the one before them current again), and a
//!   revocation, registration or replay key may be undone. Deployments that
//!   must survive power loss without that window need `synchronous=FULL` (not
//!   offered yet) or a server database.
//! - `foreign_keys=ON`: `refresh_tokens` rows go with their family.
//! - `busy_timeout=5s`: another process holding the write lock is waited for,
//!   not reported as `SQLITE_BUSY`.
//!
//! # Connections and atomicity
//!
//! Writes go through one dedicated writer connection, reads through
//! [`READER_CONNECTIONS`] connections that are `query_only`. They are held
//! directly, each behind an async mutex, not in a `sqlx::Pool`: a pool pings
//! every connection it takes back, one more trip to the connection's worker
//! thread per statement, which about doubled the CPU of a one-row insert on a
//! multi-threaded runtime (`examples/store_ops.rs` measures both). Within a
//! process, writes therefore queue for the writer instead of contending for
//! SQLite's lock; every multi-statement write still starts with `BEGIN
//! IMMEDIATE`, which takes the write lock up front, so writers in other
//! processes serialize (waiting up to the busy timeout) instead of failing
//! with `SQLITE_BUSY` when a deferred transaction tries to upgrade. The
//! operations:
//!
//! - [`GrantStore::consume_code`]: one statement,
//!   `UPDATE codes SET consumed = 1 WHERE digest = ? AND consumed = 0 RETURNING ...`;
//!   only the caller whose update changed the row gets `First`. Otherwise a
//!   `SELECT` tells `AlreadyConsumed` from `Unknown`. A row that then does not
//!   read back is `Corrupt` and stays consumed (fails closed).
//! - [`GrantStore::rotate_family`]: one statement,
//!   `UPDATE ... WHERE id = ? AND generation = ? AND state = 'active'`, whose
//!   trigger indexes the new current digest only if it changed the row; a
//!   loser then reads the family as the winner left it.
//! - [`GrantStore::record_issuance`] and [`GrantStore::rotate_family_with_token`]:
//!   one batch each, a single SQL text (`BEGIN IMMEDIATE; ...; COMMIT`) handed
//!   to the worker thread at once: the family insert (or the compare-and-set
//!   `UPDATE ... RETURNING`) and the access-token insert, the latter guarded by
//!   `changes() = 1` in a rotation. A failed batch is rolled back; a caller
//!   dropped mid-batch leaves a mark on the connection, and its next user rolls
//!   back first, so a batch is all or nothing.
//! - [`GrantStore::insert_family`], [`GrantStore::revoke_family`] (the state
//!   columns and every access token of the family),
//!   [`GrantStore::revoke_code_grant`], [`GrantStore::purge_expired`],
//!   [`ClientStore::register_client`] (fingerprint lookup, id check, cap count
//!   and insert), [`ClientStore::delete_client`] (the client, its consents,
//!   the administrative revocation of its families and of its access tokens),
//!   [`ConsentStore::remember_consent`] (read, union, write),
//!   [`KeyStore::activate_key`] and [`UserStore::remove_user`] (the user, their
//!   consents, the administrative revocation of their families and of their
//!   access tokens): one `IMMEDIATE` transaction each.
//! - [`ReplayStore::remember_once`]: one statement,
//!   `INSERT ... ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at
//!   WHERE replay.expires_at < ?now`; the key is new exactly when a row changed.
//! - Every other operation is a single statement.
//! - The code-replay tombstone: [`GrantStore::revoke_code_grant`] first sets
//!   `codes.revoked_at` (migration `0002_code_tombstones.sql`);
//!   [`GrantStore::insert_family`] with that code revokes the new family in
//!   its own transaction when the tombstone exists, and
//!   [`GrantStore::record_access_token`] is one `INSERT` whose `revoked` value
//!   checks the code's tombstone and the family's state. All writes are
//!   serialized on the one writer connection, so either the revocation sees
//!   the insert or the insert sees the tombstone. `purge_expired` keeps a
//!   tombstoned code until `CODE_TOMBSTONE_MARGIN` after its expiry.
//!
//! [`GrantStore::revoke_family`] changes only the state of the stored family,
//! never its current token or generation, so a revocation computed from a stale
//! read cannot roll a family back.
//!
//! # Schema and migrations
//!
//! `migrations/0001_initial.sql` (then `0002_code_tombstones.sql`,
//! `0003_refresh_token_triggers.sql`, `0004_code_redemption_failures.sql`,
//! `0005_consents_per_resource_set.sql`, which drops the consents remembered
//! without their resources, so their users are asked again,
//! `0006_client_may_introspect.sql`, `0007_user_upstream_attributes.sql` and
//! `0008_grants_by_subject.sql`), embedded with `sqlx::migrate!` and
//! applied on
//! open (`sqlx` records applied versions in `_sqlx_migrations`): `clients`,
//! `codes`, `refresh_families`, `refresh_tokens` (every digest a family ever
//! had, indexed by triggers in the statement that stores the family or
//! rotates it), `access_tokens`, `consents` (one row per user, client and
//! resource set), `signing_keys`, `users`, `replay`, with an
//! index for each lookup the operations make. Tables are `STRICT`, with
//! `CHECK`s on digest lengths and closed sets. Tokens, codes and secrets are
//! stored only as SHA-256 digests. A row that does not read back into its
//! record (a bad scope, URI, digest length, negative time, unknown state, ...)
//! is [`StoreError::Corrupt`], never a panic. Instants beyond `i64::MAX`
//! seconds cannot be stored and are refused as [`StoreError::Backend`].
//!
//! # What it does not do
//!
//! - No encryption at rest of its own: a signing key is stored as the engine
//!   hands it over, sealed with AES-256-GCM when the engine has a key wrap key
//!   (`EngineSecrets::key_wrap_key`, as `latchkey serve` always does), plain
//!   PKCS#8 DER otherwise; everything else is in the clear or a digest. On Unix a file this store creates is made readable by its owner only
//!   (mode 0600; SQLite gives the `-wal` and `-shm` files the same mode).
//!   Bytes read through SQLite pass through buffers that are not zeroized.
//! - No sharing between hosts (use the PostgreSQL store), no scheduled purge
//!   (call [`GrantStore::purge_expired`] and
//!   [`ClientStore::purge_unused_clients`] in batches, as `latchkey serve`
//!   does: each call is one short `IMMEDIATE` transaction of at most its
//!   `limit` rows, so a backlog never holds the writer for long), no backup,
//!   no down-migrations.
//! - No compile-time checked queries: they need a database at build time;
//!   every query is checked at run time and covered by the tests.
//! - It logs nothing itself; `sqlx` may log SQL text, which holds only
//!   placeholders, never a bound value.
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
