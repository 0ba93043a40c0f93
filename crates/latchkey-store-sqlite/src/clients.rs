//! [`ClientStore`]: registered clients (RFC 7591, RFC 7592).

use latchkey_store::{ClientRecord, ClientStore, Registered, StoreError};
use latchkey_token::refresh::RevocationReason;
use latchkey_types::{ClientId, UnixTime};

use crate::codec::{backend, client_columns, client_from_row, insert_error, opt_time, rows, time};
use crate::grants::{Families, revoke_families};
use crate::{SqliteStore, begin_immediate};

impl ClientStore for SqliteStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE client_id = ?"
        ))
        .bind(client_id.as_str())
        .fetch_optional(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Fingerprint lookup, id check, cap count and insert in one `IMMEDIATE`
    /// transaction, so two concurrent registrations cannot both pass the cap
    /// or both insert the same fingerprint (RFC 7591 section 3.2.1).
    async fn register_client(
        &self,
        client: &ClientRecord,
        max_clients: u64,
    ) -> Result<Registered, StoreError> {
        let values = ClientValues::new(client)?;
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        if let Some(fingerprint) = &client.fingerprint {
            let existing = sqlx::query(concat!(
                "SELECT ",
                client_columns!(),
                " FROM clients WHERE fingerprint = ?"
            ))
            .bind(fingerprint.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(row) = existing {
                return Ok(Registered::Existing(Box::new(client_from_row(&row)?)));
            }
        }
        let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM clients WHERE client_id = ?")
            .bind(client.client_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if taken.is_some() {
            return Err(StoreError::Duplicate);
        }
        let registered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if rows(registered) >= max_clients {
            return Ok(Registered::CapReached);
        }
        values
            .bind(sqlx::query(concat!(
                "INSERT INTO clients (",
                client_columns!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )))
            .bind(i64::from(client.may_introspect))
            .execute(&mut *tx)
            .await
            .map_err(insert_error)?;
        tx.commit().await.map_err(backend)?;
        Ok(Registered::Inserted)
    }

    /// Every column but `may_introspect`, which only registration writes.
    async fn replace_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let values = ClientValues::new(client)?;
        // `client_id` is bound first and compared in the WHERE clause.
        let result = values
            .bind(sqlx::query(
                "UPDATE clients SET client_id = ?1, metadata = ?2, secret_digest = ?3, \
                 secret_expires_at = ?4, registration_token_digest = ?5, fingerprint = ?6, \
                 issued_at = ?7, first_used_at = ?8 WHERE client_id = ?1",
            ))
            .execute(&mut *self.writer().await?)
            .await
            .map_err(insert_error)?;
        Ok(result.rows_affected() > 0)
    }

    /// Deletes the client and its consents, and revokes its families
    /// (administratively, at `now`) and access tokens, in one `IMMEDIATE`
    /// transaction (RFC 7592 section 2.3).
    async fn delete_client(&self, client_id: &ClientId, now: UnixTime) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        let deleted = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        revoke_families(
            &mut tx,
            Families::Client(client_id),
            RevocationReason::Administrative,
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE access_tokens SET revoked = 1 WHERE client_id = ? \
             OR family_id IN (SELECT id FROM refresh_families WHERE client_id = ?)",
        )
        .bind(client_id.as_str())
        .bind(client_id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM consents WHERE client_id = ?")
            .bind(client_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE clients SET first_used_at = ? WHERE client_id = ? AND first_used_at IS NULL",
        )
        .bind(time(now)?)
        .bind(client_id.as_str())
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(())
    }

    /// One `DELETE` of up to `limit` rows, picked through the partial index
    /// `clients_unused`.
    async fn purge_unused_clients(
        &self,
        issued_before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients \
             WHERE first_used_at IS NULL AND issued_at < ? LIMIT ?)",
        )
        .bind(time(issued_before)?)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(result.rows_affected())
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        let all = sqlx::query(concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients ORDER BY client_id"
        ))
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        all.iter().map(client_from_row).collect()
    }
}

/// The stored form of a client, in [`client_columns!`] order up to
/// `first_used_at` (`may_introspect` is bound by the insert alone).
struct ClientValues<'a> {
    client: &'a ClientRecord,
    metadata: String,
    secret_expires_at: Option<i64>,
    issued_at: i64,
    first_used_at: Option<i64>,
}

impl<'a> ClientValues<'a> {
    fn new(client: &'a ClientRecord) -> Result<Self, StoreError> {
        Ok(Self {
            client,
            metadata: serde_json::to_string(&client.metadata).map_err(backend)?,
            secret_expires_at: opt_time(client.secret_expires_at)?,
            issued_at: time(client.issued_at)?,
            first_used_at: opt_time(client.first_used_at)?,
        })
    }

    fn bind<'q>(&'q self, query: crate::codec::Query<'q>) -> crate::codec::Query<'q> {
        let client = self.client;
        query
            .bind(client.client_id.as_str())
            .bind(self.metadata.as_str())
            .bind(
                client
                    .secret_digest
                    .as_ref()
                    .map(|d| d.as_bytes().as_slice()),
            )
            .bind(self.secret_expires_at)
            .bind(
                client
                    .registration_token_digest
                    .as_ref()
                    .map(|d| d.as_bytes().as_slice()),
            )
            .bind(client.fingerprint.as_ref().map(|d| d.as_bytes().as_slice()))
            .bind(self.issued_at)
            .bind(self.first_used_at)
    }
}
