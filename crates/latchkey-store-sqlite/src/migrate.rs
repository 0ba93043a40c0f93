//! Schema migrations, recorded in `_sqlx_migrations` as earlier versions of
//! this store (built on `sqlx`) recorded them, so a database they created is
//! opened and upgraded in place.
//!
//! The table keeps one row per applied migration: `version`, `description`
//! (the file name after the number, `_` read as a space), `installed_on`,
//! `success`, `checksum` (SHA-384 of the file's SQL) and `execution_time`
//! (nanoseconds). Opening a database refuses, as `sqlx` did:
//! - a migration recorded as failed (`success = 0`): the schema is in an
//!   unknown state;
//! - a recorded checksum that differs from the embedded file's: the schema is
//!   not the one this code expects;
//! - a recorded version this code does not know: the database was written by
//!   a newer Latchkey.
//!
//! Each pending migration runs in one `IMMEDIATE` transaction together with
//! its row, so a migration is applied entirely or not at all, and two
//! processes opening the same file at once apply it once.

use std::time::Instant;

use latchkey_store::StoreError;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use sha2::{Digest, Sha384};

use crate::codec::backend;

/// One embedded migration.
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $description:literal, $file:literal) => {
        Migration {
            version: $version,
            description: $description,
            sql: include_str!(concat!("../migrations/", $file)),
        }
    };
}

/// Every migration, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    migration!(1, "initial", "0001_initial.sql"),
    migration!(2, "code tombstones", "0002_code_tombstones.sql"),
    migration!(
        3,
        "refresh token triggers",
        "0003_refresh_token_triggers.sql"
    ),
    migration!(
        4,
        "code redemption failures",
        "0004_code_redemption_failures.sql"
    ),
    migration!(
        5,
        "consents per resource set",
        "0005_consents_per_resource_set.sql"
    ),
    migration!(6, "client may introspect", "0006_client_may_introspect.sql"),
    migration!(
        7,
        "user upstream attributes",
        "0007_user_upstream_attributes.sql"
    ),
    migration!(8, "grants by subject", "0008_grants_by_subject.sql"),
];

/// The table `sqlx` created, with the same columns.
const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// The checksum recorded for a migration: SHA-384 of its SQL text.
pub(crate) fn checksum(sql: &str) -> Vec<u8> {
    Sha384::digest(sql.as_bytes()).to_vec()
}

/// A migration state that this code refuses to open.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refuse(message: String) -> StoreError {
    StoreError::Backend(Box::new(Refused(message)))
}

/// Brings the schema up to date.
pub(crate) fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    connection.execute_batch(CREATE_TABLE).map_err(backend)?;
    check_applied(connection)?;
    for migration in MIGRATIONS {
        let tx = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let applied: Option<i64> = tx
            .query_row(
                "SELECT version FROM _sqlx_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        if applied.is_some() {
            continue;
        }
        let started = Instant::now();
        tx.execute_batch(migration.sql).map_err(|error| {
            refuse(format!(
                "migration {} ({}) failed: {error}",
                migration.version, migration.description
            ))
        })?;
        let elapsed = i64::try_from(started.elapsed().as_nanos()).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                migration.version,
                migration.description,
                checksum(migration.sql),
                elapsed
            ],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
    Ok(())
}

/// Refuses a failed, modified or unknown applied migration.
fn check_applied(connection: &Connection) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
        .map_err(backend)?;
    let rows = statement
        .query_map([], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })
        .map_err(backend)?;
    for row in rows {
        let (version, success, recorded) = row.map_err(backend)?;
        if !success {
            return Err(refuse(format!(
                "migration {version} is recorded as failed; the schema is in an unknown state"
            )));
        }
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(refuse(format!(
                "migration {version} was applied by a newer version of Latchkey"
            )));
        };
        if recorded != checksum(known.sql) {
            return Err(refuse(format!(
                "migration {version} ({}) was applied from a different file",
                known.description
            )));
        }
    }
    Ok(())
}
