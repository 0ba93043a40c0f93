//! latchkey-upstream: signing people in through the identity provider a team
//! already has, over OpenID Connect or plain OAuth 2.0, without any I/O.
//!
//! Latchkey stays the authorization server for MCP clients; only "who is this
//! person" goes upstream. This crate is the protocol core of that question:
//! the server reads the configuration, fetches documents, sets cookies and
//! sends HTTP requests, and calls these functions in between.
//!
//! 1. [`ProviderConfig`] (`[[identity_providers]]` in TOML) →
//!    [`ProviderConfig::validate`] → [`Provider`]; the secret through
//!    [`ProviderConfig::resolve_client_secret`].
//! 2. `oidc`: fetch [`Provider::discovery_url`], then
//!    [`Endpoints::from_discovery`]; `oauth2`: [`Endpoints::from_config`].
//! 3. [`begin`]: the authorization request URL and a [`PendingUpstream`] to keep
//!    (sealed cookie or store row, [`PendingUpstream::encode`]).
//! 4. At `/latchkey/callback/{id}`: [`complete_callback`] checks the response
//!    against the pending request and yields the [`TokenRequest`].
//! 5. POST it; [`TokenResponse::parse`] the answer.
//! 6. `oidc`: [`validate_id_token`] with the provider's JWK Set (on
//!    [`UpstreamError::IdTokenUnknownKey`], fetch the set again once and
//!    retry). `oauth2`: GET [`TokenResponse::userinfo_request`], then
//!    [`UpstreamIdentity::from_userinfo`].
//! 7. [`Provider::admit`] applies `allowed_email_domains` and
//!    `allowed_subjects`; [`UpstreamIdentity::local_subject`] is the subject
//!    of Latchkey's own tokens, `{provider id}:{upstream subject}`.
//!
//! Every refusal is an [`UpstreamError`]: one line for `latchkey check` and
//! the log ([`Display`](core::fmt::Display)), a [`Reason`] and
//! [`UpstreamError::page_message`] for the error page.
//!
//! # Specifications
//!
//! - OpenID Connect Core 1.0: section 2 (ID token claims, `sub` at most 255
//!   ASCII characters), 3.1.2.1 (authentication request: `openid` scope,
//!   `nonce`), 3.1.2.6 (error codes), 3.1.3.3 (token response: `id_token`,
//!   `token_type` Bearer), 3.1.3.7 (ID token validation, every step that
//!   applies), 3.1.3.8 and 3.2.2.9 (`at_hash`), 5.1 (`email_verified`), 5.7
//!   (an email is not an identifier), 9 (client authentication), 10.1.1 (key
//!   rotation: refetch on an unknown `kid`).
//! - OpenID Connect Discovery 1.0: section 2 (issuer form), 3 (required
//!   metadata), 4 (the `/.well-known/openid-configuration` URL), 4.3 (the
//!   issuer must be identical).
//! - RFC 6749: section 2.3.1 (`client_secret_basic`, form-urlencoding before
//!   base64), 3.1 (endpoint queries kept, parameters never repeated), 4.1.1 to
//!   4.1.3 (the code flow), 5.1 and 5.2 (token responses), 10.12 (`state`).
//! - RFC 7636: section 4.1 to 4.5 (PKCE, S256 only, through `latchkey-pkce`).
//! - RFC 9207: sections 2.4 and 3 (`iss` in the authorization response).
//! - RFC 9700: section 2.1.1 (PKCE required), 4.4 (mix-up: exact issuers), 4.7
//!   (CSRF: `state` bound to the browser, compared in constant time).
//! - RFC 8725: section 3.1 (algorithm allow-list), 3.11 (`typ`).
//!
//! # Not done here
//!
//! No sockets, files, environment variables, clock or OS randomness: the
//! caller passes `now` and a [`rand_core::CryptoRng`], reads files and the
//! environment through [`ProviderConfig::resolve_client_secret`]'s arguments,
//! and fetches documents. No implicit or hybrid flow, no `form_post`, no
//! encrypted ID tokens, no `private_key_jwt` client authentication, no MAC
//! (`HS*`) or `none` ID tokens, no `acr`/`auth_time`/`max_age`, no refresh of
//! upstream tokens, and no upstream token ever given to an MCP client (no
//! token passthrough). GitHub's separate verified-email API is not used: an
//! `oauth2` identity without `email_verified: true` has no verified email,
//! and a provider with `allowed_email_domains` refuses it.
//!
//! # Example
//!
//! The `oauth2` flow end to end (the `oidc` one is in the crate README):
//!
//! ```
//! use latchkey_types::UnixTime;
//! use latchkey_upstream::*;
//! use rand_core::SeedableRng;
//!
//! let config: ProviderConfig = toml::from_str(r#"
//!     id = "github"
//!     kind = "oauth2"
//!     display_name = "GitHub"
//!     client_id = "Iv1.abc"
//!     client_secret = "from-the-app-settings"
//!     scopes = ["read:user"]
//!     authorization_endpoint = "https://github.com/login/oauth/authorize"
//!     token_endpoint = "https://github.com/login/oauth/access_token"
//!     userinfo_endpoint = "https://api.github.com/user"
//!     subject_field = "id"
//!     token_endpoint_auth_method = "client_secret_post"
//! "#)?;
//! let provider = config.validate()?;
//! let secret = config.resolve_client_secret(None, |_| None)?;
//! let endpoints = Endpoints::from_config(&provider).expect("oauth2 provider");
//! let callback = CallbackUrl::new("https://auth.example.com", provider.id())?;
//!
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
//! let now = UnixTime::from_secs(1_700_000_000);
//! let (redirect, pending) = begin(&provider, &endpoints, &callback, now, &mut rng);
//! assert!(redirect.as_str().starts_with("https://github.com/login/oauth/authorize?"));
//! let cookie = pending.encode(); // seal it; it holds the PKCE verifier
//!
//! // The browser comes back with the state that was sent.
//! let state = url::form_urlencoded::parse(redirect.as_str().split_once('?').unwrap().1.as_bytes())
//!     .find(|(name, _)| name == "state").unwrap().1.into_owned();
//! let query = format!("code=abc&state={state}");
//! let pending = PendingUpstream::decode(cookie.expose_secret())?;
//! let later = UnixTime::from_secs(1_700_000_030);
//! let redemption = complete_callback(
//!     &provider, &endpoints, pending, &callback, &query, &secret, later,
//!     &UpstreamPolicy::default(),
//! )?;
//! assert_eq!(redemption.token_request.endpoint(), "https://github.com/login/oauth/access_token");
//!
//! let tokens = TokenResponse::parse(
//!     provider.kind(), 200, br#"{"access_token":"gho_x","token_type":"bearer"}"#)?;
//! let userinfo = tokens.userinfo_request(&endpoints).expect("userinfo endpoint");
//! assert_eq!(userinfo.authorization.expose_secret(), "Bearer gho_x");
//! let person = UpstreamIdentity::from_userinfo(
//!     &provider, br#"{"id":583231,"login":"octocat","name":"The Octocat"}"#)?;
//! provider.admit(&person)?;
//! assert_eq!(person.local_subject().as_str(), "github:583231");
//! assert_eq!(person.name(), Some("The Octocat"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod callback;
mod config;
mod discovery;
mod error;
mod id_token;
mod identity;
mod request;
mod token;

#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod testing;

/// The README's examples run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use callback::{
    CallbackParams, Expected, MAX_CALLBACK_QUERY_LEN, Redemption, TokenRequest,
    basic_authorization, complete_callback,
};
pub use config::{
    CallbackUrl, ClientAuthMethod, ClientSecret, EmailDomain, Provider, ProviderConfig, ProviderId,
    ProviderKind, validate_all,
};
pub use discovery::{Endpoints, ID_TOKEN_ALGORITHMS};
pub use error::{ProviderErrorCode, Reason, UpstreamError};
pub use id_token::{IdTokenClaims, MAX_ID_TOKEN_LEN, access_token_hash, validate_id_token};
pub use identity::{MAX_USERINFO_LEN, UpstreamIdentity};
pub use request::{AuthorizationRedirect, PendingUpstream, UpstreamPolicy, begin};
pub use token::{MAX_TOKEN_RESPONSE_LEN, TokenResponse, UserinfoRequest};
