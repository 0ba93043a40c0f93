//! Client metadata (RFC 7591 section 2) as typed values.

use core::fmt;

use latchkey_types::{Scope, json};
use latchkey_uri::RedirectUri;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::RegistrationError;
use crate::policy::Limits;

/// How a client authenticates at the token endpoint (RFC 7591 section 2,
/// `token_endpoint_auth_method`). A closed set: anything else is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenEndpointAuthMethod {
    /// `none`: a public client (OAuth 2.1 section 2.1), as MCP clients usually are.
    None,
    /// `client_secret_basic`: HTTP Basic with the client secret (the RFC 7591 default).
    ClientSecretBasic,
    /// `client_secret_post`: the client secret in the form body.
    ClientSecretPost,
    /// `private_key_jwt`: a JWT signed with a key from `jwks` or `jwks_uri` (RFC 7523).
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The method as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses a method name; unknown names are `UnsupportedAuthMethod`.
    pub fn parse(s: &str) -> Result<Self, RegistrationError> {
        match s {
            "none" => Ok(Self::None),
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            _ => Err(RegistrationError::UnsupportedAuthMethod),
        }
    }

    /// Whether a client using this method is public (OAuth 2.1 section 2.1).
    pub const fn is_public(self) -> bool {
        matches!(self, Self::None)
    }

    /// Whether the method authenticates with a client secret the server issues.
    pub const fn uses_client_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

impl fmt::Display for TokenEndpointAuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A grant type a client may use at the token endpoint (RFC 7591 section 2,
/// `grant_types`). A closed set: `implicit` and `password` are refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    /// `authorization_code` (OAuth 2.1 section 4.1).
    AuthorizationCode,
    /// `refresh_token` (OAuth 2.1 section 4.3).
    RefreshToken,
    /// `client_credentials` (OAuth 2.1 section 4.2), for confidential clients only.
    ClientCredentials,
}

impl GrantType {
    /// The grant type as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// Parses a grant type. `implicit` and `password`, which OAuth 2.1 removed,
    /// get their own errors; other unknown values are `UnsupportedGrantType`.
    pub fn parse(s: &str) -> Result<Self, RegistrationError> {
        match s {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            "implicit" => Err(RegistrationError::ImplicitGrantRefused),
            "password" => Err(RegistrationError::PasswordGrantRefused),
            _ => Err(RegistrationError::UnsupportedGrantType),
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A response type a client may use at the authorization endpoint (RFC 7591
/// section 2, `response_types`). Only `code` exists in OAuth 2.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResponseType {
    /// `code` (OAuth 2.1 section 4.1.1).
    Code,
}

impl ResponseType {
    /// The response type as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
        }
    }

    /// Parses a response type: `token` is `TokenResponseTypeRefused`, anything
    /// but `code` is `UnsupportedResponseType`.
    pub fn parse(s: &str) -> Result<Self, RegistrationError> {
        match s {
            "code" => Ok(Self::Code),
            "token" => Err(RegistrationError::TokenResponseTypeRefused),
            _ => Err(RegistrationError::UnsupportedResponseType),
        }
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of application (OpenID Connect Registration 1.0 `application_type`,
/// which MCP 2026-07-28 requires clients to send).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApplicationType {
    /// `web`: a browser-based application on a remote host.
    Web,
    /// `native`: desktop, mobile, CLI, or a locally hosted web application.
    Native,
}

impl ApplicationType {
    /// The value as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses `web` or `native`; anything else is `UnsupportedApplicationType`.
    pub fn parse(s: &str) -> Result<Self, RegistrationError> {
        match s {
            "web" => Ok(Self::Web),
            "native" => Ok(Self::Native),
            _ => Err(RegistrationError::UnsupportedApplicationType),
        }
    }
}

impl fmt::Display for ApplicationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A URL-valued metadata member (`client_uri`, `logo_uri`, `tos_uri`,
/// `policy_uri`, `jwks_uri`): an absolute `https` URL with a host and no
/// userinfo, printable ASCII only, kept exactly as sent.
///
/// RFC 7591 section 2 says these "MUST point to a valid web page" (or image, or
/// JWK Set); Latchkey cannot check that without fetching, so it checks the
/// form and requires `https` (MCP A12's spirit: nothing the user is shown or
/// the server may fetch travels in the clear).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MetadataUri(String);

impl MetadataUri {
    /// The URL as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn parse(s: &str, field: &'static str, max_len: usize) -> Result<Self, RegistrationError> {
        let invalid = RegistrationError::MetadataUriInvalid { field };
        if s.is_empty() {
            return Err(RegistrationError::FieldEmpty { field });
        }
        if s.len() > max_len {
            return Err(RegistrationError::FieldTooLong { field });
        }
        if s.bytes().any(|b| b <= b' ' || b >= 0x7f || b == b'\\') {
            return Err(invalid);
        }
        let url = url::Url::parse(s).map_err(|_| invalid.clone())?;
        if url.scheme() != "https"
            || url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(invalid);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for MetadataUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Client metadata (RFC 7591 section 2), parsed and typed.
///
/// Built only by this crate's validators, or by deserializing a stored record. Defaults are
/// resolved when parsing, so the getters return what the client is registered
/// with: `grant_types` defaults to `["authorization_code"]`, `response_types` to
/// `["code"]` when `authorization_code` is among the grant types (and to `[]`
/// otherwise, so that a `client_credentials` client need not send an empty
/// list to be consistent), and `token_endpoint_auth_method` to
/// `client_secret_basic` for a registration (RFC 7591 section 2) or `none` for a
/// client ID metadata document (which cannot hold a secret).
///
/// Lists are deduplicated; `grant_types` and `response_types` are sorted. A
/// `null` member counts as absent (RFC 7592 section 2.2). Members this crate
/// does not know are kept in [`extra`](Self::extra) and echoed, but never acted
/// on (RFC 7591 section 2: the server "MUST ignore" them), except that the
/// server-issued names (`client_id`, `client_secret`, `client_id_issued_at`,
/// `client_secret_expires_at`, `registration_access_token`,
/// `registration_client_uri`) are dropped so a client can never spoof them in
/// a response.
#[derive(Clone, Debug)]
pub struct ClientMetadata {
    pub(crate) redirect_uris: Vec<RedirectUri>,
    pub(crate) token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) response_types: Vec<ResponseType>,
    pub(crate) client_name: Option<String>,
    pub(crate) client_uri: Option<MetadataUri>,
    pub(crate) logo_uri: Option<MetadataUri>,
    pub(crate) scope: Option<Scope>,
    pub(crate) contacts: Vec<String>,
    pub(crate) tos_uri: Option<MetadataUri>,
    pub(crate) policy_uri: Option<MetadataUri>,
    pub(crate) jwks_uri: Option<MetadataUri>,
    pub(crate) jwks: Option<Value>,
    pub(crate) software_id: Option<String>,
    pub(crate) software_version: Option<String>,
    pub(crate) application_type: Option<ApplicationType>,
    pub(crate) extra: Map<String, Value>,
}

impl ClientMetadata {
    /// The registered redirect URIs, in the order sent, without duplicates.
    pub fn redirect_uris(&self) -> &[RedirectUri] {
        &self.redirect_uris
    }

    /// Whether `requested` matches a registered redirect URI (exactly, or with
    /// another port for a loopback URI: `latchkey_uri::RedirectUri::matches`, A13).
    pub fn redirect_uri_matches(&self, requested: &str) -> bool {
        self.redirect_uris.iter().any(|uri| uri.matches(requested))
    }

    /// Whether there is at least one redirect URI and every one is loopback
    /// (MCP A8: the consent page shows an extra warning for such clients).
    pub fn redirect_uris_all_loopback(&self) -> bool {
        !self.redirect_uris.is_empty() && self.redirect_uris.iter().all(RedirectUri::is_loopback)
    }

    /// The token endpoint authentication method, default applied.
    pub fn token_endpoint_auth_method(&self) -> TokenEndpointAuthMethod {
        self.token_endpoint_auth_method
    }

    /// Whether the client is public: it authenticates with `none` (OAuth 2.1 section 2.1).
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method.is_public()
    }

    /// The grant types, default applied, sorted, without duplicates.
    pub fn grant_types(&self) -> &[GrantType] {
        &self.grant_types
    }

    /// Whether `grant` is among the grant types.
    pub fn has_grant_type(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The response types, default applied, sorted, without duplicates.
    pub fn response_types(&self) -> &[ResponseType] {
        &self.response_types
    }

    /// `client_name`: the name shown to the user.
    pub fn client_name(&self) -> Option<&str> {
        self.client_name.as_deref()
    }

    /// `client_uri`: the client's home page.
    pub fn client_uri(&self) -> Option<&MetadataUri> {
        self.client_uri.as_ref()
    }

    /// `logo_uri`.
    pub fn logo_uri(&self) -> Option<&MetadataUri> {
        self.logo_uri.as_ref()
    }

    /// `scope`: the scopes the client may request.
    pub fn scope(&self) -> Option<&Scope> {
        self.scope.as_ref()
    }

    /// `contacts`, without duplicates.
    pub fn contacts(&self) -> &[String] {
        &self.contacts
    }

    /// `tos_uri`.
    pub fn tos_uri(&self) -> Option<&MetadataUri> {
        self.tos_uri.as_ref()
    }

    /// `policy_uri`.
    pub fn policy_uri(&self) -> Option<&MetadataUri> {
        self.policy_uri.as_ref()
    }

    /// `jwks_uri`.
    pub fn jwks_uri(&self) -> Option<&MetadataUri> {
        self.jwks_uri.as_ref()
    }

    /// `jwks`: a JWK Set of public keys, as sent.
    pub fn jwks(&self) -> Option<&Value> {
        self.jwks.as_ref()
    }

    /// `software_id`.
    pub fn software_id(&self) -> Option<&str> {
        self.software_id.as_deref()
    }

    /// `software_version`.
    pub fn software_version(&self) -> Option<&str> {
        self.software_version.as_deref()
    }

    /// `application_type` (MCP 2026-07-28), if sent.
    pub fn application_type(&self) -> Option<ApplicationType> {
        self.application_type
    }

    /// Members this crate does not know, kept as sent and never acted on.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The metadata as a JSON object, defaults written out (RFC 7591 section 3.2.1:
    /// the response carries "all registered metadata").
    pub fn to_json_object(&self) -> Map<String, Value> {
        let mut object = self.extra.clone();
        let strings = |items: &mut dyn Iterator<Item = &str>| -> Value {
            Value::Array(items.map(|s| Value::String(s.to_owned())).collect())
        };
        object.insert(
            "redirect_uris".to_owned(),
            strings(&mut self.redirect_uris.iter().map(RedirectUri::as_str)),
        );
        object.insert(
            "token_endpoint_auth_method".to_owned(),
            Value::String(self.token_endpoint_auth_method.as_str().to_owned()),
        );
        object.insert(
            "grant_types".to_owned(),
            strings(&mut self.grant_types.iter().map(|g| g.as_str())),
        );
        object.insert(
            "response_types".to_owned(),
            strings(&mut self.response_types.iter().map(|r| r.as_str())),
        );
        let mut optional = |name: &str, value: Option<&str>| {
            if let Some(value) = value {
                object.insert(name.to_owned(), Value::String(value.to_owned()));
            }
        };
        optional("client_name", self.client_name.as_deref());
        optional(
            "client_uri",
            self.client_uri.as_ref().map(MetadataUri::as_str),
        );
        optional("logo_uri", self.logo_uri.as_ref().map(MetadataUri::as_str));
        optional("tos_uri", self.tos_uri.as_ref().map(MetadataUri::as_str));
        optional(
            "policy_uri",
            self.policy_uri.as_ref().map(MetadataUri::as_str),
        );
        optional("jwks_uri", self.jwks_uri.as_ref().map(MetadataUri::as_str));
        optional("software_id", self.software_id.as_deref());
        optional("software_version", self.software_version.as_deref());
        optional(
            "application_type",
            self.application_type.map(ApplicationType::as_str),
        );
        if let Some(scope) = &self.scope {
            object.insert("scope".to_owned(), Value::String(scope.to_string()));
        }
        if !self.contacts.is_empty() {
            object.insert(
                "contacts".to_owned(),
                strings(&mut self.contacts.iter().map(String::as_str)),
            );
        }
        if let Some(jwks) = &self.jwks {
            object.insert("jwks".to_owned(), jwks.clone());
        }
        object
    }
}

impl Serialize for ClientMetadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json_object().serialize(serializer)
    }
}

/// For reading back a stored record (what [`Serialize`] wrote): the member
/// rules apply (duplicate members refused, types, syntax, redirect URIs) but no
/// size limits and no [`crate::RegistrationPolicy`], since the record passed
/// both when it was registered. Client input goes through
/// [`crate::validate_registration`] or [`crate::validate_update`] instead.
impl<'de> Deserialize<'de> for ClientMetadata {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json::StrictValue(value) = json::StrictValue::deserialize(deserializer)?;
        let Value::Object(object) = value else {
            return Err(serde::de::Error::custom(RegistrationError::NotAnObject));
        };
        parse_metadata(object, Origin::Registration, &Limits::UNBOUNDED)
            .map_err(serde::de::Error::custom)
    }
}

/// Where metadata comes from; decides the `token_endpoint_auth_method` default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// An RFC 7591 registration or RFC 7592 update: default `client_secret_basic`.
    Registration,
    /// A client ID metadata document, which cannot hold a secret: default `none`.
    Document,
}

/// Member names the server issues; never taken from a client's metadata.
pub(crate) const SERVER_ISSUED: [&str; 6] = [
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
];

/// Refuses a `software_statement` member (RFC 7591 section 3.1.1; see the crate docs).
fn refuse_software_statement(object: &Map<String, Value>) -> Result<(), RegistrationError> {
    if object.contains_key("software_statement") {
        return Err(RegistrationError::SoftwareStatementUnsupported);
    }
    Ok(())
}

/// Turns a JSON object into typed metadata, taking known members out and
/// keeping the rest in `extra`.
pub(crate) fn parse_metadata(
    mut object: Map<String, Value>,
    origin: Origin,
    limits: &Limits,
) -> Result<ClientMetadata, RegistrationError> {
    for name in SERVER_ISSUED {
        object.remove(name);
    }
    refuse_software_statement(&object)?;

    let token_endpoint_auth_method = match take_string(&mut object, "token_endpoint_auth_method")? {
        Some(method) => TokenEndpointAuthMethod::parse(&method)?,
        None if origin == Origin::Document => TokenEndpointAuthMethod::None,
        None => TokenEndpointAuthMethod::ClientSecretBasic,
    };

    let mut grant_types = match take_string_array(&mut object, "grant_types")? {
        Some(names) if names.is_empty() => return Err(RegistrationError::GrantTypesEmpty),
        Some(names) => names
            .iter()
            .map(|name| GrantType::parse(name))
            .collect::<Result<Vec<_>, _>>()?,
        None => vec![GrantType::AuthorizationCode],
    };
    grant_types.sort_unstable();
    grant_types.dedup();

    let mut response_types = match take_string_array(&mut object, "response_types")? {
        Some(names) => names
            .iter()
            .map(|name| ResponseType::parse(name))
            .collect::<Result<Vec<_>, _>>()?,
        None if grant_types.contains(&GrantType::AuthorizationCode) => vec![ResponseType::Code],
        None => Vec::new(),
    };
    response_types.sort_unstable();
    response_types.dedup();

    let redirect_uris = match take(&mut object, "redirect_uris") {
        None => Vec::new(),
        Some(Value::Array(items)) => parse_redirect_uris(items, limits)?,
        Some(_) => {
            return Err(RegistrationError::WrongType {
                field: "redirect_uris",
            });
        }
    };

    let client_name = take_text(&mut object, "client_name", limits.max_client_name_len)?;
    let client_uri = take_uri(&mut object, "client_uri", limits)?;
    let logo_uri = take_uri(&mut object, "logo_uri", limits)?;
    let tos_uri = take_uri(&mut object, "tos_uri", limits)?;
    let policy_uri = take_uri(&mut object, "policy_uri", limits)?;
    let jwks_uri = take_uri(&mut object, "jwks_uri", limits)?;
    let software_id = take_text(&mut object, "software_id", limits.max_string_len)?;
    let software_version = take_text(&mut object, "software_version", limits.max_string_len)?;

    let scope = match take_string(&mut object, "scope")? {
        // An empty scope string is no scope (RFC 7592 section 2.2 lets empty mean absent).
        None => None,
        Some(s) if s.is_empty() => None,
        Some(s) => Some(Scope::parse(&s).map_err(|_| RegistrationError::ScopeInvalid)?),
    };

    let contacts = match take_string_array(&mut object, "contacts")? {
        None => Vec::new(),
        Some(items) if items.len() > limits.max_contacts => {
            return Err(RegistrationError::TooManyContacts);
        }
        Some(items) => {
            let mut contacts: Vec<String> = Vec::with_capacity(items.len());
            for item in items {
                check_text(&item, "contacts", limits.max_contact_len)?;
                if !contacts.contains(&item) {
                    contacts.push(item);
                }
            }
            contacts
        }
    };

    let jwks = take(&mut object, "jwks");
    if let Some(jwks) = &jwks {
        check_jwks(jwks)?;
    }
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(RegistrationError::JwksAndJwksUri);
    }

    let application_type = take_string(&mut object, "application_type")?
        .map(|s| ApplicationType::parse(&s))
        .transpose()?;

    Ok(ClientMetadata {
        redirect_uris,
        token_endpoint_auth_method,
        grant_types,
        response_types,
        client_name,
        client_uri,
        logo_uri,
        scope,
        contacts,
        tos_uri,
        policy_uri,
        jwks_uri,
        jwks,
        software_id,
        software_version,
        application_type,
        extra: object,
    })
}

/// Removes `field`; `null` counts as absent.
pub(crate) fn take(object: &mut Map<String, Value>, field: &str) -> Option<Value> {
    match object.remove(field) {
        None | Some(Value::Null) => None,
        Some(value) => Some(value),
    }
}

/// Removes a string member.
pub(crate) fn take_string(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, RegistrationError> {
    match take(object, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RegistrationError::WrongType { field }),
    }
}

/// Removes an array-of-strings member.
fn take_string_array(
    object: &mut Map<String, Value>,
    field: &'static str,
) -> Result<Option<Vec<String>>, RegistrationError> {
    match take(object, field) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(RegistrationError::WrongType { field }),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(RegistrationError::WrongType { field }),
    }
}

/// Removes a human-readable text member and checks it.
fn take_text(
    object: &mut Map<String, Value>,
    field: &'static str,
    max_len: usize,
) -> Result<Option<String>, RegistrationError> {
    let text = take_string(object, field)?;
    if let Some(text) = &text {
        check_text(text, field, max_len)?;
    }
    Ok(text)
}

/// Removes a URL member and checks it.
fn take_uri(
    object: &mut Map<String, Value>,
    field: &'static str,
    limits: &Limits,
) -> Result<Option<MetadataUri>, RegistrationError> {
    take_string(object, field)?
        .map(|s| MetadataUri::parse(&s, field, limits.max_uri_len))
        .transpose()
}

/// Text shown to users: non-empty, bounded, and free of control characters
/// and bidirectional overrides (which can make a name read as another on a
/// consent page).
fn check_text(text: &str, field: &'static str, max_len: usize) -> Result<(), RegistrationError> {
    if text.is_empty() {
        return Err(RegistrationError::FieldEmpty { field });
    }
    if text.len() > max_len {
        return Err(RegistrationError::FieldTooLong { field });
    }
    let forbidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if text.chars().any(forbidden) {
        return Err(RegistrationError::FieldBadCharacter { field });
    }
    Ok(())
}

/// Parses redirect URIs: count bounded before any parsing, each length bounded
/// before `RedirectUri::parse` (OAuth 2.1 section 2.3, RFC 8252, A12), exact
/// duplicates dropped.
fn parse_redirect_uris(
    items: Vec<Value>,
    limits: &Limits,
) -> Result<Vec<RedirectUri>, RegistrationError> {
    if items.len() > limits.max_redirect_uris {
        return Err(RegistrationError::TooManyRedirectUris);
    }
    let mut uris: Vec<RedirectUri> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(s) = item else {
            return Err(RegistrationError::WrongType {
                field: "redirect_uris",
            });
        };
        if s.len() > limits.max_uri_len {
            return Err(RegistrationError::RedirectUriTooLong);
        }
        let uri = RedirectUri::parse(&s).map_err(RegistrationError::RedirectUri)?;
        if !uris.iter().any(|known| known.as_str() == uri.as_str()) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

/// JWK members that carry private or symmetric key material (RFC 7518 section 6).
const PRIVATE_JWK_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// `jwks` must be a JWK Set (RFC 7517 section 5) of public keys: an object with
/// a non-empty `keys` array of objects, each with a string `kty`, none holding
/// private members or being a symmetric (`oct`) key.
fn check_jwks(jwks: &Value) -> Result<(), RegistrationError> {
    let Some(Value::Array(keys)) = jwks.as_object().and_then(|set| set.get("keys")) else {
        return Err(RegistrationError::JwksInvalid);
    };
    if keys.is_empty() {
        return Err(RegistrationError::JwksInvalid);
    }
    for key in keys {
        let Some(key) = key.as_object() else {
            return Err(RegistrationError::JwksInvalid);
        };
        let Some(kty) = key.get("kty").and_then(Value::as_str) else {
            return Err(RegistrationError::JwksInvalid);
        };
        if kty == "oct" || PRIVATE_JWK_MEMBERS.iter().any(|m| key.contains_key(*m)) {
            return Err(RegistrationError::JwksHasPrivateKey);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_uri::UriError;

    fn parse(json: &str) -> Result<ClientMetadata, RegistrationError> {
        let object = json::parse_object(json.as_bytes(), Limits::strict_default().max_body_bytes)?;
        parse_metadata(object, Origin::Registration, &Limits::strict_default())
    }

    #[test]
    fn rfc_7591_section_2_defaults() {
        let metadata = parse(r#"{"redirect_uris":["https://c.example/cb"]}"#).unwrap();
        assert_eq!(metadata.grant_types(), &[GrantType::AuthorizationCode]);
        assert_eq!(metadata.response_types(), &[ResponseType::Code]);
        assert_eq!(
            metadata.token_endpoint_auth_method(),
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert!(!metadata.is_public());
        let document = parse_metadata(
            json::parse_object(
                br#"{"redirect_uris":["https://c.example/cb"]}"#,
                Limits::strict_default().max_body_bytes,
            )
            .unwrap(),
            Origin::Document,
            &Limits::strict_default(),
        )
        .unwrap();
        assert_eq!(
            document.token_endpoint_auth_method(),
            TokenEndpointAuthMethod::None
        );
        // Without authorization_code, response_types defaults to none at all.
        let machine = parse(r#"{"grant_types":["client_credentials"]}"#).unwrap();
        assert!(machine.response_types().is_empty());
    }

    #[test]
    fn rfc_7591_section_2_closed_enums_refuse_unknown_values() {
        assert_eq!(
            parse(r#"{"token_endpoint_auth_method":"client_secret_jwt"}"#).unwrap_err(),
            RegistrationError::UnsupportedAuthMethod
        );
        assert_eq!(
            parse(r#"{"token_endpoint_auth_method":"None"}"#).unwrap_err(),
            RegistrationError::UnsupportedAuthMethod
        );
        assert_eq!(
            parse(r#"{"grant_types":["implicit"]}"#).unwrap_err(),
            RegistrationError::ImplicitGrantRefused
        );
        assert_eq!(
            parse(r#"{"grant_types":["authorization_code","password"]}"#).unwrap_err(),
            RegistrationError::PasswordGrantRefused
        );
        assert_eq!(
            parse(r#"{"grant_types":["urn:ietf:params:oauth:grant-type:jwt-bearer"]}"#)
                .unwrap_err(),
            RegistrationError::UnsupportedGrantType
        );
        assert_eq!(
            parse(r#"{"grant_types":[]}"#).unwrap_err(),
            RegistrationError::GrantTypesEmpty
        );
        assert_eq!(
            parse(r#"{"response_types":["token"]}"#).unwrap_err(),
            RegistrationError::TokenResponseTypeRefused
        );
        assert_eq!(
            parse(r#"{"response_types":["code id_token"]}"#).unwrap_err(),
            RegistrationError::UnsupportedResponseType
        );
        assert_eq!(
            parse(r#"{"application_type":"browser"}"#).unwrap_err(),
            RegistrationError::UnsupportedApplicationType
        );
        for (method, text) in [
            (TokenEndpointAuthMethod::None, "none"),
            (
                TokenEndpointAuthMethod::ClientSecretBasic,
                "client_secret_basic",
            ),
            (
                TokenEndpointAuthMethod::ClientSecretPost,
                "client_secret_post",
            ),
            (TokenEndpointAuthMethod::PrivateKeyJwt, "private_key_jwt"),
        ] {
            assert_eq!(TokenEndpointAuthMethod::parse(text), Ok(method));
            assert_eq!(method.to_string(), text);
        }
    }

    #[test]
    fn wrong_json_types_name_the_field() {
        assert_eq!(
            parse(r#"{"redirect_uris":"https://c.example/cb"}"#).unwrap_err(),
            RegistrationError::WrongType {
                field: "redirect_uris"
            }
        );
        assert_eq!(
            parse(r#"{"redirect_uris":[1]}"#).unwrap_err(),
            RegistrationError::WrongType {
                field: "redirect_uris"
            }
        );
        assert_eq!(
            parse(r#"{"grant_types":"authorization_code"}"#).unwrap_err(),
            RegistrationError::WrongType {
                field: "grant_types"
            }
        );
        assert_eq!(
            parse(r#"{"client_name":7}"#).unwrap_err(),
            RegistrationError::WrongType {
                field: "client_name"
            }
        );
        assert_eq!(
            parse(r#"{"contacts":[null]}"#).unwrap_err(),
            RegistrationError::WrongType { field: "contacts" }
        );
        // null is absent (RFC 7592 section 2.2).
        let metadata = parse(r#"{"client_name":null,"grant_types":null}"#).unwrap();
        assert_eq!(metadata.client_name(), None);
        assert_eq!(metadata.grant_types(), &[GrantType::AuthorizationCode]);
    }

    #[test]
    fn redirect_uri_errors_come_from_latchkey_uri() {
        let err = parse(r#"{"redirect_uris":["http://evil.example/cb"]}"#).unwrap_err();
        assert_eq!(
            err,
            RegistrationError::RedirectUri(UriError::HttpNotLoopback)
        );
        let long = format!(
            r#"{{"redirect_uris":["https://c.example/{}"]}}"#,
            "a".repeat(2100)
        );
        assert_eq!(
            parse(&long).unwrap_err(),
            RegistrationError::RedirectUriTooLong
        );
        let many: Vec<String> = (0..11)
            .map(|i| format!("\"https://c.example/{i}\""))
            .collect();
        let many = format!(r#"{{"redirect_uris":[{}]}}"#, many.join(","));
        assert_eq!(
            parse(&many).unwrap_err(),
            RegistrationError::TooManyRedirectUris
        );
        let dup =
            parse(r#"{"redirect_uris":["https://c.example/a","https://c.example/a"]}"#).unwrap();
        assert_eq!(dup.redirect_uris().len(), 1);
    }

    #[test]
    fn text_fields_are_bounded_and_free_of_control_characters() {
        assert_eq!(
            parse(&format!(r#"{{"client_name":"{}"}}"#, "n".repeat(201))).unwrap_err(),
            RegistrationError::FieldTooLong {
                field: "client_name"
            }
        );
        assert!(parse(&format!(r#"{{"client_name":"{}"}}"#, "n".repeat(200))).is_ok());
        assert_eq!(
            parse(r#"{"client_name":""}"#).unwrap_err(),
            RegistrationError::FieldEmpty {
                field: "client_name"
            }
        );
        assert_eq!(
            parse(r#"{"client_name":"a\nb"}"#).unwrap_err(),
            RegistrationError::FieldBadCharacter {
                field: "client_name"
            }
        );
        // A right-to-left override makes "Evil\u202egoogle" display reversed.
        assert_eq!(
            parse(r#"{"client_name":"Evil\u202eelgooG"}"#).unwrap_err(),
            RegistrationError::FieldBadCharacter {
                field: "client_name"
            }
        );
        assert_eq!(
            parse(&format!(r#"{{"software_id":"{}"}}"#, "s".repeat(201))).unwrap_err(),
            RegistrationError::FieldTooLong {
                field: "software_id"
            }
        );
        assert_eq!(
            parse(r#"{"contacts":["a@x.example","b@x.example","c","d","e","f"]}"#).unwrap_err(),
            RegistrationError::TooManyContacts
        );
        assert_eq!(
            parse(&format!(r#"{{"contacts":["{}"]}}"#, "c".repeat(257))).unwrap_err(),
            RegistrationError::FieldTooLong { field: "contacts" }
        );
        assert_eq!(
            parse(r#"{"contacts":["a\u0000b"]}"#).unwrap_err(),
            RegistrationError::FieldBadCharacter { field: "contacts" }
        );
        let contacts = parse(r#"{"contacts":["a@x.example","a@x.example"]}"#).unwrap();
        assert_eq!(contacts.contacts(), &["a@x.example".to_owned()]);
        assert_eq!(
            parse(r#"{"client_name":"Caf\u00e9 \u30af"}"#)
                .unwrap()
                .client_name(),
            Some("Café ク")
        );
    }

    #[test]
    fn metadata_uris_are_https_urls_without_userinfo() {
        for (json, field) in [
            (r#"{"client_uri":"http://c.example"}"#, "client_uri"),
            (r#"{"logo_uri":"data:image/png;base64,AAAA"}"#, "logo_uri"),
            (r#"{"tos_uri":"https://user@c.example/tos"}"#, "tos_uri"),
            (r#"{"policy_uri":"/policy"}"#, "policy_uri"),
            (r#"{"jwks_uri":"javascript:alert(1)"}"#, "jwks_uri"),
            (r#"{"client_uri":"https://c.example/a b"}"#, "client_uri"),
        ] {
            assert_eq!(
                parse(json).unwrap_err(),
                RegistrationError::MetadataUriInvalid { field },
                "{json}"
            );
        }
        let ok = parse(r#"{"logo_uri":"https://c.example/logo.png"}"#).unwrap();
        assert_eq!(
            ok.logo_uri().unwrap().as_str(),
            "https://c.example/logo.png"
        );
    }

    #[test]
    fn rfc_7591_section_2_jwks_and_jwks_uri_are_exclusive() {
        assert_eq!(
            parse(r#"{"jwks_uri":"https://c.example/jwks","jwks":{"keys":[{"kty":"EC"}]}}"#)
                .unwrap_err(),
            RegistrationError::JwksAndJwksUri
        );
    }

    #[test]
    fn jwks_must_be_a_set_of_public_keys() {
        for bad in [
            r#"{"jwks":[]}"#,
            r#"{"jwks":{"keys":[]}}"#,
            r#"{"jwks":{"keys":{}}}"#,
            r#"{"jwks":{"keys":["x"]}}"#,
            r#"{"jwks":{"keys":[{"n":"x"}]}}"#,
        ] {
            assert_eq!(
                parse(bad).unwrap_err(),
                RegistrationError::JwksInvalid,
                "{bad}"
            );
        }
        assert_eq!(
            parse(r#"{"jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}]}}"#)
                .unwrap_err(),
            RegistrationError::JwksHasPrivateKey
        );
        assert_eq!(
            parse(r#"{"jwks":{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}}"#).unwrap_err(),
            RegistrationError::JwksHasPrivateKey
        );
    }

    #[test]
    fn scope_follows_rfc_6749_section_3_3() {
        assert_eq!(
            parse(r#"{"scope":"a  b"}"#).unwrap_err(),
            RegistrationError::ScopeInvalid
        );
        assert_eq!(parse(r#"{"scope":""}"#).unwrap().scope(), None);
        assert_eq!(
            parse(r#"{"scope":"b a"}"#)
                .unwrap()
                .scope()
                .unwrap()
                .to_string(),
            "a b"
        );
    }

    #[test]
    fn rfc_7591_section_2_unknown_members_are_kept_but_server_issued_ones_dropped() {
        let metadata = parse(
            r#"{"example_extension_parameter":"v","client_name#fr":"Nom",
                "client_id":"spoof","client_secret":"mine","registration_access_token":"x"}"#,
        )
        .unwrap();
        assert_eq!(metadata.extra().len(), 2);
        assert!(metadata.extra().contains_key("example_extension_parameter"));
        let object = metadata.to_json_object();
        for name in SERVER_ISSUED {
            assert!(!object.contains_key(name), "{name}");
        }
    }

    #[test]
    fn serde_round_trips_with_defaults_written_out() {
        let metadata = parse(
            r#"{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
                "client_name":"X","scope":"read","contacts":["a@x.example"],
                "application_type":"native","x-ext":{"nested":[1,2]}}"#,
        )
        .unwrap();
        let json = serde_json::to_string(&metadata).unwrap();
        let back: ClientMetadata = serde_json::from_str(&json).unwrap();
        assert_eq!(back.to_json_object(), metadata.to_json_object());
        let object = metadata.to_json_object();
        assert_eq!(
            object["grant_types"],
            serde_json::json!(["authorization_code"])
        );
        assert_eq!(object["response_types"], serde_json::json!(["code"]));
        assert!(serde_json::from_str::<ClientMetadata>("[]").is_err());
        // Stored records are read back without size limits: they passed a policy once.
        let uris: Vec<String> = (0..20).map(|i| format!("https://c.example/{i}")).collect();
        let stored = serde_json::json!({ "redirect_uris": uris }).to_string();
        assert_eq!(
            serde_json::from_str::<ClientMetadata>(&stored)
                .unwrap()
                .redirect_uris()
                .len(),
            20
        );
        let duplicate =
            serde_json::from_str::<ClientMetadata>(r#"{"client_name":"a","client_name":"b"}"#);
        assert!(
            duplicate
                .unwrap_err()
                .to_string()
                .contains("duplicate member")
        );
        assert!(serde_json::from_str::<ClientMetadata>(r#"{"grant_types":["implicit"]}"#).is_err());
    }
}
