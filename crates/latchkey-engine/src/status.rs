//! Whether an access token that passed its JWT checks has been revoked: the
//! hook a resource server asks after validation, and its implementation over
//! the engine's store for a resource server that runs beside the engine.
//!
//! A JWT access token (RFC 9068) carries everything a resource server needs to
//! accept it, so without a further look-up a revoked token keeps working until
//! it expires. Revocation reaches the access-token records kept by
//! [`latchkey_store::GrantStore`]: the revocation endpoint (RFC 7009 section
//! 2.1, one token, or a refresh family with its access tokens), a reused
//! refresh token (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2: the
//! family and its access tokens), a replayed code (OAuth 2.1 section 4.1.3:
//! everything the code issued) and a deleted client. A resource server given a
//! [`RevocationCheck`] asks it once per request, after the token's signature,
//! issuer, audience, lifetime, DPoP binding and scope were checked, and
//! applies [`check_revocation`]:
//!
//! - [`TokenStatus::Active`]: the request goes on;
//! - [`TokenStatus::Revoked`] or [`TokenStatus::Unknown`]: `401` with
//!   `error="invalid_token"` (RFC 6750 section 3.1: the token is "revoked,
//!   malformed, or invalid for other reasons");
//! - the check fails (the store cannot be reached): `503`
//!   `temporarily_unavailable`, never a pass (fail closed). Not `401`: the
//!   token may well be good, and a `401` would send every client back to the
//!   authorization server at the moment it is in trouble.
//!
//! A resource server that runs apart from the authorization server has no
//! store to ask: it either accepts the access-token lifetime (5 minutes by
//! default) as the bound on a revoked token's use, or validates tokens by
//! introspection (RFC 7662).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use latchkey_store::{GrantStore, StoreError};
use latchkey_types::{ErrorCode, UnixTime};

/// What a [`RevocationCheck`] knows about one access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenStatus {
    /// Issued and not revoked.
    Active,
    /// Revoked (RFC 7009), directly or with its refresh family or code.
    Revoked,
    /// Not known: never recorded, or its record was purged after expiry.
    Unknown,
}

/// The future of [`RevocationCheck::status`].
pub type StatusFuture<'a> =
    Pin<Box<dyn Future<Output = Result<TokenStatus, StoreError>> + Send + 'a>>;

/// Asked by a resource server, after an access token passed every JWT check,
/// whether the token with this `jti` (RFC 9068 section 2.2, RFC 7519 section
/// 4.1.7) and `exp` is still active. Framework-neutral, so both adapters take
/// the same implementation (`Arc<dyn RevocationCheck>`).
///
/// An implementation answers from one indexed read (or from memory): it runs
/// on every protected request. One that knows only revoked tokens (a
/// revocation set fed by the authorization server) answers
/// [`TokenStatus::Active`] for the others and may forget an entry once `exp`
/// has passed, since the token is refused as expired from then on.
pub trait RevocationCheck: Send + Sync {
    /// The token's status; an error when the answer cannot be had (the
    /// request is then refused, see [`check_revocation`]).
    fn status<'a>(&'a self, jti: &'a str, exp: UnixTime) -> StatusFuture<'a>;
}

/// Why [`check_revocation`] refused a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationRefusal {
    /// The token was revoked.
    #[error("the access token was revoked")]
    Revoked,
    /// The token is not one the authorization server knows.
    #[error("the access token is not known")]
    Unknown,
    /// Whether the token was revoked could not be found out (fail closed).
    #[error("the token status is unavailable")]
    Unavailable,
}

impl RevocationRefusal {
    /// The HTTP status: `401` for a revoked or unknown token (RFC 6750
    /// section 3.1), `503` when the status is unavailable.
    pub fn http_status(&self) -> u16 {
        ErrorCode::from(self).http_status()
    }
}

impl From<&RevocationRefusal> for ErrorCode {
    fn from(refusal: &RevocationRefusal) -> Self {
        match refusal {
            RevocationRefusal::Revoked | RevocationRefusal::Unknown => ErrorCode::InvalidToken,
            RevocationRefusal::Unavailable => ErrorCode::TemporarilyUnavailable,
        }
    }
}

/// The resource server's rule, in one place: asks `check` about the token
/// with `jti` and `exp` and lets it through only if it is
/// [`TokenStatus::Active`]. A failed check is logged (without the `jti`) and
/// refused as [`RevocationRefusal::Unavailable`].
pub async fn check_revocation(
    check: &dyn RevocationCheck,
    jti: &str,
    exp: UnixTime,
) -> Result<(), RevocationRefusal> {
    match check.status(jti, exp).await {
        Ok(TokenStatus::Active) => Ok(()),
        Ok(TokenStatus::Revoked) => Err(RevocationRefusal::Revoked),
        Ok(TokenStatus::Unknown) => Err(RevocationRefusal::Unknown),
        Err(error) => {
            tracing::warn!(
                target: "latchkey::revocation",
                %error,
                "the token status could not be read; the request is refused"
            );
            Err(RevocationRefusal::Unavailable)
        }
    }
}

/// A [`RevocationCheck`] reading the access-token records of the store the
/// engine issues into ([`GrantStore::access_token`], one read by primary key):
/// for a resource server in the same deployment as the engine (`latchkey
/// serve`'s `/mcp`). Every token the engine issues is recorded before it is
/// returned, so a token without a record is [`TokenStatus::Unknown`]; that
/// includes a token inside the validator's clock leeway after its `exp` whose
/// record [`GrantStore::purge_expired`] already deleted (it has expired).
pub struct StoreRevocationCheck<S> {
    store: Arc<S>,
}

impl<S> StoreRevocationCheck<S> {
    /// A check over `store`.
    pub fn new(store: Arc<S>) -> Self {
        Self { store }
    }
}

impl<S> core::fmt::Debug for StoreRevocationCheck<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StoreRevocationCheck(..)")
    }
}

impl<S: GrantStore + 'static> RevocationCheck for StoreRevocationCheck<S> {
    fn status<'a>(&'a self, jti: &'a str, _exp: UnixTime) -> StatusFuture<'a> {
        Box::pin(async move {
            Ok(match self.store.access_token(jti).await? {
                None => TokenStatus::Unknown,
                Some(record) if record.revoked => TokenStatus::Revoked,
                Some(_) => TokenStatus::Active,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use latchkey_store::{AccessTokenRecord, MemoryStore};
    use latchkey_types::ClientId;

    struct Failing;

    impl RevocationCheck for Failing {
        fn status<'a>(&'a self, _jti: &'a str, _exp: UnixTime) -> StatusFuture<'a> {
            Box::pin(async { Err(StoreError::Backend(Box::new(std::io::Error::other("down")))) })
        }
    }

    fn block_on<T>(future: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn rfc_6750_section_3_1_revoked_and_unknown_tokens_are_invalid_token() {
        let store = Arc::new(MemoryStore::new());
        let exp = UnixTime::from_secs(1_700_000_300);
        block_on(async {
            for (jti, revoked) in [("live", false), ("gone", true)] {
                store
                    .record_access_token(&AccessTokenRecord {
                        jti: jti.to_owned(),
                        client_id: ClientId::parse("c").expect("client id"),
                        subject: None,
                        family: None,
                        from_code: None,
                        expires_at: exp,
                        revoked,
                    })
                    .await
                    .expect("recorded");
            }
            let check = StoreRevocationCheck::new(Arc::clone(&store));
            assert_eq!(check_revocation(&check, "live", exp).await, Ok(()));
            let revoked = check_revocation(&check, "gone", exp).await.unwrap_err();
            assert_eq!(revoked, RevocationRefusal::Revoked);
            let unknown = check_revocation(&check, "never", exp).await.unwrap_err();
            assert_eq!(unknown, RevocationRefusal::Unknown);
            for refusal in [revoked, unknown] {
                assert_eq!(ErrorCode::from(&refusal), ErrorCode::InvalidToken);
                assert_eq!(refusal.http_status(), 401);
            }
        });
    }

    #[test]
    fn a_failing_check_fails_closed_with_503() {
        let exp = UnixTime::from_secs(1_700_000_300);
        let refusal = block_on(check_revocation(&Failing, "any", exp)).unwrap_err();
        assert_eq!(refusal, RevocationRefusal::Unavailable);
        assert_eq!(ErrorCode::from(&refusal), ErrorCode::TemporarilyUnavailable);
        assert_eq!(refusal.http_status(), 503);
    }
}
