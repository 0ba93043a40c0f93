//! Between records and rows: what each column holds, and the checks that turn
//! a row that does not read back into [`StoreError::Corrupt`], never a panic.

use latchkey_pkce::CodeChallenge;
use latchkey_store::{
    AccessTokenRecord, ClientRecord, ConsentRecord, KeyStatus, StoreError, StoredKey,
    UpstreamAttributes, UserRecord,
};
use latchkey_token::code::{CodeRecord, CodeRecordParts, JwkThumbprint, RedirectUriSource};
use latchkey_token::refresh::{
    FamilyId, FamilyParts, FamilyState, PreviousToken, RefreshFamily, RevocationReason,
};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rusqlite::types::{FromSql, ToSqlOutput, Value, ValueRef};
use rusqlite::{Connection, Row};
use zeroize::Zeroizing;

/// The columns of `codes` that make up a [`CodeRecord`], in `SELECT` / `RETURNING` order.
macro_rules! code_columns {
    () => {
        "digest, client_id, redirect_uri, redirect_uri_source, code_challenge, \
         code_challenge_method, resources, scope, subject, auth_time, dpop_jkt, issued_at, \
         expires_at"
    };
}
pub(crate) use code_columns;

/// The columns of `refresh_families` (alias `f`) that make up a [`RefreshFamily`],
/// named with `AS` because SQLite leaves the name of an unaliased `f.x` unspecified.
macro_rules! family_columns {
    () => {
        "f.id AS id, f.client_id AS client_id, f.subject AS subject, f.scope AS scope, \
         f.resources AS resources, f.dpop_jkt AS dpop_jkt, f.created_at AS created_at, \
         f.expires_at AS expires_at, f.current_digest AS current_digest, \
         f.generation AS generation, f.previous_digest AS previous_digest, \
         f.previous_rotated_at AS previous_rotated_at, f.state AS state, \
         f.revoked_reason AS revoked_reason, f.revoked_at AS revoked_at"
    };
}
pub(crate) use family_columns;

/// The columns of `clients` that make up a [`ClientRecord`].
macro_rules! client_columns {
    () => {
        "client_id, metadata, secret_digest, secret_expires_at, registration_token_digest, \
         fingerprint, issued_at, first_used_at, may_introspect"
    };
}
pub(crate) use client_columns;

/// The columns of `access_tokens` that make up an [`AccessTokenRecord`].
macro_rules! access_token_columns {
    () => {
        "jti, client_id, subject, family_id, from_code, expires_at, revoked"
    };
}
pub(crate) use access_token_columns;

/// A failure turned into the backend variant; SQLite's errors name the SQL
/// constraint, never a bound value.
pub(crate) fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Backend(Box::new(error))
}

/// Like [`backend`], but a unique or primary-key violation is [`StoreError::Duplicate`].
pub(crate) fn insert_error(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Duplicate
        }
        _ => backend(error),
    }
}

/// Runs a statement through the connection's statement cache; returns how
/// many rows it changed.
pub(crate) fn execute<'p>(
    connection: &Connection,
    sql: &str,
    params: impl IntoIterator<Item = P<'p>>,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(sql)?
        .execute(rusqlite::params_from_iter(params))
}

/// The first row of a query read with `map`, if there is one.
pub(crate) fn optional<'p, T>(
    connection: &Connection,
    sql: &str,
    params: impl IntoIterator<Item = P<'p>>,
    map: impl FnOnce(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params))
        .map_err(backend)?;
    match rows.next().map_err(backend)? {
        Some(row) => map(row).map(Some),
        None => Ok(None),
    }
}

/// Every row of a query (or of a `RETURNING` clause: the statement is
/// stepped to its end), each read with `map`.
pub(crate) fn all<'p, T>(
    connection: &Connection,
    sql: &str,
    params: impl IntoIterator<Item = P<'p>>,
    mut map: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<Result<T, StoreError>>, StoreError> {
    let mut statement = connection.prepare_cached(sql).map_err(backend)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(params))
        .map_err(backend)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        out.push(map(row));
    }
    Ok(out)
}

/// One integer from the first row of a query, if there is a row.
pub(crate) fn scalar<'p>(
    connection: &Connection,
    sql: &str,
    params: impl IntoIterator<Item = P<'p>>,
) -> Result<Option<Option<i64>>, StoreError> {
    optional(connection, sql, params, |row| row.get(0).map_err(backend))
}

/// One bound parameter.
pub(crate) type P<'a> = ToSqlOutput<'a>;

/// A text parameter.
pub(crate) fn text(value: &str) -> P<'_> {
    ToSqlOutput::Borrowed(ValueRef::Text(value.as_bytes()))
}

/// A text parameter or NULL.
pub(crate) fn opt_text(value: Option<&str>) -> P<'_> {
    value.map_or(NULL, text)
}

/// A blob parameter.
pub(crate) fn blob(value: &[u8]) -> P<'_> {
    ToSqlOutput::Borrowed(ValueRef::Blob(value))
}

/// A blob parameter or NULL.
pub(crate) fn opt_blob(value: Option<&[u8]>) -> P<'_> {
    value.map_or(NULL, blob)
}

/// An integer parameter.
pub(crate) const fn int(value: i64) -> P<'static> {
    ToSqlOutput::Owned(Value::Integer(value))
}

/// An integer parameter or NULL.
pub(crate) fn opt_int(value: Option<i64>) -> P<'static> {
    value.map_or(NULL, int)
}

/// The NULL parameter.
pub(crate) const NULL: P<'static> = ToSqlOutput::Owned(Value::Null);

/// A value that SQLite cannot hold: an instant or counter beyond `i64::MAX`.
#[derive(Debug)]
pub(crate) struct OutOfRange(&'static str);

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} does not fit in a sqlite integer", self.0)
    }
}

impl std::error::Error for OutOfRange {}

/// An instant as SQLite stores it. Instants past `i64::MAX` seconds are refused
/// rather than clamped, so what is stored always reads back unchanged.
pub(crate) fn time(at: UnixTime) -> Result<i64, StoreError> {
    i64::try_from(at.as_secs()).map_err(|_| backend(OutOfRange("instant")))
}

/// An optional instant as SQLite stores it.
pub(crate) fn opt_time(at: Option<UnixTime>) -> Result<Option<i64>, StoreError> {
    at.map(time).transpose()
}

/// A counter as SQLite stores it.
pub(crate) fn count(n: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| backend(OutOfRange(what)))
}

/// A row count SQLite reported, as the traits count.
pub(crate) fn rows(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// Resources as a JSON array of canonical URI strings.
pub(crate) fn resources_json(resources: &[ResourceUri]) -> Result<String, StoreError> {
    let strings: Vec<&str> = resources.iter().map(ResourceUri::as_str).collect();
    serde_json::to_string(&strings).map_err(backend)
}

/// The stored form of a redirect-URI source.
pub(crate) const fn source_str(source: RedirectUriSource) -> &'static str {
    match source {
        RedirectUriSource::Request => "request",
        RedirectUriSource::Registered => "registered",
    }
}

/// The state columns (`state`, `revoked_reason`, `revoked_at`) of a family.
pub(crate) fn state_columns(
    state: FamilyState,
) -> Result<(&'static str, Option<&'static str>, Option<i64>), StoreError> {
    Ok(match state {
        FamilyState::Active => ("active", None, None),
        FamilyState::Revoked { reason, at } => ("revoked", Some(reason.as_str()), Some(time(at)?)),
    })
}

/// The values of a family's columns other than `id` and `from_code`, in the
/// order of [`FamilyValues::params`]; owned, so they can travel to the writer.
pub(crate) struct FamilyValues {
    pub(crate) family: RefreshFamily,
    scope: String,
    resources: String,
    created_at: i64,
    expires_at: i64,
    generation: i64,
    previous_rotated_at: Option<i64>,
    state: &'static str,
    revoked_reason: Option<&'static str>,
    revoked_at: Option<i64>,
}

impl FamilyValues {
    /// The stored form of `family`; an instant or generation SQLite cannot
    /// hold is refused.
    pub(crate) fn new(family: &RefreshFamily) -> Result<Self, StoreError> {
        let (state, revoked_reason, revoked_at) = state_columns(family.state())?;
        Ok(Self {
            family: family.clone(),
            scope: family.scope().to_string(),
            resources: resources_json(family.resources())?,
            created_at: time(family.created_at())?,
            expires_at: time(family.expires_at())?,
            generation: count(family.generation(), "generation")?,
            previous_rotated_at: opt_time(family.previous().map(|p| p.rotated_at))?,
            state,
            revoked_reason,
            revoked_at,
        })
    }

    /// In order: `client_id, subject, scope, resources, dpop_jkt,
    /// created_at, expires_at, current_digest, generation, previous_digest,
    /// previous_rotated_at, state, revoked_reason, revoked_at`.
    pub(crate) fn params(&self) -> [P<'_>; 14] {
        let family = &self.family;
        [
            text(family.client_id().as_str()),
            text(family.subject().as_str()),
            text(&self.scope),
            text(&self.resources),
            opt_blob(family.dpop_jkt().map(|j| j.as_bytes().as_slice())),
            int(self.created_at),
            int(self.expires_at),
            blob(family.current().as_bytes()),
            int(self.generation),
            opt_blob(family.previous().map(|p| p.digest.as_bytes().as_slice())),
            opt_int(self.previous_rotated_at),
            text(self.state),
            opt_text(self.revoked_reason),
            opt_int(self.revoked_at),
        ]
    }
}

/// A [`CodeRecord`] read back from the [`code_columns!`] of a row.
pub(crate) fn code_from_row(row: &Row<'_>) -> Result<CodeRecord, StoreError> {
    let r = Reader::new(row, "code");
    let redirect_uri_source = match r.text("redirect_uri_source")?.as_str() {
        "request" => RedirectUriSource::Request,
        "registered" => RedirectUriSource::Registered,
        _ => return Err(r.corrupt()),
    };
    let method = r.text("code_challenge_method")?;
    let code_challenge =
        CodeChallenge::parse(&r.text("code_challenge")?, Some(&method)).map_err(|_| r.corrupt())?;
    let parts = CodeRecordParts {
        digest: r.digest("digest")?,
        client_id: r.client_id("client_id")?,
        redirect_uri: RedirectUri::parse(&r.text("redirect_uri")?).map_err(|_| r.corrupt())?,
        redirect_uri_source,
        code_challenge,
        resources: r.resources("resources")?,
        scope: r.scope("scope")?,
        subject: r.subject("subject")?,
        auth_time: r.time("auth_time")?,
        dpop_jkt: r.thumbprint("dpop_jkt")?,
        issued_at: r.time("issued_at")?,
        expires_at: r.time("expires_at")?,
    };
    CodeRecord::from_parts(parts).map_err(|_| r.corrupt())
}

/// A [`RefreshFamily`] read back from the [`family_columns!`] of a row.
pub(crate) fn family_from_row(row: &Row<'_>) -> Result<RefreshFamily, StoreError> {
    let r = Reader::new(row, "refresh family");
    let state = match r.text("state")?.as_str() {
        "active" => FamilyState::Active,
        "revoked" => FamilyState::Revoked {
            reason: RevocationReason::parse(&r.text("revoked_reason")?)
                .ok_or_else(|| r.corrupt())?,
            at: r.time("revoked_at")?,
        },
        _ => return Err(r.corrupt()),
    };
    let previous = match (
        r.opt_digest("previous_digest")?,
        r.opt_time("previous_rotated_at")?,
    ) {
        (Some(digest), Some(rotated_at)) => Some(PreviousToken { digest, rotated_at }),
        (None, None) => None,
        _ => return Err(r.corrupt()),
    };
    let generation = u64::try_from(r.int("generation")?).map_err(|_| r.corrupt())?;
    let parts = FamilyParts {
        id: r.family_id("id")?,
        client_id: r.client_id("client_id")?,
        subject: r.subject("subject")?,
        scope: r.scope("scope")?,
        resources: r.resources("resources")?,
        dpop_jkt: r.thumbprint("dpop_jkt")?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        current: r.digest("current_digest")?,
        generation,
        previous,
        state,
    };
    RefreshFamily::from_parts(parts).map_err(|_| r.corrupt())
}

/// A [`ClientRecord`] read back from the [`client_columns!`] of a row.
pub(crate) fn client_from_row(row: &Row<'_>) -> Result<ClientRecord, StoreError> {
    let r = Reader::new(row, "client");
    let metadata = serde_json::from_str(&r.text("metadata")?).map_err(|_| r.corrupt())?;
    Ok(ClientRecord {
        client_id: r.client_id("client_id")?,
        metadata,
        secret_digest: r.opt_digest("secret_digest")?,
        secret_expires_at: r.opt_time("secret_expires_at")?,
        registration_token_digest: r.opt_digest("registration_token_digest")?,
        fingerprint: r.opt_digest("fingerprint")?,
        issued_at: r.time("issued_at")?,
        first_used_at: r.opt_time("first_used_at")?,
        may_introspect: r.flag("may_introspect")?,
    })
}

/// An [`AccessTokenRecord`] read back from the [`access_token_columns!`] of a row.
pub(crate) fn access_token_from_row(row: &Row<'_>) -> Result<AccessTokenRecord, StoreError> {
    let r = Reader::new(row, "access token");
    let subject = match r.opt_text("subject")? {
        Some(s) => Some(Subject::parse(&s).map_err(|_| r.corrupt())?),
        None => None,
    };
    let family = match r.opt_blob("family_id")? {
        Some(bytes) => Some(FamilyId::from_bytes(
            bytes.try_into().map_err(|_| r.corrupt())?,
        )),
        None => None,
    };
    Ok(AccessTokenRecord {
        jti: r.text("jti")?,
        client_id: r.client_id("client_id")?,
        subject,
        family,
        from_code: r.opt_digest("from_code")?,
        expires_at: r.time("expires_at")?,
        revoked: r.flag("revoked")?,
    })
}

/// A [`ConsentRecord`] read back from the `resources`, `scope`,
/// `loopback_redirect` and `updated_at` of a row.
pub(crate) fn consent_from_row(row: &Row<'_>) -> Result<ConsentRecord, StoreError> {
    let r = Reader::new(row, "consent");
    Ok(ConsentRecord {
        resources: r.resources("resources")?,
        scope: r.scope("scope")?,
        loopback_redirect: r.flag("loopback_redirect")?,
        updated_at: r.time("updated_at")?,
    })
}

/// A [`StoredKey`] read back from a `signing_keys` row. The PKCS#8 bytes go
/// straight into a zeroizing buffer.
pub(crate) fn key_from_row(row: &Row<'_>) -> Result<StoredKey, StoreError> {
    let r = Reader::new(row, "signing key");
    let status = KeyStatus::parse(&r.text("status")?).ok_or_else(|| r.corrupt())?;
    Ok(StoredKey {
        kid: r.text("kid")?,
        algorithm: r.text("algorithm")?,
        pkcs8: Zeroizing::new(r.blob("pkcs8")?),
        status,
        created_at: r.time("created_at")?,
    })
}

/// A [`UserRecord`] read back from a `users` row.
pub(crate) fn user_from_row(row: &Row<'_>) -> Result<UserRecord, StoreError> {
    let r = Reader::new(row, "user");
    Ok(UserRecord {
        username: r.subject("username")?,
        password_hash: r.text("password_hash")?,
        created_at: r.time("created_at")?,
        upstream: match r.opt_text("upstream_provider")? {
            None => None,
            Some(provider) => Some(UpstreamAttributes {
                provider,
                name: r.opt_text("upstream_name")?,
                email: r.opt_text("upstream_email")?,
            }),
        },
    })
}

/// Reads typed values out of one row; every failure is `Corrupt { what }`.
struct Reader<'r, 's> {
    row: &'r Row<'s>,
    what: &'static str,
}

impl<'r, 's> Reader<'r, 's> {
    const fn new(row: &'r Row<'s>, what: &'static str) -> Self {
        Self { row, what }
    }

    const fn corrupt(&self) -> StoreError {
        StoreError::Corrupt { what: self.what }
    }

    fn get<T: FromSql>(&self, column: &str) -> Result<T, StoreError> {
        self.row.get(column).map_err(|_| self.corrupt())
    }

    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.get(column)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get(column)
    }

    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.get(column)
    }

    fn blob(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.get(column)
    }

    fn opt_blob(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(column)
    }

    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        match self.int(column)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(self.corrupt()),
        }
    }

    fn to_time(&self, secs: i64) -> Result<UnixTime, StoreError> {
        u64::try_from(secs)
            .map(UnixTime::from_secs)
            .map_err(|_| self.corrupt())
    }

    fn time(&self, column: &str) -> Result<UnixTime, StoreError> {
        self.to_time(self.int(column)?)
    }

    fn opt_time(&self, column: &str) -> Result<Option<UnixTime>, StoreError> {
        self.get::<Option<i64>>(column)?
            .map(|secs| self.to_time(secs))
            .transpose()
    }

    fn to_digest(&self, bytes: Vec<u8>) -> Result<TokenDigest, StoreError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| self.corrupt())?;
        Ok(TokenDigest::from_bytes(bytes))
    }

    fn digest(&self, column: &str) -> Result<TokenDigest, StoreError> {
        self.to_digest(self.blob(column)?)
    }

    fn opt_digest(&self, column: &str) -> Result<Option<TokenDigest>, StoreError> {
        self.opt_blob(column)?
            .map(|bytes| self.to_digest(bytes))
            .transpose()
    }

    fn family_id(&self, column: &str) -> Result<FamilyId, StoreError> {
        let bytes: [u8; 16] = self.blob(column)?.try_into().map_err(|_| self.corrupt())?;
        Ok(FamilyId::from_bytes(bytes))
    }

    fn thumbprint(&self, column: &str) -> Result<Option<JwkThumbprint>, StoreError> {
        match self.opt_blob(column)? {
            Some(bytes) => {
                let bytes: [u8; 32] = bytes.try_into().map_err(|_| self.corrupt())?;
                Ok(Some(JwkThumbprint::from_sha256(bytes)))
            }
            None => Ok(None),
        }
    }

    fn client_id(&self, column: &str) -> Result<ClientId, StoreError> {
        ClientId::parse(&self.text(column)?).map_err(|_| self.corrupt())
    }

    fn subject(&self, column: &str) -> Result<Subject, StoreError> {
        Subject::parse(&self.text(column)?).map_err(|_| self.corrupt())
    }

    /// A scope; the empty string is the empty scope.
    fn scope(&self, column: &str) -> Result<Scope, StoreError> {
        let text = self.text(column)?;
        if text.is_empty() {
            return Ok(Scope::empty());
        }
        Scope::parse(&text).map_err(|_| self.corrupt())
    }

    fn resources(&self, column: &str) -> Result<Vec<ResourceUri>, StoreError> {
        let strings: Vec<String> =
            serde_json::from_str(&self.text(column)?).map_err(|_| self.corrupt())?;
        strings
            .iter()
            .map(|s| ResourceUri::parse(s).map_err(|_| self.corrupt()))
            .collect()
    }
}
