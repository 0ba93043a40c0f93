//! Resource-server protection for axum: the guard of `latchkey-http` as
//! tower layers, the [`AccessToken`] extractor and the protected resource
//! metadata routes. Every rule lives in `latchkey_http::ResourceServer`;
//! this module only plugs it into axum (the clock, `OriginalUri`, bodies).
//!
//! Revocation: a JWT access token is checked locally, so by itself a revoked
//! token keeps working until it expires. A resource server beside the
//! authorization server (sharing its store) is given a
//! [`RevocationCheck`](latchkey_engine::RevocationCheck) with
//! `ResourceServer::with_revocation_check` (or built with
//! `ResourceServer::from_engine`) and refuses revoked tokens at once. One that
//! runs apart either accepts the token lifetime (5 minutes by default) as the
//! bound on a revoked token's use, or validates tokens by introspection (RFC
//! 7662, `ResourceServer::with_introspection` with a [`RemoteIntrospection`](crate::RemoteIntrospection)),
//! whose cache TTL is then the bound.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use latchkey_http::{RequireAccessTokenLayer, ResourceServer};
use latchkey_metadata::ProtectedResourceMetadata;

use latchkey_http::server_error;

use crate::translate::now;

/// The axum way to mount a [`ResourceServer`]: the token layer with the
/// system clock and the URI the client sent.
pub trait ResourceServerExt {
    /// A layer requiring a valid access token with the default scopes (per
    /// route: [`RequireAccessTokenLayer::require_scopes`]); the DPoP `htu`
    /// uses `OriginalUri`, so the routes may be nested.
    fn require_access_token(self: &Arc<Self>) -> RequireAccessTokenLayer;
}

impl ResourceServerExt for ResourceServer {
    fn require_access_token(self: &Arc<Self>) -> RequireAccessTokenLayer {
        self.require_access_token_with(now)
            .with_request_uri(original_uri)
            .with_admit(|extensions, token| {
                // Both types: handlers extract this crate's, and code reading
                // the extensions (rmcp hands tools the request head) may
                // look for either.
                extensions.insert(AccessToken(token.clone()));
                extensions.insert(token);
            })
    }
}

/// The URI the client sent: under `Router::nest` the request's own URI has
/// the prefix stripped, `OriginalUri` keeps it (needed for the DPoP `htu`).
fn original_uri(parts: &Parts) -> &Uri {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
}

/// The validated access token of the request, put in its extensions by the
/// layer of [`ResourceServerExt::require_access_token`]; extract it in
/// handlers behind that layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken(latchkey_http::AccessToken);

/// `claims()` and the rest of `latchkey_http::AccessToken`, as axum's own
/// extractors (`Json`, `Extension`) give their contents.
impl std::ops::Deref for AccessToken {
    type Target = latchkey_http::AccessToken;

    fn deref(&self) -> &latchkey_http::AccessToken {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = Response;

    /// The token the layer validated; without that layer, a generic `500`
    /// (a mounting mistake, never a reason to serve the request).
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AccessToken>()
            .cloned()
            .ok_or_else(|| server_error().map(Body::from))
    }
}

/// A router serving `document` (RFC 9728 section 3) at both
/// `/.well-known/oauth-protected-resource{resource path}` and
/// `/.well-known/oauth-protected-resource` (MCP R3': clients probe the
/// path-inserted URL first, then the root).
pub fn protected_resource_metadata_routes(document: &ProtectedResourceMetadata) -> Router {
    let response = latchkey_http::protected_resource_metadata_response(document);
    let mut router = Router::new();
    for path in latchkey_http::protected_resource_metadata_paths(document) {
        let response = response.clone();
        router = router.route(
            &path,
            get(move || std::future::ready(response.map(Body::from))),
        );
    }
    router
}
