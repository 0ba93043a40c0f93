//! Resource-server protection: access-token validation as a tower layer, the
//! [`AccessToken`] extractor, protected resource metadata and `Origin` checks.
//!
//! Revocation: a JWT access token is checked locally, so by itself a revoked
//! token keeps working until it expires. A resource server beside the
//! authorization server (sharing its store) is given a
//! [`RevocationCheck`](latchkey_engine::RevocationCheck) with
//! [`ResourceServer::with_revocation_check`] and refuses revoked tokens at
//! once. One that runs apart either accepts the token lifetime (5 minutes by
//! default) as the bound on a revoked token's use, or will validate tokens by
//! introspection (RFC 7662), which this layer does not do yet.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri, Request};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ORIGIN};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use latchkey_dpop::{
    DpopConfig, Htu, MemoryReplayCache, ProofExpectations, ReplayPartition, check_key_binding,
    validate_proof,
};
use latchkey_engine::{EndpointResponse, RevocationCheck, check_revocation};
use latchkey_jose::Jwks;
use latchkey_metadata::{Challenge, ProtectedResourceMetadata};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, TokenError};
use latchkey_types::{ErrorCode, Scope, UnixTime};
use latchkey_uri::ResourceUri;

use crate::error::AdapterError;
use crate::translate::{
    authorization, dpop_values, into_response, mark_sensitive, now, server_error,
};
use latchkey_remote_keys::{KeyRefresh, KeySource};

/// A protected resource (an MCP server): its canonical URI, where its metadata
/// is, how tokens are validated, the scopes routes need by default, the DPoP
/// policy with a replay cache, the origins browsers may call it from, and
/// optionally where to fetch the issuer's keys again after a rotation and
/// whom to ask whether a token was revoked.
pub struct ResourceServer {
    resource: ResourceUri,
    resource_metadata_url: String,
    /// Replaced whole when the keys are fetched again.
    validator: RwLock<Arc<AccessTokenValidator>>,
    key_refresh: Option<KeyRefresh>,
    default_scopes: Scope,
    dpop: DpopConfig,
    allowed_origins: Vec<String>,
    replay: Mutex<MemoryReplayCache>,
    /// `scheme://authority` of the resource URI: the `htu` base (RFC 9449 section 4.3).
    htu_base: String,
    revocation: Option<Arc<dyn RevocationCheck>>,
}

impl core::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.resource.as_str())
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// The default number of DPoP proofs remembered for replay detection.
    pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
    /// The default number of those one token holder (`client_id` and `sub`)
    /// may take: about 16 proofs a second sustained over the 60-second
    /// window, so that filling the cache takes 100 holders flooding at once.
    pub const DEFAULT_REPLAY_SHARE: usize = 1_000;

    /// A resource server for `resource` validating tokens with `validator`
    /// (built over the authorization server's JWKS, with this resource as the
    /// audience). Defaults: metadata at the RFC 9728 section 3.1 path-inserted
    /// URL, no scope needed, `DpopConfig::default()`, no origin allowed (any
    /// request with an `Origin` header is refused by [`Self::origin_layer`]).
    pub fn new(resource: ResourceUri, validator: AccessTokenValidator) -> Self {
        let url = url::Url::parse(resource.as_str()).ok();
        let htu_base = url
            .as_ref()
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        let path = url
            .as_ref()
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Self {
            resource_metadata_url: format!("{htu_base}/.well-known/oauth-protected-resource{path}"),
            resource,
            validator: RwLock::new(Arc::new(validator)),
            key_refresh: None,
            default_scopes: Scope::empty(),
            dpop: DpopConfig::default(),
            allowed_origins: Vec::new(),
            replay: Mutex::new(
                MemoryReplayCache::new(Self::DEFAULT_REPLAY_CAPACITY)
                    .with_share(Self::DEFAULT_REPLAY_SHARE),
            ),
            htu_base,
            revocation: None,
        }
    }

    /// With the scopes every protected route needs unless it says otherwise.
    pub fn with_default_scopes(mut self, scopes: Scope) -> Self {
        self.default_scopes = scopes;
        self
    }

    /// With the `resource_metadata` URL sent in challenges (RFC 9728 section 5.1).
    pub fn with_resource_metadata_url(mut self, url: String) -> Self {
        self.resource_metadata_url = url;
        self
    }

    /// With a DPoP policy (RFC 9449) and a replay cache of `replay_capacity`
    /// proofs, of which one token holder takes at most the share set before
    /// (see [`Self::with_replay_share`]; by default [`Self::DEFAULT_REPLAY_SHARE`]).
    pub fn with_dpop(mut self, dpop: DpopConfig, replay_capacity: usize) -> Self {
        self.dpop = dpop;
        let share = self.replay_cache().share();
        self.replay = Mutex::new(MemoryReplayCache::new(replay_capacity).with_share(share));
        self
    }

    /// With at most `share` live entries of the DPoP replay cache per token
    /// holder (the token's `client_id` and `sub`): a holder past its share
    /// gets `503 temporarily_unavailable` while others go on (RFC 9449
    /// section 11.1 wants the cache bounded; this keeps one holder from
    /// using it all up).
    pub fn with_replay_share(mut self, share: usize) -> Self {
        let cache = std::mem::replace(self.replay_cache(), MemoryReplayCache::new(0));
        *self.replay_cache() = cache.with_share(share);
        self
    }

    /// With `check` asked, after a token passed every other check, whether it
    /// was revoked (one look-up per request): a revoked or unknown token gets
    /// `401 invalid_token` (RFC 6750 section 3.1), a failed check `503
    /// temporarily_unavailable` (fail closed). For a resource server beside
    /// the authorization server: `latchkey_engine::StoreRevocationCheck`
    /// over the engine's store.
    pub fn with_revocation_check(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(check);
        self
    }

    fn replay_cache(&mut self) -> &mut MemoryReplayCache {
        self.replay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// With the origins (`scheme://host[:port]`, compared exactly) allowed in an
    /// `Origin` header (MCP R15).
    pub fn with_allowed_origins(mut self, origins: Vec<String>) -> Self {
        self.allowed_origins = origins;
        self
    }

    /// With `source` asked for the issuer's keys again when a token names a
    /// `kid` the validator does not know (the authorization server rotated its
    /// signing key, RFC 7517 section 4.5), at most once per `min_interval`;
    /// tokens naming unknown keys in between are refused as before. The
    /// request that caused the fetch is checked again with the new keys; a
    /// failed fetch is logged and the request refused (`401 invalid_token`).
    pub fn with_key_refresh(mut self, source: Arc<dyn KeySource>, min_interval: Duration) -> Self {
        self.key_refresh = Some(KeyRefresh::new(source, min_interval));
        self
    }

    /// Verifies tokens with `jwks` from now on, every other validator setting
    /// kept (for keys the caller fetched itself, e.g. on a schedule).
    pub fn replace_keys(&self, jwks: Jwks) {
        let mut validator = self
            .validator
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let updated = (**validator).clone().with_jwks(jwks);
        *validator = Arc::new(updated);
    }

    /// The JWK Set tokens are verified with now.
    pub fn keys(&self) -> Jwks {
        self.validator().jwks().clone()
    }

    /// Asks the key source (see [`Self::with_key_refresh`]) for the issuer's
    /// keys and uses them, unless there is no source or the last attempt was
    /// less than its `min_interval` before `now`. Whether the keys were replaced.
    pub async fn refresh_keys(&self, now: UnixTime) -> bool {
        let Some(refresh) = &self.key_refresh else {
            return false;
        };
        match refresh.fetch_if_due(now, self.resource.as_str()).await {
            Some(jwks) => {
                self.replace_keys(jwks);
                true
            }
            None => false,
        }
    }

    /// The canonical resource URI.
    pub fn resource(&self) -> &ResourceUri {
        &self.resource
    }

    /// The `resource_metadata` URL.
    pub fn resource_metadata_url(&self) -> &str {
        &self.resource_metadata_url
    }

    /// A layer requiring a valid access token with the default scopes.
    pub fn require_access_token(self: &Arc<Self>) -> RequireAccessTokenLayer {
        RequireAccessTokenLayer {
            server: Arc::clone(self),
            scopes: self.default_scopes.clone(),
        }
    }

    /// A layer answering `403` to a request whose `Origin` header is present
    /// and not allowed (MCP R15, DNS rebinding protection).
    pub fn origin_layer(self: &Arc<Self>) -> OriginLayer {
        OriginLayer {
            allowed: Arc::new(self.allowed_origins.clone()),
        }
    }

    /// Checks a request head: the token, its DPoP proof and `scopes` (all
    /// needed). The revocation check, if any, is not run here: the layer runs
    /// it after this (see [`Self::check_revocation`]).
    pub fn check(
        &self,
        parts: &Parts,
        scopes: &Scope,
        now: UnixTime,
    ) -> Result<AccessToken, AdapterError> {
        // OAuth 2.1 section 5.1.2 drops RFC 6750 section 2.3: a token in the query is refused.
        let query = original_uri(parts).query().unwrap_or("");
        if url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token") {
            return Err(AdapterError::TokenInQuery);
        }
        let header = authorization(&parts.headers)?;
        let (scheme, token) = header
            .as_deref()
            .and_then(parse_authorization)
            .ok_or(AdapterError::MissingToken)?;
        let validated = self
            .validator()
            .validate(token, now)
            .map_err(AdapterError::InvalidToken)?;
        match (scheme, validated.dpop_jkt()) {
            (Scheme::Bearer, Some(_)) => return Err(AdapterError::BoundTokenAsBearer),
            (Scheme::Bearer, None) => {}
            (Scheme::Dpop, None) => return Err(AdapterError::UnboundTokenAsDpop),
            (Scheme::Dpop, Some(jkt)) => {
                let claims = validated.claims();
                let holder =
                    ReplayPartition::new(&[claims.client_id.as_str(), claims.sub.as_str()]);
                let proof = self.check_proof(parts, token, holder, now)?;
                check_key_binding(&proof, jkt).map_err(AdapterError::Dpop)?;
            }
        }
        let claims = validated.into_claims();
        if !scopes.is_subset(&claims.scope) {
            return Err(AdapterError::InsufficientScope);
        }
        Ok(AccessToken(Arc::new(claims)))
    }

    /// Asks the revocation check (see [`Self::with_revocation_check`]) about
    /// a token [`Self::check`] accepted; without one, every token passes.
    pub async fn check_revocation(&self, token: &AccessToken) -> Result<(), AdapterError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let claims = token.claims();
        check_revocation(revocation.as_ref(), claims.jti.as_str(), claims.exp)
            .await
            .map_err(AdapterError::TokenStatus)
    }

    /// The response to a refusal of [`Self::check`]: the status of
    /// [`AdapterError::http_status`] with `Bearer` and `DPoP` challenges
    /// carrying `resource_metadata` and the route's `scopes` (MCP R3, R4, R11);
    /// the `error` goes on the challenge of the scheme at fault (none for a
    /// missing token, RFC 6750 section 3.1), plus `DPoP-Nonce` when the proof
    /// needs a fresh nonce (RFC 9449 section 9).
    /// A refusal that is not about the credentials (a `503` when the replay
    /// cache or the token status is unavailable) is a plain error without
    /// challenges.
    pub fn refusal(&self, error: &AdapterError, scopes: &Scope) -> Response {
        let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
        let code = ErrorCode::from(error);
        if !matches!(status.as_u16(), 400 | 401 | 403) {
            let mut response = EndpointResponse::error(code, &error.to_string());
            response.status = status.as_u16();
            return into_response(response);
        }
        let (code, scheme, nonce) = match error {
            AdapterError::MissingToken => (None, Scheme::Bearer, None),
            // The error goes on the challenge of the scheme the client used.
            AdapterError::BoundTokenAsBearer => (Some(code), Scheme::Bearer, None),
            AdapterError::UnboundTokenAsDpop => (Some(code), Scheme::Dpop, None),
            AdapterError::Dpop(dpop) => (
                Some(code),
                Scheme::Dpop,
                dpop.fresh_nonce().map(|n| n.as_str().to_owned()),
            ),
            _ => (Some(code), Scheme::Bearer, None),
        };
        self.challenge(status, code, scopes, scheme, nonce, &error.to_string())
    }

    fn validator(&self) -> Arc<AccessTokenValidator> {
        Arc::clone(
            &self
                .validator
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Whether `error` could go away with the issuer's current keys: the
    /// token names an unknown `kid` and a key source is configured.
    fn may_refresh_for(&self, error: &AdapterError) -> bool {
        self.key_refresh.is_some()
            && matches!(error, AdapterError::InvalidToken(TokenError::UnknownKey))
    }

    fn check_proof(
        &self,
        parts: &Parts,
        token: &str,
        holder: ReplayPartition,
        now: UnixTime,
    ) -> Result<latchkey_dpop::ValidatedProof, AdapterError> {
        let htu = format!("{}{}", self.htu_base, original_uri(parts).path());
        let htu = Htu::parse(&htu).map_err(AdapterError::Dpop)?;
        let expected = ProofExpectations::new(parts.method.as_str(), &htu).with_access_token(token);
        let proofs = dpop_values(&parts.headers);
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        validate_proof(
            &proofs,
            &expected,
            now,
            &mut replay.partition(holder),
            &self.dpop,
        )
        .map_err(AdapterError::Dpop)
    }

    /// A `WWW-Authenticate` answer: a Bearer and a DPoP challenge, both with
    /// `resource_metadata` and `scope` (RFC 6750 section 3, RFC 9728 section
    /// 5.1, RFC 9449 section 7.1); `error` goes on the challenge of `scheme`.
    fn challenge(
        &self,
        status: StatusCode,
        error: Option<ErrorCode>,
        scopes: &Scope,
        scheme: Scheme,
        nonce: Option<String>,
        description: &str,
    ) -> Response {
        let algs = self.dpop.algs_parameter();
        let algs: Vec<&str> = algs.split(' ').filter(|a| !a.is_empty()).collect();
        let mut bearer = Challenge::bearer().resource_metadata(&self.resource_metadata_url);
        let mut dpop = Challenge::dpop()
            .resource_metadata(&self.resource_metadata_url)
            .algs(&algs);
        if !scopes.is_empty() {
            bearer = bearer.scope(scopes);
            dpop = dpop.scope(scopes);
        }
        if let Some(code) = error {
            match scheme {
                Scheme::Bearer => bearer = bearer.error(code),
                Scheme::Dpop => dpop = dpop.error(code),
            }
        }
        let (Ok(bearer), Ok(dpop)) = (bearer.build(), dpop.build()) else {
            return server_error();
        };
        // The RFC 6749 section 5.2 error body when there is an error code; none
        // for a request without credentials. Never cached either way.
        let mut response = match error {
            Some(code) => EndpointResponse::error(code, description),
            None => EndpointResponse::empty_ok().no_store(),
        };
        response.status = status.as_u16();
        for challenge in [bearer, dpop] {
            response = response.with_header("WWW-Authenticate", challenge.to_header_value());
        }
        if let Some(nonce) = nonce {
            response = response.with_header("DPoP-Nonce", nonce);
        }
        into_response(response)
    }
}

/// The URI the client sent: under `Router::nest` the request's own URI has
/// the prefix stripped, `OriginalUri` keeps it (needed for the DPoP `htu`).
fn original_uri(parts: &Parts) -> &axum::http::Uri {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// `Bearer <token>` or `DPoP <token>` (schemes case-insensitive, RFC 9110
/// section 11.1); anything else is no usable credential.
pub(crate) fn parse_authorization(value: &str) -> Option<(Scheme, &str)> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    if token.is_empty() || token.contains(' ') {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Some((Scheme::Bearer, token))
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Some((Scheme::Dpop, token))
    } else {
        None
    }
}

/// The validated access token of the request, put in its extensions by
/// [`RequireAccessToken`]; extract it in handlers behind that layer.
#[derive(Clone, Debug)]
pub struct AccessToken(Arc<AccessTokenClaims>);

impl AccessToken {
    /// The token's claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = Response;

    /// The token [`RequireAccessToken`] validated; without that layer, a
    /// generic `500` (a mounting mistake, never a reason to serve the request).
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AccessToken>()
            .cloned()
            .ok_or_else(server_error)
    }
}

/// The layer of [`ResourceServer::require_access_token`].
#[derive(Clone, Debug)]
pub struct RequireAccessTokenLayer {
    server: Arc<ResourceServer>,
    scopes: Scope,
}

impl RequireAccessTokenLayer {
    /// The same layer requiring `scopes` (all of them) instead of the defaults.
    pub fn require_scopes(mut self, scopes: Scope) -> Self {
        self.scopes = scopes;
        self
    }
}

impl<I> tower::Layer<I> for RequireAccessTokenLayer {
    type Service = RequireAccessToken<I>;

    fn layer(&self, inner: I) -> Self::Service {
        RequireAccessToken {
            inner,
            server: Arc::clone(&self.server),
            scopes: Arc::new(self.scopes.clone()),
        }
    }
}

/// The service of [`RequireAccessTokenLayer`]: validates the request's token
/// (MCP R5-R9, R11, R13), asks the revocation check if one is configured,
/// then calls the inner service with an
/// [`AccessToken`] in the request extensions.
#[derive(Clone, Debug)]
pub struct RequireAccessToken<I> {
    inner: I,
    server: Arc<ResourceServer>,
    scopes: Arc<Scope>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<I> tower::Service<Request> for RequireAccessToken<I>
where
    I: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
{
    type Response = Response;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        mark_sensitive(&mut parts.headers);
        let now = now();
        let checked = self.server.check(&parts, &self.scopes, now);
        if let Err(error) = &checked
            && !self.server.may_refresh_for(error)
        {
            let response = self.server.refusal(error, &self.scopes);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let server = Arc::clone(&self.server);
        let scopes = Arc::clone(&self.scopes);
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let checked = match checked {
                // The token names a key this server does not know: fetch the
                // issuer's keys again (rate-limited) and check once more.
                Err(error) => {
                    if server.refresh_keys(now).await {
                        server.check(&parts, &scopes, now)
                    } else {
                        Err(error)
                    }
                }
                ok => ok,
            };
            let admitted = match checked {
                Ok(token) => server.check_revocation(&token).await.map(|()| token),
                Err(error) => Err(error),
            };
            match admitted {
                Ok(token) => {
                    parts.extensions.insert(token);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(error) => Ok(server.refusal(&error, &scopes)),
            }
        })
    }
}

/// The layer of [`ResourceServer::origin_layer`].
#[derive(Clone, Debug)]
pub struct OriginLayer {
    allowed: Arc<Vec<String>>,
}

impl OriginLayer {
    /// A layer allowing exactly `origins`.
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            allowed: Arc::new(origins),
        }
    }
}

impl<I> tower::Layer<I> for OriginLayer {
    type Service = ValidateOrigin<I>;

    fn layer(&self, inner: I) -> Self::Service {
        ValidateOrigin {
            inner,
            allowed: Arc::clone(&self.allowed),
        }
    }
}

/// The service of [`OriginLayer`] (MCP R15: "If the `Origin` header is present
/// and invalid, servers MUST respond with HTTP 403 Forbidden").
#[derive(Clone, Debug)]
pub struct ValidateOrigin<I> {
    inner: I,
    allowed: Arc<Vec<String>>,
}

impl<I> tower::Service<Request> for ValidateOrigin<I>
where
    I: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    I::Future: Send + 'static,
    I::Error: Send + 'static,
{
    type Response = Response;
    type Error = I::Error;
    type Future = BoxFuture<Result<Response, I::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !origin_allowed(&request, &self.allowed) {
            let mut response = EndpointResponse::empty_ok().no_store();
            response.status = AdapterError::ForbiddenOrigin.http_status();
            return Box::pin(std::future::ready(Ok(into_response(response))));
        }
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(inner.call(request))
    }
}

/// No `Origin` header, or exactly one whose value is in `allowed`.
fn origin_allowed(request: &Request, allowed: &[String]) -> bool {
    let mut values = request.headers().get_all(ORIGIN).iter();
    match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => allowed.iter().any(|a| a.as_bytes() == value.as_bytes()),
        (Some(_), Some(_)) => false,
    }
}

/// A router serving `document` (RFC 9728 section 3) at both
/// `/.well-known/oauth-protected-resource{resource path}` and
/// `/.well-known/oauth-protected-resource` (MCP R3': clients probe the
/// path-inserted URL first, then the root), with `resource` as configured.
pub fn protected_resource_metadata_router(document: &ProtectedResourceMetadata) -> Router {
    let body = serde_json::to_string(document).ok();
    let path = url::Url::parse(&document.resource)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let root = "/.well-known/oauth-protected-resource".to_owned();
    let mut paths = vec![root.clone()];
    if !path.is_empty() {
        paths.push(format!("{root}{path}"));
    }
    let mut router = Router::new();
    for path in paths {
        let body = body.clone();
        router = router.route(
            &path,
            get(move || {
                std::future::ready(match &body {
                    Some(json) => metadata_response(json.clone()),
                    None => server_error(),
                })
            }),
        );
    }
    router
}

fn metadata_response(json: String) -> Response {
    let mut response = Response::new(Body::from(json));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(latchkey_engine::discovery::DISCOVERY_CACHE_CONTROL),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6750_section_2_1_and_rfc_9449_section_7_1_authorization_schemes() {
        assert_eq!(
            parse_authorization("Bearer abc"),
            Some((Scheme::Bearer, "abc"))
        );
        assert_eq!(
            parse_authorization("bearer  abc"),
            Some((Scheme::Bearer, "abc"))
        );
        assert_eq!(parse_authorization("DPoP abc"), Some((Scheme::Dpop, "abc")));
        assert_eq!(parse_authorization("dpop abc"), Some((Scheme::Dpop, "abc")));
        assert_eq!(parse_authorization("Basic abc"), None);
        assert_eq!(parse_authorization("Bearer"), None);
        assert_eq!(parse_authorization("Bearer "), None);
        assert_eq!(parse_authorization("Bearer a b"), None);
    }
}
