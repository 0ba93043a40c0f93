//! The one error enum of this crate: why the adapter refused a request before
//! (or instead of) the engine.

use latchkey_dpop::DpopError;
use latchkey_engine::RevocationRefusal;
use latchkey_token::TokenError;
use latchkey_types::ErrorCode;

/// Why a request was refused by the adapter or the resource-server checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// More than one `Authorization` header field (OAuth 2.1 section 3.2).
    #[error("the authorization header is repeated")]
    RepeatedAuthorization,
    /// An `Authorization` value that is not visible ASCII.
    #[error("the authorization header is malformed")]
    MalformedAuthorization,
    /// The `Content-Type` is not the endpoint's (the expected media type).
    #[error("content-type must be {0}")]
    UnsupportedContentType(&'static str),
    /// The body is larger than [`crate::MAX_BODY_LEN`].
    #[error("the request body is too large")]
    BodyTooLarge,
    /// An `access_token` query parameter (OAuth 2.1 section 5.1.2 drops RFC 6750 section 2.3).
    #[error("access tokens are not accepted in the query string")]
    TokenInQuery,
    /// No `Bearer` or `DPoP` credentials (RFC 6750 section 3.1: no error code).
    #[error("no access token")]
    MissingToken,
    /// The access token was refused by the validator (MCP R5-R9, R13).
    #[error("invalid access token: {0}")]
    InvalidToken(TokenError),
    /// A DPoP-bound token presented with the `Bearer` scheme (RFC 9449 section 7.1).
    #[error("a dpop-bound token needs the dpop scheme")]
    BoundTokenAsBearer,
    /// A token without `cnf.jkt` presented with the `DPoP` scheme (RFC 9449 section 7.1).
    #[error("the token is not dpop-bound")]
    UnboundTokenAsDpop,
    /// The DPoP proof was refused, or its key is not the token's (RFC 9449 sections 4.3 and 6.1).
    #[error("dpop: {0}")]
    Dpop(DpopError),
    /// The token lacks a scope the route needs (MCP R11).
    #[error("insufficient scope")]
    InsufficientScope,
    /// The `Origin` header is present and not allowed (MCP R15).
    #[error("the origin is not allowed")]
    ForbiddenOrigin,
    /// The token passed every check but the revocation check refused it
    /// (revoked, unknown, or its status unavailable).
    #[error("{0}")]
    TokenStatus(RevocationRefusal),
}

impl AdapterError {
    /// The HTTP status of this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BodyTooLarge => 413,
            // Fail closed under load or on a store failure, as a retryable 503.
            Self::Dpop(DpopError::ReplayCacheFull) => 503,
            Self::TokenStatus(refusal) => refusal.http_status(),
            Self::InsufficientScope | Self::ForbiddenOrigin => 403,
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::BoundTokenAsBearer
            | Self::UnboundTokenAsDpop
            | Self::Dpop(_) => 401,
            Self::RepeatedAuthorization
            | Self::MalformedAuthorization
            | Self::UnsupportedContentType(_)
            | Self::TokenInQuery => 400,
        }
    }
}

impl From<&AdapterError> for ErrorCode {
    fn from(error: &AdapterError) -> Self {
        match error {
            AdapterError::RepeatedAuthorization
            | AdapterError::MalformedAuthorization
            | AdapterError::UnsupportedContentType(_)
            | AdapterError::BodyTooLarge
            | AdapterError::TokenInQuery
            // Never sent as an `error` (RFC 6750 section 3.1); the closest code.
            | AdapterError::MissingToken => ErrorCode::InvalidRequest,
            AdapterError::InvalidToken(_)
            | AdapterError::BoundTokenAsBearer
            | AdapterError::UnboundTokenAsDpop => ErrorCode::InvalidToken,
            AdapterError::Dpop(error) => ErrorCode::from(error),
            AdapterError::InsufficientScope => ErrorCode::InsufficientScope,
            AdapterError::ForbiddenOrigin => ErrorCode::AccessDenied,
            AdapterError::TokenStatus(refusal) => ErrorCode::from(refusal),
        }
    }
}
