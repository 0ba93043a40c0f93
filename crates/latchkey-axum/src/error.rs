//! The one error enum of this crate: why the adapter refused an
//! authorization-server request before (or instead of) the engine. The
//! resource server's refusals are `latchkey_http::HttpError`.

use latchkey_types::ErrorCode;

/// Why an authorization-server request was refused by the adapter.
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
}

impl AdapterError {
    /// The HTTP status of this refusal.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::BodyTooLarge => 413,
            Self::RepeatedAuthorization
            | Self::MalformedAuthorization
            | Self::UnsupportedContentType(_) => 400,
        }
    }
}

impl From<&AdapterError> for ErrorCode {
    fn from(error: &AdapterError) -> Self {
        match error {
            AdapterError::RepeatedAuthorization
            | AdapterError::MalformedAuthorization
            | AdapterError::UnsupportedContentType(_)
            | AdapterError::BodyTooLarge => ErrorCode::InvalidRequest,
        }
    }
}
