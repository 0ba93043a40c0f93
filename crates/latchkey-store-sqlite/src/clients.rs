//! [`ClientStore`]: registered clients (RFC 7591, RFC 7592).

use latchkey_store::{ClientRecord, ClientStore, Registered, StoreError};
use latchkey_token::refresh::RevocationReason;
use latchkey_types::{ClientId, UnixTime};

use crate::SqliteStore;
use crate::codec::{
    P, all, backend, blob, client_columns, client_from_row, execute, insert_error, int, opt_blob,
    opt_int, opt_time, optional, rows, scalar, text, time,
};
use crate::grants::{Families, revoke_families};

impl ClientStore for SqliteStore {
    async fn client(&self, client_id: &ClientId) -> Result<Option<ClientRecord>, StoreError> {
        let client_id = client_id.clone();
        self.read(move |connection| {
            optional(
                connection,
                concat!(
                    "SELECT ",
                    client_columns!(),
                    " FROM clients WHERE client_id = ?1"
                ),
                [text(client_id.as_str())],
                client_from_row,
            )
        })
        .await
    }

    /// Fingerprint lookup, id check, cap count and insert in one operation
    /// of the writer, so two concurrent registrations cannot both pass the
    /// cap or both insert the same fingerprint (RFC 7591 section 3.2.1).
    async fn register_client(
        &self,
        client: &ClientRecord,
        max_clients: u64,
    ) -> Result<Registered, StoreError> {
        let values = ClientValues::new(client)?;
        self.write(move |connection| {
            let client = &values.client;
            if let Some(fingerprint) = &client.fingerprint {
                let existing = optional(
                    connection,
                    concat!(
                        "SELECT ",
                        client_columns!(),
                        " FROM clients WHERE fingerprint = ?1"
                    ),
                    [blob(fingerprint.as_bytes())],
                    client_from_row,
                )?;
                if let Some(existing) = existing {
                    return Ok(Registered::Existing(Box::new(existing)));
                }
            }
            let taken = scalar(
                connection,
                "SELECT 1 FROM clients WHERE client_id = ?1",
                [text(client.client_id.as_str())],
            )?;
            if taken.is_some() {
                return Err(StoreError::Duplicate);
            }
            let registered = scalar(connection, "SELECT COUNT(*) FROM clients", [])?
                .flatten()
                .unwrap_or(0);
            if rows(registered) >= max_clients {
                return Ok(Registered::CapReached);
            }
            execute(
                connection,
                concat!(
                    "INSERT INTO clients (",
                    client_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                values
                    .params()
                    .into_iter()
                    .chain([int(i64::from(client.may_introspect))]),
            )
            .map_err(insert_error)?;
            Ok(Registered::Inserted)
        })
        .await
    }

    /// Every column but `may_introspect`, which only registration writes.
    async fn replace_client(&self, client: &ClientRecord) -> Result<bool, StoreError> {
        let values = ClientValues::new(client)?;
        self.write(move |connection| {
            // `client_id` is bound first and compared in the WHERE clause.
            let changed = execute(
                connection,
                "UPDATE clients SET client_id = ?1, metadata = ?2, secret_digest = ?3, \
                 secret_expires_at = ?4, registration_token_digest = ?5, fingerprint = ?6, \
                 issued_at = ?7, first_used_at = ?8 WHERE client_id = ?1",
                values.params(),
            )
            .map_err(insert_error)?;
            Ok(changed > 0)
        })
        .await
    }

    /// Deletes the client and its consents, and revokes its families
    /// (administratively, at `now`) and access tokens, in one operation of
    /// the writer (RFC 7592 section 2.3).
    async fn delete_client(&self, client_id: &ClientId, now: UnixTime) -> Result<bool, StoreError> {
        let client_id = client_id.clone();
        self.write(move |connection| {
            let id = || text(client_id.as_str());
            let deleted = execute(
                connection,
                "DELETE FROM clients WHERE client_id = ?1",
                [id()],
            )
            .map_err(backend)?;
            if deleted == 0 {
                return Ok(false);
            }
            revoke_families(
                connection,
                &Families::Client(&client_id),
                RevocationReason::Administrative,
                now,
            )?;
            execute(
                connection,
                "UPDATE access_tokens SET revoked = 1 WHERE client_id = ?1 \
                 OR family_id IN (SELECT id FROM refresh_families WHERE client_id = ?1)",
                [id()],
            )
            .map_err(backend)?;
            execute(
                connection,
                "DELETE FROM consents WHERE client_id = ?1",
                [id()],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn mark_client_used(
        &self,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let client_id = client_id.clone();
        let now = time(now)?;
        self.write(move |connection| {
            execute(
                connection,
                "UPDATE clients SET first_used_at = ?1 WHERE client_id = ?2 \
                 AND first_used_at IS NULL",
                [int(now), text(client_id.as_str())],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// One `DELETE` of up to `limit` rows, picked through the partial index
    /// `clients_unused`.
    async fn purge_unused_clients(
        &self,
        issued_before: UnixTime,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let issued_before = time(issued_before)?;
        self.write(move |connection| {
            let deleted = execute(
                connection,
                "DELETE FROM clients WHERE client_id IN (SELECT client_id FROM clients \
                 WHERE first_used_at IS NULL AND issued_at < ?1 LIMIT ?2)",
                [
                    int(issued_before),
                    int(i64::try_from(limit).unwrap_or(i64::MAX)),
                ],
            )
            .map_err(backend)?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        self.read_large(|connection| {
            all(
                connection,
                concat!(
                    "SELECT ",
                    client_columns!(),
                    " FROM clients ORDER BY client_id"
                ),
                [],
                client_from_row,
            )?
            .into_iter()
            .collect()
        })
        .await
    }
}

/// The stored form of a client, in [`client_columns!`] order up to
/// `first_used_at` (`may_introspect` is bound by the insert alone).
struct ClientValues {
    client: ClientRecord,
    metadata: String,
    secret_expires_at: Option<i64>,
    issued_at: i64,
    first_used_at: Option<i64>,
}

impl ClientValues {
    fn new(client: &ClientRecord) -> Result<Self, StoreError> {
        Ok(Self {
            client: client.clone(),
            metadata: serde_json::to_string(&client.metadata).map_err(backend)?,
            secret_expires_at: opt_time(client.secret_expires_at)?,
            issued_at: time(client.issued_at)?,
            first_used_at: opt_time(client.first_used_at)?,
        })
    }

    fn params(&self) -> [P<'_>; 8] {
        let client = &self.client;
        [
            text(client.client_id.as_str()),
            text(&self.metadata),
            opt_blob(
                client
                    .secret_digest
                    .as_ref()
                    .map(|d| d.as_bytes().as_slice()),
            ),
            opt_int(self.secret_expires_at),
            opt_blob(
                client
                    .registration_token_digest
                    .as_ref()
                    .map(|d| d.as_bytes().as_slice()),
            ),
            opt_blob(client.fingerprint.as_ref().map(|d| d.as_bytes().as_slice())),
            int(self.issued_at),
            opt_int(self.first_used_at),
        ]
    }
}
