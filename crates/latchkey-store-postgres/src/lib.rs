#![doc = include_str!("../README.md")]

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
