//! The adapter's one error type and its wire code.

use latchkey_types::ErrorCode;

/// Why the adapter refused a request or a setup step. None of these carry a
/// secret or a request value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActixError {
    /// A configured endpoint or resource URL is not an absolute URL with a path.
    #[error("a configured url is not an absolute url")]
    ConfiguredUrl,
    /// The request carried more than one `Authorization` header (RFC 9110 section 5.3).
    #[error("more than one authorization header")]
    RepeatedAuthorization,
    /// The `Authorization` header is not visible ASCII or lacks a credential.
    #[error("the authorization header is malformed")]
    MalformedAuthorization,
    /// The request body has the wrong or no `Content-Type`, or more than one.
    #[error("wrong content type")]
    WrongContentType,
    /// The request body exceeds the adapter's limit (64 KiB).
    #[error("request body is too large")]
    BodyTooLarge,
    /// The request body could not be read or decoded.
    #[error("request body cannot be read")]
    BodyUnreadable,
    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Rng,
    /// The engine produced a status or header that HTTP cannot carry.
    #[error("the response cannot be encoded")]
    ResponseEncoding,
    /// A handler asked for an access token on a route no middleware protects.
    #[error("the route is not protected")]
    RouteNotProtected,
}

impl From<&ActixError> for ErrorCode {
    fn from(error: &ActixError) -> Self {
        match error {
            ActixError::RepeatedAuthorization
            | ActixError::MalformedAuthorization
            | ActixError::WrongContentType
            | ActixError::BodyTooLarge
            | ActixError::BodyUnreadable => ErrorCode::InvalidRequest,
            ActixError::ConfiguredUrl
            | ActixError::Rng
            | ActixError::ResponseEncoding
            | ActixError::RouteNotProtected => ErrorCode::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_faults_are_invalid_request_and_setup_faults_server_error() {
        assert_eq!(
            ErrorCode::from(&ActixError::RepeatedAuthorization),
            ErrorCode::InvalidRequest
        );
        assert_eq!(ErrorCode::from(&ActixError::Rng), ErrorCode::ServerError);
        assert_eq!(
            ErrorCode::from(&ActixError::RouteNotProtected),
            ErrorCode::ServerError
        );
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        for error in [
            ActixError::ConfiguredUrl,
            ActixError::BodyTooLarge,
            ActixError::RouteNotProtected,
        ] {
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
    }
}
