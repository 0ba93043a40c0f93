//! The authorization server routes: `latchkey_http::AuthorizationServer`
//! mounted on an axum [`Router`]. Every rule is in `latchkey-http`; this
//! module registers its paths, collects the body within the limit, reads
//! the clock, seeds the RNG and converts the body types.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::any;
use latchkey_engine::MetadataFetcher;
use latchkey_http::{
    AuthorizationServer, HttpError, MAX_BODY_LEN, declared_too_large, mark_sensitive,
    refusal_response, server_error,
};
use latchkey_store::Store;

use crate::translate::{now, request_rng};

/// A router serving every endpoint of `server` at the paths of its
/// configured URLs ([`latchkey_http::Routes`]): authorization, token,
/// revocation, introspection, registration and `{registration}/{client_id}`
/// (RFC 7592), JWKS, `/.well-known/oauth-authorization-server{issuer path}`
/// (RFC 8414 section 3.1) and, when the profile serves it, both OpenID
/// Connect discovery locations. Each path takes every method: the layer
/// answers `405` with `Allow`.
///
/// Request headers carrying credentials are marked sensitive before the
/// handler runs; to keep them out of a trace layer, wrap the final router
/// with [`crate::with_sensitive_headers`] after adding it.
pub fn authorization_server_routes<S, F>(server: Arc<AuthorizationServer<S, F>>) -> Router
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let mut router = Router::new();
    for (path, _) in server.routes().patterns() {
        let server = Arc::clone(&server);
        router = router.route(
            &path,
            any(move |request: Request| serve(Arc::clone(&server), request)),
        );
    }
    router
}

/// One request: the clock read once, the body collected within
/// [`MAX_BODY_LEN`], an RNG seeded from the OS, then the shared layer.
async fn serve<S, F>(server: Arc<AuthorizationServer<S, F>>, request: Request) -> Response
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let now = now();
    let (mut parts, body) = request.into_parts();
    mark_sensitive(&mut parts.headers);
    if declared_too_large(&parts.headers) {
        return refusal_response(&HttpError::BodyTooLarge).map(Body::from);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_LEN).await else {
        return refusal_response(&HttpError::BodyTooLarge).map(Body::from);
    };
    let Some(mut rng) = request_rng() else {
        return server_error().map(Body::from);
    };
    let request = axum::http::Request::from_parts(parts, body);
    server.handle(request, now, &mut rng).await.map(Body::from)
}
