//! The HTTP fetcher for client ID metadata documents: [`HttpMetadataFetcher`],
//! the server's `latchkey_engine::MetadataFetcher`.
//!
//! A client ID metadata document URL is chosen by whoever starts an
//! authorization request, so fetching it is a server-side request forgery
//! risk (CIMD draft section 6.5, "Server Side Request Forgery (SSRF)
//! Attacks"; RFC 9728 section 7.7). Every fetch goes through
//! [`latchkey_fetch::Fetcher`] under [`Policy::attacker_chosen`]
//! (`latchkey_fetch`'s documentation lists what it refuses and why):
//!
//! - `https` only, to global unicast addresses only, vetted after
//!   resolution, connected to without a second resolution; plain `http` only
//!   to a loopback address and only with
//!   [`FetcherConfig::danger_allow_loopback_http`](method@FetcherConfig::danger_allow_loopback_http) (tests).
//! - No redirects (`FetchError::Refused("redirect")`); only `200` (other
//!   statuses: `FetchError::Status`).
//! - The body is read up to 5 KiB and reading stops beyond that
//!   (`FetchError::TooLarge`; CIMD draft section 6.6 recommends 5 kilobytes, A8).
//! - A connect timeout and an overall timeout (`FetchError::Timeout`).
//! - The same rules fetch a `private_key_jwt` client's `jwks_uri`
//!   ([`HttpMetadataFetcher::fetch_jwks_url`]), with a 64 KiB bound instead of
//!   5 KiB, cached apart from documents.
//!
//! What this module adds:
//!
//! - Successful documents are cached in a bounded in-memory cache by the
//!   response's `Cache-Control` (RFC 9111 section 5.2.2: `max-age`,
//!   `no-store`, `no-cache`), with a default lifetime when the header is
//!   absent and a maximum lifetime whatever it says (CIMD draft section 6.3:
//!   the server may cache, respecting HTTP cache headers).
//! - Failed fetches are cached too, for [`FetcherConfig::failure_ttl`]
//!   (default 60 s) in a bounded cache of their own: the same failing URL
//!   asked for again within that time gets the same error without a new
//!   connection, whoever asks.
//! - Outgoing fetches are limited, so that clients naming new `https`
//!   `client_id`s cannot make this server connect out at will: at most
//!   [`FetcherConfig::max_concurrent`] at once (more wait up to half the
//!   overall timeout, then are refused), at most [`FetcherConfig::max_concurrent_per_host`] at
//!   once to one host (more are refused at once), and a rate overall and per
//!   host ([`FetcherConfig::fetches_per_minute`],
//!   [`FetcherConfig::fetches_per_host_per_minute`], GCRA as in
//!   [`crate::rate_limit`]; past it `FetchError::Refused("fetch rate
//!   limit")`). A host is its lowercased name (random subdomains each count
//!   as a host, and the overall rate bounds them together). Cached answers,
//!   good or bad, cost nothing. The price: a flood of new document URLs can
//!   delay or refuse the first fetch of a legitimate new client for a while;
//!   clients already cached are unaffected.
//!
//! The engine emits `SecurityEvent::CimdFetchRefused` (host and reason, never
//! the path) for every error this fetcher returns, so the fetcher itself logs
//! nothing beyond `debug`.
//!
//! What it does not do: no revalidation (`no-cache` documents are fetched again each time), no
//! `Expires` header (only `Cache-Control`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::rate_limit::{KeyedLimiter, Quota};
use latchkey_engine::{FetchError, MetadataFetcher};
use latchkey_fetch::{Fetcher, Policy};
use latchkey_registration::{ClientIdMetadataUrl, MetadataUri};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// How [`HttpMetadataFetcher`] fetches and caches. Start from
/// [`FetcherConfig::default`] and change what you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetcherConfig {
    /// The whole fetch (resolution, connection, TLS, request and body) must
    /// finish within this.
    pub timeout: Duration,
    /// Each TCP connection attempt must succeed within this.
    pub connect_timeout: Duration,
    /// Bodies longer than this are refused (CIMD draft section 6.6: 5 KB).
    pub max_body_bytes: usize,
    /// How long a document without `Cache-Control` is cached.
    pub default_ttl: Duration,
    /// The longest a document is cached, whatever its `max-age` says.
    pub max_ttl: Duration,
    /// The most documents the cache holds.
    pub cache_capacity: usize,
    /// How long a failed fetch is remembered (and answered from memory).
    pub failure_ttl: Duration,
    /// The most failures remembered.
    pub failure_cache_capacity: usize,
    /// The most fetches in flight at once; more wait up to half of
    /// `timeout`, then are refused.
    pub max_concurrent: usize,
    /// The most fetches in flight at once to one host; more are refused.
    pub max_concurrent_per_host: usize,
    /// Fetches started per minute, overall (also the burst).
    pub fetches_per_minute: u32,
    /// Fetches started per minute to one host (also the burst).
    pub fetches_per_host_per_minute: u32,
    /// The most hosts whose fetch rate is tracked.
    pub max_tracked_hosts: usize,
    /// Whether loopback addresses may be fetched from, over `http` too.
    /// For tests against a local document server only.
    pub danger_allow_loopback_http: bool,
}

impl Default for FetcherConfig {
    /// 5 s overall, 2 s to connect, 5 KiB, 5 min default and 1 h maximum
    /// lifetime, 1024 cached documents, failures remembered 60 s (1024 of
    /// them), 16 fetches at once and 2 per host, 120 fetches a minute and 20
    /// per host (10,000 hosts tracked), loopback refused.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: 5 * 1024,
            default_ttl: Duration::from_secs(5 * 60),
            max_ttl: Duration::from_secs(60 * 60),
            cache_capacity: 1024,
            failure_ttl: Duration::from_secs(60),
            failure_cache_capacity: 1024,
            max_concurrent: 16,
            max_concurrent_per_host: 2,
            fetches_per_minute: 120,
            fetches_per_host_per_minute: 20,
            max_tracked_hosts: 10_000,
            danger_allow_loopback_http: false,
        }
    }
}

impl FetcherConfig {
    /// This configuration with loopback addresses allowed, over `http` too.
    /// Never in production: the document would travel unauthenticated, and
    /// loopback services would be reachable.
    pub fn danger_allow_loopback_http(mut self) -> Self {
        self.danger_allow_loopback_http = true;
        self
    }
}

/// Fetches client ID metadata documents over HTTPS under the rules of the
/// [module documentation](self), with a bounded cache.
pub struct HttpMetadataFetcher {
    config: FetcherConfig,
    fetcher: Fetcher,
    cache: Mutex<Cache<Vec<u8>>>,
    failures: Mutex<Cache<FetchError>>,
    in_flight: Semaphore,
    per_host_in_flight: Mutex<HashMap<String, usize>>,
    overall_rate: KeyedLimiter<()>,
    host_rate: KeyedLimiter<[u8; 32]>,
    epoch: Instant,
}

impl core::fmt::Debug for HttpMetadataFetcher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HttpMetadataFetcher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for HttpMetadataFetcher {
    fn default() -> Self {
        Self::new(FetcherConfig::default())
    }
}

impl HttpMetadataFetcher {
    /// A fetcher with `config`: [`latchkey_fetch::Fetcher`] under
    /// [`Policy::attacker_chosen`] (with loopback `http` only when
    /// `config.danger_allow_loopback_http`).
    pub fn new(config: FetcherConfig) -> Self {
        let policy = if config.danger_allow_loopback_http {
            Policy::attacker_chosen().danger_allow_loopback_http()
        } else {
            Policy::attacker_chosen()
        };
        let fetcher = Fetcher::builder(policy)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build();
        let per_minute = |count: u32| Quota::per_minute(count, count);
        Self {
            cache: Mutex::new(Cache::new(config.cache_capacity)),
            failures: Mutex::new(Cache::new(config.failure_cache_capacity)),
            in_flight: Semaphore::new(config.max_concurrent.max(1)),
            per_host_in_flight: Mutex::new(HashMap::new()),
            overall_rate: KeyedLimiter::new(per_minute(config.fetches_per_minute), 1),
            host_rate: KeyedLimiter::new(
                per_minute(config.fetches_per_host_per_minute),
                config.max_tracked_hosts,
            ),
            epoch: Instant::now(),
            config,
            fetcher,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &FetcherConfig {
        &self.config
    }

    /// The document at `url` (any absolute URL string; the engine passes a
    /// validated [`ClientIdMetadataUrl`]), from the cache when fresh.
    pub async fn fetch_url(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.fetch_bounded(url, self.config.max_body_bytes, "document")
            .await
    }

    /// The JWK Set at `url` (a `private_key_jwt` client's `jwks_uri`), under
    /// the same rules but up to [`latchkey_jose::Jwks::MAX_LEN`] bytes, cached
    /// apart from documents.
    pub async fn fetch_jwks_url(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.fetch_bounded(url, latchkey_jose::Jwks::MAX_LEN, "jwks")
            .await
    }

    async fn fetch_bounded(
        &self,
        url: &str,
        max_len: usize,
        kind: &str,
    ) -> Result<Vec<u8>, FetchError> {
        let key = format!("{kind} {url}");
        let now = Instant::now();
        if let Some(body) = lock(&self.cache).get(&key, now) {
            return Ok(body);
        }
        if let Some(error) = lock(&self.failures).get(&key, now) {
            return Err(error);
        }
        let parsed = url::Url::parse(url).map_err(|_| FetchError::Refused("malformed url"))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        self.admit(&host, now)?;
        // Waiting for a slot (at most half the timeout) is this server's own
        // congestion: refused, not remembered as the URL's failure.
        let deadline = now + self.config.timeout;
        let slot = tokio::time::timeout(self.config.timeout / 2, self.in_flight.acquire())
            .await
            .map_err(|_| FetchError::Refused(BUSY))?;
        let _slot = slot.map_err(|_| FetchError::Refused(BUSY))?;
        let _host_slot = self.host_slot(host)?;
        let fetched = tokio::time::timeout_at(deadline, self.fetch_uncached(&parsed, max_len))
            .await
            .map_err(|_| FetchError::Timeout)
            .flatten();
        match fetched {
            Ok((body, Some(ttl))) => {
                lock(&self.cache).insert(key, body.clone(), now + ttl, Instant::now());
                Ok(body)
            }
            Ok((body, None)) => Ok(body),
            Err(error) => {
                let expires = now + self.config.failure_ttl;
                lock(&self.failures).insert(key, error, expires, Instant::now());
                Err(error)
            }
        }
    }

    /// Counts a fetch against the overall and the host's rate, or refuses it.
    fn admit(&self, host: &str, now: Instant) -> Result<(), FetchError> {
        let since = now.duration_since(self.epoch);
        let host_key: [u8; 32] = Sha256::digest(host.as_bytes()).into();
        if self.host_rate.check(host_key, since).is_err()
            || self.overall_rate.check((), since).is_err()
        {
            return Err(FetchError::Refused(RATE_LIMITED));
        }
        Ok(())
    }

    /// A slot among the fetches in flight to `host`, or a refusal when it has
    /// `max_concurrent_per_host` already.
    fn host_slot(&self, host: String) -> Result<HostSlot<'_>, FetchError> {
        let mut in_flight = lock(&self.per_host_in_flight);
        let count = in_flight.entry(host.clone()).or_insert(0);
        if *count >= self.config.max_concurrent_per_host.max(1) {
            return Err(FetchError::Refused(HOST_BUSY));
        }
        *count += 1;
        Ok(HostSlot {
            fetcher: self,
            host,
        })
    }

    /// One fetch: the body and how long it may be cached (`None`: not at all).
    async fn fetch_uncached(
        &self,
        url: &url::Url,
        max_len: usize,
    ) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
        let response = self.fetcher.get(url, max_len).await.map_err(engine_error)?;
        let ttl = cache_ttl(
            response.headers(),
            self.config.default_ttl,
            self.config.max_ttl,
        );
        Ok((response.into_body(), ttl))
    }
}

impl MetadataFetcher for HttpMetadataFetcher {
    async fn fetch(&self, url: &ClientIdMetadataUrl) -> Result<Vec<u8>, FetchError> {
        let result = self.fetch_url(url.as_str()).await;
        if let Err(error) = &result {
            // The engine emits the security event; this is for debugging.
            tracing::debug!(host = url.host(), %error, "metadata document fetch failed");
        }
        result
    }

    async fn fetch_jwks(&self, url: &MetadataUri) -> Result<Vec<u8>, FetchError> {
        let result = self.fetch_jwks_url(url.as_str()).await;
        if let Err(error) = &result {
            // The engine refuses the client authentication; this is for debugging.
            tracing::debug!(%error, "jwks_uri fetch failed");
        }
        result
    }
}

/// How long a response may be cached, from its `Cache-Control`; in
/// `latchkey-http`, where its fuzz target (`cache_control`) can reach it.
pub use latchkey_http::cache_ttl;

/// The engine's view of a [`latchkey_fetch::FetchError`]: refusals keep
/// their reason (the engine's security event names it), transport failures
/// are `Network`.
fn engine_error(error: latchkey_fetch::FetchError) -> FetchError {
    use latchkey_fetch::FetchError as E;
    match error {
        E::MalformedUrl => FetchError::Refused("malformed url"),
        E::UserinfoInUrl => FetchError::Refused("userinfo in url"),
        E::NotHttps => FetchError::Refused("not https"),
        E::HttpNotLoopback => FetchError::Refused("http to a non-loopback address"),
        E::AddressRefused(range) => FetchError::Refused(range.as_str()),
        E::TlsUnavailable => FetchError::Refused("no tls configuration"),
        E::TlsName => FetchError::Refused("host is not a valid tls name"),
        E::Redirect(_) => FetchError::Refused("redirect"),
        E::Resolve | E::Connect | E::Tls | E::Http => FetchError::Network,
        E::Timeout => FetchError::Timeout,
        E::Status(status) => FetchError::Status(status),
        E::TooLarge => FetchError::TooLarge,
    }
}

/// Why a fetch past the rate limits is refused.
const RATE_LIMITED: &str = "fetch rate limit";
/// Why a fetch to a host with too many fetches in flight is refused.
const HOST_BUSY: &str = "too many fetches in flight to this host";
/// Why a fetch that found no free slot within the timeout is refused.
const BUSY: &str = "too many fetches in flight";

/// One fetch in flight to a host; the count drops (and the host is
/// forgotten at zero, so the map holds only hosts being fetched from) when
/// it ends.
struct HostSlot<'a> {
    fetcher: &'a HttpMetadataFetcher,
    host: String,
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        let mut in_flight = lock(&self.fetcher.per_host_in_flight);
        if let Some(count) = in_flight.get_mut(&self.host) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                in_flight.remove(&self.host);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A bounded map from URL to a value (a body, or a failure) and expiry.
struct Cache<V> {
    capacity: usize,
    entries: HashMap<String, (V, Instant)>,
}

impl<V: Clone> Cache<V> {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: HashMap::new(),
        }
    }

    fn get(&self, url: &str, now: Instant) -> Option<V> {
        self.entries
            .get(url)
            .filter(|(_, expires)| *expires > now)
            .map(|(body, _)| body.clone())
    }

    /// Inserts, first dropping expired entries and then, when still full, the
    /// entry that expires soonest.
    fn insert(&mut self, url: String, body: V, expires: Instant, now: Instant) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&url) {
            self.entries.retain(|_, (_, e)| *e > now);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, e))| *e)
                    .map(|(k, _)| k.clone());
                if let Some(key) = soonest {
                    self.entries.remove(&key);
                }
            }
        }
        self.entries.insert(url, (body, expires));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::HeaderMap;
    use hyper::header::CACHE_CONTROL;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            if let Ok(value) = v.parse() {
                map.append(CACHE_CONTROL, value);
            }
        }
        map
    }

    #[test]
    fn rfc_9111_5_2_2_cache_control_sets_the_lifetime() {
        let default = Duration::from_secs(300);
        let max = Duration::from_secs(3600);
        let ttl = |v: &[&str]| cache_ttl(&headers(v), default, max);
        assert_eq!(ttl(&[]), Some(default));
        assert_eq!(ttl(&["max-age=60"]), Some(Duration::from_secs(60)));
        assert_eq!(
            ttl(&["public, max-age=\"120\""]),
            Some(Duration::from_secs(120))
        );
        assert_eq!(ttl(&["MAX-AGE=86400"]), Some(max));
        assert_eq!(ttl(&["max-age=0"]), None);
        assert_eq!(ttl(&["max-age=soon"]), None);
        assert_eq!(ttl(&["max-age"]), None);
        assert_eq!(ttl(&["no-store"]), None);
        assert_eq!(ttl(&["max-age=60, no-cache"]), None);
        assert_eq!(ttl(&["max-age=60", "No-Store"]), None);
        assert_eq!(ttl(&["private"]), Some(default));
    }

    #[test]
    fn cache_is_bounded_and_evicts_expired_then_soonest() {
        let now = Instant::now();
        let mut cache = Cache::new(2);
        cache.insert(
            "a".into(),
            b"a".to_vec(),
            now + Duration::from_secs(10),
            now,
        );
        cache.insert(
            "b".into(),
            b"b".to_vec(),
            now + Duration::from_secs(20),
            now,
        );
        cache.insert(
            "c".into(),
            b"c".to_vec(),
            now + Duration::from_secs(30),
            now,
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a", now), None);
        assert_eq!(cache.get("b", now), Some(b"b".to_vec()));
        assert_eq!(cache.get("c", now), Some(b"c".to_vec()));
        // Expired entries are not served.
        assert_eq!(cache.get("b", now + Duration::from_secs(25)), None);
        let mut none = Cache::new(0);
        none.insert(
            "a".into(),
            b"a".to_vec(),
            now + Duration::from_secs(10),
            now,
        );
        assert_eq!(none.get("a", now), None);
    }
}
