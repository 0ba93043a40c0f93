//! The opt-in Prometheus endpoint: `[metrics] bind` (or
//! `LATCHKEY_METRICS_BIND`), for example `127.0.0.1:9464`, makes `latchkey
//! serve` answer `GET /metrics` on a listener of its own, and nothing else
//! there (`404`). Off by default; the main listener never serves it.
//!
//! [`Metrics`] is a [`latchkey_http::Observer`]: the authorization server,
//! the rate limiter, the sign-in and consent pages and the request
//! middleware hand it typed [`Event`]s, and it counts them. Every label
//! value comes from a closed set in the code (grant types, `ErrorCode`s,
//! route names), never from a request, so a client cannot grow the series.
//! `docs/operations.md` lists each metric and example alert rules.
//!
//! The crate is `prometheus-client`, the Prometheus project's own Rust
//! client: it needs four small crates (`dtoa`, `itoa`, `parking_lot` and its
//! derive macro) and brings no HTTP server, where `metrics` with
//! `metrics-exporter-prometheus` brings its own hyper server, a
//! quantile sketch and a clock crate. An event is an atomic add on a series
//! found under a read lock, with no allocation once the series exists; with
//! metrics off, no observer is installed and nothing is done at all.
//!
//! The body is OpenMetrics text (`application/openmetrics-text`), which
//! Prometheus scrapes natively.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_http::{Event, Observer, Routes};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The one path the metrics listener serves.
pub const METRICS_PATH: &str = "/metrics";

/// The `Content-Type` of the metrics body (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One label: a name and a value, both fixed strings.
type Label = [(&'static str, &'static str); 1];
/// Two labels.
type Labels2 = [(&'static str, &'static str); 2];
/// A histogram family whose series are built by [`latency_histogram`].
type LatencyFamily = Family<Label, Histogram, fn() -> Histogram>;

/// The counters and histograms of one server, registered under the
/// `latchkey_` prefix.
pub struct Metrics {
    registry: Registry,
    tokens_issued: Family<Label, Counter>,
    token_errors: Family<Label, Counter>,
    code_replays: Counter,
    refresh_reuse: Counter,
    family_revocations: Family<Label, Counter>,
    dpop_replays: Counter,
    registrations: Counter,
    registrations_refused: Family<Label, Counter>,
    rate_limited: Family<Labels2, Counter>,
    sign_in_failures: Counter,
    sign_in_lockouts: Counter,
    store_errors: Family<Label, Counter>,
    scope_elevations: Family<Label, Counter>,
    request_duration: LatencyFamily,
}

impl core::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("latchkey");
        let tokens_issued = Family::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued by the token endpoint, by grant type",
            Family::clone(&tokens_issued),
        );
        let token_errors = Family::default();
        registry.register(
            "token_errors",
            "Token endpoint refusals, by OAuth error code",
            Family::clone(&token_errors),
        );
        let code_replays = Counter::default();
        registry.register(
            "code_replays",
            "Authorization codes redeemed a second time (their grant is revoked)",
            code_replays.clone(),
        );
        let refresh_reuse = Counter::default();
        registry.register(
            "refresh_token_reuse",
            "Rotated refresh tokens presented again (their family is revoked)",
            refresh_reuse.clone(),
        );
        let family_revocations = Family::default();
        registry.register(
            "refresh_family_revocations",
            "Refresh-token families revoked for a security reason, by cause",
            Family::clone(&family_revocations),
        );
        let dpop_replays = Counter::default();
        registry.register(
            "dpop_replays",
            "DPoP proofs presented a second time at the token endpoint",
            dpop_replays.clone(),
        );
        let registrations = Counter::default();
        registry.register(
            "registrations",
            "Clients registered through dynamic client registration",
            registrations.clone(),
        );
        let registrations_refused = Family::default();
        registry.register(
            "registrations_refused",
            "Dynamic client registrations refused, by OAuth error code",
            Family::clone(&registrations_refused),
        );
        let rate_limited = Family::default();
        registry.register(
            "rate_limited_requests",
            "Requests answered 429 by the rate limits, by endpoint and limit",
            Family::clone(&rate_limited),
        );
        let sign_in_failures = Counter::default();
        registry.register(
            "sign_in_failures",
            "Password sign-ins refused for a wrong user name or password",
            sign_in_failures.clone(),
        );
        let sign_in_lockouts = Counter::default();
        registry.register(
            "sign_in_lockouts",
            "Password sign-ins refused because a user name or address is locked out",
            sign_in_lockouts.clone(),
        );
        let store_errors = Family::default();
        registry.register(
            "store_errors",
            "Store operations that failed, by the area that saw the failure",
            Family::clone(&store_errors),
        );
        let scope_elevations = Family::default();
        registry.register(
            "scope_elevations",
            "Authorizations asking a client's existing consent for more scope, by decision",
            Family::clone(&scope_elevations),
        );
        let request_duration: LatencyFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head, by route name",
            Family::clone(&request_duration),
        );
        Self {
            registry,
            tokens_issued,
            token_errors,
            code_replays,
            refresh_reuse,
            family_revocations,
            dpop_replays,
            registrations,
            registrations_refused,
            rate_limited,
            sign_in_failures,
            sign_in_lockouts,
            store_errors,
            scope_elevations,
            request_duration,
        }
    }

    /// The metrics as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail; an error would leave the text short.
        if encode(&mut text, &self.registry).is_err() {
            tracing::error!("metrics could not be encoded");
        }
        text
    }
}

impl Observer for Metrics {
    fn observe(&self, event: &Event<'_>) {
        match *event {
            Event::TokenIssued { grant } => {
                self.tokens_issued
                    .get_or_create(&[("grant", grant.as_str())])
                    .inc();
            }
            Event::TokenRefused { code, .. } => {
                self.token_errors
                    .get_or_create(&[("error", code.as_str())])
                    .inc();
            }
            Event::CodeReplay => {
                self.code_replays.inc();
            }
            Event::RefreshReuse => {
                self.refresh_reuse.inc();
            }
            Event::FamilyRevoked { cause } => {
                self.family_revocations
                    .get_or_create(&[("cause", cause.as_str())])
                    .inc();
            }
            Event::DpopReplay => {
                self.dpop_replays.inc();
            }
            Event::Registered => {
                self.registrations.inc();
            }
            Event::RegistrationRefused { code, .. } => {
                self.registrations_refused
                    .get_or_create(&[("error", code.as_str())])
                    .inc();
            }
            Event::StoreFailed { area } => {
                self.store_errors.get_or_create(&[("area", area)]).inc();
            }
            Event::RateLimited { endpoint, limit } => {
                self.rate_limited
                    .get_or_create(&[("endpoint", endpoint), ("limit", limit)])
                    .inc();
            }
            Event::SignInFailed => {
                self.sign_in_failures.inc();
            }
            Event::SignInLockedOut => {
                self.sign_in_lockouts.inc();
            }
            Event::ScopeElevation { granted } => {
                let decision = if granted { "granted" } else { "denied" };
                self.scope_elevations
                    .get_or_create(&[("decision", decision)])
                    .inc();
            }
            Event::RequestCompleted { route, elapsed } => {
                self.request_duration
                    .get_or_create(&[("route", route)])
                    .observe(elapsed.as_secs_f64());
            }
            _ => {}
        }
    }
}

/// Where the server's events go: nowhere (the default, costing one branch
/// per event), or one [`Observer`] such as [`Metrics`].
#[derive(Clone, Default)]
pub struct SharedObserver(Option<Arc<dyn Observer>>);

impl SharedObserver {
    /// Events go to `observer`.
    pub fn new(observer: Arc<dyn Observer>) -> Self {
        Self(Some(observer))
    }

    /// Whether an observer is installed.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// Hands `event` to the observer, if any.
    pub fn observe(&self, event: &Event<'_>) {
        if let Some(observer) = &self.0 {
            observer.observe(event);
        }
    }

    /// The observer for the authorization server, if any.
    pub fn observer(&self) -> Option<Arc<dyn Observer>> {
        self.0.clone()
    }
}

impl core::fmt::Debug for SharedObserver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(if self.is_on() {
            "SharedObserver(on)"
        } else {
            "SharedObserver(off)"
        })
    }
}

/// The router of the metrics listener: `GET /metrics`, and `404` for
/// anything else.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new().fallback(move |request: Request| {
        let metrics = Arc::clone(&metrics);
        async move { answer(&metrics, &request) }
    })
}

/// Serves [`router`] on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    if let Err(error) = axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(error = %error, "the metrics listener stopped");
    }
}

/// A fixed name for the route `request` is on, for the latency histogram:
/// the authorization server's endpoint names, the page paths as registered,
/// `protected_resource_metadata`, `mcp`, `favicon`, else `unmatched`. Never
/// the raw path (RFC 7592 paths hold client ids, unmatched paths anything).
pub fn route_name(routes: &Routes, request: &Request) -> &'static str {
    let path = request.uri().path();
    if let Some((endpoint, _, _)) = routes.resolve(path) {
        return endpoint.name();
    }
    if let Some((page, _)) = crate::interaction::PAGE_ROUTES
        .iter()
        .find(|(page, _)| matches_pattern(page, path))
    {
        return page;
    }
    if path == crate::mcp_demo::MCP_PATH {
        "mcp"
    } else if path.starts_with("/.well-known/oauth-protected-resource") {
        "protected_resource_metadata"
    } else if path == crate::serve::FAVICON_PATH {
        "favicon"
    } else {
        "unmatched"
    }
}

/// Whether `path` is on the route `pattern`, whose last segment may be a
/// `{placeholder}` standing for one non-empty segment.
fn matches_pattern(pattern: &str, path: &str) -> bool {
    match pattern.split_once('{') {
        None => pattern == path,
        Some((prefix, _)) => path
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
    }
}

/// Reports `elapsed` on `route` to `observer`.
pub fn request_completed(observer: &SharedObserver, route: &'static str, elapsed: Duration) {
    observer.observe(&Event::RequestCompleted { route, elapsed });
}

fn answer(metrics: &Metrics, request: &Request) -> Response {
    if request.method() != Method::GET || request.uri().path() != METRICS_PATH {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut response = metrics.encode().into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Buckets from 1 ms to about 16 s, doubling: token requests take
/// milliseconds, password hashing tens to hundreds, a metadata fetch seconds.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

#[cfg(test)]
mod tests {
    use latchkey_http::RevocationCause;
    use latchkey_registration::GrantType;

    use super::*;

    #[test]
    fn page_routes_with_a_placeholder_match_one_segment() {
        assert!(matches_pattern(
            "/latchkey/upstream/{id}",
            "/latchkey/upstream/corp"
        ));
        assert!(!matches_pattern(
            "/latchkey/upstream/{id}",
            "/latchkey/upstream/"
        ));
        assert!(!matches_pattern(
            "/latchkey/upstream/{id}",
            "/latchkey/upstream/a/b"
        ));
        assert!(matches_pattern("/latchkey/login", "/latchkey/login"));
        assert!(!matches_pattern("/latchkey/login", "/latchkey/login/x"));
    }

    #[test]
    fn every_metric_is_prefixed_and_counts_its_events() {
        let metrics = Metrics::new();
        metrics.observe(&Event::TokenIssued {
            grant: GrantType::ClientCredentials,
        });
        metrics.observe(&Event::TokenIssued {
            grant: GrantType::ClientCredentials,
        });
        metrics.observe(&Event::FamilyRevoked {
            cause: RevocationCause::RefreshReuse,
        });
        metrics.observe(&Event::RateLimited {
            endpoint: "token",
            limit: "address",
        });
        metrics.observe(&Event::RequestCompleted {
            route: "token",
            elapsed: Duration::from_millis(3),
        });
        let text = metrics.encode();
        for line in [
            "latchkey_tokens_issued_total{grant=\"client_credentials\"} 2",
            "latchkey_refresh_family_revocations_total{cause=\"refresh_reuse\"} 1",
            "latchkey_rate_limited_requests_total{endpoint=\"token\",limit=\"address\"} 1",
            "latchkey_request_duration_seconds_count{route=\"token\"} 1",
            "latchkey_code_replays_total 0",
            "latchkey_sign_in_failures_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .all(|line| line.starts_with("latchkey_")),
            "{text}"
        );
    }
}
