//! RFC 7591 registration and RFC 7592 update requests.

use latchkey_types::{ClientId, TokenDigest, json};
use latchkey_uri::RedirectUriKind;
use serde_json::{Map, Value};

use crate::RegistrationError;
use crate::metadata::{
    self, ClientMetadata, GrantType, Origin, ResponseType, TokenEndpointAuthMethod,
};
use crate::policy::RegistrationPolicy;
use crate::response::ClientSecret;

/// Validates a dynamic registration request body (RFC 7591 section 3.1).
///
/// In order: the size limit (before parsing), one JSON object without repeated
/// member names, no `software_statement` (section 3.1.1, see the crate docs),
/// each member's type and syntax (section 2; redirect URIs through
/// `latchkey_uri`, errors `invalid_redirect_uri`), then the policy and the
/// consistency rules: grant and response types agree (section 2.1),
/// `refresh_token` comes with `authorization_code`, `client_credentials` only
/// for confidential clients, `authorization_code` needs a redirect URI,
/// `private_key_jwt` needs keys. Anything else wrong is `invalid_client_metadata`
/// (section 3.2.2).
pub fn validate_registration(
    body: &[u8],
    policy: &RegistrationPolicy,
) -> Result<ValidatedRegistration, RegistrationError> {
    let object = json::parse_object(body, policy.limits.max_body_bytes)?;
    let metadata = metadata::parse_metadata(object, Origin::Registration, &policy.limits)?;
    check_policy(&metadata, policy)?;
    Ok(ValidatedRegistration { metadata })
}

/// Validates an RFC 7592 section 2.2 update request for `client_id` (the client
/// the registration access token and the URL path named).
///
/// The body must carry `client_id` equal to `client_id`, and must not carry
/// `registration_access_token`, `registration_client_uri`,
/// `client_secret_expires_at` or `client_id_issued_at` (`invalid_request`).
/// A `client_secret` member is handed back in [`ValidatedUpdate::client_secret`]
/// for the engine to compare with the stored digest; the client never chooses
/// its secret. The metadata itself follows the same rules as
/// [`validate_registration`] and replaces the old metadata entirely: omitted
/// members are deleted, defaults apply again.
pub fn validate_update(
    body: &[u8],
    client_id: &ClientId,
    policy: &RegistrationPolicy,
) -> Result<ValidatedUpdate, RegistrationError> {
    let mut object = json::parse_object(body, policy.limits.max_body_bytes)?;
    for field in UPDATE_FORBIDDEN {
        if object.contains_key(field) {
            return Err(RegistrationError::UpdateForbiddenMember { field });
        }
    }
    match metadata::take_string(&mut object, "client_id")? {
        None => return Err(RegistrationError::UpdateClientIdMissing),
        Some(sent) if sent != client_id.as_str() => {
            return Err(RegistrationError::UpdateClientIdMismatch);
        }
        Some(_) => {}
    }
    let client_secret = metadata::take_string(&mut object, "client_secret")?.map(ClientSecret::new);
    let metadata = metadata::parse_metadata(object, Origin::Registration, &policy.limits)?;
    check_policy(&metadata, policy)?;
    Ok(ValidatedUpdate {
        registration: ValidatedRegistration { metadata },
        client_secret,
    })
}

/// Client metadata that passed a [`RegistrationPolicy`]: ready to be issued a
/// client id ([`crate::ClientRegistrationResponse::issue`]) or stored.
#[derive(Clone, Debug)]
pub struct ValidatedRegistration {
    metadata: ClientMetadata,
}

impl ValidatedRegistration {
    /// The registered metadata, defaults applied.
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    /// The metadata, consuming the registration.
    pub fn into_metadata(self) -> ClientMetadata {
        self.metadata
    }

    /// Whether the client is public (`token_endpoint_auth_method` `none`).
    pub fn is_public(&self) -> bool {
        self.metadata.is_public()
    }

    /// A SHA-256 digest of the metadata in canonical form, so the engine can
    /// hand the same public client back for the same registration (MCP clients
    /// register on every start) through
    /// [`crate::ClientRegistrationResponse::reissue`].
    ///
    /// Canonical form: every member with defaults written out, object members
    /// sorted by name at every depth, `redirect_uris`, `grant_types`,
    /// `response_types` and `contacts` sorted and deduplicated, `scope` in its
    /// sorted form, unknown members included. So member order and repeated list
    /// entries do not change it, and any change in meaning does.
    pub fn fingerprint(&self) -> TokenDigest {
        fingerprint(&self.metadata)
    }
}

/// A validated RFC 7592 update.
#[derive(Debug)]
pub struct ValidatedUpdate {
    registration: ValidatedRegistration,
    client_secret: Option<ClientSecret>,
}

impl ValidatedUpdate {
    /// The new metadata, which replaces the old.
    pub fn registration(&self) -> &ValidatedRegistration {
        &self.registration
    }

    /// The `client_secret` the client sent, if any. RFC 7592 section 2.2: it
    /// "MUST match the currently issued client secret"; compare its
    /// [`digest`](ClientSecret::digest) with the stored one.
    pub fn client_secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref()
    }

    /// The registration and the sent secret.
    pub fn into_parts(self) -> (ValidatedRegistration, Option<ClientSecret>) {
        (self.registration, self.client_secret)
    }
}

/// Members an update must not carry (RFC 7592 section 2.2).
const UPDATE_FORBIDDEN: [&str; 4] = [
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
];

/// The policy and consistency rules shared by registrations, updates and
/// client ID metadata documents.
pub(crate) fn check_policy(
    metadata: &ClientMetadata,
    policy: &RegistrationPolicy,
) -> Result<(), RegistrationError> {
    let method = metadata.token_endpoint_auth_method();
    if !policy.auth_methods.contains(&method) {
        return Err(RegistrationError::AuthMethodNotAllowed);
    }
    if metadata
        .grant_types()
        .iter()
        .any(|grant| !policy.grant_types.contains(grant))
    {
        return Err(RegistrationError::GrantTypeNotAllowed);
    }
    if metadata
        .response_types()
        .iter()
        .any(|response| !policy.response_types.contains(response))
    {
        return Err(RegistrationError::ResponseTypeNotAllowed);
    }
    // RFC 7591 section 2.1: authorization_code <-> code.
    let code_grant = metadata.has_grant_type(GrantType::AuthorizationCode);
    if code_grant != metadata.response_types().contains(&ResponseType::Code) {
        return Err(RegistrationError::GrantResponseMismatch);
    }
    if metadata.has_grant_type(GrantType::RefreshToken) && !code_grant {
        return Err(RegistrationError::RefreshWithoutAuthorizationCode);
    }
    if metadata.has_grant_type(GrantType::ClientCredentials) && method.is_public() {
        return Err(RegistrationError::ClientCredentialsForPublicClient);
    }
    // RFC 7591 section 2: "clients using flows with redirection MUST register
    // their redirection URI values".
    if code_grant && metadata.redirect_uris().is_empty() {
        return Err(RegistrationError::RedirectUrisMissing);
    }
    for uri in metadata.redirect_uris() {
        let kind = uri.kind();
        if matches!(kind, RedirectUriKind::Loopback) && !policy.allow_loopback_redirects {
            return Err(RegistrationError::LoopbackRedirectNotAllowed);
        }
        if matches!(kind, RedirectUriKind::PrivateUseScheme)
            && !policy.allow_private_use_scheme_redirects
        {
            return Err(RegistrationError::PrivateUseSchemeNotAllowed);
        }
    }
    if method == TokenEndpointAuthMethod::PrivateKeyJwt
        && metadata.jwks().is_none()
        && metadata.jwks_uri().is_none()
    {
        return Err(RegistrationError::PrivateKeyJwtWithoutKeys);
    }
    if let Some(scope) = metadata.scope()
        && !scope.is_subset(&policy.allowed_scopes)
    {
        return Err(RegistrationError::ScopeNotAllowed);
    }
    Ok(())
}

/// Domain separation for [`ValidatedRegistration::fingerprint`].
const FINGERPRINT_PREFIX: &str = "latchkey-registration metadata fingerprint v1\n";

/// The lists whose order and repetitions carry no meaning.
const SET_MEMBERS: [&str; 4] = ["redirect_uris", "grant_types", "response_types", "contacts"];

pub(crate) fn fingerprint(metadata: &ClientMetadata) -> TokenDigest {
    let mut object = metadata.to_json_object();
    for name in SET_MEMBERS {
        if let Some(Value::Array(items)) = object.get_mut(name) {
            let mut strings: Vec<String> = items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect();
            strings.sort_unstable();
            strings.dedup();
            *items = strings.into_iter().map(Value::String).collect();
        }
    }
    let mut canonical = String::from(FINGERPRINT_PREFIX);
    write_canonical_object(&object, &mut canonical);
    TokenDigest::of(canonical.as_bytes())
}

/// Writes JSON with object members sorted by name and no whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(object) => write_canonical_object(object, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::String(s) => write_canonical_string(s, out),
        Value::Null | Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
    }
}

fn write_canonical_object(object: &Map<String, Value>, out: &mut String) {
    let mut members: Vec<(&String, &Value)> = object.iter().collect();
    members.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (name, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_canonical_string(name, out);
        out.push(':');
        write_canonical(value, out);
    }
    out.push('}');
}

fn write_canonical_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_types::{ErrorCode, Scope};
    use latchkey_uri::UriError;
    use proptest::prelude::*;

    fn strict() -> RegistrationPolicy {
        RegistrationPolicy::strict_default()
    }

    fn register(json: &str) -> Result<ValidatedRegistration, RegistrationError> {
        validate_registration(json.as_bytes(), &strict())
    }

    fn register_err(json: &str) -> RegistrationError {
        register(json).unwrap_err()
    }

    /// RFC 7591 section 3.1, second example request, as published (the JWK's
    /// `n`, broken over lines "for display purposes only", joined).
    const RFC_7591_SECTION_3_1_REQUEST: &str = r#"{
      "redirect_uris": ["https://client.example.org/callback",
         "https://client.example.org/callback2"],
      "client_name": "My Example Client",
      "client_name#ja-Jpan-JP":
         "\u30AF\u30E9\u30A4\u30A2\u30F3\u30C8\u540D",
      "token_endpoint_auth_method": "client_secret_basic",
      "policy_uri": "https://client.example.org/policy.html",
      "jwks": {"keys": [{
         "e": "AQAB",
         "n": "nj3YJwsLUFl9BmpAbkOswCNVx17Eh9wMO-_AReZwBqfaWFcfGHrZXsIV2VMCNVNU8Tpb4obUaSXcRcQ-VMsfQPJm9IzgtRdAY8NN8Xb7PEcYyklBjvTtuPbpzIaqyiUepzUXNDFuAOOkrIol3WmflPUUgMKULBN0EUd1fpOD70pRM0rlp_gg_WNUKoW1V-3keYUJoXH9NztEDm_D2MQXj9eGOJJ8yPgGL8PAZMLe2R7jb9TxOCPDED7tY_TU4nFPlxptw59A42mldEmViXsKQt60s1SLboazxFKveqXC_jpLUt22OC6GUG63p-REw-ZOr3r845z50wMuzifQrMI9bQ",
         "kty": "RSA"
      }]},
      "example_extension_parameter": "example_value"
     }"#;

    /// RFC 7591 section 3.1, first example request.
    const RFC_7591_SECTION_3_1_FIRST_REQUEST: &str = r#"{
      "redirect_uris": [
        "https://client.example.org/callback",
        "https://client.example.org/callback2"],
      "client_name": "My Example Client",
      "client_name#ja-Jpan-JP":
         "\u30AF\u30E9\u30A4\u30A2\u30F3\u30C8\u540D",
      "token_endpoint_auth_method": "client_secret_basic",
      "logo_uri": "https://client.example.org/logo.png",
      "jwks_uri": "https://client.example.org/my_public_keys.jwks",
      "example_extension_parameter": "example_value"
     }"#;

    /// What an MCP client typically sends.
    const MCP_PUBLIC_CLIENT: &str = r#"{
      "client_name": "Example MCP Client",
      "redirect_uris": ["http://127.0.0.1:33418/callback", "http://localhost:33418/callback"],
      "grant_types": ["authorization_code", "refresh_token"],
      "response_types": ["code"],
      "token_endpoint_auth_method": "none",
      "application_type": "native"
    }"#;

    #[test]
    fn rfc_7591_section_3_1_example_requests_are_accepted() {
        for request in [
            RFC_7591_SECTION_3_1_REQUEST,
            RFC_7591_SECTION_3_1_FIRST_REQUEST,
        ] {
            let registration = register(request).unwrap();
            let metadata = registration.metadata();
            assert_eq!(metadata.redirect_uris().len(), 2);
            assert_eq!(metadata.client_name(), Some("My Example Client"));
            assert_eq!(
                metadata.token_endpoint_auth_method(),
                TokenEndpointAuthMethod::ClientSecretBasic
            );
            assert_eq!(metadata.grant_types(), &[GrantType::AuthorizationCode]);
            assert!(metadata.extra().contains_key("example_extension_parameter"));
            assert!(metadata.extra().contains_key("client_name#ja-Jpan-JP"));
            assert!(!registration.is_public());
        }
        let with_jwks = register(RFC_7591_SECTION_3_1_REQUEST).unwrap();
        assert_eq!(
            with_jwks.metadata().jwks().unwrap()["keys"][0]["kty"],
            "RSA"
        );
    }

    #[test]
    fn a13_mcp_public_client_registers_and_redirects_match_exactly() {
        let registration = register(MCP_PUBLIC_CLIENT).unwrap();
        assert!(registration.is_public());
        assert!(registration.metadata().redirect_uris_all_loopback());
        assert!(
            registration
                .metadata()
                .redirect_uri_matches("http://127.0.0.1:51000/callback")
        );
        assert!(
            !registration
                .metadata()
                .redirect_uri_matches("http://127.0.0.1:51000/other")
        );
    }

    #[test]
    fn body_size_is_limited_before_parsing() {
        let mut policy = strict();
        policy.limits.max_body_bytes = 16;
        assert_eq!(
            validate_registration(b"{\"client_name\":\"abcdefgh\"}", &policy).unwrap_err(),
            RegistrationError::BodyTooLarge
        );
        let padded = format!("{}{}", MCP_PUBLIC_CLIENT, " ".repeat(16 * 1024));
        assert_eq!(register_err(&padded), RegistrationError::BodyTooLarge);
    }

    #[test]
    fn rfc_7591_section_3_1_body_must_be_a_json_object_without_duplicates() {
        assert_eq!(register_err("not json"), RegistrationError::MalformedJson);
        assert_eq!(register_err("[]"), RegistrationError::NotAnObject);
        assert_eq!(
            register_err(
                r#"{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://evil.example/cb"]}"#
            ),
            RegistrationError::DuplicateMember
        );
        assert_eq!(
            ErrorCode::from(&RegistrationError::DuplicateMember),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn rfc_7591_section_3_1_1_software_statement_is_refused() {
        let err = register_err(
            r#"{"redirect_uris":["https://c.example/cb"],"software_statement":"eyJhbGciOiJSUzI1NiJ9.e30.sig"}"#,
        );
        assert_eq!(err, RegistrationError::SoftwareStatementUnsupported);
        assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidSoftwareStatement);
    }

    #[test]
    fn rfc_7591_section_3_2_2_redirect_errors_are_invalid_redirect_uri() {
        for (json, expected) in [
            (
                r#"{"redirect_uris":["https://c.example/cb#frag"]}"#,
                RegistrationError::RedirectUri(UriError::FragmentNotAllowed(
                    latchkey_uri::UriRole::Redirect,
                )),
            ),
            (
                r#"{"redirect_uris":["http://c.example/cb"]}"#,
                RegistrationError::RedirectUri(UriError::HttpNotLoopback),
            ),
            (
                r#"{"client_name":"x"}"#,
                RegistrationError::RedirectUrisMissing,
            ),
            (
                r#"{"redirect_uris":[]}"#,
                RegistrationError::RedirectUrisMissing,
            ),
        ] {
            let err = register_err(json);
            assert_eq!(err, expected, "{json}");
            assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidRedirectUri);
        }
    }

    #[test]
    fn a12_private_use_schemes_are_refused_by_default_and_loopback_is_a_policy_choice() {
        let native = r#"{"redirect_uris":["com.example.app:/oauth2redirect"],"token_endpoint_auth_method":"none"}"#;
        assert_eq!(
            register_err(native),
            RegistrationError::PrivateUseSchemeNotAllowed
        );
        let mut policy = strict();
        policy.allow_private_use_scheme_redirects = true;
        assert!(validate_registration(native.as_bytes(), &policy).is_ok());

        let mut no_loopback = strict();
        no_loopback.allow_loopback_redirects = false;
        assert_eq!(
            validate_registration(MCP_PUBLIC_CLIENT.as_bytes(), &no_loopback).unwrap_err(),
            RegistrationError::LoopbackRedirectNotAllowed
        );
    }

    #[test]
    fn rfc_7591_section_2_1_grant_and_response_types_must_agree() {
        assert_eq!(
            register_err(r#"{"redirect_uris":["https://c.example/cb"],"response_types":[]}"#),
            RegistrationError::GrantResponseMismatch
        );
        let mut policy = strict();
        policy.grant_types.push(GrantType::ClientCredentials);
        assert_eq!(
            validate_registration(
                br#"{"grant_types":["client_credentials"],"response_types":["code"]}"#,
                &policy
            )
            .unwrap_err(),
            RegistrationError::GrantResponseMismatch
        );
        assert_eq!(
            register_err(r#"{"grant_types":["refresh_token"],"response_types":[]}"#),
            RegistrationError::RefreshWithoutAuthorizationCode
        );
    }

    #[test]
    fn oauth_2_1_section_2_1_client_credentials_needs_a_confidential_client() {
        let mut policy = strict();
        policy.grant_types.push(GrantType::ClientCredentials);
        let public =
            br#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}"#;
        assert_eq!(
            validate_registration(public, &policy).unwrap_err(),
            RegistrationError::ClientCredentialsForPublicClient
        );
        let confidential = br#"{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_post"}"#;
        let ok = validate_registration(confidential, &policy).unwrap();
        assert!(ok.metadata().response_types().is_empty());
        assert!(ok.metadata().redirect_uris().is_empty());
        // Not allowed by the strict default at all.
        assert_eq!(
            validate_registration(confidential, &strict()).unwrap_err(),
            RegistrationError::GrantTypeNotAllowed
        );
    }

    #[test]
    fn policy_lists_are_enforced() {
        let mut public_only = strict();
        public_only.auth_methods = vec![TokenEndpointAuthMethod::None];
        assert!(!public_only.allows_confidential_clients());
        assert!(strict().allows_confidential_clients());
        assert_eq!(
            validate_registration(RFC_7591_SECTION_3_1_REQUEST.as_bytes(), &public_only)
                .unwrap_err(),
            RegistrationError::AuthMethodNotAllowed
        );
        assert_eq!(
            register_err(
                r#"{"redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://c.example/jwks"}"#
            ),
            RegistrationError::AuthMethodNotAllowed
        );
        let mut no_refresh = strict();
        no_refresh.grant_types = vec![GrantType::AuthorizationCode];
        assert_eq!(
            validate_registration(MCP_PUBLIC_CLIENT.as_bytes(), &no_refresh).unwrap_err(),
            RegistrationError::GrantTypeNotAllowed
        );
        let mut no_code = strict();
        no_code.response_types = Vec::new();
        assert_eq!(
            validate_registration(MCP_PUBLIC_CLIENT.as_bytes(), &no_code).unwrap_err(),
            RegistrationError::ResponseTypeNotAllowed
        );
    }

    #[test]
    fn private_key_jwt_needs_keys() {
        let mut policy = strict();
        policy
            .auth_methods
            .push(TokenEndpointAuthMethod::PrivateKeyJwt);
        let without =
            br#"{"redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#;
        assert_eq!(
            validate_registration(without, &policy).unwrap_err(),
            RegistrationError::PrivateKeyJwtWithoutKeys
        );
        let with = br#"{"redirect_uris":["https://c.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://c.example/jwks"}"#;
        assert!(validate_registration(with, &policy).is_ok());
    }

    #[test]
    fn scope_beyond_the_policy_is_refused_not_clamped() {
        let json = r#"{"redirect_uris":["https://c.example/cb"],"scope":"mcp:read mcp:admin"}"#;
        assert_eq!(register_err(json), RegistrationError::ScopeNotAllowed);
        let mut policy = strict();
        policy.allowed_scopes = Scope::parse("mcp:read mcp:write").unwrap();
        assert_eq!(
            validate_registration(json.as_bytes(), &policy).unwrap_err(),
            RegistrationError::ScopeNotAllowed
        );
        policy.allowed_scopes = Scope::parse("mcp:read mcp:write mcp:admin").unwrap();
        let ok = validate_registration(json.as_bytes(), &policy).unwrap();
        assert_eq!(
            ok.metadata().scope().unwrap().to_string(),
            "mcp:admin mcp:read"
        );
    }

    #[test]
    fn rfc_7592_section_2_2_update_rules() {
        let id = ClientId::parse("s6BhdRkqt3").unwrap();
        let policy = strict();
        let update = |json: &str| validate_update(json.as_bytes(), &id, &policy);
        // The RFC 7592 section 2.2 example, with jwks_uri allowed by our policy.
        let example = r#"{
          "client_id": "s6BhdRkqt3",
          "client_secret": "cf136dc3c1fc93f31185e5885805d",
          "redirect_uris": [
            "https://client.example.org/callback",
            "https://client.example.org/alt"],
          "grant_types": ["authorization_code", "refresh_token"],
          "token_endpoint_auth_method": "client_secret_basic",
          "jwks_uri": "https://client.example.org/my_public_keys.jwks",
          "client_name": "My New Example",
          "client_name#fr": "Mon Nouvel Exemple",
          "logo_uri": "https://client.example.org/newlogo.png",
          "logo_uri#fr": "https://client.example.org/fr/newlogo.png"
        }"#;
        let ok = update(example).unwrap();
        assert!(
            ok.client_secret()
                .unwrap()
                .digest()
                .matches(b"cf136dc3c1fc93f31185e5885805d")
        );
        assert!(!format!("{ok:?}").contains("cf136dc3"));
        assert_eq!(
            ok.registration().metadata().client_name(),
            Some("My New Example")
        );
        assert!(
            !ok.registration()
                .metadata()
                .extra()
                .contains_key("client_id")
        );

        assert_eq!(
            update(r#"{"redirect_uris":["https://c.example/cb"]}"#).unwrap_err(),
            RegistrationError::UpdateClientIdMissing
        );
        assert_eq!(
            update(r#"{"client_id":"other","redirect_uris":["https://c.example/cb"]}"#)
                .unwrap_err(),
            RegistrationError::UpdateClientIdMismatch
        );
        assert_eq!(
            update(r#"{"client_id":7}"#).unwrap_err(),
            RegistrationError::WrongType { field: "client_id" }
        );
        for field in UPDATE_FORBIDDEN {
            let json = format!(
                r#"{{"client_id":"s6BhdRkqt3","redirect_uris":["https://c.example/cb"],"{field}":"x"}}"#
            );
            let err = update(&json).unwrap_err();
            assert_eq!(err, RegistrationError::UpdateForbiddenMember { field });
            assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidRequest);
        }
        // The metadata rules still apply.
        assert_eq!(
            update(r#"{"client_id":"s6BhdRkqt3","grant_types":["implicit"]}"#).unwrap_err(),
            RegistrationError::ImplicitGrantRefused
        );
        assert_eq!(
            update(r#"{"client_id":"s6BhdRkqt3","redirect_uris":["https://c.example/cb"],"software_statement":"x"}"#)
                .unwrap_err(),
            RegistrationError::SoftwareStatementUnsupported
        );
    }

    #[test]
    fn fingerprint_ignores_member_order_and_repeated_list_entries() {
        let a = register(
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a","http://127.0.0.1/b"],
                "grant_types":["refresh_token","authorization_code"],"token_endpoint_auth_method":"none",
                "contacts":["b@x.example","a@x.example"],"x-ext":{"b":1,"a":[1,2]}}"#,
        )
        .unwrap();
        let b = register(
            r#"{"x-ext":{"a":[1,2],"b":1},"token_endpoint_auth_method":"none","contacts":["a@x.example","b@x.example","a@x.example"],
                "grant_types":["authorization_code","refresh_token","refresh_token"],
                "redirect_uris":["http://127.0.0.1/b","http://127.0.0.1/a","http://127.0.0.1/b"],"client_name":"X",
                "response_types":["code"]}"#,
        )
        .unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        // Defaults written out or omitted are the same registration.
        let c = register(r#"{"redirect_uris":["https://c.example/cb"]}"#).unwrap();
        let d = register(
            r#"{"redirect_uris":["https://c.example/cb"],"grant_types":["authorization_code"],
                "response_types":["code"],"token_endpoint_auth_method":"client_secret_basic"}"#,
        )
        .unwrap();
        assert_eq!(c.fingerprint(), d.fingerprint());
    }

    #[test]
    fn fingerprint_changes_with_any_change_in_meaning() {
        let base = r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none"}"#;
        let reference = register(base).unwrap().fingerprint();
        for changed in [
            r#"{"client_name":"Y","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none"}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/A"],"token_endpoint_auth_method":"none"}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a","http://127.0.0.1/b"],"token_endpoint_auth_method":"none"}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"client_secret_post"}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none","application_type":"native"}"#,
            r#"{"client_name":"X","redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none","x":1}"#,
            r#"{"redirect_uris":["http://127.0.0.1/a"],"token_endpoint_auth_method":"none"}"#,
        ] {
            assert_ne!(
                register(changed).unwrap().fingerprint(),
                reference,
                "{changed}"
            );
        }
    }

    #[test]
    fn canonical_strings_escape_quotes_backslashes_and_controls() {
        let mut out = String::new();
        write_canonical_string("a\"b\\c\u{1}é", &mut out);
        assert_eq!(out, "\"a\\\"b\\\\c\\u0001é\"");
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value, "a\"b\\c\u{1}é");
    }

    /// Arbitrary JSON whose objects mix known member names with others.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            prop_oneof![
                Just("authorization_code".to_owned()),
                Just("refresh_token".to_owned()),
                Just("code".to_owned()),
                Just("none".to_owned()),
                Just("http://127.0.0.1/cb".to_owned()),
                Just("https://c.example/cb".to_owned()),
                "\\PC{0,20}",
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let names = prop_oneof![
                Just("redirect_uris".to_owned()),
                Just("grant_types".to_owned()),
                Just("response_types".to_owned()),
                Just("token_endpoint_auth_method".to_owned()),
                Just("client_name".to_owned()),
                Just("scope".to_owned()),
                Just("jwks".to_owned()),
                Just("keys".to_owned()),
                Just("kty".to_owned()),
                Just("contacts".to_owned()),
                Just("logo_uri".to_owned()),
                Just("application_type".to_owned()),
                "[a-z_]{1,8}",
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(names, inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn valid_registration() -> impl Strategy<Value = Value> {
        let uris = proptest::collection::vec(
            prop_oneof![
                "http://127\\.0\\.0\\.1(:[1-9][0-9]{0,3})?/[a-z]{0,6}",
                "https://[a-z]{1,8}\\.example/[a-z]{0,6}",
            ],
            1..5,
        );
        (
            uris,
            proptest::option::of("[A-Za-z ]{1,30}"),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(proptest::sample::select(vec!["web", "native"])),
        )
            .prop_map(|(uris, name, public, refresh, app)| {
                let mut object = Map::new();
                object.insert("redirect_uris".into(), serde_json::json!(uris));
                if let Some(name) = name {
                    object.insert("client_name".into(), Value::String(name));
                }
                if public {
                    object.insert("token_endpoint_auth_method".into(), "none".into());
                }
                if refresh {
                    object.insert(
                        "grant_types".into(),
                        serde_json::json!(["refresh_token", "authorization_code"]),
                    );
                }
                if let Some(app) = app {
                    object.insert("application_type".into(), app.into());
                }
                Value::Object(object)
            })
    }

    proptest! {
        #[test]
        fn validation_never_panics_on_arbitrary_json(value in json_value()) {
            let body = serde_json::to_vec(&value).unwrap();
            match validate_registration(&body, &strict()) {
                Ok(registration) => {
                    let again = serde_json::to_vec(registration.metadata()).unwrap();
                    let back = validate_registration(&again, &strict()).unwrap();
                    prop_assert_eq!(back.fingerprint(), registration.fingerprint());
                }
                Err(error) => {
                    let _ = ErrorCode::from(&error);
                    prop_assert!(!error.to_string().is_empty());
                }
            }
        }

        #[test]
        fn accepted_registrations_re_validate_to_the_same_fingerprint(value in valid_registration()) {
            let body = serde_json::to_vec(&value).unwrap();
            let registration = validate_registration(&body, &strict()).unwrap();
            let again = serde_json::to_vec(registration.metadata()).unwrap();
            let back = validate_registration(&again, &strict()).unwrap();
            prop_assert_eq!(back.fingerprint(), registration.fingerprint());
            prop_assert_eq!(back.metadata().to_json_object(), registration.metadata().to_json_object());
        }
    }
}
