//! Consent, signing keys, users and one-time identifiers ([`ConsentStore`],
//! [`KeyStore`], [`UserStore`], [`ReplayStore`]).

use latchkey_store::{
    ConsentStore, KeyStatus, KeyStore, ReplayStore, StoreError, StoredKey, UserRecord, UserStore,
    consent_resource_set,
};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::ResourceUri;

use crate::clients::{GrantOwner, revoke_grants};
use crate::codec::{self, time_to_db};
use crate::{PostgresStore, backend};

impl ConsentStore for PostgresStore {
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
             WHERE subject = $1 AND client_id = $2",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        for row in &rows {
            if codec::consent_from_row(row)?.covers(resources, scope, loopback_redirect) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn remember_consent(
        &self,
        subject: &Subject,
        client_id: &ClientId,
        resources: &[ResourceUri],
        scope: &Scope,
        loopback_redirect: bool,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let now = time_to_db(now)?;
        let resources = codec::resources_to_db(&consent_resource_set(resources));
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Make sure the row exists, then lock it: concurrent approvals of the
        // same resource set merge one after the other instead of overwriting
        // each other.
        sqlx::query(
            "INSERT INTO consents \
             (subject, client_id, resources, loopback_redirect, scope, updated_at) \
             VALUES ($1, $2, $3, $4, '', $5) \
             ON CONFLICT (subject, client_id, resources, loopback_redirect) DO NOTHING",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .bind(&resources)
        .bind(loopback_redirect)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let (stored,): (String,) = sqlx::query_as(
            "SELECT scope FROM consents WHERE subject = $1 AND client_id = $2 \
             AND resources = $3 AND loopback_redirect = $4 FOR UPDATE",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .bind(&resources)
        .bind(loopback_redirect)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        let merged = codec::scope_from_db(&stored, "consent")?.union(scope);
        sqlx::query(
            "UPDATE consents SET scope = $5, updated_at = $6 WHERE subject = $1 \
             AND client_id = $2 AND resources = $3 AND loopback_redirect = $4",
        )
        .bind(subject.as_str())
        .bind(client_id.as_str())
        .bind(&resources)
        .bind(loopback_redirect)
        .bind(merged.to_string())
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
        let deleted = sqlx::query("DELETE FROM consents WHERE subject = $1 AND client_id = $2")
            .bind(subject.as_str())
            .bind(client_id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(deleted > 0)
    }
}

impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        sqlx::query(
            "SELECT kid, algorithm, pkcs8, status, created_at FROM signing_keys \
             ORDER BY created_at, seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(codec::key_from_row)
        .collect()
    }

    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, pkcs8, status, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(key.pkcs8.as_slice())
        .bind(key.status.as_str())
        .bind(time_to_db(key.created_at)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn activate_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Two activations racing without the lock could each demote only what
        // their snapshot saw as active and leave two active keys.
        lock_keys(&mut tx).await?;
        let known = sqlx::query("SELECT 1 FROM signing_keys WHERE kid = $1")
            .bind(kid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if known.is_none() {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        sqlx::query(
            "UPDATE signing_keys SET status = CASE WHEN kid = $1 THEN $2 ELSE $3 END \
             WHERE kid = $1 OR status = $2",
        )
        .bind(kid)
        .bind(KeyStatus::Active.as_str())
        .bind(KeyStatus::VerifyOnly.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn retire_key(&self, kid: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_keys(&mut tx).await?;
        let retired =
            sqlx::query("UPDATE signing_keys SET status = $2 WHERE kid = $1 AND status <> $3")
                .bind(kid)
                .bind(KeyStatus::Retired.as_str())
                .bind(KeyStatus::Active.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(retired > 0)
    }
}

impl UserStore for PostgresStore {
    async fn user(&self, username: &Subject) -> Result<Option<UserRecord>, StoreError> {
        sqlx::query("SELECT username, password_hash, created_at, upstream_provider, upstream_name, upstream_email FROM users WHERE username = $1")
            .bind(username.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .map(|row| codec::user_from_row(&row))
            .transpose()
    }

    async fn insert_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (username) DO NOTHING",
        )
        .bind(user.username.as_str())
        .bind(&user.password_hash)
        .bind(time_to_db(user.created_at)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// One statement: insert, or on a name conflict update the attributes
    /// only where the existing row is an upstream user.
    async fn upsert_upstream_user(&self, user: &UserRecord) -> Result<bool, StoreError> {
        let upstream = user.upstream.clone().unwrap_or_default();
        let affected = sqlx::query(
            "INSERT INTO users (username, password_hash, created_at, upstream_provider, \
             upstream_name, upstream_email) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (username) DO UPDATE SET upstream_provider = EXCLUDED.upstream_provider, \
             upstream_name = EXCLUDED.upstream_name, upstream_email = EXCLUDED.upstream_email \
             WHERE users.upstream_provider IS NOT NULL",
        )
        .bind(user.username.as_str())
        .bind(&user.password_hash)
        .bind(time_to_db(user.created_at)?)
        .bind(upstream.provider)
        .bind(upstream.name)
        .bind(upstream.email)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(affected > 0)
    }

    /// Removes the user and their consents, and revokes their families
    /// (administratively, at `now`) and access tokens, in one transaction.
    async fn remove_user(&self, username: &Subject, now: UnixTime) -> Result<bool, StoreError> {
        let name = username.as_str();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let removed = sqlx::query("DELETE FROM users WHERE username = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await.map_err(backend)?;
            return Ok(false);
        }
        revoke_grants(&mut tx, GrantOwner::Subject, name, now).await?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        // COLLATE "C": byte order, as `Subject`'s `Ord`, whatever the database collation.
        sqlx::query(
            "SELECT username, password_hash, created_at, upstream_provider, upstream_name, upstream_email FROM users \
             ORDER BY username COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(codec::user_from_row)
        .collect()
    }
}

impl ReplayStore for PostgresStore {
    async fn remember_once(
        &self,
        key: &[u8; 32],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        // One statement: a concurrent inserter of the same key waits for the
        // first, then takes the DO UPDATE branch, whose WHERE (the remembered
        // key has expired) is checked against the committed row.
        let affected = sqlx::query(
            "INSERT INTO replay (key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at \
             WHERE replay.expires_at < $3",
        )
        .bind(key.as_slice())
        .bind(time_to_db(expires_at)?)
        .bind(time_to_db(now)?)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        Ok(affected == 1)
    }
}

/// Serialises key activation and retirement (in this schema) until the
/// transaction ends.
async fn lock_keys(tx: &mut sqlx::Transaction<'_, sqlx::Postgres>) -> Result<(), StoreError> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(\
         hashtextextended('latchkey.signing_keys.' || coalesce(current_schema(), ''), 0))",
    )
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}
