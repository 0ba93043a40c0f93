//! The HTTP fetcher for client ID metadata documents: [`HttpMetadataFetcher`],
//! the server's `latchkey_engine::MetadataFetcher`.
//!
//! A client ID metadata document URL is chosen by whoever starts an
//! authorization request, so fetching it is a server-side request forgery
//! risk (CIMD draft section 6.5, "Server-Side Request Forgery (SSRF)
//! Attacks"; RFC 9700 section 4.3 on fetched client metadata). The rules here:
//!
//! - `https` only; plain `http` only to a loopback address and only with
//!   [`FetcherConfig::danger_allow_loopback_http`](method@FetcherConfig::danger_allow_loopback_http) (tests).
//! - The host is resolved here, and EVERY resolved address is vetted with
//!   [`special_purpose`] (private, loopback, link-local, unique-local,
//!   shared, documentation, benchmarking, multicast, unspecified, reserved
//!   and translation ranges of the IANA IPv4 and IPv6 special-purpose
//!   registries, RFC 6890; IPv4-mapped and NAT64 IPv6 addresses are judged by
//!   their IPv4 address). One refused address refuses the URL. The connection
//!   goes to a vetted address, never through a second resolution, so DNS
//!   rebinding cannot swap the address in between.
//! - No redirects: a `3xx` is refused (CIMD draft section 6.5 leaves following
//!   them to the server; following one would re-open the SSRF question).
//! - Only `200` is accepted (other statuses: `FetchError::Status`).
//! - The body is read up to 5 KiB and reading stops beyond that
//!   (`FetchError::TooLarge`; CIMD draft section 6.6 recommends 5 kilobytes, A8).
//! - A connect timeout and an overall timeout (`FetchError::Timeout`).
//! - The same rules fetch a `private_key_jwt` client's `jwks_uri`
//!   ([`HttpMetadataFetcher::fetch_jwks_url`]), with a 64 KiB bound instead of
//!   5 KiB, cached apart from documents.
//! - `Accept: application/json`.
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
//! Dependencies: `hyper` (client, HTTP/1.1) with `hyper-util` (tokio I/O)
//! and `http-body-util`, over a `tokio::net::TcpStream` this module connects
//! itself to the vetted address; `tokio-rustls` (rustls with aws-lc-rs, the
//! workspace's crypto provider) and `webpki-roots` (Mozilla's roots, so trust
//! does not depend on the host's certificate store). A full client such as
//! reqwest would resolve names itself and bypass the address rules for IP
//! literals.
//!
//! What it does not do: no cookies, no authentication, no proxies, no HTTP/2,
//! no revalidation (`no-cache` documents are fetched again each time), no
//! `Expires` header (only `Cache-Control`).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::rate_limit::{KeyedLimiter, Quota};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::header::{ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, HOST, USER_AGENT};
use hyper::{HeaderMap, Request, StatusCode};
use hyper_util::rt::TokioIo;
use latchkey_engine::{FetchError, MetadataFetcher};
use latchkey_registration::{ClientIdMetadataUrl, MetadataUri};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

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
    /// `None` only if rustls could not build a configuration (then every
    /// `https` fetch is refused).
    tls: Option<Arc<rustls::ClientConfig>>,
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
    /// A fetcher with `config`, trusting the Mozilla root certificates
    /// (`webpki-roots`) with rustls' aws-lc-rs provider.
    pub fn new(config: FetcherConfig) -> Self {
        let tls = tls_config();
        if tls.is_none() {
            tracing::error!("no TLS configuration: metadata documents cannot be fetched");
        }
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
            tls,
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

    /// One fetch, without the overall timeout: the body and how long it may
    /// be cached (`None`: not at all).
    async fn fetch_uncached(
        &self,
        url: &url::Url,
        max_len: usize,
    ) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
        let https = match url.scheme() {
            "https" => true,
            "http" if self.config.danger_allow_loopback_http => false,
            _ => return Err(FetchError::Refused("not https")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(FetchError::Refused("userinfo in url"));
        }
        let port = url
            .port_or_known_default()
            .ok_or(FetchError::Refused("no port"))?;
        let addresses = self.resolve(url, port).await?;
        // Plain http is only ever for a local test server.
        if !https && !addresses.iter().all(|a| is_loopback(a.ip())) {
            return Err(FetchError::Refused("http to a non-loopback address"));
        }
        let tcp = self.connect(&addresses).await?;
        let request = build_request(url)?;
        let response = if https {
            let tls = self
                .tls
                .clone()
                .ok_or(FetchError::Refused("no tls configuration"))?;
            let name = rustls::pki_types::ServerName::try_from(host_for_tls(url)?.to_owned())
                .map_err(|_| FetchError::Refused("host is not a valid tls name"))?;
            let stream = TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|_| FetchError::Network)?;
            send(stream, request, max_len).await?
        } else {
            send(tcp, request, max_len).await?
        };
        let ttl = cache_ttl(&response.1, self.config.default_ttl, self.config.max_ttl);
        Ok((response.0, ttl))
    }

    /// The vetted addresses of the URL's host (resolved here, once).
    async fn resolve(&self, url: &url::Url, port: u16) -> Result<Vec<SocketAddr>, FetchError> {
        let addresses: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(domain)) => tokio::net::lookup_host((domain, port))
                .await
                .map_err(|_| FetchError::Network)?
                .collect(),
            None => return Err(FetchError::Refused("no host")),
        };
        if addresses.is_empty() {
            return Err(FetchError::Network);
        }
        for address in &addresses {
            vet(address.ip(), self.config.danger_allow_loopback_http)?;
        }
        Ok(addresses)
    }

    /// A TCP connection to the first of `addresses` that answers in time.
    async fn connect(&self, addresses: &[SocketAddr]) -> Result<TcpStream, FetchError> {
        let mut last = FetchError::Network;
        for address in addresses {
            match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(address))
                .await
            {
                Ok(Ok(stream)) => return Ok(stream),
                Ok(Err(_)) => last = FetchError::Network,
                Err(_) => last = FetchError::Timeout,
            }
        }
        Err(last)
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

/// Why `ip` must not be fetched from, or `None` for an ordinary global
/// unicast address. Covers the IANA IPv4 and IPv6 special-purpose address
/// registries (RFC 6890 and its updates) plus multicast and the reserved
/// blocks. IPv4-mapped (`::ffff:0:0/96`, RFC 4291 section 2.5.5.2) and
/// well-known-prefix NAT64 (`64:ff9b::/96`, RFC 6052) addresses are judged by
/// the IPv4 address inside.
pub fn special_purpose(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_purpose_v4(v4),
        IpAddr::V6(v6) => special_purpose_v6(v6),
    }
}

/// Whether `ip` is a loopback address (`127.0.0.0/8`, `::1`, or an
/// IPv4-mapped loopback address).
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// How long a response may be cached, from its `Cache-Control` (RFC 9111
/// section 5.2.2): `no-store` or `no-cache` → not at all; `max-age=N` → `N`
/// seconds capped at `max` (`0` or an invalid value → not at all); no
/// `max-age` → `default` (capped at `max`).
pub fn cache_ttl(headers: &HeaderMap, default: Duration, max: Duration) -> Option<Duration> {
    let mut ttl = default;
    for value in headers.get_all(CACHE_CONTROL) {
        let value = value.to_str().ok()?;
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return None;
            }
            if name.eq_ignore_ascii_case("max-age") {
                let seconds: u64 = argument?.parse().ok()?;
                ttl = Duration::from_secs(seconds);
            }
        }
    }
    let ttl = ttl.min(max);
    (!ttl.is_zero()).then_some(ttl)
}

/// `Ok` when `ip` may be fetched from: a global address, or a loopback address
/// when `allow_loopback`.
fn vet(ip: IpAddr, allow_loopback: bool) -> Result<(), FetchError> {
    match special_purpose(ip) {
        None => Ok(()),
        Some(_) if allow_loopback && is_loopback(ip) => Ok(()),
        Some(reason) => Err(FetchError::Refused(reason)),
    }
}

fn special_purpose_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified or this-network address",
        (10, _, _) => "private address",
        (100, 64..=127, _) => "shared address space",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local address",
        (172, 16..=31, _) => "private address",
        (192, 0, 0) => "ietf protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (192, 88, 99) => "6to4 relay anycast address",
        (192, 168, _) => "private address",
        (198, 18..=19, _) => "benchmarking address",
        (224..=239, _, _) => "multicast address",
        (240..=255, _, _) => "reserved or broadcast address",
        _ => return None,
    };
    Some(reason)
}

fn special_purpose_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_loopback() {
        return Some("loopback address");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return special_purpose_v4(v4);
    }
    let [s0, s1, s2, s3, s4, s5, _, _] = ip.segments();
    let reason = match (s0, s1) {
        // ::/96 (IPv4-compatible, deprecated) and the rest of ::/16.
        (0, _) => "reserved ipv6 address",
        (0x0064, 0xff9b) if s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 => {
            let [.., a, b, c, d] = ip.octets();
            return special_purpose_v4(Ipv4Addr::new(a, b, c, d));
        }
        (0x0064, 0xff9b) if s2 == 1 => "local-use nat64 address",
        (0x0100, 0) if s2 == 0 && s3 == 0 => "discard-only address",
        (0x2001, 0x0db8) => "documentation address",
        (0x2001, 0x0000..=0x01ff) => "ietf protocol assignment",
        (0x2002, _) => "6to4 address",
        (0x3fff, 0x0000..=0x0fff) => "documentation address",
        (0x5f00, _) => "segment routing address",
        (0xfc00..=0xfdff, _) => "unique local address",
        (0xfe80..=0xfebf, _) => "link-local address",
        (0xfec0..=0xfeff, _) => "site-local address",
        (0xff00..=0xffff, _) => "multicast address",
        _ => return None,
    };
    Some(reason)
}

/// The TLS client configuration: Mozilla roots, aws-lc-rs, TLS 1.2 and 1.3.
fn tls_config() -> Option<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(Arc::new(config))
}

/// The host as rustls wants it: a DNS name, or an IP address without brackets.
fn host_for_tls(url: &url::Url) -> Result<String, FetchError> {
    match url.host() {
        Some(url::Host::Domain(domain)) => Ok(domain.to_owned()),
        Some(url::Host::Ipv4(ip)) => Ok(ip.to_string()),
        Some(url::Host::Ipv6(ip)) => Ok(ip.to_string()),
        None => Err(FetchError::Refused("no host")),
    }
}

/// `GET path?query` with `Host`, `Accept: application/json` and `Connection: close`.
fn build_request(url: &url::Url) -> Result<Request<Empty<Bytes>>, FetchError> {
    let host = url.host_str().ok_or(FetchError::Refused("no host"))?;
    let host = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
    Request::get(target)
        .header(HOST, host)
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, concat!("latchkey/", env!("CARGO_PKG_VERSION")))
        .header(CONNECTION, "close")
        .body(Empty::new())
        .map_err(|_| FetchError::Refused("malformed url"))
}

/// Sends `request` over `stream` (HTTP/1.1) and reads a `200` body of at
/// most `max_body` bytes, with the response headers.
async fn send<T>(
    stream: T,
    request: Request<Empty<Bytes>>,
    max_body: usize,
) -> Result<(Vec<u8>, HeaderMap), FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| FetchError::Network)?;
    let _connection = AbortOnDrop(tokio::spawn(connection));
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| FetchError::Network)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchError::Refused("redirect"));
    }
    if status != StatusCode::OK {
        return Err(FetchError::Status(status.as_u16()));
    }
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max_body as u64) {
        return Err(FetchError::TooLarge);
    }
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| FetchError::Network)?;
        if let Ok(data) = frame.into_data() {
            if data.len() > max_body.saturating_sub(bytes.len()) {
                return Err(FetchError::TooLarge);
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok((bytes, parts.headers))
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

/// Aborts the connection task when the fetch ends or is dropped (timeout).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
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

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().expect("test address"))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().expect("test address"))
    }

    #[test]
    fn cimd_6_5_every_special_purpose_ipv4_range_is_refused() {
        let cases = [
            ("0.0.0.0", "unspecified or this-network address"),
            ("0.1.2.3", "unspecified or this-network address"),
            ("10.0.0.1", "private address"),
            ("10.255.255.255", "private address"),
            ("100.64.0.1", "shared address space"),
            ("100.127.255.254", "shared address space"),
            ("127.0.0.1", "loopback address"),
            ("127.255.0.9", "loopback address"),
            ("169.254.169.254", "link-local address"),
            ("172.16.0.1", "private address"),
            ("172.31.255.255", "private address"),
            ("192.0.0.8", "ietf protocol assignment"),
            ("192.0.2.1", "documentation address"),
            ("198.51.100.7", "documentation address"),
            ("203.0.113.9", "documentation address"),
            ("192.88.99.1", "6to4 relay anycast address"),
            ("192.168.1.1", "private address"),
            ("198.18.0.1", "benchmarking address"),
            ("198.19.255.255", "benchmarking address"),
            ("224.0.0.1", "multicast address"),
            ("239.255.255.250", "multicast address"),
            ("240.0.0.1", "reserved or broadcast address"),
            ("255.255.255.255", "reserved or broadcast address"),
        ];
        for (ip, reason) in cases {
            assert_eq!(special_purpose(v4(ip)), Some(reason), "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_public_ipv4_addresses_and_range_edges_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(special_purpose(v4(ip)), None, "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_every_special_purpose_ipv6_range_is_refused() {
        let cases = [
            ("::", "unspecified address"),
            ("::1", "loopback address"),
            ("::127.0.0.1", "reserved ipv6 address"),
            ("::ffff:127.0.0.1", "loopback address"),
            ("::ffff:10.1.2.3", "private address"),
            ("::ffff:169.254.169.254", "link-local address"),
            ("::ffff:192.168.0.1", "private address"),
            ("::ffff:0.0.0.0", "unspecified or this-network address"),
            ("64:ff9b::10.0.0.1", "private address"),
            ("64:ff9b::127.0.0.1", "loopback address"),
            ("64:ff9b:1::1", "local-use nat64 address"),
            ("100::1", "discard-only address"),
            ("2001::1", "ietf protocol assignment"),
            ("2001:1ff::1", "ietf protocol assignment"),
            ("2001:db8::1", "documentation address"),
            ("2002:a00:1::1", "6to4 address"),
            ("3fff::1", "documentation address"),
            ("5f00::1", "segment routing address"),
            ("fc00::1", "unique local address"),
            ("fd12:3456::1", "unique local address"),
            ("fe80::1", "link-local address"),
            ("febf::1", "link-local address"),
            ("fec0::1", "site-local address"),
            ("ff02::1", "multicast address"),
            ("ff0e::1", "multicast address"),
        ];
        for (ip, reason) in cases {
            assert_eq!(special_purpose(v6(ip)), Some(reason), "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_public_ipv6_addresses_are_allowed() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "4000::1",
            "fbff::1",
        ] {
            assert_eq!(special_purpose(v6(ip)), None, "{ip}");
        }
    }

    #[test]
    fn loopback_is_allowed_only_with_the_danger_option() {
        for ip in [v4("127.0.0.1"), v6("::1"), v6("::ffff:127.0.0.1")] {
            assert_eq!(vet(ip, false), Err(FetchError::Refused("loopback address")));
            assert_eq!(vet(ip, true), Ok(()));
        }
        // The danger option allows loopback, nothing else.
        assert_eq!(
            vet(v4("10.0.0.1"), true),
            Err(FetchError::Refused("private address"))
        );
        assert_eq!(
            vet(v6("fe80::1"), true),
            Err(FetchError::Refused("link-local address"))
        );
        assert_eq!(vet(v4("8.8.8.8"), false), Ok(()));
    }

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
