//! The authorization server routes: `latchkey_http::AuthorizationServer`
//! mounted on actix-web. Every rule is in `latchkey-http`; this module
//! registers its paths, collects the body within the limit, reads the clock,
//! seeds the RNG and converts between actix's types and the `http` types.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use latchkey_engine::MetadataFetcher;
use latchkey_http::{
    AuthorizationServer, HttpError, MAX_BODY_LEN, declared_too_large, refusal_response,
    server_error,
};
use latchkey_store::Store;

use crate::resource::{into_actix_response, request_parts};
use crate::translate::{now, request_rng};

/// The routes of `server`, for [`actix_web::App::configure`]: every
/// endpoint at the paths of its configured URLs ([`latchkey_http::Routes`]):
/// authorization, token, revocation, introspection, registration and
/// `{registration}/{client_id}` (RFC 7592), JWKS,
/// `/.well-known/oauth-authorization-server{issuer path}` (RFC 8414 section
/// 3.1) and, when the profile serves it, both OpenID Connect discovery
/// locations. Each path takes every method: the layer answers `405` with
/// `Allow`. Call it inside the `HttpServer::new` factory (each worker
/// builds its own `App`) with a clone of the `Arc`:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_web::{App, HttpServer};
/// use latchkey_actix::{
///     AuthorizationServer, Interaction, InteractionHandler, SensitiveHeaders,
///     authorization_server_routes,
/// };
/// use latchkey_engine::Engine;
/// use latchkey_engine::authorize::{AuthorizationDecision, PendingAuthorization};
/// use latchkey_store::MemoryStore;
///
/// /// Shows a login and consent page; here it denies everything.
/// struct Consent;
///
/// impl InteractionHandler for Consent {
///     fn interact<'a>(
///         &'a self,
///         _pending: PendingAuthorization,
///         _request: &'a http::request::Parts,
///         _now: latchkey_types::UnixTime,
///     ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Interaction> + Send + 'a>> {
///         Box::pin(async { Interaction::Decide(AuthorizationDecision::Deny) })
///     }
/// }
///
/// async fn serve(engine: Arc<Engine<MemoryStore>>) -> std::io::Result<()> {
///     let server = Arc::new(AuthorizationServer::new(engine, Arc::new(Consent)));
///     HttpServer::new(move || {
///         App::new()
///             .wrap(SensitiveHeaders)
///             .configure(authorization_server_routes(Arc::clone(&server)))
///     })
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// }
/// ```
pub fn authorization_server_routes<S, F>(
    server: Arc<AuthorizationServer<S, F>>,
) -> impl FnOnce(&mut web::ServiceConfig)
where
    S: Store + 'static,
    F: MetadataFetcher + 'static,
{
    move |cfg: &mut web::ServiceConfig| {
        for (path, _) in server.routes().patterns() {
            let server = Arc::clone(&server);
            cfg.route(
                &path,
                web::route().to(move |request: HttpRequest, payload: web::Payload| {
                    serve(Arc::clone(&server), request, payload)
                }),
            );
        }
    }
}

/// One request: the clock read once, the body collected within
/// [`MAX_BODY_LEN`], an RNG seeded from the OS, then the shared layer.
async fn serve<S: Store, F: MetadataFetcher>(
    server: Arc<AuthorizationServer<S, F>>,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let now = now();
    let Some(parts) = request_parts(&request) else {
        return into_actix_response(refusal_response(&HttpError::MalformedHead));
    };
    if declared_too_large(&parts.headers) {
        return into_actix_response(refusal_response(&HttpError::BodyTooLarge));
    }
    let body = match payload.to_bytes_limited(MAX_BODY_LEN).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => {
            return into_actix_response(refusal_response(&HttpError::BodyTooLarge));
        }
    };
    let Some(mut rng) = request_rng() else {
        return into_actix_response(server_error());
    };
    let request = http::Request::from_parts(parts, body);
    into_actix_response(server.handle(request, now, &mut rng).await)
}
