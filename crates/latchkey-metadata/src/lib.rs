#![doc = include_str!("../README.md")]

mod challenge;
mod document;
mod well_known;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use challenge::{
    AuthScheme, Challenge, ChallengeBuilder, MAX_CHALLENGES, MAX_HEADER_LEN, MAX_PARAMS,
    SchemeName, parse_www_authenticate, render_challenges,
};
pub use document::{AuthorizationServerMetadata, MAX_DOCUMENT_LEN, ProtectedResourceMetadata};
pub use well_known::{
    OAUTH_AUTHORIZATION_SERVER, OAUTH_PROTECTED_RESOURCE, OPENID_CONFIGURATION,
    authorization_server_discovery_urls, authorization_server_metadata_url,
    danger_authorization_server_discovery_urls_unchecked, openid_configuration_appended_url,
    protected_resource_discovery_urls, protected_resource_metadata_url,
    protected_resource_root_metadata_url,
};

use latchkey_types::ErrorCode;

/// Why a metadata document, a well-known URL or a challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// A metadata document was longer than [`MAX_DOCUMENT_LEN`].
    #[error("metadata document is too large")]
    DocumentTooLarge,
    /// A metadata document was not well-formed UTF-8 JSON.
    #[error("metadata document is not valid json")]
    InvalidJson,
    /// A metadata document was JSON but not an object.
    #[error("metadata document is not a json object")]
    NotAnObject,
    /// A JSON object named the same member twice (RFC 8259 section 4; refused
    /// so that every reader sees one `issuer`, `jwks_uri` or `resource`).
    #[error("metadata document repeats a member name")]
    DuplicateMember,
    /// A REQUIRED member was absent, or a REQUIRED array was empty.
    #[error("metadata document lacks the required member {0}")]
    MissingMember(&'static str),
    /// A known member had the wrong JSON type.
    #[error("metadata document has a member of the wrong type")]
    MemberType,
    /// A `*_signing_alg_values_supported` list held `none` (RFC 8414 section 2, RFC 9728 section 2).
    #[error("metadata document lists the none algorithm")]
    AlgNoneListed,
    /// JWT client authentication was listed without its signing-algorithm list (RFC 8414 section 2).
    #[error("metadata document lists jwt client authentication without signing algorithms")]
    SigningAlgsMissing,
    /// A `jwks_uri` was not an `https` URL (RFC 8414 section 2, RFC 9728 section 2).
    #[error("jwks_uri is not an https url")]
    JwksUriNotHttps,
    /// An extension member was given the name of a member the type knows.
    #[error("extension member has the name of a known member")]
    ExtraMemberIsKnown,
    /// The document's `issuer` differs from the expected one (RFC 8414 section 3.3).
    #[error("issuer in metadata does not match the expected issuer")]
    IssuerMismatch,
    /// The document's `resource` differs from the expected one (RFC 9728 section 3.3).
    #[error("resource in metadata does not match the expected resource")]
    ResourceMismatch,
    /// `code_challenge_methods_supported` is absent or lacks `S256` (MCP A4).
    #[error("authorization server does not advertise s256 pkce")]
    PkceS256NotAdvertised,
    /// `authorization_servers` is absent (MCP R2).
    #[error("protected resource metadata lists no authorization server")]
    NoAuthorizationServers,
    /// An issuer or resource URL did not use `https`.
    #[error("url does not use the https scheme")]
    UrlNotHttps,
    /// An issuer URL had a query component (RFC 8414 section 2).
    #[error("issuer url has a query")]
    UrlHasQuery,
    /// An issuer or resource URL had a fragment (RFC 8414 section 2, RFC 9728 section 1.2).
    #[error("url has a fragment")]
    UrlHasFragment,
    /// A `WWW-Authenticate` value was longer than [`MAX_HEADER_LEN`].
    #[error("www-authenticate header is too long")]
    HeaderTooLong,
    /// A `WWW-Authenticate` value held more than [`MAX_CHALLENGES`] challenges.
    #[error("www-authenticate header has too many challenges")]
    TooManyChallenges,
    /// A challenge held more than [`MAX_PARAMS`] parameters.
    #[error("challenge has too many parameters")]
    TooManyParams,
    /// A `WWW-Authenticate` value broke the RFC 9110 section 11.6.1 grammar at byte `at`.
    #[error("malformed www-authenticate header at byte {at}")]
    ChallengeSyntax {
        /// Byte offset of the first character that does not fit.
        at: usize,
    },
    /// A quoted-string had no closing quote.
    #[error("unterminated quoted-string in www-authenticate header")]
    UnterminatedQuotedString,
    /// A challenge named a parameter twice (RFC 6750 section 3).
    #[error("challenge repeats a parameter")]
    DuplicateParam,
    /// A challenge's `scope` was not a scope string (RFC 6749 section 3.3).
    #[error("challenge scope is malformed")]
    InvalidScope,
    /// A scheme name was not a token.
    #[error("authentication scheme is not a token")]
    InvalidSchemeName,
    /// A parameter name was not a token.
    #[error("challenge parameter name is not a token")]
    InvalidParamName,
    /// A parameter value held a character its parameter does not allow (RFC 6750 section 3).
    #[error("challenge parameter value has a forbidden character")]
    InvalidParamValue,
    /// A token68 broke the RFC 9110 section 11.2 grammar.
    #[error("challenge token68 is malformed")]
    InvalidToken68,
    /// A challenge was given both a token68 and parameters.
    #[error("challenge has both a token68 and parameters")]
    Token68WithParams,
}

/// The OAuth error code for each failure.
///
/// Documents, URLs and header values that arrive from elsewhere are
/// `invalid_request`; a malformed challenge `scope` is `invalid_scope`.
/// Failures that can only come from our own configuration (a challenge or
/// document the server itself builds, a document that fails MCP's checks)
/// are `server_error`.
impl From<&MetadataError> for ErrorCode {
    fn from(error: &MetadataError) -> Self {
        match error {
            MetadataError::DocumentTooLarge
            | MetadataError::InvalidJson
            | MetadataError::NotAnObject
            | MetadataError::DuplicateMember
            | MetadataError::MissingMember(_)
            | MetadataError::MemberType
            | MetadataError::AlgNoneListed
            | MetadataError::SigningAlgsMissing
            | MetadataError::JwksUriNotHttps
            | MetadataError::IssuerMismatch
            | MetadataError::ResourceMismatch
            | MetadataError::UrlNotHttps
            | MetadataError::UrlHasQuery
            | MetadataError::UrlHasFragment
            | MetadataError::HeaderTooLong
            | MetadataError::TooManyChallenges
            | MetadataError::TooManyParams
            | MetadataError::ChallengeSyntax { .. }
            | MetadataError::UnterminatedQuotedString
            | MetadataError::DuplicateParam => ErrorCode::InvalidRequest,
            MetadataError::InvalidScope => ErrorCode::InvalidScope,
            MetadataError::ExtraMemberIsKnown
            | MetadataError::PkceS256NotAdvertised
            | MetadataError::NoAuthorizationServers
            | MetadataError::InvalidSchemeName
            | MetadataError::InvalidParamName
            | MetadataError::InvalidParamValue
            | MetadataError::InvalidToken68
            | MetadataError::Token68WithParams => ErrorCode::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_follow_the_source_of_the_failure() {
        assert_eq!(
            ErrorCode::from(&MetadataError::IssuerMismatch),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::from(&MetadataError::ChallengeSyntax { at: 3 }),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::from(&MetadataError::InvalidScope),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            ErrorCode::from(&MetadataError::InvalidParamValue),
            ErrorCode::ServerError
        );
    }

    #[test]
    fn display_is_lowercase_without_trailing_period() {
        let errors = [
            MetadataError::MissingMember("issuer"),
            MetadataError::ChallengeSyntax { at: 7 },
            MetadataError::PkceS256NotAdvertised,
            MetadataError::UrlNotHttps,
        ];
        for error in errors {
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase());
        }
    }
}
