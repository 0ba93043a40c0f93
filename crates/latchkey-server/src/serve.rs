//! `latchkey serve`: wiring the store, the engine, the axum adapter and the
//! pages into one router, and serving it until SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use latchkey_axum::{
    AuthorizationServer, ResourceServer, authorization_server_routes,
    protected_resource_metadata_routes,
};
use latchkey_engine::{Engine, EngineConfig, MetadataFetcher, StoreRevocationCheck};
use latchkey_http::{Routes, protected_resource_metadata_paths};
use latchkey_metadata::ProtectedResourceMetadata;
use latchkey_store::Store;
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::AccessTokenValidator;
use latchkey_types::{SecretString, Subject, UnixTime};
use latchkey_uri::ResourceUri;
use rand_core::CryptoRng;
use tracing::Instrument;

use crate::admin;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::fetcher::{FetcherConfig, HttpMetadataFetcher};
use crate::http_limits;
use crate::interaction::{PageOptions, Pages};
use crate::mcp_demo;
use crate::rate_limit::{RateLimitPolicy, RateLimiter};
use crate::upstream::UpstreamSignIn;
use crate::{Clock, now, os_rng, secrets, tls};

/// The name of the user created on first start.
pub const DEMO_USER: &str = "demo";

/// Runs the server with `config` until SIGINT or SIGTERM.
pub async fn run(config: ServerConfig) -> Result<(), ServerError> {
    init_logging();
    let addr = config.bind_addr()?;
    let store =
        Arc::new(crate::database::open_with(&config.database, config.database_synchronous).await?);
    let mut out = std::io::stdout();
    let app = build(&config, Arc::clone(&store), now(), &mut os_rng(), &mut out).await?;
    let acceptor = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let purge = crate::purge::spawn(
        Arc::clone(&store),
        config.purge_settings()?,
        Clock::system(),
    );
    tracing::info!(issuer = %config.issuer, %addr, tls = acceptor.is_some(), "latchkey is listening");
    // One loop for http and https, with the connection limits and the
    // peer address (for the login and rate limits) on every request.
    http_limits::serve_with_proxies(
        listener,
        acceptor,
        app,
        config.http_limits(),
        config.parsed_trusted_proxies()?,
        shutdown_signal(),
    )
    .await;
    tracing::info!("shutting down");
    purge.abort();
    store.close().await;
    Ok(())
}

/// Builds the whole application: loads or creates the engine secrets and the
/// signing key, makes sure the demo user exists (printing its password once
/// to `out` when generated), and assembles the routes. The pages read the
/// system clock.
///
/// Serve the router with [`http_limits::serve`] (or
/// `into_make_service_with_connect_info::<SocketAddr>()`) so that the login
/// and rate limits see each client's address.
pub async fn build(
    config: &ServerConfig,
    store: Arc<SqliteStore>,
    now: UnixTime,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<Router, ServerError> {
    build_with_clock(config, store, now, Clock::system(), rng, out).await
}

/// [`build`], with the pages reading `clock` (tests move it forward to see
/// lockouts end).
pub async fn build_with_clock(
    config: &ServerConfig,
    store: Arc<SqliteStore>,
    now: UnixTime,
    clock: Clock,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<Router, ServerError> {
    let (secrets, page_key) = secrets::load_or_create_with_page_key(&config.secrets_path(), rng)?;
    let upstream = if config.identity_providers.is_empty() {
        None
    } else {
        Some(Arc::new(UpstreamSignIn::new(
            config.upstream_providers()?,
            &config.issuer,
        )?))
    };
    let options = PageOptions {
        login: config.login_policy(),
        trusted_proxies: config.parsed_trusted_proxies()?,
        clock,
        page_key: Some(page_key),
        passwords: config.login.passwords,
        upstream,
        scope_descriptions: config
            .effective_resources()
            .into_iter()
            .flat_map(|resource| resource.scope_descriptions)
            .collect(),
        ..PageOptions::default()
    };
    let engine_config = config.engine_config()?;
    let fetcher_config = if config.danger_allow_loopback_http_documents {
        FetcherConfig::default().danger_allow_loopback_http()
    } else {
        FetcherConfig::default()
    };
    let fetcher = HttpMetadataFetcher::new(fetcher_config);
    let engine = Arc::new(
        Engine::new(store, engine_config, secrets, fetcher, now, rng)
            .await
            .map_err(ServerError::Engine)?,
    );
    if config.demo_user {
        ensure_demo_user(
            engine.store().as_ref(),
            config.demo_password.as_ref(),
            now,
            rng,
            out,
        )
        .await?;
    }
    let rate_limits = config.rate_limit_policy();
    Ok(router_with_limits(
        engine,
        &config.allowed_origins,
        options,
        rate_limits,
    ))
}

/// The routes of a running engine: the authorization server, the pages, the
/// protected-resource metadata of each resource this server hosts, the demo
/// MCP server at `/mcp` when the default resource is `{issuer origin}/mcp`,
/// request ids and logging, and sensitive-header marking outermost. The
/// pages get the default login limits and the system clock.
pub fn router<S, F>(engine: Arc<Engine<S, F>>, allowed_origins: &[String]) -> Router
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    router_with(engine, allowed_origins, PageOptions::default())
}

/// [`router`], with the pages' login limits, trusted proxies and clock from
/// `options`, and the default request rate limits
/// ([`RateLimitPolicy::default`]).
pub fn router_with<S, F>(
    engine: Arc<Engine<S, F>>,
    allowed_origins: &[String],
    options: PageOptions,
) -> Router
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    router_with_limits(
        engine,
        allowed_origins,
        options,
        Some(RateLimitPolicy::default()),
    )
}

/// [`router_with`], with the request rate limits of `rate_limits` (`None`:
/// none) in front of the authorization server's endpoints
/// ([`crate::rate_limit`]; the client address as `options.trusted_proxies`
/// says).
pub fn router_with_limits<S, F>(
    engine: Arc<Engine<S, F>>,
    allowed_origins: &[String],
    options: PageOptions,
    rate_limits: Option<RateLimitPolicy>,
) -> Router
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let limiter = rate_limits.map(|policy| {
        Arc::new(RateLimiter::new(
            policy,
            options.trusted_proxies.clone(),
            engine.config(),
        ))
    });
    let pages = Pages::with_options(Arc::clone(&engine), options);
    let server = AuthorizationServer::new(Arc::clone(&engine), pages.clone());
    let mut app = authorization_server_routes(Arc::new(server)).merge(pages.router());
    for resource in hosted_resources(engine.config()) {
        if let Some(document) = engine.protected_resource_metadata_document(resource) {
            app = app.merge(protected_resource_metadata_routes(&document));
        }
    }
    if hosts_demo(engine.config()) {
        app = app.merge(mcp_demo::router(resource_server(&engine, allowed_origins)));
    }
    // Browsers ask for a favicon on every page; answer it here instead of
    // letting it reach a protected route and log a 401.
    app = app.route(
        FAVICON_PATH,
        axum::routing::get(|| async { StatusCode::NO_CONTENT }),
    );
    if let Some(limiter) = limiter {
        app = limiter.apply(app);
    }
    let app = app.layer(axum::middleware::from_fn(request_span));
    latchkey_axum::with_sensitive_headers(app)
}

/// The path answered with `204` so that browsers stop asking for a favicon.
pub const FAVICON_PATH: &str = "/favicon.ico";

/// One route [`router`] serves: its path (the client configuration path
/// ends in `latchkey_http::CLIENT_ID_PLACEHOLDER`) and the methods it
/// answers; any other method is refused (`405`, or `401` first at the
/// protected `/mcp`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedRoute {
    /// The path, as registered with the router.
    pub path: String,
    /// The methods served at `path`.
    pub methods: Vec<Method>,
}

/// Every route [`router`] serves for an engine configured with `config`,
/// from the same decisions the router takes: the authorization server's
/// [`Routes`] (configured endpoint URLs, OpenID discovery per profile,
/// registration when on), the pages ([`crate::interaction::PAGE_ROUTES`]),
/// the protected-resource metadata of each resource on the issuer's origin
/// (RFC 9728 section 3.1), the demo MCP endpoint when hosted, and the
/// favicon. `docs/openapi.json` describes exactly these (a test compares).
pub fn routes(config: &EngineConfig) -> Vec<ServedRoute> {
    let mut routes: Vec<ServedRoute> = Vec::new();
    let mut add = |path: String, methods: &[Method]| {
        if let Some(route) = routes.iter_mut().find(|route| route.path == path) {
            for method in methods {
                if !route.methods.contains(method) {
                    route.methods.push(method.clone());
                }
            }
        } else {
            routes.push(ServedRoute {
                path,
                methods: methods.to_vec(),
            });
        }
    };
    let table = Routes::new(config, config.profile.openid_discovery());
    for (path, endpoint) in table.patterns() {
        add(path, endpoint.methods());
    }
    for (path, methods) in crate::interaction::PAGE_ROUTES {
        add((*path).to_owned(), methods);
    }
    for resource in hosted_resources(config) {
        let document = ProtectedResourceMetadata::new(resource.as_str());
        for path in protected_resource_metadata_paths(&document) {
            add(path, &[Method::GET]);
        }
    }
    if hosts_demo(config) {
        add(mcp_demo::MCP_PATH.to_owned(), &[Method::POST]);
    }
    add(FAVICON_PATH.to_owned(), &[Method::GET]);
    routes
}

/// The configured resources on the issuer's origin: this server serves
/// their protected-resource metadata.
fn hosted_resources(config: &EngineConfig) -> impl Iterator<Item = &ResourceUri> {
    let issuer_origin = origin_of(&config.issuer);
    config
        .resources
        .iter()
        .map(|resource| &resource.uri)
        .filter(move |uri| origin_of(uri.as_str()) == issuer_origin)
}

/// Whether the demo MCP server is mounted: the default resource is
/// `{issuer origin}/mcp`.
fn hosts_demo(config: &EngineConfig) -> bool {
    let default = &config.default_resource;
    origin_of(default.as_str()) == origin_of(&config.issuer)
        && url::Url::parse(default.as_str()).is_ok_and(|url| url.path() == mcp_demo::MCP_PATH)
}

/// The resource-server guard for `engine`'s default resource, for mounting a
/// protected MCP endpoint: tokens checked against the engine's keys, then
/// looked up in the engine's store, so a token revoked by any path (`/revoke`,
/// refresh-token reuse, code replay, client deletion) is refused at once with
/// `401 invalid_token`; if the store cannot answer, `503` (fail closed).
pub fn resource_server<S, F>(
    engine: &Engine<S, F>,
    allowed_origins: &[String],
) -> Arc<ResourceServer>
where
    S: Store + 'static,
    F: MetadataFetcher,
{
    let config = engine.config();
    let resource = config.default_resource.clone();
    let validator = AccessTokenValidator::new(
        engine.keys().jwks(),
        config.issuer.clone(),
        resource.clone(),
        config.audience_match,
    );
    let mut server = ResourceServer::new(resource.clone(), validator)
        .with_allowed_origins(allowed_origins.to_vec())
        .with_scope_hierarchy(config.scope_hierarchy.clone())
        .with_revocation_check(Arc::new(StoreRevocationCheck::new(Arc::clone(
            engine.store(),
        ))));
    if let Some(settings) = config.resource(&resource) {
        server = server.with_default_scopes(settings.default_scope.clone());
    }
    Arc::new(server)
}

/// Creates the `demo` user if it does not exist, with `password` or a
/// generated one printed once to `out`.
pub async fn ensure_demo_user<S: Store>(
    store: &S,
    password: Option<&SecretString>,
    now: UnixTime,
    rng: &mut impl CryptoRng,
    out: &mut impl Write,
) -> Result<(), ServerError> {
    let subject = Subject::parse(DEMO_USER)
        .map_err(|_| ServerError::UsernameInvalid(DEMO_USER.to_owned()))?;
    if store.user(&subject).await?.is_some() {
        return Ok(());
    }
    match password {
        Some(password) => {
            admin::add_user(store, DEMO_USER, password.expose_secret(), now, rng).await?;
            writeln!(
                out,
                "created user {DEMO_USER} with the password from LATCHKEY_DEMO_PASSWORD"
            )?;
        }
        None => {
            let password = crate::password::generate(rng);
            admin::add_user(store, DEMO_USER, password.expose_secret(), now, rng).await?;
            writeln!(
                out,
                "created user {DEMO_USER} with password {} (shown once; `latchkey users` manages users)",
                password.expose_secret()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

fn origin_of(uri: &str) -> Option<String> {
    url::Url::parse(uri)
        .ok()
        .map(|url| url.origin().ascii_serialization())
}

/// One span per request with a random id (also sent back as `x-request-id`),
/// the method and the path (never the query: it can hold a `state` or a
/// redirect target), and one line with the status and the time taken.
async fn request_span(request: Request, next: Next) -> Response {
    let mut bytes = [0u8; 8];
    rand_core::Rng::fill_bytes(&mut os_rng(), &mut bytes);
    let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "answered"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}

async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
