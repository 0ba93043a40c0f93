//! `[[identity_providers]]`: what the operator writes, and what it becomes once validated.

use core::fmt;
use std::path::{Path, PathBuf};

use latchkey_types::{ClientId, ScopeToken, Subject};
use serde::{Deserialize, Deserializer};

use crate::UpstreamError;

latchkey_types::secret_type! {
    /// A provider's client secret (RFC 6749 section 2.3.1). It never prints:
    /// `Debug` shows `ClientSecret(..)`, and there is no `Display` or `Serialize`.
    pub struct ClientSecret;
}

impl<'de> Deserialize<'de> for ClientSecret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// The longest client secret accepted, in bytes.
const MAX_SECRET_LEN: usize = 1024;

/// A provider's `id`: 1 to 32 of `a-z`, `0-9` and `-`.
///
/// It becomes part of a URL path (`/latchkey/callback/{id}`), of an environment
/// variable name (`LATCHKEY_IDP_{ID}_CLIENT_SECRET`) and of every local subject
/// (`{id}:{sub}`), so it holds nothing that needs escaping in any of them, and
/// never `:` or `#`, which separate it from the upstream subject.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderId(String);

impl ProviderId {
    /// The longest id accepted.
    pub const MAX_LEN: usize = 32;

    /// Parses an id.
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        let valid = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid {
            return Err(UpstreamError::ProviderIdInvalid);
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The environment variable that overrides this provider's client secret:
    /// `LATCHKEY_IDP_{ID}_CLIENT_SECRET`, the id upper-cased with `-` as `_`.
    pub fn secret_env_var(&self) -> String {
        let id: String = self
            .0
            .bytes()
            .map(|b| match b {
                b'-' => '_',
                b => char::from(b.to_ascii_uppercase()),
            })
            .collect();
        format!("LATCHKEY_IDP_{id}_CLIENT_SECRET")
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a provider speaks OpenID Connect or plain OAuth 2.0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum ProviderKind {
    /// OpenID Connect: discovery, ID tokens (OIDC Core 1.0, Discovery 1.0).
    #[serde(rename = "oidc")]
    Oidc,
    /// OAuth 2.0 with a userinfo endpoint and no ID token (RFC 6749).
    #[serde(rename = "oauth2")]
    OAuth2,
}

/// How Latchkey authenticates to the provider's token endpoint (RFC 6749
/// section 2.3.1; OIDC Core 1.0 section 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret; what RFC 6749
    /// section 2.3.1 requires every server to support, and the default.
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 section 2.3.1,
    /// "NOT RECOMMENDED", but the only method some providers document).
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
}

impl ClientAuthMethod {
    /// The registered name (OIDC Core 1.0 section 9).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
        }
    }
}

/// One `[[identity_providers]]` table, as written (see the crate docs for the
/// TOML). Unknown keys are refused. Nothing here is checked until
/// [`ProviderConfig::validate`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Stable id; part of the callback URL and of every local subject.
    pub id: String,
    /// `"oidc"` or `"oauth2"`.
    pub kind: ProviderKind,
    /// The text of the "Continue with …" button.
    pub display_name: String,
    /// The OpenID Provider's issuer (required for `oidc`; for `oauth2`,
    /// optional, and then RFC 9207 `iss` is checked against it when sent).
    #[serde(default)]
    pub issuer: Option<String>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, inline.
    #[serde(default)]
    pub client_secret: Option<ClientSecret>,
    /// A file holding the client secret (trailing newline ignored).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// If set, only identities with a verified email in one of these domains.
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
    /// If set, only these upstream subjects.
    #[serde(default)]
    pub allowed_subjects: Vec<String>,
    /// `oauth2` only: the authorization endpoint.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// `oauth2` only: the token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// `oauth2` only: the userinfo endpoint.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// `oauth2` only: the userinfo member holding the subject (default `"id"`).
    #[serde(default)]
    pub subject_field: Option<String>,
    /// `oauth2` only: how to authenticate at the token endpoint (default
    /// `client_secret_basic`; oidc providers advertise theirs in discovery).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<ClientAuthMethod>,
}

impl ProviderConfig {
    /// Checks every field and returns the provider in typed form; the first
    /// problem found is the error, one line for `latchkey check`.
    ///
    /// Does not look at the client secret beyond "not both `client_secret` and
    /// `client_secret_file`"; [`Self::resolve_client_secret`] reads it.
    pub fn validate(&self) -> Result<Provider, UpstreamError> {
        let id = ProviderId::parse(&self.id)?;
        let display_name = self.display_name.trim();
        if display_name.is_empty()
            || display_name.len() > 64
            || display_name.chars().any(char::is_control)
        {
            return Err(UpstreamError::DisplayNameInvalid);
        }
        let issuer = match &self.issuer {
            Some(issuer) => Some(parse_issuer(issuer)?),
            None if self.kind == ProviderKind::Oidc => return Err(UpstreamError::IssuerMissing),
            None => None,
        };
        let client_id =
            ClientId::parse(&self.client_id).map_err(|_| UpstreamError::ClientIdInvalid)?;
        if self.client_secret.is_some() && self.client_secret_file.is_some() {
            return Err(UpstreamError::ClientSecretTwice);
        }
        let mut scopes: Vec<ScopeToken> = Vec::with_capacity(self.scopes.len());
        for scope in &self.scopes {
            let token = ScopeToken::parse(scope).map_err(|_| UpstreamError::ScopeInvalid)?;
            if scopes.contains(&token) {
                return Err(UpstreamError::ScopeInvalid);
            }
            scopes.push(token);
        }
        if self.kind == ProviderKind::Oidc && !scopes.iter().any(|s| s.as_str() == "openid") {
            return Err(UpstreamError::OpenidScopeMissing);
        }
        let allowed_email_domains = self
            .allowed_email_domains
            .iter()
            .map(|domain| EmailDomain::parse(domain))
            .collect::<Result<Vec<_>, _>>()?;
        let allowed_subjects = self
            .allowed_subjects
            .iter()
            .map(|sub| Subject::parse(sub).map_err(|_| UpstreamError::AllowedSubjectInvalid))
            .collect::<Result<Vec<_>, _>>()?;
        let oauth2 = match self.kind {
            ProviderKind::Oidc => {
                for (name, set) in [
                    (
                        "authorization_endpoint",
                        self.authorization_endpoint.is_some(),
                    ),
                    ("token_endpoint", self.token_endpoint.is_some()),
                    ("userinfo_endpoint", self.userinfo_endpoint.is_some()),
                    ("subject_field", self.subject_field.is_some()),
                    (
                        "token_endpoint_auth_method",
                        self.token_endpoint_auth_method.is_some(),
                    ),
                ] {
                    if set {
                        return Err(UpstreamError::SettingNotForOidc(name));
                    }
                }
                None
            }
            ProviderKind::OAuth2 => {
                let subject_field = self.subject_field.as_deref().unwrap_or("id");
                if subject_field.is_empty() || subject_field.len() > 64 {
                    return Err(UpstreamError::SubjectFieldInvalid);
                }
                Some(OAuth2Settings {
                    authorization_endpoint: required_endpoint(
                        self.authorization_endpoint.as_deref(),
                        "authorization_endpoint",
                    )?,
                    token_endpoint: required_endpoint(
                        self.token_endpoint.as_deref(),
                        "token_endpoint",
                    )?,
                    userinfo_endpoint: required_endpoint(
                        self.userinfo_endpoint.as_deref(),
                        "userinfo_endpoint",
                    )?,
                    subject_field: subject_field.to_owned(),
                    client_auth: self
                        .token_endpoint_auth_method
                        .unwrap_or(ClientAuthMethod::ClientSecretBasic),
                })
            }
        };
        Ok(Provider {
            id,
            kind: self.kind,
            display_name: display_name.to_owned(),
            issuer,
            client_id,
            scopes,
            allowed_email_domains,
            allowed_subjects,
            oauth2,
        })
    }

    /// The client secret, from the first of: `env_override` (the value of
    /// [`ProviderId::secret_env_var`], read by the caller), `client_secret`,
    /// and `client_secret_file` read through `read_file` (the caller's file
    /// reader: this crate does no I/O). A file's trailing line ending is
    /// dropped.
    pub fn resolve_client_secret(
        &self,
        env_override: Option<String>,
        read_file: impl FnOnce(&Path) -> Option<String>,
    ) -> Result<ClientSecret, UpstreamError> {
        let secret = if let Some(value) = env_override {
            value
        } else if let Some(secret) = &self.client_secret {
            secret.expose_secret().to_owned()
        } else if let Some(path) = &self.client_secret_file {
            let mut contents = read_file(path).ok_or(UpstreamError::ClientSecretFileUnreadable)?;
            let kept = contents.trim_end_matches(['\r', '\n']).len();
            contents.truncate(kept);
            if contents.is_empty() {
                return Err(UpstreamError::ClientSecretFileUnreadable);
            }
            contents
        } else {
            return Err(UpstreamError::ClientSecretMissing);
        };
        let secret = ClientSecret::new(secret);
        let text = secret.expose_secret();
        if text.is_empty()
            || text.len() > MAX_SECRET_LEN
            || !text.bytes().all(|b| (0x20..=0x7e).contains(&b))
        {
            return Err(UpstreamError::ClientSecretInvalid);
        }
        Ok(secret)
    }
}

/// Validates every provider and refuses two with the same id.
pub fn validate_all(configs: &[ProviderConfig]) -> Result<Vec<Provider>, UpstreamError> {
    let mut providers: Vec<Provider> = Vec::with_capacity(configs.len());
    for config in configs {
        let provider = config.validate()?;
        if providers.iter().any(|p| p.id == provider.id) {
            return Err(UpstreamError::ProviderIdDuplicate(provider.id.0));
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// A validated identity provider.
#[derive(Debug, Clone)]
pub struct Provider {
    id: ProviderId,
    kind: ProviderKind,
    display_name: String,
    issuer: Option<String>,
    client_id: ClientId,
    scopes: Vec<ScopeToken>,
    allowed_email_domains: Vec<EmailDomain>,
    allowed_subjects: Vec<Subject>,
    oauth2: Option<OAuth2Settings>,
}

/// What an `oauth2` provider is configured with instead of discovery.
#[derive(Debug, Clone)]
pub(crate) struct OAuth2Settings {
    pub(crate) authorization_endpoint: String,
    pub(crate) token_endpoint: String,
    pub(crate) userinfo_endpoint: String,
    pub(crate) subject_field: String,
    pub(crate) client_auth: ClientAuthMethod,
}

impl Provider {
    /// The provider's id.
    pub fn id(&self) -> &ProviderId {
        &self.id
    }

    /// `oidc` or `oauth2`.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The button text.
    pub fn display_name(&self) -> &str {
        &self.display_name
    }

    /// The configured issuer, exactly as written.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The client id registered at the provider.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The scopes requested, in configuration order.
    pub fn scopes(&self) -> &[ScopeToken] {
        &self.scopes
    }

    /// The `allowed_email_domains`, lower-cased.
    pub fn allowed_email_domains(&self) -> &[EmailDomain] {
        &self.allowed_email_domains
    }

    /// The `allowed_subjects`.
    pub fn allowed_subjects(&self) -> &[Subject] {
        &self.allowed_subjects
    }

    /// For `oauth2`, the userinfo member that holds the subject.
    pub fn subject_field(&self) -> Option<&str> {
        self.oauth2.as_ref().map(|o| o.subject_field.as_str())
    }

    /// Where an `oidc` provider's discovery document lives (OIDC Discovery 1.0
    /// section 4: the issuer without a terminating `/`, then
    /// `/.well-known/openid-configuration`); `None` for `oauth2`.
    pub fn discovery_url(&self) -> Option<String> {
        if self.kind != ProviderKind::Oidc {
            return None;
        }
        let issuer = self.issuer.as_deref()?;
        Some(format!(
            "{}/.well-known/openid-configuration",
            issuer.strip_suffix('/').unwrap_or(issuer)
        ))
    }

    pub(crate) fn oauth2_settings(&self) -> Option<&OAuth2Settings> {
        self.oauth2.as_ref()
    }
}

/// An `allowed_email_domains` entry: a DNS name in ASCII (A-labels for
/// internationalized names), stored lower-case. Compared with the part of an
/// email after its last `@`, whole and case-insensitively: never as a suffix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailDomain(String);

impl EmailDomain {
    /// Parses a domain: dot-separated labels of letters, digits and `-` (not at
    /// either end of a label), at most 253 bytes.
    pub fn parse(s: &str) -> Result<Self, UpstreamError> {
        let invalid = || UpstreamError::EmailDomainInvalid(s.chars().take(64).collect());
        if s.is_empty() || s.len() > 253 {
            return Err(invalid());
        }
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err(invalid());
            }
        }
        Ok(Self(s.to_ascii_lowercase()))
    }

    /// The domain, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `domain` (an email's part after its last `@`) is this domain,
    /// compared ASCII-case-insensitively and whole.
    pub fn matches(&self, domain: &str) -> bool {
        domain.eq_ignore_ascii_case(&self.0)
    }
}

/// The exact redirect URI Latchkey registers at every provider:
/// `{latchkey issuer}/latchkey/callback/{provider id}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackUrl(String);

impl CallbackUrl {
    /// Builds the callback URL from Latchkey's own issuer (one terminating `/`
    /// dropped) and the provider id.
    pub fn new(latchkey_issuer: &str, provider: &ProviderId) -> Result<Self, UpstreamError> {
        parse_issuer(latchkey_issuer)?;
        let base = latchkey_issuer.strip_suffix('/').unwrap_or(latchkey_issuer);
        Ok(Self(format!(
            "{base}/latchkey/callback/{}",
            provider.as_str()
        )))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ---------------------------------------------------------------------------
// Helpers.

/// An issuer: an `https` URL (http only on a loopback host) with no query and
/// no fragment (OIDC Discovery 1.0 section 2, RFC 8414 section 2), kept exactly
/// as written because issuers compare byte for byte.
fn parse_issuer(s: &str) -> Result<String, UpstreamError> {
    let url = url::Url::parse(s).map_err(|_| UpstreamError::IssuerInvalid)?;
    if !secure_origin(&url) || url.query().is_some() || url.fragment().is_some() {
        return Err(UpstreamError::IssuerInvalid);
    }
    Ok(s.to_owned())
}

fn required_endpoint(s: Option<&str>, name: &'static str) -> Result<String, UpstreamError> {
    let s = s.ok_or(UpstreamError::EndpointMissing(name))?;
    if endpoint_ok(s) {
        Ok(s.to_owned())
    } else {
        Err(UpstreamError::EndpointInvalid(name))
    }
}

/// An endpoint: an absolute `https` URL (http only on a loopback host) without
/// fragment; a query is allowed (RFC 6749 sections 3.1 and 3.2).
pub(crate) fn endpoint_ok(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|url| secure_origin(&url) && url.fragment().is_none())
}

/// `https` with a host and no userinfo, or `http` on a loopback host (RFC 8252
/// section 8.3, for tests and local providers).
fn secure_origin(url: &url::Url) -> bool {
    if !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(domain))) => domain == "localhost",
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc_toml(extra: &str) -> String {
        format!(
            r#"
            id = "corp"
            kind = "oidc"
            display_name = "Corp SSO"
            issuer = "https://login.example.com"
            client_id = "latchkey"
            client_secret = "s3cret"
            scopes = ["openid", "email", "profile"]
            {extra}
            "#
        )
    }

    fn parse(toml_text: &str) -> ProviderConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_issue_s_toml_interface_parses_and_validates() {
        let config = parse(&oidc_toml(
            r#"allowed_email_domains = ["Example.com"]
               allowed_subjects = []"#,
        ));
        let provider = config.validate().unwrap();
        assert_eq!(provider.id().as_str(), "corp");
        assert_eq!(provider.kind(), ProviderKind::Oidc);
        assert_eq!(provider.display_name(), "Corp SSO");
        assert_eq!(provider.issuer(), Some("https://login.example.com"));
        assert_eq!(provider.client_id().as_str(), "latchkey");
        assert_eq!(provider.allowed_email_domains()[0].as_str(), "example.com");
        assert_eq!(
            provider.discovery_url().as_deref(),
            Some("https://login.example.com/.well-known/openid-configuration")
        );

        let github: ProviderConfig = toml::from_str(
            r#"
            id = "github"
            kind = "oauth2"
            display_name = "GitHub"
            client_id = "Iv1.0123"
            client_secret_file = "/run/secrets/github"
            scopes = ["read:user"]
            authorization_endpoint = "https://github.com/login/oauth/authorize"
            token_endpoint = "https://github.com/login/oauth/access_token"
            userinfo_endpoint = "https://api.github.com/user"
            subject_field = "id"
            token_endpoint_auth_method = "client_secret_post"
            "#,
        )
        .unwrap();
        let provider = github.validate().unwrap();
        assert_eq!(provider.kind(), ProviderKind::OAuth2);
        assert_eq!(provider.subject_field(), Some("id"));
        assert_eq!(provider.discovery_url(), None);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<ProviderConfig>(&oidc_toml("client_secrett = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field"), "{error}");
        assert!(toml::from_str::<ProviderConfig>(&oidc_toml("")).is_ok());
        assert!(
            toml::from_str::<ProviderConfig>(&oidc_toml("").replace("\"oidc\"", "\"saml\""))
                .is_err()
        );
    }

    #[test]
    fn the_client_secret_never_prints() {
        let config = parse(&oidc_toml(""));
        let debug = format!("{config:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("ClientSecret(..)"), "{debug}");
        let provider = config.validate().unwrap();
        assert!(!format!("{provider:?}").contains("s3cret"));
    }

    #[test]
    fn provider_id_grammar_is_url_and_subject_safe() {
        for good in ["corp", "a", "google-workspace-2", &"a".repeat(32)] {
            assert!(ProviderId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Corp",
            "corp:1",
            "corp#",
            "a/b",
            "a b",
            "a.b",
            "é",
            &"a".repeat(33),
        ] {
            assert_eq!(
                ProviderId::parse(bad),
                Err(UpstreamError::ProviderIdInvalid),
                "{bad}"
            );
        }
        assert_eq!(
            ProviderId::parse("my-idp").unwrap().secret_env_var(),
            "LATCHKEY_IDP_MY_IDP_CLIENT_SECRET"
        );
    }

    #[test]
    fn oidc_discovery_1_0_section_2_issuer_is_https_without_query_or_fragment() {
        for (issuer, ok) in [
            ("https://login.example.com", true),
            ("https://login.example.com/tenant/v2.0", true),
            ("http://127.0.0.1:4000", true),
            ("http://localhost:4000/", true),
            ("http://[::1]:4000", true),
            ("http://login.example.com", false),
            ("https://login.example.com?x=1", false),
            ("https://login.example.com#f", false),
            ("https://user@login.example.com", false),
            ("login.example.com", false),
        ] {
            let config = parse(&oidc_toml("").replace("https://login.example.com", issuer));
            let result = config.validate();
            if ok {
                assert!(result.is_ok(), "{issuer}: {result:?}");
            } else {
                assert_eq!(
                    result.unwrap_err(),
                    UpstreamError::IssuerInvalid,
                    "{issuer}"
                );
            }
        }
        let no_issuer = parse(&oidc_toml("").replace("issuer = \"https://login.example.com\"", ""));
        assert_eq!(
            no_issuer.validate().unwrap_err(),
            UpstreamError::IssuerMissing
        );
    }

    #[test]
    fn oidc_core_3_1_2_1_openid_scope_is_required_for_oidc() {
        let config = parse(&oidc_toml("").replace("\"openid\", ", ""));
        assert_eq!(
            config.validate().unwrap_err(),
            UpstreamError::OpenidScopeMissing
        );
        let repeated = parse(&oidc_toml("").replace("\"email\"", "\"openid\""));
        assert_eq!(
            repeated.validate().unwrap_err(),
            UpstreamError::ScopeInvalid
        );
        let bad = parse(&oidc_toml("").replace("\"email\"", "\"e mail\""));
        assert_eq!(bad.validate().unwrap_err(), UpstreamError::ScopeInvalid);
    }

    #[test]
    fn oauth2_endpoints_are_required_https_and_refused_for_oidc() {
        let oauth2 = |extra: &str| {
            parse(&format!(
                r#"
                id = "gh"
                kind = "oauth2"
                display_name = "GitHub"
                client_id = "x"
                client_secret = "y"
                authorization_endpoint = "https://github.com/login/oauth/authorize"
                token_endpoint = "https://github.com/login/oauth/access_token"
                {extra}
                "#
            ))
        };
        assert_eq!(
            oauth2("").validate().unwrap_err(),
            UpstreamError::EndpointMissing("userinfo_endpoint")
        );
        assert_eq!(
            oauth2("userinfo_endpoint = \"http://api.github.com/user\"")
                .validate()
                .unwrap_err(),
            UpstreamError::EndpointInvalid("userinfo_endpoint")
        );
        assert_eq!(
            oauth2("userinfo_endpoint = \"https://api.github.com/user#x\"")
                .validate()
                .unwrap_err(),
            UpstreamError::EndpointInvalid("userinfo_endpoint")
        );
        assert_eq!(
            oauth2("userinfo_endpoint = \"https://api.github.com/user\"\nsubject_field = \"\"")
                .validate()
                .unwrap_err(),
            UpstreamError::SubjectFieldInvalid
        );
        let ok = oauth2("userinfo_endpoint = \"https://api.github.com/user\"")
            .validate()
            .unwrap();
        assert_eq!(ok.subject_field(), Some("id"));
        assert_eq!(
            parse(&oidc_toml(
                "token_endpoint = \"https://login.example.com/token\""
            ))
            .validate()
            .unwrap_err(),
            UpstreamError::SettingNotForOidc("token_endpoint")
        );
    }

    #[test]
    fn other_fields_are_checked() {
        assert_eq!(
            parse(&oidc_toml("client_secret_file = \"/x\""))
                .validate()
                .unwrap_err(),
            UpstreamError::ClientSecretTwice
        );
        assert_eq!(
            parse(&oidc_toml("").replace("Corp SSO", " "))
                .validate()
                .unwrap_err(),
            UpstreamError::DisplayNameInvalid
        );
        assert_eq!(
            parse(&oidc_toml("").replace("\"latchkey\"", "\"\""))
                .validate()
                .unwrap_err(),
            UpstreamError::ClientIdInvalid
        );
        assert_eq!(
            parse(&oidc_toml("allowed_subjects = [\"\"]"))
                .validate()
                .unwrap_err(),
            UpstreamError::AllowedSubjectInvalid
        );
        for bad in ["", "@example.com", "example..com", "-a.com", "exa mple.com"] {
            assert!(
                matches!(
                    EmailDomain::parse(bad),
                    Err(UpstreamError::EmailDomainInvalid(_))
                ),
                "{bad}"
            );
        }
        let twice = [parse(&oidc_toml("")), parse(&oidc_toml(""))];
        assert_eq!(
            validate_all(&twice).unwrap_err(),
            UpstreamError::ProviderIdDuplicate("corp".to_owned())
        );
        assert_eq!(validate_all(&twice[..1]).unwrap().len(), 1);
    }

    #[test]
    fn client_secret_resolution_order_env_inline_file() {
        let inline = parse(&oidc_toml(""));
        let from_env = inline
            .resolve_client_secret(Some("from-env".to_owned()), |_| None)
            .unwrap();
        assert_eq!(from_env.expose_secret(), "from-env");
        let from_inline = inline.resolve_client_secret(None, |_| None).unwrap();
        assert_eq!(from_inline.expose_secret(), "s3cret");

        let file = parse(&oidc_toml("").replace(
            "client_secret = \"s3cret\"",
            "client_secret_file = \"/run/secret\"",
        ));
        let from_file = file
            .resolve_client_secret(None, |path| {
                assert_eq!(path, Path::new("/run/secret"));
                Some("filed\n".to_owned())
            })
            .unwrap();
        assert_eq!(from_file.expose_secret(), "filed");
        assert_eq!(
            file.resolve_client_secret(None, |_| None).unwrap_err(),
            UpstreamError::ClientSecretFileUnreadable
        );
        assert_eq!(
            file.resolve_client_secret(None, |_| Some("\n".to_owned()))
                .unwrap_err(),
            UpstreamError::ClientSecretFileUnreadable
        );
        let none = parse(&oidc_toml("").replace("client_secret = \"s3cret\"", ""));
        assert_eq!(
            none.resolve_client_secret(None, |_| None).unwrap_err(),
            UpstreamError::ClientSecretMissing
        );
        assert_eq!(
            none.resolve_client_secret(Some("a\u{7}".to_owned()), |_| None)
                .unwrap_err(),
            UpstreamError::ClientSecretInvalid
        );
    }

    #[test]
    fn callback_url_is_issuer_then_latchkey_callback_then_id() {
        let id = ProviderId::parse("corp").unwrap();
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            assert_eq!(
                CallbackUrl::new(issuer, &id).unwrap().as_str(),
                "https://auth.example.com/latchkey/callback/corp"
            );
        }
        assert_eq!(
            CallbackUrl::new("https://auth.example.com/tenant", &id)
                .unwrap()
                .as_str(),
            "https://auth.example.com/tenant/latchkey/callback/corp"
        );
        assert_eq!(
            CallbackUrl::new("http://auth.example.com", &id),
            Err(UpstreamError::IssuerInvalid)
        );
    }
}
