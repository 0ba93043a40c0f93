//! latchkey-axum: the axum adapter for Latchkey. It serves a
//! `latchkey_engine::Engine` as an OAuth 2.1 authorization server and protects
//! an MCP server's routes as an OAuth 2.1 resource server.
//!
//! - [`authorization_server_router`]: every authorization server endpoint, with
//!   login and consent plugged in through an [`InteractionHandler`].
//! - [`ResourceServer`] (from `latchkey-http`, where every resource-server
//!   rule lives, shared with `latchkey-actix`), mounted with
//!   [`ResourceServerExt::require_access_token`] (per-route
//!   [`require_scopes`](RequireAccessTokenLayer::require_scopes)) and the
//!   [`AccessToken`] extractor; [`OriginLayer`]; [`protected_resource_metadata_router`].
//! - [`RemoteKeys`]: for a resource server apart from its authorization
//!   server, the issuer's JWK Set found through its RFC 8414 metadata and
//!   fetched over HTTP, and fetched again (rate-limited) when a token names an
//!   unknown `kid` ([`ResourceServer::with_key_refresh`], any [`KeySource`]).
//! - Revocation: beside the authorization server, a resource server given a
//!   [`RevocationCheck`](latchkey_engine::RevocationCheck) (for example
//!   `latchkey_engine::StoreRevocationCheck` over the engine's store) refuses
//!   a revoked token at once (`401 invalid_token`; `503` if the check cannot
//!   answer). Apart from it, the access-token lifetime (5 minutes by default)
//!   bounds a revoked token's use until validation by introspection (RFC
//!   7662) comes to the adapters.
//! - [`AdapterError`]: every refusal the authorization-server routes make
//!   before the engine, with its `ErrorCode` and HTTP status; the resource
//!   server's are [`HttpError`].
//!
//! # Mounting
//!
//! Merge [`authorization_server_router`] and [`protected_resource_metadata_router`]
//! at the root (their paths are absolute, taken from the configuration; do not
//! `nest` them). Put the MCP routes behind `rs.require_access_token()` (per
//! route `.require_scopes(..)`), with `rs.origin_layer()` outside it, and wrap
//! the whole application last with [`with_sensitive_headers`]. The resource
//! routes may be nested: the DPoP `htu` uses `OriginalUri` (axum feature
//! `original-uri`, turned on by this crate).
//!
//! # Translation rules (the adapter holds no OAuth rule of the engine)
//!
//! - The clock is read once per request; each request gets a ChaCha20 RNG
//!   seeded from the OS (`getrandom::SysRng`; a failing OS RNG is a generic
//!   `500 server_error`).
//! - Paths come from the engine's configured endpoint URLs, and the DPoP
//!   `htu` (`HttpContext::uri`) is the configured URL, never the `Host` header.
//! - Token, revocation and introspection need `Content-Type:
//!   application/x-www-form-urlencoded`, registration `application/json`
//!   (media type compared case-insensitively, parameters ignored); otherwise
//!   `400 invalid_request` JSON. Bodies are limited to 64 KiB (`413` with an
//!   `invalid_request` JSON body). A repeated `Authorization` header is `400
//!   invalid_request`. Every `DPoP` header value goes to the engine.
//! - `ErrorPage` outcomes of the authorization endpoint are a small escaped
//!   HTML page (`400`, `text/html; charset=utf-8`, `no-store`).
//! - `Authorization`, `DPoP`, `Cookie` and `Set-Cookie` values are marked
//!   sensitive; nothing here logs bodies or redirect targets.
//!
//! # Resource-server rules (MCP R1-R15)
//!
//! All in `latchkey_http` (its crate documentation lists them with their
//! sections), so that this adapter and `latchkey-actix` answer alike: tokens
//! only from `Authorization`, challenges with `resource_metadata` and
//! `scope`, DPoP with optional server nonces, `Origin` with scheme and host
//! compared case-insensitively, the revocation check. This crate adds the
//! system clock and `OriginalUri`.
//!
//! Not done here: no TLS serving, no sessions or login UI (the server's
//! [`InteractionHandler`] does that), no panic catching (add
//! `tower_http::catch_panic` in the server if wanted), no CORS.
//!
//! Dependency note: `getrandom` (workspace dependency, `sys_rng`) for the OS
//! RNG; `thiserror` for [`AdapterError`]; `latchkey-remote-keys` for
//! [`RemoteKeys`], the only outgoing requests (shared with `latchkey-actix`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::Router;
//! use axum::routing::post;
//! use latchkey_axum::{
//!     AccessToken, Interaction, InteractionHandler, ResourceServer, ResourceServerExt,
//!     authorization_server_router, protected_resource_metadata_router,
//! };
//! use latchkey_engine::authorize::PendingAuthorization;
//! use latchkey_token::AccessTokenValidator;
//!
//! struct Consent;
//! impl InteractionHandler for Consent {
//!     fn interact<'a>(
//!         &'a self,
//!         _pending: PendingAuthorization,
//!         _request: &'a axum::http::request::Parts,
//!         _now: latchkey_types::UnixTime,
//!     ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Interaction> + Send + 'a>> {
//!         // A real server stores `pending` and renders its login page here.
//!         Box::pin(async { Interaction::Decide(latchkey_engine::authorize::AuthorizationDecision::Deny) })
//!     }
//! }
//!
//! async fn tools(token: AccessToken) -> String {
//!     format!("hello {}", token.claims().sub.as_str())
//! }
//!
//! # async fn run(engine: Arc<latchkey_engine::Engine<latchkey_store::MemoryStore>>) {
//! let resource = engine.config().default_resource.clone();
//! let validator = AccessTokenValidator::new(
//!     engine.keys().jwks(),
//!     engine.config().issuer.clone(),
//!     resource.clone(),
//!     latchkey_uri::AudienceMatch::Exact,
//! );
//! let rs = Arc::new(
//!     ResourceServer::new(resource.clone(), validator)
//!         .with_default_scopes(latchkey_types::Scope::parse("mcp:read").expect("scope"))
//!         .with_allowed_origins(vec!["https://app.example.com".to_owned()]),
//! );
//! let prm = engine.protected_resource_metadata_document(&resource).expect("configured");
//! let app = Router::new()
//!     .route("/mcp", post(tools))
//!     .layer(rs.require_access_token())
//!     .layer(rs.origin_layer())
//!     .merge(protected_resource_metadata_router(&prm))
//!     .merge(authorization_server_router(engine, Arc::new(Consent)));
//! let app = latchkey_axum::with_sensitive_headers(app); // outermost, after any trace layer
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.expect("bind");
//! axum::serve(listener, app).await.expect("serve");
//! # }
//! ```

mod authorization_server;
mod error;
mod resource_server;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization_server::{Interaction, InteractionHandler, authorization_server_router};
pub use error::AdapterError;
pub use latchkey_http::{
    HttpError, Introspection, IntrospectionMode, OriginLayer, RequireAccessToken,
    RequireAccessTokenLayer, ResourceServer, ValidateOrigin,
};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource_server::{AccessToken, ResourceServerExt, protected_resource_metadata_router};
pub use translate::{MAX_BODY_LEN, MAX_QUERY_LEN, now};

/// `router` with `Authorization`, `DPoP`, `Cookie` and `Set-Cookie` values
/// marked sensitive (so `Debug` output and trace layers redact them). Apply it
/// last, so it wraps every layer added before (a `TraceLayer` included).
pub fn with_sensitive_headers(router: axum::Router) -> axum::Router {
    router
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                translate::mark_sensitive(response.headers_mut());
                response
            },
        ))
        .layer(axum::middleware::map_request(
            |mut request: axum::extract::Request| async move {
                translate::mark_sensitive(request.headers_mut());
                request
            },
        ))
}
