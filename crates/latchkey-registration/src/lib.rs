#![doc = include_str!("../README.md")]

mod cimd;
mod metadata;
mod policy;
mod register;
mod response;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

use latchkey_types::ErrorCode;
use latchkey_types::json::JsonError;
use latchkey_uri::UriError;

pub use cimd::{
    CimdClient, CimdPolicy, ClientIdMetadataUrl, is_client_id_metadata_url,
    validate_client_id_metadata_document,
};
pub use metadata::{
    ApplicationType, ClientMetadata, GrantType, MetadataUri, ResponseType, TokenEndpointAuthMethod,
};
pub use policy::{Limits, RegistrationPolicy};
pub use register::{
    ValidatedRegistration, ValidatedUpdate, validate_registration, validate_update,
};
pub use response::{
    ClientRegistrationResponse, ClientSecret, RegistrationAccessToken, RegistrationEndpoint,
};

/// Why a registration request, update or client ID metadata document was refused.
///
/// Messages name the field at fault, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The body was larger than the policy's `max_body_bytes`.
    #[error("request body is too large")]
    BodyTooLarge,
    /// The body was not valid JSON.
    #[error("request body is not valid json")]
    MalformedJson,
    /// The body was JSON but not an object (RFC 7591 section 3.1).
    #[error("request body is not a json object")]
    NotAnObject,
    /// A JSON object in the body repeated a member name (RFC 8259 section 4).
    #[error("request body repeats a member name")]
    DuplicateMember,
    /// A known member had the wrong JSON type.
    #[error("{field} has the wrong json type")]
    WrongType {
        /// The member's name.
        field: &'static str,
    },
    /// A string member was empty.
    #[error("{field} is empty")]
    FieldEmpty {
        /// The member's name.
        field: &'static str,
    },
    /// A string member was longer than the policy allows.
    #[error("{field} is too long")]
    FieldTooLong {
        /// The member's name.
        field: &'static str,
    },
    /// A text member held a control or bidirectional-override character.
    #[error("{field} contains a control character")]
    FieldBadCharacter {
        /// The member's name.
        field: &'static str,
    },
    /// A URL member (`client_uri`, `logo_uri`, ...) was not an absolute `https` URL without userinfo.
    #[error("{field} is not an https url")]
    MetadataUriInvalid {
        /// The member's name.
        field: &'static str,
    },
    /// A `software_statement` was sent; Latchkey supports none (RFC 7591 section 3.1.1).
    #[error("software statements are not supported")]
    SoftwareStatementUnsupported,
    /// A redirect URI broke `latchkey_uri`'s registration rules (OAuth 2.1 section 2.3, RFC 8252, A12).
    #[error("{0}")]
    RedirectUri(UriError),
    /// A redirect URI was longer than the policy's `max_uri_len`.
    #[error("redirect uri is too long")]
    RedirectUriTooLong,
    /// More redirect URIs than the policy's `max_redirect_uris`.
    #[error("too many redirect uris")]
    TooManyRedirectUris,
    /// The `authorization_code` grant was asked for without a redirect URI (RFC 7591 section 2).
    #[error("redirect_uris is missing")]
    RedirectUrisMissing,
    /// A loopback `http` redirect URI while the policy refuses them.
    #[error("loopback redirect uris are not allowed")]
    LoopbackRedirectNotAllowed,
    /// A private-use scheme redirect URI while the policy refuses them (MCP A12).
    #[error("private-use scheme redirect uris are not allowed")]
    PrivateUseSchemeNotAllowed,
    /// `token_endpoint_auth_method` was a value Latchkey does not implement.
    #[error("token_endpoint_auth_method is not supported")]
    UnsupportedAuthMethod,
    /// `token_endpoint_auth_method` is implemented but the policy refuses it.
    #[error("token_endpoint_auth_method is not allowed")]
    AuthMethodNotAllowed,
    /// `grant_types` held `implicit`, which OAuth 2.1 removed.
    #[error("the implicit grant is not supported")]
    ImplicitGrantRefused,
    /// `grant_types` held `password`, which OAuth 2.1 removed.
    #[error("the password grant is not supported")]
    PasswordGrantRefused,
    /// `grant_types` held a value Latchkey does not implement.
    #[error("grant_types holds an unsupported grant type")]
    UnsupportedGrantType,
    /// `grant_types` held a value the policy refuses.
    #[error("grant_types holds a grant type that is not allowed")]
    GrantTypeNotAllowed,
    /// `grant_types` was an empty array.
    #[error("grant_types is empty")]
    GrantTypesEmpty,
    /// `response_types` held `token` (the implicit flow, removed by OAuth 2.1).
    #[error("the token response type is not supported")]
    TokenResponseTypeRefused,
    /// `response_types` held a value other than `code`.
    #[error("response_types holds an unsupported response type")]
    UnsupportedResponseType,
    /// `response_types` held a value the policy refuses.
    #[error("response_types holds a response type that is not allowed")]
    ResponseTypeNotAllowed,
    /// `authorization_code` without `code`, or `code` without `authorization_code` (RFC 7591 section 2.1).
    #[error("grant_types and response_types are inconsistent")]
    GrantResponseMismatch,
    /// `refresh_token` without `authorization_code`.
    #[error("refresh_token requires authorization_code")]
    RefreshWithoutAuthorizationCode,
    /// `client_credentials` for a public client, which cannot authenticate (OAuth 2.1 section 4.2).
    #[error("client_credentials requires a confidential client")]
    ClientCredentialsForPublicClient,
    /// Both `jwks` and `jwks_uri` were sent (RFC 7591 section 2).
    #[error("jwks and jwks_uri are both present")]
    JwksAndJwksUri,
    /// `private_key_jwt` without `jwks` or `jwks_uri` to verify it with.
    #[error("private_key_jwt requires jwks or jwks_uri")]
    PrivateKeyJwtWithoutKeys,
    /// `jwks` was not a JWK Set: an object with a non-empty `keys` array of objects with `kty`.
    #[error("jwks is not a jwk set")]
    JwksInvalid,
    /// `jwks` held private or symmetric key material.
    #[error("jwks contains private key material")]
    JwksHasPrivateKey,
    /// `scope` was not a valid scope string (RFC 6749 section 3.3).
    #[error("scope is not a valid scope string")]
    ScopeInvalid,
    /// `scope` asked for a scope outside the policy's `allowed_scopes`.
    #[error("scope asks for a scope that is not allowed")]
    ScopeNotAllowed,
    /// More `contacts` than the policy's `max_contacts`.
    #[error("too many contacts")]
    TooManyContacts,
    /// `application_type` was neither `web` nor `native`.
    #[error("application_type is not supported")]
    UnsupportedApplicationType,
    /// An update did not carry `client_id` (RFC 7592 section 2.2).
    #[error("client_id is missing from the update")]
    UpdateClientIdMissing,
    /// An update's `client_id` differed from the client being updated (RFC 7592 section 2.2).
    #[error("client_id does not match the client being updated")]
    UpdateClientIdMismatch,
    /// An update carried a server-issued member it must not include (RFC 7592 section 2.2).
    #[error("{field} must not be sent in an update")]
    UpdateForbiddenMember {
        /// The member's name.
        field: &'static str,
    },
    /// A client ID metadata URL was not a valid URL or longer than a client id may be.
    #[error("client id metadata url is malformed")]
    MetadataUrlMalformed,
    /// A client ID metadata URL did not use `https` (CIMD draft section 3).
    #[error("client id metadata url is not https")]
    MetadataUrlNotHttps,
    /// A client ID metadata URL had no path beyond `/` (CIMD draft section 3).
    #[error("client id metadata url has no path")]
    MetadataUrlNoPath,
    /// A client ID metadata URL had a `.` or `..` path segment (CIMD draft section 3).
    #[error("client id metadata url has a dot segment")]
    MetadataUrlDotSegment,
    /// A client ID metadata URL had a fragment (CIMD draft section 3).
    #[error("client id metadata url has a fragment")]
    MetadataUrlFragment,
    /// A client ID metadata URL had a username or password (CIMD draft section 3).
    #[error("client id metadata url has userinfo")]
    MetadataUrlUserinfo,
    /// A client ID metadata URL had a query (CIMD draft section 3 SHOULD NOT; Latchkey refuses).
    #[error("client id metadata url has a query")]
    MetadataUrlQuery,
    /// A client ID metadata URL was not in normalized form (case, default port, percent-encoding).
    #[error("client id metadata url is not in normalized form")]
    MetadataUrlNotNormalized,
    /// A metadata document had no `client_id` member (CIMD draft section 4.1, A7).
    #[error("metadata document has no client_id")]
    DocumentClientIdMissing,
    /// A metadata document's `client_id` differed from its URL (CIMD draft section 4.1, A7).
    #[error("metadata document client_id does not match its url")]
    DocumentClientIdMismatch,
    /// A metadata document had no `client_name` (MCP 2025-11-25, A7).
    #[error("metadata document has no client_name")]
    DocumentClientNameMissing,
    /// A metadata document asked for a shared-secret authentication method (CIMD draft section 4.1).
    #[error("metadata document asks for a shared-secret authentication method")]
    DocumentSharedSecretAuthMethod,
    /// A metadata document carried `client_secret` or `client_secret_expires_at` (CIMD draft section 4.1).
    #[error("metadata document carries a client secret")]
    DocumentHasClientSecret,
    /// A registration endpoint URL (configuration) was not an absolute `https` or loopback `http` URL.
    #[error("registration endpoint url is invalid")]
    RegistrationEndpointInvalid,
}

/// The shared strict reader's refusals (`latchkey_types::json`: one object,
/// bounded, no member name twice at any depth, RFC 8259 section 4), in this
/// crate's words. Duplicates are refused because two parsers that keep
/// different copies would see two different registrations (RFC 7591
/// section 3.1 sends the metadata as one JSON object).
impl From<JsonError> for RegistrationError {
    fn from(error: JsonError) -> Self {
        match error {
            JsonError::TooLarge => RegistrationError::BodyTooLarge,
            JsonError::Malformed => RegistrationError::MalformedJson,
            JsonError::NotAnObject => RegistrationError::NotAnObject,
            JsonError::DuplicateMember => RegistrationError::DuplicateMember,
        }
    }
}

/// RFC 7591 section 3.2.2 codes: redirect URI problems are `invalid_redirect_uri`,
/// other metadata problems `invalid_client_metadata`, a software statement
/// `invalid_software_statement`; a body that is not a single JSON object, or an
/// update that breaks RFC 7592 section 2.2, is `invalid_request`.
///
/// A client ID metadata URL or document that identifies no usable client is
/// `invalid_client`. When any error comes from a metadata document, the engine
/// has no client: at the token endpoint it answers `invalid_client`, at the
/// authorization endpoint an error page (never a redirect), whatever the code.
/// A bad [`RegistrationEndpoint`] is configuration, so `server_error`.
impl From<&RegistrationError> for ErrorCode {
    fn from(error: &RegistrationError) -> Self {
        match error {
            RegistrationError::BodyTooLarge
            | RegistrationError::MalformedJson
            | RegistrationError::NotAnObject
            | RegistrationError::DuplicateMember
            | RegistrationError::UpdateClientIdMissing
            | RegistrationError::UpdateClientIdMismatch
            | RegistrationError::UpdateForbiddenMember { .. } => ErrorCode::InvalidRequest,
            RegistrationError::RedirectUri(_)
            | RegistrationError::RedirectUriTooLong
            | RegistrationError::TooManyRedirectUris
            | RegistrationError::RedirectUrisMissing
            | RegistrationError::LoopbackRedirectNotAllowed
            | RegistrationError::PrivateUseSchemeNotAllowed => ErrorCode::InvalidRedirectUri,
            RegistrationError::WrongType { .. }
            | RegistrationError::FieldEmpty { .. }
            | RegistrationError::FieldTooLong { .. }
            | RegistrationError::FieldBadCharacter { .. }
            | RegistrationError::MetadataUriInvalid { .. }
            | RegistrationError::UnsupportedAuthMethod
            | RegistrationError::AuthMethodNotAllowed
            | RegistrationError::ImplicitGrantRefused
            | RegistrationError::PasswordGrantRefused
            | RegistrationError::UnsupportedGrantType
            | RegistrationError::GrantTypeNotAllowed
            | RegistrationError::GrantTypesEmpty
            | RegistrationError::TokenResponseTypeRefused
            | RegistrationError::UnsupportedResponseType
            | RegistrationError::ResponseTypeNotAllowed
            | RegistrationError::GrantResponseMismatch
            | RegistrationError::RefreshWithoutAuthorizationCode
            | RegistrationError::ClientCredentialsForPublicClient
            | RegistrationError::JwksAndJwksUri
            | RegistrationError::PrivateKeyJwtWithoutKeys
            | RegistrationError::JwksInvalid
            | RegistrationError::JwksHasPrivateKey
            | RegistrationError::ScopeInvalid
            | RegistrationError::ScopeNotAllowed
            | RegistrationError::TooManyContacts
            | RegistrationError::UnsupportedApplicationType => ErrorCode::InvalidClientMetadata,
            RegistrationError::SoftwareStatementUnsupported => ErrorCode::InvalidSoftwareStatement,
            RegistrationError::MetadataUrlMalformed
            | RegistrationError::MetadataUrlNotHttps
            | RegistrationError::MetadataUrlNoPath
            | RegistrationError::MetadataUrlDotSegment
            | RegistrationError::MetadataUrlFragment
            | RegistrationError::MetadataUrlUserinfo
            | RegistrationError::MetadataUrlQuery
            | RegistrationError::MetadataUrlNotNormalized
            | RegistrationError::DocumentClientIdMissing
            | RegistrationError::DocumentClientIdMismatch
            | RegistrationError::DocumentClientNameMissing
            | RegistrationError::DocumentSharedSecretAuthMethod
            | RegistrationError::DocumentHasClientSecret => ErrorCode::InvalidClient,
            RegistrationError::RegistrationEndpointInvalid => ErrorCode::ServerError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7591_section_3_2_2_codes() {
        let redirect = RegistrationError::RedirectUri(UriError::HttpNotLoopback);
        assert_eq!(ErrorCode::from(&redirect), ErrorCode::InvalidRedirectUri);
        assert_eq!(
            ErrorCode::from(&RegistrationError::RedirectUrisMissing),
            ErrorCode::InvalidRedirectUri
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::GrantResponseMismatch),
            ErrorCode::InvalidClientMetadata
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::SoftwareStatementUnsupported),
            ErrorCode::InvalidSoftwareStatement
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::DuplicateMember),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::DocumentClientIdMismatch),
            ErrorCode::InvalidClient
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::RegistrationEndpointInvalid),
            ErrorCode::ServerError
        );
    }

    #[test]
    fn display_is_lowercase_without_period_and_names_fields_not_values() {
        let errors = [
            RegistrationError::BodyTooLarge,
            RegistrationError::WrongType {
                field: "client_name",
            },
            RegistrationError::FieldTooLong {
                field: "client_name",
            },
            RegistrationError::MetadataUriInvalid { field: "logo_uri" },
            RegistrationError::SoftwareStatementUnsupported,
            RegistrationError::RedirectUri(UriError::HttpNotLoopback),
            RegistrationError::UpdateForbiddenMember {
                field: "registration_access_token",
            },
            RegistrationError::DocumentClientIdMismatch,
        ];
        for error in errors {
            let text = error.to_string();
            assert_eq!(text, text.to_lowercase());
            assert!(!text.ends_with('.'));
            assert!(!text.is_empty());
        }
        assert_eq!(
            RegistrationError::WrongType {
                field: "client_name"
            }
            .to_string(),
            "client_name has the wrong json type"
        );
    }
}
