//! Codes, refresh families and access tokens ([`GrantStore`]).

use latchkey_store::{
    AccessTokenRecord, CODE_TOMBSTONE_MARGIN, CodeRecord, Consumption, GrantStore, NewFamily,
    RefreshFamily, RevokedGrant, Rotated, StoreError,
};
use latchkey_token::code::JwkThumbprint;
use latchkey_token::refresh::FamilyState;
use latchkey_types::{TokenDigest, UnixTime};
use sqlx::PgConnection;

use crate::codec::{
    self, ACCESS_TOKEN_COLUMNS, CODE_COLUMNS, FAMILY_COLUMNS, FamilyRow, time_to_db,
};
use crate::{PostgresStore, backend};

impl GrantStore for PostgresStore {
    async fn insert_code(&self, record: &CodeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO codes (digest, client_id, redirect_uri, redirect_uri_source, \
             code_challenge, code_challenge_method, resources, scope, subject, auth_time, \
             dpop_jkt, issued_at, expires_at, consumed) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, FALSE)",
        )
        .bind(record.digest().as_bytes().as_slice())
        .bind(record.client_id().as_str())
        .bind(record.redirect_uri().as_str())
        .bind(record.redirect_uri_source().to_string())
        .bind(record.code_challenge().as_str())
        .bind(record.code_challenge().method().as_str())
        .bind(codec::resources_to_db(record.resources()))
        .bind(record.scope().to_string())
        .bind(record.subject().as_str())
        .bind(time_to_db(record.auth_time())?)
        .bind(record.dpop_jkt().map(JwkThumbprint::to_encoded))
        .bind(time_to_db(record.issued_at())?)
        .bind(time_to_db(record.expires_at())?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn consume_code(&self, digest: &TokenDigest) -> Result<Consumption, StoreError> {
        // The compare-and-set: a concurrent consumer blocks on the row lock,
        // then re-checks `NOT consumed` against the committed row and matches
        // nothing (READ COMMITTED re-evaluation), so exactly one gets a row.
        let consumed = sqlx::query(&format!(
            "UPDATE codes SET consumed = TRUE WHERE digest = $1 AND NOT consumed \
             RETURNING {CODE_COLUMNS}"
        ))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some(row) = consumed {
            return codec::code_from_row(&row).map(Consumption::First);
        }
        let existing = sqlx::query(&format!(
            "SELECT {CODE_COLUMNS} FROM codes WHERE digest = $1"
        ))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match existing {
            Some(row) => codec::code_from_row(&row).map(Consumption::AlreadyConsumed),
            None => Ok(Consumption::Unknown),
        }
    }

    async fn insert_family(
        &self,
        family: &RefreshFamily,
        from_code: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        insert_family_in(&mut tx, family, from_code).await?;
        tx.commit().await.map_err(backend)
    }

    async fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS} FROM refresh_families \
             WHERE id = (SELECT family_id FROM refresh_tokens WHERE digest = $1)"
        ))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| codec::family_from_row(&row))
        .transpose()
    }

    async fn rotate_family(&self, next: &RefreshFamily) -> Result<Rotated, StoreError> {
        self.rotate(next, None).await
    }

    async fn revoke_family(&self, revoked: &RefreshFamily) -> Result<(), StoreError> {
        let family_id = revoked.id();
        let id = family_id.as_bytes().as_slice();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // Every revocation of this family queues on its row lock first, also
        // when it is already revoked: two concurrent revocations otherwise
        // update the same access-token rows in different orders and deadlock
        // (found by 64 concurrent reuses). `record_access_token` share-locks
        // the same row, so a token issued meanwhile is either seen here or
        // lands revoked.
        sqlx::query("SELECT 1 FROM refresh_families WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if let FamilyState::Revoked { reason, at } = revoked.state() {
            // Only the state columns, and only of an active family: the first
            // reason stays, and a concurrent rotation is not rolled back.
            sqlx::query(
                "UPDATE refresh_families \
                 SET state = 'revoked', revoked_reason = $2, revoked_at = $3 \
                 WHERE id = $1 AND state = 'active'",
            )
            .bind(id)
            .bind(reason.as_str())
            .bind(time_to_db(at)?)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        sqlx::query("UPDATE access_tokens SET revoked = TRUE WHERE family_id = $1 AND NOT revoked")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    /// One statement that share-locks the row a revocation of this token's
    /// grant updates first (the code's when it has one, else the family's), so
    /// the revocation either committed before (the token lands revoked) or
    /// waits and then revokes the token too. Only one row is locked, so the
    /// statement cannot deadlock with `revoke_code_grant` (code, then families).
    async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        record_access_token_in(&self.pool, token).await
    }

    async fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        if let Some(new) = family {
            insert_family_in(&mut tx, new.family, new.from_code).await?;
        }
        record_access_token_in(&mut *tx, token).await?;
        tx.commit().await.map_err(backend)
    }

    async fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> Result<Rotated, StoreError> {
        self.rotate(next, Some(token)).await
    }

    async fn access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCESS_TOKEN_COLUMNS} FROM access_tokens WHERE jti = $1"
        ))
        .bind(jti)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| codec::access_token_from_row(&row))
        .transpose()
    }

    async fn revoke_access_token(&self, jti: &str) -> Result<bool, StoreError> {
        let affected = sqlx::query("UPDATE access_tokens SET revoked = TRUE WHERE jti = $1")
            .bind(jti)
            .execute(&self.pool)
            .await
            .map_err(backend)?
            .rows_affected();
        Ok(affected > 0)
    }

    async fn revoke_code_grant(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<RevokedGrant, StoreError> {
        let code = code.as_bytes().as_slice();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The tombstone, written first: it row-locks the code, which is what
        // `insert_family` and `record_access_token` share-lock.
        let failed_at: Option<i64> = sqlx::query_scalar(
            "UPDATE codes SET revoked_at = COALESCE(revoked_at, $2) WHERE digest = $1 \
             RETURNING failed_at",
        )
        .bind(code)
        .bind(time_to_db(now)?)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?
        .flatten();
        // Every family from the code counts; only active ones change, so an
        // earlier revocation keeps its reason.
        let families = sqlx::query(
            "UPDATE refresh_families SET \
             revoked_reason = CASE WHEN state = 'active' THEN $2 ELSE revoked_reason END, \
             revoked_at = CASE WHEN state = 'active' THEN $3 ELSE revoked_at END, \
             state = 'revoked' \
             WHERE from_code = $1",
        )
        .bind(code)
        .bind(latchkey_token::refresh::RevocationReason::CodeReplay.as_str())
        .bind(time_to_db(now)?)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        let access_tokens = sqlx::query(
            "UPDATE access_tokens SET revoked = TRUE \
             WHERE from_code = $1 \
             OR family_id IN (SELECT id FROM refresh_families WHERE from_code = $1)",
        )
        .bind(code)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(RevokedGrant {
            families,
            access_tokens,
            failed_redemption_at: failed_at
                .map(|at| u64::try_from(at).map(UnixTime::from_secs))
                .transpose()
                .map_err(|_| StoreError::Corrupt { what: "code" })?,
        })
    }

    async fn mark_redemption_failed(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE codes SET failed_at = COALESCE(failed_at, $2) WHERE digest = $1")
            .bind(code.as_bytes().as_slice())
            .bind(time_to_db(now)?)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Deletes up to `limit` expired rows in one transaction, codes first,
    /// then the `refresh_tokens` rows of expired families, then the families
    /// (once their rows are gone, so `ON DELETE CASCADE` has next to nothing
    /// left to delete uncounted), access-token records and replay keys. Each `DELETE` picks
    /// its rows with `FOR UPDATE SKIP LOCKED`: rows another transaction holds
    /// (a revocation setting a tombstone, an instance purging concurrently)
    /// are left for the next batch instead of waited for, and a picked row is
    /// re-checked against the condition once locked (READ COMMITTED), so a
    /// tombstone that landed first keeps its code.
    async fn purge_expired(&self, now: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let tombstones_until = time_to_db(now.saturating_sub(CODE_TOMBSTONE_MARGIN))?;
        let now = time_to_db(now)?;
        let mut left = limit;
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // A revoked code stays as a tombstone for the margin past its expiry.
        left = left.saturating_sub(
            sqlx::query(
                "DELETE FROM codes WHERE digest IN (SELECT digest FROM codes \
                 WHERE expires_at < $1 AND (revoked_at IS NULL OR expires_at < $2) \
                 LIMIT $3 FOR UPDATE SKIP LOCKED)",
            )
            .bind(now)
            .bind(tombstones_until)
            .bind(i64::try_from(left).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected(),
        );
        if left > 0 {
            left = left.saturating_sub(
                sqlx::query(
                    "DELETE FROM refresh_tokens WHERE digest IN (SELECT t.digest \
                     FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id \
                     WHERE f.expires_at < $1 LIMIT $2 FOR UPDATE OF t SKIP LOCKED)",
                )
                .bind(now)
                .bind(i64::try_from(left).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected(),
            );
        }
        for (table, key) in [
            ("refresh_families", "id"),
            ("access_tokens", "jti"),
            ("replay", "key"),
        ] {
            if left == 0 {
                break;
            }
            let deleted = sqlx::query(&format!(
                "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} \
                 WHERE expires_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)"
            ))
            .bind(now)
            .bind(i64::try_from(left).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
            left = left.saturating_sub(deleted);
        }
        tx.commit().await.map_err(backend)?;
        Ok(limit.saturating_sub(left))
    }
}

impl PostgresStore {
    /// The compare-and-set of [`GrantStore::rotate_family`], recording `token`
    /// in the same transaction when it applies.
    async fn rotate(
        &self,
        next: &RefreshFamily,
        token: Option<&AccessTokenRecord>,
    ) -> Result<Rotated, StoreError> {
        let row = FamilyRow::new(next)?;
        if let Some(expected) = next.generation().checked_sub(1) {
            let expected = codec::u64_to_db(expected, "generation")?;
            let mut tx = self.pool.begin().await.map_err(backend)?;
            // The compare-and-set on the generation: of concurrent rotations
            // from the same generation, the ones that wait for the winner's
            // row lock re-check `generation = $16` and match nothing.
            let applied = row
                .bind(sqlx::query(
                    "UPDATE refresh_families SET client_id = $2, subject = $3, scope = $4, \
                     resources = $5, dpop_jkt = $6, created_at = $7, expires_at = $8, \
                     current_digest = $9, generation = $10, previous_digest = $11, \
                     previous_rotated_at = $12, state = $13, revoked_reason = $14, \
                     revoked_at = $15 \
                     WHERE id = $1 AND generation = $16 AND state = 'active'",
                ))
                .bind(expected)
                .execute(&mut *tx)
                .await
                .map_err(backend)?
                .rows_affected();
            if applied == 1 {
                sqlx::query("INSERT INTO refresh_tokens (digest, family_id) VALUES ($1, $2)")
                    .bind(&row.current_digest)
                    .bind(&row.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
                if let Some(token) = token {
                    record_access_token_in(&mut *tx, token).await?;
                }
                tx.commit().await.map_err(backend)?;
                return Ok(Rotated::Applied);
            }
            tx.rollback().await.map_err(backend)?;
        }
        let now = sqlx::query(&format!(
            "SELECT {FAMILY_COLUMNS} FROM refresh_families WHERE id = $1"
        ))
        .bind(&row.id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?
        .map(|row| codec::family_from_row(&row))
        .transpose()?;
        Ok(Rotated::Lost(now.map(Box::new)))
    }
}

/// The statements of [`GrantStore::insert_family`], inside the caller's
/// transaction.
async fn insert_family_in(
    tx: &mut PgConnection,
    family: &RefreshFamily,
    from_code: Option<&TokenDigest>,
) -> Result<(), StoreError> {
    let row = FamilyRow::new(family)?;
    if let Some(code) = from_code {
        // Share-locks the code row: a concurrent `revoke_code_grant` (which
        // updates that row first) either committed its tombstone before
        // this read, or waits for this transaction and then sees the family.
        sqlx::query("SELECT 1 FROM codes WHERE digest = $1 FOR SHARE")
            .bind(code.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    row.bind(sqlx::query(&format!(
        "INSERT INTO refresh_families ({FAMILY_COLUMNS}, from_code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )))
    .bind(from_code.map(|d| d.as_bytes().as_slice()))
    .execute(&mut *tx)
    .await
    .map_err(backend)?;
    sqlx::query("INSERT INTO refresh_tokens (digest, family_id) VALUES ($1, $2)")
        .bind(&row.current_digest)
        .bind(&row.id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    if let Some(code) = from_code {
        // The code carries a tombstone: the family lands revoked.
        sqlx::query(
            "UPDATE refresh_families f SET state = 'revoked', revoked_reason = $2, \
             revoked_at = c.revoked_at FROM codes c \
             WHERE f.id = $1 AND f.state = 'active' AND c.digest = $3 \
             AND c.revoked_at IS NOT NULL",
        )
        .bind(&row.id)
        .bind(latchkey_token::refresh::RevocationReason::CodeReplay.as_str())
        .bind(code.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The statement of [`GrantStore::record_access_token`], through `executor`.
async fn record_access_token_in<'e, E>(
    executor: E,
    token: &AccessTokenRecord,
) -> Result<(), StoreError>
where
    E: sqlx::PgExecutor<'e>,
{
    let sql = if token.from_code.is_some() {
        format!(
            "WITH grant_row AS (SELECT revoked_at IS NOT NULL AS revoked FROM codes \
             WHERE digest = $5 FOR SHARE) \
             INSERT INTO access_tokens ({ACCESS_TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7 \
             OR EXISTS (SELECT 1 FROM grant_row WHERE revoked) \
             OR EXISTS (SELECT 1 FROM refresh_families WHERE id = $4 AND state <> 'active'))"
        )
    } else if token.family.is_some() {
        format!(
            "WITH grant_row AS (SELECT state <> 'active' AS revoked FROM refresh_families \
             WHERE id = $4 FOR SHARE) \
             INSERT INTO access_tokens ({ACCESS_TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7 \
             OR EXISTS (SELECT 1 FROM grant_row WHERE revoked))"
        )
    } else {
        format!(
            "INSERT INTO access_tokens ({ACCESS_TOKEN_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
    };
    sqlx::query(&sql)
        .bind(&token.jti)
        .bind(token.client_id.as_str())
        .bind(token.subject.as_ref().map(|s| s.as_str()))
        .bind(token.family.as_ref().map(|f| f.as_bytes().as_slice()))
        .bind(token.from_code.as_ref().map(|d| d.as_bytes().as_slice()))
        .bind(time_to_db(token.expires_at)?)
        .bind(token.revoked)
        .execute(executor)
        .await
        .map_err(backend)?;
    Ok(())
}
