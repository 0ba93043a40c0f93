//! [`ConsentStore`], [`KeyStore`], [`UserStore`] and [`ReplayStore`].

use latchkey_store::{
    ConsentStore, KeyStatus, KeyStore, ReplayStore, StoreError, StoredKey, UserRecord, UserStore,
    consent_resource_set,
};
use latchkey_token::refresh::RevocationReason;
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::ResourceUri;

use crate::codec::{
    backend, consent_from_row, insert_error, key_from_row, resources_json, time, user_from_row,
};
use crate::grants::{Families, revoke_families};
use crate::{SqliteStore, begin_immediate};

impl ConsentStore for SqliteStore {
    async fn consent_covers(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
    ) -> Result<bool, StoreError> {
        let rows = sqlx::query(
            "SELECT resources, scope, loopback_redirect, updated_at FROM consents \
             WHERE subject = ? AND client_id = ?",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        for row in &rows {
            if consent_from_row(row)?.covers(resources, scope, loopback_redirect) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Reads, unions and writes in one `IMMEDIATE` transaction, so two
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
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        let stored = sqlx::query(
            "SELECT resources, scope, loopback_redirect, updated_at FROM consents \
             WHERE subject = ? AND client_id = ? AND resources = ? AND loopback_redirect = ?",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .bind(resources.as_str())
        .bind(loopback_redirect)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let union = match stored.as_ref().map(consent_from_row).transpose()? {
            Some(consent) => consent.scope.union(scope),
            None => scope.clone(),
        };
        sqlx::query(
            "INSERT INTO consents \
             (subject, client_id, resources, loopback_redirect, scope, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (subject, client_id, resources, loopback_redirect) \
             DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .bind(resources.as_str())
        .bind(loopback_redirect)
        .bind(union.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn forget_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM consents WHERE subject = ? AND client_id = ?")
            .bind(subject.as_str())
            .bind(client_id.as_str())
            .execute(&mut *self.writer().await?)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }
}

impl KeyStore for SqliteStore {
    /// Oldest first: by `created_at`, then in insertion order.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let all = sqlx::query(
            "SELECT kid, algorithm, pkcs8, status, created_at FROM signing_keys \
             ORDER BY created_at, rowid",
        )
        .fetch_all(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        all.iter().map(key_from_row).collect()
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, pkcs8, status, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(key.kid.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.pkcs8.as_slice())
        .bind(key.status.as_str())
        .bind(time(key.created_at)?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(insert_error)?;
        Ok(())
    }

    /// Demotes the active key and promotes `kid` in one `IMMEDIATE`
    /// transaction: no reader ever sees two active keys, or none after a
    /// successful activation.
    async fn activate_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM signing_keys WHERE kid = ?")
            .bind(kid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if known.is_none() {
            return Ok(false);
        }
        sqlx::query("UPDATE signing_keys SET status = ? WHERE status = ? AND kid <> ?")
            .bind(KeyStatus::VerifyOnly.as_str())
            .bind(KeyStatus::Active.as_str())
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("UPDATE signing_keys SET status = ? WHERE kid = ?")
            .bind(KeyStatus::Active.as_str())
            .bind(kid)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn retire_key(&self, kid: &str) -> Result<bool, StoreError> {
        let result =
            sqlx::query("UPDATE signing_keys SET status = ? WHERE kid = ? AND status <> ?")
                .bind(KeyStatus::Retired.as_str())
                .bind(kid)
                .bind(KeyStatus::Active.as_str())
                .execute(&mut *self.writer().await?)
                .await
                .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }
}

impl UserStore for SqliteStore {
    async fn user(&self, username: &Subject) -> Result<Option<UserRecord>, StoreError> {
        let row =
            sqlx::query("SELECT username, password_hash, created_at, upstream_provider, upstream_name, upstream_email FROM users WHERE username = ?")
                .bind(username.as_str())
                .fetch_optional(&mut *self.reader().await?)
                .await
                .map_err(backend)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(time(user.created_at)?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    /// Removes the user and their consents, and revokes their families
    /// (administratively, at `now`) and access tokens, in one `IMMEDIATE`
    /// transaction.
    async fn remove_user(&self, username: &Subject, now: UnixTime) -> Result<bool, StoreError> {
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        let removed = sqlx::query("DELETE FROM users WHERE username = ?")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        revoke_families(
            &mut tx,
            Families::Subject(username),
            RevocationReason::Administrative,
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE access_tokens SET revoked = 1 WHERE subject = ? \
             OR family_id IN (SELECT id FROM refresh_families WHERE subject = ?)",
        )
        .bind(username.as_str())
        .bind(username.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM consents WHERE subject = ?")
            .bind(username.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    /// One statement: insert, or on a name conflict update the attributes
    /// only where the existing row is an upstream user.
    async fn upsert_upstream_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let upstream = user.upstream.clone().unwrap_or_default();
        let result = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at, upstream_provider, \
             upstream_name, upstream_email) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT (username) DO UPDATE SET upstream_provider = excluded.upstream_provider, \
             upstream_name = excluded.upstream_name, upstream_email = excluded.upstream_email \
             WHERE users.upstream_provider IS NOT NULL",
        )
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(time(user.created_at)?)
        .bind(upstream.provider)
        .bind(upstream.name)
        .bind(upstream.email)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let all =
            sqlx::query("SELECT username, password_hash, created_at, upstream_provider, upstream_name, upstream_email FROM users ORDER BY username")
                .fetch_all(&mut *self.reader().await?)
                .await
                .map_err(backend)?;
        all.iter().map(user_from_row).collect()
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
        let result = sqlx::query(
            "INSERT INTO replay (key, expires_at) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE replay.expires_at < ?",
        )
        .bind(key.as_slice())
        .bind(time(expires_at)?)
        .bind(time(now)?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }
}
