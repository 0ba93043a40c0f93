//! [`GrantStore`]: codes, refresh families and access tokens.

use latchkey_store::{
    AccessTokenRecord, CODE_TOMBSTONE_MARGIN, GrantStore, NewFamily, RevokedGrant, Rotated,
    StoreError,
};
use latchkey_token::code::{CodeRecord, Consumption};
use latchkey_token::refresh::{FamilyId, FamilyState, RefreshFamily, RevocationReason};
use latchkey_types::{ClientId, Subject, TokenDigest, UnixTime};

use rusqlite::Connection;

use crate::SqliteStore;
use crate::codec::{
    FamilyValues, P, access_token_columns, access_token_from_row, all, backend, blob, code_columns,
    code_from_row, count, execute, family_columns, family_from_row, insert_error, int, opt_blob,
    opt_text, optional, resources_json, rows, scalar, source_str, text, time,
};

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

/// The seven values of [`insert_access_token_sql!`], in order.
fn access_token_params(token: &AccessTokenRecord) -> Result<[P<'_>; 7], StoreError> {
    Ok([
        text(&token.jti),
        text(token.client_id.as_str()),
        opt_text(token.subject.as_ref().map(|s| s.as_str())),
        opt_blob(token.family.as_ref().map(|f| f.as_bytes().as_slice())),
        opt_blob(token.from_code.as_ref().map(|d| d.as_bytes().as_slice())),
        int(time(token.expires_at)?),
        int(i64::from(token.revoked)),
    ])
}

/// Inserts a family (see [`insert_family_sql!`]).
fn insert_family_now(
    connection: &Connection,
    values: &FamilyValues,
    from_code: Option<&TokenDigest>,
) -> Result<(), StoreError> {
    let id = values.family.id();
    let params = std::iter::once(blob(id.as_bytes()))
        .chain(values.params())
        .chain([
            opt_blob(from_code.map(|d| d.as_bytes().as_slice())),
            text(RevocationReason::CodeReplay.as_str()),
        ]);
    execute(connection, insert_family_sql!(), params).map_err(insert_error)?;
    Ok(())
}

/// Inserts an access-token record (see [`insert_access_token_sql!`]).
fn record_access_token_now(
    connection: &Connection,
    token: &AccessTokenRecord,
) -> Result<(), StoreError> {
    execute(
        connection,
        insert_access_token_sql!("?1", "?2", "?3", "?4", "?5", "?6", "?7"),
        access_token_params(token)?,
    )
    .map_err(insert_error)?;
    Ok(())
}

/// The compare-and-set of a rotation; `true` if it applied.
fn rotate_now(connection: &Connection, values: &FamilyValues) -> Result<bool, StoreError> {
    let next = &values.family;
    let Some(expected) = next.generation().checked_sub(1) else {
        // Generation 0 is never the result of a rotation.
        return Ok(false);
    };
    let expected = count(expected, "generation")?;
    let id = next.id();
    let params = values
        .params()
        .into_iter()
        .chain([blob(id.as_bytes()), int(expected)]);
    let updated = execute(connection, rotate_family_sql!(), params).map_err(insert_error)?;
    Ok(updated == 1)
}

/// The answer of a rotation, the family as it stands when it lost.
fn rotation_result(
    connection: &Connection,
    applied: bool,
    id: &FamilyId,
) -> Result<Rotated, StoreError> {
    if applied {
        return Ok(Rotated::Applied);
    }
    // The family as it stands after the rotation that won (or the
    // revocation); never the one this caller tried to write.
    let current = family_by_id(connection, id)?;
    Ok(Rotated::Lost(current.map(Box::new)))
}

impl GrantStore for SqliteStore {
    async fn insert_code(&self, record: &CodeRecord) -> Result<(), StoreError> {
        let record = record.clone();
        let resources = resources_json(record.resources())?;
        let scope = record.scope().to_string();
        let auth_time = time(record.auth_time())?;
        let issued_at = time(record.issued_at())?;
        let expires_at = time(record.expires_at())?;
        self.write(move |connection| {
            execute(
                connection,
                concat!(
                    "INSERT INTO codes (",
                    code_columns!(),
                    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
                [
                    blob(record.digest().as_bytes()),
                    text(record.client_id().as_str()),
                    text(record.redirect_uri().as_str()),
                    text(source_str(record.redirect_uri_source())),
                    text(record.code_challenge().as_str()),
                    text(record.code_challenge().method().as_str()),
                    text(&resources),
                    text(&scope),
                    text(record.subject().as_str()),
                    int(auth_time),
                    opt_blob(record.dpop_jkt().map(|j| j.as_bytes().as_slice())),
                    int(issued_at),
                    int(expires_at),
                ],
            )
            .map_err(insert_error)?;
            Ok(())
        })
        .await
    }

    /// One conditional `UPDATE ... RETURNING`: the row changes for exactly one
    /// caller (OAuth 2.1 section 4.1.3). A consumed row that does not read
    /// back is `Corrupt`, and stays consumed (fails closed).
    async fn consume_code(&self, digest: &TokenDigest) -> Result<Consumption, StoreError> {
        let digest = *digest;
        self.write(move |connection| {
            let consumed = all(
                connection,
                concat!(
                    "UPDATE codes SET consumed = 1 WHERE digest = ?1 AND consumed = 0 RETURNING ",
                    code_columns!()
                ),
                [blob(digest.as_bytes())],
                code_from_row,
            )?;
            if let Some(first) = consumed.into_iter().next() {
                // Kept even when the row is corrupt: the answer is the
                // error, the consumption commits.
                return Ok(first.map(Consumption::First));
            }
            let existing = optional(
                connection,
                concat!("SELECT ", code_columns!(), " FROM codes WHERE digest = ?1"),
                [blob(digest.as_bytes())],
                |row| Ok(code_from_row(row)),
            )?;
            Ok(match existing {
                Some(code) => code.map(Consumption::AlreadyConsumed),
                None => Ok(Consumption::Unknown),
            })
        })
        .await?
    }

    async fn insert_family(
        &self,
        family: &RefreshFamily,
        from_code: Option<&TokenDigest>,
    ) -> Result<(), StoreError> {
        let values = FamilyValues::new(family)?;
        let from_code = from_code.copied();
        self.write(move |connection| insert_family_now(connection, &values, from_code.as_ref()))
            .await
    }

    async fn family_by_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<RefreshFamily>, StoreError> {
        let digest = *digest;
        self.read(move |connection| {
            optional(
                connection,
                concat!(
                    "SELECT ",
                    family_columns!(),
                    " FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id \
                     WHERE t.digest = ?1"
                ),
                [blob(digest.as_bytes())],
                family_from_row,
            )
        })
        .await
    }

    /// Compare-and-set on the generation in one conditional `UPDATE`, whose
    /// trigger indexes the new current digest in the same statement (OAuth
    /// 2.1 section 4.3.1).
    async fn rotate_family(&self, next: &RefreshFamily) -> Result<Rotated, StoreError> {
        let values = FamilyValues::new(next)?;
        self.write(move |connection| {
            let applied = rotate_now(connection, &values)?;
            rotation_result(connection, applied, &values.family.id())
        })
        .await
    }

    /// Sets the state of an active family (the current token and generation
    /// stay as stored) and revokes its access tokens, in one transaction.
    async fn revoke_family(&self, revoked: &RefreshFamily) -> Result<(), StoreError> {
        let id = revoked.id();
        let state = revoked.state();
        self.write(move |connection| {
            if let FamilyState::Revoked { reason, at } = state {
                revoke_families(connection, &Families::Id(&id), reason, at)?;
            }
            execute(
                connection,
                "UPDATE access_tokens SET revoked = 1 WHERE family_id = ?1",
                [blob(id.as_bytes())],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// One statement, atomic with respect to every revocation: the token
    /// lands revoked if its code carries a tombstone or its family is
    /// revoked.
    async fn record_access_token(&self, token: &AccessTokenRecord) -> Result<(), StoreError> {
        let token = token.clone();
        self.write(move |connection| record_access_token_now(connection, &token))
            .await
    }

    /// The family insert and the access-token insert in one operation of the
    /// writer, so in one transaction.
    async fn record_issuance(
        &self,
        family: Option<NewFamily<'_>>,
        token: &AccessTokenRecord,
    ) -> Result<(), StoreError> {
        let token = token.clone();
        let family = match family {
            Some(new) => Some((FamilyValues::new(new.family)?, new.from_code.copied())),
            None => None,
        };
        self.write(move |connection| {
            if let Some((values, from_code)) = &family {
                insert_family_now(connection, values, from_code.as_ref())?;
            }
            record_access_token_now(connection, &token)
        })
        .await
    }

    /// The compare-and-set `UPDATE` and, only if it applied, the insert of
    /// the token, in one operation of the writer, so in one transaction.
    async fn rotate_family_with_token(
        &self,
        next: &RefreshFamily,
        token: &AccessTokenRecord,
    ) -> Result<Rotated, StoreError> {
        let values = FamilyValues::new(next)?;
        let token = token.clone();
        self.write(move |connection| {
            let applied = rotate_now(connection, &values)?;
            if applied {
                record_access_token_now(connection, &token)?;
            }
            rotation_result(connection, applied, &values.family.id())
        })
        .await
    }

    async fn access_token(&self, jti: &str) -> Result<Option<AccessTokenRecord>, StoreError> {
        let jti = jti.to_owned();
        self.read(move |connection| {
            optional(
                connection,
                concat!(
                    "SELECT ",
                    access_token_columns!(),
                    " FROM access_tokens WHERE jti = ?1"
                ),
                [text(&jti)],
                access_token_from_row,
            )
        })
        .await
    }

    async fn revoke_access_token(&self, jti: &str) -> Result<bool, StoreError> {
        let jti = jti.to_owned();
        self.write(move |connection| {
            let changed = execute(
                connection,
                "UPDATE access_tokens SET revoked = 1 WHERE jti = ?1",
                [text(&jti)],
            )
            .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
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
        let digest = *code;
        let now_secs = time(now)?;
        self.write(move |connection| {
            let code = blob(digest.as_bytes());
            // The tombstone: what the first redemption stores after this
            // transaction lands revoked (see `insert_family`,
            // `record_access_token`).
            execute(
                connection,
                "UPDATE codes SET revoked_at = ?1 WHERE digest = ?2 AND revoked_at IS NULL",
                [int(now_secs), code.clone()],
            )
            .map_err(backend)?;
            let failed_at = scalar(
                connection,
                "SELECT failed_at FROM codes WHERE digest = ?1",
                [code.clone()],
            )?
            .flatten();
            let families = scalar(
                connection,
                "SELECT COUNT(*) FROM refresh_families WHERE from_code = ?1",
                [code.clone()],
            )?
            .flatten()
            .unwrap_or(0);
            revoke_families(
                connection,
                &Families::FromCode(&digest),
                RevocationReason::CodeReplay,
                now,
            )?;
            let access_tokens = execute(
                connection,
                "UPDATE access_tokens SET revoked = 1 WHERE from_code = ?1 \
                 OR family_id IN (SELECT id FROM refresh_families WHERE from_code = ?1)",
                [code],
            )
            .map_err(backend)?;
            Ok(RevokedGrant {
                families: rows(families),
                access_tokens: access_tokens as u64,
                failed_redemption_at: failed_at
                    .map(|at| u64::try_from(at).map(UnixTime::from_secs))
                    .transpose()
                    .map_err(|_| StoreError::Corrupt { what: "code" })?,
            })
        })
        .await
    }

    async fn mark_redemption_failed(
        &self,
        code: &TokenDigest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let digest = *code;
        let now = time(now)?;
        self.write(move |connection| {
            execute(
                connection,
                "UPDATE codes SET failed_at = ?1 WHERE digest = ?2 AND failed_at IS NULL",
                [int(now), blob(digest.as_bytes())],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    /// Deletes up to `limit` expired rows in one operation of the writer,
    /// codes first, then the `refresh_tokens` rows of expired families, then
    /// the families (only once their rows are gone, so the cascade deletes
    /// nothing uncounted), access-token records and replay keys, each
    /// `DELETE` picking its rows through the `expires_at` index with a
    /// `LIMIT` of what is left.
    async fn purge_expired(&self, now: UnixTime, limit: u64) -> Result<u64, StoreError> {
        let tombstones_until = time(now.saturating_sub(CODE_TOMBSTONE_MARGIN))?;
        let now = time(now)?;
        self.write(move |connection| {
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
                let deleted = execute(
                    connection,
                    statement,
                    [
                        int(now),
                        int(tombstones_until),
                        int(i64::try_from(left).unwrap_or(i64::MAX)),
                    ],
                )
                .map_err(backend)?;
                left = left.saturating_sub(deleted as u64);
            }
            Ok(limit.saturating_sub(left))
        })
        .await
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
pub(crate) fn revoke_families(
    connection: &Connection,
    which: &Families<'_>,
    reason: RevocationReason,
    at: UnixTime,
) -> Result<u64, StoreError> {
    let at = time(at)?;
    let (sql, key) = match which {
        Families::Id(id) => (
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?1, revoked_at = ?2 \
             WHERE state = 'active' AND id = ?3",
            blob(id.as_bytes()),
        ),
        Families::FromCode(code) => (
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?1, revoked_at = ?2 \
             WHERE state = 'active' AND from_code = ?3",
            blob(code.as_bytes()),
        ),
        Families::Client(client_id) => (
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?1, revoked_at = ?2 \
             WHERE state = 'active' AND client_id = ?3",
            text(client_id.as_str()),
        ),
        Families::Subject(subject) => (
            "UPDATE refresh_families SET state = 'revoked', revoked_reason = ?1, revoked_at = ?2 \
             WHERE state = 'active' AND subject = ?3",
            text(subject.as_str()),
        ),
    };
    let changed =
        execute(connection, sql, [text(reason.as_str()), int(at), key]).map_err(backend)?;
    Ok(changed as u64)
}

/// The family with this id.
fn family_by_id(
    connection: &Connection,
    id: &FamilyId,
) -> Result<Option<RefreshFamily>, StoreError> {
    optional(
        connection,
        concat!(
            "SELECT ",
            family_columns!(),
            " FROM refresh_families f WHERE f.id = ?1"
        ),
        [blob(id.as_bytes())],
        family_from_row,
    )
}
