//! actix-web adapter for Latchkey: the OAuth 2.1 authorization server routes
//! of [`latchkey_engine::Engine`] and MCP resource-server protection.
//!
//! The adapter only translates. It reads the clock once per request, seeds a
//! ChaCha20 RNG from the operating system for the requests that need one,
//! parses HTTP into the engine's types within limits (64 KiB bodies, one
//! `Authorization` header, the right `Content-Type`), calls the engine and
//! copies its [`EndpointResponse`](latchkey_engine::EndpointResponse) onto the
//! wire. Every OAuth rule lives in the core crates.
//!
//! - [`configure_authorization_server`]: every authorization server route, at
//!   the paths of the configured endpoint URLs, with an
//!   [`InteractionHandler`] for login and consent.
//! - [`ResourceServer`] (from `latchkey-http`, where every resource-server
//!   rule lives, shared with `latchkey-axum`), [`RequireAccessToken`]
//!   (middleware, per-route [`require_scopes`](RequireAccessToken::require_scopes)),
//!   [`AccessToken`] (extractor) and [`configure_protected_resource_metadata`]:
//!   protection of an MCP server's routes; [`request_parts`] and
//!   [`into_actix_response`] convert to and from the `http` types.
//! - Revocation: beside the authorization server, a resource server given a
//!   [`RevocationCheck`](latchkey_engine::RevocationCheck) (for example
//!   `latchkey_engine::StoreRevocationCheck` over the engine's store) refuses
//!   a revoked token at once (`401 invalid_token`; `503` if the check cannot
//!   answer). Apart from it, the access-token lifetime (5 minutes by default)
//!   bounds a revoked token's use until validation by introspection (RFC
//!   7662) comes to the adapters.
//! - [`SensitiveHeaders`]: credentials marked sensitive before logging.
//! - [`RemoteKeys`]: for a resource server apart from its authorization
//!   server, the issuer's JWK Set found through its RFC 8414 metadata and
//!   fetched over HTTP, and fetched again (rate-limited) when a token names an
//!   unknown `kid` ([`ResourceServer::with_key_refresh`], any [`KeySource`]).
//!
//! Sections implemented (the wire side; the rules themselves are in the cores):
//!
//! - OAuth 2.1 (draft-ietf-oauth-v2-1) sections 3.1 and 3.2 (endpoints, form
//!   bodies), 4.1.2.1 (error page instead of a redirect), 5.1.2 (no tokens in
//!   the query string), 7 (no credentials in logs).
//! - RFC 8414 section 3.1 (path insertion) and OpenID Connect Discovery 1.0
//!   section 4 with the MCP 2025-11-25 discovery order.
//! - At the resource server, through `latchkey_http` (its crate documentation
//!   lists the sections): RFC 6750 sections 2.1 and 3, RFC 9728 sections 3.1
//!   and 5.1, RFC 9449 sections 4.3, 6.1, 7.1 and 9 (DPoP, nonces included),
//!   MCP requirements R1-R15 (`/work/shared/mcp-requirements.md`), R15 being
//!   the `Origin` check.
//!
//! What it deliberately does not do: no login or consent page (the
//! [`InteractionHandler`] is the server's), no TLS, no token introspection at
//! the resource server (tokens are JWTs validated locally), no POST at the authorization endpoint. `getrandom`
//! (with `sys_rng`) is a dependency because rand_core 0.10 no longer reaches
//! the operating system's generator itself. `latchkey-remote-keys` serves
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
//!     .configure(latchkey_actix::configure_protected_resource_metadata(&metadata))
//!     .service(
//!         web::resource("/mcp")
//!             .wrap(RequireAccessToken::new(Arc::clone(&rs)))
//!             .route(web::post().to(|token: AccessToken| async move {
//!                 HttpResponse::Ok().body(token.claims().sub.as_str().to_owned())
//!             })),
//!     );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod http;
mod resource;
mod sensitive;
mod server;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use error::ActixError;
pub use http::{MAX_BODY_LEN, into_http_response, now, request_rng};
pub use latchkey_http::{HttpError, Introspection, IntrospectionMode, ResourceServer};
pub use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeySource, KeysError, KeysFuture};
#[cfg(feature = "remote-keys")]
pub use latchkey_remote_keys::{RemoteIntrospection, RemoteKeys};
pub use resource::{
    AccessToken, RequireAccessToken, RequireAccessTokenMiddleware,
    configure_protected_resource_metadata, into_actix_response, request_parts,
};
pub use sensitive::{
    SENSITIVE_HEADERS, SensitiveHeaders, SensitiveHeadersMiddleware, mark_sensitive,
};
pub use server::{
    FORM_CONTENT_TYPE, InteractionHandler, JSON_CONTENT_TYPE, complete_authorization,
    configure_authorization_server,
};
