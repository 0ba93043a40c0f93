//! Request rate limits on the authorization server's endpoints: per source
//! address on `/authorize`, `/token`, `/revoke`, `/introspect` and
//! `/register` (with the client configuration endpoints under it, RFC 7592),
//! per client on `/token`, `/revoke` and `/introspect`, and a registration
//! quota per source address on `POST /register`.
//!
//! Why: each of these endpoints does work an anonymous caller chooses
//! (signatures, store reads and writes, metadata document fetches), and RFC 7591 section 3 says open registration "MAY be
//! rate-limited or otherwise limited to prevent a denial-of-service attack".
//! Without a limit one caller could fill the registration table (10,000
//! clients in seconds, after which every registration gets 503) or the token
//! tables.
//!
//! # The rules
//!
//! - **Algorithm.** GCRA (the generic cell rate algorithm, a token bucket
//!   kept as one "theoretical arrival time" per key; the algorithm the
//!   `governor` crate implements). A [`Quota`] allows `burst` requests at
//!   once and then one every `period / count`. The table is this module's
//!   own rather than governor's: governor's keyed stores have no cap on keys
//!   between `retain_recent` calls and read a clock of their own, while
//!   here time is a parameter (tests pass exact instants) and the cap holds
//!   at every insert.
//! - **Per source address first.** The address is the connection's peer, or
//!   what a configured trusted proxy put in `X-Forwarded-For`
//!   ([`TrustedProxies`], the same rule as the sign-in limits). IPv6
//!   addresses count per /64. Every request to a limited endpoint counts
//!   here, whatever its outcome.
//! - **Then per client, for what the client did.** On the token,
//!   revocation and introspection endpoints the client id is read from HTTP
//!   Basic (RFC 6749 section 2.3.1, form-decoded), else from the `client_id`
//!   form field (the body is read once, up to `latchkey_axum::MAX_BODY_LEN`
//!   bytes, and handed on unchanged). A request naming a client whose budget
//!   is spent is refused; but only a request that proves it comes from the
//!   client spends it: a `2xx` answer to a request carrying client
//!   credentials (HTTP Basic, `client_secret` or `client_assertion`), or a
//!   `2xx` from the token endpoint (a public client presented a valid grant).
//!   A public client's revocation request is answered `200` whatever its
//!   token (RFC 7009 section 2.2), so it proves nothing and counts per
//!   address only. Client ids are public and not yet authenticated when the
//!   request arrives, so charging every request that merely names a client
//!   would let anyone with a few addresses (an IPv6 /48 holds 65,536 /64s)
//!   lock a well-known client out for all its users. This way only the
//!   client's own traffic counts: one set of credentials used from many
//!   addresses is still held to one budget. Requests in flight when the budget runs out
//!   may each still spend once. The authorization endpoint is limited per
//!   address only: anyone can make a valid authorization request for any
//!   client. A `private_key_jwt` request naming its client only inside
//!   `client_assertion` counts per address alone.
//! - **Registration quota.** `POST` to the registration endpoint also
//!   spends the source address's registration quota (attempts, successful
//!   or not), so that one source cannot use up the server-wide cap on
//!   registered clients and block registrations from everyone else.
//! - **The answer.** `429 Too Many Requests` with `Retry-After` in seconds
//!   (RFC 6585 section 4, RFC 9110 section 10.2.3) and `Cache-Control:
//!   no-store`. The JSON endpoints get an OAuth error body with
//!   `temporarily_unavailable`: RFC 6749 section 5.2 and RFC 7591 section 3.2.2
//!   define no code for rate limiting, and `temporarily_unavailable`
//!   (RFC 6749 section 4.1.2.1, OAuth 2.1 section 4.1.2.1: "unable to handle
//!   the request due to a temporary overloading") is the registered code
//!   whose meaning fits; the status code and `Retry-After` carry the rest.
//!   (`slow_down` is the device flow's, RFC 8628 section 3.5, and means
//!   something else.) The authorization endpoint answers with an HTML page,
//!   never a redirect: the redirect URI has not been checked yet.
//!
//! # Bounded memory
//!
//! Each table (addresses, clients, registrations) holds at most
//! [`RateLimitPolicy::max_tracked`] keys. Client ids are kept as SHA-256
//! digests (32 bytes whatever was sent), addresses as an IPv4 address or an
//! IPv6 /64. A key whose theoretical arrival time has passed is
//! indistinguishable from a new key and is dropped: all such keys at most
//! once a minute, and at once when a new key meets a full table. When the
//! table is still full, the sixteenth of the keys closest to that state go.
//! An attacker with very many addresses can therefore make the server forget
//! other keys' recent requests (the limits get looser, never stricter for a
//! bystander).
//!
//! The state lives in memory: a restart forgets it, and several instances
//! each count on their own.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use base64ct::{Base64, Encoding};
use latchkey_engine::EngineConfig;
use latchkey_http::Event;
use latchkey_types::ErrorCode;
use sha2::{Digest, Sha256};

use crate::login_limit::TrustedProxies;
use crate::metrics::SharedObserver;
use crate::pages;

/// Requests per minute from one source address, sustained.
pub const DEFAULT_PER_ADDRESS_PER_MINUTE: u32 = 300;
/// Requests from one source address at once before the rate applies.
pub const DEFAULT_PER_ADDRESS_BURST: u32 = 60;
/// Requests per minute naming one client, sustained.
pub const DEFAULT_PER_CLIENT_PER_MINUTE: u32 = 600;
/// Requests naming one client at once before the rate applies.
pub const DEFAULT_PER_CLIENT_BURST: u32 = 120;
/// Registration attempts per source address per hour (also the burst).
pub const DEFAULT_REGISTRATIONS_PER_ADDRESS_PER_HOUR: u32 = 20;
/// The most keys each table holds.
pub const DEFAULT_MAX_TRACKED: usize = 100_000;
/// How often keys back in their fresh state are dropped.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// A rate: `burst` requests at once, then `count` per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: u32,
}

impl Quota {
    /// `count` requests per `period` after a burst of `burst`; `None` when
    /// `count` or `burst` is zero or `period` is zero.
    pub fn new(count: u32, period: Duration, burst: u32) -> Option<Self> {
        (count > 0 && burst > 0 && !period.is_zero()).then_some(Self {
            count,
            period,
            burst,
        })
    }

    /// `count` per minute after a burst of `burst` (each at least 1).
    pub fn per_minute(count: u32, burst: u32) -> Self {
        Self {
            count: count.max(1),
            period: Duration::from_secs(60),
            burst: burst.max(1),
        }
    }

    /// `count` per hour, all of them at once if need be (at least 1).
    pub fn per_hour(count: u32) -> Self {
        Self {
            count: count.max(1),
            period: Duration::from_secs(3600),
            burst: count.max(1),
        }
    }

    /// The time one request costs.
    fn interval(&self) -> Duration {
        self.period / self.count
    }

    /// How far ahead of `now` a key's arrival time may run.
    fn tolerance(&self) -> Duration {
        self.interval().saturating_mul(self.burst.saturating_sub(1))
    }
}

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Per source address, on every limited endpoint together.
    pub per_address: Quota,
    /// Per client id: successful token, revocation and introspection
    /// requests together.
    pub per_client: Quota,
    /// Registration attempts per source address.
    pub registrations_per_address: Quota,
    /// The most keys each table holds.
    pub max_tracked: usize,
}

impl Default for RateLimitPolicy {
    /// See the `DEFAULT_*` constants.
    fn default() -> Self {
        Self {
            per_address: Quota::per_minute(
                DEFAULT_PER_ADDRESS_PER_MINUTE,
                DEFAULT_PER_ADDRESS_BURST,
            ),
            per_client: Quota::per_minute(DEFAULT_PER_CLIENT_PER_MINUTE, DEFAULT_PER_CLIENT_BURST),
            registrations_per_address: Quota::per_hour(DEFAULT_REGISTRATIONS_PER_ADDRESS_PER_HOUR),
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

/// A refusal: come back after [`retry_after`](Self::retry_after).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    retry_after: Duration,
}

impl Limited {
    /// How long until the next request would be allowed.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, rounded up and
    /// at least 1, for `Retry-After` (RFC 9110 section 10.2.3).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs();
        let secs = if self.retry_after.subsec_nanos() > 0 {
            secs.saturating_add(1)
        } else {
            secs
        };
        secs.max(1)
    }
}

/// One GCRA table: a quota applied per key, with at most `capacity` keys.
/// Time is a parameter: the offset of "now" from any fixed instant the
/// caller keeps (so tests pass exact times).
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    quota: Quota,
    capacity: usize,
    table: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    /// Each key's theoretical arrival time.
    arrivals: HashMap<K, Duration>,
    last_purge: Duration,
}

impl<K: Copy + Eq + Hash> KeyedLimiter<K> {
    /// An empty table for `quota` holding at most `capacity` keys (at least 1).
    pub fn new(quota: Quota, capacity: usize) -> Self {
        Self {
            quota,
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                arrivals: HashMap::new(),
                last_purge: Duration::ZERO,
            }),
        }
    }

    /// Counts one request for `key` at `now`, or refuses it (counting
    /// nothing).
    pub fn check(&self, key: K, now: Duration) -> Result<(), Limited> {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_sub(table.last_purge) >= PURGE_INTERVAL {
            table.arrivals.retain(|_, arrival| *arrival > now);
            table.last_purge = now;
        }
        let arrival = match table.arrivals.get(&key) {
            Some(arrival) => (*arrival).max(now),
            None => {
                self.make_room(&mut table, now);
                now
            }
        };
        self.allowed(arrival, now)?;
        table
            .arrivals
            .insert(key, arrival.saturating_add(self.quota.interval()));
        Ok(())
    }

    /// Whether a key whose theoretical arrival time is `arrival` may send a
    /// request at `now`.
    fn allowed(&self, arrival: Duration, now: Duration) -> Result<(), Limited> {
        let ahead = arrival.saturating_sub(now);
        let tolerance = self.quota.tolerance();
        if ahead > tolerance {
            return Err(Limited {
                retry_after: ahead.saturating_sub(tolerance),
            });
        }
        Ok(())
    }

    /// Whether a request for `key` at `now` would be allowed, counting
    /// nothing.
    pub fn peek(&self, key: K, now: Duration) -> Result<(), Limited> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let arrival = table.arrivals.get(&key).map_or(now, |a| (*a).max(now));
        self.allowed(arrival, now)
    }

    /// Counts one request for `key` at `now`, allowed or not (a request
    /// let through by [`peek`](Self::peek) that turned out to count).
    pub fn charge(&self, key: K, now: Duration) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let arrival = match table.arrivals.get(&key) {
            Some(arrival) => (*arrival).max(now),
            None => {
                self.make_room(&mut table, now);
                now
            }
        };
        table
            .arrivals
            .insert(key, arrival.saturating_add(self.quota.interval()));
    }

    /// How many keys are held.
    pub fn tracked(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .arrivals
            .len()
    }

    /// Before a new key goes in: drops keys back in their fresh state and,
    /// if the table is still full, the sixteenth closest to it.
    fn make_room(&self, table: &mut Table<K>, now: Duration) {
        if table.arrivals.len() < self.capacity {
            return;
        }
        table.arrivals.retain(|_, arrival| *arrival > now);
        table.last_purge = now;
        if table.arrivals.len() < self.capacity {
            return;
        }
        let mut by_arrival: Vec<(Duration, K)> =
            table.arrivals.iter().map(|(k, a)| (*a, *k)).collect();
        let evict = (self.capacity / 16).max(1).min(by_arrival.len());
        by_arrival.select_nth_unstable_by_key(evict - 1, |(arrival, _)| *arrival);
        for (_, key) in by_arrival.iter().take(evict) {
            table.arrivals.remove(key);
        }
    }
}

/// What a source address counts as: an IPv4 address, an IPv6 /64, or
/// "unknown" (served without the peer address: all such requests share one
/// key).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKey {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Prefix(u64),
    /// The peer address is not known.
    Unknown,
}

impl AddressKey {
    /// The key for `address`.
    pub fn of(address: Option<IpAddr>) -> Self {
        match address.map(|address| address.to_canonical()) {
            Some(IpAddr::V4(v4)) => Self::V4(v4),
            Some(IpAddr::V6(v6)) => {
                let [a, b, c, d, e, f, g, h, ..] = v6.octets();
                Self::V6Prefix(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
            }
            None => Self::Unknown,
        }
    }
}

/// Which limited endpoint a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Authorize,
    Token,
    Revoke,
    Introspect,
    Register,
}

impl Family {
    fn name(self) -> &'static str {
        match self {
            Self::Authorize => "authorize",
            Self::Token => "token",
            Self::Revoke => "revoke",
            Self::Introspect => "introspect",
            Self::Register => "register",
        }
    }

    fn takes_form(self) -> bool {
        matches!(self, Self::Token | Self::Revoke | Self::Introspect)
    }
}

/// The limits of one server, as an axum middleware ([`RateLimiter::apply`]).
#[derive(Debug)]
pub struct RateLimiter {
    trusted_proxies: TrustedProxies,
    paths: Vec<(String, Family)>,
    addresses: KeyedLimiter<AddressKey>,
    clients: KeyedLimiter<[u8; 32]>,
    registrations: KeyedLimiter<AddressKey>,
    epoch: Instant,
    observer: SharedObserver,
}

impl RateLimiter {
    /// Limits under `policy` on the endpoints of `config`, with the client
    /// address taken as [`TrustedProxies::client_address`] says.
    pub fn new(
        policy: RateLimitPolicy,
        trusted_proxies: TrustedProxies,
        config: &EngineConfig,
    ) -> Self {
        let mut paths = vec![
            (path_of(&config.authorization_endpoint), Family::Authorize),
            (path_of(&config.token_endpoint), Family::Token),
            (path_of(&config.revocation_endpoint), Family::Revoke),
            (path_of(&config.introspection_endpoint), Family::Introspect),
        ];
        if let Some(registration) = &config.registration_endpoint {
            paths.push((path_of(registration), Family::Register));
        }
        Self {
            trusted_proxies,
            paths,
            addresses: KeyedLimiter::new(policy.per_address, policy.max_tracked),
            clients: KeyedLimiter::new(policy.per_client, policy.max_tracked),
            registrations: KeyedLimiter::new(policy.registrations_per_address, policy.max_tracked),
            epoch: Instant::now(),
            observer: SharedObserver::default(),
        }
    }

    /// Reports each `429` to `observer` ([`Event::RateLimited`]).
    #[must_use]
    pub fn with_observer(mut self, observer: SharedObserver) -> Self {
        self.observer = observer;
        self
    }

    /// `router` with these limits in front of its limited endpoints.
    pub fn apply(self: Arc<Self>, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let limiter = Arc::clone(&self);
                async move { limiter.handle(request, next).await }
            },
        ))
    }

    /// How many addresses, clients and registration quotas are tracked.
    pub fn tracked(&self) -> (usize, usize, usize) {
        (
            self.addresses.tracked(),
            self.clients.tracked(),
            self.registrations.tracked(),
        )
    }

    async fn handle(&self, request: Request, next: Next) -> Response {
        let path = request.uri().path();
        let Some(family) = self.family_of(path) else {
            return next.run(request).await;
        };
        let now = self.epoch.elapsed();
        let address = AddressKey::of(self.client_address(&request));
        if let Err(limited) = self.addresses.check(address, now) {
            return self.refused(family, limited, "address");
        }
        if family == Family::Register
            && request.method() == Method::POST
            && let Err(limited) = self.registrations.check(address, now)
        {
            return self.refused(family, limited, "registration");
        }
        let (client, request) = match client_id(family, request).await {
            Ok(found) => found,
            Err(response) => return response,
        };
        let Some(client) = client else {
            return next.run(request).await;
        };
        if let Err(limited) = self.clients.peek(client.digest, now) {
            return self.refused(family, limited, "client");
        }
        let response = next.run(request).await;
        let proven = client.credentials || family == Family::Token;
        if proven && response.status().is_success() {
            self.clients.charge(client.digest, self.epoch.elapsed());
        }
        response
    }

    /// The `429` of `limit`, reported to the observer.
    fn refused(&self, family: Family, limited: Limited, limit: &'static str) -> Response {
        self.observer.observe(&Event::RateLimited {
            endpoint: family.name(),
            limit,
        });
        refusal(family, limited, limit)
    }

    /// The limited endpoint at `path`: one of the endpoints, or a client's
    /// configuration endpoint under the registration endpoint (RFC 7592).
    fn family_of(&self, path: &str) -> Option<Family> {
        self.paths.iter().find_map(|(limited, family)| {
            let under = *family == Family::Register
                && path
                    .strip_prefix(limited.trim_end_matches('/'))
                    .is_some_and(|rest| rest.starts_with('/'));
            (limited == path || under).then_some(*family)
        })
    }

    fn client_address(&self, request: &Request) -> Option<IpAddr> {
        let ConnectInfo(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.to_str().unwrap_or_default());
        Some(self.trusted_proxies.client_address(peer.ip(), forwarded))
    }
}

/// The client a request names.
#[derive(Clone, Copy, Debug)]
struct NamedClient {
    /// The SHA-256 digest of the client id.
    digest: [u8; 32],
    /// Whether the request carries client credentials.
    credentials: bool,
}

/// The client a token, revocation or introspection request names (HTTP
/// Basic, else the form body), and the request with its body intact.
async fn client_id(
    family: Family,
    request: Request,
) -> Result<(Option<NamedClient>, Request), Response> {
    if !family.takes_form() {
        return Ok((None, request));
    }
    if let Some(id) = basic_client_id(request.headers()) {
        let named = NamedClient {
            digest: digest(&id),
            credentials: true,
        };
        return Ok((Some(named), request));
    }
    if !is_form(request.headers()) {
        return Ok((None, request));
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|len| len > latchkey_axum::MAX_BODY_LEN as u64) {
        // The adapter refuses it unread.
        return Ok((None, request));
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, latchkey_axum::MAX_BODY_LEN).await {
        Ok(bytes) => bytes,
        Err(error) => return Err(unreadable_body(&error)),
    };
    let named = form_value(&bytes, "client_id").map(|id| NamedClient {
        digest: digest(&id),
        credentials: form_value(&bytes, "client_secret").is_some()
            || form_value(&bytes, "client_assertion").is_some(),
    });
    Ok((named, Request::from_parts(parts, Body::from(bytes))))
}

/// The client id of an `Authorization: Basic` header (RFC 6749 section
/// 2.3.1: form-encoded, then base64).
fn basic_client_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Base64::decode_vec(credentials.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, _) = text.split_once(':')?;
    form_value(format!("client_id={id}").as_bytes(), "client_id")
}

/// The first value of `name` in a form-encoded `bytes`.
fn form_value(bytes: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(bytes)
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn digest(client_id: &str) -> [u8; 32] {
    Sha256::digest(client_id.as_bytes()).into()
}

fn path_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| "/".to_owned(), |url| url.path().to_owned())
}

/// The `429` answer: an HTML page on the authorization endpoint, an OAuth
/// JSON error elsewhere (see the module documentation for the code chosen).
fn refusal(family: Family, limited: Limited, limit: &'static str) -> Response {
    let secs = limited.retry_after_secs();
    tracing::debug!(
        endpoint = family.name(),
        limit,
        retry_after = secs,
        "rate limited"
    );
    let mut response = if family == Family::Authorize {
        pages::html(
            StatusCode::TOO_MANY_REQUESTS,
            pages::message(
                "Too many requests",
                &format!("Please wait {secs} seconds and try again."),
            ),
            None,
        )
    } else {
        json_error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TemporarilyUnavailable,
            &format!("too many requests; retry after {secs} seconds"),
        )
    };
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// A body that could not be read within its bounds: `413` past the size
/// bound, otherwise `400` (a body that timed out becomes `408` one layer
/// out, see `crate::http_limits`).
fn unreadable_body(error: &axum::Error) -> Response {
    let too_large =
        std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |error| {
            error.source()
        })
        .any(|error| error.is::<http_body_util::LengthLimitError>());
    if too_large {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::InvalidRequest,
            "the request body is too large",
        )
    } else {
        json_error(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "the request body could not be read",
        )
    }
}

fn json_error(status: StatusCode, code: ErrorCode, description: &str) -> Response {
    let body = serde_json::json!({
        "error": code.as_str(),
        "error_description": description,
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn gcra_allows_the_burst_then_one_per_interval() {
        // 6 per minute (one every 10 s) after a burst of 3.
        let limiter = KeyedLimiter::new(Quota::per_minute(6, 3), 10);
        let start = secs(1_000);
        for _ in 0..3 {
            assert_eq!(limiter.check(1u8, start), Ok(()));
        }
        let refused = limiter.check(1u8, start).unwrap_err();
        assert_eq!(refused.retry_after(), secs(10));
        assert_eq!(refused.retry_after_secs(), 10);
        // A refusal counts nothing: still 10 s to wait.
        assert_eq!(limiter.check(1u8, start), Err(refused));
        assert_eq!(
            limiter
                .check(1u8, start + secs(4))
                .unwrap_err()
                .retry_after(),
            secs(6)
        );
        assert_eq!(limiter.check(1u8, start + secs(10)), Ok(()));
        assert!(limiter.check(1u8, start + secs(10)).is_err());
        // Another key is not affected.
        assert_eq!(limiter.check(2u8, start), Ok(()));
        // After a quiet spell the whole burst is back.
        for _ in 0..3 {
            assert_eq!(limiter.check(1u8, start + secs(100)), Ok(()));
        }
    }

    #[test]
    fn peek_counts_nothing_and_charge_counts_even_past_the_limit() {
        let limiter = KeyedLimiter::new(Quota::per_minute(6, 2), 10);
        let now = secs(500);
        for _ in 0..10 {
            assert_eq!(limiter.peek(7u8, now), Ok(()));
        }
        assert_eq!(limiter.tracked(), 0);
        limiter.charge(7u8, now);
        limiter.charge(7u8, now);
        assert_eq!(limiter.peek(7u8, now).unwrap_err().retry_after(), secs(10));
        // Charges in flight past the limit push the wait further out.
        limiter.charge(7u8, now);
        assert_eq!(limiter.peek(7u8, now).unwrap_err().retry_after(), secs(20));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limited = Limited {
            retry_after: Duration::from_millis(1_200),
        };
        assert_eq!(limited.retry_after_secs(), 2);
        let limited = Limited {
            retry_after: Duration::from_millis(1),
        };
        assert_eq!(limited.retry_after_secs(), 1);
    }

    #[test]
    fn the_table_is_bounded_and_forgets_fresh_keys_first() {
        let limiter = KeyedLimiter::new(Quota::per_minute(1, 1), 32);
        let start = secs(10);
        // One key that is limited for a minute.
        assert_eq!(limiter.check(u32::MAX, start), Ok(()));
        for key in 0..1_000u32 {
            let _ = limiter.check(key, start + Duration::from_millis(u64::from(key)));
        }
        assert!(limiter.tracked() <= 32, "{}", limiter.tracked());
        // Much later every key is fresh: a new one makes room by dropping them.
        let later = start + secs(3_600);
        assert_eq!(limiter.check(5_000, later), Ok(()));
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn a_full_table_evicts_the_keys_closest_to_fresh() {
        let limiter = KeyedLimiter::new(Quota::per_minute(1, 1), 16);
        // Key 0 is spent most recently of all but one: it survives eviction.
        for key in 1..16u32 {
            assert_eq!(limiter.check(key, secs(key.into())), Ok(()));
        }
        assert_eq!(limiter.check(0, secs(20)), Ok(()));
        assert_eq!(limiter.check(99, secs(21)), Ok(()));
        assert_eq!(limiter.tracked(), 16);
        assert!(
            limiter.check(0, secs(21)).is_err(),
            "key 0 is still limited"
        );
        assert_eq!(limiter.check(1, secs(21)), Ok(()), "key 1 was evicted");
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a = AddressKey::of(Some("2001:db8:1:2::1".parse().unwrap()));
        let b = AddressKey::of(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        let c = AddressKey::of(Some("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            AddressKey::of(Some("::ffff:192.0.2.1".parse().unwrap())),
            AddressKey::of(Some("192.0.2.1".parse().unwrap()))
        );
        assert_eq!(AddressKey::of(None), AddressKey::Unknown);
    }

    #[test]
    fn rfc_6749_section_2_3_1_basic_client_ids_are_form_decoded() {
        let mut headers = HeaderMap::new();
        let credentials = Base64::encode_string(b"my%20client:secret");
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {credentials}")).unwrap(),
        );
        assert_eq!(basic_client_id(&headers).as_deref(), Some("my client"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(basic_client_id(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_client_id(&headers), None);
    }
}
