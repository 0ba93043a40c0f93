//! The `Cache-Control` reader of the metadata fetcher (RFC 9111 section 5.2):
//! how long a fetched document or JWK Set may be kept.

use std::time::Duration;

use http::HeaderMap;
use http::header::CACHE_CONTROL;

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
