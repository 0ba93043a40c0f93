//! Upstream sign-in (issue 10): the I/O around `latchkey-upstream`. Each
//! `[[identity_providers]]` entry becomes a `Configured` provider with its
//! own [`Fetcher`], its discovery document and JWK Set fetched when first
//! needed and kept, and the one exchange the callback needs
//! ([`UpstreamSignIn::finish`]): the token request, the ID token validated
//! against the provider's keys (fetched once more on an unknown `kid`, OIDC
//! Core 1.0 section 10.1.1) or, for `oauth2`, the userinfo request, then
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
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Upstream(error) => error.reason().message(),
            Self::Unreachable { .. } => "the provider could not be reached; try again later",
            Self::UnknownProvider => "this sign-in option does not exist",
            Self::NoPendingSignIn => {
                "this sign-in response does not belong to a sign-in started in this browser; start again"
            }
            Self::Replayed => "this sign-in response was already used; start again",
            Self::Store => "the server could not finish this step; try again in a moment",
        }
    }
}

/// One configured provider, ready to use.
struct Configured {
    provider: Provider,
    secret: ClientSecret,
    callback: CallbackUrl,
    fetcher: Fetcher,
    endpoints: Mutex<Option<Endpoints>>,
    jwks: Mutex<Option<Jwks>>,
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
                    endpoints: Mutex::new(endpoints),
                    jwks: Mutex::new(None),
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
    pub async fn authorization_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        for configured in &self.providers {
            let Ok(endpoints) = self.endpoints(configured).await else {
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
        let endpoints = self.endpoints(configured).await?;
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
        let provider = &configured.provider;
        let endpoints = self.endpoints(configured).await?;
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
                let jwks = self.jwks(configured, &endpoints, false).await?;
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
                        // rotated its keys; fetch them once more.
                        let jwks = self.jwks(configured, &endpoints, true).await?;
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
            if let Err(error) = self.endpoints(configured).await {
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

    /// The provider's endpoints: configured (`oauth2`), or discovered once
    /// (`oidc`) and kept.
    async fn endpoints(&self, configured: &Configured) -> Result<Endpoints, SignInError> {
        let mut slot = configured.endpoints.lock().await;
        if let Some(endpoints) = slot.as_ref() {
            return Ok(endpoints.clone());
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
        *slot = Some(endpoints.clone());
        Ok(endpoints)
    }

    /// The provider's JWK Set, fetched when not kept yet or when `refresh`.
    async fn jwks(
        &self,
        configured: &Configured,
        endpoints: &Endpoints,
        refresh: bool,
    ) -> Result<Jwks, SignInError> {
        let mut slot = configured.jwks.lock().await;
        if !refresh && let Some(jwks) = slot.as_ref() {
            return Ok(jwks.clone());
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
        *slot = Some(jwks.clone());
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
        let response = configured
            .fetcher
            .post_form(&url, &pairs, basic.as_ref(), MAX_TOKEN_RESPONSE_LEN)
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
            200,
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
