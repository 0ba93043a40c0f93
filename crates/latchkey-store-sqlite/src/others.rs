//! [`ConsentStore`], [`KeyStore`], [`UserStore`] and [`ReplayStore`].

use latchkey_store::{
    ConsentStore, KeyStatus, KeyStore, ReplayStore, StoreError, StoredKey, UserRecord, UserStore,
    consent_resource_set,
};
use latchkey_token::refresh::RevocationReason;
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::ResourceUri;

use crate::SqliteStore;
use crate::codec::{
    all, backend, blob, consent_from_row, execute, insert_error, int, key_from_row, opt_text,
    optional, resources_json, scalar, text, time, user_from_row,
};
use crate::grants::{Families, revoke_families};

/// The columns of `users` that make up a [`UserRecord`].
const USER_COLUMNS: &str =
    "username, password_hash, created_at, upstream_provider, upstream_name, upstream_email";

impl ConsentStore for SqliteStore {
    async fn consent_covers(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> Result<bool, StoreError> {
        let subject = subject.clone();
        let client_id = client_id.clone();
        let consents = self
            .read(move |connection| {
                all(
                    connection,
                    "SELECT resources, scope, loopback_redirect, updated_at FROM consents \
                     WHERE subject = ?1 AND client_id = ?2",
                    [text(subject.as_str()), text(client_id.as_str())],
                    consent_from_row,
                )
            })
            .await?;
        for consent in consents {
            if consent?.covers(resources, scope, loopback_redirect) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads, unions and writes in one operation of the writer, so two
    /// concurrent approvals of the same resource set (and kind of redirect)
    /// both end up in the stored scope.
    async fn remember_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let now = time(now)?;
        let resources = resources_json(&consent_resource_set(resources))?;
        let subject = subject.clone();
        let client_id = client_id.clone();
        let scope = scope.clone();
        self.write(move |connection| {
            let loopback = int(i64::from(loopback_redirect));
            let stored = optional(
                connection,
                "SELECT resources, scope, loopback_redirect, updated_at FROM consents \
                 WHERE subject = ?1 AND client_id = ?2 AND resources = ?3 \
                 AND loopback_redirect = ?4",
                [
                    text(subject.as_str()),
                    text(client_id.as_str()),
                    text(&resources),
                    loopback.clone(),
                ],
                consent_from_row,
            )?;
            let union = match stored {
                Some(consent) => consent.scope.union(&scope),
                None => scope,
            };
            let union = union.to_string();
            execute(
                connection,
                "INSERT INTO consents \
                 (subject, client_id, resources, loopback_redirect, scope, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (subject, client_id, resources, loopback_redirect) \
                 DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
                [
                    text(subject.as_str()),
                    text(client_id.as_str()),
                    text(&resources),
                    loopback,
                    text(&union),
                    int(now),
                ],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn forget_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        let subject = subject.clone();
        let client_id = client_id.clone();
        self.write(move |connection| {
            let deleted = execute(
                connection,
                "DELETE FROM consents WHERE subject = ?1 AND client_id = ?2",
                [text(subject.as_str()), text(client_id.as_str())],
            )
            .map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }
}

impl KeyStore for SqliteStore {
    /// Oldest first: by `created_at`, then in insertion order.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        self.read(|connection| {
            all(
                connection,
                "SELECT kid, algorithm, pkcs8, status, created_at FROM signing_keys \
                 ORDER BY created_at, rowid",
                [],
                key_from_row,
            )?
            .into_iter()
            .collect()
        })
        .await
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let key = key.clone();
        let created_at = time(key.created_at)?;
        self.write(move |connection| {
            execute(
                connection,
                "INSERT INTO signing_keys (kid, algorithm, pkcs8, status, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                [
                    text(&key.kid),
                    text(&key.algorithm),
                    blob(key.pkcs8.as_slice()),
                    text(key.status.as_str()),
                    int(created_at),
                ],
            )
            .map_err(insert_error)?;
            Ok(())
        })
        .await
    }

    /// Demotes the active key and promotes `kid` in one operation of the
    /// writer: no reader ever sees two active keys, or none after a
    /// successful activation.
    async fn activate_key(&self, kid: &str) -> Result<bool, StoreError> {
        let kid = kid.to_owned();
        self.write(move |connection| {
            let known = scalar(
                connection,
                "SELECT 1 FROM signing_keys WHERE kid = ?1",
                [text(&kid)],
            )?;
            if known.is_none() {
                return Ok(false);
            }
            execute(
                connection,
                "UPDATE signing_keys SET status = ?1 WHERE status = ?2 AND kid <> ?3",
                [
                    text(KeyStatus::VerifyOnly.as_str()),
                    text(KeyStatus::Active.as_str()),
                    text(&kid),
                ],
            )
            .map_err(backend)?;
            execute(
                connection,
                "UPDATE signing_keys SET status = ?1 WHERE kid = ?2",
                [text(KeyStatus::Active.as_str()), text(&kid)],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn retire_key(&self, kid: &str) -> Result<bool, StoreError> {
        let kid = kid.to_owned();
        self.write(move |connection| {
            let changed = execute(
                connection,
                "UPDATE signing_keys SET status = ?1 WHERE kid = ?2 AND status <> ?3",
                [
                    text(KeyStatus::Retired.as_str()),
                    text(&kid),
                    text(KeyStatus::Active.as_str()),
                ],
            )
            .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }
}

impl UserStore for SqliteStore {
    async fn user(&self, username: &Subject) -> Result<Option<UserRecord>, StoreError> {
        let username = username.clone();
        self.read(move |connection| {
            optional(
                connection,
                &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"),
                [text(username.as_str())],
                user_from_row,
            )
        })
        .await
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let created_at = time(user.created_at)?;
        let username = user.username.clone();
        let password_hash = user.password_hash.clone();
        self.write(move |connection| {
            let inserted = execute(
                connection,
                "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (username) DO NOTHING",
                [
                    text(username.as_str()),
                    text(&password_hash),
                    int(created_at),
                ],
            )
            .map_err(backend)?;
            Ok(inserted > 0)
        })
        .await
    }

    /// Removes the user and their consents, and revokes their families
    /// (administratively, at `now`) and access tokens, in one operation of
    /// the writer.
    async fn remove_user(&self, username: &Subject, now: UnixTime) -> Result<bool, StoreError> {
        let username = username.clone();
        self.write(move |connection| {
            let name = || text(username.as_str());
            let removed = execute(
                connection,
                "DELETE FROM users WHERE username = ?1",
                [name()],
            )
            .map_err(backend)?;
            if removed == 0 {
                return Ok(false);
            }
            revoke_families(
                connection,
                &Families::Subject(&username),
                RevocationReason::Administrative,
                now,
            )?;
            execute(
                connection,
                "UPDATE access_tokens SET revoked = 1 WHERE subject = ?1 \
                 OR family_id IN (SELECT id FROM refresh_families WHERE subject = ?1)",
                [name()],
            )
            .map_err(backend)?;
            execute(
                connection,
                "DELETE FROM consents WHERE subject = ?1",
                [name()],
            )
            .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    /// One statement: insert, or on a name conflict update the attributes
    /// only where the existing row is an upstream user.
    async fn upsert_upstream_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let upstream = user.upstream.clone().unwrap_or_default();
        let created_at = time(user.created_at)?;
        let username = user.username.clone();
        let password_hash = user.password_hash.clone();
        self.write(move |connection| {
            let changed = execute(
                connection,
                "INSERT INTO users (username, password_hash, created_at, upstream_provider, \
                 upstream_name, upstream_email) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (username) DO UPDATE SET \
                 upstream_provider = excluded.upstream_provider, \
                 upstream_name = excluded.upstream_name, upstream_email = excluded.upstream_email \
                 WHERE users.upstream_provider IS NOT NULL",
                [
                    text(username.as_str()),
                    text(&password_hash),
                    int(created_at),
                    text(&upstream.provider),
                    opt_text(upstream.name.as_deref()),
                    opt_text(upstream.email.as_deref()),
                ],
            )
            .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.read_large(|connection| {
            all(
                connection,
                &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"),
                [],
                user_from_row,
            )?
            .into_iter()
            .collect()
        })
        .await
    }
}

impl ReplayStore for SqliteStore {
    /// One upsert that overwrites only an expired key: a row changes exactly
    /// when the key is new at `now` (RFC 9449 section 11.1).
    async fn remember_once(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let key = *key;
        let expires_at = time(expires_at)?;
        let now = time(now)?;
        self.write(move |connection| {
            let changed = execute(
                connection,
                "INSERT INTO replay (key, expires_at) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
                 WHERE replay.expires_at < ?3",
                [blob(&key), int(expires_at), int(now)],
            )
            .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }
}
