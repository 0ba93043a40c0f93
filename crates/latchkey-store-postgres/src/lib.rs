//! PostgreSQL storage for the Latchkey engine: every [`latchkey_store`] trait
//! over one database that several authorization server instances share.
//!
//! # When to choose it
//!
//! Choose this store when more than one server process serves the same
//! clients and grants (several replicas behind a load balancer, rolling
//! deploys). A code redeemed at one instance must be seen as consumed by all
//! others, and a refresh token rotated at one must lose its race everywhere
//! else; that needs one database with row locks. A single process is served as
//! well, and more simply, by SQLite or [`latchkey_store::MemoryStore`].
//!
//! # Spec sections whose storage side it implements
//!
//! - OAuth 2.1 section 4.1.3 and RFC 9700 section 4.5: a code is redeemed once;
//!   a replay revokes what the code issued.
//! - OAuth 2.1 section 4.3.1 and RFC 9700 section 4.14.2: refresh token
//!   rotation, and recognising a rotated token when it comes back.
//! - RFC 7009 section 2.1: revoking one access token or a whole family.
//! - RFC 7591 section 3 and RFC 7592 sections 2.2 and 2.3: registering,
//!   updating and deleting clients.
//! - RFC 9449 section 11.1 and RFC 7523 section 3: one-time `jti`s.
//!
//! # The rules it keeps, and how each stays atomic across instances
//!
//! Every connection runs at PostgreSQL's default isolation level, READ
//! COMMITTED (set explicitly on each pooled connection, so a server configured
//! otherwise does not change the reasoning). Under READ COMMITTED an `UPDATE`
//! that finds its row locked by another transaction waits, then re-evaluates
//! its `WHERE` clause against the row as committed; that is what makes each
//! conditional statement below a compare-and-set.
//!
//! - Authorization codes are single use (OAuth 2.1 section 4.1.3, RFC 9700
//!   section 4.5): [`GrantStore::consume_code`] is one statement,
//!   `UPDATE codes SET consumed = true WHERE digest = $1 AND NOT consumed
//!   RETURNING ...`. Of any number of concurrent callers on any number of
//!   instances exactly one gets a row back; a follow-up `SELECT` tells
//!   the others "already consumed" from "unknown".
//! - Refresh rotation is compare-and-set (OAuth 2.1 section 4.3.1, RFC 9700
//!   section 4.14.2): [`GrantStore::rotate_family`] is one conditional
//!   `UPDATE ... WHERE id = $1 AND generation = $2 AND state = 'active'` and,
//!   in the same transaction, the insert of the new token digest into
//!   `refresh_tokens`, the index of every digest a family ever had (reuse
//!   detection looks rotated tokens up there).
//! - [`GrantStore::revoke_family`], [`GrantStore::revoke_code_grant`],
//!   [`ClientStore::delete_client`] (RFC 7592 section 2.3) and
//!   [`UserStore::remove_user`] change the families and their access tokens
//!   in one transaction. Revocation writes only the
//!   state columns, and only of an active family, so the first reason stays
//!   and a concurrent rotation's data is never overwritten with a stale copy.
//! - A code replay revokes what the first redemption stores later
//!   (OAuth 2.1 section 4.1.3): [`GrantStore::revoke_code_grant`] first sets
//!   the code's tombstone (`codes.revoked_at`, migration
//!   `0002_code_tombstones.sql`), which row-locks the code;
//!   [`GrantStore::insert_family`] with that code share-locks the code row
//!   (`FOR SHARE`) and revokes the new family in the same transaction if the
//!   tombstone is there; [`GrantStore::record_access_token`] is one statement
//!   that share-locks the code row (or, for a token without code, the family
//!   row) and stores the token revoked if the tombstone is set or the family
//!   revoked. Either the revocation committed first (the waiter re-reads the
//!   locked row and sees it) or the insert did (the revocation waits on the
//!   lock, and its later statements see the insert). Each statement locks one
//!   row only, so it cannot deadlock with a revocation. `purge_expired` keeps
//!   a tombstoned code until `CODE_TOMBSTONE_MARGIN` after its expiry.
//! - [`GrantStore::revoke_family`] first locks the family row (`FOR UPDATE`),
//!   also when it is already revoked, so concurrent revocations of one family
//!   queue instead of updating its access tokens in different orders (which
//!   deadlocked under 64 concurrent reuses).
//! - [`ClientStore::register_client`] (RFC 7591 section 3) takes a
//!   transaction-scoped advisory lock (`pg_advisory_xact_lock`, keyed by the
//!   schema) before it looks up the fingerprint, counts clients and inserts.
//!   Only registration inserts clients, so while the lock is held nobody else
//!   can add one, and each statement after the lock sees every earlier
//!   registration (READ COMMITTED takes a new snapshot per statement, and the
//!   previous holder committed before its lock was released). The
//!   idempotency check, the cap and the insert are therefore one step; the
//!   `UNIQUE` constraint on `fingerprint` is a second line of defence.
//! - [`ReplayStore::remember_once`] (RFC 9449 section 11.1) is one statement,
//!   `INSERT ... ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at
//!   WHERE replay.expires_at < $now`; exactly one concurrent caller affects a row.
//! - [`KeyStore::activate_key`] demotes the active key and promotes the new one
//!   in one transaction under an advisory lock, so two concurrent activations
//!   cannot leave two active keys. [`ConsentStore::remember_consent`] locks the
//!   consent row of the user, client and resource set (`SELECT ... FOR
//!   UPDATE`) before it merges scopes, so concurrent approvals are never lost.
//!   Migration `0004_consents_per_resource_set.sql` keys consents by resource
//!   set and drops those remembered without their resources (their users are
//!   asked again).
//!
//! # Schema and migrations
//!
//! The schema lives in `migrations/` and is embedded in the binary
//! (`sqlx::migrate!`); [`PostgresStore::connect`] applies what is missing
//! (sqlx serialises concurrent migrators with an advisory lock, and keeps its
//! `_sqlx_migrations` table in the same schema). Times are `BIGINT` unix
//! seconds; a time that does not fit is refused
//! ([`PostgresError::ValueOutOfRange`]), never wrapped. Tokens, codes,
//! client secrets and registration tokens are stored only as SHA-256 digests.
//! A row that does not parse back into its record is
//! [`StoreError::Corrupt`], never a panic. [`PostgresStore::connect_with_schema`]
//! keeps everything in a schema of its own (created if missing), set as the
//! `search_path` of every pooled connection.
//!
//! # Tests
//!
//! The tests need a PostgreSQL server and read its URL from
//! `LATCHKEY_TEST_POSTGRES_URL` (for example
//! `postgres://postgres@127.0.0.1:5432/test`). Each test uses a fresh schema
//! and drops it at the end. Without the variable, each test prints one line
//! saying it was skipped and passes.
//!
//! # What it does not do
//!
//! - No protocol decisions: the engine decides, this crate only keeps the
//!   atomicity promises of the traits.
//! - No TLS: sqlx is built without a TLS backend, so the database must be
//!   reached over a trusted network or a local socket.
//! - It does not encrypt signing keys itself: [`KeyStore`] hands it the key
//!   document, stored as given. The engine seals it first when it has a key
//!   wrap key (`EngineSecrets::key_wrap_key`, as `latchkey serve` always
//!   does); otherwise it is plain PKCS#8.
//! - It does not purge by itself: whoever runs it calls
//!   [`GrantStore::purge_expired`] and [`ClientStore::purge_unused_clients`]
//!   periodically, in batches (each call is one transaction of at most its
//!   `limit` rows, skipping rows that other transactions hold).
//! - No compile-time checked queries: queries are checked by the tests against
//!   a real server, so building needs no database.
//!
//! # Example
//!
//! ```no_run
//! use latchkey_store::ReplayStore;
//! use latchkey_store_postgres::PostgresStore;
//! use latchkey_types::UnixTime;
//!
//! # async fn demo() -> Result<(), latchkey_store::StoreError> {
//! let store =
//!     PostgresStore::connect_with_schema("postgres://postgres@127.0.0.1/latchkey", "auth")
//!         .await?;
//! let now = UnixTime::from_secs(1_700_000_000);
//! let later = UnixTime::from_secs(1_700_000_060);
//! assert!(store.remember_once(&[7; 32], later, now).await?);
//! assert!(!store.remember_once(&[7; 32], later, now).await?, "a replay");
//! # Ok(()) }
//! ```

mod clients;
mod codec;
mod grants;
mod other;

use core::fmt;
use std::str::FromStr;

use latchkey_store::StoreError;
#[cfg(doc)]
use latchkey_store::{ClientStore, ConsentStore, GrantStore, KeyStore, ReplayStore, UserStore};
use latchkey_types::ErrorCode;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor};

/// A store over a PostgreSQL connection pool. Cloning shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<String>,
}

/// How [`PostgresStore::connect_with`] connects.
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    schema: Option<String>,
    max_connections: u32,
}

/// Why connecting or writing failed on the PostgreSQL side before the server
/// was asked; carried inside [`StoreError::Backend`]. None of these carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// A value does not fit its `BIGINT` column (a time or generation past `i64::MAX`).
    #[error("{what} does not fit a bigint column")]
    ValueOutOfRange {
        /// Which value.
        what: &'static str,
    },
    /// The schema name is not a lowercase SQL identifier of at most 63 bytes.
    #[error("invalid schema name")]
    InvalidSchemaName,
}

impl PostgresStore {
    /// Connects with the server's default `search_path` and applies the
    /// embedded migrations.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PostgresOptions::new()).await
    }

    /// Connects with every table in `schema` (created if missing; a lowercase
    /// identifier: `[a-z_][a-z0-9_]*`, at most 63 bytes) and applies the
    /// embedded migrations there.
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, &PostgresOptions::new().schema(schema)).await
    }

    /// Connects as `options` say and applies the embedded migrations.
    pub async fn connect_with(url: &str, options: &PostgresOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url).map_err(backend)?;
        if let Some(schema) = &options.schema {
            if !is_schema_name(schema) {
                return Err(StoreError::Backend(Box::new(
                    PostgresError::InvalidSchemaName,
                )));
            }
            create_schema(&connect, schema).await?;
        }
        let setup = session_setup(options.schema.as_deref());
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move {
                    conn.execute(setup.as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(connect)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(Self {
            pool,
            schema: options.schema.clone(),
        })
    }

    /// The connection pool, for health checks and administration. Writing to
    /// the tables directly bypasses the checks this store makes.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The schema the tables live in, if one was chosen.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// Closes every pooled connection, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the pool: its options hold the connection password.
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresOptions {
    /// How many connections the pool opens by default.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;

    /// The server's default schema and [`Self::DEFAULT_MAX_CONNECTIONS`].
    pub fn new() -> Self {
        Self {
            schema: None,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }

    /// Keeps every table in `schema` (see [`PostgresStore::connect_with_schema`]).
    pub fn schema(mut self, schema: &str) -> Self {
        self.schema = Some(schema.to_owned());
        self
    }

    /// The most connections the pool opens (at least one).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl From<&PostgresError> for ErrorCode {
    fn from(error: &PostgresError) -> Self {
        match error {
            PostgresError::ValueOutOfRange { .. } | PostgresError::InvalidSchemaName => {
                ErrorCode::ServerError
            }
        }
    }
}

/// The embedded migrations (`migrations/`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A driver error as a store error: a unique violation is
/// [`StoreError::Duplicate`], anything else [`StoreError::Backend`].
pub(crate) fn backend(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return StoreError::Duplicate;
    }
    StoreError::Backend(Box::new(error))
}

/// Whether `s` is a schema name this crate accepts: it is interpolated into
/// SQL (quoted), so only a plain lowercase identifier is allowed.
fn is_schema_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    s.len() <= 63
        && (first.is_ascii_lowercase() || first == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// What every pooled connection runs first.
fn session_setup(schema: Option<&str>) -> String {
    let isolation = "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED";
    match schema {
        Some(schema) => format!("{isolation}; SET search_path TO \"{schema}\""),
        None => isolation.to_owned(),
    }
}

/// Creates `schema` if missing; a concurrent creator winning the race is fine.
async fn create_schema(connect: &PgConnectOptions, schema: &str) -> Result<(), StoreError> {
    let mut conn = sqlx::PgConnection::connect_with(connect)
        .await
        .map_err(backend)?;
    let created = conn
        .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
        .await;
    // Closing is best effort: the schema exists (or the error below says why not).
    let _ = conn.close().await;
    match created {
        Ok(_) => Ok(()),
        // 42P06 duplicate_schema, 23505 unique_violation on pg_namespace: a
        // concurrent `CREATE SCHEMA IF NOT EXISTS` got there first.
        Err(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("42P06" | "23505")) =>
        {
            Ok(())
        }
        Err(error) => Err(StoreError::Backend(Box::new(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_lowercase_identifiers() {
        assert!(is_schema_name("latchkey"));
        assert!(is_schema_name("_lk_test_01"));
        assert!(is_schema_name(&"a".repeat(63)));
        assert!(!is_schema_name(&"a".repeat(64)));
        assert!(!is_schema_name(""));
        assert!(!is_schema_name("1abc"));
        assert!(!is_schema_name("Auth"));
        assert!(!is_schema_name("a\"; DROP SCHEMA public; --"));
        assert!(!is_schema_name("a-b"));
    }

    #[test]
    fn session_setup_pins_read_committed_and_quotes_the_schema() {
        assert_eq!(
            session_setup(Some("auth")),
            "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED; \
             SET search_path TO \"auth\""
        );
        assert!(!session_setup(None).contains("search_path"));
    }

    #[tokio::test]
    async fn an_invalid_schema_name_is_refused_before_connecting() {
        // The URL points nowhere: refusing must happen before any connection.
        let result =
            PostgresStore::connect_with_schema("postgres://nobody@127.0.0.1:1/none", "Bad-Name")
                .await;
        let Err(StoreError::Backend(source)) = result else {
            panic!("expected a backend error");
        };
        assert!(matches!(
            source.downcast_ref::<PostgresError>(),
            Some(PostgresError::InvalidSchemaName)
        ));
    }

    #[test]
    fn postgres_errors_map_to_server_error() {
        assert_eq!(
            ErrorCode::from(&PostgresError::InvalidSchemaName),
            ErrorCode::ServerError
        );
        assert_eq!(
            ErrorCode::from(&PostgresError::ValueOutOfRange { what: "time" }),
            ErrorCode::ServerError
        );
    }

    #[test]
    fn options_keep_at_least_one_connection() {
        let options = PostgresOptions::new().schema("auth").max_connections(0);
        assert_eq!(options.max_connections, 1);
        assert_eq!(options.schema.as_deref(), Some("auth"));
    }

    #[tokio::test]
    async fn debug_shows_no_connection_details() {
        let connect = PgConnectOptions::from_str("postgres://user:hunter2@db.invalid/secretdb")
            .expect("valid url");
        let store = PostgresStore {
            pool: PgPoolOptions::new().connect_lazy_with(connect),
            schema: Some("auth".into()),
        };
        let debug = format!("{store:?}");
        assert!(debug.contains("auth"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(!debug.contains("secretdb"), "{debug}");
    }
}
