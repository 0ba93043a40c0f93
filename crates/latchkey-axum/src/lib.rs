//! latchkey-axum: the axum adapter for Latchkey. It serves a
//! `latchkey_engine::Engine` as an OAuth 2.1 authorization server and protects
//! an MCP server's routes as an OAuth 2.1 resource server.
//!
//! Every rule lives in `latchkey-http` (shared with `latchkey-actix`, so the
//! two adapters answer byte for byte alike); this crate only plugs it into
//! axum: route registration, body collection within
//! [`MAX_BODY_LEN`], the clock read once per request, an RNG per request, and
//! the body type.
//!
//! - [`authorization_server_routes`]: every endpoint of an
//!   [`AuthorizationServer`], with login and consent plugged in through an
//!   [`InteractionHandler`] (both from `latchkey-http`).
//! - [`ResourceServer`] (from `latchkey-http`), mounted with
//!   [`ResourceServerExt::require_access_token`] (per-route
//!   [`require_scopes`](RequireAccessTokenLayer::require_scopes)) and the
//!   [`AccessToken`] extractor; [`OriginLayer`];
//!   [`protected_resource_metadata_routes`].
//! - [`RemoteKeys`]: for a resource server apart from its authorization
//!   server, the issuer's JWK Set found through its RFC 8414 metadata and
//!   fetched over HTTP, and fetched again (rate-limited) when a token names an
//!   unknown `kid` ([`ResourceServer::with_key_refresh`], any [`KeySource`]).
//! - Revocation: beside the authorization server, a resource server given a
//!   [`RevocationCheck`](latchkey_engine::RevocationCheck) (for example
//!   `latchkey_engine::StoreRevocationCheck` over the engine's store) refuses
//!   a revoked token at once (`401 invalid_token`; `503` if the check cannot
//!   answer).
//!
//! The builders have the same names in `latchkey-actix`:
//! `authorization_server_routes` (formerly `authorization_server_router`
//! here, `configure_authorization_server` there) and
//! `protected_resource_metadata_routes` (formerly
//! `protected_resource_metadata_router`), and both take the same
//! [`AuthorizationServer`] and [`InteractionHandler`].
//!
//! # Mounting
//!
//! Merge [`authorization_server_routes`] and [`protected_resource_metadata_routes`]
//! at the root (their paths are absolute, taken from the configuration; do not
//! `nest` them). Put the MCP routes behind `rs.require_access_token()` (per
//! route `.require_scopes(..)`), with `rs.origin_layer()` outside it, and wrap
//! the whole application last with [`with_sensitive_headers`]. The resource
//! routes may be nested: the DPoP `htu` uses `OriginalUri` (axum feature
//! `original-uri`, turned on by this crate).
//!
//! Not done here: no TLS serving, no sessions or login UI (the server's
//! [`InteractionHandler`] does that), no panic catching (add
//! `tower_http::catch_panic` in the server if wanted), no CORS.
//!
//! Dependency note: `getrandom` (workspace dependency, `sys_rng`) for the OS
//! RNG; `latchkey-remote-keys` for [`RemoteKeys`], the only outgoing requests
//! (shared with `latchkey-actix`).
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::Router;
//! use axum::routing::post;
//! use latchkey_axum::{
//!     AccessToken, AuthorizationServer, Interaction, InteractionHandler, ResourceServer,
//!     ResourceServerExt, authorization_server_routes, protected_resource_metadata_routes,
//! };
//! use latchkey_engine::authorize::PendingAuthorization;
//! use latchkey_token::AccessTokenValidator;
//!
//! struct Consent;
//! impl InteractionHandler for Consent {
//!     fn interact<'a>(
//!         &'a self,
//!         _pending: PendingAuthorization,
//!         _request: &'a http::request::Parts,
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
//! let server = Arc::new(AuthorizationServer::new(engine, Arc::new(Consent)));
//! let app = Router::new()
//!     .route("/mcp", post(tools))
//!     .layer(rs.require_access_token())
//!     .layer(rs.origin_layer())
//!     .merge(protected_resource_metadata_routes(&prm))
//!     .merge(authorization_server_routes(server));
//! let app = latchkey_axum::with_sensitive_headers(app); // outermost, after any trace layer
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.expect("bind");
//! axum::serve(listener, app).await.expect("serve");
//! # }
//! ```

mod authorization_server;
mod resource_server;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization_server::authorization_server_routes;
pub use latchkey_http::{
    AuthorizationServer, HttpError, Interaction, InteractionHandler, Introspection,
    IntrospectionMode, MAX_BODY_LEN, MAX_QUERY_LEN, OriginLayer, RequireAccessToken,
    RequireAccessTokenLayer, ResourceServer, ValidateOrigin,
};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource_server::{AccessToken, ResourceServerExt, protected_resource_metadata_routes};
pub use translate::{now, request_rng};

/// `router` with `Authorization`, `DPoP`, `Cookie` and `Set-Cookie` values
/// marked sensitive (`latchkey_http::mark_sensitive`, so `Debug` output and
/// trace layers redact them). Apply it last, so it wraps every layer added
/// before (a `TraceLayer` included).
pub fn with_sensitive_headers(router: axum::Router) -> axum::Router {
    router
        .layer(axum::middleware::map_response(
            |mut response: axum::response::Response| async move {
                latchkey_http::mark_sensitive(response.headers_mut());
                response
            },
        ))
        .layer(axum::middleware::map_request(
            |mut request: axum::extract::Request| async move {
                latchkey_http::mark_sensitive(request.headers_mut());
                request
            },
        ))
}
