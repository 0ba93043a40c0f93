#![doc = include_str!("../README.md")]

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use latchkey_jose::{JoseError, Jwks};
use latchkey_metadata::MetadataError;
use latchkey_types::UnixTime;

#[cfg(feature = "http")]
mod http;
#[cfg(feature = "http")]
mod introspection;
#[cfg(feature = "http")]
pub use http::RemoteKeys;
#[cfg(feature = "http")]
pub use introspection::RemoteIntrospection;

/// Why the keys could not be had. None of these carry a key or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The issuer whose keys to fetch is not an `https` URL (or `http` on a
    /// loopback host) without query or fragment (RFC 8414 section 2).
    #[error("the issuer must be an https url, or http on a loopback host")]
    IssuerUnusable,
    /// The fetch policy refuses the URL: an address in a special-purpose
    /// range it does not allow (link-local, for example), or plain `http` to
    /// a host that is not loopback.
    #[error("the fetch policy refuses the authorization server's address")]
    Refused,
    /// The authorization server could not be reached (connection, TLS or HTTP failure).
    #[error("the authorization server cannot be reached")]
    Connection,
    /// Fetching the metadata or the keys took longer than `RemoteKeys::TIMEOUT`.
    #[error("the authorization server did not answer in time")]
    Timeout,
    /// The authorization server answered with another status than `200`.
    #[error("the authorization server answered with status {0}")]
    Status(u16),
    /// A metadata document or JWK Set was larger than its limit.
    #[error("the authorization server document is too large")]
    TooLarge,
    /// The authorization server metadata was refused (RFC 8414 sections 2 and 3.3).
    #[error("authorization server metadata: {0}")]
    Metadata(MetadataError),
    /// The metadata names no `jwks_uri`, or one that may not be fetched.
    #[error("the authorization server metadata names no usable jwks_uri")]
    JwksUri,
    /// The document at `jwks_uri` is not a JWK Set (RFC 7517 section 5).
    #[error("jwk set: {0}")]
    Malformed(JoseError),
    /// The JWK Set holds no key Latchkey can verify with.
    #[error("the jwk set holds no usable key")]
    Empty,
    /// The metadata names no `introspection_endpoint`, or one that may not
    /// be called (RFC 8414 section 2, RFC 7662 section 2).
    #[error("the authorization server metadata names no usable introspection_endpoint")]
    IntrospectionEndpoint,
}

/// A future of an introspection response: the body of the endpoint's `200`
/// answer, not yet read (RFC 7662 section 2.2).
pub type IntrospectionFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, KeysError>> + Send + 'a>>;

/// Where a resource server asks the authorization server about a token
/// (RFC 7662 section 2.1). [`RemoteIntrospection`] is the HTTP one; the
/// resource server (`latchkey_http::ResourceServer::with_introspection`)
/// reads and checks the answer itself, so an implementation only carries
/// bytes.
pub trait Introspect: Send + Sync {
    /// The body of a `200` answer to the introspection request for `token`,
    /// with `token_type_hint=access_token`. Any other outcome is an error: a
    /// caller must then refuse the token (fail closed).
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectionFuture<'a>;
}

/// A future of the issuer's current JWK Set.
pub type KeysFuture<'a> = Pin<Box<dyn Future<Output = Result<Jwks, KeysError>> + Send + 'a>>;

/// Where a resource server gets the authorization server's keys again after
/// a rotation. [`RemoteKeys`] is the HTTP one; tests and deployments with
/// their own key distribution implement it themselves.
pub trait KeySource: Send + Sync {
    /// The issuer's current JWK Set.
    fn fetch_keys(&self) -> KeysFuture<'_>;
}

/// A [`KeySource`] asked again at most once per interval: what a resource
/// server keeps to follow the authorization server's key rotations (RFC 7517
/// section 4.5). Both adapters hold one.
pub struct KeyRefresh {
    source: Arc<dyn KeySource>,
    min_interval: Duration,
    last_attempt: Mutex<Option<UnixTime>>,
}

impl core::fmt::Debug for KeyRefresh {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyRefresh")
            .field("min_interval", &self.min_interval)
            .finish_non_exhaustive()
    }
}

impl KeyRefresh {
    /// Asks `source` at most once per `min_interval`.
    pub fn new(source: Arc<dyn KeySource>, min_interval: Duration) -> Self {
        Self {
            source,
            min_interval,
            last_attempt: Mutex::new(None),
        }
    }

    /// The issuer's keys from the source, unless the last attempt was less
    /// than the interval before `now` (then `None` without asking). A failed
    /// fetch is logged, naming `resource`, and is `None`; it counts as an
    /// attempt, so a failing authorization server is not asked on every
    /// request.
    pub async fn fetch_if_due(&self, now: UnixTime, resource: &str) -> Option<Jwks> {
        {
            let mut last = self
                .last_attempt
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = last.is_none_or(|at: UnixTime| now >= at.saturating_add(self.min_interval));
            if !due {
                return None;
            }
            *last = Some(now);
        }
        match self.source.fetch_keys().await {
            Ok(jwks) => {
                tracing::info!(
                    target: "latchkey::remote_keys",
                    resource,
                    keys = jwks.len(),
                    "fetched the authorization server's keys again"
                );
                Some(jwks)
            }
            Err(error) => {
                tracing::warn!(
                    target: "latchkey::remote_keys",
                    resource,
                    %error,
                    "the authorization server's keys could not be fetched"
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source that counts its calls and answers with an empty set error.
    struct Counting(std::sync::atomic::AtomicUsize);

    impl KeySource for Counting {
        fn fetch_keys(&self) -> KeysFuture<'_> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Err(KeysError::Empty) })
        }
    }

    #[tokio::test]
    async fn the_source_is_asked_at_most_once_per_interval_failures_included() {
        let source = Arc::new(Counting(std::sync::atomic::AtomicUsize::new(0)));
        let refresh = KeyRefresh::new(
            Arc::clone(&source) as Arc<dyn KeySource>,
            Duration::from_secs(60),
        );
        let at = |secs: u64| UnixTime::from_secs(1_700_000_000 + secs);
        let calls = || source.0.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            refresh
                .fetch_if_due(at(0), "https://r.example")
                .await
                .is_none()
        );
        assert_eq!(calls(), 1);
        assert!(
            refresh
                .fetch_if_due(at(59), "https://r.example")
                .await
                .is_none()
        );
        assert_eq!(calls(), 1, "within the interval the source is not asked");
        assert!(
            refresh
                .fetch_if_due(at(60), "https://r.example")
                .await
                .is_none()
        );
        assert_eq!(calls(), 2);
    }

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        for error in [
            KeysError::IssuerUnusable,
            KeysError::Refused,
            KeysError::Connection,
            KeysError::Timeout,
            KeysError::Status(503),
            KeysError::TooLarge,
            KeysError::JwksUri,
            KeysError::Empty,
            KeysError::IntrospectionEndpoint,
        ] {
            let text = error.to_string();
            assert!(!text.ends_with('.'), "{text}");
            assert_eq!(text, text.to_lowercase(), "{text}");
        }
    }
}
