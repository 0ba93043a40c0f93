//! `latchkey serve`: wiring the store, the engine, the axum adapter and the
//! pages into one router, and serving it until SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
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
use crate::metrics::{Metrics, SharedObserver};
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
    let metrics = Arc::new(Metrics::new());
    let observer = if config.metrics_bind_addr()?.is_some() {
        SharedObserver::new(Arc::clone(&metrics) as Arc<dyn latchkey_http::Observer>)
    } else {
        SharedObserver::default()
    };
    let app = build_with_observer(
        &config,
        Arc::clone(&store),
        now(),
        Clock::system(),
        observer,
        &mut os_rng(),
        &mut out,
    )
    .await?;
    let acceptor = match (&config.tls.cert, &config.tls.key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // The metrics listener first: the app reports to it from its first request.
    let metrics_task = match config.metrics_bind_addr()? {
        Some(metrics_addr) => {
            let metrics_listener = tokio::net::TcpListener::bind(metrics_addr).await?;
            tracing::info!(addr = %metrics_addr, "metrics are served at /metrics");
            Some(tokio::spawn(crate::metrics::serve(
                metrics_listener,
                Arc::clone(&metrics),
                shutdown_signal(),
            )))
        }
        None => None,
    };
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
    if let Some(task) = metrics_task {
        task.abort();
    }
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
    build_with_observer(
        config,
        store,
        now,
        clock,
        SharedObserver::default(),
        rng,
        out,
    )
    .await
}

/// [`build_with_clock`], reporting the server's events to `observer`
/// (`latchkey serve` passes its [`Metrics`] when `[metrics] bind` is set).
pub async fn build_with_observer(
    config: &ServerConfig,
    store: Arc<SqliteStore>,
    now: UnixTime,
    clock: Clock,
    observer: SharedObserver,
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
        observer,
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
    let observer = options.observer.clone();
    let limiter = rate_limits.map(|policy| {
        Arc::new(
            RateLimiter::new(policy, options.trusted_proxies.clone(), engine.config())
                .with_observer(observer.clone()),
        )
    });
    let pages = Pages::with_options(Arc::clone(&engine), options);
    let mut server = AuthorizationServer::new(Arc::clone(&engine), pages.clone());
    if let Some(observer) = observer.observer() {
        server = server.with_observer(observer);
    }
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
    let timing = Arc::new(Timing {
        routes: Routes::new(engine.config(), engine.openid_configuration().is_some()),
        observer,
    });
    let app = app.layer(axum::middleware::from_fn_with_state(timing, request_span));
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

/// The log filter when `RUST_LOG` is not set: Latchkey's own events at
/// `info` (sign-ins, revocations, purges, start and stop), every library's
/// (rmcp, hyper, sqlx, ...) at `warn`, and no per-request span or access
/// line ([`ACCESS_LOG_TARGET`]). With `info` for all, every request wrote an
/// access line and every `/mcp` call four more lines from rmcp (its
/// initialization and shutdown of each stateless request); measured with
/// `cargo xtask bench`, the access line and its span alone cost about a
/// fifth of a metadata request's CPU (docs/benchmarks.md, "Logging").
/// A directive's target matches as a prefix, so `latchkey` covers every
/// `latchkey_*` crate. `RUST_LOG=warn,latchkey=info` turns the access line
/// on.
pub const DEFAULT_LOG_FILTER: &str = "warn,latchkey=info,latchkey::access=off";

/// The target of the per-request span (an id, the method and the path) and
/// of the one access line per request (status and time taken). Off by
/// default; `RUST_LOG=warn,latchkey=info` (or `info`) turns both on.
pub const ACCESS_LOG_TARGET: &str = "latchkey::access";

/// The filter of `init_logging`: `RUST_LOG` when set and valid, else
/// [`DEFAULT_LOG_FILTER`].
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER))
}

/// The id of one request: 16 hex digits, SipHash (keyed once per process
/// from the OS's random source) of a counter. Unique within a process,
/// unpredictable, and it reveals nothing of how many requests came before;
/// it costs no call to the OS per request. It is sent back as
/// `x-request-id`, named in the request's access span, and kept in the
/// request's extensions as the correlation id of the events it logs (scope
/// elevation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    fn next() -> Self {
        use std::hash::BuildHasher;
        static KEY: std::sync::OnceLock<std::hash::RandomState> = std::sync::OnceLock::new();
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = KEY.get_or_init(std::hash::RandomState::new);
        Self(key.hash_one(n))
    }
}

impl core::fmt::Display for RequestId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What the request middleware needs to report latency: the route table
/// (for bounded route names) and the observer.
struct Timing {
    routes: Routes,
    observer: SharedObserver,
}

/// An id per request ([`RequestId`], sent back as `x-request-id`); when
/// [`ACCESS_LOG_TARGET`] is enabled, one span per request with the id, the
/// method and the path (never the query: it can hold a `state` or a
/// redirect target), and one access line with the status and the time
/// taken; the time also goes to the observer, by route name, when one is
/// installed.
async fn request_span(
    State(timing): State<Arc<Timing>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = RequestId::next();
    request.extensions_mut().insert(request_id);
    let id = request_id.to_string();
    let route = timing
        .observer
        .is_on()
        .then(|| crate::metrics::route_name(&timing.routes, &request));
    let span = tracing::info_span!(
        target: ACCESS_LOG_TARGET,
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = std::time::Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            target: ACCESS_LOG_TARGET,
            status = response.status().as_u16(),
            micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "answered"
        );
    });
    if let Some(route) = route {
        crate::metrics::request_completed(&timing.observer, route, started.elapsed());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

fn init_logging() {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(log_filter())
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::{ACCESS_LOG_TARGET, DEFAULT_LOG_FILTER, RequestId};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lines `filter` lets through of the events `emit` makes.
    fn logged_with_filter(filter: &str, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().expect("buffer").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[test]
    fn the_default_filter_keeps_library_info_out_and_latchkey_info_in() {
        let text = logged_with_filter(DEFAULT_LOG_FILTER, || {
            // What rmcp writes on every stateless /mcp call, and other libraries' chatter.
            tracing::info!(target: "rmcp::service::server", "serve server initialized");
            tracing::info!(target: "rmcp::service", "task cancelled");
            tracing::info!(target: "hyper_util::client", "connecting");
            tracing::info!(target: "sqlx::query", "summary");
            tracing::warn!(target: "rmcp::service", "a library warning");
            tracing::info!(target: ACCESS_LOG_TARGET, status = 200, "answered");
            tracing::info!(target: "latchkey_server::interaction", "signed in");
            tracing::info!(target: "latchkey_engine::events", "token revoked");
            tracing::debug!(target: "latchkey_server::serve", "a latchkey debug line");
        });
        for gone in [
            "serve server initialized",
            "task cancelled",
            "connecting",
            "summary",
            "a latchkey debug line",
        ] {
            assert!(!text.contains(gone), "{gone} was logged:\n{text}");
        }
        for kept in ["a library warning", "signed in", "token revoked"] {
            assert!(text.contains(kept), "{kept} was not logged:\n{text}");
        }
        assert!(
            !text.contains("answered"),
            "the access line is opt-in:\n{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn the_documented_filter_turns_the_access_line_on() {
        let text = logged_with_filter("warn,latchkey=info", || {
            let span = tracing::info_span!(target: ACCESS_LOG_TARGET, "request", id = "abc");
            span.in_scope(|| tracing::info!(target: ACCESS_LOG_TARGET, status = 200, "answered"));
            tracing::info!(target: "rmcp::service", "serve finished");
        });
        assert!(text.contains("request{id=\"abc\"}"), "{text}");
        assert!(text.contains("answered status=200"), "{text}");
        assert!(!text.contains("serve finished"), "{text}");
    }

    #[test]
    fn request_ids_are_sixteen_hex_digits_and_do_not_repeat() {
        let ids: Vec<String> = (0..1000).map(|_| RequestId::next().to_string()).collect();
        assert!(
            ids.iter()
                .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        let unique: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }
}
