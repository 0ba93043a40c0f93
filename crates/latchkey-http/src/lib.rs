//! latchkey-http: everything between HTTP and Latchkey's cores, for the
//! authorization server and for an MCP resource server, on the `http` and
//! `bytes` types, so that every framework adapter answers byte for byte the
//! same. The adapters (`latchkey-axum`, `latchkey-actix`) only register
//! routes, collect bodies within [`MAX_BODY_LEN`], read the clock, seed an
//! RNG and convert types.
//!
//! - [`AuthorizationServer`]: every authorization-server endpoint of a
//!   `latchkey_engine::Engine`. [`AuthorizationServer::handle`] takes an
//!   `http::Request<Bytes>`, the time and an RNG and returns the
//!   `http::Response<Bytes>`; its [`Routes`] come from the configured
//!   endpoint URLs; login and consent plug in through the one
//!   [`InteractionHandler`] trait.
//! - [`error_page`] and [`security_headers`]: the page shown instead of a
//!   redirect, and the headers every authorization-server response carries.
//! - [`form_pairs`]: the one strict `application/x-www-form-urlencoded` decoder.
//! - [`cache_ttl`]: how long a fetched document may be kept, from its `Cache-Control`.
//! - The readers of a server's own sign-in and consent pages: [`PageForm`],
//!   [`ConsentChoice`], [`parse_remember`], [`query_request_id`], the
//!   cookies ([`cookie`], [`session_cookie`], [`looks_like_session_id`]) and
//!   the client address behind trusted proxies ([`TrustedProxies`],
//!   `X-Forwarded-For`).
//! - [`mark_sensitive`] and [`SENSITIVE_HEADERS`]: credentials redacted.
//! - [`ResourceServer`]: the configuration and the guard.
//!   [`ResourceServer::guard`] takes a request head ([`RequestHead`], e.g.
//!   from `http::request::Parts`) and the time, and returns the validated
//!   [`AccessToken`] or the refusal as an `http::Response<Bytes>`;
//!   [`ResourceServer::check`] is its synchronous part with a typed
//!   [`HttpError`].
//! - [`RequireAccessTokenLayer`] and [`OriginLayer`]: the guard as a
//!   `tower::Layer` for any tower or hyper service (axum's routers among them).
//! - [`protected_resource_metadata_paths`] and
//!   [`protected_resource_metadata_response`]: where and how the RFC 9728
//!   document is served.
//!
//! # What it implements
//!
//! At the authorization server:
//!
//! - Routing by the configured URLs: OAuth 2.1 sections 3.1 and 3.2 and
//!   4.1.1 (authorization and token endpoints), RFC 7009 section 2, RFC 7662
//!   section 2, RFC 7591 section 3 and RFC 7592 section 2 (`GET`/`PUT`/
//!   `DELETE` `{registration endpoint}/{client_id}`), RFC 7517 section 5
//!   (JWKS), RFC 8414 section 3.1 (metadata with path insertion) and OpenID
//!   Connect Discovery 1.0 section 4 (both MCP 2025-11-25 locations, when
//!   the profile serves them). Another method is `405` with `Allow` (RFC
//!   9110 section 15.5.6).
//! - OAuth 2.1 sections 3.1 and 3.2: one `Authorization` header; form
//!   bodies only as `application/x-www-form-urlencoded`, registration only as
//!   `application/json` (RFC 9110 section 8.3.1: media type compared
//!   case-insensitively, parameters ignored); bodies of at most 64 KiB
//!   (`413`), authorization queries of at most 32 KiB; strict form decoding
//!   (OAuth 2.1 appendix B: invalid percent-encoding or non-UTF-8 is
//!   `invalid_request`, never a replacement character); parameters sent more
//!   than once refused through `latchkey_engine::Params`.
//! - OAuth 2.1 section 4.1.2.1 and RFC 9700 section 4.11.2: the error page
//!   instead of a redirect, from a compiled template with automatic HTML
//!   escaping; RFC 9700 section 4.16 (no framing) and no caching, sniffing
//!   or `Referer` on every response the layer makes.
//! - RFC 9449 section 4.3: every `DPoP` value goes to the engine with the
//!   configured endpoint URL as `htu`, never one built from `Host`.
//!
//! At the resource server:
//!
//! - RFC 6750 section 2.1 (`Authorization: Bearer`, scheme case-insensitive
//!   per RFC 9110 section 11.1), section 2.3 refused as OAuth 2.1 section
//!   5.1.2 says (`access_token` in the query: `400 invalid_request`), section 3
//!   and 3.1 (`WWW-Authenticate` challenges; no `error` without credentials;
//!   `invalid_token` `401`, `insufficient_scope` `403`).
//! - OAuth 2.1 section 3.2: a repeated `Authorization` header is `400`.
//! - RFC 9068 section 4 through `latchkey_token::AccessTokenValidator`
//!   (signature, issuer, audience, lifetime), with a rate-limited key refresh
//!   when a token names an unknown `kid` (RFC 7517 section 4.5).
//! - RFC 9449 sections 4.3 (proof checks; `htu` = the configured resource
//!   origin plus the request path, never the `Host` header), 6.1 (`cnf.jkt`
//!   binding), 7.1 (`DPoP` scheme, `algs`, `invalid_dpop_proof`), 8 and 9
//!   (server nonces at the resource server: when the DPoP policy has
//!   `nonces`, a proof without a current one gets `401 use_dpop_nonce` with a
//!   fresh `DPoP-Nonce`), 11.1 (a replay cache bounded in size and per token
//!   holder).
//! - RFC 9728 section 3.1 (metadata at the path-inserted well-known URL and
//!   the root, MCP R3') and section 5.1 (`resource_metadata` in every challenge).
//! - MCP R15 and RFC 6454 sections 4 and 6.1: a present `Origin` must be an
//!   allowed one, else `403`. Scheme and host of an origin are
//!   case-insensitive; allowed origins are kept lowercase and the header is
//!   ASCII-lowercased before the comparison, so `HTTPS://App.Example.com`
//!   matches `https://app.example.com` and nothing else does. A repeated
//!   `Origin` or one that is not visible ASCII is refused.
//! - RFC 7662 sections 2.1 and 2.2 ([`Introspection`]): opaque tokens, or
//!   every token, introspected at the issuer; the answer must be `active`,
//!   from the configured `iss`, for this resource (`aud`), within `exp` and
//!   `nbf`; a `cnf.jkt` binds it as for a JWT. No usable answer is `503`
//!   (fail closed). Accepted answers are cached by the token's SHA-256,
//!   never past `exp` nor the TTL, in bounded space.
//! - A bounded cache of validated JWTs ([`ResourceServer::with_token_cache`]),
//!   by the token's SHA-256, never past `exp`: a repeated token skips the
//!   signature check, never the DPoP, scope, `Origin` or revocation checks.
//! - The revocation check (`latchkey_engine::RevocationCheck`) after every
//!   other check: revoked or unknown `401 invalid_token`, unavailable `503`
//!   (fail closed).
//!
//! # What it deliberately does not do
//!
//! No clock or RNG reads: `now` is a parameter, and the layer takes a
//! [`Clock`] function from the adapter. No sockets (the key refresh goes
//! through the caller's `latchkey_remote_keys::KeySource`). No framework
//! types: the adapters convert their requests and responses. Introspection
//! requests go through the caller's `latchkey_remote_keys::Introspect` (the
//! HTTP one is `RemoteIntrospection`). No login or consent page (the
//! [`InteractionHandler`] is the server's), no CORS.
//!
//! ```
//! use std::sync::Arc;
//! use latchkey_http::{HttpError, RequestHead, ResourceServer};
//! use latchkey_jose::{Algorithm, SigningKey};
//! use latchkey_token::{AccessTokenValidator, KeySet};
//! use latchkey_types::{Scope, UnixTime};
//! use latchkey_uri::{AudienceMatch, ResourceUri};
//! use rand_core::SeedableRng;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let keys = KeySet::new(SigningKey::generate(Algorithm::Es256, "k1".to_owned(), &mut rng))?;
//! let resource = ResourceUri::parse("https://mcp.example.com/mcp")?;
//! let validator = AccessTokenValidator::new(
//!     keys.jwks(),
//!     "https://as.example.com".to_owned(),
//!     resource.clone(),
//!     AudienceMatch::Exact,
//! );
//! let rs = Arc::new(
//!     ResourceServer::new(resource, validator)
//!         .with_default_scopes(Scope::parse("mcp:read")?)
//!         .with_allowed_origins(["https://app.example.com".to_owned()]),
//! );
//! let (parts, ()) = http::Request::get("/mcp").body(())?.into_parts();
//! let now = UnixTime::from_secs(1_800_000_000);
//! let refused = rs.check(RequestHead::from(&parts), rs.default_scopes(), now);
//! assert_eq!(refused, Err(HttpError::MissingToken));
//! let response = rs.refusal(&HttpError::MissingToken, rs.default_scopes(), now);
//! assert_eq!(response.status(), 401);
//! // Any tower service: `RequireAccessTokenLayer::new(Arc::clone(&rs), clock)`.
//! # Ok(())
//! # }
//! ```

mod authorization;
mod cache;
mod cache_control;
mod cookie;
mod error;
mod form;
mod forwarded;
mod introspection;
mod layer;
mod page;
mod page_form;
mod resource;
mod sensitive;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

pub use authorization::{
    AuthorizationServer, CLIENT_ID_PLACEHOLDER, Endpoint, Interaction, InteractionHandler, Routes,
    refusal_response,
};
pub use cache_control::cache_ttl;
pub use cookie::{cookie, looks_like_session_id, session_cookie};
pub use error::HttpError;
pub use form::{
    FORM_CONTENT_TYPE, JSON_CONTENT_TYPE, MAX_BODY_LEN, MAX_QUERY_LEN, declared_too_large,
    form_pairs,
};
pub use forwarded::{MAX_FORWARDED_HOPS, TrustedProxies, TrustedProxyError};
pub use introspection::{Introspection, IntrospectionMode};
pub use layer::{
    Admit, Clock, OriginLayer, RequestUri, RequireAccessToken, RequireAccessTokenLayer,
    ValidateOrigin,
};
pub use page::{error_page, security_headers};
pub use page_form::{ConsentChoice, PageForm, PageFormError, parse_remember, query_request_id};
pub use resource::{
    AccessToken, DPOP, DPOP_NONCE, RequestHead, ResourceServer, Scheme, into_response,
    parse_authorization, protected_resource_metadata_paths, protected_resource_metadata_response,
    server_error,
};
pub use sensitive::{SENSITIVE_HEADERS, is_sensitive, mark_sensitive};
