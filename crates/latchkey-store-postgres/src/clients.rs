//! Registered clients ([`ClientStore`], RFC 7591 and RFC 7592).

use latchkey_store::{ClientRecord, ClientStore, Registered, StoreError};
use latchkey_token::refresh::RevocationReason;
use latchkey_types::{ClientId, TokenDigest, UnixTime};

use crate::codec::{self, CLIENT_COLUMNS, time_to_db};
use crate::{PostgresStore, backend};

impl ClientStore for PostgresStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| codec::client_from_row(&row))
        .transpose()
    }

    async fn register_client(
        &self,
        client: &ClientRecord,
        max_clients: u64,
    ) -> Result<Registered, StoreError> {
        let row = ClientRow::new(client)?;
        // A cap past i64::MAX cannot be reached by a count: clamp, do not fail.
        let cap = i64::try_from(max_clients).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Serialises registrations (in this schema) until commit or rollback:
        // only registration inserts clients, so what the statements below
        // read cannot change under them. See the crate docs.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(\
             hashtextextended('latchkey.register_client.' || coalesce(current_schema(), ''), 0))",
        )
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if let Some(fingerprint) = &row.fingerprint {
            let existing = sqlx::query(&format!(
                "SELECT {CLIENT_COLUMNS} FROM clients WHERE fingerprint = $1"
            ))
            .bind(fingerprint)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(existing) = existing {
                let existing = codec::client_from_row(&existing)?;
                tx.rollback().await.map_err(backend)?;
                return Ok(Registered::Existing(Box::new(existing)));
            }
        }
        let taken = sqlx::query("SELECT 1 FROM clients WHERE client_id = $1")
            .bind(&row.client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::Duplicate);
        }
        // Counts at most `cap` rows, so the work is bounded by the cap.
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM (SELECT 1 FROM clients LIMIT $1) AS capped")
                .bind(cap)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if count >= cap {
            tx.rollback().await.map_err(backend)?;
            return Ok(Registered::CapReached);
        }
        row.bind(sqlx::query(
            "INSERT INTO clients (client_id, metadata, secret_digest, secret_expires_at, \
             registration_token_digest, fingerprint, issued_at, first_used_at, may_introspect) \
             VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9)",
        ))
        .bind(client.may_introspect)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Registered::Inserted)
    }

    /// Every column but `may_introspect`, which only registration writes.
    async fn replace_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let row = ClientRow::new(client)?;
        let affected = row
            .bind(sqlx::query(
                "UPDATE clients SET metadata = $2::jsonb, secret_digest = $3, \
                 secret_expires_at = $4, registration_token_digest = $5, fingerprint = $6, \
                 issued_at = $7, first_used_at = $8 \
                 WHERE client_id = $1",
            ))
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(affected > 0)
    }

    async fn delete_client(&self, client_id: &ClientId, now: UnixTime) -> Result<bool, StoreError> {
        let id = client_id.as_str();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        revoke_grants(&mut tx, GrantOwner::Client, id, now).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE clients SET first_used_at = $2 \
             WHERE client_id = $1 AND first_used_at IS NULL",
        )
        .bind(client_id.as_str())
        .bind(time_to_db(now)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// One `DELETE` of up to `limit` rows; rows another transaction holds
    /// are skipped (`SKIP LOCKED`), left for the next batch.
    async fn purge_unused_clients(
        &self,
        issued_before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let purged = sqlx::query(
            "DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients \
             WHERE first_used_at IS NULL AND issued_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(time_to_db(issued_before)?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(purged)
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        // COLLATE "C": byte order, as `ClientId`'s `Ord`, whatever the database collation.
        sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_id COLLATE \"C\""
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(codec::client_from_row)
        .collect()
    }
}

/// A client as the columns of `clients`, bound as `$1..$8` (`may_introspect`,
/// `$9`, is bound by the insert alone).
struct ClientRow {
    client_id: String,
    metadata: String,
    secret_digest: Option<Vec<u8>>,
    secret_expires_at: Option<i64>,
    registration_token_digest: Option<Vec<u8>>,
    fingerprint: Option<Vec<u8>>,
    issued_at: i64,
    first_used_at: Option<i64>,
}

impl ClientRow {
    fn new(client: &ClientRecord) -> Result<Self, StoreError> {
        let digest = |d: &Option<TokenDigest>| d.as_ref().map(|d| d.as_bytes().to_vec());
        Ok(Self {
            client_id: client.client_id.as_str().to_owned(),
            // A map of JSON values always serialises; bound as text, cast to jsonb.
            metadata: serde_json::Value::Object(client.metadata.clone()).to_string(),
            secret_digest: digest(&client.secret_digest),
            secret_expires_at: client.secret_expires_at.map(time_to_db).transpose()?,
            registration_token_digest: digest(&client.registration_token_digest),
            fingerprint: digest(&client.fingerprint),
            issued_at: time_to_db(client.issued_at)?,
            first_used_at: client.first_used_at.map(time_to_db).transpose()?,
        })
    }

    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.client_id)
            .bind(&self.metadata)
            .bind(&self.secret_digest)
            .bind(self.secret_expires_at)
            .bind(&self.registration_token_digest)
            .bind(&self.fingerprint)
            .bind(self.issued_at)
            .bind(self.first_used_at)
    }
}

/// Whose grants [`revoke_grants`] withdraws: the column the grant tables
/// name them by.
#[derive(Clone, Copy)]
pub(crate) enum GrantOwner {
    /// A client being deleted.
    Client,
    /// A user being removed.
    Subject,
}

impl GrantOwner {
    fn column(self) -> &'static str {
        match self {
            Self::Client => "client_id",
            Self::Subject => "subject",
        }
    }
}

/// Withdraws every grant of `owner` `value` inside the caller's transaction:
/// its access tokens (its own and those of its refresh families) revoked,
/// its active families revoked administratively at `now`, its consents
/// deleted.
pub(crate) async fn revoke_grants(
    tx: &mut sqlx::PgConnection,
    owner: GrantOwner,
    value: &str,
    now: UnixTime,
) -> Result<(), StoreError> {
    let column = owner.column();
    sqlx::query(&format!(
        "UPDATE access_tokens SET revoked = TRUE WHERE {column} = $1 \
         OR family_id IN (SELECT id FROM refresh_families WHERE {column} = $1)"
    ))
    .bind(value)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::query(&format!(
        "UPDATE refresh_families \
         SET state = 'revoked', revoked_reason = $2, revoked_at = $3 \
         WHERE {column} = $1 AND state = 'active'"
    ))
    .bind(value)
    .bind(RevocationReason::Administrative.as_str())
    .bind(time_to_db(now)?)
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::query(&format!("DELETE FROM consents WHERE {column} = $1"))
        .bind(value)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    Ok(())
}
