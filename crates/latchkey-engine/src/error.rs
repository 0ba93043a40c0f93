//! The engine's one error type and its wire code.

use std::borrow::Cow;

use latchkey_store::StoreError;
use latchkey_types::ErrorCode;

use crate::response::EndpointResponse;

/// Why the engine refused or failed a request. None of these carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed; the client sees only a generic `server_error` or `temporarily_unavailable`.
    #[error("store operation failed")]
    Store(#[from] StoreError),
    /// The request broke a protocol rule; `description` is safe to send to the client.
    #[error("{code}: {description}")]
    Protocol {
        /// The wire error code.
        code: ErrorCode,
        /// A human-readable description without secrets (`error_description`).
        description: Cow<'static, str>,
    },
    /// The configuration is invalid (checked by `EngineConfig::validate`).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The stored signing keys cannot be loaded or a new key cannot be stored.
    #[error("signing keys unusable: {0}")]
    Keys(&'static str),
}

impl EngineError {
    /// A protocol error with `code` and a description safe for the client.
    pub fn protocol(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::Protocol {
            code,
            description: description.into(),
        }
    }

    /// `invalid_request` with `description`.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::protocol(ErrorCode::InvalidRequest, description)
    }

    /// The description sent to the client: the protocol description, or a
    /// generic text for internal failures (the detail goes to the log instead).
    pub fn public_description(&self) -> &str {
        match self {
            Self::Protocol { description, .. } => description,
            Self::Store(StoreError::Backend(_)) => "the service is temporarily unavailable",
            Self::Store(_) | Self::Config(_) | Self::Keys(_) => "internal server error",
        }
    }

    /// The RFC 6749 section 5.2 error response for this error. Internal
    /// failures are logged (target `latchkey::engine`, without secrets) and
    /// answered with a generic description.
    pub fn to_response(&self) -> EndpointResponse {
        let code = ErrorCode::from(self);
        if !matches!(self, Self::Protocol { .. }) {
            tracing::error!(target: "latchkey::engine", error = %self, source = ?std::error::Error::source(self).map(ToString::to_string), "internal failure");
        }
        EndpointResponse::error(code, self.public_description())
    }
}

impl From<&EngineError> for ErrorCode {
    fn from(error: &EngineError) -> Self {
        match error {
            EngineError::Store(store) => ErrorCode::from(store),
            EngineError::Protocol { code, .. } => *code,
            EngineError::Config(_) | EngineError::Keys(_) => ErrorCode::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_failures_never_leak_their_detail() {
        let backend = EngineError::Store(StoreError::Backend("db password=hunter2".into()));
        assert_eq!(ErrorCode::from(&backend), ErrorCode::TemporarilyUnavailable);
        assert!(!backend.public_description().contains("hunter2"));
        let corrupt = EngineError::Store(StoreError::Corrupt { what: "client" });
        assert_eq!(ErrorCode::from(&corrupt), ErrorCode::ServerError);
        let response = corrupt.to_response();
        assert_eq!(response.status, 500);
    }

    #[test]
    fn protocol_errors_keep_their_code_and_description() {
        let error = EngineError::invalid_request("grant_type is missing");
        assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
        assert_eq!(error.public_description(), "grant_type is missing");
        assert_eq!(error.to_string(), "invalid_request: grant_type is missing");
    }
}
