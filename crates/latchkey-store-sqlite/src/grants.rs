//! [`GrantStore`]: codes, refresh families and access tokens.

use latchkey_store::{
    AccessTokenRecord, CODE_TOMBSTONE_MARGIN, GrantStore, NewFamily, RevokedGrant, Rotated,
    StoreError,
};
use latchkey_token::code::{CodeRecord, Consumption};
use latchkey_token::refresh::{FamilyId, FamilyState, RefreshFamily, RevocationReason};
use latchkey_types::{ClientId, Subject, TokenDigest, UnixTime};

use crate::codec::{
    FamilyValues, Query, access_token_columns, access_token_from_row, backend, code_columns,
    code_from_row, count, family_columns, family_from_row, insert_error, resources_json, rows,
    source_str, time,
};
use crate::{SqliteStore, begin_immediate};

/// Inserts a refresh family: `?1` its id, `?2`-`?15` its [`FamilyValues`],
/// `?16` the code it came from, `?17` the code-replay reason. One statement,
/// so one transaction: the trigger of migration 0003 indexes the current
/// digest, and a replay that revoked the code before we got here (its
/// tombstone) makes the family land revoked, with the tombstone's time.
macro_rules! insert_family_sql {
    () => {
        "INSERT INTO refresh_families (id, client_id, subject, scope, resources, dpop_jkt, \
         created_at, expires_at, current_digest, generation, previous_digest, \
         previous_rotated_at, state, revoked_reason, revoked_at, from_code) \
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
         CASE WHEN t.at IS NULL OR ?13 <> 'active' THEN ?13 ELSE 'revoked' END, \
         CASE WHEN t.at IS NULL OR ?13 <> 'active' THEN ?14 ELSE ?17 END, \
         CASE WHEN t.at IS NULL OR ?13 <> 'active' THEN ?15 ELSE t.at END, \
         ?16 \
         FROM (SELECT (SELECT revoked_at FROM codes WHERE digest = ?16) AS at) t"
    };
}

/// The compare-and-set of a rotation: `?1`-`?14` the new [`FamilyValues`],
/// `?15` the id, `?16` the generation it must still have. The trigger of
/// migration 0003 indexes the new current digest only if a row changed.
macro_rules! rotate_family_sql {
    () => {
        "UPDATE refresh_families SET client_id = ?1, subject = ?2, scope = ?3, resources = ?4, \
         dpop_jkt = ?5, created_at = ?6, expires_at = ?7, current_digest = ?8, generation = ?9, \
         previous_digest = ?10, previous_rotated_at = ?11, state = ?12, revoked_reason = ?13, \
         revoked_at = ?14 \
         WHERE id = ?15 AND generation = ?16 AND state = 'active'"
    };
}

/// Inserts an access-token record whose seven values (as bound by
/// [`bind_access_token`]) sit at the given placeholders. It lands revoked if
/// its code carries a tombstone or its family is not active: one statement
/// on the writer, so atomic with respect to every revocation.
macro_rules! insert_access_token_sql {
    ($jti:literal, $client:literal, $subject:literal, $family:literal, $code:literal,
     $expires:literal, $revoked:literal) => {
        concat!(
            "INSERT INTO access_tokens (",
            access_token_columns!(),
            ") SELECT ",
            $jti,
            ", ",
            $client,
            ", ",
            $subject,
            ", ",
            $family,
            ", ",
            $code,
            ", ",
            $expires,
            ", (",
            $revoked,
            " OR EXISTS (SELECT 1 FROM codes WHERE digest = ",
            $code,
            " AND revoked_at IS NOT NULL)",
            " OR EXISTS (SELECT 1 FROM refresh_families WHERE id = ",
            $family,
            " AND state <> 'active'))"
        )
    };
}

/// Binds the seven values of [`insert_access_token_sql!`], in order.
fn bind_access_token<'q>(
    query: Query<'q>,
    token: &'q AccessTokenRecord,
) -> Result<Query<'q>, StoreError> {
    Ok(query
        .bind(token.jti.as_str())
        .bind(token.client_id.as_str())
        .bind(token.subject.as_ref().map(|s| s.as_str()))
        .bind(token.family.as_ref().map(|f| f.as_bytes().as_slice()))
        .bind(token.from_code.as_ref().map(|d| d.as_bytes().as_slice()))
        .bind(time(token.expires_at)?)
        .bind(i64::from(token.revoked)))
}

impl GrantStore for SqliteStore {
    async fn insert_code(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let resources = resources_json(record.resources())?;
        sqlx::query(concat!(
            "INSERT INTO codes (",
            code_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(record.digest().as_bytes().as_slice())
        .bind(record.client_id().as_str())
        .bind(record.redirect_uri().as_str())
        .bind(source_str(record.redirect_uri_source()))
        .bind(record.code_challenge().as_str())
        .bind(record.code_challenge().method().as_str())
        .bind(resources)
        .bind(record.scope().to_string())
        .bind(record.subject().as_str())
        .bind(time(record.auth_time())?)
        .bind(record.dpop_jkt().map(|j| j.as_bytes().as_slice()))
        .bind(time(record.issued_at())?)
        .bind(time(record.expires_at())?)
        .execute(&mut *self.writer().await?)
        .await
        .map_err(insert_error)?;
        Ok(())
    }

    /// One conditional `UPDATE ... RETURNING`: the row changes for exactly one
    /// caller (OAuth 2.1 section 4.1.3).
    async fn consume_code(&self, digest: &TokenDigest) -> Result<Consumption, StoreError> {
        let consumed = sqlx::query(concat!(
            "UPDATE codes SET consumed = 1 WHERE digest = ? AND consumed = 0 RETURNING ",
            code_columns!()
        ))
        .bind(digest.as_bytes().as_slice())
        // `fetch_all` steps the statement to completion, so the update is
        // finished (and committed) before the connection goes back to the pool.
        .fetch_all(&mut *self.writer().await?)
        .await
        .map_err(backend)?;
        if let Some(row) = consumed.first() {
            return Ok(Consumption::First(code_from_row(row)?));
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            code_columns!(),
            " FROM codes WHERE digest = ?"
        ))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        Ok(match existing {
            Some(row) => Consumption::AlreadyConsumed(code_from_row(&row)?),
            None => Consumption::Unknown,
        })
    }

    async fn insert_family(
        &self,
        family: &RefreshFamily,
        from_code: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let values = FamilyValues::new(family)?;
        let id = family.id();
        // One statement, so one transaction: the trigger of migration 0003
        // indexes the current digest, and a replay that revoked the code
        // before we got here (its tombstone) makes the family land revoked,
        // with the tombstone's time.
        let insert = sqlx::query(insert_family_sql!()).bind(id.as_bytes().as_slice());
        values
            .bind(insert)
            .bind(from_code.map(|d| d.as_bytes().as_slice()))
            .bind(RevocationReason::CodeReplay.as_str())
            .execute(&mut *self.writer().await?)
            .await
            .map_err(insert_error)?;
        Ok(())
    }

    async fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            family_columns!(),
            " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
             WHERE t.digest = ?"
        ))
        .bind(digest.as_bytes().as_slice())
        .fetch_optional(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        row.as_ref().map(family_from_row).transpose()
    }

    /// Compare-and-set on the generation in one conditional `UPDATE`, whose
    /// trigger indexes the new current digest in the same statement (OAuth
    /// 2.1 section 4.3.1).
    async fn rotate_family(&self, next: &RefreshFamily) -> Result<Rotated, StoreError> {
        let id = next.id();
        let Some(expected) = next.generation().checked_sub(1) else {
            // Generation 0 is never the result of a rotation.
            let current = family_by_id(&mut *self.reader().await?, &id).await?;
            return Ok(Rotated::Lost(current.map(Box::new)));
        };
        let expected = count(expected, "generation")?;
        let values = FamilyValues::new(next)?;
        // One statement, so one transaction: the trigger of migration 0003
        // indexes the new current digest only if the compare-and-set applied.
        let update = sqlx::query(rotate_family_sql!());
        let updated = values
            .bind(update)
            .bind(id.as_bytes().as_slice())
            .bind(expected)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(insert_error)?
            .rows_affected();
        if updated == 0 {
            // The family as it stands after the rotation that won (or the
            // revocation); never the one this caller tried to write.
            let current = family_by_id(&mut *self.reader().await?, &id).await?;
            return Ok(Rotated::Lost(current.map(Box::new)));
        }
        Ok(Rotated::Applied)
    }

    /// Sets the state of an active family (the current token and generation
    /// stay as stored) and revokes its access tokens, in one transaction.
    async fn revoke_family(&self, revoked: &RefreshFamily) -> Result<(), StoreError> {
        let id = revoked.id();
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        if let FamilyState::Revoked { reason, at } = revoked.state() {
            revoke_families(&mut tx, Families::Id(&id), reason, at).await?;
        }
        sqlx::query("UPDATE access_tokens SET revoked = 1 WHERE family_id = ?")
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    /// One statement on the writer, so atomic with respect to every
    /// revocation: the token lands revoked if its code carries a tombstone or
    /// its family is revoked.
    async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        let insert = sqlx::query(insert_access_token_sql!(
            "?1", "?2", "?3", "?4", "?5", "?6", "?7"
        ));
        bind_access_token(insert, token)?
            .execute(&mut *self.writer().await?)
            .await
            .map_err(insert_error)?;
        Ok(())
    }

    /// With a family, one batch on the writer: the two inserts in one
    /// `IMMEDIATE` transaction, so one hand-off to SQLite's worker thread.
    async fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> Result<(), StoreError> {
        let Some(new) = family else {
            return self.record_access_token(token).await;
        };
        let values = FamilyValues::new(new.family)?;
        let id = new.family.id();
        let batch = sqlx::query(concat!(
            "BEGIN IMMEDIATE; ",
            insert_family_sql!(),
            "; ",
            insert_access_token_sql!("?18", "?19", "?20", "?21", "?22", "?23", "?24"),
            "; COMMIT"
        ))
        .bind(id.as_bytes().as_slice());
        let batch = values
            .bind(batch)
            .bind(new.from_code.map(|d| d.as_bytes().as_slice()))
            .bind(RevocationReason::CodeReplay.as_str());
        self.writer.batch(bind_access_token(batch, token)?).await?;
        Ok(())
    }

    /// One batch on the writer: the compare-and-set `UPDATE ... RETURNING`
    /// and an insert of the token guarded by `changes() = 1` (the number of
    /// rows that `UPDATE` itself changed, not counting its trigger's), in one
    /// `IMMEDIATE` transaction.
    async fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> Result<Rotated, StoreError> {
        let id = next.id();
        let Some(expected) = next.generation().checked_sub(1) else {
            let current = family_by_id(&mut *self.reader().await?, &id).await?;
            return Ok(Rotated::Lost(current.map(Box::new)));
        };
        let expected = count(expected, "generation")?;
        let values = FamilyValues::new(next)?;
        let batch = sqlx::query(concat!(
            "BEGIN IMMEDIATE; ",
            rotate_family_sql!(),
            " RETURNING generation; ",
            insert_access_token_sql!("?17", "?18", "?19", "?20", "?21", "?22", "?23"),
            " WHERE changes() = 1; COMMIT"
        ));
        let batch = values
            .bind(batch)
            .bind(id.as_bytes().as_slice())
            .bind(expected);
        let applied = self.writer.batch(bind_access_token(batch, token)?).await?;
        if applied.is_empty() {
            let current = family_by_id(&mut *self.reader().await?, &id).await?;
            return Ok(Rotated::Lost(current.map(Box::new)));
        }
        Ok(Rotated::Applied)
    }

    async fn access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            access_token_columns!(),
            " FROM access_tokens WHERE jti = ?"
        ))
        .bind(jti)
        .fetch_optional(&mut *self.reader().await?)
        .await
        .map_err(backend)?;
        row.as_ref().map(access_token_from_row).transpose()
    }

    async fn revoke_access_token(&self, jti: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE access_tokens SET revoked = 1 WHERE jti = ?")
            .bind(jti)
            .execute(&mut *self.writer().await?)
            .await
            .map_err(backend)?;
        Ok(result.rows_affected() > 0)
    }

    /// Revokes the families issued from the code and every access token issued
    /// from the code or under those families, in one transaction (OAuth 2.1
    /// section 4.1.3, RFC 9700 section 4.5). Counts every family and token of
    /// the grant, including ones already revoked.
    async fn revoke_code_grant(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<RevokedGrant, StoreError> {
        let digest = code;
        let code = code.as_bytes().as_slice();
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        // The tombstone: what the first redemption stores after this
        // transaction lands revoked (see `insert_family`, `record_access_token`).
        sqlx::query("UPDATE codes SET revoked_at = ? WHERE digest = ? AND revoked_at IS NULL")
            .bind(time(now)?)
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let failed_at: Option<i64> =
            sqlx::query_scalar("SELECT failed_at FROM codes WHERE digest = ?")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?
                .flatten();
        let families: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM refresh_families WHERE from_code = ?")
                .bind(code)
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        revoke_families(
            &mut tx,
            Families::FromCode(digest),
            RevocationReason::CodeReplay,
            now,
        )
        .await?;
        let access_tokens = sqlx::query(
            "UPDATE access_tokens SET revoked = 1 WHERE from_code = ? \
             OR family_id IN (SELECT id FROM refresh_families WHERE from_code = ?)",
        )
        .bind(code)
        .bind(code)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(RevokedGrant {
            families: rows(families),
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
        sqlx::query("UPDATE codes SET failed_at = ? WHERE digest = ? AND failed_at IS NULL")
            .bind(time(now)?)
            .bind(code.as_bytes().as_slice())
            .execute(&mut *self.writer().await?)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Deletes up to `limit` expired rows in one `IMMEDIATE` transaction,
    /// codes first, then the `refresh_tokens` rows of expired families, then
    /// the families (only once their rows are gone, so the cascade deletes
    /// nothing uncounted), access-token records and replay keys, each
    /// `DELETE` picking its rows through the `expires_at` index with a
    /// `LIMIT` of what is left.
    async fn purge_expired(&self, now: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let tombstones_until = time(now.saturating_sub(CODE_TOMBSTONE_MARGIN))?;
        let now = time(now)?;
        let mut writer = self.writer().await?;
        let mut tx = begin_immediate(&mut writer).await?;
        let mut left = limit;
        // A revoked code stays as a tombstone for the margin past its expiry.
        let statements = [
            "DELETE FROM codes WHERE digest IN (SELECT digest FROM codes \
             WHERE expires_at < ?1 AND (revoked_at IS NULL OR expires_at < ?2) LIMIT ?3)",
            "DELETE FROM refresh_tokens WHERE digest IN (SELECT t.digest \
             FROM refresh_families f JOIN refresh_tokens t ON t.family_id = f.id \
             WHERE f.expires_at < ?1 LIMIT ?3)",
            "DELETE FROM refresh_families WHERE id IN \
             (SELECT id FROM refresh_families WHERE expires_at < ?1 LIMIT ?3)",
            "DELETE FROM access_tokens WHERE jti IN \
             (SELECT jti FROM access_tokens WHERE expires_at < ?1 LIMIT ?3)",
            "DELETE FROM replay WHERE key IN \
             (SELECT key FROM replay WHERE expires_at < ?1 LIMIT ?3)",
        ];
        for statement in statements {
            if left == 0 {
                break;
            }
            let deleted = sqlx::query(statement)
                .bind(now)
                .bind(tombstones_until)
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

/// Which families [`revoke_families`] revokes.
pub(crate) enum Families<'a> {
    /// The one family with this id.
    Id(&'a FamilyId),
    /// The families issued from the code with this digest.
    FromCode(&'a TokenDigest),
    /// The families of this client.
    Client(&'a ClientId),
    /// The families of this resource owner.
    Subject(&'a Subject),
}

/// Revokes the still-active families `which` names at `at`, keeping the
/// first reason of the ones already revoked; returns how many changed.
pub(crate) async fn revoke_families(
    tx: &mut sqlx::SqliteConnection,
    which: Families<'_>,
    reason: RevocationReason,
    at: UnixTime,
) -> Result<u64, StoreError> {
    let at = time(at)?;
    let query = match which {
        Families::Id(id) => sqlx::query(
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?, revoked_at = ? \
             WHERE state = 'active' AND id = ?",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(id.as_bytes().as_slice()),
        Families::FromCode(code) => sqlx::query(
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?, revoked_at = ? \
             WHERE state = 'active' AND from_code = ?",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(code.as_bytes().as_slice()),
        Families::Client(client_id) => sqlx::query(
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?, revoked_at = ? \
             WHERE state = 'active' AND client_id = ?",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(client_id.as_str()),
        Families::Subject(subject) => sqlx::query(
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?, revoked_at = ? \
             WHERE state = 'active' AND subject = ?",
        )
        .bind(reason.as_str())
        .bind(at)
        .bind(subject.as_str()),
    };
    let result = query.execute(tx).await.map_err(backend)?;
    Ok(result.rows_affected())
}

/// The family with this id, read through `executor`.
async fn family_by_id<'e, E>(
    executor: E,
    id: &FamilyId,
) -> Result<Option<RefreshFamily>, StoreError>
where
    E: sqlx::SqliteExecutor<'e>,
{
    let row = sqlx::query(concat!(
        "SELECT ",
        family_columns!(),
        " FROM refresh_families f WHERE f.id = ?"
    ))
    .bind(id.as_bytes().as_slice())
    .fetch_optional(executor)
    .await
    .map_err(backend)?;
    row.as_ref().map(family_from_row).transpose()
}
