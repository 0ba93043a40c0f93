//! The adapter's one error type and its wire code.

use latchkey_types::ErrorCode;

/// Why the adapter failed a request on its own: set-up mistakes, never a
/// client's (those are `latchkey_http::HttpError`). None carries a secret or
/// a request value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActixError {
    /// A response status or header actix cannot carry.
    #[error("the response cannot be encoded")]
    ResponseEncoding,
    /// A handler asked for an access token on a route no middleware protects.
    #[error("the route is not protected")]
    RouteNotProtected,
}

impl From<&ActixError> for ErrorCode {
    fn from(error: &ActixError) -> Self {
        match error {
            ActixError::ResponseEncoding | ActixError::RouteNotProtected => ErrorCode::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_up_faults_are_server_error_in_lowercase() {
        for error in [ActixError::ResponseEncoding, ActixError::RouteNotProtected] {
            assert_eq!(ErrorCode::from(&error), ErrorCode::ServerError);
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
    }
}
