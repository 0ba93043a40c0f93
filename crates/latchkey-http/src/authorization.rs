//! The authorization server on the `http` types: the route table taken from
//! the engine's configured endpoint URLs, and one entry point,
//! [`AuthorizationServer::handle`], from a request with its collected body to
//! the response. Adapters register [`Routes::patterns`] with their router,
//! collect the body within [`MAX_BODY_LEN`], read the clock, seed an RNG and
//! call `handle`; nothing else.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL};
use http::request::Parts;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use latchkey_engine::authorize::{AuthorizationDecision, AuthorizeOutcome, PendingAuthorization};
use latchkey_engine::{
    EndpointResponse, Engine, EngineConfig, MetadataFetcher, NoMetadataFetcher, Params,
};
use latchkey_store::Store;
use latchkey_types::{ErrorCode, UnixTime};
use rand_core::CryptoRng;

use crate::HttpError;
use crate::form::{
    FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, MAX_BODY_LEN, MAX_QUERY_LEN, form_pairs, http_context,
    path_segment, require_content_type,
};
use crate::observe::{NoObserver, Observer, endpoint_events, registration_events, token_events};
use crate::page::{error_page, security_headers};
use crate::resource::into_response;

/// The placeholder of the client configuration path in [`Routes::patterns`]
/// (the `{name}` syntax axum 0.8 and actix-web share).
pub const CLIENT_ID_PLACEHOLDER: &str = "{client_id}";

/// What an [`InteractionHandler`] decided about a pending authorization.
#[derive(Debug)]
pub enum Interaction {
    /// Decided at once (the user is already signed in and consented): the
    /// layer completes the authorization with this decision.
    Decide(AuthorizationDecision),
    /// Answer with this response (a login or consent page), as it is. The
    /// handler keeps the `PendingAuthorization` server-side and completes it
    /// later ([`AuthorizationServer::complete`] from its own route).
    Respond(Response<Bytes>),
}

/// How the server plugs login and consent into the authorization endpoint
/// (OAuth 2.1 section 4.1.1: the server "authenticates the resource owner and
/// obtains an authorization decision"). The one trait every adapter uses.
pub trait InteractionHandler: Send + Sync + 'static {
    /// Handles a verified authorization request. `request` is the original
    /// request's head (cookies for the session, for example); `now` is the
    /// request's time.
    fn interact<'a>(
        &'a self,
        pending: PendingAuthorization,
        request: &'a Parts,
        now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = Interaction> + Send + 'a>>;
}

/// One endpoint of the authorization server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET` authorization endpoint (OAuth 2.1 section 4.1.1).
    Authorization,
    /// `POST` token endpoint (OAuth 2.1 section 3.2).
    Token,
    /// `POST` revocation endpoint (RFC 7009 section 2).
    Revocation,
    /// `POST` introspection endpoint (RFC 7662 section 2).
    Introspection,
    /// `POST` registration endpoint (RFC 7591 section 3).
    Registration,
    /// `GET`/`PUT`/`DELETE` `{registration endpoint}/{client_id}` (RFC 7592 section 2).
    ClientConfiguration,
    /// `GET` JWK Set (RFC 7517 section 5).
    Jwks,
    /// `GET` authorization server metadata (RFC 8414 section 3).
    AuthorizationServerMetadata,
    /// `GET` OpenID Connect discovery (OpenID Connect Discovery 1.0 section 4).
    OpenIdConfiguration,
}

impl Endpoint {
    /// A fixed name for the endpoint, for logs and metric labels (never the
    /// configured path, so a label set stays bounded).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Authorization => "authorization",
            Self::Token => "token",
            Self::Revocation => "revocation",
            Self::Introspection => "introspection",
            Self::Registration => "registration",
            Self::ClientConfiguration => "client_configuration",
            Self::Jwks => "jwks",
            Self::AuthorizationServerMetadata => "authorization_server_metadata",
            Self::OpenIdConfiguration => "openid_configuration",
        }
    }

    /// The methods the endpoint takes; any other is `405` with `Allow`.
    pub fn methods(self) -> &'static [Method] {
        const GET: &[Method] = &[Method::GET];
        const POST: &[Method] = &[Method::POST];
        const MANAGE: &[Method] = &[Method::GET, Method::PUT, Method::DELETE];
        match self {
            Self::Authorization
            | Self::Jwks
            | Self::AuthorizationServerMetadata
            | Self::OpenIdConfiguration => GET,
            Self::Token | Self::Revocation | Self::Introspection | Self::Registration => POST,
            Self::ClientConfiguration => MANAGE,
        }
    }
}

/// The route table: every path of the authorization server, taken from the
/// engine's configured endpoint URLs (so the DPoP `htu` and every
/// `HttpContext::uri` are the configured URLs, never built from `Host`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Routes {
    exact: Vec<(String, Endpoint, String)>,
    /// `{registration endpoint path}/` and the registration endpoint URL.
    client_prefix: Option<(String, String)>,
}

impl Routes {
    /// The routes of `config` (validated by the engine: every endpoint is an
    /// absolute `http(s)` URL). Metadata sits at
    /// `/.well-known/oauth-authorization-server{issuer path}` (RFC 8414
    /// section 3.1, path insertion); with `openid`, OpenID Connect discovery
    /// at `/.well-known/openid-configuration{issuer path}` and
    /// `{issuer path}/.well-known/openid-configuration` (MCP 2025-11-25
    /// discovery order). Registration routes only when registration is on.
    pub fn new(config: &EngineConfig, openid: bool) -> Self {
        let issuer_path = path_of(&config.issuer);
        let issuer_path = issuer_path.trim_end_matches('/');
        let mut exact = Vec::new();
        let mut add = |path: String, endpoint: Endpoint, url: &str| {
            if !exact.iter().any(|(p, _, _)| *p == path) {
                exact.push((path, endpoint, url.to_owned()));
            }
        };
        for (url, endpoint) in [
            (&config.authorization_endpoint, Endpoint::Authorization),
            (&config.token_endpoint, Endpoint::Token),
            (&config.revocation_endpoint, Endpoint::Revocation),
            (&config.introspection_endpoint, Endpoint::Introspection),
            (&config.jwks_uri, Endpoint::Jwks),
        ] {
            add(path_of(url), endpoint, url);
        }
        let registration = config
            .registration_endpoint
            .as_ref()
            .filter(|_| config.registration.is_some());
        if let Some(url) = registration {
            add(path_of(url), Endpoint::Registration, url);
        }
        add(
            format!("/.well-known/oauth-authorization-server{issuer_path}"),
            Endpoint::AuthorizationServerMetadata,
            &config.issuer,
        );
        if openid {
            for path in [
                format!("/.well-known/openid-configuration{issuer_path}"),
                format!("{issuer_path}/.well-known/openid-configuration"),
            ] {
                add(path, Endpoint::OpenIdConfiguration, &config.issuer);
            }
        }
        let client_prefix = registration.map(|url| {
            let path = path_of(url);
            (
                format!("{}/", path.trim_end_matches('/')),
                url.trim_end_matches('/').to_owned(),
            )
        });
        Self {
            exact,
            client_prefix,
        }
    }

    /// Every path to register with a router and its endpoint; the client
    /// configuration path ends in [`CLIENT_ID_PLACEHOLDER`].
    pub fn patterns(&self) -> Vec<(String, Endpoint)> {
        let mut patterns: Vec<(String, Endpoint)> = self
            .exact
            .iter()
            .map(|(path, endpoint, _)| (path.clone(), *endpoint))
            .collect();
        if let Some((prefix, _)) = &self.client_prefix {
            patterns.push((
                format!("{prefix}{CLIENT_ID_PLACEHOLDER}"),
                Endpoint::ClientConfiguration,
            ));
        }
        patterns
    }

    /// The endpoint at `path`, its configured URL, and for the client
    /// configuration endpoint the raw `client_id` segment.
    pub fn resolve<'a>(&'a self, path: &'a str) -> Option<(Endpoint, &'a str, Option<&'a str>)> {
        if let Some((_, endpoint, url)) = self.exact.iter().find(|(p, _, _)| p == path) {
            return Some((*endpoint, url, None));
        }
        let (prefix, url) = self.client_prefix.as_ref()?;
        let client_id = path.strip_prefix(prefix.as_str())?;
        if client_id.is_empty() || client_id.contains('/') {
            return None;
        }
        Some((Endpoint::ClientConfiguration, url, Some(client_id)))
    }
}

/// The authorization server of an [`Engine`] on the `http` types: its
/// [`Routes`] and the [`InteractionHandler`] for login and consent.
pub struct AuthorizationServer<S: Store, F: MetadataFetcher = NoMetadataFetcher> {
    engine: Arc<Engine<S, F>>,
    routes: Routes,
    interaction: Arc<dyn InteractionHandler>,
    observer: Arc<dyn Observer>,
}

impl<S: Store, F: MetadataFetcher> core::fmt::Debug for AuthorizationServer<S, F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AuthorizationServer")
            .field("engine", &self.engine)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<S: Store, F: MetadataFetcher> AuthorizationServer<S, F> {
    /// The authorization server of `engine`, handing verified authorization
    /// requests to `interaction`.
    pub fn new(engine: Arc<Engine<S, F>>, interaction: Arc<dyn InteractionHandler>) -> Self {
        let routes = Routes::new(engine.config(), engine.openid_configuration().is_some());
        Self {
            engine,
            routes,
            interaction,
            observer: Arc::new(NoObserver),
        }
    }

    /// Hands the token and registration endpoints' [`crate::Event`]s to
    /// `observer` (default: [`NoObserver`]).
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine<S, F>> {
        &self.engine
    }

    /// The route table.
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// Answers `request` (its body collected, at most [`MAX_BODY_LEN`]
    /// bytes) at time `now`, drawing randomness from `rng`. In order: the
    /// route (`404`), the method (`405` with `Allow`), then per endpoint
    /// the one `Authorization` header, the media type, the body limit
    /// (`413`), strict form decoding and the parameter rules of
    /// `latchkey_engine::Params` (`400 invalid_request` JSON, `no-store`),
    /// then the engine. An authorization request that cannot be redirected
    /// gets the [`error_page`] (a query over [`MAX_QUERY_LEN`] or not
    /// decodable included). Every response but an interaction's page carries
    /// the [`security_headers`].
    pub async fn handle<R: CryptoRng>(
        &self,
        request: Request<Bytes>,
        now: UnixTime,
        rng: &mut R,
    ) -> Response<Bytes> {
        let (parts, body) = request.into_parts();
        let Some((endpoint, url, client_id)) = self.routes.resolve(parts.uri.path()) else {
            return not_found();
        };
        if !endpoint.methods().contains(&parts.method) {
            return method_not_allowed(endpoint);
        }
        let mut response = match endpoint {
            Endpoint::Authorization => return self.authorize(&parts, now, rng).await,
            Endpoint::Token | Endpoint::Revocation | Endpoint::Introspection => self
                .form_endpoint(endpoint, url, &parts, &body, now, rng)
                .await
                .unwrap_or_else(|error| refusal_response(&error)),
            Endpoint::Registration | Endpoint::ClientConfiguration => self
                .client_endpoint(url, client_id, &parts, &body, now, rng)
                .await
                .unwrap_or_else(|error| refusal_response(&error)),
            Endpoint::Jwks => into_response(self.engine.jwks()),
            Endpoint::AuthorizationServerMetadata => {
                into_response(self.engine.authorization_server_metadata())
            }
            Endpoint::OpenIdConfiguration => self
                .engine
                .openid_configuration()
                .map_or_else(not_found, into_response),
        };
        security_headers(response.headers_mut());
        response
    }

    /// Completes `pending` with the resource owner's `decision` (OAuth 2.1
    /// section 4.1.2): the redirect back to the client, for an
    /// [`InteractionHandler`] that decides later from a route of its own.
    pub async fn complete<R: CryptoRng>(
        &self,
        pending: PendingAuthorization,
        decision: AuthorizationDecision,
        now: UnixTime,
        rng: &mut R,
    ) -> Response<Bytes> {
        let response = self
            .engine
            .complete_authorization(pending, decision, now, rng)
            .await;
        let mut response = into_response(response);
        security_headers(response.headers_mut());
        response
    }

    /// `GET` authorization endpoint (OAuth 2.1 section 4.1.1).
    async fn authorize<R: CryptoRng>(
        &self,
        parts: &Parts,
        now: UnixTime,
        rng: &mut R,
    ) -> Response<Bytes> {
        let query = parts.uri.query().unwrap_or("");
        if query.len() > MAX_QUERY_LEN {
            return refusal_page(&HttpError::QueryTooLarge);
        }
        let pairs = match form_pairs(query.as_bytes()) {
            Ok(pairs) => pairs,
            Err(error) => return refusal_page(&error),
        };
        let pending = match self.engine.authorize_pairs(pairs, now).await {
            AuthorizeOutcome::ErrorPage { error, description } => {
                return error_page(error, &description);
            }
            AuthorizeOutcome::Redirect(response) => {
                let mut response = into_response(response);
                security_headers(response.headers_mut());
                return response;
            }
            AuthorizeOutcome::Interaction(pending) => pending,
        };
        match self.interaction.interact(pending.clone(), parts, now).await {
            Interaction::Respond(response) => response,
            Interaction::Decide(decision) => self.complete(pending, decision, now, rng).await,
        }
    }

    /// `POST` token, revocation and introspection endpoints: the response,
    /// or why the layer refused the request before the engine.
    async fn form_endpoint<R: CryptoRng>(
        &self,
        endpoint: Endpoint,
        url: &str,
        parts: &Parts,
        body: &[u8],
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Response<Bytes>, HttpError> {
        let http = http_context(&parts.headers, parts.method.as_str(), url)?;
        require_content_type(&parts.headers, FORM_CONTENT_TYPE)?;
        within_limit(body)?;
        let params = match Params::from_pairs(form_pairs(body)?) {
            Ok(params) => params,
            // Repeated, too many or too long parameters: the engine's answer.
            Err(error) => {
                if endpoint == Endpoint::Token {
                    self.observer.observe(&crate::Event::TokenRefused {
                        grant: None,
                        code: ErrorCode::from(&error),
                        error: &error,
                    });
                }
                return Ok(into_response(error.to_response()));
            }
        };
        let response = match endpoint {
            Endpoint::Revocation => {
                let outcome = self.engine.revoke_with_outcome(&params, &http, now).await;
                endpoint_events(&outcome, "revocation", self.observer.as_ref());
                outcome.response
            }
            Endpoint::Introspection => {
                let outcome = self
                    .engine
                    .introspect_with_outcome(&params, &http, now)
                    .await;
                endpoint_events(&outcome, "introspection", self.observer.as_ref());
                outcome.response
            }
            _ => {
                let outcome = self
                    .engine
                    .token_with_outcome(&params, &http, now, rng)
                    .await;
                token_events(&outcome, self.observer.as_ref());
                outcome.response
            }
        };
        Ok(into_response(response))
    }

    /// `POST` registration endpoint (RFC 7591 section 3.1) and `GET`/`PUT`/
    /// `DELETE` client configuration endpoint (RFC 7592 section 2), whose
    /// URL is the configured registration endpoint URL and the client id.
    async fn client_endpoint<R: CryptoRng>(
        &self,
        registration: &str,
        client_id: Option<&str>,
        parts: &Parts,
        body: &[u8],
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Response<Bytes>, HttpError> {
        let method = &parts.method;
        let Some(raw_id) = client_id else {
            let http = http_context(&parts.headers, method.as_str(), registration)?;
            require_content_type(&parts.headers, JSON_CONTENT_TYPE)?;
            within_limit(body)?;
            let outcome = self
                .engine
                .register_with_outcome(body, &http, now, rng)
                .await;
            registration_events(&outcome, self.observer.as_ref());
            return Ok(into_response(outcome.response));
        };
        let client_id = path_segment(raw_id)?;
        let url = format!("{registration}/{client_id}");
        let http = http_context(&parts.headers, method.as_str(), &url)?;
        let response = if *method == Method::PUT {
            require_content_type(&parts.headers, JSON_CONTENT_TYPE)?;
            within_limit(body)?;
            self.engine
                .update_client(&client_id, &http, body, now, rng)
                .await
        } else if *method == Method::DELETE {
            self.engine.delete_client(&client_id, &http, now).await
        } else {
            self.engine.read_client(&client_id, &http, now, rng).await
        };
        Ok(into_response(response))
    }
}

/// The RFC 6749 section 5.2 JSON answer to a request the layer refused
/// before the engine: the status of [`HttpError::http_status`] (`400`,
/// `405`, `413`), `invalid_request`, `Cache-Control: no-store` and the
/// [`security_headers`]. Adapters answer a body over [`MAX_BODY_LEN`] with
/// `refusal_response(&HttpError::BodyTooLarge)`.
pub fn refusal_response(error: &HttpError) -> Response<Bytes> {
    let mut response = EndpointResponse::error(ErrorCode::from(error), &error.to_string());
    if let Ok(status) = StatusCode::from_u16(error.http_status()) {
        response.status = status;
    }
    let mut response = into_response(response);
    security_headers(response.headers_mut());
    response
}

/// The error page for a refusal at the authorization endpoint (never a
/// redirect: the client is not verified yet).
fn refusal_page(error: &HttpError) -> Response<Bytes> {
    error_page(ErrorCode::from(error), &error.to_string())
}

fn within_limit(body: &[u8]) -> Result<(), HttpError> {
    if body.len() > MAX_BODY_LEN {
        return Err(HttpError::BodyTooLarge);
    }
    Ok(())
}

fn method_not_allowed(endpoint: Endpoint) -> Response<Bytes> {
    let mut response = refusal_response(&HttpError::MethodNotAllowed);
    let allow: Vec<&str> = endpoint.methods().iter().map(Method::as_str).collect();
    if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

fn not_found() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(response.headers_mut());
    response
}

/// The path of a configured absolute URL (the engine validated it).
fn path_of(url: &str) -> String {
    url::Url::parse(url).map_or_else(|_| "/".to_owned(), |url| url.path().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_uri::ResourceUri;

    fn config(issuer: &str) -> EngineConfig {
        EngineConfig::new(
            issuer,
            ResourceUri::parse("https://mcp.example.com/mcp").expect("resource"),
        )
        .expect("config")
    }

    fn paths(routes: &Routes) -> Vec<String> {
        routes
            .patterns()
            .into_iter()
            .map(|(path, _)| path)
            .collect()
    }

    #[test]
    fn rfc_8414_section_3_1_the_metadata_url_is_path_inserted() {
        let routes = Routes::new(&config("https://as.example.com/tenant1/"), true);
        assert_eq!(
            paths(&routes),
            [
                "/tenant1/authorize",
                "/tenant1/token",
                "/tenant1/revoke",
                "/tenant1/introspect",
                "/tenant1/jwks",
                "/tenant1/register",
                "/.well-known/oauth-authorization-server/tenant1",
                "/.well-known/openid-configuration/tenant1",
                "/tenant1/.well-known/openid-configuration",
                "/tenant1/register/{client_id}",
            ]
        );
        assert_eq!(
            routes.resolve("/tenant1/token"),
            Some((
                Endpoint::Token,
                "https://as.example.com/tenant1/token",
                None
            ))
        );
    }

    #[test]
    fn rfc_8414_section_3_1_a_root_issuer_has_one_location_each() {
        let routes = Routes::new(&config("https://as.example.com"), true);
        let all = paths(&routes);
        assert!(all.contains(&"/.well-known/oauth-authorization-server".to_owned()));
        assert_eq!(
            all.iter()
                .filter(|p| p.contains("openid-configuration"))
                .count(),
            1
        );
        let routes = Routes::new(&config("https://as.example.com"), false);
        assert!(!paths(&routes).iter().any(|p| p.contains("openid")));
    }

    #[test]
    fn rfc_7592_section_2_client_configuration_paths_resolve() {
        let routes = Routes::new(&config("https://as.example.com"), false);
        assert_eq!(
            routes.resolve("/register/abc"),
            Some((
                Endpoint::ClientConfiguration,
                "https://as.example.com/register",
                Some("abc")
            ))
        );
        assert_eq!(routes.resolve("/register/"), None);
        assert_eq!(routes.resolve("/register/a/b"), None);
        assert_eq!(routes.resolve("/elsewhere"), None);
    }

    #[test]
    fn registration_off_serves_no_registration_route() {
        let mut config = config("https://as.example.com");
        config.registration = None;
        let routes = Routes::new(&config, false);
        assert!(!paths(&routes).iter().any(|p| p.starts_with("/register")));
        assert_eq!(routes.resolve("/register/abc"), None);
    }

    #[test]
    fn rfc_9110_section_15_5_6_a_wrong_method_is_405_with_allow() {
        let response = method_not_allowed(Endpoint::ClientConfiguration);
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            response.headers().get(ALLOW).map(HeaderValue::as_bytes),
            Some(&b"GET, PUT, DELETE"[..])
        );
    }

    #[test]
    fn rfc_9110_section_15_5_14_too_large_is_413_invalid_request() {
        let response = refusal_response(&HttpError::BodyTooLarge);
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(String::from_utf8_lossy(response.body()).contains("\"invalid_request\""));
        assert_eq!(
            response
                .headers()
                .get(CACHE_CONTROL)
                .map(HeaderValue::as_bytes),
            Some(&b"no-store"[..])
        );
    }
}
