//! Upstream sign-in (issue 10): the I/O around `latchkey-upstream`. Each
//! `[[identity_providers]]` entry becomes a `Configured` provider with its
//! own [`Fetcher`], its discovery document and JWK Set fetched when first
//! needed and kept for [`DOCUMENT_LIFETIME`], and the one exchange the callback needs
//! ([`UpstreamSignIn::finish`]): the token request, the ID token validated
//! against the provider's keys (fetched once more on an unknown `kid`, OIDC
//! Core 1.0 section 10.1.1, at most once per [`KEY_REFRESH_INTERVAL`]) or, for `oauth2`, the userinfo request, then
//! admission. The upstream tokens are dropped when `finish` returns: they are
//! never stored, never logged and never passed on (MCP "token passthrough").
//!
//! Fetches follow [`Policy::operator_configured`]: the provider is the
//! operator's choice, so only `https` to global addresses, and loopback
//! (plain `http` included) only for a provider whose issuer (or, for
//! `oauth2`, token endpoint) is itself on loopback.
//!
//! The pages (`crate::interaction`) keep the browser state: the sealed
//! pending request in a cookie bound to the browser, single use through the
//! store's replay table.

use std::borrow::Cow;
use std::time::Duration;

use latchkey_fetch::{BasicCredentials, FetchError, Fetcher, Policy};
use latchkey_jose::Jwks;
use latchkey_types::{SecretString, UnixTime};
use latchkey_upstream::{
    CallbackUrl, ClientSecret, Endpoints, MAX_TOKEN_RESPONSE_LEN, MAX_USERINFO_LEN,
    PendingUpstream, Provider, ProviderId, ProviderKind, TokenResponse, UpstreamError,
    UpstreamIdentity, UpstreamPolicy, complete_callback, validate_id_token,
};
use tokio::sync::Mutex;
use url::Url;

use crate::error::ServerError;

/// The largest discovery document or JWK Set read.
pub const MAX_DOCUMENT_LEN: usize = 256 * 1024;

/// The largest token error response read (RFC 6749 section 5.2: `error`,
/// `error_description`, `error_uri`).
pub const MAX_TOKEN_ERROR_LEN: usize = 4 * 1024;

/// Why an upstream sign-in stopped. The error page names the provider and
/// [`SignInError::reason`]; nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignInError {
    /// The protocol core refused (state, ID token, admission, ...).
    #[error("{0}")]
    Upstream(#[from] UpstreamError),
    /// A document or endpoint of the provider could not be fetched.
    #[error("the provider's {what} could not be fetched: {error}")]
    Unreachable {
        /// Which one: "discovery document", "keys", "token endpoint", "userinfo endpoint".
        what: &'static str,
        /// What went wrong.
        error: FetchError,
    },
    /// The callback names no configured provider.
    #[error("no such identity provider")]
    UnknownProvider,
    /// This browser has no sign-in waiting (no cookie, or another browser's).
    #[error("no sign-in is waiting in this browser")]
    NoPendingSignIn,
    /// The sign-in was already completed once (a replayed callback).
    #[error("the sign-in response was already used")]
    Replayed,
    /// The store could not record or look up what the sign-in needs.
    #[error("the store failed")]
    Store,
}

impl SignInError {
    /// The reason the error page gives after the provider's name. One
    /// exhaustive match (STYLE.md section 3).
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Self::Upstream(error) => error.page_reason(),
            Self::Unreachable { .. } => "the provider could not be reached; try again later".into(),
            Self::UnknownProvider => "this sign-in option does not exist".into(),
            Self::NoPendingSignIn => {
                "this sign-in response does not belong to a sign-in started in this browser; start again".into()
            }
            Self::Replayed => "this sign-in response was already used; start again".into(),
            Self::Store => "the server could not finish this step; try again in a moment".into(),
        }
    }
}

/// How long a provider's discovery document and JWK Set are used before
/// they are read again: 24 hours. The discovery document is also read again
/// after any fetch with it failed (an endpoint moved); the JWK Set also on
/// an unknown `kid`, at most once per [`KEY_REFRESH_INTERVAL`].
pub const DOCUMENT_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// The least time between two reads of a provider's JWK Set caused by an
/// unknown `kid` (OIDC Core 1.0 section 10.1.1): an ID token with a forged
/// `kid` cannot make Latchkey fetch the provider's keys more often.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// A fetched document and when it was fetched.
#[derive(Debug, Clone)]
struct Kept<T> {
    value: T,
    fetched_at: UnixTime,
}

impl<T: Clone> Kept<T> {
    /// The value, if fetched less than [`DOCUMENT_LIFETIME`] before `now`
    /// (a clock that went back keeps it).
    fn fresh(slot: &Option<Self>, now: UnixTime) -> Option<T> {
        let kept = slot.as_ref()?;
        let age = now.duration_since(kept.fetched_at).unwrap_or_default();
        (age < DOCUMENT_LIFETIME).then(|| kept.value.clone())
    }
}

/// A provider's JWK Set as kept: the set, and when an unknown `kid` last
/// caused a read.
#[derive(Debug, Default)]
struct KeySet {
    kept: Option<Kept<Jwks>>,
    last_refresh: Option<UnixTime>,
}

impl KeySet {
    /// Whether an unknown `kid` may cause a read at `now`: none yet, or the
    /// last one at least [`KEY_REFRESH_INTERVAL`] ago.
    fn may_refresh(&self, now: UnixTime) -> bool {
        self.last_refresh.is_none_or(|last| {
            now.duration_since(last)
                .is_some_and(|elapsed| elapsed >= KEY_REFRESH_INTERVAL)
        })
    }
}

/// One configured provider, ready to use.
struct Configured {
    provider: Provider,
    secret: ClientSecret,
    callback: CallbackUrl,
    fetcher: Fetcher,
    /// `oauth2`: from the configuration, for good.
    configured_endpoints: Option<Endpoints>,
    /// `oidc`: from discovery, for [`DOCUMENT_LIFETIME`].
    discovered: Mutex<Option<Kept<Endpoints>>>,
    jwks: Mutex<KeySet>,
}

impl std::fmt::Debug for Configured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Configured")
            .field("provider", self.provider.id())
            .finish_non_exhaustive()
    }
}

/// The identity providers of one server.
#[derive(Debug)]
pub struct UpstreamSignIn {
    providers: Vec<Configured>,
    policy: UpstreamPolicy,
}

impl UpstreamSignIn {
    /// The providers of `list` (from [`crate::config::ServerConfig::upstream_providers`]),
    /// with callbacks under `latchkey_issuer`.
    pub fn new(
        list: Vec<(Provider, ClientSecret)>,
        latchkey_issuer: &str,
    ) -> Result<Self, ServerError> {
        let providers = list
            .into_iter()
            .map(|(provider, secret)| {
                let callback =
                    CallbackUrl::new(latchkey_issuer, provider.id()).map_err(|error| {
                        ServerError::IdentityProvider {
                            id: provider.id().to_string(),
                            reason: error.to_string(),
                        }
                    })?;
                let fetcher = Fetcher::new(policy_for(&provider));
                let endpoints = Endpoints::from_config(&provider);
                Ok(Configured {
                    provider,
                    secret,
                    callback,
                    fetcher,
                    configured_endpoints: endpoints,
                    discovered: Mutex::new(None),
                    jwks: Mutex::new(KeySet::default()),
                })
            })
            .collect::<Result<Vec<_>, ServerError>>()?;
        Ok(Self {
            providers,
            policy: UpstreamPolicy::default(),
        })
    }

    /// Whether no provider is configured.
    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    /// Each provider's id and display name, in configuration order.
    pub fn buttons(&self) -> Vec<(&str, &str)> {
        self.providers
            .iter()
            .map(|c| (c.provider.id().as_str(), c.provider.display_name()))
            .collect()
    }

    /// The only provider, when there is exactly one.
    pub fn only(&self) -> Option<&Provider> {
        match self.providers.as_slice() {
            [one] => Some(&one.provider),
            _ => None,
        }
    }

    /// The origins of the providers' authorization endpoints (discovered
    /// when needed; a provider that cannot be reached now is left out).
    pub async fn authorization_origins(&self, now: UnixTime) -> Vec<String> {
        let mut origins = Vec::new();
        for configured in &self.providers {
            let Ok(endpoints) = self.endpoints(configured, now).await else {
                continue;
            };
            if let Ok(url) = Url::parse(endpoints.authorization_endpoint()) {
                let origin = url.origin().ascii_serialization();
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins
    }

    /// The provider with `id`.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.configured(id).map(|c| &c.provider)
    }

    /// Starts a sign-in at provider `id`: the URL to send the browser to, and
    /// the pending request to keep (sealed) until the callback.
    pub async fn begin(
        &self,
        id: &str,
        now: UnixTime,
        rng: &mut impl rand_core::CryptoRng,
    ) -> Result<(String, PendingUpstream), SignInError> {
        let configured = self.configured(id).ok_or(SignInError::UnknownProvider)?;
        let endpoints = self.endpoints(configured, now).await?;
        let (redirect, pending) = latchkey_upstream::begin(
            &configured.provider,
            &endpoints,
            &configured.callback,
            now,
            rng,
        );
        Ok((redirect.as_str().to_owned(), pending))
    }

    /// Completes the sign-in at provider `id` from the callback's `query`
    /// and the pending request: the admitted identity. Every upstream token
    /// is dropped before this returns.
    pub async fn finish(
        &self,
        id: &str,
        pending: PendingUpstream,
        query: &str,
        now: UnixTime,
    ) -> Result<UpstreamIdentity, SignInError> {
        let configured = self.configured(id).ok_or(SignInError::UnknownProvider)?;
        let endpoints = self.endpoints(configured, now).await?;
        let result = self
            .finish_with(configured, &endpoints, pending, query, now)
            .await;
        if matches!(result, Err(SignInError::Unreachable { .. })) {
            // An endpoint of the discovery document failed: read it again
            // next time, in case the provider moved it.
            *configured.discovered.lock().await = None;
        }
        result
    }

    async fn finish_with(
        &self,
        configured: &Configured,
        endpoints: &Endpoints,
        pending: PendingUpstream,
        query: &str,
        now: UnixTime,
    ) -> Result<UpstreamIdentity, SignInError> {
        let provider = &configured.provider;
        let endpoints = endpoints.clone();
        let redemption = complete_callback(
            provider,
            &endpoints,
            pending,
            &configured.callback,
            query,
            &configured.secret,
            now,
            &self.policy,
        )?;
        let tokens = self.redeem(configured, &redemption.token_request).await?;
        let person = match provider.kind() {
            ProviderKind::Oidc => {
                let jwks = self.jwks(configured, &endpoints, false, now).await?;
                let validate = |jwks: &Jwks| {
                    validate_id_token(
                        provider,
                        &endpoints,
                        jwks,
                        &tokens,
                        &redemption.expected,
                        now,
                        &self.policy,
                    )
                };
                match validate(&jwks) {
                    Err(UpstreamError::IdTokenUnknownKey) => {
                        // OIDC Core 1.0 section 10.1.1: the provider may have
                        // rotated its keys; fetch them once more, unless an
                        // unknown kid did so less than a minute ago.
                        let jwks = self.jwks(configured, &endpoints, true, now).await?;
                        validate(&jwks)?
                    }
                    other => other?,
                }
            }
            ProviderKind::OAuth2 => {
                let request = tokens
                    .userinfo_request(&endpoints)
                    .ok_or(UpstreamError::EndpointMissing("userinfo_endpoint"))?;
                let url = Url::parse(&request.url).map_err(|_| SignInError::Unreachable {
                    what: "userinfo endpoint",
                    error: FetchError::MalformedUrl,
                })?;
                let response = configured
                    .fetcher
                    .get_authorized(&url, &request.authorization, MAX_USERINFO_LEN)
                    .await
                    .map_err(|error| SignInError::Unreachable {
                        what: "userinfo endpoint",
                        error,
                    })?;
                UpstreamIdentity::from_userinfo(provider, response.body())?
            }
        };
        provider.admit(&person)?;
        Ok(person)
    }

    /// Checks what `latchkey check` can check over the network: each
    /// `oidc` provider's discovery document is fetched and read. One line
    /// per problem, naming the provider; never the secret.
    pub async fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for configured in &self.providers {
            if configured.provider.kind() != ProviderKind::Oidc {
                continue;
            }
            if let Err(error) = self.endpoints(configured, crate::now()).await {
                problems.push(format!(
                    "identity provider {:?}: {error}",
                    configured.provider.id().as_str()
                ));
            }
        }
        problems
    }

    fn configured(&self, id: &str) -> Option<&Configured> {
        let id = ProviderId::parse(id).ok()?;
        self.providers.iter().find(|c| *c.provider.id() == id)
    }

    /// The provider's endpoints: configured (`oauth2`), or discovered
    /// (`oidc`) and kept for [`DOCUMENT_LIFETIME`].
    async fn endpoints(
        &self,
        configured: &Configured,
        now: UnixTime,
    ) -> Result<Endpoints, SignInError> {
        if let Some(endpoints) = &configured.configured_endpoints {
            return Ok(endpoints.clone());
        }
        let mut slot = configured.discovered.lock().await;
        if let Some(endpoints) = Kept::fresh(&slot, now) {
            return Ok(endpoints);
        }
        let unreachable = |error| SignInError::Unreachable {
            what: "discovery document",
            error,
        };
        let url = configured
            .provider
            .discovery_url()
            .and_then(|url| Url::parse(&url).ok())
            .ok_or(unreachable(FetchError::MalformedUrl))?;
        let response = configured
            .fetcher
            .get(&url, MAX_DOCUMENT_LEN)
            .await
            .map_err(unreachable)?;
        let endpoints = Endpoints::from_discovery(&configured.provider, response.body())?;
        *slot = Some(Kept {
            value: endpoints.clone(),
            fetched_at: now,
        });
        Ok(endpoints)
    }

    /// The provider's JWK Set: kept for [`DOCUMENT_LIFETIME`], and read
    /// again when `refresh` (an unknown `kid`) unless the last such read was
    /// less than [`KEY_REFRESH_INTERVAL`] ago, which is then
    /// [`UpstreamError::IdTokenUnknownKey`].
    async fn jwks(
        &self,
        configured: &Configured,
        endpoints: &Endpoints,
        refresh: bool,
        now: UnixTime,
    ) -> Result<Jwks, SignInError> {
        let mut slot = configured.jwks.lock().await;
        if refresh {
            if !slot.may_refresh(now) {
                return Err(UpstreamError::IdTokenUnknownKey.into());
            }
            slot.last_refresh = Some(now);
        } else if let Some(jwks) = Kept::fresh(&slot.kept, now) {
            return Ok(jwks);
        }
        let unreachable = |error| SignInError::Unreachable {
            what: "keys",
            error,
        };
        let url = endpoints
            .jwks_uri()
            .and_then(|url| Url::parse(url).ok())
            .ok_or(unreachable(FetchError::MalformedUrl))?;
        let response = configured
            .fetcher
            .get(&url, MAX_DOCUMENT_LEN)
            .await
            .map_err(unreachable)?;
        let jwks = Jwks::parse(response.body()).map_err(UpstreamError::IdTokenMalformed)?;
        slot.kept = Some(Kept {
            value: jwks.clone(),
            fetched_at: now,
        });
        Ok(jwks)
    }

    /// The token request (RFC 6749 section 4.1.3), its answer parsed.
    async fn redeem(
        &self,
        configured: &Configured,
        request: &latchkey_upstream::TokenRequest,
    ) -> Result<TokenResponse, SignInError> {
        let unreachable = |error| SignInError::Unreachable {
            what: "token endpoint",
            error,
        };
        let url =
            Url::parse(request.endpoint()).map_err(|_| unreachable(FetchError::MalformedUrl))?;
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(request.body().expose_secret().as_bytes())
                .into_owned()
                .collect();
        let pairs: Vec<(&str, &str)> = form
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let basic = request.authorization().map(|_| {
            BasicCredentials::new(
                configured.provider.client_id().as_str(),
                SecretString::new(configured.secret.expose_secret().to_owned()),
            )
        });
        // RFC 6749 section 5.2: a refusal is a 400 (or 401) with a JSON
        // body naming the `error`; read it, within a small bound.
        let response = configured
            .fetcher
            .post_form_reading_errors(
                &url,
                &pairs,
                basic.as_ref(),
                MAX_TOKEN_RESPONSE_LEN,
                MAX_TOKEN_ERROR_LEN,
            )
            .await;
        let response = match response {
            Ok(response) => response,
            Err(FetchError::Status(status)) => {
                return Err(UpstreamError::TokenStatus(status).into());
            }
            Err(error) => return Err(unreachable(error)),
        };
        Ok(TokenResponse::parse(
            configured.provider.kind(),
            response.status(),
            response.body(),
        )?)
    }
}

/// The fetch policy for `provider`: operator-configured, with loopback
/// allowed only when the provider itself is on loopback.
fn policy_for(provider: &Provider) -> Policy {
    let base = provider.issuer().map(str::to_owned).or_else(|| {
        Endpoints::from_config(provider).map(|endpoints| endpoints.token_endpoint().to_owned())
    });
    let loopback = base
        .and_then(|url| Url::parse(&url).ok())
        .is_some_and(|url| match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        });
    if loopback {
        Policy::operator_configured()
            .danger_allow_loopback_http()
            .into()
    } else {
        Policy::operator_configured().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixTime = UnixTime::from_secs(1_800_000_000);

    #[test]
    fn a_kept_document_is_used_for_24_hours_then_read_again() {
        let slot = Some(Kept {
            value: 7,
            fetched_at: T0,
        });
        let day = DOCUMENT_LIFETIME.as_secs();
        assert_eq!(Kept::fresh(&slot, T0), Some(7));
        assert_eq!(
            Kept::fresh(&slot, T0.saturating_add(Duration::from_secs(day - 1))),
            Some(7)
        );
        assert_eq!(
            Kept::fresh(&slot, T0.saturating_add(DOCUMENT_LIFETIME)),
            None
        );
        // A clock that went back does not throw it away.
        assert_eq!(
            Kept::fresh(&slot, UnixTime::from_secs(T0.as_secs() - 5)),
            Some(7)
        );
        assert_eq!(Kept::<u8>::fresh(&None, T0), None);
    }

    #[test]
    fn oidc_core_section_10_1_1_an_unknown_kid_reads_the_keys_at_most_once_a_minute() {
        let mut keys = KeySet::default();
        assert!(keys.may_refresh(T0));
        keys.last_refresh = Some(T0);
        for later in [0, 1, 59] {
            assert!(
                !keys.may_refresh(T0.saturating_add(Duration::from_secs(later))),
                "{later}"
            );
        }
        assert!(keys.may_refresh(T0.saturating_add(KEY_REFRESH_INTERVAL)));
        // A clock that went back does not open the gate.
        assert!(!keys.may_refresh(UnixTime::from_secs(T0.as_secs() - 120)));
    }
}
