//! actix-web adapter for Latchkey: the OAuth 2.1 authorization server routes
//! of [`latchkey_engine::Engine`] and MCP resource-server protection.
//!
//! The adapter only translates. Every rule lives in `latchkey-http` (shared
//! with `latchkey-axum`, so the two adapters answer byte for byte alike);
//! this crate registers routes, collects bodies within [`MAX_BODY_LEN`],
//! reads the clock once per request, seeds a ChaCha20 RNG from the operating
//! system, and converts between actix's types and the `http` types.
//!
//! - [`authorization_server_routes`]: every endpoint of an
//!   [`AuthorizationServer`], with login and consent plugged in through an
//!   [`InteractionHandler`] (both from `latchkey-http`).
//! - [`ResourceServer`] (from `latchkey-http`), [`RequireAccessToken`]
//!   (middleware, per-route [`require_scopes`](RequireAccessToken::require_scopes)),
//!   [`AccessToken`] (extractor) and [`protected_resource_metadata_routes`]:
//!   protection of an MCP server's routes; [`request_parts`] and
//!   [`into_actix_response`] convert to and from the `http` types.
//! - Revocation: beside the authorization server, a resource server given a
//!   [`RevocationCheck`](latchkey_engine::RevocationCheck) (for example
//!   `latchkey_engine::StoreRevocationCheck` over the engine's store) refuses
//!   a revoked token at once (`401 invalid_token`; `503` if the check cannot
//!   answer).
//! - [`SensitiveHeaders`] marks credentials (`latchkey_http::SENSITIVE_HEADERS`)
//!   sensitive before logging.
//! - [`RemoteKeys`]: for a resource server apart from its authorization
//!   server, the issuer's JWK Set found through its RFC 8414 metadata and
//!   fetched over HTTP, and fetched again (rate-limited) when a token names an
//!   unknown `kid` ([`ResourceServer::with_key_refresh`], any [`KeySource`]).
//!
//! The builders have the same names in `latchkey-axum`:
//! `authorization_server_routes` (formerly `configure_authorization_server`
//! here, `authorization_server_router` there) and
//! `protected_resource_metadata_routes` (formerly
//! `configure_protected_resource_metadata`). The interaction trait is
//! `latchkey_http::InteractionHandler` in both: it returns
//! [`Interaction::Decide`] (the layer completes the authorization; the old
//! `complete_authorization` helper is `AuthorizationServer::complete`) or
//! [`Interaction::Respond`] with an `http::Response<Bytes>`.
//!
//! The sections implemented are listed in `latchkey-http`'s documentation.
//! What this crate deliberately does not do: no login or consent page (the
//! [`InteractionHandler`] is the server's), no TLS. `getrandom` (with
//! `sys_rng`) is a dependency because rand_core 0.10 no longer reaches the
//! operating system's generator itself. `latchkey-remote-keys` serves
//! [`RemoteKeys`], the only outgoing requests (shared with `latchkey-axum`).
//!
//! ```
//! use std::sync::Arc;
//!
//! use actix_web::{App, HttpResponse, web};
//! use latchkey_actix::{AccessToken, RequireAccessToken, ResourceServer};
//! use latchkey_jose::Jwks;
//! use latchkey_metadata::ProtectedResourceMetadata;
//! use latchkey_token::AccessTokenValidator;
//! use latchkey_types::Scope;
//! use latchkey_uri::{AudienceMatch, ResourceUri};
//!
//! let resource = ResourceUri::parse("https://mcp.example.com/mcp")?;
//! let validator = AccessTokenValidator::new(
//!     Jwks::default(), // the authorization server's keys
//!     "https://as.example.com".to_owned(),
//!     resource.clone(),
//!     AudienceMatch::Exact,
//! );
//! let metadata = ProtectedResourceMetadata::new(resource.as_str());
//! let rs = Arc::new(
//!     ResourceServer::new(resource, validator)
//!         .with_default_scopes(Scope::parse("mcp:read")?)
//!         .with_allowed_origins(["http://localhost:6274".to_owned()]),
//! );
//! assert_eq!(
//!     rs.resource_metadata_url(),
//!     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
//! );
//! let _app = App::new()
//!     .wrap(latchkey_actix::SensitiveHeaders)
//!     .configure(latchkey_actix::protected_resource_metadata_routes(&metadata))
//!     .service(
//!         web::resource("/mcp")
//!             .wrap(RequireAccessToken::new(Arc::clone(&rs)))
//!             .route(web::post().to(|token: AccessToken| async move {
//!                 HttpResponse::Ok().body(token.claims().sub.as_str().to_owned())
//!             })),
//!     );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authorization_server;
mod error;
mod resource;
mod sensitive;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization_server::authorization_server_routes;
pub use error::ActixError;
pub use latchkey_http::{
    AuthorizationServer, HttpError, Interaction, InteractionHandler, Introspection,
    IntrospectionMode, MAX_BODY_LEN, MAX_QUERY_LEN, ResourceServer,
};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource::{
    AccessToken, RequireAccessToken, RequireAccessTokenMiddleware, into_actix_response,
    protected_resource_metadata_routes, request_parts,
};
pub use sensitive::{SensitiveHeaders, SensitiveHeadersMiddleware, mark_sensitive};
pub use translate::{now, request_rng};
