//! Resource-server protection for actix-web: the [`RequireAccessToken`]
//! middleware, the [`AccessToken`] extractor, and the protected resource
//! metadata routes (RFC 9728, MCP R1-R16). Every rule lives in
//! `latchkey_http::ResourceServer` (shared with `latchkey-axum`); this module
//! converts actix's request head to the `http` types, reads the clock, and
//! converts the guard's answer back.
//!
//! Revocation: a JWT access token is checked locally, so by itself a revoked
//! token keeps working until it expires. A resource server beside the
//! authorization server asks the engine's store after the other checks
//! (`ResourceServer::from_engine` does so; otherwise
//! `ResourceServer::with_revocation_check`) and refuses revoked tokens at
//! once. One that runs apart either accepts the token lifetime (5 minutes by
//! default) as the bound on a revoked token's use, or validates tokens by
//! introspection (RFC 7662, `ResourceServer::with_introspection`), whose cache
//! TTL is then the bound.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use bytes::Bytes;
use latchkey_http::{HttpError, RequestHead, ResourceServer, refusal_response, server_error};
use latchkey_metadata::ProtectedResourceMetadata;
use latchkey_types::Scope;

use crate::error::ActixError;
use crate::translate::now;

/// The routes serving `document` at both
/// `/.well-known/oauth-protected-resource{resource path}` (RFC 9728 section
/// 3.1) and `/.well-known/oauth-protected-resource` (MCP 2025-11-25 R3'), for
/// [`actix_web::App::configure`].
pub fn protected_resource_metadata_routes(
    document: &ProtectedResourceMetadata,
) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let response = latchkey_http::protected_resource_metadata_response(document);
    let paths = latchkey_http::protected_resource_metadata_paths(document);
    move |cfg: &mut web::ServiceConfig| {
        for path in paths {
            let response = response.clone();
            cfg.route(
                &path,
                web::get().to(move || ready(into_actix_response(response.clone()))),
            );
        }
    }
}

/// Middleware requiring a valid access token (`ResourceServer::guard`); the
/// validated token goes into the request extensions for [`AccessToken`].
#[derive(Clone, Debug)]
pub struct RequireAccessToken {
    resource_server: Arc<ResourceServer>,
    scopes: Option<Scope>,
}

impl RequireAccessToken {
    /// Protection by `resource_server`, requiring its default scopes.
    pub fn new(resource_server: Arc<ResourceServer>) -> Self {
        Self {
            resource_server,
            scopes: None,
        }
    }

    /// This protection requiring `scopes` instead (every scope the route
    /// needs: a 403 names them all, MCP R11).
    pub fn require_scopes(mut self, scopes: Scope) -> Self {
        self.scopes = Some(scopes);
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
        let scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| self.resource_server.default_scopes().clone());
        ready(Ok(RequireAccessTokenMiddleware {
            service: Rc::new(service),
            resource_server: Arc::clone(&self.resource_server),
            scopes,
        }))
    }
}

/// The service [`RequireAccessToken`] wraps a route in.
#[derive(Debug)]
pub struct RequireAccessTokenMiddleware<S> {
    service: Rc<S>,
    resource_server: Arc<ResourceServer>,
    scopes: Scope,
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
        let scopes = self.scopes.clone();
        Box::pin(async move {
            let Some(parts) = request_parts(request.request()) else {
                let refusal = into_actix_response(refusal_response(&HttpError::MalformedHead));
                return Ok(request.into_response(refusal).map_into_right_body());
            };
            match rs.guard(RequestHead::from(&parts), &scopes, now).await {
                Ok(token) => {
                    request.extensions_mut().insert(AccessToken(token));
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(refusal) => {
                    let response = into_actix_response(refusal);
                    Ok(request.into_response(response).map_into_right_body())
                }
            }
        })
    }
}

/// The head of `request` on the `http` types (method, the request target as
/// sent, headers in order), or `None` when a part does not convert (actix
/// and `http` accept the same grammar, so only a malformed request).
pub fn request_parts(request: &HttpRequest) -> Option<http::request::Parts> {
    let mut builder = http::Request::builder()
        .method(request.method().as_str())
        .uri(request.uri().to_string());
    for (name, value) in request.headers() {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder.body(()).ok().map(|request| request.into_parts().0)
}

/// An `http` response (the guard's answer) as an [`HttpResponse`]; a status
/// or header actix cannot carry becomes a generic `500 server_error`.
pub fn into_actix_response(response: http::Response<Bytes>) -> HttpResponse {
    let (parts, body) = response.into_parts();
    let Ok(status) = StatusCode::from_u16(parts.status.as_u16()) else {
        return internal_error(&ActixError::ResponseEncoding);
    };
    let mut builder = HttpResponse::build(status);
    for (name, value) in &parts.headers {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(body)
}

/// The generic `500 server_error` for a set-up fault, logged without detail
/// from the request.
fn internal_error(error: &ActixError) -> HttpResponse {
    tracing::error!(target: "latchkey::actix", %error, "internal failure");
    let response = server_error();
    let mut builder = HttpResponse::InternalServerError();
    for (name, value) in response.headers() {
        builder.append_header((name.as_str(), value.as_bytes()));
    }
    builder.body(response.into_body())
}

/// The validated access token of a request protected by
/// [`RequireAccessToken`]; on a route without it, extraction fails with
/// [`ActixError::RouteNotProtected`] (a generic `500`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken(latchkey_http::AccessToken);

/// `claims()` and the rest of `latchkey_http::AccessToken`, as actix's own
/// extractors (`web::Json`, `web::Data`) give their contents.
impl std::ops::Deref for AccessToken {
    type Target = latchkey_http::AccessToken;

    fn deref(&self) -> &latchkey_http::AccessToken {
        &self.0
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
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        internal_error(self)
    }
}
