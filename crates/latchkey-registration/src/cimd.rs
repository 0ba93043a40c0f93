//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! as MCP 2025-11-25 pins it).

use latchkey_types::{ClientId, TokenDigest, json};
use serde_json::Value;

use crate::RegistrationError;
use crate::metadata::{self, ClientMetadata, Origin, TokenEndpointAuthMethod};
use crate::policy::RegistrationPolicy;
use crate::register::{check_policy, fingerprint};

/// Whether a `client_id` names a metadata document rather than a client this
/// server issued: it starts with `https:` (or `http:`), in any case.
///
/// The engine then parses it with [`ClientIdMetadataUrl::parse_with`], which
/// refuses it if it is not a valid metadata URL, so a URL-looking id can never
/// fall through to a lookup among issued ids. Issued ids are hex digits and
/// never look like this (CIMD draft section 6, "Supporting Both Pre-Registered
/// and Unregistered Clients").
pub fn is_client_id_metadata_url(client_id: &str) -> bool {
    let starts = |prefix: &str| {
        client_id
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts("https:") || starts("http:")
}

/// What a client ID metadata document may ask for, and which URLs may name one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CimdPolicy {
    /// The registration rules documents are held to (limits, grant types,
    /// redirect kinds, scopes). Shared-secret methods are refused whatever it
    /// lists (CIMD draft section 4.1).
    pub metadata: RegistrationPolicy,
    danger_loopback_http_urls: bool,
}

impl CimdPolicy {
    /// [`RegistrationPolicy::strict_default`] with documents of at most 5 KiB
    /// (CIMD draft section 6.6 recommends 5 kilobytes; A8), authentication
    /// `none` or `private_key_jwt` (CIMD draft section 6.2, MCP 2025-11-25), and
    /// only `https` document URLs.
    pub fn strict_default() -> Self {
        let mut metadata = RegistrationPolicy::strict_default();
        metadata.limits.max_body_bytes = 5 * 1024;
        metadata.auth_methods = vec![
            TokenEndpointAuthMethod::None,
            TokenEndpointAuthMethod::PrivateKeyJwt,
        ];
        Self {
            metadata,
            danger_loopback_http_urls: false,
        }
    }

    /// Also accepts `http` document URLs on a loopback host (`127.0.0.1`,
    /// `[::1]`, `localhost`), for tests against a local document server.
    /// Never in production: the document would travel unauthenticated.
    pub fn danger_allow_loopback_http_urls(mut self) -> Self {
        self.danger_loopback_http_urls = true;
        self
    }

    /// Whether loopback `http` document URLs are accepted.
    pub fn allows_loopback_http_urls(&self) -> bool {
        self.danger_loopback_http_urls
    }
}

/// A `client_id` that is a metadata document URL (CIMD draft section 3).
///
/// `https`, with a path beyond `/`, no `.`/`..` segments, no fragment, no
/// userinfo, no query (a SHOULD NOT the draft leaves open; Latchkey refuses),
/// any port. It must also be in the normalized form the `url` crate prints
/// (lowercase scheme and host, no default port, canonical percent-encoding),
/// so that one document has exactly one client id: the document's `client_id`
/// is then compared with it byte for byte (A7).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientIdMetadataUrl {
    url: url::Url,
}

impl ClientIdMetadataUrl {
    /// Parses under [`CimdPolicy::strict_default`] (`https` only).
    pub fn parse(s: &str) -> Result<Self, RegistrationError> {
        Self::parse_with(s, &CimdPolicy::strict_default())
    }

    /// Parses under `policy` (which may allow loopback `http`).
    pub fn parse_with(s: &str, policy: &CimdPolicy) -> Result<Self, RegistrationError> {
        if s.is_empty() || s.len() > ClientId::MAX_LEN {
            return Err(RegistrationError::MetadataUrlMalformed);
        }
        if s.contains('#') {
            return Err(RegistrationError::MetadataUrlFragment);
        }
        let url = url::Url::parse(s).map_err(|_| RegistrationError::MetadataUrlMalformed)?;
        let scheme_ok = match url.scheme() {
            "https" => true,
            "http" => policy.danger_loopback_http_urls && is_loopback_host(&url),
            _ => false,
        };
        if !scheme_ok {
            return Err(RegistrationError::MetadataUrlNotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RegistrationError::MetadataUrlUserinfo);
        }
        if url.query().is_some() {
            return Err(RegistrationError::MetadataUrlQuery);
        }
        if has_dot_segment(s) {
            return Err(RegistrationError::MetadataUrlDotSegment);
        }
        if url.path().is_empty() || url.path() == "/" {
            return Err(RegistrationError::MetadataUrlNoPath);
        }
        if url.as_str() != s {
            return Err(RegistrationError::MetadataUrlNotNormalized);
        }
        if ClientId::parse(s).is_err() {
            return Err(RegistrationError::MetadataUrlMalformed);
        }
        Ok(Self { url })
    }

    /// The URL, which is also the client id.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URL's host, to show on the consent page (CIMD draft section 6.4, A8).
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The client id this URL is.
    pub fn to_client_id(&self) -> ClientId {
        ClientId::parse(self.url.as_str()).expect("parse_with checked the URL is a valid client id")
    }
}

/// A client described by a valid metadata document.
#[derive(Clone, Debug)]
pub struct CimdClient {
    url: ClientIdMetadataUrl,
    metadata: ClientMetadata,
}

impl CimdClient {
    /// The document URL, which is the client id.
    pub fn url(&self) -> &ClientIdMetadataUrl {
        &self.url
    }

    /// The client id.
    pub fn client_id(&self) -> ClientId {
        self.url.to_client_id()
    }

    /// The metadata from the document, defaults applied
    /// (`token_endpoint_auth_method` defaults to `none`).
    pub fn metadata(&self) -> &ClientMetadata {
        &self.metadata
    }

    /// Whether every redirect URI is loopback: anyone can run a local listener
    /// and claim to be this client, so the consent page SHOULD warn (MCP
    /// 2025-11-25 "Localhost Redirect URI Risks", A8).
    pub fn redirect_uris_all_loopback(&self) -> bool {
        self.metadata.redirect_uris_all_loopback()
    }

    /// A digest of the metadata in canonical form, to notice when a document
    /// changes between fetches (CIMD draft section 6.3), computed as
    /// [`crate::ValidatedRegistration::fingerprint`] is.
    pub fn fingerprint(&self) -> TokenDigest {
        fingerprint(&self.metadata)
    }
}

/// Validates a fetched client ID metadata document `body` for `url`.
///
/// In order: size (5 KiB by default, before parsing; CIMD draft section 6.6,
/// A8), one JSON object without repeated members (A7), `client_id` present
/// and equal to `url` byte for byte (CIMD draft section 4.1, A7), no
/// `client_secret` or `client_secret_expires_at` and no shared-secret
/// `token_endpoint_auth_method` (section 4.1), no `software_statement`, the
/// registration rules for every member, `client_name` and at least one redirect
/// URI present (MCP 2025-11-25, A7), then `policy.metadata`.
pub fn validate_client_id_metadata_document(
    url: &ClientIdMetadataUrl,
    body: &[u8],
    policy: &CimdPolicy,
) -> Result<CimdClient, RegistrationError> {
    let mut object = json::parse_object(body, policy.metadata.limits.max_body_bytes)?;
    match metadata::take(&mut object, "client_id") {
        None => return Err(RegistrationError::DocumentClientIdMissing),
        Some(Value::String(id)) if id == url.as_str() => {}
        Some(Value::String(_)) => return Err(RegistrationError::DocumentClientIdMismatch),
        Some(_) => return Err(RegistrationError::WrongType { field: "client_id" }),
    }
    if object.contains_key("client_secret") || object.contains_key("client_secret_expires_at") {
        return Err(RegistrationError::DocumentHasClientSecret);
    }
    if let Some(Value::String(method)) = object.get("token_endpoint_auth_method")
        && is_shared_secret_method(method)
    {
        return Err(RegistrationError::DocumentSharedSecretAuthMethod);
    }
    let metadata = metadata::parse_metadata(object, Origin::Document, &policy.metadata.limits)?;
    if metadata.client_name().is_none() {
        return Err(RegistrationError::DocumentClientNameMissing);
    }
    if metadata.redirect_uris().is_empty() {
        return Err(RegistrationError::RedirectUrisMissing);
    }
    check_policy(&metadata, &policy.metadata)?;
    Ok(CimdClient {
        url: url.clone(),
        metadata,
    })
}

/// Methods "based around a shared symmetric secret" (CIMD draft section 4.1):
/// the three registered ones and anything else named `client_secret_*`.
fn is_shared_secret_method(method: &str) -> bool {
    method.starts_with("client_secret_")
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether the path of `s` (an absolute URL) has a `.` or `..` segment, also
/// percent-encoded (`%2e`), which `url` would silently resolve away.
fn has_dot_segment(s: &str) -> bool {
    let Some((_, after_scheme)) = s.split_once("://") else {
        return false;
    };
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let rest = after_scheme.get(path_start..).unwrap_or_default();
    let path = rest.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_types::ErrorCode;
    use latchkey_uri::UriError;
    use proptest::prelude::*;

    const URL: &str = "https://app.example.com/oauth/client-metadata.json";

    /// The example document from MCP 2025-11-25, "Example Metadata Document".
    const MCP_EXAMPLE: &str = r#"{
  "client_id": "https://app.example.com/oauth/client-metadata.json",
  "client_name": "Example MCP Client",
  "client_uri": "https://app.example.com",
  "logo_uri": "https://app.example.com/logo.png",
  "redirect_uris": [
    "http://127.0.0.1:3000/callback",
    "http://localhost:3000/callback"
  ],
  "grant_types": ["authorization_code"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none"
}"#;

    fn url() -> ClientIdMetadataUrl {
        ClientIdMetadataUrl::parse(URL).unwrap()
    }

    fn validate(body: &str) -> Result<CimdClient, RegistrationError> {
        validate_client_id_metadata_document(&url(), body.as_bytes(), &CimdPolicy::strict_default())
    }

    fn with(member: &str) -> String {
        format!(
            r#"{{"client_id":"{URL}","client_name":"C","redirect_uris":["https://app.example.com/cb"],{member}}}"#
        )
    }

    #[test]
    fn a7_mcp_2025_11_25_example_document_is_accepted() {
        let client = validate(MCP_EXAMPLE).unwrap();
        assert_eq!(client.client_id().as_str(), URL);
        assert_eq!(client.url().host(), "app.example.com");
        assert!(client.metadata().is_public());
        assert_eq!(client.metadata().client_name(), Some("Example MCP Client"));
        // A8: only loopback redirects, so the consent page warns.
        assert!(client.redirect_uris_all_loopback());
        assert!(
            client
                .metadata()
                .redirect_uri_matches("http://127.0.0.1:49152/callback")
        );
        let https = validate(&with(r#""x":1"#)).unwrap();
        assert!(!https.redirect_uris_all_loopback());
    }

    #[test]
    fn cimd_section_3_url_rules() {
        for (s, expected) in [
            (
                "http://app.example.com/c.json",
                RegistrationError::MetadataUrlNotHttps,
            ),
            (
                "ftp://app.example.com/c.json",
                RegistrationError::MetadataUrlNotHttps,
            ),
            (
                "https://app.example.com",
                RegistrationError::MetadataUrlNoPath,
            ),
            (
                "https://app.example.com/",
                RegistrationError::MetadataUrlNoPath,
            ),
            (
                "https://app.example.com/a/../c.json",
                RegistrationError::MetadataUrlDotSegment,
            ),
            (
                "https://app.example.com/./c.json",
                RegistrationError::MetadataUrlDotSegment,
            ),
            (
                "https://app.example.com/a/%2E%2e/c.json",
                RegistrationError::MetadataUrlDotSegment,
            ),
            (
                "https://app.example.com/c.json#x",
                RegistrationError::MetadataUrlFragment,
            ),
            (
                "https://app.example.com/c.json#",
                RegistrationError::MetadataUrlFragment,
            ),
            (
                "https://user@app.example.com/c.json",
                RegistrationError::MetadataUrlUserinfo,
            ),
            (
                "https://u:p@app.example.com/c.json",
                RegistrationError::MetadataUrlUserinfo,
            ),
            (
                "https://app.example.com/c.json?v=1",
                RegistrationError::MetadataUrlQuery,
            ),
            (
                "https://app.example.com/c.json?",
                RegistrationError::MetadataUrlQuery,
            ),
            (
                "HTTPS://app.example.com/c.json",
                RegistrationError::MetadataUrlNotNormalized,
            ),
            (
                "https://App.Example.com/c.json",
                RegistrationError::MetadataUrlNotNormalized,
            ),
            (
                "https://app.example.com:443/c.json",
                RegistrationError::MetadataUrlNotNormalized,
            ),
            (
                "https://app.example.com/a b",
                RegistrationError::MetadataUrlNotNormalized,
            ),
            (
                "https://app.example.com/caf\u{e9}",
                RegistrationError::MetadataUrlNotNormalized,
            ),
            ("not a url", RegistrationError::MetadataUrlMalformed),
            ("", RegistrationError::MetadataUrlMalformed),
        ] {
            let err = ClientIdMetadataUrl::parse(s).unwrap_err();
            assert_eq!(err, expected, "{s}");
            assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidClient);
        }
        let long = format!("https://app.example.com/{}", "a".repeat(ClientId::MAX_LEN));
        assert_eq!(
            ClientIdMetadataUrl::parse(&long).unwrap_err(),
            RegistrationError::MetadataUrlMalformed
        );
        // A port is allowed.
        let port = ClientIdMetadataUrl::parse("https://app.example.com:8443/c.json").unwrap();
        assert_eq!(port.as_str(), "https://app.example.com:8443/c.json");
        assert_eq!(port.host(), "app.example.com");
    }

    #[test]
    fn loopback_http_document_urls_need_the_danger_flag() {
        let s = "http://127.0.0.1:8080/client.json";
        assert_eq!(
            ClientIdMetadataUrl::parse(s).unwrap_err(),
            RegistrationError::MetadataUrlNotHttps
        );
        let danger = CimdPolicy::strict_default().danger_allow_loopback_http_urls();
        assert!(danger.allows_loopback_http_urls());
        assert!(!CimdPolicy::strict_default().allows_loopback_http_urls());
        assert_eq!(
            ClientIdMetadataUrl::parse_with(s, &danger)
                .unwrap()
                .as_str(),
            s
        );
        assert!(ClientIdMetadataUrl::parse_with("http://localhost/c.json", &danger).is_ok());
        assert!(ClientIdMetadataUrl::parse_with("http://[::1]:9/c.json", &danger).is_ok());
        assert_eq!(
            ClientIdMetadataUrl::parse_with("http://app.example.com/c.json", &danger).unwrap_err(),
            RegistrationError::MetadataUrlNotHttps
        );
    }

    #[test]
    fn is_client_id_metadata_url_spots_url_shaped_ids() {
        assert!(is_client_id_metadata_url(URL));
        assert!(is_client_id_metadata_url("HTTPS://x"));
        assert!(is_client_id_metadata_url("http://127.0.0.1/c.json"));
        assert!(!is_client_id_metadata_url("s6BhdRkqt3"));
        assert!(!is_client_id_metadata_url(
            "0123456789abcdef0123456789abcdef"
        ));
        assert!(!is_client_id_metadata_url("htt"));
        assert!(!is_client_id_metadata_url("é"));
    }

    #[test]
    fn a7_document_client_id_must_equal_the_url_byte_for_byte() {
        let missing = r#"{"client_name":"C","redirect_uris":["https://app.example.com/cb"]}"#;
        assert_eq!(
            validate(missing).unwrap_err(),
            RegistrationError::DocumentClientIdMissing
        );
        for other in [
            "https://app.example.com/oauth/client-metadata.json/",
            "https://APP.example.com/oauth/client-metadata.json",
            "https://app.example.com/oauth/client-metadata.jso",
            "https://evil.example/oauth/client-metadata.json",
        ] {
            let body = format!(
                r#"{{"client_id":"{other}","client_name":"C","redirect_uris":["https://app.example.com/cb"]}}"#
            );
            let err = validate(&body).unwrap_err();
            assert_eq!(err, RegistrationError::DocumentClientIdMismatch, "{other}");
            assert_eq!(ErrorCode::from(&err), ErrorCode::InvalidClient);
        }
        let number =
            r#"{"client_id":1,"client_name":"C","redirect_uris":["https://app.example.com/cb"]}"#;
        assert_eq!(
            validate(number).unwrap_err(),
            RegistrationError::WrongType { field: "client_id" }
        );
    }

    #[test]
    fn a7_a8_document_size_is_bounded_before_parsing() {
        let padded = format!("{}{}", MCP_EXAMPLE, " ".repeat(5 * 1024));
        assert_eq!(
            validate(&padded).unwrap_err(),
            RegistrationError::BodyTooLarge
        );
        assert_eq!(
            validate("nope").unwrap_err(),
            RegistrationError::MalformedJson
        );
        assert_eq!(validate("[1]").unwrap_err(), RegistrationError::NotAnObject);
        let mut policy = CimdPolicy::strict_default();
        policy.metadata.limits.max_body_bytes = 64 * 1024;
        assert!(validate_client_id_metadata_document(&url(), padded.as_bytes(), &policy).is_ok());
    }

    #[test]
    fn cimd_section_4_1_no_shared_secrets() {
        for method in [
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
        ] {
            let body = with(&format!(r#""token_endpoint_auth_method":"{method}""#));
            assert_eq!(
                validate(&body).unwrap_err(),
                RegistrationError::DocumentSharedSecretAuthMethod,
                "{method}"
            );
        }
        assert_eq!(
            validate(&with(r#""client_secret":"s""#)).unwrap_err(),
            RegistrationError::DocumentHasClientSecret
        );
        assert_eq!(
            validate(&with(r#""client_secret_expires_at":0"#)).unwrap_err(),
            RegistrationError::DocumentHasClientSecret
        );
        // Even a policy that lists secret methods cannot let them through.
        let mut loose = CimdPolicy::strict_default();
        loose
            .metadata
            .auth_methods
            .push(TokenEndpointAuthMethod::ClientSecretBasic);
        let body = with(r#""token_endpoint_auth_method":"client_secret_basic""#);
        assert_eq!(
            validate_client_id_metadata_document(&url(), body.as_bytes(), &loose).unwrap_err(),
            RegistrationError::DocumentSharedSecretAuthMethod
        );
    }

    #[test]
    fn cimd_section_6_2_private_key_jwt_needs_keys() {
        assert_eq!(
            validate(&with(r#""token_endpoint_auth_method":"private_key_jwt""#)).unwrap_err(),
            RegistrationError::PrivateKeyJwtWithoutKeys
        );
        let client = validate(&with(
            r#""token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks.json""#,
        ))
        .unwrap();
        assert!(!client.metadata().is_public());
        assert_eq!(
            validate(&with(r#""token_endpoint_auth_method":"tls_client_auth""#)).unwrap_err(),
            RegistrationError::UnsupportedAuthMethod
        );
    }

    #[test]
    fn a7_required_members_and_registration_rules_apply() {
        let no_name =
            format!(r#"{{"client_id":"{URL}","redirect_uris":["https://app.example.com/cb"]}}"#);
        assert_eq!(
            validate(&no_name).unwrap_err(),
            RegistrationError::DocumentClientNameMissing
        );
        let no_redirects = format!(r#"{{"client_id":"{URL}","client_name":"C"}}"#);
        assert_eq!(
            validate(&no_redirects).unwrap_err(),
            RegistrationError::RedirectUrisMissing
        );
        // MCP 2025-11-25 requires redirect_uris in every document, whatever the grants.
        let mut machines = CimdPolicy::strict_default();
        machines
            .metadata
            .grant_types
            .push(crate::GrantType::ClientCredentials);
        let machine = format!(
            r#"{{"client_id":"{URL}","client_name":"C","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks"}}"#
        );
        assert_eq!(
            validate_client_id_metadata_document(&url(), machine.as_bytes(), &machines)
                .unwrap_err(),
            RegistrationError::RedirectUrisMissing
        );
        assert_eq!(
            validate(&with(r#""software_statement":"x""#)).unwrap_err(),
            RegistrationError::SoftwareStatementUnsupported
        );
        assert_eq!(
            validate(&with(r#""grant_types":["implicit"]"#)).unwrap_err(),
            RegistrationError::ImplicitGrantRefused
        );
        let bad_redirect = format!(
            r#"{{"client_id":"{URL}","client_name":"C","redirect_uris":["http://evil.example/cb"]}}"#
        );
        assert_eq!(
            validate(&bad_redirect).unwrap_err(),
            RegistrationError::RedirectUri(UriError::HttpNotLoopback)
        );
        let duplicate = format!(r#"{{"client_id":"{URL}","client_id":"{URL}"}}"#);
        assert_eq!(
            validate(&duplicate).unwrap_err(),
            RegistrationError::DuplicateMember
        );
    }

    #[test]
    fn fingerprint_notices_document_changes() {
        let a = validate(MCP_EXAMPLE).unwrap().fingerprint();
        let b = validate(&MCP_EXAMPLE.replace("Example MCP Client", "Other"))
            .unwrap()
            .fingerprint();
        assert_ne!(a, b);
        let reordered = validate(&MCP_EXAMPLE.replace(
            r#""http://127.0.0.1:3000/callback",
    "http://localhost:3000/callback""#,
            r#""http://localhost:3000/callback",
    "http://127.0.0.1:3000/callback""#,
        ))
        .unwrap();
        assert_eq!(reordered.fingerprint(), a);
    }

    proptest! {
        #[test]
        fn url_parse_never_panics_and_accepted_urls_print_as_sent(s in "(https?://)?[a-zA-Z0-9.:@/?#%\\[\\]-]{0,40}") {
            let policy = CimdPolicy::strict_default().danger_allow_loopback_http_urls();
            if let Ok(url) = ClientIdMetadataUrl::parse_with(&s, &policy) {
                prop_assert_eq!(url.as_str(), s.as_str());
                prop_assert!(is_client_id_metadata_url(&s));
                prop_assert_eq!(ClientIdMetadataUrl::parse_with(url.as_str(), &policy), Ok(url.clone()));
            }
        }

        #[test]
        fn document_validation_never_panics(
            name in proptest::option::of("\\PC{0,12}"),
            method in proptest::option::of(proptest::sample::select(vec![
                "none", "private_key_jwt", "client_secret_post", "x",
            ])),
            uris in proptest::collection::vec("(https|http)://[a-z0-9.]{1,12}(:[0-9]{1,5})?/[a-z#?]{0,6}", 0..4),
            same_id in any::<bool>(),
        ) {
            let mut object = serde_json::Map::new();
            let id = if same_id { URL } else { "https://other.example/c.json" };
            object.insert("client_id".into(), id.into());
            if let Some(name) = name {
                object.insert("client_name".into(), name.into());
            }
            if let Some(method) = method {
                object.insert("token_endpoint_auth_method".into(), method.into());
            }
            object.insert("redirect_uris".into(), serde_json::json!(uris));
            let body = serde_json::to_vec(&object).unwrap();
            match validate(std::str::from_utf8(&body).unwrap()) {
                Ok(client) => {
                    prop_assert!(same_id);
                    prop_assert!(client.metadata().is_public());
                }
                Err(error) => {
                    let _ = ErrorCode::from(&error);
                }
            }
        }
    }
}
