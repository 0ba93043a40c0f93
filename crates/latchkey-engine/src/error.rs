//! The engine's one error type and its wire code.
//!
//! Every refusal the engine makes is a variant that says what was wrong; the
//! `error` code a client sees is chosen in one place, the exhaustive
//! `impl From<&EngineError> for ErrorCode` below, so a new variant cannot ship
//! without one. A variant's `Display` is the `error_description` sent, except
//! for internal failures ([`EngineError::is_internal`]), whose detail goes to
//! the log and whose description is a generic text.

use latchkey_dpop::{DpopError, DpopNonce};
use latchkey_pkce::PkceError;
use latchkey_registration::RegistrationError;
use latchkey_store::StoreError;
use latchkey_token::code::CodeError;
use latchkey_token::refresh::RefreshError;
use latchkey_types::ErrorCode;

use crate::authorize::PromptNoneRefusal;
use crate::response::EndpointResponse;

/// Why the engine refused or failed a request. None of these carry a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed; the client sees only a generic `server_error` or `temporarily_unavailable`.
    #[error("store operation failed")]
    Store(#[from] StoreError),
    /// The configuration is invalid (checked by `EngineConfig::validate`).
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The stored signing keys cannot be loaded or a new key cannot be stored.
    #[error("signing keys unusable: {0}")]
    Keys(&'static str),
    /// An invariant the engine keeps did not hold (a bug, not the client's fault).
    #[error("internal invariant broken: {0}")]
    Internal(&'static str),

    /// More parameters than [`crate::Params::MAX_PARAMS`] (OAuth 2.1 section 3.1).
    #[error("too many parameters")]
    TooManyParameters,
    /// A parameter name or value longer than [`crate::Params::MAX_VALUE_LEN`].
    #[error("a parameter is too long")]
    ParameterTooLong,
    /// A parameter sent twice (OAuth 2.1 sections 3.1 and 3.2); `name` is printable or `(unprintable)`.
    #[error("parameter {name} is repeated")]
    ParameterRepeated {
        /// The parameter, made safe to echo.
        name: String,
    },
    /// `client_id` or `redirect_uri` sent twice at the authorization endpoint (OAuth 2.1 section 4.1.2.1).
    #[error("{0} is repeated")]
    IdentifyingParameterRepeated(&'static str),
    /// A required parameter is missing or empty; `name` is printable or `(unprintable)`.
    #[error("{name} is missing")]
    ParameterMissing {
        /// The parameter, made safe to echo.
        name: String,
    },

    /// The `client_id` does not have the client identifier syntax.
    #[error("client_id is malformed")]
    ClientIdMalformed,
    /// No client has this `client_id`.
    #[error("unknown client")]
    UnknownClient,
    /// The `redirect_uri` is none of the client's registered ones (OAuth 2.1 section 4.1.2.1).
    #[error("redirect_uri does not match a registered redirect uri")]
    RedirectUriNotRegistered,
    /// The `redirect_uri` does not parse as a redirect URI.
    #[error("redirect_uri is malformed")]
    RedirectUriMalformed,
    /// The client registered no redirect URI at all.
    #[error("the client has no registered redirect uri")]
    NoRegisteredRedirectUri,
    /// No `redirect_uri` was sent and the client registered several (OAuth 2.1 section 2.3.2).
    #[error("redirect_uri is required: the client registered several")]
    RedirectUriAmbiguous,
    /// A `response_type` other than `code` (OAuth 2.1 section 4.1.1).
    #[error("only the code response type is supported")]
    ResponseTypeUnsupported,
    /// The client did not register the `authorization_code` grant and `code` response type.
    #[error("the client is not registered for the authorization_code grant")]
    CodeGrantNotRegistered,
    /// `request` or `request_uri` was sent (RFC 9101 is not implemented).
    #[error("request objects are not supported")]
    RequestObjectUnsupported,
    /// A `response_mode` other than `query`.
    #[error("only the query response mode is supported")]
    ResponseModeUnsupported,
    /// No `code_challenge` (OAuth 2.1 section 4.1.1: PKCE is required).
    #[error("code_challenge is required")]
    CodeChallengeMissing,
    /// The PKCE challenge or its method is refused (RFC 7636 section 4.3).
    #[error("{}", code_challenge_description(.0))]
    CodeChallenge(PkceError),
    /// The `dpop_jkt` is not a JWK SHA-256 thumbprint (RFC 9449 section 10).
    #[error("dpop_jkt is malformed")]
    DpopJktMalformed,
    /// The `prompt` is not understood or combines `none` with another value (OpenID Connect Core 1.0 section 3.1.2.1).
    #[error("{0}")]
    PromptInvalid(&'static str),
    /// The `max_age` is not a number of seconds (OpenID Connect Core 1.0 section 3.1.2.1).
    #[error("max_age must be a non-negative integer of seconds")]
    MaxAgeInvalid,
    /// `prompt=none`, but the end-user must sign in (OpenID Connect Core 1.0 section 3.1.2.6).
    #[error("prompt=none, but the end-user must sign in")]
    LoginRequired,
    /// `prompt=none`, but the end-user must consent (OpenID Connect Core 1.0 section 3.1.2.6).
    #[error("prompt=none, but the end-user must consent")]
    ConsentRequired,
    /// `prompt=none`, but some other interaction is needed (OpenID Connect Core 1.0 section 3.1.2.6).
    #[error("prompt=none, but the end-user must interact")]
    InteractionRequired,
    /// The resource owner denied the request (OAuth 2.1 section 4.1.2.1).
    #[error("the resource owner denied the request")]
    AccessDenied,

    /// A `resource` is not an absolute URI without a fragment (RFC 8707 section 2).
    #[error("resource is not a valid resource uri")]
    ResourceMalformed,
    /// A `resource` this authorization server issues no tokens for (RFC 8707 section 2).
    #[error("resource is not served by this authorization server")]
    ResourceNotServed,
    /// A token would have no audience.
    #[error("no resource for the access token")]
    NoAudience,
    /// The `scope` does not have the scope syntax (OAuth 2.1 section 3.2.2.1).
    #[error("scope is malformed")]
    ScopeMalformed,
    /// A requested scope no requested resource supports (RFC 9728 `scopes_supported`).
    #[error("scope holds a scope the resource does not support")]
    ScopeNotSupportedByResource,
    /// A requested scope the client's registered `scope` does not cover (RFC 7591 section 2).
    #[error("scope holds a scope the client did not register")]
    ScopeNotAllowedForClient,

    /// A `grant_type` this server does not implement (OAuth 2.1 section 3.2.4).
    #[error("grant_type is not supported")]
    GrantTypeUnsupported,
    /// The client did not register the grant type it used (OAuth 2.1 section 3.2.4).
    #[error("the client may not use this grant type")]
    GrantTypeNotAllowedForClient,
    /// A public client asked for `client_credentials` (OAuth 2.1 section 4.2).
    #[error("public clients may not use client_credentials")]
    PublicClientCredentials,
    /// The client id cannot be a token `sub` (RFC 9068 section 2.2).
    #[error("client id cannot be a token subject")]
    ClientIdNotASubject,
    /// An authorization code that is too long to be one of ours.
    #[error("authorization code is unknown")]
    CodeUnknown,
    /// A `code_verifier` that does not have the verifier syntax (RFC 7636 section 4.1).
    #[error("code_verifier is malformed")]
    CodeVerifierMalformed,
    /// The authorization code was refused (OAuth 2.1 section 4.1.3).
    #[error(transparent)]
    CodeRefused(CodeError),
    /// The authorization code had already issued tokens (OAuth 2.1 section 4.1.3: revoke them).
    #[error("authorization code was already used")]
    CodeAlreadyRedeemed,
    /// No refresh token has this value.
    #[error("refresh token is unknown")]
    RefreshTokenUnknown,
    /// The refresh token was refused (OAuth 2.1 section 4.3.1).
    #[error(transparent)]
    RefreshRefused(RefreshError),
    /// A refresh token presented after it was rotated (OAuth 2.1 section 4.3.1: the family is revoked).
    #[error("refresh token was already used")]
    RefreshTokenReused,
    /// Another request rotated the family first, twice.
    #[error("refresh token was rotated concurrently")]
    RefreshRotatedConcurrently,
    /// The DPoP proof was refused at the token endpoint (RFC 9449 sections 4.3 and 8).
    #[error(transparent)]
    DpopProof(DpopError),
    /// The DPoP proof's `jti` was seen before (RFC 9449 section 11.1).
    #[error("dpop proof was already used")]
    DpopProofReplayed,

    /// The `Authorization` header is not usable HTTP Basic credentials (RFC 6749 section 2.3.1).
    #[error("malformed authorization header")]
    AuthorizationHeaderMalformed,
    /// The client did not authenticate (OAuth 2.1 section 2.4); the reason is only logged.
    #[error("client authentication failed")]
    ClientAuthenticationFailed,
    /// More than one client authentication method in one request (OAuth 2.1 section 2.4).
    #[error("more than one client authentication method was used")]
    MultipleClientAuthenticationMethods,
    /// The `client_id` parameter names another client than the credentials.
    #[error("client_id does not match the authenticated client")]
    ClientIdMismatch,
    /// The client may not call the introspection endpoint (RFC 7662 section 2.1).
    #[error("the client may not introspect tokens")]
    IntrospectionNotPermitted,
    /// A client id URL this server does not accept as a metadata document URL.
    #[error(transparent)]
    ClientIdMetadataUrl(RegistrationError),
    /// The client id metadata document could not be fetched.
    #[error("the client id metadata document could not be fetched")]
    ClientIdMetadataUnavailable,
    /// The client id metadata document is invalid.
    #[error("the client id metadata document is invalid")]
    ClientIdMetadataInvalid,

    /// Registration metadata is refused (RFC 7591 section 3.2.2).
    #[error(transparent)]
    Registration(RegistrationError),
    /// The update sent a `client_secret` other than the issued one (RFC 7592 section 2.2).
    #[error("client_secret does not match the issued client secret")]
    ClientSecretMismatch,
    /// An update that moves between public, secret-based and other authentication methods.
    #[error(
        "token_endpoint_auth_method cannot change between public, secret-based and other methods"
    )]
    AuthMethodClassChanged,
    /// An update of an idempotently registered public client that changes its metadata.
    #[error(
        "the metadata of an idempotently registered public client cannot change; register the new metadata instead"
    )]
    IdempotentClientChanged,
    /// The registration access token is missing or invalid (RFC 7592 section 3).
    #[error("the registration access token is missing or invalid")]
    RegistrationTokenInvalid,
    /// The configured limit of registered clients is reached.
    #[error("the client registration limit is reached")]
    RegistrationLimitReached,
}

impl EngineError {
    /// Whether this is an internal failure rather than a refusal of the
    /// request: logged, and answered with a generic description.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Self::Store(_) | Self::Config(_) | Self::Keys(_) | Self::Internal(_)
        )
    }

    /// The description sent to the client (`error_description`): the
    /// refusal's text, or a generic text for internal failures (the detail
    /// goes to the log instead).
    pub fn public_description(&self) -> String {
        match self {
            Self::Store(StoreError::Backend(_)) => {
                "the service is temporarily unavailable".to_owned()
            }
            _ if self.is_internal() => "internal server error".to_owned(),
            _ => self.to_string(),
        }
    }

    /// The fresh nonce a `use_dpop_nonce` refusal sends in `DPoP-Nonce`
    /// (RFC 9449 section 8), if this is one.
    pub fn dpop_nonce(&self) -> Option<&DpopNonce> {
        match self {
            Self::DpopProof(error) => error.fresh_nonce(),
            _ => None,
        }
    }

    /// The RFC 6749 section 5.2 error response for this error, with
    /// `DPoP-Nonce` when the refusal carries one. Internal failures are logged
    /// (target `latchkey::engine`, without secrets) and answered with a
    /// generic description.
    pub fn to_response(&self) -> EndpointResponse {
        let code = ErrorCode::from(self);
        if self.is_internal() {
            tracing::error!(target: "latchkey::engine", error = %self, source = ?std::error::Error::source(self).map(ToString::to_string), "internal failure");
        }
        let response = EndpointResponse::error(code, &self.public_description());
        match self.dpop_nonce() {
            Some(nonce) => response.with_header(crate::DPOP_NONCE, nonce.as_str().to_owned()),
            None => response,
        }
    }
}

impl From<PromptNoneRefusal> for EngineError {
    fn from(refusal: PromptNoneRefusal) -> Self {
        match refusal {
            PromptNoneRefusal::LoginRequired => Self::LoginRequired,
            PromptNoneRefusal::ConsentRequired => Self::ConsentRequired,
            PromptNoneRefusal::InteractionRequired => Self::InteractionRequired,
        }
    }
}

impl From<&EngineError> for ErrorCode {
    /// The one place the engine chooses a wire code.
    fn from(error: &EngineError) -> Self {
        match error {
            EngineError::Store(store) => ErrorCode::from(store),
            EngineError::Config(_) | EngineError::Keys(_) | EngineError::Internal(_) => {
                ErrorCode::ServerError
            }
            EngineError::TooManyParameters
            | EngineError::ParameterTooLong
            | EngineError::ParameterRepeated { .. }
            | EngineError::IdentifyingParameterRepeated(_)
            | EngineError::ParameterMissing { .. }
            | EngineError::ClientIdMalformed
            | EngineError::RedirectUriNotRegistered
            | EngineError::RedirectUriMalformed
            | EngineError::NoRegisteredRedirectUri
            | EngineError::RedirectUriAmbiguous
            | EngineError::RequestObjectUnsupported
            | EngineError::ResponseModeUnsupported
            | EngineError::CodeChallengeMissing
            | EngineError::DpopJktMalformed
            | EngineError::PromptInvalid(_)
            | EngineError::MaxAgeInvalid
            | EngineError::MultipleClientAuthenticationMethods
            | EngineError::ClientIdMismatch
            | EngineError::ClientSecretMismatch => ErrorCode::InvalidRequest,
            EngineError::UnknownClient
            | EngineError::AuthorizationHeaderMalformed
            | EngineError::ClientAuthenticationFailed
            | EngineError::IntrospectionNotPermitted
            | EngineError::ClientIdMetadataUrl(_)
            | EngineError::ClientIdMetadataUnavailable
            | EngineError::ClientIdMetadataInvalid => ErrorCode::InvalidClient,
            EngineError::ResponseTypeUnsupported => ErrorCode::UnsupportedResponseType,
            EngineError::CodeGrantNotRegistered
            | EngineError::GrantTypeNotAllowedForClient
            | EngineError::PublicClientCredentials
            | EngineError::ClientIdNotASubject => ErrorCode::UnauthorizedClient,
            EngineError::CodeChallenge(pkce) => ErrorCode::from(pkce),
            EngineError::LoginRequired => ErrorCode::LoginRequired,
            EngineError::ConsentRequired => ErrorCode::ConsentRequired,
            EngineError::InteractionRequired => ErrorCode::InteractionRequired,
            EngineError::AccessDenied => ErrorCode::AccessDenied,
            EngineError::ResourceMalformed
            | EngineError::ResourceNotServed
            | EngineError::NoAudience => ErrorCode::InvalidTarget,
            EngineError::ScopeMalformed
            | EngineError::ScopeNotSupportedByResource
            | EngineError::ScopeNotAllowedForClient => ErrorCode::InvalidScope,
            EngineError::GrantTypeUnsupported => ErrorCode::UnsupportedGrantType,
            EngineError::CodeUnknown
            | EngineError::CodeVerifierMalformed
            | EngineError::CodeAlreadyRedeemed
            | EngineError::RefreshTokenUnknown
            | EngineError::RefreshTokenReused
            | EngineError::RefreshRotatedConcurrently => ErrorCode::InvalidGrant,
            EngineError::CodeRefused(code) => ErrorCode::from(code),
            EngineError::RefreshRefused(refresh) => ErrorCode::from(refresh),
            // RFC 9449 section 5 and 10: at the token endpoint a key that does
            // not match the grant's binding is `invalid_grant`.
            EngineError::DpopProof(dpop) => dpop.token_endpoint_code(),
            EngineError::DpopProofReplayed => ErrorCode::InvalidDpopProof,
            EngineError::Registration(registration) => ErrorCode::from(registration),
            EngineError::AuthMethodClassChanged | EngineError::IdempotentClientChanged => {
                ErrorCode::InvalidClientMetadata
            }
            EngineError::RegistrationTokenInvalid => ErrorCode::InvalidToken,
            EngineError::RegistrationLimitReached => ErrorCode::TemporarilyUnavailable,
        }
    }
}

/// A refusal at an endpoint where the client authenticates (token,
/// revocation, introspection): the error, and what else its response needs.
/// A `use_dpop_nonce` refusal carries its nonce in the error itself
/// ([`EngineError::dpop_nonce`]).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) error: EngineError,
    pub(crate) challenge: Challenge,
}

/// The `WWW-Authenticate` challenge a refusal adds to its response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// None.
    None,
    /// The client tried HTTP Basic: a 401 says `Basic realm=...` (RFC 6749 section 5.2).
    Basic,
}

/// The realm of the `WWW-Authenticate: Basic` challenge.
const BASIC_REALM: &str = "latchkey";

impl Refusal {
    /// `error`, answered with `challenge`.
    pub(crate) fn with_challenge(error: EngineError, challenge: Challenge) -> Self {
        Self { error, challenge }
    }

    /// The response, keeping the refusal (its error is reported beside it).
    pub(crate) fn to_response(&self) -> EndpointResponse {
        let response = self.error.to_response();
        match self.challenge {
            Challenge::Basic if response.status == 401 => response.with_header(
                http::header::WWW_AUTHENTICATE,
                format!("Basic realm=\"{BASIC_REALM}\""),
            ),
            Challenge::Basic | Challenge::None => response,
        }
    }
}

impl From<EngineError> for Refusal {
    fn from(error: EngineError) -> Self {
        Self::with_challenge(error, Challenge::None)
    }
}

/// What a request to the revocation or introspection endpoint came to
/// ([`crate::Engine::revoke_with_outcome`],
/// [`crate::Engine::introspect_with_outcome`]).
#[derive(Debug)]
pub struct EndpointOutcome {
    /// The response to send.
    pub response: EndpointResponse,
    /// Why the request was refused, if it was.
    pub refused: Option<EngineError>,
}

impl EndpointOutcome {
    pub(crate) fn ok(response: EndpointResponse) -> Self {
        Self {
            response,
            refused: None,
        }
    }

    pub(crate) fn refused(refusal: Refusal) -> Self {
        Self {
            response: refusal.to_response(),
            refused: Some(refusal.error),
        }
    }
}

/// The description of a refused PKCE challenge (RFC 7636 section 4.3).
fn code_challenge_description(error: &PkceError) -> &'static str {
    match error {
        PkceError::ChallengeMethodMissing => "code_challenge_method is required and must be S256",
        PkceError::ChallengeMethodPlain | PkceError::ChallengeMethodUnknown => {
            "transform algorithm not supported: code_challenge_method must be S256"
        }
        _ => "code_challenge is malformed",
    }
}

#[cfg(test)]
mod tests;
