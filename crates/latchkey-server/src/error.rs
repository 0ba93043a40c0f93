//! The one error type of the server crate.

use latchkey_types::ErrorCode;

/// What went wrong in the server: a configuration problem (one plain line
/// each, as `latchkey check` prints them), a file, the store or the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration file could not be read.
    #[error("the configuration file {path} could not be read: {reason}")]
    ConfigUnreadable {
        /// The file.
        path: String,
        /// What the operating system said.
        reason: String,
    },
    /// The configuration file is not valid TOML or has an unknown setting.
    #[error("the configuration file is not valid: {reason}")]
    ConfigSyntax {
        /// What the TOML parser said (no values from the file beyond its position).
        reason: String,
    },
    /// The issuer is not an absolute URL.
    #[error("issuer {issuer:?} is not an absolute URL such as https://auth.example.com")]
    IssuerNotUrl {
        /// The configured issuer.
        issuer: String,
    },
    /// The issuer uses http on a host that is not loopback (MCP A12).
    #[error(
        "issuer {issuer:?} uses plain http on a public host; MCP requires https (use https, or http on 127.0.0.1 or localhost for local testing)"
    )]
    InsecureHttpIssuer {
        /// The configured issuer.
        issuer: String,
    },
    /// The issuer has a query or a fragment (RFC 8414 section 2).
    #[error("issuer {issuer:?} must not have a query (?...) or a fragment (#...)")]
    IssuerHasQueryOrFragment {
        /// The configured issuer.
        issuer: String,
    },
    /// The bind address is not `host:port`.
    #[error("bind {bind:?} is not an address and port such as 127.0.0.1:8080")]
    BindInvalid {
        /// The configured bind address.
        bind: String,
    },
    /// The metrics bind address is not `host:port`, or is the main one.
    #[error(
        "metrics bind {bind:?} is not an address and port such as 127.0.0.1:9464, other than bind"
    )]
    MetricsBindInvalid {
        /// The configured metrics bind address.
        bind: String,
    },
    /// An allowed origin is not `scheme://host[:port]` in its canonical form.
    #[error(
        "allowed origin {origin:?} is not an origin such as https://app.example.com (scheme, host and port only, lowercase, no path)"
    )]
    OriginInvalid {
        /// The configured origin.
        origin: String,
    },
    /// The MCP profile is not one of the known revisions.
    #[error("profile {profile:?} is unknown; use 2025-06-18, 2025-11-25 or 2026-07-28")]
    UnknownProfile {
        /// The configured profile.
        profile: String,
    },
    /// No resource is configured.
    #[error("no resource is configured; add a [[resources]] entry with a uri")]
    NoResources,
    /// A resource URI is not a valid resource identifier (RFC 8707 section 2).
    #[error(
        "resource {uri:?} is not a valid resource URL (absolute, no fragment, no query, no user name)"
    )]
    ResourceInvalid {
        /// The configured URI.
        uri: String,
    },
    /// The same resource is configured twice.
    #[error("resource {uri:?} is configured twice")]
    ResourceDuplicate {
        /// The configured URI.
        uri: String,
    },
    /// A scope value is not a valid scope token (RFC 6749 section 3.3).
    #[error(
        "scope {scope:?} of resource {uri:?} is not a valid scope (no spaces, quotes or backslashes)"
    )]
    ScopeInvalid {
        /// The resource.
        uri: String,
        /// The offending scope.
        scope: String,
    },
    /// A scope in `[scopes] hierarchy` is not a valid scope token (RFC 6749 section 3.3).
    #[error(
        "scope {scope:?} in the scope hierarchy is not a valid scope (no spaces, quotes or backslashes)"
    )]
    ScopeHierarchyScopeInvalid {
        /// The offending scope.
        scope: String,
    },
    /// The scope hierarchy implies a scope from itself, or is too large.
    #[error("the scope hierarchy is refused: {0}")]
    ScopeHierarchyInvalid(#[source] latchkey_types::TypesError),
    /// A default scope is not among the resource's scopes.
    #[error("the default scope of resource {uri:?} is not among its scopes")]
    DefaultScopeNotInScopes {
        /// The resource.
        uri: String,
    },
    /// The default resource is not among the resources.
    #[error("default_resource {uri:?} is not one of the configured resources")]
    DefaultResourceUnknown {
        /// The configured default resource.
        uri: String,
    },
    /// The access-token lifetime is outside 1 s to 1 hour (MCP A9).
    #[error(
        "access_token_lifetime_secs must be between 1 and 3600 (MCP asks for short-lived tokens)"
    )]
    LifetimeOutOfRange,
    /// Only one of `tls.cert` and `tls.key` is set.
    #[error("tls needs both cert and key; only one is set")]
    TlsIncomplete,
    /// A TLS file does not exist.
    #[error("the tls file {path} does not exist")]
    TlsFileMissing {
        /// The file.
        path: String,
    },
    /// A TLS file could not be used.
    #[error("the tls file {path} {problem}")]
    TlsFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// TLS is configured but the issuer is not https.
    #[error("tls is configured but the issuer is not https; clients would not use it")]
    TlsWithHttpIssuer,
    /// A `[login]` number is outside its range.
    #[error("login.{setting} must be between {min} and {max}")]
    LoginSettingOutOfRange {
        /// The setting, as written in the file.
        setting: &'static str,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// The longest lockout is shorter than the first one.
    #[error("login.max_lockout_secs must not be shorter than login.window_secs")]
    LoginLockoutShorterThanWindow,
    /// An `[[identity_providers]]` entry is wrong (never shows its secret).
    #[error("identity provider {id:?}: {reason}")]
    IdentityProvider {
        /// The provider's id, as written.
        id: String,
        /// What is wrong, in one line.
        reason: String,
    },
    /// `login.passwords = false` with no identity provider: nobody could sign in.
    #[error("login.passwords = false needs at least one [[identity_providers]] entry")]
    NoWayToSignIn,
    /// A numeric setting (`[http]`, `[rate_limits]`, `[purge]`, `[refresh]`) is outside its range.
    #[error("{setting} must be between {min} and {max}")]
    SettingOutOfRange {
        /// The setting, as `table.name`.
        setting: &'static str,
        /// The smallest value accepted.
        min: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A trusted proxy is not an IP address or network.
    #[error(
        "trusted proxy {entry:?} is not an IP address or network such as 10.0.0.1 or 10.0.0.0/8"
    )]
    TrustedProxyInvalid {
        /// The configured entry.
        entry: String,
    },
    /// An environment variable holds a value that could not be read.
    #[error("{name} must be {expected}")]
    EnvironmentValueInvalid {
        /// The variable.
        name: &'static str,
        /// What it must hold.
        expected: &'static str,
    },
    /// The demo password is too short.
    #[error("LATCHKEY_DEMO_PASSWORD must be at least 12 characters")]
    DemoPasswordTooShort,
    /// The engine refused the configuration.
    #[error("the authorization server refused the configuration: {0}")]
    Engine(#[source] latchkey_engine::EngineError),
    /// The secrets file could not be read, written or has the wrong permissions.
    #[error("the secrets file {path} {problem}")]
    SecretsFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The store failed.
    #[error("the database failed: {0}")]
    Store(#[from] latchkey_store::StoreError),
    /// A user name is not valid.
    #[error("user name {0:?} is not valid")]
    UsernameInvalid(String),
    /// The user already exists.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// The user does not exist.
    #[error("user {0:?} does not exist")]
    UserUnknown(String),
    /// A user name equal to a client id, or the other way round (RFC 9700
    /// section 4.15.1: a client-credentials token's `sub` is its client id).
    #[error("{0:?} is already a client id or a user name; user names and client ids must differ")]
    NameIsClientId(String),
    /// A password is too short.
    #[error("the password must be at least 12 characters")]
    PasswordTooShort,
    /// Hashing a password failed.
    #[error("the password could not be hashed")]
    PasswordHash,
    /// A client's settings were refused.
    #[error("the client settings were refused: {0}")]
    ClientInvalid(String),
    /// The client already exists.
    #[error("client {0:?} already exists")]
    ClientExists(String),
    /// The client does not exist.
    #[error("client {0:?} does not exist")]
    ClientUnknown(String),
    /// Reading input or writing output failed.
    #[error("input or output failed: {0}")]
    Io(#[from] std::io::Error),
    /// The database file has the wrong permissions or could not be inspected.
    #[error("the database file {path} {problem}")]
    DatabaseFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl From<&ServerError> for ErrorCode {
    fn from(error: &ServerError) -> Self {
        match error {
            ServerError::Store(store) => ErrorCode::from(store),
            ServerError::Engine(engine) => ErrorCode::from(engine),
            ServerError::ConfigUnreadable { .. }
            | ServerError::ConfigSyntax { .. }
            | ServerError::IssuerNotUrl { .. }
            | ServerError::InsecureHttpIssuer { .. }
            | ServerError::IssuerHasQueryOrFragment { .. }
            | ServerError::BindInvalid { .. }
            | ServerError::MetricsBindInvalid { .. }
            | ServerError::OriginInvalid { .. }
            | ServerError::UnknownProfile { .. }
            | ServerError::NoResources
            | ServerError::ResourceInvalid { .. }
            | ServerError::ResourceDuplicate { .. }
            | ServerError::ScopeInvalid { .. }
            | ServerError::ScopeHierarchyScopeInvalid { .. }
            | ServerError::ScopeHierarchyInvalid(_)
            | ServerError::DefaultScopeNotInScopes { .. }
            | ServerError::DefaultResourceUnknown { .. }
            | ServerError::LifetimeOutOfRange
            | ServerError::TlsIncomplete
            | ServerError::TlsFileMissing { .. }
            | ServerError::TlsFile { .. }
            | ServerError::TlsWithHttpIssuer
            | ServerError::LoginSettingOutOfRange { .. }
            | ServerError::LoginLockoutShorterThanWindow
            | ServerError::IdentityProvider { .. }
            | ServerError::NoWayToSignIn
            | ServerError::SettingOutOfRange { .. }
            | ServerError::TrustedProxyInvalid { .. }
            | ServerError::EnvironmentValueInvalid { .. }
            | ServerError::DemoPasswordTooShort
            | ServerError::SecretsFile { .. }
            | ServerError::UsernameInvalid(_)
            | ServerError::UserExists(_)
            | ServerError::UserUnknown(_)
            | ServerError::NameIsClientId(_)
            | ServerError::PasswordTooShort
            | ServerError::PasswordHash
            | ServerError::ClientInvalid(_)
            | ServerError::ClientExists(_)
            | ServerError::ClientUnknown(_)
            | ServerError::Io(_)
            | ServerError::DatabaseFile { .. } => ErrorCode::ServerError,
        }
    }
}
