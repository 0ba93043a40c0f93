#![doc = include_str!("../README.md")]

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
