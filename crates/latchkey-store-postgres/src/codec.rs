//! Between records and rows: every value written is converted with a check,
//! every value read is re-parsed through its type's own parser, and anything
//! that does not parse is [`StoreError::Corrupt`], never a panic.

use latchkey_pkce::CodeChallenge;
use latchkey_store::{
    AccessTokenRecord, ClientRecord, CodeRecord, ConsentRecord, FamilyId, KeyStatus, RefreshFamily,
    StoreError, StoredKey, UpstreamAttributes, UserRecord,
};
use latchkey_token::code::{CodeRecordParts, JwkThumbprint, RedirectUriSource};
use latchkey_token::refresh::{FamilyParts, FamilyState, PreviousToken, RevocationReason};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use zeroize::Zeroizing;

use crate::PostgresError;

/// The columns [`code_from_row`] reads.
pub(crate) const CODE_COLUMNS: &str = "digest, client_id, redirect_uri, redirect_uri_source, \
     code_challenge, code_challenge_method, resources, scope, subject, auth_time, dpop_jkt, \
     issued_at, expires_at";

/// The columns [`family_from_row`] reads.
pub(crate) const FAMILY_COLUMNS: &str = "id, client_id, subject, scope, resources, dpop_jkt, \
     created_at, expires_at, current_digest, generation, previous_digest, previous_rotated_at, \
     state, revoked_reason, revoked_at";

/// The columns [`client_from_row`] reads.
pub(crate) const CLIENT_COLUMNS: &str = "client_id, metadata::text AS metadata, secret_digest, \
     secret_expires_at, registration_token_digest, fingerprint, issued_at, first_used_at, \
     may_introspect";

/// The columns [`access_token_from_row`] reads.
pub(crate) const ACCESS_TOKEN_COLUMNS: &str =
    "jti, client_id, subject, family_id, from_code, expires_at, revoked";

/// A family as the columns of `refresh_families` (all but `from_code`), bound
/// as `$1..$15` in [`FAMILY_COLUMNS`] order by the queries that write one.
pub(crate) struct FamilyRow {
    pub(crate) id: Vec<u8>,
    pub(crate) client_id: String,
    pub(crate) subject: String,
    pub(crate) scope: String,
    pub(crate) resources: Vec<String>,
    pub(crate) dpop_jkt: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: i64,
    pub(crate) current_digest: Vec<u8>,
    pub(crate) generation: i64,
    pub(crate) previous_digest: Option<Vec<u8>>,
    pub(crate) previous_rotated_at: Option<i64>,
    pub(crate) state: &'static str,
    pub(crate) revoked_reason: Option<&'static str>,
    pub(crate) revoked_at: Option<i64>,
}

impl FamilyRow {
    /// The columns for `family`, with every number range-checked.
    pub(crate) fn new(family: &RefreshFamily) -> Result<Self, StoreError> {
        let (state, revoked_reason, revoked_at) = match family.state() {
            FamilyState::Active => ("active", None, None),
            FamilyState::Revoked { reason, at } => {
                ("revoked", Some(reason.as_str()), Some(time_to_db(at)?))
            }
        };
        Ok(Self {
            id: family.id().as_bytes().to_vec(),
            client_id: family.client_id().as_str().to_owned(),
            subject: family.subject().as_str().to_owned(),
            scope: family.scope().to_string(),
            resources: resources_to_db(family.resources()),
            dpop_jkt: family.dpop_jkt().map(JwkThumbprint::to_encoded),
            created_at: time_to_db(family.created_at())?,
            expires_at: time_to_db(family.expires_at())?,
            current_digest: family.current().as_bytes().to_vec(),
            generation: u64_to_db(family.generation(), "generation")?,
            previous_digest: family.previous().map(|p| p.digest.as_bytes().to_vec()),
            previous_rotated_at: family
                .previous()
                .map(|p| time_to_db(p.rotated_at))
                .transpose()?,
            state,
            revoked_reason,
            revoked_at,
        })
    }

    /// Binds the fifteen columns as `$1..$15`.
    pub(crate) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.id)
            .bind(&self.client_id)
            .bind(&self.subject)
            .bind(&self.scope)
            .bind(&self.resources)
            .bind(&self.dpop_jkt)
            .bind(self.created_at)
            .bind(self.expires_at)
            .bind(&self.current_digest)
            .bind(self.generation)
            .bind(&self.previous_digest)
            .bind(self.previous_rotated_at)
            .bind(self.state)
            .bind(self.revoked_reason)
            .bind(self.revoked_at)
    }
}

/// A time as BIGINT seconds; a time past `i64::MAX` is refused, never wrapped.
pub(crate) fn time_to_db(time: UnixTime) -> Result<i64, StoreError> {
    u64_to_db(time.as_secs(), "time")
}

/// An unsigned count or generation as BIGINT, refused past `i64::MAX`.
pub(crate) fn u64_to_db(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(Box::new(PostgresError::ValueOutOfRange { what })))
}

/// Resources as a TEXT[] of their canonical strings.
pub(crate) fn resources_to_db(resources: &[ResourceUri]) -> Vec<String> {
    resources.iter().map(|r| r.as_str().to_owned()).collect()
}

/// Reads a code row ([`CODE_COLUMNS`]).
pub(crate) fn code_from_row(row: &PgRow) -> Result<CodeRecord, StoreError> {
    const WHAT: &str = "code";
    let source: String = column(row, "redirect_uri_source", WHAT)?;
    let challenge: String = column(row, "code_challenge", WHAT)?;
    let method: String = column(row, "code_challenge_method", WHAT)?;
    let parts = CodeRecordParts {
        digest: digest_from_db(&column::<Vec<u8>>(row, "digest", WHAT)?, WHAT)?,
        client_id: client_id_from_db(&column::<String>(row, "client_id", WHAT)?, WHAT)?,
        redirect_uri: RedirectUri::parse(&column::<String>(row, "redirect_uri", WHAT)?)
            .map_err(|_| corrupt(WHAT))?,
        redirect_uri_source: redirect_uri_source_from_db(&source).ok_or(corrupt(WHAT))?,
        code_challenge: CodeChallenge::parse(&challenge, Some(&method))
            .map_err(|_| corrupt(WHAT))?,
        resources: resources_from_db(column(row, "resources", WHAT)?, WHAT)?,
        scope: scope_from_db(&column::<String>(row, "scope", WHAT)?, WHAT)?,
        subject: subject_from_db(&column::<String>(row, "subject", WHAT)?, WHAT)?,
        auth_time: time_from_db(column(row, "auth_time", WHAT)?, WHAT)?,
        dpop_jkt: thumbprint_from_db(column(row, "dpop_jkt", WHAT)?, WHAT)?,
        issued_at: time_from_db(column(row, "issued_at", WHAT)?, WHAT)?,
        expires_at: time_from_db(column(row, "expires_at", WHAT)?, WHAT)?,
    };
    CodeRecord::from_parts(parts).map_err(|_| corrupt(WHAT))
}

/// Reads a family row ([`FAMILY_COLUMNS`]).
pub(crate) fn family_from_row(row: &PgRow) -> Result<RefreshFamily, StoreError> {
    const WHAT: &str = "refresh family";
    let previous = match (
        column::<Option<Vec<u8>>>(row, "previous_digest", WHAT)?,
        column::<Option<i64>>(row, "previous_rotated_at", WHAT)?,
    ) {
        (None, None) => None,
        (Some(digest), Some(rotated_at)) => Some(PreviousToken {
            digest: digest_from_db(&digest, WHAT)?,
            rotated_at: time_from_db(rotated_at, WHAT)?,
        }),
        _ => return Err(corrupt(WHAT)),
    };
    let state = state_from_db(
        &column::<String>(row, "state", WHAT)?,
        column::<Option<String>>(row, "revoked_reason", WHAT)?.as_deref(),
        column::<Option<i64>>(row, "revoked_at", WHAT)?,
        WHAT,
    )?;
    let parts = FamilyParts {
        id: family_id_from_db(&column::<Vec<u8>>(row, "id", WHAT)?, WHAT)?,
        client_id: client_id_from_db(&column::<String>(row, "client_id", WHAT)?, WHAT)?,
        subject: subject_from_db(&column::<String>(row, "subject", WHAT)?, WHAT)?,
        scope: scope_from_db(&column::<String>(row, "scope", WHAT)?, WHAT)?,
        resources: resources_from_db(column(row, "resources", WHAT)?, WHAT)?,
        dpop_jkt: thumbprint_from_db(column(row, "dpop_jkt", WHAT)?, WHAT)?,
        created_at: time_from_db(column(row, "created_at", WHAT)?, WHAT)?,
        expires_at: time_from_db(column(row, "expires_at", WHAT)?, WHAT)?,
        current: digest_from_db(&column::<Vec<u8>>(row, "current_digest", WHAT)?, WHAT)?,
        generation: u64_from_db(column(row, "generation", WHAT)?, WHAT)?,
        previous,
        state,
    };
    RefreshFamily::from_parts(parts).map_err(|_| corrupt(WHAT))
}

/// Reads a client row ([`CLIENT_COLUMNS`]).
pub(crate) fn client_from_row(row: &PgRow) -> Result<ClientRecord, StoreError> {
    const WHAT: &str = "client";
    let metadata: String = column(row, "metadata", WHAT)?;
    Ok(ClientRecord {
        client_id: client_id_from_db(&column::<String>(row, "client_id", WHAT)?, WHAT)?,
        metadata: serde_json::from_str(&metadata).map_err(|_| corrupt(WHAT))?,
        secret_digest: optional_digest(column(row, "secret_digest", WHAT)?, WHAT)?,
        secret_expires_at: optional_time(column(row, "secret_expires_at", WHAT)?, WHAT)?,
        registration_token_digest: optional_digest(
            column(row, "registration_token_digest", WHAT)?,
            WHAT,
        )?,
        fingerprint: optional_digest(column(row, "fingerprint", WHAT)?, WHAT)?,
        issued_at: time_from_db(column(row, "issued_at", WHAT)?, WHAT)?,
        first_used_at: optional_time(column(row, "first_used_at", WHAT)?, WHAT)?,
        may_introspect: column(row, "may_introspect", WHAT)?,
    })
}

/// Reads an access token row ([`ACCESS_TOKEN_COLUMNS`]).
pub(crate) fn access_token_from_row(row: &PgRow) -> Result<AccessTokenRecord, StoreError> {
    const WHAT: &str = "access token";
    Ok(AccessTokenRecord {
        jti: column(row, "jti", WHAT)?,
        client_id: client_id_from_db(&column::<String>(row, "client_id", WHAT)?, WHAT)?,
        subject: column::<Option<String>>(row, "subject", WHAT)?
            .map(|s| subject_from_db(&s, WHAT))
            .transpose()?,
        family: column::<Option<Vec<u8>>>(row, "family_id", WHAT)?
            .map(|id| family_id_from_db(&id, WHAT))
            .transpose()?,
        from_code: optional_digest(column(row, "from_code", WHAT)?, WHAT)?,
        expires_at: time_from_db(column(row, "expires_at", WHAT)?, WHAT)?,
        revoked: column(row, "revoked", WHAT)?,
    })
}

/// Reads a consent row (`resources, scope, loopback_redirect, updated_at`).
pub(crate) fn consent_from_row(row: &PgRow) -> Result<ConsentRecord, StoreError> {
    const WHAT: &str = "consent";
    Ok(ConsentRecord {
        resources: resources_from_db(column(row, "resources", WHAT)?, WHAT)?,
        scope: scope_from_db(&column::<String>(row, "scope", WHAT)?, WHAT)?,
        loopback_redirect: column(row, "loopback_redirect", WHAT)?,
        updated_at: time_from_db(column(row, "updated_at", WHAT)?, WHAT)?,
    })
}

/// Reads a signing key row (`kid, algorithm, pkcs8, status, created_at`).
pub(crate) fn key_from_row(row: &PgRow) -> Result<StoredKey, StoreError> {
    const WHAT: &str = "signing key";
    let status: String = column(row, "status", WHAT)?;
    Ok(StoredKey {
        kid: column(row, "kid", WHAT)?,
        algorithm: column(row, "algorithm", WHAT)?,
        pkcs8: Zeroizing::new(column(row, "pkcs8", WHAT)?),
        status: KeyStatus::parse(&status).ok_or(corrupt(WHAT))?,
        created_at: time_from_db(column(row, "created_at", WHAT)?, WHAT)?,
    })
}

/// Reads a user row (`username, password_hash, created_at`).
pub(crate) fn user_from_row(row: &PgRow) -> Result<UserRecord, StoreError> {
    const WHAT: &str = "user";
    Ok(UserRecord {
        username: subject_from_db(&column::<String>(row, "username", WHAT)?, WHAT)?,
        password_hash: column(row, "password_hash", WHAT)?,
        created_at: time_from_db(column(row, "created_at", WHAT)?, WHAT)?,
        upstream: match column::<Option<String>>(row, "upstream_provider", WHAT)? {
            None => None,
            Some(provider) => Some(UpstreamAttributes {
                provider,
                name: column(row, "upstream_name", WHAT)?,
                email: column(row, "upstream_email", WHAT)?,
            }),
        },
    })
}

/// The scope column: the space-separated Display form, empty for no scope.
pub(crate) fn scope_from_db(s: &str, what: &'static str) -> Result<Scope, StoreError> {
    if s.is_empty() {
        return Ok(Scope::empty());
    }
    Scope::parse(s).map_err(|_| corrupt(what))
}

/// One column, or `Corrupt` if it is missing or of another type.
fn column<'r, T>(row: &'r PgRow, name: &str, what: &'static str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(name).map_err(|_| corrupt(what))
}

const fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt { what }
}

fn time_from_db(secs: i64, what: &'static str) -> Result<UnixTime, StoreError> {
    u64_from_db(secs, what).map(UnixTime::from_secs)
}

fn optional_time(secs: Option<i64>, what: &'static str) -> Result<Option<UnixTime>, StoreError> {
    secs.map(|s| time_from_db(s, what)).transpose()
}

fn u64_from_db(value: i64, what: &'static str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(what))
}

fn digest_from_db(bytes: &[u8], what: &'static str) -> Result<TokenDigest, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TokenDigest::from_bytes)
        .map_err(|_| corrupt(what))
}

fn optional_digest(
    bytes: Option<Vec<u8>>,
    what: &'static str,
) -> Result<Option<TokenDigest>, StoreError> {
    bytes.map(|b| digest_from_db(&b, what)).transpose()
}

fn family_id_from_db(bytes: &[u8], what: &'static str) -> Result<FamilyId, StoreError> {
    <[u8; 16]>::try_from(bytes)
        .map(FamilyId::from_bytes)
        .map_err(|_| corrupt(what))
}

fn client_id_from_db(s: &str, what: &'static str) -> Result<ClientId, StoreError> {
    ClientId::parse(s).map_err(|_| corrupt(what))
}

fn subject_from_db(s: &str, what: &'static str) -> Result<Subject, StoreError> {
    Subject::parse(s).map_err(|_| corrupt(what))
}

fn resources_from_db(
    resources: Vec<String>,
    what: &'static str,
) -> Result<Vec<ResourceUri>, StoreError> {
    resources
        .iter()
        .map(|r| ResourceUri::parse(r).map_err(|_| corrupt(what)))
        .collect()
}

fn thumbprint_from_db(
    jkt: Option<String>,
    what: &'static str,
) -> Result<Option<JwkThumbprint>, StoreError> {
    jkt.map(|j| JwkThumbprint::parse(&j).map_err(|_| corrupt(what)))
        .transpose()
}

fn redirect_uri_source_from_db(s: &str) -> Option<RedirectUriSource> {
    match s {
        "request" => Some(RedirectUriSource::Request),
        "registered" => Some(RedirectUriSource::Registered),
        _ => None,
    }
}

fn state_from_db(
    state: &str,
    reason: Option<&str>,
    at: Option<i64>,
    what: &'static str,
) -> Result<FamilyState, StoreError> {
    match (state, reason, at) {
        ("active", None, None) => Ok(FamilyState::Active),
        ("revoked", Some(reason), Some(at)) => Ok(FamilyState::Revoked {
            reason: RevocationReason::parse(reason).ok_or(corrupt(what))?,
            at: time_from_db(at, what)?,
        }),
        _ => Err(corrupt(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_corrupt<T: core::fmt::Debug>(result: Result<T, StoreError>, expected: &str) -> bool {
        matches!(result, Err(StoreError::Corrupt { what }) if what == expected)
    }

    #[test]
    fn times_past_i64_are_refused_not_wrapped() {
        assert_eq!(
            time_to_db(UnixTime::from_secs(1_700_000_000)).ok(),
            Some(1_700_000_000)
        );
        assert!(matches!(
            time_to_db(UnixTime::from_secs(u64::MAX)),
            Err(StoreError::Backend(_))
        ));
        assert!(matches!(
            u64_to_db(1 << 63, "generation"),
            Err(StoreError::Backend(_))
        ));
        assert!(is_corrupt(time_from_db(-1, "code"), "code"));
        assert_eq!(time_from_db(0, "code").ok(), Some(UnixTime::from_secs(0)));
    }

    #[test]
    fn digests_and_family_ids_of_the_wrong_length_are_corrupt() {
        assert!(is_corrupt(digest_from_db(&[0; 31], "code"), "code"));
        assert!(is_corrupt(digest_from_db(&[0; 33], "code"), "code"));
        assert_eq!(
            digest_from_db(&[7; 32], "code").ok(),
            Some(TokenDigest::from_bytes([7; 32]))
        );
        assert!(is_corrupt(
            family_id_from_db(&[0; 15], "refresh family"),
            "refresh family"
        ));
        assert!(family_id_from_db(&[0; 16], "refresh family").is_ok());
    }

    #[test]
    fn scope_column_empty_is_the_empty_scope_and_garbage_is_corrupt() {
        assert_eq!(scope_from_db("", "consent").ok(), Some(Scope::empty()));
        assert_eq!(
            scope_from_db("b a", "consent").map(|s| s.to_string()).ok(),
            Some("a b".to_owned())
        );
        assert!(is_corrupt(scope_from_db("a  b", "consent"), "consent"));
        assert!(is_corrupt(scope_from_db("a\"b", "consent"), "consent"));
    }

    #[test]
    fn family_state_needs_matching_reason_and_time() {
        let what = "refresh family";
        assert_eq!(
            state_from_db("active", None, None, what).ok(),
            Some(FamilyState::Active)
        );
        assert_eq!(
            state_from_db("revoked", Some("code_replay"), Some(5), what).ok(),
            Some(FamilyState::Revoked {
                reason: RevocationReason::CodeReplay,
                at: UnixTime::from_secs(5)
            })
        );
        assert!(is_corrupt(
            state_from_db("active", Some("code_replay"), None, what),
            what
        ));
        assert!(is_corrupt(
            state_from_db("revoked", None, Some(5), what),
            what
        ));
        assert!(is_corrupt(
            state_from_db("revoked", Some("bogus"), Some(5), what),
            what
        ));
        assert!(is_corrupt(
            state_from_db("revoked", Some("code_replay"), Some(-5), what),
            what
        ));
        assert!(is_corrupt(state_from_db("paused", None, None, what), what));
    }

    #[test]
    fn unknown_redirect_uri_source_is_rejected() {
        assert_eq!(
            redirect_uri_source_from_db("request"),
            Some(RedirectUriSource::Request)
        );
        assert_eq!(
            redirect_uri_source_from_db(&RedirectUriSource::Registered.to_string()),
            Some(RedirectUriSource::Registered)
        );
        assert_eq!(redirect_uri_source_from_db("Request"), None);
    }

    #[test]
    fn malformed_thumbprints_resources_and_ids_are_corrupt() {
        assert!(is_corrupt(
            thumbprint_from_db(Some("short".into()), "code"),
            "code"
        ));
        assert!(matches!(thumbprint_from_db(None, "code"), Ok(None)));
        assert!(is_corrupt(
            resources_from_db(vec!["not a uri".into()], "code"),
            "code"
        ));
        assert!(is_corrupt(client_id_from_db("", "client"), "client"));
        assert!(is_corrupt(subject_from_db("", "user"), "user"));
    }
}
