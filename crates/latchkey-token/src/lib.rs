//! latchkey-token: JWT access tokens (RFC 9068), key sets, resource-server validation,
//! authorization codes and refresh-token families.
//!
//! - [`AccessTokenClaims`]: the typed claims of an access token.
//! - [`KeySet`]: the authorization server's signing keys, one active, older ones
//!   still published until retired; [`KeySet::issue`] signs a token and
//!   [`KeySet::jwks`] gives the JWK Set to publish.
//! - [`AccessTokenValidator`]: what a resource server (an MCP server) runs on every
//!   request: it returns a [`ValidatedAccessToken`] or a [`TokenError`] that is always
//!   `invalid_token` (HTTP 401, MCP R7). It accepts Latchkey's own tokens and
//!   those of any other authorization server that follows RFC 9068 (see
//!   "Tokens from another authorization server" below).
//! - [`code`] and [`refresh`]: authorization codes and refresh-token families.
//!
//! # Specifications
//!
//! - RFC 7518 sections 3.3 (RS256), 3.4 (ES256, ES384) and 3.5 (PS256), RFC 8037
//!   section 3.1 (EdDSA), through `latchkey-jose`.
//! - RFC 9068 section 2.1 (`typ: at+jwt`), 2.2 (required claims `iss`, `exp`,
//!   `aud`, `sub`, `client_id`, `iat`, `jti`), 2.2.1 (`auth_time`), 2.2.3
//!   (`scope`), 4 (validation steps).
//! - RFC 7519 section 4 (unique claim names), 4.1.3 (`aud` string or array),
//!   4.1.4 / 4.1.5 / 4.1.6 (`exp`, `nbf`, `iat`, with a bounded leeway).
//! - RFC 8725 and draft-ietf-oauth-rfc8725bis: section 3.1 (algorithm allowlist,
//!   key decides the algorithm), 3.8 (keys belong to the issuer), 3.9 (audience),
//!   3.10 (never follow `jku`/`x5u`), 3.11 (explicit typing), 3.14 (format).
//! - OAuth 2.1 section 5.2 (resource-server validation), RFC 8707 section 2 and
//!   MCP R5, R6, R8, R9, R13 (a token is accepted only if its `aud` covers this
//!   server), RFC 9449 section 6.1 (`cnf.jkt` binding), MCP A9 (short lifetimes).
//!
//! Signing and verification are `latchkey-jose`'s, over aws-lc with keys parsed
//! once (see that crate for why not `jsonwebtoken`). The validation hot path reads
//! the claims with one `serde_json` pass into borrowed strings, without a
//! `serde_json::Value`.
//!
//! # Tokens from another authorization server
//!
//! - **Algorithms** (RFC 9068 section 4 step 2, RFC 8725 section 3.1): the
//!   validator's allowlist, ES256 by default, set with
//!   [`AccessTokenValidator::with_algorithms`] from ES256, ES384 (RFC 7518 section
//!   3.4), EdDSA (RFC 8037 section 3.1), RS256 (RFC 7518 section 3.3) and PS256
//!   (section 3.5), and narrowed to what the issuer advertises with
//!   [`AccessTokenValidator::with_advertised_algorithms`]. `none`, `HS256`,
//!   `HS384`, `HS512` and every other name are refused before any key is looked
//!   at; an algorithm outside the allowlist is [`TokenError::AlgorithmNotAllowed`].
//! - **Keys**: the issuer's JWK Set, parsed once (`latchkey-jose`): EC P-256 and
//!   P-384, Ed25519, RSA of 2048 to 8192 bits (RFC 7518 section 6.3.1; shorter
//!   keys are refused and skipped from a set). The key named by `kid` must verify
//!   the header's algorithm ([`TokenError::KeyAlgorithmMismatch`]); an RSA key
//!   with an `alg` member verifies that algorithm only.
//! - **`typ`**: `at+jwt` (RFC 9068 section 2.1 and section 4 step 1). `JWT` or no
//!   `typ` only after [`AccessTokenValidator::danger_accept_plain_jwt_typ`], for
//!   an issuer that does not type its access tokens.
//! - **Claims** (RFC 9068 section 2.2): `iss` equal to the configured issuer;
//!   `aud` a string or an array, one value covering this resource; `exp`, `nbf`
//!   and `iat` with the configured leeway; `sub`, `client_id` and `jti` required;
//!   the scope from `scope` (space-delimited) or `scp` (an array of scope tokens,
//!   or a string), never both.
//!
//! # Not done here
//!
//! No I/O, no clock (callers pass `now`), no OS randomness (callers pass an RNG),
//! no fetching of JWK Sets or metadata, no token introspection, no encrypted
//! tokens, no DPoP proof checking (`latchkey-dpop` does that with the
//! [`ValidatedAccessToken::dpop_jkt`] this crate returns), and no scope decision
//! (the resource server compares [`AccessTokenClaims::scope`] with what the request
//! needs and answers `insufficient_scope`).
//!
//! # Example
//!
//! ```
//! use latchkey_jose::{Algorithm, SigningKey};
//! use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
//! use latchkey_types::{ClientId, Subject, UnixTime};
//! use latchkey_uri::{AudienceMatch, ResourceUri};
//! use rand_core::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
//! let keys = KeySet::new(SigningKey::generate(Algorithm::Es256, "k1".to_owned(), &mut rng))?;
//! let mcp = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
//! let now = UnixTime::from_secs(1_800_000_000);
//! let claims = AccessTokenClaims::new(
//!     "https://auth.example.com".to_owned(),
//!     Subject::parse("alice").unwrap(),
//!     ClientId::parse("client-1").unwrap(),
//!     Audience::new(mcp.clone()),
//!     now,
//!     &mut rng,
//! );
//! let token = keys.issue(&claims);
//!
//! let validator = AccessTokenValidator::new(
//!     keys.jwks(),
//!     "https://auth.example.com".to_owned(),
//!     mcp,
//!     AudienceMatch::Exact,
//! );
//! let validated = validator.validate(&token, now)?;
//! assert_eq!(validated.claims().sub.as_str(), "alice");
//! # Ok::<(), latchkey_token::TokenError>(())
//! ```

pub mod code;
pub mod refresh;

mod claims;
mod keyset;
mod raw;
mod validator;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use claims::{AccessTokenClaims, Audience, TokenId};
pub use keyset::{ACCESS_TOKEN_TYPE, KeySet};
pub use validator::{AccessTokenValidator, ValidatedAccessToken};

use latchkey_jose::JoseError;
use latchkey_types::ErrorCode;

/// Why an access token was refused, or a key set or validator configuration was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is longer than the validator's limit.
    #[error("access token is too long")]
    TooLong,
    /// The token is not a well-formed compact JWS (RFC 7515 section 7.1).
    #[error("access token is malformed: {0}")]
    Malformed(JoseError),
    /// The header `typ` is not `at+jwt` (RFC 9068 section 4 step 1).
    #[error("access token has the wrong typ")]
    WrongType,
    /// The header `alg` is not in the allowlist (RFC 9068 section 4 step 2).
    #[error("access token algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// No key of the JWK Set matches the header's `kid`.
    #[error("access token key is unknown")]
    UnknownKey,
    /// The key found by `kid` is for another algorithm than the header's (RFC 8725bis section 3.1).
    #[error("access token algorithm does not match its key")]
    KeyAlgorithmMismatch,
    /// The signature does not verify (RFC 9068 section 4 step 5).
    #[error("access token signature does not verify")]
    BadSignature,
    /// The claims set is not one JSON object of at most 64 members.
    #[error("access token claims are malformed")]
    MalformedClaims,
    /// The claims set repeats a claim name (RFC 7519 section 4).
    #[error("access token repeats a claim")]
    DuplicateClaim,
    /// A claim RFC 9068 section 2.2 requires is missing.
    #[error("access token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an invalid value.
    #[error("access token {0} claim is invalid")]
    MalformedClaim(&'static str),
    /// `iss` is not the configured issuer (RFC 9068 section 4 step 3).
    #[error("access token issuer is not trusted")]
    WrongIssuer,
    /// No `aud` value covers this resource (RFC 9068 section 4 step 4, MCP R6).
    #[error("access token is not for this resource")]
    WrongAudience,
    /// `exp` has passed, beyond the leeway (RFC 9068 section 4 step 7).
    #[error("access token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway (RFC 7519 section 4.1.5).
    #[error("access token is not yet valid")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway (RFC 7519 section 4.1.6).
    #[error("access token was issued in the future")]
    IssuedInFuture,
    /// `cnf` holds a confirmation method other than `jkt` (RFC 9449 section 6.1).
    #[error("access token confirmation method is not supported")]
    UnsupportedConfirmation,
    /// A validator was configured with an empty algorithm allowlist.
    #[error("no algorithm is allowed")]
    NoAlgorithms,
    /// A validator was configured with more than five minutes of leeway.
    #[error("leeway is too large")]
    LeewayTooLarge,
    /// A token lifetime of zero was asked for.
    #[error("token lifetime is zero")]
    LifetimeZero,
    /// A token lifetime above one hour was asked for (MCP A9).
    #[error("token lifetime is too long")]
    LifetimeTooLong,
    /// A signing key without a key id was added to a key set.
    #[error("signing key has no key id")]
    EmptyKeyId,
    /// A signing key's id is already in the key set.
    #[error("signing key id is already in the key set")]
    DuplicateKeyId,
    /// A key set would hold more keys than a JWK Set may publish.
    #[error("key set is full")]
    TooManyKeys,
    /// The key to retire is the active signing key.
    #[error("the active signing key cannot be retired")]
    RetiringActiveKey,
    /// The key to retire is not in the key set.
    #[error("no signing key has that key id")]
    KeyNotFound,
}

impl From<&TokenError> for ErrorCode {
    fn from(error: &TokenError) -> Self {
        match error {
            TokenError::TooLong
            | TokenError::Malformed(_)
            | TokenError::WrongType
            | TokenError::AlgorithmNotAllowed
            | TokenError::UnknownKey
            | TokenError::KeyAlgorithmMismatch
            | TokenError::BadSignature
            | TokenError::MalformedClaims
            | TokenError::DuplicateClaim
            | TokenError::MissingClaim(_)
            | TokenError::MalformedClaim(_)
            | TokenError::WrongIssuer
            | TokenError::WrongAudience
            | TokenError::Expired
            | TokenError::NotYetValid
            | TokenError::IssuedInFuture
            | TokenError::UnsupportedConfirmation => ErrorCode::InvalidToken,
            // Configuration and key management: never caused by a client.
            TokenError::NoAlgorithms
            | TokenError::LeewayTooLarge
            | TokenError::LifetimeZero
            | TokenError::LifetimeTooLong
            | TokenError::EmptyKeyId
            | TokenError::DuplicateKeyId
            | TokenError::TooManyKeys
            | TokenError::RetiringActiveKey
            | TokenError::KeyNotFound => ErrorCode::ServerError,
        }
    }
}
