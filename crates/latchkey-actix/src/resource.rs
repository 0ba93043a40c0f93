//! Resource-server protection for actix-web: the [`RequireAccessToken`]
//! middleware, the [`AccessToken`] extractor, and the protected resource
//! metadata routes (RFC 9728, MCP R1-R16).
//!
//! Revocation: a JWT access token is checked locally, so by itself a revoked
//! token keeps working until it expires. A resource server beside the
//! authorization server asks the engine's store after the other checks
//! ([`ResourceServer::from_engine`] does so; otherwise
//! [`ResourceServer::with_revocation_check`]) and refuses revoked tokens at
//! once. One that runs apart either accepts the token lifetime (5 minutes by
//! default) as the bound on a revoked token's use, or will validate tokens by
//! introspection (RFC 7662), which this middleware does not do yet.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{self, HeaderName};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use latchkey_dpop::{
    DpopConfig, DpopError, Htu, MemoryReplayCache, ProofExpectations, ReplayPartition,
    check_key_binding, validate_proof,
};
use latchkey_engine::{
    EndpointResponse, Engine, MetadataFetcher, RevocationCheck, RevocationRefusal,
    StoreRevocationCheck, check_revocation,
};
use latchkey_jose::Jwks;
use latchkey_metadata::{Challenge, ChallengeBuilder, ProtectedResourceMetadata};
use latchkey_store::Store;
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, TokenError};
use latchkey_types::{ErrorCode, Scope, UnixTime};
use latchkey_uri::ResourceUri;

use crate::error::ActixError;
use crate::http::{adapter_error, into_http_response, now, single_authorization};
use latchkey_remote_keys::{KeyRefresh, KeySource};

/// The well-known suffix of protected resource metadata (RFC 9728 section 3).
const WELL_KNOWN_PRM: &str = "/.well-known/oauth-protected-resource";

/// One protected resource: how its access tokens are validated and how its
/// refusals are worded, and optionally where to fetch the issuer's keys again
/// after a rotation and whom to ask whether a token was revoked. Build it
/// once, share it in an [`Arc`] between the [`RequireAccessToken`]
/// middlewares of every route and [`configure_protected_resource_metadata`].
pub struct ResourceServer {
    resource: ResourceUri,
    metadata_url: String,
    metadata_json: String,
    /// Replaced whole when the keys are fetched again.
    validator: RwLock<Arc<AccessTokenValidator>>,
    key_refresh: Option<KeyRefresh>,
    required_scope: Scope,
    dpop: DpopConfig,
    replay: Mutex<MemoryReplayCache>,
    allowed_origins: Vec<String>,
    revocation: Option<Arc<dyn RevocationCheck>>,
}

impl core::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.resource.as_str())
            .field("revocation_check", &self.revocation.is_some())
            .finish_non_exhaustive()
    }
}

impl ResourceServer {
    /// How many DPoP proofs the replay cache holds by default.
    pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;
    /// How many of those one token holder (`client_id` and `sub`) may take by
    /// default: about 16 proofs a second sustained over the 60-second window,
    /// so that filling the cache takes 100 holders flooding at once.
    pub const DEFAULT_REPLAY_SHARE: usize = 1_000;

    /// A resource server for `resource`, answering with `metadata` (whose
    /// `resource` must be `resource` byte for byte, RFC 9728 section 3.3) and
    /// validating tokens with `validator`. No scope is required, no `Origin`
    /// is allowed and DPoP follows `DpopConfig::default()` until changed.
    pub fn new(
        resource: ResourceUri,
        metadata: &ProtectedResourceMetadata,
        validator: AccessTokenValidator,
    ) -> Result<Self, ActixError> {
        if metadata.resource != resource.as_str() {
            return Err(ActixError::MetadataResourceMismatch);
        }
        let metadata_json =
            serde_json::to_string(metadata).map_err(|_| ActixError::MetadataSerialization)?;
        // RFC 9728 section 3.1: the well-known suffix goes between the host
        // and the path.
        let metadata_url = format!("{}{WELL_KNOWN_PRM}{}", resource.origin(), resource.path());
        Ok(Self {
            resource,
            metadata_url,
            metadata_json,
            validator: RwLock::new(Arc::new(validator)),
            key_refresh: None,
            required_scope: Scope::empty(),
            dpop: DpopConfig::default(),
            replay: Mutex::new(
                MemoryReplayCache::new(Self::DEFAULT_REPLAY_CAPACITY)
                    .with_share(Self::DEFAULT_REPLAY_SHARE),
            ),
            allowed_origins: Vec::new(),
            revocation: None,
        })
    }

    /// The resource server for `resource` as `engine` configures it: tokens
    /// validated against the engine's current JWK Set, issuer and audience
    /// matching; the engine's protected resource metadata; the resource's
    /// `default_scope` required; the engine's DPoP algorithms and windows
    /// (without nonces); revocation checked in the engine's store (a
    /// [`StoreRevocationCheck`], one read per request). Rebuild it after a
    /// signing key rotation.
    pub fn from_engine<S: Store + 'static, F: MetadataFetcher>(
        engine: &Engine<S, F>,
        resource: &ResourceUri,
    ) -> Result<Self, ActixError> {
        let config = engine.config();
        let metadata = engine
            .protected_resource_metadata_document(resource)
            .ok_or(ActixError::UnknownResource)?;
        let required_scope = config
            .resources
            .iter()
            .find(|r| r.uri == *resource)
            .map(|r| r.default_scope.clone())
            .ok_or(ActixError::UnknownResource)?;
        let validator = AccessTokenValidator::new(
            engine.keys().jwks(),
            config.issuer.clone(),
            resource.clone(),
            config.audience_match,
        );
        let mut dpop = config.dpop.clone();
        dpop.nonces = None;
        Ok(Self::new(resource.clone(), &metadata, validator)?
            .with_required_scope(required_scope)
            .with_dpop_config(dpop)
            .with_revocation_check(Arc::new(StoreRevocationCheck::new(Arc::clone(
                engine.store(),
            )))))
    }

    /// This resource server requiring `scope` on routes that do not name their own.
    pub fn with_required_scope(mut self, scope: Scope) -> Self {
        self.required_scope = scope;
        self
    }

    /// This resource server accepting requests whose `Origin` is one of
    /// `origins` (compared ASCII case-insensitively, RFC 6454 section 6.1);
    /// requests without `Origin` are not affected (MCP R15).
    pub fn with_allowed_origins<I: IntoIterator<Item = String>>(mut self, origins: I) -> Self {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    /// This resource server checking DPoP proofs with `config` (its `nonces` are ignored).
    pub fn with_dpop_config(mut self, mut config: DpopConfig) -> Self {
        config.nonces = None;
        self.dpop = config;
        self
    }

    /// This resource server with a replay cache of `capacity` proofs (RFC
    /// 9449 section 11.1), of which one token holder takes at most the share
    /// set before (see [`Self::with_replay_share`]).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        let share = self.replay_cache().share();
        self.replay = Mutex::new(MemoryReplayCache::new(capacity).with_share(share));
        self
    }

    /// This resource server with at most `share` live entries of the DPoP
    /// replay cache per token holder (the token's `client_id` and `sub`): a
    /// holder past its share gets `503 temporarily_unavailable` while others
    /// go on.
    pub fn with_replay_share(mut self, share: usize) -> Self {
        let cache = std::mem::replace(self.replay_cache(), MemoryReplayCache::new(0));
        *self.replay_cache() = cache.with_share(share);
        self
    }

    /// This resource server asking `check`, after a token passed every other
    /// check, whether it was revoked (one look-up per request): a revoked or
    /// unknown token gets `401 invalid_token` (RFC 6750 section 3.1), a failed
    /// check `503 temporarily_unavailable` (fail closed).
    pub fn with_revocation_check(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(check);
        self
    }

    fn replay_cache(&mut self) -> &mut MemoryReplayCache {
        self.replay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// This resource server asking `source` for the issuer's keys again when
    /// a token names a `kid` the validator does not know (the authorization
    /// server rotated its signing key, RFC 7517 section 4.5), at most once per
    /// `min_interval`; tokens naming unknown keys in between are refused as
    /// before. The request that caused the fetch is checked again with the
    /// new keys; a failed fetch is logged and the request refused (`401
    /// invalid_token`).
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

    /// The protected resource.
    pub fn resource(&self) -> &ResourceUri {
        &self.resource
    }

    /// The protected resource metadata URL sent as `resource_metadata` (RFC 9728 section 5.1).
    pub fn resource_metadata_url(&self) -> &str {
        &self.metadata_url
    }

    /// The scope required where a route names none.
    pub fn required_scope(&self) -> &Scope {
        &self.required_scope
    }

    /// Checks a request to a route needing `required` at time `now`, in this
    /// order: `Origin` (MCP R15), no `access_token` in the query (OAuth 2.1
    /// section 5.1.2), exactly one `Authorization` header with the `Bearer` or
    /// `DPoP` scheme (RFC 6750 section 2.1, RFC 9449 section 7.1), the token
    /// (RFC 9068 section 4, MCP R5-R9, R13), its binding: a `cnf.jkt` token
    /// only under `DPoP` with a valid proof for this method and URL, `ath`
    /// included, from the bound key (RFC 9449 sections 4.3, 6.1, 7.1), then the
    /// scope (RFC 6750 section 3.1, MCP R11). The refusal is the HTTP answer.
    /// The revocation check, if any, is not run here: the middleware runs it
    /// after this (see [`Self::check_revocation`]).
    pub fn check(
        &self,
        request: &HttpRequest,
        required: &Scope,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, Refusal> {
        self.check_detailed(request, required, now)
            .map(|(claims, _)| claims)
            .map_err(Failure::into_refusal)
    }

    /// [`Self::check`], telling a token with an unknown `kid` apart, and
    /// with the scheme the token came under.
    fn check_detailed(
        &self,
        request: &HttpRequest,
        required: &Scope,
        now: UnixTime,
    ) -> Result<(AccessTokenClaims, Presented), Failure> {
        self.check_origin(request)?;
        if query_has_access_token(request.query_string()) {
            return Err(Refusal::challenge(
                Presented::None,
                ErrorCode::InvalidRequest,
                "access tokens are not accepted in the query string",
                required,
            )
            .into());
        }
        let authorization = single_authorization(request).map_err(|error| {
            Refusal::challenge(
                Presented::None,
                ErrorCode::from(&error),
                "the authorization header is malformed or repeated",
                required,
            )
        })?;
        let Some(authorization) = authorization else {
            return Err(Refusal::missing(required).into());
        };
        let (presented, token) = match parse_credentials(&authorization) {
            Credentials::Missing => return Err(Refusal::missing(required).into()),
            Credentials::Malformed(presented) => {
                return Err(Refusal::challenge(
                    presented,
                    ErrorCode::InvalidRequest,
                    "the authorization header is malformed",
                    required,
                )
                .into());
            }
            Credentials::Token(presented, token) => (presented, token),
        };
        let validated = self.validator().validate(token, now).map_err(|error| {
            let refusal = token_refusal(presented, &error, required);
            match error {
                TokenError::UnknownKey => Failure::UnknownKey(refusal),
                _ => Failure::Other(refusal),
            }
        })?;
        let claims = validated.into_claims();
        match (presented, &claims.cnf_jkt) {
            (Presented::Dpop, Some(jkt)) => {
                let holder =
                    ReplayPartition::new(&[claims.client_id.as_str(), claims.sub.as_str()]);
                self.check_proof(request, token, (jkt, holder), now, required)?;
            }
            (Presented::Dpop, None) => {
                return Err(Refusal::challenge(
                    presented,
                    ErrorCode::InvalidToken,
                    "the access token is not bound to a dpop key",
                    required,
                )
                .into());
            }
            (Presented::Bearer | Presented::None, Some(_)) => {
                return Err(Refusal::challenge(
                    presented,
                    ErrorCode::InvalidToken,
                    "the access token is bound to a dpop key",
                    required,
                )
                .into());
            }
            (Presented::Bearer | Presented::None, None) => {}
        }
        if !required.is_subset(&claims.scope) {
            return Err(Refusal::challenge(
                presented,
                ErrorCode::InsufficientScope,
                "the access token lacks a required scope",
                required,
            )
            .into());
        }
        Ok((claims, presented))
    }

    /// Asks the revocation check (see [`Self::with_revocation_check`]) about
    /// the token of `claims`, which [`Self::check`] accepted when presented
    /// as `presented`; without a check, every token passes.
    pub async fn check_revocation(
        &self,
        claims: &AccessTokenClaims,
        presented: Presented,
        required: &Scope,
    ) -> Result<(), Refusal> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        check_revocation(revocation.as_ref(), claims.jti.as_str(), claims.exp)
            .await
            .map_err(|refusal| revocation_refusal(refusal, presented, required))
    }

    fn validator(&self) -> Arc<AccessTokenValidator> {
        Arc::clone(
            &self
                .validator
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn check_origin(&self, request: &HttpRequest) -> Result<(), Refusal> {
        for origin in request.headers().get_all(header::ORIGIN) {
            let allowed = origin.to_str().is_ok_and(|origin| {
                self.allowed_origins
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(origin))
            });
            if !allowed {
                return Err(Refusal::Forbidden);
            }
        }
        Ok(())
    }

    /// RFC 9449 sections 4.3 and 7.1: the proof for this request (`htm` the
    /// method, `htu` the configured resource origin plus the request path,
    /// `ath` the token's hash), then its key against `cnf.jkt`.
    fn check_proof(
        &self,
        request: &HttpRequest,
        token: &str,
        (bound, holder): (&latchkey_jose::JwkThumbprint, ReplayPartition),
        now: UnixTime,
        required: &Scope,
    ) -> Result<(), Refusal> {
        let refuse = |error: &DpopError| dpop_refusal(error, required);
        let htu = Htu::parse(&format!("{}{}", self.resource.origin(), request.path()))
            .map_err(|e| refuse(&e))?;
        let proofs: Vec<&[u8]> = request
            .headers()
            .get_all(HeaderName::from_static("dpop"))
            .map(|value| value.as_bytes())
            .collect();
        let expected =
            ProofExpectations::new(request.method().as_str(), &htu).with_access_token(token);
        let proof = {
            let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
            validate_proof(
                &proofs,
                &expected,
                now,
                &mut replay.partition(holder),
                &self.dpop,
            )
        }
        .map_err(|e| refuse(&e))?;
        check_key_binding(&proof, bound).map_err(|e| refuse(&e))
    }

    fn challenges(
        &self,
        refusal_scheme: Presented,
        error: Option<(ErrorCode, &str)>,
        scope: &Scope,
    ) -> Vec<Challenge> {
        let with_error = |builder: ChallengeBuilder, on: bool| match error {
            Some((code, description)) if on => builder.error(code).error_description(description),
            _ => builder,
        };
        let mut bearer = Challenge::bearer().resource_metadata(&self.metadata_url);
        let mut dpop = Challenge::dpop();
        let algs: Vec<&str> = self.dpop.algorithms.iter().map(|a| a.as_str()).collect();
        if !scope.is_empty() {
            bearer = bearer.scope(scope);
            dpop = dpop.scope(scope);
        }
        dpop = dpop.resource_metadata(&self.metadata_url).algs(&algs);
        let on_dpop = refusal_scheme == Presented::Dpop;
        [with_error(bearer, !on_dpop), with_error(dpop, on_dpop)]
            .into_iter()
            .filter_map(|builder| builder.build().ok())
            .collect()
    }
}

/// Why [`ResourceServer::check_detailed`] refused: a token naming a key the
/// validator does not know (which fetching the keys again may cure), or anything else.
enum Failure {
    UnknownKey(Refusal),
    Other(Refusal),
}

impl Failure {
    fn into_refusal(self) -> Refusal {
        match self {
            Self::UnknownKey(refusal) | Self::Other(refusal) => refusal,
        }
    }
}

impl From<Refusal> for Failure {
    fn from(refusal: Refusal) -> Self {
        Self::Other(refusal)
    }
}

/// The routes serving the protected resource metadata at both
/// `/.well-known/oauth-protected-resource{resource path}` (RFC 9728 section
/// 3.1) and `/.well-known/oauth-protected-resource` (MCP 2025-11-25 R3'), for
/// [`actix_web::App::configure`].
pub fn configure_protected_resource_metadata(
    resource_server: Arc<ResourceServer>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let mut paths = vec![format!(
            "{WELL_KNOWN_PRM}{}",
            resource_server.resource.path()
        )];
        if !resource_server.resource.path().is_empty() {
            paths.push(WELL_KNOWN_PRM.to_owned());
        }
        for path in paths {
            let rs = Arc::clone(&resource_server);
            cfg.route(
                &path,
                web::get().to(move || {
                    let response = EndpointResponse {
                        status: 200,
                        headers: vec![
                            ("Content-Type".to_owned(), "application/json".to_owned()),
                            ("Cache-Control".to_owned(), "public, max-age=300".to_owned()),
                        ],
                        body: latchkey_engine::ResponseBody::Json(rs.metadata_json.clone()),
                    };
                    async move { into_http_response(response) }
                }),
            );
        }
    }
}

/// Middleware requiring a valid access token (see [`ResourceServer::check`]);
/// the validated claims go into the request extensions for [`AccessToken`].
#[derive(Clone, Debug)]
pub struct RequireAccessToken {
    resource_server: Arc<ResourceServer>,
    scope: Option<Scope>,
}

impl RequireAccessToken {
    /// Protection by `resource_server`, requiring its default scope.
    pub fn new(resource_server: Arc<ResourceServer>) -> Self {
        Self {
            resource_server,
            scope: None,
        }
    }

    /// This protection requiring `scope` instead (every scope the route needs:
    /// a 403 names them all, MCP R11).
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireAccessToken
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAccessTokenMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let scope = self
            .scope
            .clone()
            .unwrap_or_else(|| self.resource_server.required_scope.clone());
        ready(Ok(RequireAccessTokenMiddleware {
            service: Rc::new(service),
            resource_server: Arc::clone(&self.resource_server),
            scope,
        }))
    }
}

/// The service [`RequireAccessToken`] wraps a route in.
#[derive(Debug)]
pub struct RequireAccessTokenMiddleware<S> {
    service: Rc<S>,
    resource_server: Arc<ResourceServer>,
    scope: Scope,
}

impl<S, B> Service<ServiceRequest> for RequireAccessTokenMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let now = now();
        let rs = Arc::clone(&self.resource_server);
        let service = Rc::clone(&self.service);
        let scope = self.scope.clone();
        Box::pin(async move {
            let checked = match rs.check_detailed(request.request(), &scope, now) {
                // The token names a key this server does not know: fetch the
                // issuer's keys again (rate-limited) and check once more.
                Err(Failure::UnknownKey(refusal)) if rs.key_refresh.is_some() => {
                    if rs.refresh_keys(now).await {
                        rs.check_detailed(request.request(), &scope, now)
                            .map_err(Failure::into_refusal)
                    } else {
                        Err(refusal)
                    }
                }
                other => other.map_err(Failure::into_refusal),
            };
            let admitted = match checked {
                Ok((claims, presented)) => rs
                    .check_revocation(&claims, presented, &scope)
                    .await
                    .map(|()| claims),
                Err(refusal) => Err(refusal),
            };
            match admitted {
                Ok(claims) => serve(service, request, claims).await,
                Err(refusal) => Ok(refuse(&rs, request, refusal, &scope)),
            }
        })
    }
}

/// Calls the protected route with the validated token in the request extensions.
async fn serve<S, B>(
    service: Rc<S>,
    request: ServiceRequest,
    claims: AccessTokenClaims,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    request.extensions_mut().insert(AccessToken(claims));
    service
        .call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// The refusal's response, logged with the code, status and required scope
/// only: never the token, the proof or the query (MCP R16 asks for elevation events).
fn refuse<B>(
    rs: &ResourceServer,
    request: ServiceRequest,
    refusal: Refusal,
    scope: &Scope,
) -> ServiceResponse<EitherBody<B>> {
    tracing::info!(
        target: "latchkey::actix",
        status = refusal.status(),
        error = refusal.error().map(ErrorCode::as_str),
        required_scope = %scope,
        "access refused"
    );
    let response = refusal.into_response(rs);
    request.into_response(response).map_into_right_body()
}

/// The validated access token of a request protected by
/// [`RequireAccessToken`]; on a route without it, extraction fails with
/// [`ActixError::RouteNotProtected`] (a generic `500`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken(AccessTokenClaims);

impl AccessToken {
    /// The token's claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }

    /// The token's claims, by value.
    pub fn into_claims(self) -> AccessTokenClaims {
        self.0
    }
}

impl FromRequest for AccessToken {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<AccessToken>()
                .cloned()
                .ok_or_else(|| ActixError::RouteNotProtected.into()),
        )
    }
}

impl ResponseError for ActixError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        adapter_error(self).status()
    }

    fn error_response(&self) -> HttpResponse {
        adapter_error(self)
    }
}

/// Why [`ResourceServer::check`] refused a request; becomes the HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `403` without a challenge: the `Origin` is not allowed (MCP R15).
    Forbidden,
    /// An answer with `WWW-Authenticate` challenges (RFC 6750 section 3, RFC 9449 section 7.1).
    Challenge {
        /// The scheme the client used, which carries the error.
        presented: Presented,
        /// The error, or `None` when no credentials were sent (RFC 6750 section 3.1).
        error: Option<ErrorCode>,
        /// A fixed description without request values.
        description: &'static str,
        /// The scope the route needs.
        scope: Scope,
    },
}

/// The authorization scheme a request used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presented {
    /// No credentials, or a scheme this server does not accept.
    None,
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: DPoP`.
    Dpop,
}

impl Refusal {
    /// The HTTP status: `403` for an origin; for a challenge `401` without an
    /// error and for the token and proof errors (RFC 6750 section 3.1, RFC
    /// 9449 section 7.1: `invalid_dpop_proof` and `use_dpop_nonce` are `401` at
    /// a resource server), `403` for `insufficient_scope`, else the code's status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Forbidden => 403,
            Self::Challenge { error: None, .. } => 401,
            Self::Challenge {
                error: Some(code), ..
            } => match code {
                ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => {
                    401
                }
                ErrorCode::InsufficientScope => 403,
                other => other.http_status(),
            },
        }
    }

    /// The error code, if any.
    pub fn error(&self) -> Option<ErrorCode> {
        match self {
            Self::Forbidden => None,
            Self::Challenge { error, .. } => *error,
        }
    }

    fn missing(scope: &Scope) -> Self {
        Self::Challenge {
            presented: Presented::None,
            error: None,
            description: "",
            scope: scope.clone(),
        }
    }

    fn challenge(
        presented: Presented,
        code: ErrorCode,
        description: &'static str,
        scope: &Scope,
    ) -> Self {
        Self::Challenge {
            presented,
            error: Some(code),
            description,
            scope: scope.clone(),
        }
    }

    /// The response: challenges of `resource_server` for `401`, `403
    /// insufficient_scope` and `400`, a JSON error body when there is an error
    /// code, never cached. Handlers that check a further scope themselves
    /// (per MCP tool, say) answer a [`ResourceServer::check`] refusal with it.
    pub fn into_response(self, resource_server: &ResourceServer) -> HttpResponse {
        let status = self.status();
        let Self::Challenge {
            presented,
            error,
            description,
            scope,
        } = self
        else {
            return into_http_response(
                EndpointResponse {
                    status,
                    headers: Vec::new(),
                    body: latchkey_engine::ResponseBody::Empty,
                }
                .no_store(),
            );
        };
        let mut response = match error {
            Some(code) => EndpointResponse::error(code, description),
            None => EndpointResponse {
                status,
                headers: Vec::new(),
                body: latchkey_engine::ResponseBody::Empty,
            }
            .no_store(),
        };
        response.status = status;
        let with_challenges = matches!(status, 400 | 401 | 403);
        if with_challenges {
            for challenge in
                resource_server.challenges(presented, error.map(|code| (code, description)), &scope)
            {
                response = response.with_header("WWW-Authenticate", challenge.to_header_value());
            }
        }
        into_http_response(response)
    }
}

/// What the `Authorization` header holds.
pub(crate) enum Credentials<'a> {
    /// A scheme this server does not accept: as if no credentials were sent.
    Missing,
    /// `Bearer` or `DPoP` without exactly one token.
    Malformed(Presented),
    /// A token under `Bearer` or `DPoP`.
    Token(Presented, &'a str),
}

/// Splits `Authorization: <scheme> <token>` (RFC 9110 section 11.4; schemes
/// are case-insensitive, section 11.1). The token itself is checked by the
/// validator.
pub(crate) fn parse_credentials(value: &str) -> Credentials<'_> {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        Presented::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Presented::Dpop
    } else {
        return Credentials::Missing;
    };
    let token = rest.trim_start_matches(' ').trim_end_matches(' ');
    if token.is_empty() || token.contains([' ', '\t']) {
        return Credentials::Malformed(presented);
    }
    Credentials::Token(presented, token)
}

/// Whether the query string names `access_token` (RFC 6750 section 2.3, which
/// OAuth 2.1 section 5.1.2 drops: such a request is refused, never served).
fn query_has_access_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token")
}

fn token_refusal(presented: Presented, error: &TokenError, scope: &Scope) -> Refusal {
    let code = match ErrorCode::from(error) {
        ErrorCode::ServerError => ErrorCode::InvalidToken,
        code => code,
    };
    Refusal::challenge(presented, code, "the access token is not valid", scope)
}

fn revocation_refusal(refusal: RevocationRefusal, presented: Presented, scope: &Scope) -> Refusal {
    let description = match refusal {
        RevocationRefusal::Revoked => "the access token was revoked",
        RevocationRefusal::Unavailable => "the service is temporarily unavailable",
        _ => "the access token is not valid",
    };
    Refusal::challenge(presented, ErrorCode::from(&refusal), description, scope)
}

fn dpop_refusal(error: &DpopError, scope: &Scope) -> Refusal {
    let code = ErrorCode::from(error);
    let description = match code {
        ErrorCode::InvalidToken => "the dpop key is not the key the token is bound to",
        ErrorCode::TemporarilyUnavailable => "the service is temporarily unavailable",
        _ => "the dpop proof is not valid",
    };
    Refusal::challenge(Presented::Dpop, code, description, scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_9110_section_11_1_schemes_are_case_insensitive() {
        assert!(matches!(
            parse_credentials("bEaReR abc"),
            Credentials::Token(Presented::Bearer, "abc")
        ));
        assert!(matches!(
            parse_credentials("dpop abc"),
            Credentials::Token(Presented::Dpop, "abc")
        ));
        assert!(matches!(
            parse_credentials("Basic abc"),
            Credentials::Missing
        ));
        assert!(matches!(
            parse_credentials("Bearer"),
            Credentials::Malformed(Presented::Bearer)
        ));
        assert!(matches!(
            parse_credentials("Bearer a b"),
            Credentials::Malformed(Presented::Bearer)
        ));
    }

    #[test]
    fn rfc_6750_section_2_3_query_token_is_detected_after_decoding() {
        assert!(query_has_access_token("a=1&access_token=x"));
        assert!(query_has_access_token("access%5Ftoken=x"));
        assert!(!query_has_access_token("access_tokens=x&token=y"));
    }
}
