//! Authorization codes: what the store keeps for one, and the pure decision
//! taken when a client redeems it at the token endpoint.
//!
//! Rules and where they come from:
//!
//! - A code is 256 bits from the caller's RNG (OAuth 2.1 section 7.5.2,
//!   RFC 9700 section 4.5.3) and is stored only as its SHA-256 [`TokenDigest`].
//! - It lives briefly: [`CodePolicy::DEFAULT_LIFETIME`] is 60 s, and no policy
//!   may exceed [`CodePolicy::MAX_LIFETIME`] of 10 minutes (OAuth 2.1 section 4.1.2:
//!   "A maximum authorization code lifetime of 10 minutes is RECOMMENDED").
//! - Redemption (OAuth 2.1 section 4.1.3) checks, in this order, that the code
//!   was issued to the requesting client, has not expired, that a `redirect_uri`
//!   sent at the token endpoint is identical to the one of the authorization
//!   request (OAuth 2.1 section 10.2, RFC 6749 section 4.1.3), that the PKCE
//!   verifier is present and matches (RFC 7636 section 4.6), that the DPoP key
//!   matches a `dpop_jkt` binding (RFC 9449 section 10), and that any
//!   `resource` requested is one of the granted resources (RFC 8707 section 2.2).
//! - Single use is the store's job: it consumes the code atomically and answers
//!   with a [`Consumption`]. A second redemption of a consumed code becomes
//!   [`RedemptionDecision::Replay`], on which the engine revokes the tokens the
//!   first redemption issued (OAuth 2.1 section 4.1.3, RFC 9700 section 4.5).
//!
//! ```
//! use latchkey_pkce::{CodeChallenge, CodeVerifier};
//! use latchkey_token::code::*;
//! use latchkey_types::{ClientId, Scope, Subject, UnixTime};
//! use latchkey_uri::{RedirectUri, ResourceUri};
//! use rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7); // the OS RNG in production
//! let client = ClientId::parse("s6BhdRkqt3")?;
//! // RFC 7636 appendix B.
//! let verifier = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned())
//!     .expect("valid");
//! let challenge = CodeChallenge::parse("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Some("S256"))
//!     .expect("valid");
//! let params = CodeParams {
//!     client_id: client.clone(),
//!     redirect_uri: RedirectUri::parse("https://client.example.com/cb").expect("valid"),
//!     redirect_uri_source: RedirectUriSource::Request,
//!     code_challenge: challenge,
//!     resources: vec![ResourceUri::parse("https://mcp.example.com/mcp").expect("valid")],
//!     scope: Scope::parse("mcp:read")?,
//!     subject: Subject::parse("alice")?,
//!     auth_time: UnixTime::from_secs(1_700_000_000),
//!     dpop_jkt: None,
//! };
//! let now = UnixTime::from_secs(1_700_000_010);
//! let (code, record) = CodeRecord::issue(params, now, &CodePolicy::default(), &mut rng)
//!     .expect("valid");
//! assert_eq!(record.digest(), &code.digest());
//! let request = CodeRedemption {
//!     client_id: &client,
//!     redirect_uri: None,
//!     redirect_uri_rule: RedirectUriRule::OAuth21,
//!     code_verifier: Some(&verifier),
//!     resources: &[],
//!     dpop_jkt: None,
//! };
//! // The store consumed the code atomically and handed the record back once.
//! let RedemptionDecision::Issue(grant) = Consumption::First(record).decide(&request, now) else {
//!     panic!("a valid first redemption issues tokens");
//! };
//! assert_eq!(grant.audience[0].as_str(), "https://mcp.example.com/mcp");
//! # Ok::<(), latchkey_types::TypesError>(())
//! ```
//!
//! The grant carries the scope authorized at the authorization endpoint: OAuth 2.1
//! section 4.1.3 defines no `scope` parameter for this grant, so none is read.
//!
//! What it deliberately does not do: PKCE `plain` (not representable in
//! `latchkey_pkce`), codes without PKCE (OAuth 2.1 section 4.1.3 requires the
//! server to reject them), and any storage.

use core::fmt;
use core::time::Duration;

use latchkey_pkce::{CodeChallenge, CodeVerifier};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_core::CryptoRng;

mod thumbprint;

pub use latchkey_jose::JwkThumbprint;
pub(crate) use thumbprint::{binding_holds, encode as thumbprint_encode};

latchkey_types::secret_type! {
    /// An authorization code (OAuth 2.1 section 4.1.2): 256 random bits in
    /// unpadded base64url, handed to the client once and kept by the server
    /// only as its digest.
    pub struct AuthorizationCode;
}

/// How long codes live. Build it with [`CodePolicy::new`] or take the default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodePolicy {
    lifetime: Duration,
}

impl CodePolicy {
    /// The default code lifetime: 60 s, enough for a redirect and one token
    /// request, short enough to make a leaked code nearly worthless.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
    /// The longest lifetime any policy may choose: 10 minutes (OAuth 2.1 section 4.1.2).
    pub const MAX_LIFETIME: Duration = Duration::from_secs(600);

    /// A policy with `lifetime`, refused when zero or above [`Self::MAX_LIFETIME`].
    pub fn new(lifetime: Duration) -> Result<Self, CodeError> {
        if lifetime.as_secs() == 0 {
            return Err(CodeError::LifetimeZero);
        }
        if lifetime > Self::MAX_LIFETIME {
            return Err(CodeError::LifetimeTooLong);
        }
        Ok(Self { lifetime })
    }

    /// The lifetime codes get under this policy.
    pub const fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

impl Default for CodePolicy {
    fn default() -> Self {
        Self {
            lifetime: Self::DEFAULT_LIFETIME,
        }
    }
}

/// Where the redirect URI a code was issued for came from (OAuth 2.1 section
/// 4.1.1 and 10.2): it decides whether an OAuth 2.0 client must repeat it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectUriSource {
    /// The authorization request carried `redirect_uri`.
    Request,
    /// The request omitted it and the client's single registered URI was used.
    Registered,
}

/// What the token endpoint requires of `redirect_uri` for this client (OAuth 2.1
/// section 10.2: the engine chooses per client).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectUriRule {
    /// OAuth 2.1: the parameter may be omitted; if sent it must be identical.
    OAuth21,
    /// OAuth 2.0 compatibility (RFC 6749 section 4.1.3): required when the
    /// authorization request carried it, and identical whenever sent.
    OAuth20Compatible,
}

/// Everything the authorization endpoint decided, to be bound to a new code.
#[derive(Debug)]
pub struct CodeParams {
    /// The client the code is issued to.
    pub client_id: ClientId,
    /// The redirect URI the response goes to: the authorization request's
    /// `redirect_uri` exactly as sent (after it matched the registration; for a
    /// loopback URI that includes the port actually used), or the registered one.
    /// The token endpoint compares against this string byte for byte.
    pub redirect_uri: RedirectUri,
    /// Whether the request named it or the registered one was used.
    pub redirect_uri_source: RedirectUriSource,
    /// The PKCE challenge of the authorization request (RFC 7636 section 4.3).
    pub code_challenge: CodeChallenge,
    /// The granted resources (RFC 8707 section 2.1), canonical; must not be empty.
    pub resources: Vec<ResourceUri>,
    /// The granted scope.
    pub scope: Scope,
    /// The resource owner who approved.
    pub subject: Subject,
    /// When the resource owner last authenticated.
    pub auth_time: UnixTime,
    /// The `dpop_jkt` of the authorization request (RFC 9449 section 10), if any.
    pub dpop_jkt: Option<JwkThumbprint>,
}

/// What the store keeps for an issued code: the digest, never the code.
#[derive(Clone, Debug)]
pub struct CodeRecord {
    digest: TokenDigest,
    client_id: ClientId,
    redirect_uri: RedirectUri,
    redirect_uri_source: RedirectUriSource,
    code_challenge: CodeChallenge,
    resources: Vec<ResourceUri>,
    scope: Scope,
    subject: Subject,
    auth_time: UnixTime,
    dpop_jkt: Option<JwkThumbprint>,
    issued_at: UnixTime,
    expires_at: UnixTime,
}

/// A [`CodeRecord`] taken apart, for a store to persist and load back
/// ([`CodeRecord::into_parts`], [`CodeRecord::from_parts`]). No secret in it.
#[derive(Debug)]
pub struct CodeRecordParts {
    /// The code's SHA-256 digest.
    pub digest: TokenDigest,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The redirect URI the code was issued for.
    pub redirect_uri: RedirectUri,
    /// Whether the authorization request named it.
    pub redirect_uri_source: RedirectUriSource,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// The granted resources.
    pub resources: Vec<ResourceUri>,
    /// The granted scope.
    pub scope: Scope,
    /// The resource owner.
    pub subject: Subject,
    /// When the resource owner last authenticated.
    pub auth_time: UnixTime,
    /// The DPoP key binding, if any.
    pub dpop_jkt: Option<JwkThumbprint>,
    /// When the code was issued.
    pub issued_at: UnixTime,
    /// The first instant at which the code is no longer accepted.
    pub expires_at: UnixTime,
}

/// The token request presenting a code (OAuth 2.1 section 4.1.3), already parsed.
#[derive(Debug)]
pub struct CodeRedemption<'a> {
    /// The client making the request (authenticated, or `client_id` for public clients).
    pub client_id: &'a ClientId,
    /// The `redirect_uri` parameter, if sent, exactly as received.
    pub redirect_uri: Option<&'a str>,
    /// Whether this client must repeat `redirect_uri` (OAuth 2.1 section 10.2).
    pub redirect_uri_rule: RedirectUriRule,
    /// The `code_verifier` parameter, if sent.
    pub code_verifier: Option<&'a CodeVerifier>,
    /// The `resource` parameters (RFC 8707 section 2.2); empty means all granted.
    pub resources: &'a [ResourceUri],
    /// The thumbprint of the key of a valid DPoP proof on this request, if any.
    pub dpop_jkt: Option<&'a JwkThumbprint>,
}

/// A successful redemption: what the new access token and refresh family carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeemedGrant {
    /// The client the tokens are issued to.
    pub client_id: ClientId,
    /// The resource owner.
    pub subject: Subject,
    /// The scope granted at the authorization endpoint.
    pub scope: Scope,
    /// The access token's audience: the requested subset, or every granted resource.
    pub audience: Vec<ResourceUri>,
    /// Every granted resource: a refresh family is bound to the full original
    /// grant even when the access token is narrowed (RFC 8707 section 2.2).
    pub resources: Vec<ResourceUri>,
    /// When the resource owner last authenticated.
    pub auth_time: UnixTime,
    /// The key the code was bound to, if it was.
    pub dpop_jkt: Option<JwkThumbprint>,
    /// The digest of the redeemed code, under which the engine records what it
    /// issues so that a replay can revoke it.
    pub code_digest: TokenDigest,
}

/// What the store answered when asked to consume a code by digest. Consuming
/// must be atomic in the store (one compare-and-set, STYLE.md section 1): only
/// one caller can ever see [`Consumption::First`] for a code.
#[derive(Debug)]
pub enum Consumption {
    /// The code existed and this call consumed it.
    First(CodeRecord),
    /// The code existed but an earlier request had already consumed it.
    AlreadyConsumed(CodeRecord),
    /// No code has this digest (never issued, or expired and purged).
    Unknown,
}

/// The decision for a token request with a code.
#[derive(Debug)]
pub enum RedemptionDecision {
    /// Issue tokens for this grant.
    Issue(RedeemedGrant),
    /// Deny with this error; nothing else to do.
    Reject(CodeError),
    /// Deny (as [`CodeError::AlreadyConsumed`]) and revoke every token issued
    /// from this code (OAuth 2.1 section 4.1.3, RFC 9700 section 4.5). The engine
    /// logs this as a security event.
    Replay(CodeReplay),
}

/// A valid second redemption of a consumed code: what the engine must revoke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeReplay {
    /// The code's digest: the tokens issued from it are recorded under it.
    pub code_digest: TokenDigest,
    /// The client the code was issued to.
    pub client_id: ClientId,
    /// The resource owner of the grant.
    pub subject: Subject,
}

/// Why a code could not be issued or redeemed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CodeError {
    /// A code policy asked for a zero lifetime.
    #[error("code lifetime is zero")]
    LifetimeZero,
    /// A code policy asked for more than ten minutes (OAuth 2.1 section 4.1.2).
    #[error("code lifetime exceeds ten minutes")]
    LifetimeTooLong,
    /// The issue time plus lifetime overflowed.
    #[error("code expiry overflows")]
    ExpiryOverflow,
    /// A code was to be issued with no granted resource.
    #[error("code has no resource")]
    NoResource,
    /// No code has the presented digest.
    #[error("authorization code is unknown")]
    UnknownCode,
    /// The code was already redeemed (OAuth 2.1 section 4.1.3).
    #[error("authorization code was already used")]
    AlreadyConsumed,
    /// The code has expired.
    #[error("authorization code has expired")]
    Expired,
    /// The code was issued to another client (OAuth 2.1 section 4.1.3).
    #[error("authorization code was issued to another client")]
    ClientMismatch,
    /// `redirect_uri` differs from the authorization request's (RFC 6749 section 4.1.3).
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    /// An OAuth 2.0 client omitted the `redirect_uri` it sent when authorizing.
    #[error("redirect_uri is required")]
    RedirectUriMissing,
    /// `code_verifier` is missing (OAuth 2.1 section 4.1.3).
    #[error("code_verifier is missing")]
    VerifierMissing,
    /// `code_verifier` does not match the code challenge (RFC 7636 section 4.6).
    #[error("code_verifier does not match the code challenge")]
    VerifierMismatch,
    /// The code is bound to a DPoP key and the request proved none (RFC 9449 section 10).
    #[error("dpop proof is required for this code")]
    DpopProofMissing,
    /// The code is bound to a different DPoP key (RFC 9449 section 10).
    #[error("dpop key does not match the code binding")]
    DpopKeyMismatch,
    /// A requested resource was not granted (RFC 8707 section 2.2).
    #[error("requested resource was not granted")]
    ResourceNotGranted,
}

impl From<&CodeError> for ErrorCode {
    fn from(error: &CodeError) -> Self {
        match error {
            CodeError::LifetimeZero | CodeError::LifetimeTooLong | CodeError::ExpiryOverflow => {
                ErrorCode::ServerError
            }
            CodeError::NoResource | CodeError::ResourceNotGranted => ErrorCode::InvalidTarget,
            CodeError::UnknownCode
            | CodeError::AlreadyConsumed
            | CodeError::Expired
            | CodeError::ClientMismatch
            | CodeError::RedirectUriMismatch
            | CodeError::RedirectUriMissing
            | CodeError::VerifierMissing
            | CodeError::VerifierMismatch
            | CodeError::DpopProofMissing
            | CodeError::DpopKeyMismatch => ErrorCode::InvalidGrant,
        }
    }
}

impl CodeRecord {
    /// Issues a code for `params` at `now`: the code goes to the client, the
    /// record (digest only) to the store.
    pub fn issue(
        params: CodeParams,
        now: UnixTime,
        policy: &CodePolicy,
        rng: &mut impl CryptoRng,
    ) -> Result<(AuthorizationCode, CodeRecord), CodeError> {
        if params.resources.is_empty() {
            return Err(CodeError::NoResource);
        }
        let expires_at = now
            .checked_add(policy.lifetime)
            .ok_or(CodeError::ExpiryOverflow)?;
        let code = AuthorizationCode::generate(rng);
        let record = CodeRecord {
            digest: code.digest(),
            client_id: params.client_id,
            redirect_uri: params.redirect_uri,
            redirect_uri_source: params.redirect_uri_source,
            code_challenge: params.code_challenge,
            resources: dedup(params.resources),
            scope: params.scope,
            subject: params.subject,
            auth_time: params.auth_time,
            dpop_jkt: params.dpop_jkt,
            issued_at: now,
            expires_at,
        };
        Ok((code, record))
    }

    /// Checks a token request against this (freshly consumed) code at `now`
    /// (OAuth 2.1 section 4.1.3); see the module docs for the order of checks.
    /// This does not consume anything: single use is the store's atomic
    /// consume, whose answer [`Consumption::decide`] turns into a decision.
    pub fn redeem(
        &self,
        request: &CodeRedemption<'_>,
        now: UnixTime,
    ) -> Result<RedeemedGrant, CodeError> {
        if request.client_id != &self.client_id {
            return Err(CodeError::ClientMismatch);
        }
        if now >= self.expires_at {
            return Err(CodeError::Expired);
        }
        self.check_request(request)
    }

    /// Takes the record apart for storage.
    pub fn into_parts(self) -> CodeRecordParts {
        CodeRecordParts {
            digest: self.digest,
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            redirect_uri_source: self.redirect_uri_source,
            code_challenge: self.code_challenge,
            resources: self.resources,
            scope: self.scope,
            subject: self.subject,
            auth_time: self.auth_time,
            dpop_jkt: self.dpop_jkt,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
        }
    }

    /// Puts a stored record back together, re-checking what [`issue`](Self::issue)
    /// guarantees: at least one resource, and a lifetime of at most ten minutes.
    pub fn from_parts(parts: CodeRecordParts) -> Result<Self, CodeError> {
        if parts.resources.is_empty() {
            return Err(CodeError::NoResource);
        }
        match parts.expires_at.duration_since(parts.issued_at) {
            Some(lifetime) if lifetime <= CodePolicy::MAX_LIFETIME => {}
            _ => return Err(CodeError::LifetimeTooLong),
        }
        Ok(CodeRecord {
            digest: parts.digest,
            client_id: parts.client_id,
            redirect_uri: parts.redirect_uri,
            redirect_uri_source: parts.redirect_uri_source,
            code_challenge: parts.code_challenge,
            resources: dedup(parts.resources),
            scope: parts.scope,
            subject: parts.subject,
            auth_time: parts.auth_time,
            dpop_jkt: parts.dpop_jkt,
            issued_at: parts.issued_at,
            expires_at: parts.expires_at,
        })
    }

    /// The digest the store indexes this record under.
    pub const fn digest(&self) -> &TokenDigest {
        &self.digest
    }

    /// The client the code was issued to.
    pub const fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The redirect URI the code was issued for.
    pub const fn redirect_uri(&self) -> &RedirectUri {
        &self.redirect_uri
    }

    /// Whether the authorization request named the redirect URI.
    pub const fn redirect_uri_source(&self) -> RedirectUriSource {
        self.redirect_uri_source
    }

    /// The PKCE challenge.
    pub const fn code_challenge(&self) -> &CodeChallenge {
        &self.code_challenge
    }

    /// The granted resources, canonical, sorted, without duplicates, never empty.
    pub fn resources(&self) -> &[ResourceUri] {
        &self.resources
    }

    /// The granted scope.
    pub const fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The resource owner.
    pub const fn subject(&self) -> &Subject {
        &self.subject
    }

    /// When the resource owner last authenticated.
    pub const fn auth_time(&self) -> UnixTime {
        self.auth_time
    }

    /// The DPoP key binding, if any.
    pub const fn dpop_jkt(&self) -> Option<&JwkThumbprint> {
        self.dpop_jkt.as_ref()
    }

    /// When the code was issued.
    pub const fn issued_at(&self) -> UnixTime {
        self.issued_at
    }

    /// The first instant at which the code is no longer accepted.
    pub const fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// Every check except client and expiry, shared by first and replayed redemption.
    fn check_request(&self, request: &CodeRedemption<'_>) -> Result<RedeemedGrant, CodeError> {
        match (
            request.redirect_uri,
            request.redirect_uri_rule,
            self.redirect_uri_source,
        ) {
            (Some(sent), _, _) if sent != self.redirect_uri.as_str() => {
                return Err(CodeError::RedirectUriMismatch);
            }
            (None, RedirectUriRule::OAuth20Compatible, RedirectUriSource::Request) => {
                return Err(CodeError::RedirectUriMissing);
            }
            _ => {}
        }
        let Some(verifier) = request.code_verifier else {
            return Err(CodeError::VerifierMissing);
        };
        if !self.code_challenge.verify(verifier) {
            return Err(CodeError::VerifierMismatch);
        }
        match (&self.dpop_jkt, request.dpop_jkt) {
            (Some(_), None) => return Err(CodeError::DpopProofMissing),
            (bound, presented) if !binding_holds(bound.as_ref(), presented) => {
                return Err(CodeError::DpopKeyMismatch);
            }
            _ => {}
        }
        let audience = narrow_resources(&self.resources, request.resources)
            .ok_or(CodeError::ResourceNotGranted)?;
        Ok(RedeemedGrant {
            client_id: self.client_id.clone(),
            subject: self.subject.clone(),
            scope: self.scope.clone(),
            audience,
            resources: self.resources.clone(),
            auth_time: self.auth_time,
            dpop_jkt: self.dpop_jkt.clone(),
            code_digest: self.digest,
        })
    }
}

impl Consumption {
    /// Turns the store's answer into the decision for `request` at `now`.
    ///
    /// A replay is answered with revocation only when the replayed request is
    /// itself valid (same client, redirect URI, verifier, key and resources; the
    /// expiry is ignored since the code may have died after its first use): a
    /// "second valid token request" in the words of OAuth 2.1 section 4.1.3. A
    /// replay that fails those checks is a plain rejection with that error.
    pub fn decide(self, request: &CodeRedemption<'_>, now: UnixTime) -> RedemptionDecision {
        match self {
            Consumption::Unknown => RedemptionDecision::Reject(CodeError::UnknownCode),
            Consumption::First(record) => match record.redeem(request, now) {
                Ok(grant) => RedemptionDecision::Issue(grant),
                Err(error) => RedemptionDecision::Reject(error),
            },
            Consumption::AlreadyConsumed(record) => {
                if request.client_id != &record.client_id {
                    return RedemptionDecision::Reject(CodeError::ClientMismatch);
                }
                match record.check_request(request) {
                    Ok(grant) => RedemptionDecision::Replay(CodeReplay {
                        code_digest: grant.code_digest,
                        client_id: grant.client_id,
                        subject: grant.subject,
                    }),
                    Err(error) => RedemptionDecision::Reject(error),
                }
            }
        }
    }
}

impl RedemptionDecision {
    /// The wire error of a denial; `None` when tokens are issued.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            RedemptionDecision::Issue(_) => None,
            RedemptionDecision::Reject(error) => Some(ErrorCode::from(error)),
            RedemptionDecision::Replay(_) => Some(ErrorCode::from(&CodeError::AlreadyConsumed)),
        }
    }
}

impl fmt::Display for RedirectUriSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RedirectUriSource::Request => "request",
            RedirectUriSource::Registered => "registered",
        })
    }
}

/// The audience for a request naming `requested` out of `granted` (RFC 8707
/// section 2.2): all granted when none is named, else the named ones, each of
/// which must be granted (exact match on the canonical form). `None` if one is not.
pub(crate) fn narrow_resources(
    granted: &[ResourceUri],
    requested: &[ResourceUri],
) -> Option<Vec<ResourceUri>> {
    if requested.is_empty() {
        return Some(granted.to_vec());
    }
    if requested.iter().any(|r| !granted.contains(r)) {
        return None;
    }
    Some(dedup(requested.to_vec()))
}

/// Sorted, without duplicates: the one order resources are kept in.
pub(crate) fn dedup(mut resources: Vec<ResourceUri>) -> Vec<ResourceUri> {
    resources.sort();
    resources.dedup();
    resources
}

/// Test-only and fuzz-only entry points (see the fuzzing convention in the
/// project notes); compiled with the `fuzzing` feature.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing {
    use super::JwkThumbprint;
    use latchkey_jose::JoseError;
    use latchkey_types::ErrorCode;

    /// Fuzz target `token_jwk_thumbprint`: accepted thumbprints re-encode to
    /// the input and re-parse to the same value; rejected ones map to `invalid_request`.
    pub fn token_jwk_thumbprint(data: &[u8]) {
        let Ok(text) = core::str::from_utf8(data) else {
            return;
        };
        match JwkThumbprint::parse(text) {
            Ok(jkt) => {
                assert_eq!(jkt.to_encoded(), text);
                assert_eq!(JwkThumbprint::parse(&jkt.to_encoded()), Ok(jkt));
            }
            Err(error) => {
                assert_eq!(error, JoseError::ThumbprintMalformed);
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn replays_corpus_and_regressions() {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
            let mut seen = 0;
            for dir in ["corpus", "regressions"] {
                let path = format!("{root}/{dir}/token_jwk_thumbprint");
                let Ok(entries) = std::fs::read_dir(&path) else {
                    continue;
                };
                for entry in entries {
                    let data = std::fs::read(entry.unwrap().path()).unwrap();
                    token_jwk_thumbprint(&data);
                    seen += 1;
                }
            }
            assert!(seen > 0, "the seed corpus is missing");
        }
    }
}

#[cfg(test)]
mod tests;
