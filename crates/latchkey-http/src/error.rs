//! The one error enum of this crate: why the resource server, or the
//! authorization server's HTTP layer before the engine, refused a request.

use latchkey_dpop::DpopError;
use latchkey_engine::RevocationRefusal;
use latchkey_token::TokenError;
use latchkey_types::ErrorCode;

/// Why [`ResourceServer`](crate::ResourceServer) or
/// [`AuthorizationServer`](crate::AuthorizationServer) refused a request. The
/// `Display` texts are fixed and hold no request value: they are sent as
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The `Origin` header is present and not allowed, or repeated (MCP R15).
    #[error("the origin is not allowed")]
    ForbiddenOrigin,
    /// An `access_token` query parameter (OAuth 2.1 section 5.1.2 drops RFC 6750 section 2.3).
    #[error("access tokens are not accepted in the query string")]
    TokenInQuery,
    /// More than one `Authorization` header field (OAuth 2.1 section 3.2).
    #[error("the authorization header is repeated")]
    RepeatedAuthorization,
    /// An `Authorization` value that is not visible ASCII, or a `Bearer` or
    /// `DPoP` scheme without exactly one token (RFC 6750 section 2.1).
    #[error("the authorization header is malformed")]
    MalformedAuthorization,
    /// No `Bearer` or `DPoP` credentials (RFC 6750 section 3.1: no error code).
    #[error("no access token")]
    MissingToken,
    /// The access token was refused by the validator (MCP R5-R9, R13).
    #[error("the access token is not valid")]
    InvalidToken(TokenError),
    /// A DPoP-bound token presented with the `Bearer` scheme (RFC 9449 section 7.1).
    #[error("the access token is bound to a dpop key")]
    BoundTokenAsBearer,
    /// A token without `cnf.jkt` presented with the `DPoP` scheme (RFC 9449 section 7.1).
    #[error("the access token is not bound to a dpop key")]
    UnboundTokenAsDpop,
    /// The DPoP proof was refused, or its key is not the token's (RFC 9449
    /// sections 4.3, 6.1 and 9).
    #[error("the dpop proof is not valid")]
    Dpop(DpopError),
    /// The token lacks a scope the route needs (RFC 6750 section 3.1, MCP R11).
    #[error("the access token lacks a required scope")]
    InsufficientScope,
    /// The token passed every check but the revocation check refused it
    /// (revoked, unknown, or its status unavailable).
    #[error("the access token was refused by its status")]
    TokenStatus(RevocationRefusal),
    /// The issuer's introspection answer says the token is not active (RFC
    /// 7662 section 2.2: expired, revoked, unknown, or not for us).
    #[error("the access token is not active")]
    TokenInactive,
    /// The token is to be introspected and the issuer gave no usable answer
    /// (connection, timeout, status, body), or [`ResourceServer::check`](crate::ResourceServer::check)
    /// was asked about such a token (fail closed).
    #[error("the access token status is unavailable")]
    IntrospectionUnavailable,
    /// The engine configures no such resource (a set-up mistake, never a request's).
    #[error("the engine does not configure this resource")]
    UnknownResource,
    /// The endpoint does not take this method (RFC 9110 section 15.5.6).
    #[error("the method is not allowed at this endpoint")]
    MethodNotAllowed,
    /// The `Content-Type` is not the endpoint's (the expected media type).
    #[error("content-type must be {0}")]
    UnsupportedContentType(&'static str),
    /// The body is larger than [`MAX_BODY_LEN`](crate::MAX_BODY_LEN).
    #[error("the request body is too large")]
    BodyTooLarge,
    /// The query string is longer than [`MAX_QUERY_LEN`](crate::MAX_QUERY_LEN).
    #[error("the request is too large")]
    QueryTooLarge,
    /// A form body, query string or path segment with a `%` not followed by
    /// two hexadecimal digits, or whose decoded bytes are not UTF-8.
    #[error("the request is not valid form encoding")]
    InvalidFormEncoding,
    /// A request head a framework accepted that the `http` types do not.
    #[error("the request head is malformed")]
    MalformedHead,
}

impl HttpError {
    /// The HTTP status: `401` for credentials (RFC 6750 section 3.1, RFC 9449
    /// section 7.1: `invalid_dpop_proof` and `use_dpop_nonce` too), `403` for
    /// a scope or an origin, `400` for a malformed request, `405` for a
    /// method and `413` for a body the endpoint does not take, `503` when the
    /// replay cache or the token status is unavailable (fail closed).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Dpop(DpopError::ReplayCacheFull) | Self::IntrospectionUnavailable => 503,
            Self::TokenStatus(refusal) => refusal.http_status(),
            Self::InsufficientScope | Self::ForbiddenOrigin => 403,
            Self::MissingToken
            | Self::InvalidToken(_)
            | Self::TokenInactive
            | Self::BoundTokenAsBearer
            | Self::UnboundTokenAsDpop
            | Self::Dpop(_) => 401,
            Self::RepeatedAuthorization
            | Self::MalformedAuthorization
            | Self::TokenInQuery
            | Self::UnsupportedContentType(_)
            | Self::QueryTooLarge
            | Self::InvalidFormEncoding
            | Self::MalformedHead => 400,
            Self::MethodNotAllowed => 405,
            Self::BodyTooLarge => 413,
            Self::UnknownResource => 500,
        }
    }
}

impl From<&HttpError> for ErrorCode {
    fn from(error: &HttpError) -> Self {
        match error {
            HttpError::RepeatedAuthorization
            | HttpError::MalformedAuthorization
            | HttpError::TokenInQuery
            | HttpError::MethodNotAllowed
            | HttpError::UnsupportedContentType(_)
            | HttpError::BodyTooLarge
            | HttpError::QueryTooLarge
            | HttpError::InvalidFormEncoding
            | HttpError::MalformedHead
            // Never sent as an `error` (RFC 6750 section 3.1); the closest code.
            | HttpError::MissingToken => ErrorCode::InvalidRequest,
            HttpError::InvalidToken(_)
            | HttpError::TokenInactive
            | HttpError::BoundTokenAsBearer
            | HttpError::UnboundTokenAsDpop => ErrorCode::InvalidToken,
            HttpError::Dpop(error) => ErrorCode::from(error),
            HttpError::InsufficientScope => ErrorCode::InsufficientScope,
            HttpError::ForbiddenOrigin => ErrorCode::AccessDenied,
            HttpError::TokenStatus(refusal) => ErrorCode::from(refusal),
            HttpError::IntrospectionUnavailable => ErrorCode::TemporarilyUnavailable,
            HttpError::UnknownResource => ErrorCode::ServerError,
        }
    }
}
