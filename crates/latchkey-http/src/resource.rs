//! The resource-server guard: one check of a request head, from `Origin` to
//! the revocation check, and the challenge response of a refusal.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, ORIGIN, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri};
use latchkey_dpop::{
    DpopConfig, Htu, MemoryReplayCache, ProofExpectations, ReplayPartition, ValidatedProof,
    check_key_binding, validate_proof,
};
use latchkey_engine::{
    EndpointResponse, Engine, MetadataFetcher, ResponseBody, RevocationCheck, StoreRevocationCheck,
    check_revocation,
};
use latchkey_jose::Jwks;
use latchkey_metadata::{Challenge, ProtectedResourceMetadata};
use latchkey_remote_keys::{KeyRefresh, KeySource};
use latchkey_store::Store;
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, TokenError};
use latchkey_types::{ErrorCode, Scope, ScopeHierarchy, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;

use crate::cache::TokenCache;
use crate::{Clock, HttpError, Introspection, OriginLayer, RequireAccessTokenLayer};

/// The `DPoP` request header (RFC 9449 section 4.1).
pub static DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header (RFC 9449 section 8.1).
pub static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");
/// The well-known suffix of protected resource metadata (RFC 9728 section 3).
const WELL_KNOWN_PRM: &str = "/.well-known/oauth-protected-resource";

/// What the guard reads of a request: its method, the URI the client sent
/// (before any router stripped a prefix: the DPoP `htu` is built from its
/// path) and its headers.
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    /// The request method (the DPoP `htm`).
    pub method: &'a Method,
    /// The request target as the client sent it.
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
}

impl<'a> From<&'a Parts> for RequestHead<'a> {
    fn from(parts: &'a Parts) -> Self {
        Self {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        }
    }
}

/// A protected resource (an MCP server): its canonical URI, where its
/// metadata is, how tokens are validated, the scopes routes need by default,
/// the DPoP policy (nonces included) with a bounded replay cache, the origins
/// browsers may call it from, and optionally where to fetch the issuer's keys
/// again after a rotation and whom to ask whether a token was revoked.
///
/// Build it once and share it in an [`Arc`] between every protected route.
pub struct ResourceServer {
    resource: ResourceUri,
    resource_metadata_url: String,
    /// Replaced whole, its cache with it, when the keys are fetched again.
    verifier: RwLock<Arc<Verifier>>,
    token_cache_capacity: usize,
    introspection: Option<Introspection>,
    key_refresh: Option<KeyRefresh>,
    default_scopes: Scope,
    /// Which granted scopes cover which required ones (MCP 2026-07-28).
    scope_hierarchy: ScopeHierarchy,
    dpop: DpopConfig,
    /// Bounded by its capacity, and per token holder by its share.
    replay: Mutex<MemoryReplayCache>,
    /// Canonical: ASCII-lowercase (RFC 6454 section 4).
    allowed_origins: Vec<String>,
    revocation: Option<Arc<dyn RevocationCheck>>,
}

impl core::fmt::Debug for ResourceServer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResourceServer")
            .field("resource", &self.resource.as_str())
            .field("revocation_check", &self.revocation.is_some())
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("introspection", &self.introspection)
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
    /// The default number of validated JWTs remembered (see [`Self::with_token_cache`]).
    pub const DEFAULT_TOKEN_CACHE_CAPACITY: usize = 10_000;

    /// A resource server for `resource` validating tokens with `validator`
    /// (built over the authorization server's JWKS, with this resource as the
    /// audience). Defaults: metadata at the RFC 9728 section 3.1
    /// path-inserted URL, no scope needed, `DpopConfig::default()`, no origin
    /// allowed (a request with an `Origin` header is refused), no key
    /// refresh, no revocation check, no introspection (JWTs only), a cache of
    /// [`Self::DEFAULT_TOKEN_CACHE_CAPACITY`] validated JWTs.
    pub fn new(resource: ResourceUri, validator: AccessTokenValidator) -> Self {
        Self {
            resource_metadata_url: format!(
                "{}{WELL_KNOWN_PRM}{}",
                resource.origin(),
                resource.path()
            ),
            resource,
            verifier: RwLock::new(Arc::new(Verifier::new(
                validator,
                Self::DEFAULT_TOKEN_CACHE_CAPACITY,
            ))),
            token_cache_capacity: Self::DEFAULT_TOKEN_CACHE_CAPACITY,
            introspection: None,
            key_refresh: None,
            default_scopes: Scope::empty(),
            scope_hierarchy: ScopeHierarchy::empty(),
            dpop: DpopConfig::default(),
            replay: Mutex::new(
                MemoryReplayCache::new(Self::DEFAULT_REPLAY_CAPACITY)
                    .with_share(Self::DEFAULT_REPLAY_SHARE),
            ),
            allowed_origins: Vec::new(),
            revocation: None,
        }
    }

    /// The resource server for `resource` as `engine` configures it: tokens
    /// validated against the engine's current JWK Set, issuer and audience
    /// matching; the resource's `default_scope` by default; the engine's scope
    /// hierarchy ([`Self::with_scope_hierarchy`]); the engine's DPoP
    /// policy, nonces included (RFC 9449 section 9); revocation checked in
    /// the engine's store (a [`StoreRevocationCheck`], one read per request).
    /// Rebuild it after a signing key rotation, or call [`Self::replace_keys`].
    pub fn from_engine<S: Store + 'static, F: MetadataFetcher>(
        engine: &Engine<S, F>,
        resource: &ResourceUri,
    ) -> Result<Self, HttpError> {
        let config = engine.config();
        let settings = config
            .resource(resource)
            .ok_or(HttpError::UnknownResource)?;
        let validator = AccessTokenValidator::new(
            engine.keys().jwks(),
            config.issuer.clone(),
            resource.clone(),
            config.audience_match,
        );
        Ok(Self::new(resource.clone(), validator)
            .with_default_scopes(settings.default_scope.clone())
            .with_scope_hierarchy(config.scope_hierarchy.clone())
            .with_dpop(config.dpop.clone())
            .with_revocation_check(Arc::new(StoreRevocationCheck::new(Arc::clone(
                engine.store(),
            )))))
    }

    /// With the scopes every protected route needs unless it names its own.
    pub fn with_default_scopes(mut self, scopes: Scope) -> Self {
        self.default_scopes = scopes;
        self
    }

    /// With the scope hierarchy the scope check honours: a token granted a
    /// broader scope passes a route needing a narrower one it implies, never
    /// the other way round (MCP 2026-07-28, "Step-Up Authorization Flow":
    /// "Servers **MUST** account for scope hierarchies, where a broader scope
    /// implies narrower ones, when deciding whether a token is sufficient for
    /// an operation"). An `insufficient_scope` challenge still names the
    /// scopes the route requires. Default: empty (plain set inclusion).
    pub fn with_scope_hierarchy(mut self, hierarchy: ScopeHierarchy) -> Self {
        self.scope_hierarchy = hierarchy;
        self
    }

    /// With the `resource_metadata` URL sent in challenges (RFC 9728 section 5.1).
    pub fn with_resource_metadata_url(mut self, url: String) -> Self {
        self.resource_metadata_url = url;
        self
    }

    /// With the DPoP policy `dpop` (RFC 9449): its algorithms and windows,
    /// and, when it has `nonces`, a server nonce required in every proof
    /// (RFC 9449 section 9: a proof without a current one gets `401
    /// use_dpop_nonce` and a fresh `DPoP-Nonce`).
    pub fn with_dpop(mut self, dpop: DpopConfig) -> Self {
        self.dpop = dpop;
        self
    }

    /// With a replay cache of `capacity` proofs (RFC 9449 section 11.1), of
    /// which one token holder takes at most the share set before (see
    /// [`Self::with_replay_share`]; by default [`Self::DEFAULT_REPLAY_SHARE`]).
    pub fn with_replay_capacity(mut self, capacity: usize) -> Self {
        let share = self.replay_cache().share();
        self.replay = Mutex::new(MemoryReplayCache::new(capacity).with_share(share));
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
    /// the authorization server: a [`StoreRevocationCheck`] over the engine's store.
    pub fn with_revocation_check(mut self, check: Arc<dyn RevocationCheck>) -> Self {
        self.revocation = Some(check);
        self
    }

    /// With at most `capacity` validated JWTs remembered (`0`: none), keyed
    /// by the SHA-256 of the token (never the token), each until its `exp`
    /// and no longer; when full, the one expiring soonest goes. A repeated
    /// token skips the signature and claim checks of the validator; the DPoP
    /// proof, the binding, the scope, the `Origin` and the revocation check
    /// run on every request all the same. New keys
    /// ([`Self::replace_keys`], a key refresh) empty it.
    pub fn with_token_cache(mut self, capacity: usize) -> Self {
        self.token_cache_capacity = capacity;
        let validator = self.validator().clone();
        self.verifier = RwLock::new(Arc::new(Verifier::new(validator, capacity)));
        self
    }

    /// With tokens introspected at the issuer as `introspection` says (RFC
    /// 7662): every token, or those that are not a JWS. Without it (the
    /// default), only JWT access tokens are accepted.
    pub fn with_introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// With the origins (`scheme://host[:port]`) allowed in an `Origin`
    /// header (MCP R15). Scheme and host are case-insensitive (RFC 6454
    /// sections 4 and 6.1): both these and the header are compared after
    /// ASCII lowercasing, the rest byte for byte.
    pub fn with_allowed_origins<I: IntoIterator<Item = String>>(mut self, origins: I) -> Self {
        self.allowed_origins = origins
            .into_iter()
            .map(|origin| origin.to_ascii_lowercase())
            .collect();
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
    /// The cache of validated JWTs starts empty: a token accepted under the
    /// old keys is checked again.
    pub fn replace_keys(&self, jwks: Jwks) {
        let mut verifier = self
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let updated = verifier.validator.clone().with_jwks(jwks);
        *verifier = Arc::new(Verifier::new(updated, self.token_cache_capacity));
    }

    /// The JWK Set tokens are verified with now.
    pub fn keys(&self) -> Jwks {
        self.verifier().validator.jwks().clone()
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

    /// The `resource_metadata` URL sent in challenges.
    pub fn resource_metadata_url(&self) -> &str {
        &self.resource_metadata_url
    }

    /// The scopes a route needs unless it names its own.
    pub fn default_scopes(&self) -> &Scope {
        &self.default_scopes
    }

    /// A layer answering `403` to a request whose `Origin` header is present
    /// and not allowed (MCP R15, DNS rebinding protection), for routes
    /// without a token check ([`RequireAccessTokenLayer`] checks `Origin` itself).
    pub fn origin_layer(self: &Arc<Self>) -> OriginLayer {
        OriginLayer::new(Arc::clone(self))
    }

    /// A layer requiring a valid access token with the default scopes (see
    /// [`RequireAccessTokenLayer::require_scopes`]), the time read from
    /// `clock` once per request.
    pub fn require_access_token_with(self: &Arc<Self>, clock: Clock) -> RequireAccessTokenLayer {
        RequireAccessTokenLayer::new(Arc::clone(self), clock)
    }

    /// The whole guard: [`Self::check`], with the token introspected when
    /// introspection is configured for it ([`Self::with_introspection`]), a
    /// JWT validated once more after fetching the keys when it names an
    /// unknown `kid` and a key source is set, then the revocation check. A
    /// refusal is the response to send ([`Self::refusal`]), a `403` or a
    /// challenge.
    pub async fn guard(
        &self,
        head: RequestHead<'_>,
        scopes: &Scope,
        now: UnixTime,
    ) -> Result<AccessToken, Response<Bytes>> {
        let admitted = self.guard_checks(head, scopes, now).await;
        admitted.map_err(|error| {
            tracing::info!(
                target: "latchkey::http",
                status = error.http_status(),
                error = ErrorCode::from(&error).as_str(),
                required_scope = %scopes,
                "access refused"
            );
            self.refusal(&error, scopes, now)
        })
    }

    /// Checks a request head at time `now` for a route needing `scopes` (all
    /// of them), in this order: `Origin` (MCP R15), no `access_token` in the
    /// query (OAuth 2.1 section 5.1.2), exactly one `Authorization` header
    /// with the `Bearer` or `DPoP` scheme (RFC 6750 section 2.1, RFC 9449
    /// section 7.1), the token (RFC 9068 section 4: signature, issuer,
    /// audience, lifetime; MCP R5-R9, R13; a token validated before and not
    /// yet expired is found in the cache of [`Self::with_token_cache`]), its
    /// binding: a `cnf.jkt` token only under `DPoP` with a valid proof for
    /// this method and URL, `ath` included, a server nonce when configured,
    /// from the bound key (RFC 9449 sections 4.3, 6.1, 7.1, 9), then the
    /// scope (RFC 6750 section 3.1, MCP R11; a granted scope covers the narrower
    /// ones it implies, [`Self::with_scope_hierarchy`]). Neither the key refresh, the
    /// introspection nor the revocation check runs here (see
    /// [`Self::guard`]): a token that is to be introspected is refused with
    /// [`HttpError::IntrospectionUnavailable`].
    pub fn check(
        &self,
        head: RequestHead<'_>,
        scopes: &Scope,
        now: UnixTime,
    ) -> Result<AccessToken, HttpError> {
        let (scheme, token) = self.credentials_of(head)?;
        if self
            .introspection
            .as_ref()
            .is_some_and(|introspection| introspection.applies_to(token))
        {
            return Err(HttpError::IntrospectionUnavailable);
        }
        let claims = self.validate_jwt(token, now)?;
        self.check_binding_and_scope(head, scheme, token, claims, scopes, now)
    }

    async fn guard_checks(
        &self,
        head: RequestHead<'_>,
        scopes: &Scope,
        now: UnixTime,
    ) -> Result<AccessToken, HttpError> {
        let (scheme, token) = self.credentials_of(head)?;
        let claims = match &self.introspection {
            Some(introspection) if introspection.applies_to(token) => {
                introspection.claims(token, &self.resource, now).await?
            }
            _ => match self.validate_jwt(token, now) {
                // The token names a key this server does not know: fetch the
                // issuer's keys again (rate-limited) and validate once more.
                Err(HttpError::InvalidToken(TokenError::UnknownKey))
                    if self.key_refresh.is_some() && self.refresh_keys(now).await =>
                {
                    self.validate_jwt(token, now)?
                }
                other => other?,
            },
        };
        let token = self.check_binding_and_scope(head, scheme, token, claims, scopes, now)?;
        self.check_revocation(&token).await?;
        Ok(token)
    }

    /// `Origin`, no query token, and the one `Authorization` header.
    fn credentials_of<'h>(&self, head: RequestHead<'h>) -> Result<(Scheme, &'h str), HttpError> {
        self.check_origin(head.headers)?;
        if query_has_access_token(head.uri.query().unwrap_or("")) {
            return Err(HttpError::TokenInQuery);
        }
        credentials(head.headers)
    }

    /// The JWT `token`'s claims at `now`: from the cache, or validated (and
    /// then cached until its `exp`).
    fn validate_jwt(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Arc<AccessTokenClaims>, HttpError> {
        let verifier = self.verifier();
        let digest = TokenDigest::of(token.as_bytes());
        if let Some(claims) = verifier.lock_cache().get(&digest, now) {
            return Ok(claims);
        }
        let claims = verifier
            .validator
            .validate(token, now)
            .map_err(HttpError::InvalidToken)?
            .into_claims();
        let claims = Arc::new(claims);
        verifier
            .lock_cache()
            .insert(digest, claims.exp, Arc::clone(&claims), now);
        Ok(claims)
    }

    /// RFC 9449 sections 6.1 and 7.1: the scheme matches the binding and a
    /// bound token comes with a proof from its key; then the scope.
    fn check_binding_and_scope(
        &self,
        head: RequestHead<'_>,
        scheme: Scheme,
        token: &str,
        claims: Arc<AccessTokenClaims>,
        scopes: &Scope,
        now: UnixTime,
    ) -> Result<AccessToken, HttpError> {
        match (scheme, claims.cnf_jkt.as_ref()) {
            (Scheme::Bearer, Some(_)) => return Err(HttpError::BoundTokenAsBearer),
            (Scheme::Bearer, None) => {}
            (Scheme::Dpop, None) => return Err(HttpError::UnboundTokenAsDpop),
            (Scheme::Dpop, Some(jkt)) => {
                let holder =
                    ReplayPartition::new(&[claims.client_id.as_str(), claims.sub.as_str()]);
                let proof = self.check_proof(head, token, holder, now)?;
                check_key_binding(&proof, jkt).map_err(HttpError::Dpop)?;
            }
        }
        if !self.scope_hierarchy.covers(&claims.scope, scopes) {
            return Err(HttpError::InsufficientScope);
        }
        Ok(AccessToken(claims))
    }

    /// No `Origin` header, or exactly one whose value, ASCII-lowercased, is
    /// an allowed origin (MCP R15: "If the `Origin` header is present and
    /// invalid, servers MUST respond with HTTP 403 Forbidden"; RFC 6454
    /// section 4: scheme and host are lowercase in an origin's
    /// serialization). A repeated `Origin` is refused.
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<(), HttpError> {
        origin_allowed(headers, &self.allowed_origins)
            .then_some(())
            .ok_or(HttpError::ForbiddenOrigin)
    }

    /// Asks the revocation check (see [`Self::with_revocation_check`]) about
    /// a token [`Self::check`] accepted; without one, every token passes.
    pub async fn check_revocation(&self, token: &AccessToken) -> Result<(), HttpError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let claims = token.claims();
        check_revocation(revocation.as_ref(), claims.jti.as_str(), claims.exp)
            .await
            .map_err(HttpError::TokenStatus)
    }

    /// The response to a refusal, never cached: `403` without a body for a
    /// foreign `Origin`; a plain JSON error for a refusal that is not about
    /// the credentials (`503` when the replay cache or the token status is
    /// unavailable); otherwise the status of [`HttpError::http_status`] with
    /// a `Bearer` and a `DPoP` challenge, both carrying `resource_metadata`
    /// and the route's `scopes` (RFC 6750 section 3, RFC 9728 section 5.1,
    /// RFC 9449 section 7.1, MCP R3, R4, R11), the `error` and its
    /// description on the challenge of the scheme at fault (none for a
    /// missing token, RFC 6750 section 3.1), and a fresh `DPoP-Nonce` (issued
    /// for `now`) when the proof needs one (RFC 9449 section 9).
    pub fn refusal(&self, error: &HttpError, scopes: &Scope, now: UnixTime) -> Response<Bytes> {
        let status = error.http_status();
        let typed = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if *error == HttpError::ForbiddenOrigin {
            let mut response = EndpointResponse::empty_ok().no_store();
            response.status = typed;
            return into_response(response);
        }
        let code = ErrorCode::from(error);
        if !matches!(status, 400 | 401 | 403) {
            let mut response = EndpointResponse::error(code, &error.to_string());
            response.status = typed;
            return into_response(response);
        }
        let (code, scheme) = match error {
            HttpError::MissingToken => (None, Scheme::Bearer),
            HttpError::UnboundTokenAsDpop | HttpError::Dpop(_) => (Some(code), Scheme::Dpop),
            _ => (Some(code), Scheme::Bearer),
        };
        let nonce = match error {
            HttpError::Dpop(dpop) => dpop.fresh_nonce().map(|n| n.as_str().to_owned()),
            _ => None,
        }
        .or_else(|| {
            // A DPoP request refused for another reason learns the current
            // nonce too, sparing it a round trip (RFC 9449 section 8.2).
            let dpop_refusal = scheme == Scheme::Dpop;
            dpop_refusal
                .then_some(self.dpop.nonces.as_ref())
                .flatten()
                .map(|nonces| nonces.issue(now).as_str().to_owned())
        });
        let description = error.to_string();
        let error = code.map(|code| (code, description.as_str()));
        self.challenge(status, error, scopes, scheme, nonce)
    }

    fn verifier(&self) -> Arc<Verifier> {
        Arc::clone(&self.verifier.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn validator(&mut self) -> &AccessTokenValidator {
        &self
            .verifier
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .validator
    }

    fn replay_cache(&mut self) -> &mut MemoryReplayCache {
        self.replay
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// RFC 9449 sections 4.3 and 7.1: the proof for this request (`htm` the
    /// method, `htu` the configured resource origin plus the request path,
    /// never the `Host` header; `ath` the token's hash).
    fn check_proof(
        &self,
        head: RequestHead<'_>,
        token: &str,
        holder: ReplayPartition,
        now: UnixTime,
    ) -> Result<ValidatedProof, HttpError> {
        let htu = format!("{}{}", self.resource.origin(), head.uri.path());
        let htu = Htu::parse(&htu).map_err(HttpError::Dpop)?;
        let expected = ProofExpectations::new(head.method.as_str(), &htu).with_access_token(token);
        let proofs: Vec<&[u8]> = head
            .headers
            .get_all(&DPOP)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let mut replay = self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        validate_proof(
            &proofs,
            &expected,
            now,
            &mut replay.partition(holder),
            &self.dpop,
        )
        .map_err(HttpError::Dpop)
    }

    /// A `WWW-Authenticate` answer: a Bearer and a DPoP challenge, both with
    /// `resource_metadata` and `scope`, the DPoP one with `algs` (RFC 6750
    /// section 3, RFC 9728 section 5.1, RFC 9449 section 7.1); `error` goes
    /// on the challenge of `scheme`.
    fn challenge(
        &self,
        status: u16,
        error: Option<(ErrorCode, &str)>,
        scopes: &Scope,
        scheme: Scheme,
        nonce: Option<String>,
    ) -> Response<Bytes> {
        let algs: Vec<&str> = self.dpop.algorithms.iter().map(|a| a.as_str()).collect();
        let mut bearer = Challenge::bearer().resource_metadata(&self.resource_metadata_url);
        let mut dpop = Challenge::dpop()
            .resource_metadata(&self.resource_metadata_url)
            .algs(&algs);
        if !scopes.is_empty() {
            bearer = bearer.scope(scopes);
            dpop = dpop.scope(scopes);
        }
        if let Some((code, description)) = error {
            match scheme {
                Scheme::Bearer => bearer = bearer.error(code).error_description(description),
                Scheme::Dpop => dpop = dpop.error(code).error_description(description),
            }
        }
        let (Ok(bearer), Ok(dpop)) = (bearer.build(), dpop.build()) else {
            return server_error();
        };
        // The RFC 6749 section 5.2 error body when there is an error code; none
        // for a request without credentials. Never cached either way.
        let mut response = match error {
            Some((code, description)) => EndpointResponse::error(code, description),
            None => EndpointResponse::empty_ok().no_store(),
        };
        response.status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for challenge in [bearer, dpop] {
            response = response.with_header(WWW_AUTHENTICATE, challenge.to_header_value());
        }
        if let Some(nonce) = nonce {
            response = response.with_header(DPOP_NONCE.clone(), nonce);
        }
        into_response(response)
    }
}

/// The JWT validator and the tokens it accepted, replaced together.
struct Verifier {
    validator: AccessTokenValidator,
    cache: Mutex<TokenCache<Arc<AccessTokenClaims>>>,
}

impl Verifier {
    fn new(validator: AccessTokenValidator, capacity: usize) -> Self {
        Self {
            validator,
            cache: Mutex::new(TokenCache::new(capacity, None)),
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, TokenCache<Arc<AccessTokenClaims>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The validated access token of a request: what [`ResourceServer::check`]
/// returns and the tower layer puts in the request extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken(Arc<AccessTokenClaims>);

impl AccessToken {
    /// The token's claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }

    /// The token's claims, by value.
    pub fn into_claims(self) -> AccessTokenClaims {
        Arc::unwrap_or_clone(self.0)
    }
}

/// The paths protected resource metadata is served at (RFC 9728 section 3.1:
/// the well-known suffix between host and path; MCP 2025-11-25 R3': clients
/// probe the path-inserted URL first, then the root), the path-inserted one
/// first.
pub fn protected_resource_metadata_paths(document: &ProtectedResourceMetadata) -> Vec<String> {
    let path = ResourceUri::parse(&document.resource)
        .map(|resource| resource.path().to_owned())
        .unwrap_or_default();
    let mut paths = Vec::with_capacity(2);
    if !path.is_empty() {
        paths.push(format!("{WELL_KNOWN_PRM}{path}"));
    }
    paths.push(WELL_KNOWN_PRM.to_owned());
    paths
}

/// The response serving `document` (RFC 9728 section 3.2): `200` JSON,
/// cacheable like the other discovery documents; a document that cannot be
/// serialized is a generic `500`.
pub fn protected_resource_metadata_response(
    document: &ProtectedResourceMetadata,
) -> Response<Bytes> {
    let Ok(json) = serde_json::to_string(document) else {
        return server_error();
    };
    let mut response = Response::new(Bytes::from(json));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(latchkey_engine::discovery::DISCOVERY_CACHE_CONTROL),
    );
    response
}

/// Copies an engine response onto HTTP: its typed status and headers as
/// they are, and the body (whose `Content-Type` the engine already set). The
/// one conversion every adapter uses.
pub fn into_response(response: EndpointResponse) -> Response<Bytes> {
    let body = match response.body {
        ResponseBody::Empty => Bytes::new(),
        ResponseBody::Json(json) => Bytes::from(json),
        ResponseBody::Html(html) => Bytes::from(html),
    };
    let mut out = Response::new(body);
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// The generic `500 server_error` JSON answer.
pub fn server_error() -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(
        b"{\"error\":\"server_error\",\"error_description\":\"internal server error\"}",
    ));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The authorization scheme of the request's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750 section 2.1).
    Bearer,
    /// `Authorization: DPoP` (RFC 9449 section 7.1).
    Dpop,
}

/// Splits an `Authorization` value `<scheme> <token>` (RFC 9110 section
/// 11.4; schemes are case-insensitive, section 11.1): `Ok(None)` for a scheme
/// other than `Bearer` and `DPoP` (as if no credentials were sent),
/// [`HttpError::MalformedAuthorization`] for one of those two without exactly
/// one token. The token itself is checked by the validator.
pub fn parse_authorization(value: &str) -> Result<Option<(Scheme, &str)>, HttpError> {
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    let token = rest.trim_matches(' ');
    if token.is_empty() || token.contains([' ', '\t']) {
        return Err(HttpError::MalformedAuthorization);
    }
    Ok(Some((scheme, token)))
}

/// The credentials of the one `Authorization` header (OAuth 2.1 section 3.2:
/// a repeated one is refused).
fn credentials(headers: &HeaderMap) -> Result<(Scheme, &str), HttpError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(HttpError::RepeatedAuthorization);
    }
    let Some(value) = first else {
        return Err(HttpError::MissingToken);
    };
    let value = value
        .to_str()
        .map_err(|_| HttpError::MalformedAuthorization)?;
    parse_authorization(value)?.ok_or(HttpError::MissingToken)
}

/// Whether the query string names `access_token` after percent-decoding (RFC
/// 6750 section 2.3, which OAuth 2.1 section 5.1.2 drops: such a request is
/// refused, never served).
fn query_has_access_token(query: &str) -> bool {
    url::form_urlencoded::parse(query.as_bytes()).any(|(name, _)| name == "access_token")
}

/// No `Origin`, or exactly one equal to an `allowed` (lowercase) origin after
/// ASCII lowercasing. A value that is not visible ASCII is never allowed.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let mut values = headers.get_all(ORIGIN).iter();
    match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => value.to_str().is_ok_and(|origin| {
            let origin = origin.to_ascii_lowercase();
            allowed.contains(&origin)
        }),
        (Some(_), Some(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        map
    }

    #[test]
    fn rfc_9110_section_11_1_schemes_are_case_insensitive() {
        assert_eq!(
            parse_authorization("bEaReR abc"),
            Ok(Some((Scheme::Bearer, "abc")))
        );
        assert_eq!(
            parse_authorization("Bearer  abc "),
            Ok(Some((Scheme::Bearer, "abc")))
        );
        assert_eq!(
            parse_authorization("dpop abc"),
            Ok(Some((Scheme::Dpop, "abc")))
        );
        assert_eq!(parse_authorization("Basic abc"), Ok(None));
        assert_eq!(
            parse_authorization("Bearer"),
            Err(HttpError::MalformedAuthorization)
        );
        assert_eq!(
            parse_authorization("Bearer a b"),
            Err(HttpError::MalformedAuthorization)
        );
        assert_eq!(
            parse_authorization("DPoP a\tb"),
            Err(HttpError::MalformedAuthorization)
        );
    }

    #[test]
    fn oauth_2_1_section_3_2_repeated_authorization_is_refused() {
        let twice = headers(&[("authorization", "Bearer a"), ("authorization", "Bearer b")]);
        assert_eq!(credentials(&twice), Err(HttpError::RepeatedAuthorization));
        assert_eq!(credentials(&HeaderMap::new()), Err(HttpError::MissingToken));
        let basic = headers(&[("authorization", "Basic a")]);
        assert_eq!(credentials(&basic), Err(HttpError::MissingToken));
    }

    #[test]
    fn rfc_6750_section_2_3_query_token_is_detected_after_decoding() {
        assert!(query_has_access_token("a=1&access_token=x"));
        assert!(query_has_access_token("access%5Ftoken=x"));
        assert!(!query_has_access_token("access_tokens=x&token=y"));
    }

    #[test]
    fn rfc_6454_section_4_origin_scheme_and_host_compare_case_insensitively() {
        let allowed = vec!["https://app.example.com".to_owned()];
        for origin in [
            "https://app.example.com",
            "HTTPS://APP.Example.COM",
            "https://App.example.com",
        ] {
            let map = headers(&[("origin", origin)]);
            assert!(origin_allowed(&map, &allowed), "{origin}");
        }
        for origin in [
            "https://app.example.com:8443",
            "http://app.example.com",
            "https://app.example.com.evil",
            "null",
        ] {
            let map = headers(&[("origin", origin)]);
            assert!(!origin_allowed(&map, &allowed), "{origin}");
        }
        assert!(origin_allowed(&HeaderMap::new(), &allowed));
        let twice = headers(&[
            ("origin", "https://app.example.com"),
            ("origin", "https://app.example.com"),
        ]);
        assert!(!origin_allowed(&twice, &allowed), "a repeated origin");
    }

    #[test]
    fn rfc_9728_section_3_1_metadata_paths_insert_the_well_known_suffix() {
        let mut document = ProtectedResourceMetadata::new("https://mcp.example.com/api/mcp");
        assert_eq!(
            protected_resource_metadata_paths(&document),
            vec![
                "/.well-known/oauth-protected-resource/api/mcp".to_owned(),
                "/.well-known/oauth-protected-resource".to_owned()
            ]
        );
        document.resource = "https://mcp.example.com".to_owned();
        assert_eq!(
            protected_resource_metadata_paths(&document),
            vec!["/.well-known/oauth-protected-resource".to_owned()]
        );
    }
}
