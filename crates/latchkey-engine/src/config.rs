//! Engine configuration: every choice explicit, with documented defaults.

use core::time::Duration;

use latchkey_dpop::DpopConfig;
use latchkey_registration::{CimdPolicy, RegistrationPolicy};
use latchkey_token::AccessTokenClaims;
use latchkey_token::code::CodePolicy;
use latchkey_token::refresh::RefreshPolicy;
use latchkey_types::{ClientId, Scope, ScopeHierarchy};
use latchkey_uri::{AudienceMatch, ResourceUri};

use crate::error::EngineError;

/// The MCP authorization specification revision the server follows. What each
/// revision changes is a method here, never a fork in the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum McpProfile {
    /// MCP 2025-06-18.
    V2025_06_18,
    /// MCP 2025-11-25.
    V2025_11_25,
    /// MCP 2026-07-28 (the default).
    #[default]
    V2026_07_28,
}

impl McpProfile {
    /// Whether `/.well-known/openid-configuration` is served too (2025-11-25 and later).
    pub const fn openid_discovery(self) -> bool {
        !matches!(self, Self::V2025_06_18)
    }

    /// Whether client ID metadata documents are on by default (2025-11-25 and later).
    pub const fn cimd_supported_by_default(self) -> bool {
        !matches!(self, Self::V2025_06_18)
    }

    /// Whether the `iss` authorization response parameter is sent and advertised
    /// (RFC 9207): always.
    pub const fn iss_parameter(self) -> bool {
        true
    }

    /// Whether `offline_access` is listed in `scopes_supported` (not for 2026-07-28).
    pub const fn offline_access_in_scopes_supported(self) -> bool {
        !matches!(self, Self::V2026_07_28)
    }

    /// Whether dynamic client registration is deprecated in favour of client ID
    /// metadata documents (2026-07-28).
    pub const fn registration_deprecated(self) -> bool {
        matches!(self, Self::V2026_07_28)
    }
}

/// One protected resource (an MCP server) tokens can be issued for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceConfig {
    /// The resource identifier (RFC 8707 section 2), also the token `aud`.
    pub uri: ResourceUri,
    /// The scopes it understands (RFC 9728 `scopes_supported`).
    pub scopes_supported: Scope,
    /// The scope granted when a request names none.
    pub default_scope: Scope,
    /// A human-readable name (RFC 9728 `resource_name`).
    pub name: Option<String>,
}

impl ResourceConfig {
    /// A resource with no scopes and no name.
    pub fn new(uri: ResourceUri) -> Self {
        Self {
            uri,
            scopes_supported: Scope::empty(),
            default_scope: Scope::empty(),
            name: None,
        }
    }
}

/// Dynamic client registration settings (RFC 7591).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationSettings {
    /// What a registration may ask for.
    pub policy: RegistrationPolicy,
    /// The most clients stored at once; further registrations are refused.
    pub max_clients: u64,
    /// How long a registered client that never obtained a token is kept.
    pub unused_client_ttl: Duration,
}

impl Default for RegistrationSettings {
    /// The strict registration policy, 10 000 clients, unused clients purged after 24 hours.
    fn default() -> Self {
        Self {
            policy: RegistrationPolicy::strict_default(),
            max_clients: 10_000,
            unused_client_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Everything the engine is configured with. Build it with [`EngineConfig::new`],
/// change the public fields, then [`EngineConfig::validate`] (the engine does).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EngineConfig {
    /// The issuer identifier, an exact string (RFC 8414 section 2): `https`, or
    /// `http` on a loopback host; no query or fragment.
    pub issuer: String,
    /// Default: `{issuer}/authorize`.
    pub authorization_endpoint: String,
    /// Default: `{issuer}/token`.
    pub token_endpoint: String,
    /// Default: `Some({issuer}/register)`; `None` hides the endpoint.
    pub registration_endpoint: Option<String>,
    /// Default: `{issuer}/revoke`.
    pub revocation_endpoint: String,
    /// Default: `{issuer}/introspect`.
    pub introspection_endpoint: String,
    /// Default: `{issuer}/jwks`.
    pub jwks_uri: String,
    /// The protected resources; must contain `default_resource`.
    pub resources: Vec<ResourceConfig>,
    /// The resource a request without `resource` gets (RFC 8707 section 2).
    pub default_resource: ResourceUri,
    /// How a requested `resource` is matched against configured ones. Default: exact.
    pub audience_match: AudienceMatch,
    /// The MCP revision followed. Default: [`McpProfile::V2026_07_28`].
    pub profile: McpProfile,
    /// Access-token lifetime. Default 300 s (MCP A9); at most
    /// [`AccessTokenClaims::MAX_LIFETIME`].
    pub access_token_lifetime: Duration,
    /// Authorization code lifetime. Default 60 s.
    pub code_policy: CodePolicy,
    /// Refresh family lifetime and retry windows. Default 30 days; a 30 s
    /// retry window for DPoP-bound families and clients that authenticate;
    /// none for public clients without DPoP, whose rotated token presented
    /// again revokes the family at once (RFC 9700 section 4.14.2). Giving
    /// those a window is an explicit opt-in of at most 60 s
    /// ([`RefreshPolicy::with_public_client_retry_window`]; `latchkey serve`:
    /// `[refresh] public_client_retry_window_secs`): within it, whoever
    /// presents a stolen rotated token gets the same successor as the client.
    pub refresh_policy: RefreshPolicy,
    /// Whether `authorization_code` grants get a refresh token (when the client
    /// registered the `refresh_token` grant). Default true.
    pub issue_refresh_tokens: bool,
    /// Dynamic client registration; `None` turns it off. Default on, strict policy.
    pub registration: Option<RegistrationSettings>,
    /// Client ID metadata documents; `None` turns them off. Default: on with the
    /// strict policy when the profile supports them.
    pub cimd: Option<CimdPolicy>,
    /// DPoP proof policy (RFC 9449). Default: `DpopConfig::default()`; its
    /// `nonces` field is ignored: nonces come from `dpop_nonce_required` and the
    /// engine's nonce key.
    pub dpop: DpopConfig,
    /// Whether every DPoP proof at the token endpoint needs a server nonce (RFC 9449 section 8). Default false.
    pub dpop_nonce_required: bool,
    /// Confidential clients (resource servers) allowed to introspect (RFC 7662 section 2.1). Default none.
    /// A registered client whose record has `ClientRecord::may_introspect`
    /// (set by an administrator) may introspect too.
    pub introspection_clients: Vec<ClientId>,
    /// Which scopes imply which (MCP 2026-07-28, "Step-Up Authorization
    /// Flow": "a broader scope implies narrower ones"): a client registered
    /// for a broader scope may ask for a narrower one, a resource supporting a
    /// broader scope supports the narrower ones, a refresh may narrow a broader
    /// grant to a scope it implies, and a remembered consent to a broader scope
    /// covers a request for a narrower one. Never the other way
    /// round. Default: empty (no scope implies another).
    pub scope_hierarchy: ScopeHierarchy,
    /// Whether the issuer and endpoints may be plain `http` on a non-loopback
    /// host. MCP requires HTTPS for every authorization server endpoint (A12);
    /// this exists only for deployments behind a TLS-terminating proxy on a
    /// private network, and is set only through
    /// [`EngineConfig::danger_new_allowing_insecure_http`]. Default false.
    danger_allow_insecure_http: bool,
}

impl EngineConfig {
    /// A configuration for `issuer` with one resource, `default_resource`, and
    /// the defaults documented on each field; validated.
    pub fn new(issuer: &str, default_resource: ResourceUri) -> Result<Self, EngineError> {
        Self::build(issuer, default_resource, false)
    }

    /// Like [`EngineConfig::new`], but the issuer and endpoints may be plain
    /// `http` on any host. MCP requires HTTPS (A12): use this only where TLS is
    /// terminated in front of the server on a network you trust.
    pub fn danger_new_allowing_insecure_http(
        issuer: &str,
        default_resource: ResourceUri,
    ) -> Result<Self, EngineError> {
        Self::build(issuer, default_resource, true)
    }

    fn build(
        issuer: &str,
        default_resource: ResourceUri,
        danger_allow_insecure_http: bool,
    ) -> Result<Self, EngineError> {
        let base = issuer.trim_end_matches('/');
        let profile = McpProfile::default();
        let config = Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{base}/authorize"),
            token_endpoint: format!("{base}/token"),
            registration_endpoint: Some(format!("{base}/register")),
            revocation_endpoint: format!("{base}/revoke"),
            introspection_endpoint: format!("{base}/introspect"),
            jwks_uri: format!("{base}/jwks"),
            resources: vec![ResourceConfig::new(default_resource.clone())],
            default_resource,
            audience_match: AudienceMatch::Exact,
            profile,
            access_token_lifetime: AccessTokenClaims::DEFAULT_LIFETIME,
            code_policy: CodePolicy::default(),
            refresh_policy: RefreshPolicy::default(),
            issue_refresh_tokens: true,
            registration: Some(RegistrationSettings::default()),
            cimd: profile
                .cimd_supported_by_default()
                .then(CimdPolicy::strict_default),
            dpop: DpopConfig::default(),
            dpop_nonce_required: false,
            introspection_clients: Vec::new(),
            scope_hierarchy: ScopeHierarchy::empty(),
            danger_allow_insecure_http,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks the configuration: the issuer per RFC 8414 section 2, absolute
    /// endpoint URLs, the default resource configured, unique resources, and an
    /// access-token lifetime within (0, 1 hour] (MCP A9).
    pub fn validate(&self) -> Result<(), EngineError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|_| EngineError::Config("issuer is not an absolute url"))?;
        if !self.acceptable_scheme(&issuer) {
            return Err(EngineError::Config(
                "issuer must be https, or http on a loopback host",
            ));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(EngineError::Config(
                "issuer must not have a query or fragment",
            ));
        }
        let endpoints = [
            &self.authorization_endpoint,
            &self.token_endpoint,
            &self.revocation_endpoint,
            &self.introspection_endpoint,
            &self.jwks_uri,
        ];
        for endpoint in endpoints
            .into_iter()
            .chain(self.registration_endpoint.as_ref())
        {
            let url = url::Url::parse(endpoint)
                .map_err(|_| EngineError::Config("an endpoint is not an absolute url"))?;
            if !self.acceptable_scheme(&url) {
                return Err(EngineError::Config(
                    "endpoints must be https, or http on a loopback host",
                ));
            }
        }
        if self.resource(&self.default_resource).is_none() {
            return Err(EngineError::Config(
                "default_resource is not among the resources",
            ));
        }
        for (i, resource) in self.resources.iter().enumerate() {
            if self
                .resources
                .iter()
                .skip(i.saturating_add(1))
                .any(|other| other.uri == resource.uri)
            {
                return Err(EngineError::Config("a resource is configured twice"));
            }
            if !resource.default_scope.is_subset(&resource.scopes_supported) {
                return Err(EngineError::Config(
                    "a resource's default_scope is not within its scopes_supported",
                ));
            }
        }
        if self.access_token_lifetime.as_secs() == 0
            || self.access_token_lifetime > AccessTokenClaims::MAX_LIFETIME
        {
            return Err(EngineError::Config(
                "access_token_lifetime must be between 1 s and 1 hour",
            ));
        }
        Ok(())
    }

    /// The configured resource `uri` matches under [`Self::audience_match`]
    /// (a configured resource covering the requested one).
    pub fn resource(&self, uri: &ResourceUri) -> Option<&ResourceConfig> {
        self.resources.iter().find(|r| r.uri == *uri).or_else(|| {
            self.resources
                .iter()
                .find(|r| r.uri.covers(uri, self.audience_match))
        })
    }
}

impl EngineConfig {
    fn acceptable_scheme(&self, url: &url::Url) -> bool {
        is_secure_or_loopback(url)
            || (self.danger_allow_insecure_http && url.scheme() == "http" && url.host().is_some())
    }
}

fn is_secure_or_loopback(url: &url::Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> ResourceUri {
        ResourceUri::parse("https://mcp.example.com/mcp").unwrap()
    }

    #[test]
    fn rfc_8414_section_2_issuer_rules() {
        assert!(EngineConfig::new("https://as.example.com", resource()).is_ok());
        assert!(EngineConfig::new("http://127.0.0.1:8080", resource()).is_ok());
        assert!(matches!(
            EngineConfig::new("http://as.example.com", resource()),
            Err(EngineError::Config(_))
        ));
        assert!(matches!(
            EngineConfig::new("https://as.example.com?x=1", resource()),
            Err(EngineError::Config(_))
        ));
        assert!(matches!(
            EngineConfig::new("https://as.example.com#f", resource()),
            Err(EngineError::Config(_))
        ));
        assert!(matches!(
            EngineConfig::new("as.example.com", resource()),
            Err(EngineError::Config(_))
        ));
    }

    #[test]
    fn a12_insecure_http_only_through_the_danger_constructor() {
        let config =
            EngineConfig::danger_new_allowing_insecure_http("http://as.internal", resource())
                .unwrap();
        assert_eq!(config.token_endpoint, "http://as.internal/token");
        // Only http is loosened: other schemes and a query stay refused.
        for issuer in ["ftp://as.internal", "http://as.internal?x=1"] {
            assert!(matches!(
                EngineConfig::danger_new_allowing_insecure_http(issuer, resource()),
                Err(EngineError::Config(_))
            ));
        }
    }

    #[test]
    fn defaults_are_as_documented() {
        let config = EngineConfig::new("https://as.example.com/", resource()).unwrap();
        assert_eq!(config.token_endpoint, "https://as.example.com/token");
        assert_eq!(config.issuer, "https://as.example.com/");
        assert_eq!(config.access_token_lifetime, Duration::from_secs(300));
        assert_eq!(config.profile, McpProfile::V2026_07_28);
        assert!(config.cimd.is_some());
        assert!(config.issue_refresh_tokens);
        assert!(!config.dpop_nonce_required);
        assert!(config.resource(&resource()).is_some());
        assert_eq!(
            config.refresh_policy.retry_window(),
            Duration::from_secs(30)
        );
        assert_eq!(
            config.refresh_policy.public_client_retry_window(),
            Duration::ZERO,
            "public bearer clients are strict unless opted in"
        );
    }

    #[test]
    fn mcp_a9_lifetime_is_bounded() {
        let mut config = EngineConfig::new("https://as.example.com", resource()).unwrap();
        config.access_token_lifetime = Duration::from_secs(3601);
        assert!(matches!(config.validate(), Err(EngineError::Config(_))));
        config.access_token_lifetime = Duration::ZERO;
        assert!(matches!(config.validate(), Err(EngineError::Config(_))));
    }

    #[test]
    fn default_resource_must_be_configured() {
        let mut config = EngineConfig::new("https://as.example.com", resource()).unwrap();
        config.resources.clear();
        assert!(matches!(config.validate(), Err(EngineError::Config(_))));
    }

    #[test]
    fn profiles_differ_only_through_methods() {
        assert!(!McpProfile::V2025_06_18.openid_discovery());
        assert!(McpProfile::V2025_11_25.cimd_supported_by_default());
        assert!(!McpProfile::V2026_07_28.offline_access_in_scopes_supported());
        assert!(McpProfile::V2026_07_28.registration_deprecated());
        assert!(McpProfile::V2025_06_18.iss_parameter());
    }
}
