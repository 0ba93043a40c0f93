//! `latchkey`: a ready OAuth 2.1 authorization server for MCP servers, in one
//! binary.
//!
//! This crate assembles the pieces: it reads the configuration
//! ([`config`]), opens the SQLite store, loads the engine secrets
//! ([`secrets`]), builds the `latchkey_engine::Engine`, and serves it through
//! the axum adapter together with the login and consent pages
//! ([`interaction`], [`pages`], [`sealed`], [`session`]) and the demo MCP server
//! ([`mcp_demo`]). It also holds the administration commands ([`admin`]). It
//! holds no protocol rule: every OAuth decision is the engine's.
//!
//! # Using it
//!
//! - `latchkey serve` with no configuration listens on `127.0.0.1:8080` with
//!   issuer `http://127.0.0.1:8080`, keeps its data in `./latchkey.db`, and
//!   creates the user `demo` on first start, printing its password once
//!   (or taking it from `LATCHKEY_DEMO_PASSWORD`). Stop it with Ctrl-C or
//!   SIGTERM: requests in flight finish first.
//! - `latchkey check [--config FILE]` prints each configuration problem on
//!   one line and exits with 1 when there is any.
//! - `latchkey users add NAME [--password-stdin] | list | remove NAME`,
//!   `latchkey clients list | add ... | remove ID | purge`, `latchkey keys list | rotate`.
//! - Settings: defaults, then the TOML file, then `LATCHKEY_*` variables (see
//!   [`config`] for every setting).
//!
//! # TLS
//!
//! With `[tls] cert = "chain.pem"` and `key = "key.pem"` (or `LATCHKEY_TLS_CERT`
//! and `LATCHKEY_TLS_KEY`) and an https issuer, the server speaks TLS itself
//! through rustls ([`tls`]); otherwise plain http, for loopback or behind a
//! TLS-terminating proxy.
//!
//! # Files
//!
//! - `<database>` (default `./latchkey.db`, with `-wal` and `-shm` files):
//!   clients, users (argon2id hashes), signing keys, grants, consents;
//!   created with mode 0600, and refused if others can read it (see
//!   [`database`]). Expired records are deleted every few minutes (see
//!   [`purge`]).
//! - `<database>.secrets`: the refresh-token rotation key and the DPoP nonce
//!   key, created with mode 0600 on first start and refused if others can read
//!   it (see [`secrets`]); the key that seals the login form is derived from
//!   it. Back it up with the database.
//!
//! # Logs
//!
//! Structured logs through `tracing` on standard error. `RUST_LOG` filters;
//! the default ([`serve::DEFAULT_LOG_FILTER`],
//! `warn,latchkey=info,latchkey::access=off`) keeps Latchkey's own events at
//! `info` and every library's (rmcp, hyper, sqlx, ...) at `warn`, and writes
//! nothing per request. Every answer carries an unpredictable
//! `x-request-id`. `RUST_LOG=warn,latchkey=info` adds one span per request
//! with that id, the method and the path (never the query, a body, a cookie,
//! a token or a redirect target) and one access line with the status and
//! the time taken (target `latchkey::access`). `Authorization`, `DPoP`,
//! `Cookie` and `Set-Cookie` are marked sensitive before any layer sees
//! them.
//!
//! Specifications it touches (the rules themselves live in the engine):
//!
//! - RFC 8414 section 2 and MCP A12: the issuer must be https, or http on a
//!   loopback host ([`config::ServerConfig::problems`]).
//! - OAuth 2.1 section 4.1.2 and MCP A8: the resource owner authenticates and
//!   consents on pages that name the client, its redirect host, the resources
//!   and the scopes.
//! - RFC 9700 section 4.4 (clickjacking): `frame-ancestors 'none'` and
//!   `X-Frame-Options: DENY` on every page; CSRF tokens on every form.
//! - RFC 9700 section 4.7 (CSRF) on the pages themselves: the consent form
//!   names the one request it showed and decides only that one; no server
//!   state exists before sign-in, so anonymous requests cannot evict a
//!   signed-in user ([`interaction`], [`sealed`], [`session`]).
//! - OpenID Connect Core 1.0 section 3.1.2.1: `prompt=login`,
//!   `select_account` and `max_age` show the login page again,
//!   `prompt=consent` the consent page, and `prompt=none` never shows a page
//!   (`login_required`, `consent_required`, section 3.1.2.6). Consent for a
//!   loopback redirect URI is remembered only when the user ticks the box;
//!   the consent page says how long a client with refresh tokens stays
//!   connected ([`interaction`]).
//! - RFC 9106: user passwords hashed with argon2id.
//! - OAuth 2.1 section 7.7 (credential guessing): failed sign-ins are limited
//!   per user name and per client address, with lockouts that double, checked
//!   before argon2 runs; unknown user names cost the same argon2 verification
//!   as wrong passwords ([`login_limit`], [`password`]).
//! - RFC 6585 section 4 and RFC 7591 section 3 ("MAY be rate-limited"):
//!   `/authorize`, `/token`, `/revoke`, `/introspect` and `/register` are
//!   rate-limited per source address, the token, revocation and
//!   introspection endpoints also per client, registrations also per source
//!   address per hour; refusals are `429` with `Retry-After` ([`rate_limit`]).
//! - RFC 9110 section 15.5.9: connections get header, body and request
//!   timeouts and a cap on how many are served at once ([`http_limits`]).
//!
//! What it deliberately does not do: it holds no OAuth rule (an OAuth rule
//! here would be a layering bug), stores no password or client secret in
//! clear, and never logs a secret, token, cookie or redirect target.
//!
//! Dependencies beyond the workspace's usual ones: `getrandom` (the OS RNG,
//! with its `sys_rng` feature for a `rand_core` 0.10 `CryptoRng`), `argon2`
//! (password hashes), `clap` (the command line) and `toml` (the config file).
//!
//! ```
//! use latchkey_server::config::ServerConfig;
//!
//! // No file, no environment: the defaults start a working server.
//! let config = ServerConfig::load(None, |_| None)?;
//! assert!(config.problems().is_empty());
//! assert_eq!(config.issuer, "http://127.0.0.1:8080");
//! # Ok::<(), latchkey_server::ServerError>(())
//! ```

pub mod admin;
pub mod config;
pub mod database;
pub mod fetcher;
pub mod http_limits;
pub mod interaction;
pub mod login_limit;
pub mod mcp_demo;
pub mod metrics;
pub mod pages;
pub mod password;
pub mod purge;
pub mod rate_limit;
pub mod sealed;
pub mod secrets;
pub mod serve;
pub mod session;
pub mod tls;
pub mod upstream;

mod error;

#[cfg(test)]
mod testing;

pub use error::ServerError;

use std::fmt;
use std::sync::Arc;

use latchkey_types::UnixTime;

/// The OS random number generator as a `rand_core` 0.10 `CryptoRng`.
///
/// Fails only if the operating system cannot supply randomness, in which case
/// nothing secure can be done and the process aborts with that message.
pub fn os_rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// The current time, read once per request or command.
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    UnixTime::from_secs(secs)
}

/// Where the HTTP layer reads the time: the system clock ([`Clock::system`])
/// in the server, a controlled one in tests. Read once per request.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> UnixTime + Send + Sync>);

impl Clock {
    /// The system clock ([`now`]).
    pub fn system() -> Self {
        Self(Arc::new(now))
    }

    /// A clock that reads `read`.
    pub fn from_fn(read: impl Fn() -> UnixTime + Send + Sync + 'static) -> Self {
        Self(Arc::new(read))
    }

    /// The current time by this clock.
    pub fn now(&self) -> UnixTime {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock(..)")
    }
}
