//! The server configuration: explicit defaults that work with no file at all,
//! a TOML file over them, and `LATCHKEY_*` environment variables over both.
//!
//! ```toml
//! issuer = "https://auth.example.com"     # default http://127.0.0.1:8080
//! bind = "0.0.0.0:8443"                   # default 127.0.0.1:8080
//! database = "/var/lib/latchkey/latchkey.db"  # default ./latchkey.db
//! database_synchronous = "normal"         # or "full": also survive power loss (slower commits)
//! profile = "2026-07-28"                  # or 2025-11-25, 2025-06-18
//! access_token_lifetime_secs = 300
//! allow_insecure_http_issuer = false      # plain http on a public host: refused unless true
//! allowed_origins = ["http://localhost:6274"]  # browser origins that may call /mcp (R15)
//! trusted_proxies = []                    # peers whose X-Forwarded-For is believed; default none
//! introspection_clients = ["rs-1"]        # confidential clients that may call /introspect
//!                                         # (RFC 7662); default none. A client added with
//!                                         # `latchkey clients add --introspect` may too.
//!
//! [login]                                 # password guessing limits (OAuth 2.1 section 7.7)
//! max_failures_per_user = 5               # failed sign-ins per user name within the window
//! max_failures_per_address = 20           # failed sign-ins per client address (IPv6: per /64)
//! window_secs = 900                       # counting window, and the first lockout's length
//! max_lockout_secs = 3600                 # each further lockout doubles, up to this
//! passwords = true                        # false: sign-in only through identity providers
//!
//! [[identity_providers]]                  # upstream sign-in (see crate::upstream)
//! id = "corp"                             # [a-z0-9-]{1,32}; local subjects are "corp:{sub}"
//! kind = "oidc"                           # or "oauth2" (endpoints below, no ID token)
//! display_name = "Corp SSO"               # the "Continue with Corp SSO" button
//! issuer = "https://login.example.com"    # oidc: /.well-known/openid-configuration
//! client_id = "latchkey"
//! client_secret_file = "/etc/latchkey/corp-secret"  # or client_secret; the variable
//!                                         # LATCHKEY_IDP_CORP_CLIENT_SECRET overrides both
//! scopes = ["openid", "email", "profile"]
//! allowed_email_domains = ["example.com"] # optional; needs a verified email
//! allowed_subjects = []                   # optional allow-list of upstream subjects
//!
//! [[resources]]                           # default: {issuer}/mcp
//! uri = "https://mcp.example.com/mcp"
//! scopes = ["mcp:tools", "mcp:read"]
//! default_scope = ["mcp:tools"]
//! name = "Example MCP server"
//! scope_descriptions = { "mcp:tools" = "Use the server's tools" }  # shown on the consent page
//!
//! [scopes]                                # a broader scope implies narrower ones (MCP 2026-07-28)
//! hierarchy = { "notes" = ["notes:read", "notes:write"], "notes:write" = ["notes:read"] }
//!
//! [registration]
//! enabled = true                          # dynamic client registration (RFC 7591)
//!
//! [cimd]
//! enabled = true                          # client ID metadata documents over https
//! danger_allow_loopback_http_documents = false
//!
//! [tls]
//! cert = "/etc/latchkey/cert.pem"
//! key = "/etc/latchkey/key.pem"
//!
//! [http]                                  # connection limits (slowloris; see crate::http_limits)
//! header_read_timeout_secs = 10           # request line and headers (1 to 300)
//! body_read_timeout_secs = 30             # the whole body, after the headers (1 to 600)
//! request_timeout_secs = 60               # headers to response head, body included (1 to 600)
//! max_connections = 512                   # served at once; more wait in the backlog (1 to 65536)
//! max_connections_per_address = 64       # from one address (IPv6: /64), proxies exempt (1 to 65536)
//!
//! [rate_limits]                           # /authorize, /token, /revoke, /introspect, /register[/..]
//! enabled = true
//! per_address_per_minute = 300            # per source address (IPv6: per /64) (1 to 1000000)
//! per_address_burst = 60                  # at once before the rate applies (1 to 1000000)
//! per_client_per_minute = 600             # successful requests per client id (1 to 1000000)
//! per_client_burst = 120                  # (1 to 1000000)
//! registrations_per_address_per_hour = 20 # POST /register per source address (1 to 100000)
//! [metrics]                               # off by default (see crate::metrics)
//! bind = "127.0.0.1:9464"                 # GET /metrics on its own listener, Prometheus
//!                                         # (OpenMetrics) text; nothing else served there
//! [purge]                                 # deleting what expired (see crate::purge)
//! interval_secs = 300                     # 10 to 86400; each run deletes in batches
//!
//! [refresh]
//! public_client_retry_window_secs = 0     # 0 to 60; see below
//! ```
//!
//! The `[http]` defaults let a slow mobile client send a form of a few
//! kilobytes comfortably while a client that drips bytes is cut off within
//! seconds; `max_connections` stays below the usual soft limit of 1024 open
//! files, and one address may hold an eighth of it. The `[rate_limits]` defaults (see [`crate::rate_limit`]) are far
//! above what one person's or one office's OAuth flows need (a sign-in is a
//! handful of requests; a token refresh every few minutes per client) yet
//! stop one source from flooding: 60 requests at once, then 5 a second per
//! address. The per-client limit (token, revocation and introspection
//! endpoints) counts only a client's successful requests, so that naming a
//! client costs it nothing, and holds one set of credentials used from many
//! addresses to 10 requests a second. Twenty registrations an hour per
//! address lets an office of MCP users register their clients while one
//! source needs 500 hours to fill the 10,000-client cap. Each setting also
//! has a `LATCHKEY_HTTP_*` or `LATCHKEY_RATE_LIMITS_*` variable (see
//! [`ENVIRONMENT_VARIABLES`]).
//!
//! The login limits are on by default with the values shown (see
//! [`crate::login_limit`]). The client address they count is the peer address
//! of the connection; `X-Forwarded-For` is read only when that peer is listed
//! in `trusted_proxies` (addresses or CIDR networks), so a client cannot pick
//! its own address by sending the header.
//!
//! `[scopes] hierarchy` maps a broader scope to the narrower ones it implies
//! (MCP 2026-07-28, "Step-Up Authorization Flow": "Servers **MUST** account
//! for scope hierarchies, where a broader scope implies narrower ones"),
//! transitively: a token granted `notes` passes a route needing `notes:read`,
//! a client registered for `notes` may ask for `notes:read`, and a remembered
//! consent to `notes` covers a later request for `notes:read`. Never the
//! other way round, and a scope implying itself (directly or through a
//! cycle) is refused by `latchkey check`. `scopes_supported` and the scopes a
//! challenge names are unchanged. `LATCHKEY_SCOPE_HIERARCHY` replaces it with
//! the same inline table (`{ notes = ["notes:read"] }`). Default: none.
//!
//! `[purge] interval_secs` is how often `latchkey serve` deletes expired
//! codes, refresh families, access-token records and one-time `jti`s, and
//! dynamically registered clients that never obtained a token within a day
//! ([`crate::purge`]); default 300 s.
//!
//! `[refresh] public_client_retry_window_secs` gives public clients without
//! DPoP a window (0 to 60 s, default 0) in which presenting a just-rotated
//! refresh token again returns the same successor instead of revoking the
//! family. It is off by default because such a retry proves nothing but
//! possession of the token: within the window, whoever stole the rotated
//! token gets the successor too (RFC 9700 section 4.14.2). DPoP-bound
//! families and clients that authenticate keep a 30 s window regardless.
//! Turn it on only for public clients known to lose refresh responses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use latchkey_engine::{EngineConfig, McpProfile, RegistrationSettings, ResourceConfig};
use latchkey_registration::CimdPolicy;
use latchkey_store_sqlite::Synchronous;
use latchkey_token::refresh::RefreshPolicy;
use latchkey_types::{ClientId, Scope, ScopeHierarchy, ScopeToken, SecretString};
use latchkey_upstream::{
    ClientSecret, Provider, ProviderConfig, ProviderId, UpstreamError, validate_all,
};
use latchkey_uri::ResourceUri;
use serde::Deserialize;

use crate::error::ServerError;
use crate::http_limits::HttpLimits;
use crate::login_limit::{self, LoginPolicy, TrustedProxies};
use crate::rate_limit::{self, Quota, RateLimitPolicy};

/// The issuer used when none is configured.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8080";
/// The listen address used when none is configured.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// The database file used when none is configured.
pub const DEFAULT_DATABASE: &str = "./latchkey.db";
/// The scopes of the default resource.
pub const DEFAULT_SCOPES: [&str; 2] = ["mcp:tools", "mcp:read"];
/// The scope granted by default on the default resource.
pub const DEFAULT_SCOPE: &str = "mcp:tools";

/// The environment variables read, in the order they are applied.
pub const ENVIRONMENT_VARIABLES: [&str; 29] = [
    "LATCHKEY_ISSUER",
    "LATCHKEY_BIND",
    "LATCHKEY_DATABASE",
    "LATCHKEY_DATABASE_SYNCHRONOUS",
    "LATCHKEY_PROFILE",
    "LATCHKEY_RESOURCE",
    "LATCHKEY_ALLOW_INSECURE_HTTP_ISSUER",
    "LATCHKEY_TLS_CERT",
    "LATCHKEY_TLS_KEY",
    "LATCHKEY_DEMO_PASSWORD",
    "LATCHKEY_ALLOWED_ORIGINS",
    "LATCHKEY_TRUSTED_PROXIES",
    "LATCHKEY_SCOPE_HIERARCHY",
    "LATCHKEY_LOGIN_MAX_FAILURES_PER_USER",
    "LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS",
    "LATCHKEY_LOGIN_WINDOW_SECS",
    "LATCHKEY_LOGIN_MAX_LOCKOUT_SECS",
    "LATCHKEY_HTTP_HEADER_READ_TIMEOUT_SECS",
    "LATCHKEY_HTTP_BODY_READ_TIMEOUT_SECS",
    "LATCHKEY_HTTP_REQUEST_TIMEOUT_SECS",
    "LATCHKEY_HTTP_MAX_CONNECTIONS",
    "LATCHKEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
    "LATCHKEY_RATE_LIMITS_ENABLED",
    "LATCHKEY_RATE_LIMITS_PER_ADDRESS_PER_MINUTE",
    "LATCHKEY_RATE_LIMITS_PER_ADDRESS_BURST",
    "LATCHKEY_RATE_LIMITS_PER_CLIENT_PER_MINUTE",
    "LATCHKEY_RATE_LIMITS_PER_CLIENT_BURST",
    "LATCHKEY_RATE_LIMITS_REGISTRATIONS_PER_ADDRESS_PER_HOUR",
    "LATCHKEY_METRICS_BIND",
];

/// The limits on failed sign-ins (the `[login]` table; see
/// [`crate::login_limit`] for how they apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    /// Failed sign-ins per user name within the window before a lockout
    /// (1 to 1000; default 5).
    pub max_failures_per_user: u32,
    /// Failed sign-ins per client address within the window before a lockout
    /// (1 to 1000000; default 20).
    pub max_failures_per_address: u32,
    /// The counting window and the first lockout, in seconds (1 to 86400;
    /// default 900).
    pub window_secs: u64,
    /// The longest lockout, in seconds (at least `window_secs`, at most
    /// 604800; default 3600).
    pub max_lockout_secs: u64,
    /// Whether local users sign in with a password (default `true`). `false`:
    /// only through `[[identity_providers]]`, of which there must be one.
    pub passwords: bool,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            max_failures_per_user: login_limit::DEFAULT_MAX_FAILURES_PER_USER,
            max_failures_per_address: login_limit::DEFAULT_MAX_FAILURES_PER_ADDRESS,
            window_secs: login_limit::DEFAULT_WINDOW.as_secs(),
            max_lockout_secs: login_limit::DEFAULT_MAX_LOCKOUT.as_secs(),
            passwords: true,
        }
    }
}

/// The connection limits (the `[http]` table; see [`crate::http_limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    /// Seconds for the request line and headers (1 to 300; default 10).
    pub header_read_timeout_secs: u64,
    /// Seconds for the whole body after the headers (1 to 600; default 30).
    pub body_read_timeout_secs: u64,
    /// Seconds from the headers to the response head (1 to 600; default 60).
    pub request_timeout_secs: u64,
    /// Connections served at once (1 to 65536; default 512).
    pub max_connections: u64,
    /// Connections served at once from one client address, trusted proxies
    /// excepted (1 to 65536; default 64).
    pub max_connections_per_address: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        let limits = HttpLimits::default();
        Self {
            header_read_timeout_secs: limits.header_read_timeout.as_secs(),
            body_read_timeout_secs: limits.body_read_timeout.as_secs(),
            request_timeout_secs: limits.request_timeout.as_secs(),
            max_connections: limits.max_connections as u64,
            max_connections_per_address: limits.max_connections_per_address as u64,
        }
    }
}

/// The request rate limits (the `[rate_limits]` table; see
/// [`crate::rate_limit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// Whether the limits apply (default true).
    pub enabled: bool,
    /// Requests per minute per source address (1 to 1000000; default 300).
    pub per_address_per_minute: u32,
    /// Requests at once per source address (1 to 1000000; default 60).
    pub per_address_burst: u32,
    /// Successful token, revocation and introspection requests per minute
    /// per client id (1 to 1000000; default 600).
    pub per_client_per_minute: u32,
    /// Requests at once per client id (1 to 1000000; default 120).
    pub per_client_burst: u32,
    /// Registration attempts per source address per hour (1 to 100000;
    /// default 20).
    pub registrations_per_address_per_hour: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            per_address_per_minute: rate_limit::DEFAULT_PER_ADDRESS_PER_MINUTE,
            per_address_burst: rate_limit::DEFAULT_PER_ADDRESS_BURST,
            per_client_per_minute: rate_limit::DEFAULT_PER_CLIENT_PER_MINUTE,
            per_client_burst: rate_limit::DEFAULT_PER_CLIENT_BURST,
            registrations_per_address_per_hour:
                rate_limit::DEFAULT_REGISTRATIONS_PER_ADDRESS_PER_HOUR,
        }
    }
}

/// One protected resource as configured.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSettings {
    /// The resource URL, exactly as clients are given it.
    pub uri: String,
    /// The scopes the resource understands.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The scopes granted when a request names none.
    #[serde(default)]
    pub default_scope: Vec<String>,
    /// A human-readable name.
    #[serde(default)]
    pub name: Option<String>,
    /// What each scope lets a client do, in words, shown beside the scope's
    /// name on the consent page (`scope_descriptions = { "mcp:tools" = "Use
    /// the tools" }`). Scopes without one show their name alone.
    #[serde(default)]
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
}

/// Where the TLS certificate chain and private key are (PEM files).
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// The certificate chain.
    pub cert: Option<PathBuf>,
    /// The private key.
    pub key: Option<PathBuf>,
}

/// The resolved server configuration.
#[derive(Debug)]
pub struct ServerConfig {
    /// The issuer identifier (RFC 8414 section 2), exactly as clients see it.
    pub issuer: String,
    /// The address and port to listen on.
    pub bind: String,
    /// The SQLite database file.
    pub database: PathBuf,
    /// What a commit of the database waits for: `normal` (the default; every
    /// answered token survives a crash of the process) or `full` (also a
    /// power loss). See `latchkey_store_sqlite::Synchronous`.
    pub database_synchronous: Synchronous,
    /// The MCP authorization revision followed, as written (`2026-07-28`).
    pub profile: String,
    /// The protected resources.
    pub resources: Vec<ResourceSettings>,
    /// The resource a request without `resource` gets; default the first one.
    pub default_resource: Option<String>,
    /// Access-token lifetime in seconds (MCP A9).
    pub access_token_lifetime_secs: u64,
    /// Whether plain http is allowed on a non-loopback issuer (MCP A12: refused
    /// by default). This lifts only this server's check: the engine's own issuer
    /// rule (RFC 8414 section 2 as `EngineConfig::validate` applies it) still
    /// refuses such an issuer today.
    pub allow_insecure_http_issuer: bool,
    /// Whether dynamic client registration is on.
    pub registration: bool,
    /// Whether client ID metadata documents are on.
    pub cimd: bool,
    /// Whether http metadata-document URLs on loopback hosts are accepted (tests only).
    pub danger_allow_loopback_http_documents: bool,
    /// Browser origins (`scheme://host[:port]`) allowed to call the protected
    /// MCP endpoint. A request with any other `Origin` header gets 403 (MCP
    /// transports, DNS rebinding; R15); requests without `Origin` (non-browser
    /// clients) are unaffected. Default: none.
    pub allowed_origins: Vec<String>,
    /// Peers (addresses or CIDR networks) whose `X-Forwarded-For` header
    /// names the client for the login limits. Default: none, so the client
    /// is always the connection's peer.
    pub trusted_proxies: Vec<String>,
    /// The limits on failed sign-ins, and whether passwords are on.
    pub login: LoginSettings,
    /// The upstream identity providers (`[[identity_providers]]`), as
    /// written; a client secret from `LATCHKEY_IDP_{ID}_CLIENT_SECRET`
    /// replaces the file's. Checked by [`problems`](Self::problems).
    pub identity_providers: Vec<ProviderConfig>,
    /// The client ids allowed to call the introspection endpoint (RFC 7662
    /// section 2.1: the caller must be authorized). Each must be a
    /// confidential client (`latchkey clients add --auth-method
    /// client_secret_basic`); any other caller, and a public client named
    /// here, gets `401 invalid_client`. Default: none. The other way to let
    /// a client introspect is the permission stored with it by `latchkey
    /// clients add --introspect` (`ClientRecord::may_introspect`), which
    /// needs no entry here. Neither can be granted by a registration, an
    /// RFC 7592 update or a client ID metadata document.
    pub introspection_clients: Vec<String>,
    /// The scope hierarchy as configured: `(broader, narrower)` pairs, in
    /// the order written (see the module docs). Default: none.
    pub scope_hierarchy: Vec<(String, String)>,
    /// Environment variables whose values could not be read, reported by
    /// [`problems`](Self::problems): the variable and what it must hold.
    pub environment_problems: Vec<(&'static str, &'static str)>,
    /// TLS files; serving is plain http when both are absent.
    pub tls: TlsSettings,
    /// Whether the `demo` user is created on first start.
    pub demo_user: bool,
    /// The demo user's password, from `LATCHKEY_DEMO_PASSWORD`; never printed.
    pub demo_password: Option<SecretString>,
    /// The connection limits.
    pub http: HttpSettings,
    /// The request rate limits.
    pub rate_limits: RateLimitSettings,
    /// Where `GET /metrics` is served (`[metrics] bind`,
    /// `LATCHKEY_METRICS_BIND`), on a listener of its own; `None` (the
    /// default): no metrics listener. See [`crate::metrics`].
    pub metrics_bind: Option<String>,
    /// Seconds between two runs of the purge of expired records and unused
    /// clients (10 to 86400; default 300).
    pub purge_interval_secs: u64,
    /// The refresh retry window of public clients without DPoP, in seconds
    /// (0 to 60; default 0, strict). See the module docs.
    pub public_client_retry_window_secs: u64,
}

impl Default for ServerConfig {
    /// Works with no configuration at all: see the `DEFAULT_*` constants.
    fn default() -> Self {
        Self {
            issuer: DEFAULT_ISSUER.to_owned(),
            bind: DEFAULT_BIND.to_owned(),
            database: PathBuf::from(DEFAULT_DATABASE),
            database_synchronous: Synchronous::Normal,
            profile: "2026-07-28".to_owned(),
            resources: Vec::new(),
            default_resource: None,
            access_token_lifetime_secs: 300,
            allow_insecure_http_issuer: false,
            registration: true,
            cimd: true,
            danger_allow_loopback_http_documents: false,
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            login: LoginSettings::default(),
            identity_providers: Vec::new(),
            introspection_clients: Vec::new(),
            scope_hierarchy: Vec::new(),
            environment_problems: Vec::new(),
            tls: TlsSettings::default(),
            demo_user: true,
            demo_password: None,
            http: HttpSettings::default(),
            rate_limits: RateLimitSettings::default(),
            metrics_bind: None,
            purge_interval_secs: crate::purge::DEFAULT_INTERVAL.as_secs(),
            public_client_retry_window_secs: 0,
        }
    }
}

impl ServerConfig {
    /// The defaults, then the file at `path` (if any), then the environment
    /// as `env` reports it (pass `|name| std::env::var(name).ok()`).
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ServerError> {
        let mut config = Self::default();
        if let Some(path) = path {
            let text =
                std::fs::read_to_string(path).map_err(|error| ServerError::ConfigUnreadable {
                    path: path.display().to_string(),
                    reason: error.kind().to_string(),
                })?;
            config.apply_toml(&text)?;
        }
        config.apply_env(env);
        Ok(config)
    }

    /// Applies the settings of a TOML document; unknown settings are errors.
    pub fn apply_toml(&mut self, text: &str) -> Result<(), ServerError> {
        let file: FileConfig = toml::from_str(text).map_err(|error| ServerError::ConfigSyntax {
            reason: error.message().to_owned(),
        })?;
        set(&mut self.issuer, file.issuer);
        set(&mut self.bind, file.bind);
        set(&mut self.database, file.database);
        if let Some(value) = file.database_synchronous {
            self.database_synchronous =
                value.parse().map_err(|error| ServerError::ConfigSyntax {
                    reason: format!("database_synchronous: {error}"),
                })?;
        }
        set(&mut self.profile, file.profile);
        set(&mut self.resources, file.resources);
        if file.default_resource.is_some() {
            self.default_resource = file.default_resource;
        }
        set(
            &mut self.access_token_lifetime_secs,
            file.access_token_lifetime_secs,
        );
        set(
            &mut self.allow_insecure_http_issuer,
            file.allow_insecure_http_issuer,
        );
        set(&mut self.demo_user, file.demo_user);
        set(&mut self.allowed_origins, file.allowed_origins);
        set(&mut self.trusted_proxies, file.trusted_proxies);
        set(&mut self.introspection_clients, file.introspection_clients);
        if let Some(hierarchy) = file.scopes.and_then(|scopes| scopes.hierarchy) {
            self.scope_hierarchy = hierarchy_pairs(hierarchy);
        }
        if let Some(login) = file.login {
            set(
                &mut self.login.max_failures_per_user,
                login.max_failures_per_user,
            );
            set(
                &mut self.login.max_failures_per_address,
                login.max_failures_per_address,
            );
            set(&mut self.login.window_secs, login.window_secs);
            set(&mut self.login.max_lockout_secs, login.max_lockout_secs);
            set(&mut self.login.passwords, login.passwords);
        }
        set(&mut self.identity_providers, file.identity_providers);
        if let Some(registration) = file.registration {
            set(&mut self.registration, registration.enabled);
        }
        if let Some(cimd) = file.cimd {
            set(&mut self.cimd, cimd.enabled);
            set(
                &mut self.danger_allow_loopback_http_documents,
                cimd.danger_allow_loopback_http_documents,
            );
        }
        if let Some(tls) = file.tls {
            self.tls = tls;
        }
        if let Some(http) = file.http {
            let settings = &mut self.http;
            set(
                &mut settings.header_read_timeout_secs,
                http.header_read_timeout_secs,
            );
            set(
                &mut settings.body_read_timeout_secs,
                http.body_read_timeout_secs,
            );
            set(
                &mut settings.request_timeout_secs,
                http.request_timeout_secs,
            );
            set(&mut settings.max_connections, http.max_connections);
            set(
                &mut settings.max_connections_per_address,
                http.max_connections_per_address,
            );
        }
        if let Some(limits) = file.rate_limits {
            let settings = &mut self.rate_limits;
            set(&mut settings.enabled, limits.enabled);
            set(
                &mut settings.per_address_per_minute,
                limits.per_address_per_minute,
            );
            set(&mut settings.per_address_burst, limits.per_address_burst);
            set(
                &mut settings.per_client_per_minute,
                limits.per_client_per_minute,
            );
            set(&mut settings.per_client_burst, limits.per_client_burst);
            set(
                &mut settings.registrations_per_address_per_hour,
                limits.registrations_per_address_per_hour,
            );
        }
        if let Some(metrics) = file.metrics {
            self.metrics_bind = metrics.bind;
        }
        if let Some(purge) = file.purge {
            set(&mut self.purge_interval_secs, purge.interval_secs);
        }
        if let Some(refresh) = file.refresh {
            set(
                &mut self.public_client_retry_window_secs,
                refresh.public_client_retry_window_secs,
            );
        }
        Ok(())
    }

    /// Applies the `LATCHKEY_*` variables (see [`ENVIRONMENT_VARIABLES`]).
    /// `LATCHKEY_RESOURCE` replaces the resources with one, keeping the default scopes.
    pub fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) {
        set(&mut self.issuer, env("LATCHKEY_ISSUER"));
        set(&mut self.bind, env("LATCHKEY_BIND"));
        set(
            &mut self.database,
            env("LATCHKEY_DATABASE").map(PathBuf::from),
        );
        if let Some(value) = env("LATCHKEY_DATABASE_SYNCHRONOUS") {
            match value.trim().parse() {
                Ok(synchronous) => self.database_synchronous = synchronous,
                Err(_) => self
                    .environment_problems
                    .push(("LATCHKEY_DATABASE_SYNCHRONOUS", "\"normal\" or \"full\"")),
            }
        }
        set(&mut self.profile, env("LATCHKEY_PROFILE"));
        if let Some(uri) = env("LATCHKEY_RESOURCE") {
            self.resources = vec![default_resource_settings(uri)];
            self.default_resource = None;
        }
        if let Some(value) = env("LATCHKEY_ALLOW_INSECURE_HTTP_ISSUER") {
            self.allow_insecure_http_issuer = matches!(value.as_str(), "1" | "true" | "yes");
        }
        if let Some(bind) = env("LATCHKEY_METRICS_BIND") {
            self.metrics_bind = Some(bind);
        }
        if let Some(cert) = env("LATCHKEY_TLS_CERT") {
            self.tls.cert = Some(PathBuf::from(cert));
        }
        if let Some(key) = env("LATCHKEY_TLS_KEY") {
            self.tls.key = Some(PathBuf::from(key));
        }
        if let Some(origins) = env("LATCHKEY_ALLOWED_ORIGINS") {
            self.allowed_origins = split_list(&origins);
        }
        if let Some(proxies) = env("LATCHKEY_TRUSTED_PROXIES") {
            self.trusted_proxies = split_list(&proxies);
        }
        if let Some(table) = env("LATCHKEY_SCOPE_HIERARCHY") {
            match toml::from_str::<FileScopes>(&format!("hierarchy = {table}")) {
                Ok(FileScopes {
                    hierarchy: Some(hierarchy),
                }) => self.scope_hierarchy = hierarchy_pairs(hierarchy),
                Ok(FileScopes { hierarchy: None }) | Err(_) => {
                    self.environment_problems.push((
                        "LATCHKEY_SCOPE_HIERARCHY",
                        "an inline table of scope lists, such as { notes = [\"notes:read\"] }",
                    ));
                }
            }
        }
        let problems = &mut self.environment_problems;
        number_from_env(
            &env,
            "LATCHKEY_LOGIN_MAX_FAILURES_PER_USER",
            &mut self.login.max_failures_per_user,
            problems,
        );
        number_from_env(
            &env,
            "LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS",
            &mut self.login.max_failures_per_address,
            problems,
        );
        number_from_env(
            &env,
            "LATCHKEY_LOGIN_WINDOW_SECS",
            &mut self.login.window_secs,
            problems,
        );
        number_from_env(
            &env,
            "LATCHKEY_LOGIN_MAX_LOCKOUT_SECS",
            &mut self.login.max_lockout_secs,
            problems,
        );
        if let Some(value) = env("LATCHKEY_LOGIN_PASSWORDS") {
            match value.as_str() {
                "1" | "true" | "yes" => self.login.passwords = true,
                "0" | "false" | "no" => self.login.passwords = false,
                _ => problems.push(("LATCHKEY_LOGIN_PASSWORDS", "true or false")),
            }
        }
        for provider in &mut self.identity_providers {
            let Ok(id) = ProviderId::parse(&provider.id) else {
                continue;
            };
            if let Some(secret) = env(&id.secret_env_var()) {
                provider.client_secret = Some(ClientSecret::new(secret));
                provider.client_secret_file = None;
            }
        }
        if let Some(password) = env("LATCHKEY_DEMO_PASSWORD") {
            self.demo_password = Some(SecretString::new(password));
        }
        self.apply_limits_env(&env);
    }

    /// The `LATCHKEY_HTTP_*` and `LATCHKEY_RATE_LIMITS_*` variables.
    fn apply_limits_env(&mut self, env: &impl Fn(&str) -> Option<String>) {
        let problems = &mut self.environment_problems;
        let http = &mut self.http;
        for (name, slot) in [
            (
                "LATCHKEY_HTTP_HEADER_READ_TIMEOUT_SECS",
                &mut http.header_read_timeout_secs,
            ),
            (
                "LATCHKEY_HTTP_BODY_READ_TIMEOUT_SECS",
                &mut http.body_read_timeout_secs,
            ),
            (
                "LATCHKEY_HTTP_REQUEST_TIMEOUT_SECS",
                &mut http.request_timeout_secs,
            ),
            ("LATCHKEY_HTTP_MAX_CONNECTIONS", &mut http.max_connections),
            (
                "LATCHKEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
                &mut http.max_connections_per_address,
            ),
        ] {
            number_from_env(env, name, slot, problems);
        }
        let limits = &mut self.rate_limits;
        if let Some(value) = env("LATCHKEY_RATE_LIMITS_ENABLED") {
            match value.trim() {
                "1" | "true" | "yes" => limits.enabled = true,
                "0" | "false" | "no" => limits.enabled = false,
                _ => problems.push(("LATCHKEY_RATE_LIMITS_ENABLED", "true or false")),
            }
        }
        for (name, slot) in [
            (
                "LATCHKEY_RATE_LIMITS_PER_ADDRESS_PER_MINUTE",
                &mut limits.per_address_per_minute,
            ),
            (
                "LATCHKEY_RATE_LIMITS_PER_ADDRESS_BURST",
                &mut limits.per_address_burst,
            ),
            (
                "LATCHKEY_RATE_LIMITS_PER_CLIENT_PER_MINUTE",
                &mut limits.per_client_per_minute,
            ),
            (
                "LATCHKEY_RATE_LIMITS_PER_CLIENT_BURST",
                &mut limits.per_client_burst,
            ),
            (
                "LATCHKEY_RATE_LIMITS_REGISTRATIONS_PER_ADDRESS_PER_HOUR",
                &mut limits.registrations_per_address_per_hour,
            ),
        ] {
            number_from_env(env, name, slot, problems);
        }
    }

    /// The connection limits as the server takes them.
    pub fn http_limits(&self) -> HttpLimits {
        HttpLimits {
            header_read_timeout: Duration::from_secs(self.http.header_read_timeout_secs),
            body_read_timeout: Duration::from_secs(self.http.body_read_timeout_secs),
            request_timeout: Duration::from_secs(self.http.request_timeout_secs),
            max_connections: usize::try_from(self.http.max_connections).unwrap_or(usize::MAX),
            max_connections_per_address: usize::try_from(self.http.max_connections_per_address)
                .unwrap_or(usize::MAX),
        }
    }

    /// The request rate limits as the limiter takes them; `None` when they
    /// are off.
    pub fn rate_limit_policy(&self) -> Option<RateLimitPolicy> {
        let limits = &self.rate_limits;
        limits.enabled.then(|| RateLimitPolicy {
            per_address: Quota::per_minute(limits.per_address_per_minute, limits.per_address_burst),
            per_client: Quota::per_minute(limits.per_client_per_minute, limits.per_client_burst),
            registrations_per_address: Quota::per_hour(limits.registrations_per_address_per_hour),
            max_tracked: rate_limit::DEFAULT_MAX_TRACKED,
        })
    }

    /// Lines describing the connection and rate limits in force, for
    /// `latchkey check`.
    pub fn limits_summary(&self) -> [String; 2] {
        let http = &self.http;
        let connections = format!(
            "connection limits: headers within {} s, bodies within {} s, responses within {} s, \
             at most {} connections at once, {} from one address",
            http.header_read_timeout_secs,
            http.body_read_timeout_secs,
            http.request_timeout_secs,
            http.max_connections,
            http.max_connections_per_address,
        );
        let limits = &self.rate_limits;
        let rates = if limits.enabled {
            format!(
                "rate limits: {} requests per minute per address (burst {}), {} per client \
                 (burst {}), {} registrations per address per hour",
                limits.per_address_per_minute,
                limits.per_address_burst,
                limits.per_client_per_minute,
                limits.per_client_burst,
                limits.registrations_per_address_per_hour,
            )
        } else {
            "rate limits: off".to_owned()
        };
        [connections, rates]
    }

    fn limits_problems(&self) -> Vec<ServerError> {
        let mut problems = Vec::new();
        let mut check = |setting: &'static str, value: u64, max: u64| {
            if !(1..=max).contains(&value) {
                problems.push(ServerError::SettingOutOfRange {
                    setting,
                    min: 1,
                    max,
                });
            }
        };
        let http = &self.http;
        check(
            "http.header_read_timeout_secs",
            http.header_read_timeout_secs,
            300,
        );
        check(
            "http.body_read_timeout_secs",
            http.body_read_timeout_secs,
            600,
        );
        check("http.request_timeout_secs", http.request_timeout_secs, 600);
        check("http.max_connections", http.max_connections, 65_536);
        check(
            "http.max_connections_per_address",
            http.max_connections_per_address,
            65_536,
        );
        let limits = &self.rate_limits;
        for (setting, value, max) in [
            (
                "rate_limits.per_address_per_minute",
                limits.per_address_per_minute,
                1_000_000,
            ),
            (
                "rate_limits.per_address_burst",
                limits.per_address_burst,
                1_000_000,
            ),
            (
                "rate_limits.per_client_per_minute",
                limits.per_client_per_minute,
                1_000_000,
            ),
            (
                "rate_limits.per_client_burst",
                limits.per_client_burst,
                1_000_000,
            ),
            (
                "rate_limits.registrations_per_address_per_hour",
                limits.registrations_per_address_per_hour,
                100_000,
            ),
        ] {
            check(setting, u64::from(value), max);
        }
        problems
    }

    /// The login limits as the limiter takes them.
    pub fn login_policy(&self) -> LoginPolicy {
        LoginPolicy {
            max_failures_per_user: self.login.max_failures_per_user,
            max_failures_per_address: self.login.max_failures_per_address,
            window: Duration::from_secs(self.login.window_secs),
            max_lockout: Duration::from_secs(self.login.max_lockout_secs),
            max_tracked: login_limit::DEFAULT_MAX_TRACKED,
        }
    }

    /// The parsed trusted proxies.
    pub fn parsed_trusted_proxies(&self) -> Result<TrustedProxies, ServerError> {
        TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|error| ServerError::TrustedProxyInvalid { entry: error.entry })
    }

    /// One line describing the login limits in force, for `latchkey check`.
    pub fn login_summary(&self) -> String {
        let proxies = if self.trusted_proxies.is_empty() {
            "none (the client address is the connection's peer)".to_owned()
        } else {
            self.trusted_proxies.join(", ")
        };
        format!(
            "sign-in limits: {} failures per user name, or {} per client address, within {} s \
             lock it out for {} s, doubling on each repeat up to {} s; trusted proxies: {proxies}",
            self.login.max_failures_per_user,
            self.login.max_failures_per_address,
            self.login.window_secs,
            self.login.window_secs,
            self.login.max_lockout_secs,
        )
    }

    /// One line naming the clients that may introspect, for `latchkey check`
    /// (which reads no database: clients added with `--introspect` are
    /// listed by `latchkey clients list`).
    pub fn introspection_summary(&self) -> String {
        if self.introspection_clients.is_empty() {
            "introspection: only clients added with `latchkey clients add --introspect` \
             (introspection_clients lists none)"
                .to_owned()
        } else {
            format!(
                "introspection: allowed for {} (each must be a confidential client), and for \
                 clients added with `latchkey clients add --introspect`",
                self.introspection_clients.join(", ")
            )
        }
    }

    /// The scope hierarchy in force (MCP 2026-07-28): each configured scope
    /// parsed as one scope token, no scope implying itself, at most
    /// [`ScopeHierarchy::MAX_PAIRS`] pairs.
    pub fn parsed_scope_hierarchy(&self) -> Result<ScopeHierarchy, ServerError> {
        let token = |scope: &String| {
            ScopeToken::parse(scope).map_err(|_| ServerError::ScopeHierarchyScopeInvalid {
                scope: scope.clone(),
            })
        };
        let pairs = self
            .scope_hierarchy
            .iter()
            .map(|(broader, narrower)| Ok((token(broader)?, token(narrower)?)))
            .collect::<Result<Vec<_>, ServerError>>()?;
        ScopeHierarchy::new(pairs).map_err(ServerError::ScopeHierarchyInvalid)
    }

    /// One line saying which scopes imply which, for `latchkey check`.
    pub fn scope_hierarchy_summary(&self) -> String {
        let Ok(hierarchy) = self.parsed_scope_hierarchy() else {
            return "scope hierarchy: refused (see above)".to_owned();
        };
        if hierarchy.is_empty() {
            return "scope hierarchy: none (a token must hold each scope a route needs)".to_owned();
        }
        let mut lines: Vec<String> = Vec::new();
        let mut current: Option<(&ScopeToken, Vec<&str>)> = None;
        for (broader, narrower) in hierarchy.implications() {
            match &mut current {
                Some((scope, implied)) if *scope == broader => implied.push(narrower.as_str()),
                _ => {
                    if let Some((scope, implied)) = current.take() {
                        lines.push(format!("{scope} implies {}", implied.join(", ")));
                    }
                    current = Some((broader, vec![narrower.as_str()]));
                }
            }
        }
        if let Some((scope, implied)) = current {
            lines.push(format!("{scope} implies {}", implied.join(", ")));
        }
        format!("scope hierarchy: {}", lines.join("; "))
    }

    /// The resources in effect: the configured ones, or `{issuer}/mcp` with
    /// the default scopes.
    pub fn effective_resources(&self) -> Vec<ResourceSettings> {
        if !self.resources.is_empty() {
            return self.resources.clone();
        }
        let base = self.issuer.trim_end_matches('/');
        vec![default_resource_settings(format!("{base}/mcp"))]
    }

    /// Every problem with the configuration, in plain words, in a stable
    /// order; empty when the server can start.
    pub fn problems(&self) -> Vec<ServerError> {
        let mut problems = self.issuer_problems();
        if self.bind.parse::<SocketAddr>().is_err() {
            problems.push(ServerError::BindInvalid {
                bind: self.bind.clone(),
            });
        }
        if let Err(error) = self.metrics_bind_addr() {
            problems.push(error);
        }
        for origin in &self.allowed_origins {
            if !is_canonical_origin(origin) {
                problems.push(ServerError::OriginInvalid {
                    origin: origin.clone(),
                });
            }
        }
        for &(name, expected) in &self.environment_problems {
            problems.push(ServerError::EnvironmentValueInvalid { name, expected });
        }
        if let Err(error) = self.parsed_trusted_proxies() {
            problems.push(error);
        }
        if let Err(error) = self.parsed_scope_hierarchy() {
            problems.push(error);
        }
        problems.extend(self.login_problems());
        problems.extend(self.identity_provider_problems());
        problems.extend(self.limits_problems());
        if parse_profile(&self.profile).is_none() {
            problems.push(ServerError::UnknownProfile {
                profile: self.profile.clone(),
            });
        }
        // The default resource derives from the issuer: a bad issuer is one problem, not two.
        if problems.is_empty() || !self.resources.is_empty() {
            problems.extend(self.resource_problems());
        }
        if !(1..=3600).contains(&self.access_token_lifetime_secs) {
            problems.push(ServerError::LifetimeOutOfRange);
        }
        problems.extend(self.tls_problems());
        if self
            .demo_password
            .as_ref()
            .is_some_and(|password| password.expose_secret().chars().count() < 12)
        {
            problems.push(ServerError::DemoPasswordTooShort);
        }
        problems.extend(self.housekeeping_problems());
        if problems.is_empty()
            && let Err(error) = self.engine_config()
        {
            problems.push(error);
        }
        problems
    }

    /// Problems with `[purge]` and `[refresh]`.
    fn housekeeping_problems(&self) -> Vec<ServerError> {
        let mut problems = Vec::new();
        if !(10..=86_400).contains(&self.purge_interval_secs) {
            problems.push(ServerError::SettingOutOfRange {
                setting: "purge.interval_secs",
                min: 10,
                max: 86_400,
            });
        }
        if self.public_client_retry_window_secs > RefreshPolicy::MAX_RETRY_WINDOW.as_secs() {
            problems.push(ServerError::SettingOutOfRange {
                setting: "refresh.public_client_retry_window_secs",
                min: 0,
                max: RefreshPolicy::MAX_RETRY_WINDOW.as_secs(),
            });
        }
        problems
    }

    /// One line describing the purge and the public-client refresh rule,
    /// for `latchkey check`.
    pub fn housekeeping_summary(&self) -> String {
        let retry = match self.public_client_retry_window_secs {
            0 => "a rotated refresh token of a public client without DPoP presented again \
                  revokes its family at once"
                .to_owned(),
            secs => format!(
                "public clients without DPoP may retry a rotated refresh token for {secs} s \
                 (opted in: a thief within that window gets the successor too)"
            ),
        };
        format!(
            "purge: expired records and never-used registered clients every {} s; {retry}",
            self.purge_interval_secs
        )
    }

    /// The purge settings in force ([`crate::purge`]).
    pub fn purge_settings(&self) -> Result<crate::purge::PurgeSettings, ServerError> {
        let engine = self.engine_config()?;
        Ok(crate::purge::PurgeSettings {
            interval: Duration::from_secs(self.purge_interval_secs),
            unused_client_ttl: engine
                .registration
                .as_ref()
                .map(|registration| registration.unused_client_ttl),
        })
    }

    /// The engine configuration this server configuration describes.
    pub fn engine_config(&self) -> Result<EngineConfig, ServerError> {
        let resources = self.resource_configs()?;
        let default_uri = match &self.default_resource {
            Some(uri) => parse_resource(uri)?,
            None => resources
                .first()
                .map(|resource| resource.uri.clone())
                .ok_or(ServerError::NoResources)?,
        };
        let mut config = if self.allow_insecure_http_issuer {
            EngineConfig::danger_new_allowing_insecure_http(&self.issuer, default_uri.clone())
        } else {
            EngineConfig::new(&self.issuer, default_uri.clone())
        }
        .map_err(ServerError::Engine)?;
        config.profile =
            parse_profile(&self.profile).ok_or_else(|| ServerError::UnknownProfile {
                profile: self.profile.clone(),
            })?;
        config.resources = resources;
        config.access_token_lifetime = Duration::from_secs(self.access_token_lifetime_secs);
        config.scope_hierarchy = self.parsed_scope_hierarchy()?;
        config.registration = self.registration.then(RegistrationSettings::default);
        config.cimd = self.cimd.then(|| {
            let policy = CimdPolicy::strict_default();
            if self.danger_allow_loopback_http_documents {
                policy.danger_allow_loopback_http_urls()
            } else {
                policy
            }
        });
        if !self.registration {
            config.registration_endpoint = None;
        }
        config.introspection_clients = self
            .introspection_clients
            .iter()
            .map(|id| {
                ClientId::parse(id).map_err(|_| {
                    ServerError::ClientInvalid(format!("introspection client id {id:?}"))
                })
            })
            .collect::<Result<_, _>>()?;
        config.refresh_policy = config
            .refresh_policy
            .with_public_client_retry_window(Duration::from_secs(
                self.public_client_retry_window_secs,
            ))
            .map_err(|_| ServerError::SettingOutOfRange {
                setting: "refresh.public_client_retry_window_secs",
                min: 0,
                max: RefreshPolicy::MAX_RETRY_WINDOW.as_secs(),
            })?;
        config.validate().map_err(ServerError::Engine)?;
        Ok(config)
    }

    /// The parsed listen address.
    pub fn bind_addr(&self) -> Result<SocketAddr, ServerError> {
        self.bind.parse().map_err(|_| ServerError::BindInvalid {
            bind: self.bind.clone(),
        })
    }

    /// The parsed metrics listen address, `None` when metrics are off. An
    /// address that does not parse, or the main [`bind`](Self::bind)
    /// address itself, is [`ServerError::MetricsBindInvalid`].
    pub fn metrics_bind_addr(&self) -> Result<Option<SocketAddr>, ServerError> {
        let Some(bind) = &self.metrics_bind else {
            return Ok(None);
        };
        let invalid = || ServerError::MetricsBindInvalid { bind: bind.clone() };
        let addr: SocketAddr = bind.parse().map_err(|_| invalid())?;
        let main = self.bind.parse::<SocketAddr>().ok();
        if main == Some(addr) && addr.port() != 0 {
            return Err(invalid());
        }
        Ok(Some(addr))
    }

    /// One line saying whether and where metrics are served, for `latchkey check`.
    pub fn metrics_summary(&self) -> String {
        match &self.metrics_bind {
            Some(bind) => format!("metrics: GET /metrics on {bind} (its own listener)"),
            None => {
                "metrics: off ([metrics] bind or LATCHKEY_METRICS_BIND turns them on)".to_owned()
            }
        }
    }

    /// Whether the issuer is https (cookies get `Secure` and the `__Host-` prefix).
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.starts_with("https://")
    }

    /// The secrets file next to the database: `<database>.secrets`.
    pub fn secrets_path(&self) -> PathBuf {
        let mut name = self.database.clone().into_os_string();
        name.push(".secrets");
        PathBuf::from(name)
    }

    fn issuer_problems(&self) -> Vec<ServerError> {
        let issuer = self.issuer.clone();
        let Ok(url) = url::Url::parse(&self.issuer) else {
            return vec![ServerError::IssuerNotUrl { issuer }];
        };
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return vec![ServerError::IssuerNotUrl { issuer }];
        }
        let mut problems = Vec::new();
        if url.scheme() == "http" && !is_loopback(&url) && !self.allow_insecure_http_issuer {
            problems.push(ServerError::InsecureHttpIssuer {
                issuer: issuer.clone(),
            });
        }
        if url.query().is_some() || url.fragment().is_some() {
            problems.push(ServerError::IssuerHasQueryOrFragment { issuer });
        }
        problems
    }

    fn resource_problems(&self) -> Vec<ServerError> {
        let resources = self.effective_resources();
        let mut problems = Vec::new();
        let mut seen: Vec<ResourceUri> = Vec::new();
        for settings in &resources {
            match resource_config(settings) {
                Ok(config) => {
                    if seen.contains(&config.uri) {
                        problems.push(ServerError::ResourceDuplicate {
                            uri: settings.uri.clone(),
                        });
                    }
                    seen.push(config.uri);
                }
                Err(error) => problems.push(error),
            }
        }
        if let Some(default) = &self.default_resource {
            let known = ResourceUri::parse(default).is_ok_and(|uri| seen.contains(&uri));
            if !known {
                problems.push(ServerError::DefaultResourceUnknown {
                    uri: default.clone(),
                });
            }
        }
        problems
    }

    fn login_problems(&self) -> Vec<ServerError> {
        let login = &self.login;
        let mut problems = Vec::new();
        let mut check = |setting: &'static str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(ServerError::LoginSettingOutOfRange { setting, min, max });
            }
        };
        check(
            "max_failures_per_user",
            u64::from(login.max_failures_per_user),
            1,
            1_000,
        );
        check(
            "max_failures_per_address",
            u64::from(login.max_failures_per_address),
            1,
            1_000_000,
        );
        check("window_secs", login.window_secs, 1, 86_400);
        check("max_lockout_secs", login.max_lockout_secs, 1, 604_800);
        if login.max_lockout_secs < login.window_secs {
            problems.push(ServerError::LoginLockoutShorterThanWindow);
        }
        problems
    }

    /// One problem per provider that does not validate or whose client
    /// secret cannot be read (the secret is never part of the message), a
    /// repeated id, and `passwords = false` without any provider.
    fn identity_provider_problems(&self) -> Vec<ServerError> {
        let mut problems = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        for config in &self.identity_providers {
            let problem = |error: UpstreamError| ServerError::IdentityProvider {
                id: config.id.clone(),
                reason: error.to_string(),
            };
            if ids.contains(&config.id.as_str()) {
                problems.push(problem(UpstreamError::ProviderIdDuplicate(
                    config.id.clone(),
                )));
                continue;
            }
            ids.push(&config.id);
            if let Err(error) = config.validate() {
                problems.push(problem(error));
                continue;
            }
            if let Err(error) = resolve_client_secret(config) {
                problems.push(problem(error));
            }
        }
        if !self.login.passwords && self.identity_providers.is_empty() {
            problems.push(ServerError::NoWayToSignIn);
        }
        problems
    }

    /// The validated providers with their client secrets, for the server
    /// (after [`problems`](Self::problems) found none).
    pub fn upstream_providers(&self) -> Result<Vec<(Provider, ClientSecret)>, ServerError> {
        let providers = validate_all(&self.identity_providers).map_err(|error| {
            ServerError::IdentityProvider {
                id: String::new(),
                reason: error.to_string(),
            }
        })?;
        providers
            .into_iter()
            .zip(&self.identity_providers)
            .map(|(provider, config)| {
                let secret = resolve_client_secret(config).map_err(|error| {
                    ServerError::IdentityProvider {
                        id: config.id.clone(),
                        reason: error.to_string(),
                    }
                })?;
                Ok((provider, secret))
            })
            .collect()
    }

    /// One line on the sign-in methods, for `latchkey check`.
    pub fn sign_in_summary(&self) -> String {
        let passwords = if self.login.passwords {
            "passwords on"
        } else {
            "passwords off"
        };
        if self.identity_providers.is_empty() {
            return format!("sign-in: {passwords}; identity providers: none");
        }
        let names: Vec<String> = self
            .identity_providers
            .iter()
            .map(|p| format!("{} ({})", p.id, p.display_name.trim()))
            .collect();
        format!(
            "sign-in: {passwords}; identity providers: {}; register the redirect URI {}/latchkey/callback/{{id}} at each",
            names.join(", "),
            self.issuer.trim_end_matches('/')
        )
    }

    fn tls_problems(&self) -> Vec<ServerError> {
        let mut problems = Vec::new();
        match (&self.tls.cert, &self.tls.key) {
            (None, None) => return problems,
            (Some(cert), Some(key)) => {
                for path in [cert, key] {
                    if !path.exists() {
                        problems.push(ServerError::TlsFileMissing {
                            path: path.display().to_string(),
                        });
                    }
                }
            }
            _ => problems.push(ServerError::TlsIncomplete),
        }
        if !self.issuer_is_https() {
            problems.push(ServerError::TlsWithHttpIssuer);
        }
        problems
    }

    fn resource_configs(&self) -> Result<Vec<ResourceConfig>, ServerError> {
        self.effective_resources()
            .iter()
            .map(resource_config)
            .collect()
    }
}

/// Parses a profile name (`2025-06-18`, `2025-11-25`, `2026-07-28`).
pub fn parse_profile(name: &str) -> Option<McpProfile> {
    match name {
        "2025-06-18" => Some(McpProfile::V2025_06_18),
        "2025-11-25" => Some(McpProfile::V2025_11_25),
        "2026-07-28" => Some(McpProfile::V2026_07_28),
        _ => None,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    bind: Option<String>,
    database: Option<PathBuf>,
    database_synchronous: Option<String>,
    profile: Option<String>,
    resources: Option<Vec<ResourceSettings>>,
    default_resource: Option<String>,
    access_token_lifetime_secs: Option<u64>,
    allow_insecure_http_issuer: Option<bool>,
    demo_user: Option<bool>,
    allowed_origins: Option<Vec<String>>,
    trusted_proxies: Option<Vec<String>>,
    introspection_clients: Option<Vec<String>>,
    login: Option<FileLogin>,
    identity_providers: Option<Vec<ProviderConfig>>,
    registration: Option<FileSwitch>,
    cimd: Option<FileCimd>,
    tls: Option<TlsSettings>,
    http: Option<FileHttp>,
    rate_limits: Option<FileRateLimits>,
    purge: Option<FilePurge>,
    metrics: Option<FileMetrics>,
    refresh: Option<FileRefresh>,
    scopes: Option<FileScopes>,
}

/// `[scopes]`: `hierarchy` maps a broader scope to the narrower ones it implies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScopes {
    hierarchy: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// The `(broader, narrower)` pairs of a `[scopes] hierarchy` table.
fn hierarchy_pairs(
    table: std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<(String, String)> {
    table
        .into_iter()
        .flat_map(|(broader, narrower)| {
            narrower
                .into_iter()
                .map(move |scope| (broader.clone(), scope))
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHttp {
    header_read_timeout_secs: Option<u64>,
    body_read_timeout_secs: Option<u64>,
    request_timeout_secs: Option<u64>,
    max_connections: Option<u64>,
    max_connections_per_address: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePurge {
    interval_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRateLimits {
    enabled: Option<bool>,
    per_address_per_minute: Option<u32>,
    per_address_burst: Option<u32>,
    per_client_per_minute: Option<u32>,
    per_client_burst: Option<u32>,
    registrations_per_address_per_hour: Option<u32>,
}

/// `[metrics]`: where `GET /metrics` is served.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMetrics {
    bind: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRefresh {
    public_client_retry_window_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSwitch {
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLogin {
    max_failures_per_user: Option<u32>,
    max_failures_per_address: Option<u32>,
    window_secs: Option<u64>,
    max_lockout_secs: Option<u64>,
    passwords: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCimd {
    enabled: Option<bool>,
    danger_allow_loopback_http_documents: Option<bool>,
}

/// Whether `origin` is an http(s) origin written exactly as browsers send it
/// in the `Origin` header (RFC 6454 section 6.1): lowercase scheme and host,
/// default port omitted, no path.
fn is_canonical_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.origin().ascii_serialization() == origin
}

/// A comma-separated list, entries trimmed, empty entries dropped.
fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads the whole number in variable `name` into `slot`; a value that is
/// not one is recorded in `problems` and leaves `slot` as it was.
fn number_from_env<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    slot: &mut T,
    problems: &mut Vec<(&'static str, &'static str)>,
) {
    let Some(value) = env(name) else {
        return;
    };
    match value.trim().parse() {
        Ok(number) => *slot = number,
        Err(_) => problems.push((name, "a whole number")),
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn default_resource_settings(uri: String) -> ResourceSettings {
    ResourceSettings {
        uri,
        scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        default_scope: vec![DEFAULT_SCOPE.to_owned()],
        name: Some("Demo MCP server".to_owned()),
        scope_descriptions: std::collections::BTreeMap::new(),
    }
}

fn parse_resource(uri: &str) -> Result<ResourceUri, ServerError> {
    ResourceUri::parse(uri).map_err(|_| ServerError::ResourceInvalid {
        uri: uri.to_owned(),
    })
}

fn resource_config(settings: &ResourceSettings) -> Result<ResourceConfig, ServerError> {
    let uri = parse_resource(&settings.uri)?;
    let scope = |values: &[String]| -> Result<Scope, ServerError> {
        if values.is_empty() {
            return Ok(Scope::empty());
        }
        for value in values {
            if value.is_empty() || Scope::parse(value).map(|s| s.len()) != Ok(1) {
                return Err(ServerError::ScopeInvalid {
                    uri: settings.uri.clone(),
                    scope: value.clone(),
                });
            }
        }
        Scope::parse(&values.join(" ")).map_err(|_| ServerError::ScopeInvalid {
            uri: settings.uri.clone(),
            scope: values.join(" "),
        })
    };
    let scopes_supported = scope(&settings.scopes)?;
    let default_scope = scope(&settings.default_scope)?;
    if !default_scope.is_subset(&scopes_supported) {
        return Err(ServerError::DefaultScopeNotInScopes {
            uri: settings.uri.clone(),
        });
    }
    let mut config = ResourceConfig::new(uri);
    config.scopes_supported = scopes_supported;
    config.default_scope = default_scope;
    config.name = settings.name.clone();
    Ok(config)
}

/// A provider's client secret: the environment's override was already put
/// in `client_secret` by [`ServerConfig::apply_env`]; the file is read here.
fn resolve_client_secret(config: &ProviderConfig) -> Result<ClientSecret, UpstreamError> {
    config.resolve_client_secret(None, |path| std::fs::read_to_string(path).ok())
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn with_toml(text: &str) -> ServerConfig {
        let mut config = ServerConfig::default();
        config.apply_toml(text).unwrap();
        config
    }

    #[test]
    fn r15_allowed_origins_come_from_toml_or_env_and_must_be_canonical() {
        let config = with_toml("allowed_origins = [\"http://localhost:6274\"]");
        assert_eq!(
            config.allowed_origins,
            vec!["http://localhost:6274".to_owned()]
        );
        assert!(config.problems().is_empty());

        let mut config = ServerConfig::default();
        config.apply_env(|name| {
            (name == "LATCHKEY_ALLOWED_ORIGINS")
                .then(|| " https://app.example.com , http://127.0.0.1:6274 ,".to_owned())
        });
        assert_eq!(
            config.allowed_origins,
            vec![
                "https://app.example.com".to_owned(),
                "http://127.0.0.1:6274".to_owned()
            ]
        );

        for bad in [
            "https://app.example.com/",
            "https://App.example.com",
            "https://app.example.com:443",
            "https://app.example.com/path",
            "app.example.com",
            "ftp://app.example.com",
            "null",
        ] {
            let config = ServerConfig {
                allowed_origins: vec![bad.to_owned()],
                ..ServerConfig::default()
            };
            let problems = config.problems();
            assert!(
                matches!(problems.as_slice(), [ServerError::OriginInvalid { origin }] if origin == bad),
                "{bad}: {problems:?}"
            );
        }
        assert_eq!(
            ServerConfig::default().allowed_origins,
            Vec::<String>::new()
        );
    }

    const PROVIDER: &str = r#"
        [[identity_providers]]
        id = "corp"
        kind = "oidc"
        display_name = "Corp SSO"
        issuer = "https://login.example.com"
        client_id = "latchkey"
        client_secret = "from-the-file"
        scopes = ["openid", "email"]
        allowed_email_domains = ["example.com"]
    "#;

    #[test]
    fn issue_10_identity_providers_and_passwords_come_from_the_file() {
        let config = with_toml(&format!("[login]\npasswords = false\n{PROVIDER}"));
        assert!(!config.login.passwords);
        assert_eq!(config.identity_providers.len(), 1);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let providers = config.upstream_providers().unwrap();
        assert_eq!(providers[0].0.id().as_str(), "corp");
        assert_eq!(providers[0].1.expose_secret(), "from-the-file");
        assert_eq!(
            config.sign_in_summary(),
            "sign-in: passwords off; identity providers: corp (Corp SSO); register the \
             redirect URI http://127.0.0.1:8080/latchkey/callback/{id} at each"
        );
    }

    #[test]
    fn issue_10_the_environment_overrides_a_client_secret_and_it_never_prints() {
        let mut config = ServerConfig::default();
        config.apply_toml(PROVIDER).unwrap();
        config.apply_env(|name| {
            (name == "LATCHKEY_IDP_CORP_CLIENT_SECRET").then(|| "from-the-env".to_owned())
        });
        let providers = config.upstream_providers().unwrap();
        assert_eq!(providers[0].1.expose_secret(), "from-the-env");
        let debug = format!("{config:?}");
        assert!(!debug.contains("from-the-env"), "{debug}");
        assert!(!debug.contains("from-the-file"), "{debug}");
    }

    #[test]
    fn issue_10_each_provider_problem_is_one_line_naming_the_provider() {
        let config = with_toml(
            r#"
            [login]
            passwords = false
            [[identity_providers]]
            id = "Corp"
            kind = "oidc"
            display_name = "Corp SSO"
            issuer = "https://login.example.com"
            client_id = "latchkey"
            client_secret = "s3cret-value"
            scopes = ["openid"]
            [[identity_providers]]
            id = "gh"
            kind = "oauth2"
            display_name = "GitHub"
            client_id = "Iv1.abc"
            scopes = ["read:user"]
            authorization_endpoint = "https://github.com/login/oauth/authorize"
            token_endpoint = "https://github.com/login/oauth/access_token"
            userinfo_endpoint = "https://api.github.com/user"
            [[identity_providers]]
            id = "okta"
            kind = "oidc"
            display_name = "Okta"
            issuer = "http://login.example.com"
            client_id = "latchkey"
            client_secret = "s3cret-value"
            scopes = ["email"]
            "#,
        );
        let problems: Vec<String> = config.problems().iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "identity provider \"Corp\": provider id must be 1 to 32 characters of a-z, 0-9 and -",
                "identity provider \"gh\": no client secret: set client_secret, client_secret_file or the environment variable",
                "identity provider \"okta\": issuer must be an https url without query or fragment (http only on loopback)",
            ]
        );
        assert!(problems.iter().all(|line| !line.contains("s3cret")));
        let none = with_toml("[login]\npasswords = false\n");
        assert_eq!(
            none.problems()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["login.passwords = false needs at least one [[identity_providers]] entry"]
        );
    }

    #[test]
    fn oauth_2_1_section_7_7_login_limits_are_on_by_default() {
        let config = ServerConfig::load(None, no_env).unwrap();
        assert_eq!(
            config.login,
            LoginSettings {
                max_failures_per_user: 5,
                max_failures_per_address: 20,
                window_secs: 900,
                max_lockout_secs: 3600,
                passwords: true,
            }
        );
        assert_eq!(config.login_policy(), LoginPolicy::default());
        assert!(config.parsed_trusted_proxies().unwrap().is_empty());
        assert_eq!(
            config.login_summary(),
            "sign-in limits: 5 failures per user name, or 20 per client address, within 900 s \
             lock it out for 900 s, doubling on each repeat up to 3600 s; trusted proxies: none \
             (the client address is the connection's peer)"
        );
    }

    #[test]
    fn login_limits_and_trusted_proxies_come_from_toml_then_env() {
        let mut config = with_toml(
            r#"
            trusted_proxies = ["10.0.0.0/8", "fd00::1"]
            [login]
            max_failures_per_user = 3
            max_failures_per_address = 50
            window_secs = 60
            max_lockout_secs = 600
            "#,
        );
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let policy = config.login_policy();
        assert_eq!(policy.max_failures_per_user, 3);
        assert_eq!(policy.max_failures_per_address, 50);
        assert_eq!(policy.window, Duration::from_secs(60));
        assert_eq!(policy.max_lockout, Duration::from_secs(600));
        assert!(
            config
                .parsed_trusted_proxies()
                .unwrap()
                .contains("10.9.8.7".parse().unwrap())
        );
        config.apply_env(|name| match name {
            "LATCHKEY_LOGIN_MAX_FAILURES_PER_USER" => Some("7".to_owned()),
            "LATCHKEY_LOGIN_MAX_FAILURES_PER_ADDRESS" => Some(" 70 ".to_owned()),
            "LATCHKEY_LOGIN_WINDOW_SECS" => Some("120".to_owned()),
            "LATCHKEY_LOGIN_MAX_LOCKOUT_SECS" => Some("1200".to_owned()),
            "LATCHKEY_TRUSTED_PROXIES" => Some("127.0.0.1, ::1,".to_owned()),
            _ => None,
        });
        assert_eq!(
            config.login,
            LoginSettings {
                max_failures_per_user: 7,
                max_failures_per_address: 70,
                window_secs: 120,
                max_lockout_secs: 1200,
                passwords: true,
            }
        );
        assert_eq!(config.trusted_proxies, ["127.0.0.1", "::1"]);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn login_limit_problems_are_reported() {
        let config = with_toml(
            "trusted_proxies = [\"proxy.internal\"]\n[login]\nmax_failures_per_user = 0\n\
             window_secs = 7200\nmax_lockout_secs = 3600",
        );
        let problems = config.problems();
        assert!(
            matches!(
                problems.as_slice(),
                [
                    ServerError::TrustedProxyInvalid { entry },
                    ServerError::LoginSettingOutOfRange {
                        setting: "max_failures_per_user",
                        min: 1,
                        max: 1_000
                    },
                    ServerError::LoginLockoutShorterThanWindow,
                ] if entry == "proxy.internal"
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[1].to_string(),
            "login.max_failures_per_user must be between 1 and 1000"
        );

        let mut config = ServerConfig::default();
        config.apply_env(|name| {
            (name == "LATCHKEY_LOGIN_WINDOW_SECS").then(|| "15 minutes".to_owned())
        });
        assert_eq!(
            config.login.window_secs, 900,
            "an unreadable value changes nothing"
        );
        let problems = config.problems();
        assert!(
            matches!(
                problems.as_slice(),
                [ServerError::EnvironmentValueInvalid {
                    name: "LATCHKEY_LOGIN_WINDOW_SECS",
                    expected: "a whole number"
                }]
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[0].to_string(),
            "LATCHKEY_LOGIN_WINDOW_SECS must be a whole number"
        );

        let mut config = ServerConfig::default();
        let error = config.apply_toml("[login]\nmax_failures = 3").unwrap_err();
        assert!(error.to_string().contains("max_failures"), "{error}");
    }

    #[test]
    fn mcp_2026_07_28_scope_hierarchy_comes_from_the_file_into_the_engine() {
        let config = with_toml(
            "[scopes]\nhierarchy = { \"notes\" = [\"notes:write\"], \"notes:write\" = [\"notes:read\"] }",
        );
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let hierarchy = config.engine_config().unwrap().scope_hierarchy;
        let scope = |s| Scope::parse(s).unwrap();
        // Transitive: notes -> notes:write -> notes:read; never the other way.
        assert!(hierarchy.covers(&scope("notes"), &scope("notes:read")));
        assert!(!hierarchy.covers(&scope("notes:read"), &scope("notes")));
        assert_eq!(
            config.scope_hierarchy_summary(),
            "scope hierarchy: notes implies notes:read, notes:write; notes:write implies notes:read"
        );
        // scopes_supported is untouched by the hierarchy.
        assert_eq!(
            config.engine_config().unwrap().resources[0].scopes_supported,
            scope("mcp:read mcp:tools")
        );
        let none = ServerConfig::default();
        assert!(none.engine_config().unwrap().scope_hierarchy.is_empty());
        assert!(none.scope_hierarchy_summary().contains("none"));
    }

    #[test]
    fn mcp_2026_07_28_check_explains_a_cyclic_or_invalid_scope_hierarchy() {
        let cycle = with_toml("[scopes]\nhierarchy = { a = [\"b\"], b = [\"a\"] }");
        let problems = cycle.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "the scope hierarchy is refused: scope a implies itself through a cycle"
        );
        assert!(cycle.engine_config().is_err());
        let itself = with_toml("[scopes]\nhierarchy = { a = [\"a\"] }");
        assert_eq!(
            itself.problems()[0].to_string(),
            "the scope hierarchy is refused: scope a cannot imply itself"
        );
        let spaced = with_toml("[scopes]\nhierarchy = { \"a b\" = [\"c\"] }");
        assert!(matches!(
            spaced.problems()[..],
            [ServerError::ScopeHierarchyScopeInvalid { .. }]
        ));
        let mut unknown = ServerConfig::default();
        assert!(unknown.apply_toml("[scopes]\nimplies = {}").is_err());
    }

    #[test]
    fn mcp_2026_07_28_scope_hierarchy_from_the_environment_replaces_the_file() {
        let mut config = with_toml("[scopes]\nhierarchy = { a = [\"b\"] }");
        config.apply_env(|name| {
            (name == "LATCHKEY_SCOPE_HIERARCHY").then(|| "{ notes = [\"notes:read\"] }".to_owned())
        });
        assert_eq!(
            config.scope_hierarchy,
            vec![("notes".to_owned(), "notes:read".to_owned())]
        );
        let mut bad = ServerConfig::default();
        bad.apply_env(|name| (name == "LATCHKEY_SCOPE_HIERARCHY").then(|| "notes>read".to_owned()));
        assert!(matches!(
            bad.problems()[..],
            [ServerError::EnvironmentValueInvalid {
                name: "LATCHKEY_SCOPE_HIERARCHY",
                ..
            }]
        ));
    }

    #[test]
    fn rfc_7662_introspection_clients_come_from_the_file_and_bad_ids_are_problems() {
        let mut config = ServerConfig::default();
        assert!(
            config
                .engine_config()
                .unwrap()
                .introspection_clients
                .is_empty()
        );
        config
            .apply_toml("introspection_clients = [\"rs-1\", \"rs-2\"]")
            .unwrap();
        assert_eq!(
            config.engine_config().unwrap().introspection_clients,
            vec![
                ClientId::parse("rs-1").unwrap(),
                ClientId::parse("rs-2").unwrap()
            ]
        );
        assert!(config.introspection_summary().contains("rs-1, rs-2"));
        config.apply_toml("introspection_clients = [\"\"]").unwrap();
        let problems = config.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].to_string().contains("introspection client id"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn metrics_are_off_by_default_and_come_from_toml_then_env() {
        let config = ServerConfig::load(None, no_env).unwrap();
        assert_eq!(config.metrics_bind_addr().unwrap(), None);
        assert!(config.metrics_summary().starts_with("metrics: off"));

        let mut config = ServerConfig::default();
        config
            .apply_toml("[metrics]\nbind = \"127.0.0.1:9464\"\n")
            .unwrap();
        assert_eq!(
            config.metrics_bind_addr().unwrap(),
            Some("127.0.0.1:9464".parse().unwrap())
        );
        config.apply_env(|name| (name == "LATCHKEY_METRICS_BIND").then(|| "[::1]:9000".to_owned()));
        assert_eq!(
            config.metrics_bind_addr().unwrap(),
            Some("[::1]:9000".parse().unwrap())
        );
        assert!(config.problems().is_empty(), "{:?}", config.problems());
    }

    #[test]
    fn latchkey_check_refuses_a_bad_metrics_bind_or_the_main_bind() {
        for bind in ["localhost", "127.0.0.1", "", DEFAULT_BIND] {
            let config = ServerConfig {
                metrics_bind: Some(bind.to_owned()),
                ..ServerConfig::default()
            };
            assert!(
                config
                    .problems()
                    .iter()
                    .any(|problem| matches!(problem, ServerError::MetricsBindInvalid { .. })),
                "{bind:?}: {:?}",
                config.problems()
            );
        }
        let error = ServerConfig::default()
            .apply_toml("[metrics]\nport = 9464\n")
            .unwrap_err();
        assert!(matches!(error, ServerError::ConfigSyntax { .. }), "{error}");
    }

    #[test]
    fn http_and_rate_limits_have_safe_defaults_and_come_from_toml_then_env() {
        let config = ServerConfig::load(None, no_env).unwrap();
        assert_eq!(config.http_limits(), HttpLimits::default());
        assert_eq!(
            config.http_limits().header_read_timeout,
            Duration::from_secs(10)
        );
        assert_eq!(config.rate_limit_policy(), Some(RateLimitPolicy::default()));

        let mut config = with_toml(
            "[http]\nheader_read_timeout_secs = 2\nbody_read_timeout_secs = 3\n\
             request_timeout_secs = 4\nmax_connections = 5\n\
             [rate_limits]\nper_address_per_minute = 6\nper_address_burst = 7\n\
             per_client_per_minute = 8\nper_client_burst = 9\n\
             registrations_per_address_per_hour = 10\n",
        );
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(
            config.http_limits(),
            HttpLimits {
                header_read_timeout: Duration::from_secs(2),
                body_read_timeout: Duration::from_secs(3),
                request_timeout: Duration::from_secs(4),
                max_connections: 5,
                max_connections_per_address: 64,
            }
        );
        let policy = config.rate_limit_policy().unwrap();
        assert_eq!(policy.per_address, Quota::per_minute(6, 7));
        assert_eq!(policy.per_client, Quota::per_minute(8, 9));
        assert_eq!(policy.registrations_per_address, Quota::per_hour(10));

        config.apply_env(|name| match name {
            "LATCHKEY_HTTP_MAX_CONNECTIONS" => Some("50".to_owned()),
            "LATCHKEY_RATE_LIMITS_PER_CLIENT_BURST" => Some("90".to_owned()),
            "LATCHKEY_RATE_LIMITS_ENABLED" => Some("false".to_owned()),
            _ => None,
        });
        assert_eq!(config.http.max_connections, 50);
        assert_eq!(config.rate_limits.per_client_burst, 90);
        assert_eq!(config.rate_limit_policy(), None);
        assert_eq!(config.limits_summary()[1], "rate limits: off");
    }

    #[test]
    fn http_and_rate_limit_problems_are_reported() {
        let config = with_toml(
            "[http]\nheader_read_timeout_secs = 0\nmax_connections = 100000\n\
             [rate_limits]\nper_client_burst = 0\n",
        );
        let problems = config.problems();
        assert!(
            matches!(
                problems.as_slice(),
                [
                    ServerError::SettingOutOfRange {
                        setting: "http.header_read_timeout_secs",
                        min: 1,
                        max: 300
                    },
                    ServerError::SettingOutOfRange {
                        setting: "http.max_connections",
                        min: 1,
                        max: 65_536
                    },
                    ServerError::SettingOutOfRange {
                        setting: "rate_limits.per_client_burst",
                        ..
                    },
                ]
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[0].to_string(),
            "http.header_read_timeout_secs must be between 1 and 300"
        );
        let mut config = ServerConfig::default();
        config.apply_env(|name| match name {
            "LATCHKEY_RATE_LIMITS_ENABLED" => Some("maybe".to_owned()),
            "LATCHKEY_HTTP_REQUEST_TIMEOUT_SECS" => Some("1m".to_owned()),
            _ => None,
        });
        assert!(
            matches!(
                config.problems().as_slice(),
                [
                    ServerError::EnvironmentValueInvalid {
                        name: "LATCHKEY_HTTP_REQUEST_TIMEOUT_SECS",
                        ..
                    },
                    ServerError::EnvironmentValueInvalid {
                        name: "LATCHKEY_RATE_LIMITS_ENABLED",
                        expected: "true or false"
                    },
                ]
            ),
            "{:?}",
            config.problems()
        );
        let error = ServerConfig::default()
            .apply_toml("[rate_limits]\nper_minute = 3")
            .unwrap_err();
        assert!(error.to_string().contains("per_minute"), "{error}");
    }

    #[test]
    fn defaults_work_with_no_configuration() {
        let config = ServerConfig::load(None, no_env).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.bind, "127.0.0.1:8080");
        assert_eq!(config.database, PathBuf::from("./latchkey.db"));
        assert_eq!(
            config.secrets_path(),
            PathBuf::from("./latchkey.db.secrets")
        );
        assert!(config.problems().is_empty());
        let engine = config.engine_config().unwrap();
        assert_eq!(engine.profile, McpProfile::V2026_07_28);
        assert_eq!(
            engine.default_resource.as_str(),
            "http://127.0.0.1:8080/mcp"
        );
        let resource = engine.resource(&engine.default_resource).unwrap();
        assert_eq!(resource.scopes_supported.to_string(), "mcp:read mcp:tools");
        assert_eq!(resource.default_scope.to_string(), "mcp:tools");
        assert!(engine.registration.is_some());
        let cimd = engine.cimd.unwrap();
        assert!(!cimd.allows_loopback_http_urls());
    }

    #[test]
    fn database_synchronous_is_normal_unless_set_to_full() {
        assert_eq!(
            ServerConfig::default().database_synchronous,
            Synchronous::Normal
        );
        let mut config = ServerConfig::default();
        config
            .apply_toml("database_synchronous = \"full\"\n")
            .unwrap();
        assert_eq!(config.database_synchronous, Synchronous::Full);
        config.apply_env(|name| {
            (name == "LATCHKEY_DATABASE_SYNCHRONOUS").then(|| "normal".to_owned())
        });
        assert_eq!(config.database_synchronous, Synchronous::Normal);
        assert!(config.problems().is_empty());
        assert!(matches!(
            ServerConfig::default().apply_toml("database_synchronous = \"off\"\n"),
            Err(ServerError::ConfigSyntax { .. })
        ));
        let mut config = ServerConfig::default();
        config
            .apply_env(|name| (name == "LATCHKEY_DATABASE_SYNCHRONOUS").then(|| "off".to_owned()));
        assert_eq!(config.database_synchronous, Synchronous::Normal);
        assert!(!config.problems().is_empty());
    }

    #[test]
    fn environment_overrides_file_and_defaults() {
        let path =
            std::env::temp_dir().join(format!("latchkey-config-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "issuer = \"https://file.example\"\nbind = \"0.0.0.0:9000\"\n",
        )
        .unwrap();
        let env = |name: &str| match name {
            "LATCHKEY_ISSUER" => Some("https://env.example".to_owned()),
            "LATCHKEY_DATABASE" => Some("/tmp/x.db".to_owned()),
            "LATCHKEY_DEMO_PASSWORD" => Some("correct horse battery".to_owned()),
            _ => None,
        };
        let config = ServerConfig::load(Some(&path), env).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(config.issuer, "https://env.example");
        assert_eq!(config.bind, "0.0.0.0:9000");
        assert_eq!(config.database, PathBuf::from("/tmp/x.db"));
        assert_eq!(
            config
                .demo_password
                .as_ref()
                .map(SecretString::expose_secret),
            Some("correct horse battery")
        );
        assert_eq!(
            config.effective_resources()[0].uri,
            "https://env.example/mcp"
        );
        assert!(config.problems().is_empty());
    }

    #[test]
    fn missing_file_is_reported() {
        let error =
            ServerConfig::load(Some(Path::new("/nonexistent/latchkey.toml")), no_env).unwrap_err();
        assert!(matches!(error, ServerError::ConfigUnreadable { .. }));
    }

    #[test]
    fn unknown_setting_is_a_syntax_error() {
        let mut config = ServerConfig::default();
        let error = config.apply_toml("isuer = \"https://typo\"").unwrap_err();
        assert!(matches!(error, ServerError::ConfigSyntax { .. }));
        assert!(error.to_string().contains("isuer"));
    }

    #[test]
    fn file_sets_resources_registration_and_cimd() {
        let config = with_toml(
            r#"
            issuer = "https://as.example"
            profile = "2025-11-25"
            [[resources]]
            uri = "https://mcp.example/mcp"
            scopes = ["a", "b"]
            default_scope = ["a"]
            [registration]
            enabled = false
            [cimd]
            enabled = true
            danger_allow_loopback_http_documents = true
            "#,
        );
        let engine = config.engine_config().unwrap();
        assert_eq!(engine.profile, McpProfile::V2025_11_25);
        assert_eq!(engine.default_resource.as_str(), "https://mcp.example/mcp");
        assert!(engine.registration.is_none());
        assert!(engine.registration_endpoint.is_none());
        assert!(engine.cimd.unwrap().allows_loopback_http_urls());
    }

    #[test]
    fn mcp_a12_public_http_issuer_is_refused() {
        let config = with_toml("issuer = \"http://auth.example.com\"");
        let problems = config.problems();
        assert_eq!(problems.len(), 1);
        assert!(matches!(
            problems[0],
            ServerError::InsecureHttpIssuer { .. }
        ));
        assert!(problems[0].to_string().contains("MCP requires https"));
    }

    #[test]
    fn mcp_a12_allowing_http_issuer_silences_the_server_check() {
        let config =
            with_toml("issuer = \"http://auth.example.com\"\nallow_insecure_http_issuer = true");
        // Explicitly allowed: neither the server check nor the engine refuses it.
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert!(config.engine_config().is_ok());
    }

    #[test]
    fn loopback_http_issuer_is_fine() {
        for issuer in [
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://127.0.0.1",
        ] {
            let config = with_toml(&format!("issuer = \"{issuer}\""));
            assert!(config.problems().is_empty(), "{issuer}");
        }
    }

    #[test]
    fn issuer_problems() {
        let config = with_toml("issuer = \"auth.example.com\"");
        assert!(matches!(
            config.problems()[..],
            [ServerError::IssuerNotUrl { .. }]
        ));
        let config = with_toml("issuer = \"https://as.example/?x=1\"");
        assert!(matches!(
            config.problems()[..],
            [ServerError::IssuerHasQueryOrFragment { .. }]
        ));
    }

    #[test]
    fn bind_profile_and_lifetime_problems() {
        let config = with_toml(
            "bind = \"localhost\"\nprofile = \"2024-01-01\"\naccess_token_lifetime_secs = 7200",
        );
        assert!(matches!(
            config.problems()[..],
            [
                ServerError::BindInvalid { .. },
                ServerError::UnknownProfile { .. },
                ServerError::LifetimeOutOfRange
            ]
        ));
    }

    #[test]
    fn resource_problems() {
        let config = with_toml(
            r#"
            [[resources]]
            uri = "not a url"
            [[resources]]
            uri = "https://mcp.example/mcp"
            scopes = ["ok", "bad\"quote"]
            [[resources]]
            uri = "https://mcp.example/other"
            scopes = ["a"]
            default_scope = ["b"]
            [[resources]]
            uri = "https://mcp.example/x"
            [[resources]]
            uri = "https://MCP.example/x"
            "#,
        );
        assert!(matches!(
            config.problems()[..],
            [
                ServerError::ResourceInvalid { .. },
                ServerError::ScopeInvalid { .. },
                ServerError::DefaultScopeNotInScopes { .. },
                ServerError::ResourceDuplicate { .. },
            ]
        ));
    }

    #[test]
    fn default_resource_must_be_configured() {
        let config = with_toml("default_resource = \"https://elsewhere.example/mcp\"");
        assert!(matches!(
            config.problems()[..],
            [ServerError::DefaultResourceUnknown { .. }]
        ));
    }

    #[test]
    fn tls_problems() {
        let config = with_toml("[tls]\ncert = \"/nonexistent/cert.pem\"");
        assert!(matches!(
            config.problems()[..],
            [ServerError::TlsIncomplete, ServerError::TlsWithHttpIssuer]
        ));
        let config = with_toml(
            "issuer = \"https://as.example\"\n[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"",
        );
        assert!(matches!(
            config.problems()[..],
            [
                ServerError::TlsFileMissing { .. },
                ServerError::TlsFileMissing { .. }
            ]
        ));
    }

    #[test]
    fn short_demo_password_is_refused() {
        let mut config = ServerConfig::default();
        config.apply_env(|name| (name == "LATCHKEY_DEMO_PASSWORD").then(|| "short".to_owned()));
        assert!(matches!(
            config.problems()[..],
            [ServerError::DemoPasswordTooShort]
        ));
    }

    #[test]
    fn purge_and_refresh_settings_have_safe_defaults_and_bounds() {
        let config = ServerConfig::load(None, no_env).unwrap();
        assert_eq!(config.purge_interval_secs, 300);
        assert_eq!(config.public_client_retry_window_secs, 0);
        let purge = config.purge_settings().unwrap();
        assert_eq!(purge.interval, Duration::from_secs(300));
        assert_eq!(
            purge.unused_client_ttl,
            Some(Duration::from_secs(24 * 3600))
        );
        assert_eq!(
            config
                .engine_config()
                .unwrap()
                .refresh_policy
                .public_client_retry_window(),
            Duration::ZERO
        );

        let config = with_toml(
            "[purge]\ninterval_secs = 60\n[refresh]\npublic_client_retry_window_secs = 20",
        );
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        assert_eq!(
            config.purge_settings().unwrap().interval,
            Duration::from_secs(60)
        );
        assert_eq!(
            config
                .engine_config()
                .unwrap()
                .refresh_policy
                .public_client_retry_window(),
            Duration::from_secs(20)
        );
        assert!(config.housekeeping_summary().contains("for 20 s"));

        let config = with_toml(
            "[purge]\ninterval_secs = 0\n[refresh]\npublic_client_retry_window_secs = 61",
        );
        let problems = config.problems();
        assert!(
            matches!(
                problems.as_slice(),
                [
                    ServerError::SettingOutOfRange {
                        setting: "purge.interval_secs",
                        ..
                    },
                    ServerError::SettingOutOfRange {
                        setting: "refresh.public_client_retry_window_secs",
                        min: 0,
                        max: 60
                    },
                ]
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[1].to_string(),
            "refresh.public_client_retry_window_secs must be between 0 and 60"
        );
    }

    #[test]
    fn latchkey_resource_replaces_resources() {
        let mut config = with_toml("[[resources]]\nuri = \"https://a.example/mcp\"");
        config.apply_env(|name| {
            (name == "LATCHKEY_RESOURCE").then(|| "https://b.example/mcp".to_owned())
        });
        let engine = config.engine_config().unwrap();
        assert_eq!(engine.resources.len(), 1);
        assert_eq!(engine.default_resource.as_str(), "https://b.example/mcp");
    }
}
