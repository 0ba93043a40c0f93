use latchkey_jose::JoseError;
use latchkey_types::ErrorCode;
use latchkey_types::json::JsonError;

/// Why a provider's configuration, one of its documents, or a sign-in through
/// it was refused.
///
/// `Display` is one lowercase line without secrets, fit for `latchkey check`
/// and the log. The error page shows [`UpstreamError::page_message`] instead,
/// which names the provider and one of a few [`Reason`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    // --- Configuration -----------------------------------------------------
    /// A provider `id` is not 1 to 32 of `a-z`, `0-9` and `-`.
    #[error("provider id must be 1 to 32 characters of a-z, 0-9 and -")]
    ProviderIdInvalid,
    /// Two providers share an `id`.
    #[error("provider id {0} is used twice")]
    ProviderIdDuplicate(String),
    /// A `display_name` is empty, longer than 64 bytes, or holds a control character.
    #[error("display_name must be 1 to 64 characters without control characters")]
    DisplayNameInvalid,
    /// An `oidc` provider has no `issuer`.
    #[error("issuer is required for kind = \"oidc\"")]
    IssuerMissing,
    /// The `issuer` is not an https URL without query and fragment (OIDC Discovery 1.0 section 2).
    #[error("issuer must be an https url without query or fragment (http only on loopback)")]
    IssuerInvalid,
    /// An `oauth2` provider lacks an endpoint it needs.
    #[error("{0} is required for kind = \"oauth2\"")]
    EndpointMissing(&'static str),
    /// An endpoint is not an absolute https URL without fragment (RFC 6749 sections 3.1 and 3.2).
    #[error("{0} must be an https url without fragment (http only on loopback)")]
    EndpointInvalid(&'static str),
    /// A setting that only `oauth2` providers take was given to an `oidc` provider.
    #[error("{0} is only for kind = \"oauth2\"; oidc providers publish it in discovery")]
    SettingNotForOidc(&'static str),
    /// The `client_id` is empty, too long or not VSCHAR (RFC 6749 appendix A.1).
    #[error("client_id must be 1 to 2048 printable ascii characters")]
    ClientIdInvalid,
    /// Both `client_secret` and `client_secret_file` are set.
    #[error("set client_secret or client_secret_file, not both")]
    ClientSecretTwice,
    /// No client secret: no environment override, `client_secret` or `client_secret_file`.
    #[error("no client secret: set client_secret, client_secret_file or the environment variable")]
    ClientSecretMissing,
    /// The `client_secret_file` could not be read, or is empty.
    #[error("client_secret_file cannot be read or is empty")]
    ClientSecretFileUnreadable,
    /// A client secret holds a character outside VSCHAR, or is longer than 1024 bytes.
    #[error("client secret must be printable ascii of at most 1024 characters")]
    ClientSecretInvalid,
    /// A `scopes` entry is not a scope token (RFC 6749 section 3.3), or repeats one.
    #[error("scopes must be distinct scope tokens (rfc 6749 section 3.3)")]
    ScopeInvalid,
    /// An `oidc` provider's `scopes` lack `openid` (OIDC Core 1.0 section 3.1.2.1).
    #[error("scopes must include openid for kind = \"oidc\"")]
    OpenidScopeMissing,
    /// An `allowed_email_domains` entry is not a lowercase-able DNS name.
    #[error("allowed_email_domains entry {0:?} is not a domain name")]
    EmailDomainInvalid(String),
    /// An `allowed_subjects` entry is not a subject (OIDC Core 1.0 section 2).
    #[error("allowed_subjects entries must be 1 to 255 printable ascii characters")]
    AllowedSubjectInvalid,
    /// `subject_field` is empty or longer than 64 bytes.
    #[error("subject_field must be 1 to 64 characters")]
    SubjectFieldInvalid,

    // --- Discovery (OIDC Discovery 1.0) ------------------------------------
    /// The discovery document is not one strict JSON object within the size limit.
    #[error("discovery document: {0}")]
    DiscoveryJson(JsonError),
    /// The discovery document's `issuer` is not byte-identical to the configured one (section 4.3).
    #[error("discovery document names another issuer")]
    DiscoveryIssuerMismatch,
    /// A member the discovery document must have is absent (section 3).
    #[error("discovery document has no {0}")]
    DiscoveryMemberMissing(&'static str),
    /// A discovery member has the wrong type or an unusable value.
    #[error("discovery document has an invalid {0}")]
    DiscoveryMemberInvalid(&'static str),
    /// `response_types_supported` lacks `code` (OIDC Core 1.0 section 3.1).
    #[error("provider does not support response_type code")]
    DiscoveryNoCodeFlow,
    /// `code_challenge_methods_supported` is advertised without `S256` (RFC 9700 section 2.1.1).
    #[error("provider advertises pkce without S256")]
    DiscoveryNoS256,
    /// No advertised ID token algorithm is one Latchkey accepts.
    #[error(
        "provider signs id tokens with no algorithm latchkey accepts (RS256, PS256, ES256, EdDSA)"
    )]
    DiscoveryNoUsableAlgorithm,
    /// The token endpoint takes neither `client_secret_basic` nor `client_secret_post`.
    #[error("token endpoint supports neither client_secret_basic nor client_secret_post")]
    ClientAuthUnsupported,

    // --- The authorization response (callback) -----------------------------
    /// The callback query is longer than the limit.
    #[error("callback query is too long")]
    CallbackTooLarge,
    /// The callback query repeats a parameter (RFC 6749 section 3.1).
    #[error("callback query repeats a parameter")]
    CallbackDuplicateParameter,
    /// A callback parameter is malformed (not VSCHAR, too long).
    #[error("callback parameter {0} is malformed")]
    CallbackParameterInvalid(&'static str),
    /// The stored pending request could not be decoded.
    #[error("pending sign-in request is malformed")]
    PendingMalformed,
    /// The callback names another provider than the pending request.
    #[error("callback is for another provider than the pending request")]
    PendingProviderMismatch,
    /// The pending request is older than the configured maximum age.
    #[error("pending sign-in request expired")]
    Expired,
    /// The pending request was created later than now (beyond the leeway).
    #[error("pending sign-in request is dated in the future")]
    PendingFromTheFuture,
    /// The callback carries no `state` (RFC 6749 section 4.1.2).
    #[error("callback has no state")]
    StateMissing,
    /// The callback's `state` is not the pending request's (RFC 6749 section 10.12, RFC 9700 section 4.7).
    #[error("callback state does not match the pending request")]
    StateMismatch,
    /// The provider advertises RFC 9207 but the callback has no `iss` (RFC 9207 section 2.4).
    #[error("callback has no iss although the provider advertises it")]
    IssuerParameterMissing,
    /// The callback's `iss` is not the provider's issuer (RFC 9207 section 2.4).
    #[error("callback iss is not the provider's issuer")]
    IssuerParameterMismatch,
    /// The callback carries `iss` but the `oauth2` provider has no `issuer`
    /// configured to compare it with (RFC 9207 section 2.4).
    #[error(
        "callback has an iss parameter but this oauth2 provider has no issuer configured; set issuer to the provider's issuer identifier"
    )]
    IssuerParameterUnconfigured,
    /// The end-user or the provider denied the request (`error=access_denied`).
    #[error("sign-in was denied at the provider")]
    Denied,
    /// The provider answered the authorization request with another error (RFC 6749 section 4.1.2.1).
    #[error("provider answered with error {code}")]
    ProviderError {
        /// The `error` code the provider sent.
        code: ProviderErrorCode,
        /// Its `error_description` when it fits the RFC 6749 grammar, for the log only.
        description: Option<String>,
    },
    /// The callback carries neither `code` nor `error`.
    #[error("callback has no code")]
    CodeMissing,

    // --- The token response (RFC 6749 section 5) ---------------------------
    /// The token response is not one strict JSON object within the size limit.
    #[error("token response: {0}")]
    TokenResponseJson(JsonError),
    /// The token endpoint answered with an error (RFC 6749 section 5.2).
    /// The log line carries the sanitized `error_description`; the page
    /// shows only the code.
    #[error(
        "the provider refused the code: {error}{}",
        description.as_deref().map(|d| format!(" (error_description {d:?})")).unwrap_or_default()
    )]
    TokenRefused {
        /// The `error` code the token endpoint sent.
        code: ProviderErrorCode,
        /// The `error` value as sent, sanitized: the registered name, or at
        /// most 64 of `A-Z a-z 0-9 _ - . :` (anything else becomes `?`).
        error: String,
        /// Its `error_description`, sanitized to printable ASCII and cut at
        /// 200 characters; for the log only.
        description: Option<String>,
    },
    /// The token endpoint answered with a status other than 200 and no error body.
    #[error("token endpoint answered with http status {0}")]
    TokenStatus(u16),
    /// A token response member is absent.
    #[error("token response has no {0}")]
    TokenMemberMissing(&'static str),
    /// A token response member has the wrong type or value.
    #[error("token response has an invalid {0}")]
    TokenMemberInvalid(&'static str),
    /// `token_type` is not `Bearer` (OIDC Core 1.0 section 3.1.3.3, RFC 6750).
    #[error("token response token_type is not bearer")]
    TokenTypeNotBearer,

    // --- The ID token (OIDC Core 1.0 section 3.1.3.7) ----------------------
    /// The ID token is not a compact JWS Latchkey can read.
    #[error("id token is malformed: {0}")]
    IdTokenMalformed(JoseError),
    /// The ID token's `typ` header names another kind of JWT (RFC 8725 section 3.11).
    #[error("id token typ header names another kind of token")]
    IdTokenType,
    /// The `alg` is not both advertised by the provider and allowed by Latchkey (step 7).
    #[error("id token algorithm is not allowed")]
    IdTokenAlgorithmNotAllowed,
    /// No key of the provider's JWK Set matches the `kid`: refresh the keys once and retry (step 6).
    #[error("id token is signed with an unknown key")]
    IdTokenUnknownKey,
    /// The signature does not verify with the provider's key (step 6).
    #[error("id token signature does not verify")]
    IdTokenBadSignature,
    /// The claims are not one strict JSON object.
    #[error("id token claims: {0}")]
    IdTokenClaimsJson(JsonError),
    /// A required claim is absent.
    #[error("id token has no {0} claim")]
    IdTokenClaimMissing(&'static str),
    /// A claim has the wrong type or an unusable value.
    #[error("id token has an invalid {0} claim")]
    IdTokenClaimInvalid(&'static str),
    /// `iss` is not exactly the provider's issuer (step 2).
    #[error("id token is from another issuer")]
    IdTokenIssuerMismatch,
    /// `aud` does not contain the client id (step 3).
    #[error("id token is not for this client")]
    IdTokenAudienceMismatch,
    /// `aud` names audiences besides the client id (step 3: not trusted).
    #[error("id token names audiences latchkey does not trust")]
    IdTokenUntrustedAudience,
    /// `aud` has several values and there is no `azp` (steps 3 to 5).
    #[error("id token has several audiences and no azp")]
    IdTokenAuthorizedPartyMissing,
    /// `azp` is not the client id (step 5).
    #[error("id token azp is not this client")]
    IdTokenAuthorizedPartyMismatch,
    /// `exp` has passed, leeway included (step 9).
    #[error("id token expired")]
    IdTokenExpired,
    /// `iat` is later than now plus the leeway (step 10).
    #[error("id token is issued in the future")]
    IdTokenIssuedInFuture,
    /// `iat` is older than the configured maximum (step 10).
    #[error("id token was issued too long ago")]
    IdTokenTooOld,
    /// `nonce` is not the one sent (step 11).
    #[error("id token nonce does not match")]
    IdTokenNonceMismatch,
    /// `at_hash` does not match the access token (section 3.1.3.8, 3.2.2.9).
    #[error("id token at_hash does not match the access token")]
    AccessTokenHashMismatch,

    // --- The userinfo response (kind = "oauth2") ---------------------------
    /// The userinfo response is not one strict JSON object within the size limit.
    #[error("userinfo response: {0}")]
    UserinfoJson(JsonError),
    /// The userinfo response has no member at `subject_field`.
    #[error("userinfo response has no subject field")]
    UserinfoSubjectMissing,
    /// The subject is not a string or integer of 1 to 255 printable ASCII characters.
    #[error("userinfo subject is not a string or integer of 1 to 255 printable characters")]
    UserinfoSubjectInvalid,

    // --- Admission ---------------------------------------------------------
    /// `allowed_email_domains` is set and the identity has no verified email.
    #[error("no verified email address, and the provider restricts email domains")]
    EmailNotVerified,
    /// The verified email's domain is not in `allowed_email_domains`.
    #[error("email domain is not allowed")]
    EmailDomainNotAllowed,
    /// The upstream subject is not in `allowed_subjects`.
    #[error("account is not in allowed_subjects")]
    SubjectNotAllowed,
}

/// What went wrong, in the few words the error page shows (the list:
/// denied, state mismatch, expired, bad ID token, disallowed account).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The configuration or the provider's metadata is unusable.
    Misconfigured,
    /// The user (or the provider) said no.
    Denied,
    /// The callback does not belong to this browser's pending sign-in.
    StateMismatch,
    /// The pending sign-in is too old.
    Expired,
    /// The callback itself was malformed.
    BadCallback,
    /// The provider returned an error or an unusable response.
    ProviderFailed,
    /// The provider said it is temporarily unavailable.
    ProviderUnavailable,
    /// The ID token failed validation.
    BadIdToken,
    /// The account is not admitted by `allowed_email_domains` or `allowed_subjects`.
    NotAllowed,
}

impl Reason {
    /// The sentence the error page shows after the provider's name.
    pub const fn message(self) -> &'static str {
        match self {
            Self::Misconfigured => "this sign-in option is misconfigured; tell the administrator",
            Self::Denied => "the sign-in was denied at the provider",
            Self::StateMismatch => {
                "this sign-in response does not belong to this browser session; start again"
            }
            Self::Expired => "the sign-in took too long and expired; start again",
            Self::BadCallback => "the provider's response was malformed",
            Self::ProviderFailed => "the provider did not complete the sign-in",
            Self::ProviderUnavailable => "the provider is temporarily unavailable; try again later",
            Self::BadIdToken => "the provider's identity token was not valid",
            Self::NotAllowed => "this account is not allowed to sign in here",
        }
    }
}

impl UpstreamError {
    /// The category the error page shows. One exhaustive match: a new variant
    /// cannot ship without choosing its reason.
    pub const fn reason(&self) -> Reason {
        match self {
            Self::ProviderIdInvalid
            | Self::ProviderIdDuplicate(_)
            | Self::DisplayNameInvalid
            | Self::IssuerMissing
            | Self::IssuerInvalid
            | Self::EndpointMissing(_)
            | Self::EndpointInvalid(_)
            | Self::SettingNotForOidc(_)
            | Self::ClientIdInvalid
            | Self::ClientSecretTwice
            | Self::ClientSecretMissing
            | Self::ClientSecretFileUnreadable
            | Self::ClientSecretInvalid
            | Self::ScopeInvalid
            | Self::OpenidScopeMissing
            | Self::EmailDomainInvalid(_)
            | Self::AllowedSubjectInvalid
            | Self::SubjectFieldInvalid
            | Self::DiscoveryJson(_)
            | Self::DiscoveryIssuerMismatch
            | Self::DiscoveryMemberMissing(_)
            | Self::DiscoveryMemberInvalid(_)
            | Self::DiscoveryNoCodeFlow
            | Self::DiscoveryNoS256
            | Self::DiscoveryNoUsableAlgorithm
            | Self::ClientAuthUnsupported
            | Self::IssuerParameterUnconfigured => Reason::Misconfigured,
            Self::Denied => Reason::Denied,
            Self::PendingMalformed
            | Self::PendingProviderMismatch
            | Self::StateMissing
            | Self::StateMismatch => Reason::StateMismatch,
            Self::Expired | Self::PendingFromTheFuture => Reason::Expired,
            Self::CallbackTooLarge
            | Self::CallbackDuplicateParameter
            | Self::CallbackParameterInvalid(_)
            | Self::IssuerParameterMissing
            | Self::IssuerParameterMismatch
            | Self::CodeMissing => Reason::BadCallback,
            Self::ProviderError {
                code: ProviderErrorCode::TemporarilyUnavailable,
                ..
            } => Reason::ProviderUnavailable,
            Self::ProviderError { .. }
            | Self::TokenResponseJson(_)
            | Self::TokenRefused { .. }
            | Self::TokenStatus(_)
            | Self::TokenMemberMissing(_)
            | Self::TokenMemberInvalid(_)
            | Self::TokenTypeNotBearer
            | Self::UserinfoJson(_)
            | Self::UserinfoSubjectMissing
            | Self::UserinfoSubjectInvalid => Reason::ProviderFailed,
            Self::IdTokenMalformed(_)
            | Self::IdTokenType
            | Self::IdTokenAlgorithmNotAllowed
            | Self::IdTokenUnknownKey
            | Self::IdTokenBadSignature
            | Self::IdTokenClaimsJson(_)
            | Self::IdTokenClaimMissing(_)
            | Self::IdTokenClaimInvalid(_)
            | Self::IdTokenIssuerMismatch
            | Self::IdTokenAudienceMismatch
            | Self::IdTokenUntrustedAudience
            | Self::IdTokenAuthorizedPartyMissing
            | Self::IdTokenAuthorizedPartyMismatch
            | Self::IdTokenExpired
            | Self::IdTokenIssuedInFuture
            | Self::IdTokenTooOld
            | Self::IdTokenNonceMismatch
            | Self::AccessTokenHashMismatch => Reason::BadIdToken,
            Self::EmailNotVerified | Self::EmailDomainNotAllowed | Self::SubjectNotAllowed => {
                Reason::NotAllowed
            }
        }
    }

    /// The error page's line: the provider's display name, then the reason.
    /// The caller HTML-escapes it like any other text.
    pub fn page_message(&self, provider_display_name: &str) -> String {
        format!(
            "Sign-in with {provider_display_name} failed: {}.",
            self.page_reason()
        )
    }

    /// The reason the error page gives: [`Reason::message`], except that a
    /// token endpoint's refusal names its (sanitized) `error` code, so that
    /// the person can tell the administrator why (RFC 6749 section 5.2).
    pub fn page_reason(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Self::TokenRefused { error, .. } => {
                format!("the provider refused the code: {error}").into()
            }
            other => other.reason().message().into(),
        }
    }
}

/// The wire code, if the server ends the MCP client's authorization request
/// with an error redirect instead of (or after) the error page. One exhaustive
/// match (STYLE.md section 3).
impl From<&UpstreamError> for ErrorCode {
    fn from(error: &UpstreamError) -> Self {
        match error.reason() {
            Reason::Misconfigured => ErrorCode::ServerError,
            Reason::Denied | Reason::NotAllowed | Reason::BadIdToken => ErrorCode::AccessDenied,
            Reason::StateMismatch | Reason::Expired | Reason::BadCallback => {
                ErrorCode::InvalidRequest
            }
            Reason::ProviderFailed => ErrorCode::ServerError,
            Reason::ProviderUnavailable => ErrorCode::TemporarilyUnavailable,
        }
    }
}

/// An `error` code a provider sent back (RFC 6749 sections 4.1.2.1 and 5.2,
/// OIDC Core 1.0 section 3.1.2.6); anything else is [`ProviderErrorCode::Unregistered`],
/// so that no provider-chosen text reaches a page or a log line unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `unauthorized_client`.
    UnauthorizedClient,
    /// `access_denied`.
    AccessDenied,
    /// `unsupported_response_type`.
    UnsupportedResponseType,
    /// `invalid_scope`.
    InvalidScope,
    /// `server_error`.
    ServerError,
    /// `temporarily_unavailable`.
    TemporarilyUnavailable,
    /// `invalid_client`.
    InvalidClient,
    /// `invalid_grant`.
    InvalidGrant,
    /// `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `interaction_required`.
    InteractionRequired,
    /// `login_required`.
    LoginRequired,
    /// `account_selection_required`.
    AccountSelectionRequired,
    /// `consent_required`.
    ConsentRequired,
    /// Any other value.
    Unregistered,
}

impl ProviderErrorCode {
    /// Reads an `error` value; unknown values are [`Self::Unregistered`].
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest,
            "unauthorized_client" => Self::UnauthorizedClient,
            "access_denied" => Self::AccessDenied,
            "unsupported_response_type" => Self::UnsupportedResponseType,
            "invalid_scope" => Self::InvalidScope,
            "server_error" => Self::ServerError,
            "temporarily_unavailable" => Self::TemporarilyUnavailable,
            "invalid_client" => Self::InvalidClient,
            "invalid_grant" => Self::InvalidGrant,
            "unsupported_grant_type" => Self::UnsupportedGrantType,
            "interaction_required" => Self::InteractionRequired,
            "login_required" => Self::LoginRequired,
            "account_selection_required" => Self::AccountSelectionRequired,
            "consent_required" => Self::ConsentRequired,
            _ => Self::Unregistered,
        }
    }

    /// The registered name, or `unregistered`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InteractionRequired => "interaction_required",
            Self::LoginRequired => "login_required",
            Self::AccountSelectionRequired => "account_selection_required",
            Self::ConsentRequired => "consent_required",
            Self::Unregistered => "unregistered",
        }
    }
}

impl core::fmt::Display for ProviderErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
