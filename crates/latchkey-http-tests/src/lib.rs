//! The HTTP-level test suite every Latchkey adapter runs against a live server.
//!
//! An adapter's test starts a server on `127.0.0.1:0` built from the fixture
//! ([`fixture_engine`], with issuer = the bound base URL), returns a
//! [`TestTarget`], and expands [`http_suite!`], which makes one `#[tokio::test]`
//! per case in [`cases`]. The cases talk HTTP/1.1 through the tiny client in
//! [`client`] (`Connection: close`, read to EOF, chunked decoding), so they see
//! exactly the bytes a real client would.
//!
//! Specifications the cases check on the wire: RFC 8414 section 3 (metadata at
//! the path-inserted well-known URL, `issuer` byte for byte), OpenID Connect
//! Discovery 1.0 section 4 and MCP 2025-11-25 discovery order, RFC 7517 section 5
//! (JWKS), RFC 7591 section 3 (registration), OAuth 2.1 sections 4.1 and 4.3
//! with RFC 7636 (code flow with PKCE, refresh), RFC 7009 and RFC 7662
//! (revocation, introspection), OAuth 2.1 section 3.2.3 (`Cache-Control:
//! no-store`), RFC 6750 section 3 and RFC 9728 section 5.1 (challenges), RFC
//! 9728 section 3 (protected resource metadata), RFC 9449 sections 4 and 7
//! (DPoP), MCP R3-R15.
//!
//! What the server under test must serve (both adapters build the same thing):
//!
//! - every authorization server route of the engine from [`fixture_engine`],
//!   with the test interaction behaviour: approve as subject `alice`
//!   ([`TEST_SUBJECT`]), `auth_time` = now, `remember_consent` false;
//! - the resource [`fixture_resource_uri`] (`{base}/mcp`) protected by a token
//!   validator over the engine's JWKS, issuer = base, exact audience, allowed
//!   origins [`ALLOWED_ORIGIN`], revocation checked in the engine's store
//!   (`latchkey_engine::StoreRevocationCheck`): `GET`/`POST` [`RESOURCE_PATH`] needing
//!   [`DEFAULT_SCOPE`], `GET` [`ADMIN_PATH`] needing [`ADMIN_SCOPES`]; both
//!   answer `200` with JSON `{"sub", "client_id", "scope"}` from the token;
//! - `GET` [`NONCE_PATH`], the same but for a second resource server of the
//!   same resource (`ResourceServer::from_engine`, allowed origins
//!   [`ALLOWED_ORIGIN`]) whose DPoP policy is [`nonce_dpop_config`];
//! - the protected resource metadata of that resource at both well-known URLs.
//!
//! The test interaction behaviour is [`test_decision`] (framework-neutral:
//! each adapter's test wraps it in its own handler type).
//! `tests/identical.rs` starts both adapters from this fixture, sends the same
//! script of requests and compares status, `Content-Type`, `Cache-Control`,
//! `Pragma`, parsed `WWW-Authenticate` challenges, `Location` parameters and
//! JSON bodies, with random values (tokens, codes, `jti`, client ids, key
//! coordinates) and `error_description` texts masked and the base URL replaced.
//!
//! Deliberately not here: no server code (each adapter starts its own), no
//! TLS, no HTTP/2, no keep-alive.
//!
//! ```no_run
//! // In crates/latchkey-<adapter>/tests/http_suite.rs:
//! async fn start() -> latchkey_http_tests::TestTarget {
//!     // bind 127.0.0.1:0, build fixture_engine(&base), serve, then:
//!     latchkey_http_tests::TestTarget::new("http://127.0.0.1:1234".to_owned())
//! }
//! latchkey_http_tests::http_suite!(start());
//! ```

pub mod cases;
pub mod client;
pub mod dpop;
pub mod foreign_issuer;
pub mod forms;
pub mod remote_keys;

use std::sync::Arc;

use latchkey_engine::authorize::AuthorizationDecision;
use latchkey_engine::{Engine, EngineConfig, EngineSecrets, NoMetadataFetcher, ResourceConfig};
use latchkey_store::{ClientRecord, ClientStore, MemoryStore};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::ResourceUri;
use rand_core::SeedableRng;

/// A running server under test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestTarget {
    /// The base URL, `http://127.0.0.1:{port}`, which is also the issuer.
    pub base: String,
}

impl TestTarget {
    /// A target at `base` (no trailing slash).
    pub fn new(base: String) -> Self {
        Self { base }
    }

    /// `base` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The path of the protected test resource (also the resource URI's path).
pub const RESOURCE_PATH: &str = "/mcp";
/// A protected route needing more scope than the default (for step-up, MCP R11).
pub const ADMIN_PATH: &str = "/mcp/admin";
/// The scopes the protected resource understands.
pub const SCOPES_SUPPORTED: &str = "mcp:read mcp:write";
/// The scope [`RESOURCE_PATH`] needs, and the default granted scope.
pub const DEFAULT_SCOPE: &str = "mcp:read";
/// The scopes [`ADMIN_PATH`] needs.
pub const ADMIN_SCOPES: &str = "mcp:read mcp:write";
/// The one `Origin` the protected routes allow (MCP R15).
pub const ALLOWED_ORIGIN: &str = "http://localhost:6274";
/// The path of a second resource, for wrong-audience tokens (MCP R6).
pub const OTHER_RESOURCE_PATH: &str = "/other";
/// The subject the test interaction handler approves as.
pub const TEST_SUBJECT: &str = "alice";
/// A pre-registered confidential client (`client_secret_post`,
/// `client_credentials`, scope [`SCOPES_SUPPORTED`]), also allowed to introspect.
pub const BACKEND_CLIENT: &str = "backend";
/// The secret of [`BACKEND_CLIENT`].
pub const BACKEND_SECRET: &str = "correct horse battery staple";
/// The seed of the RNG [`fixture_engine`] draws keys from.
pub const FIXTURE_SEED: u64 = 4242;
/// A route of the test resource whose resource server requires DPoP server
/// nonces (RFC 9449 section 9), with the policy [`nonce_dpop_config`].
pub const NONCE_PATH: &str = "/mcp/nonce";

/// The DPoP policy of the resource server at [`NONCE_PATH`]: the default
/// one, with nonces from a fixed key, so both adapters issue the same nonces.
pub fn nonce_dpop_config() -> latchkey_dpop::DpopConfig {
    let mut config = latchkey_dpop::DpopConfig::default();
    let key = latchkey_dpop::NonceKey::new(&[42; 32]).expect("a 32-byte nonce key");
    config.nonces = Some(latchkey_dpop::DpopNonces::new(key));
    config
}

/// The fixture's engine configuration for a server at `base`: issuer `base`,
/// default endpoints, resources `{base}/mcp` (scopes [`SCOPES_SUPPORTED`],
/// default [`DEFAULT_SCOPE`]) and `{base}/other` (scope `other:read`), and
/// [`BACKEND_CLIENT`] allowed to introspect.
pub fn fixture_engine_config(base: &str) -> EngineConfig {
    let mut config = EngineConfig::new(base, fixture_resource_uri(base))
        .expect("the fixture configuration is valid");
    if let Some(resource) = config.resources.first_mut() {
        resource.scopes_supported = scope(SCOPES_SUPPORTED);
        resource.default_scope = scope(DEFAULT_SCOPE);
        resource.name = Some("Latchkey test resource".to_owned());
    }
    let mut other = ResourceConfig::new(other_resource_uri(base));
    other.scopes_supported = scope("other:read");
    other.default_scope = scope("other:read");
    config.resources.push(other);
    config.introspection_clients = vec![ClientId::parse(BACKEND_CLIENT).expect("valid client id")];
    config
}

/// The protected test resource, `{base}/mcp`.
pub fn fixture_resource_uri(base: &str) -> ResourceUri {
    ResourceUri::parse(&format!("{base}{RESOURCE_PATH}")).expect("valid resource uri")
}

/// The second resource, `{base}/other`.
pub fn other_resource_uri(base: &str) -> ResourceUri {
    ResourceUri::parse(&format!("{base}{OTHER_RESOURCE_PATH}")).expect("valid resource uri")
}

/// The fixture engine for a server at `base`: [`fixture_engine_config`] over a
/// fresh [`MemoryStore`] holding [`BACKEND_CLIENT`], keys drawn from an RNG
/// seeded with [`FIXTURE_SEED`] (so two servers built from it sign with the
/// same key).
pub async fn fixture_engine(base: &str) -> Arc<Engine<MemoryStore>> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(FIXTURE_SEED);
    let now = now();
    let store = Arc::new(MemoryStore::new());
    let serde_json::Value::Object(metadata) = serde_json::json!({
        "client_name": "Backend",
        "token_endpoint_auth_method": "client_secret_post",
        "grant_types": ["client_credentials"],
        "scope": format!("{SCOPES_SUPPORTED} other:read"),
    }) else {
        panic!("the fixture client metadata is an object")
    };
    store
        .register_client(
            &ClientRecord {
                client_id: ClientId::parse(BACKEND_CLIENT).expect("valid client id"),
                metadata,
                secret_digest: Some(TokenDigest::of(BACKEND_SECRET.as_bytes())),
                secret_expires_at: None,
                registration_token_digest: None,
                fingerprint: None,
                issued_at: now,
                first_used_at: None,
                may_introspect: false,
            },
            100,
        )
        .await
        .expect("the fixture client registers");
    let secrets = EngineSecrets {
        rotation_key: latchkey_token::refresh::RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
    };
    let engine = Engine::new(
        store,
        fixture_engine_config(base),
        secrets,
        NoMetadataFetcher,
        now,
        &mut rng,
    )
    .await
    .expect("the fixture engine starts");
    Arc::new(engine)
}

/// The test interaction behaviour, framework-neutral: approve as
/// [`TEST_SUBJECT`], authenticated at `now`, consent not remembered.
pub fn test_decision(now: UnixTime) -> AuthorizationDecision {
    AuthorizationDecision::Approve {
        subject: Subject::parse(TEST_SUBJECT).expect("valid subject"),
        auth_time: now,
        remember_consent: false,
    }
}

/// The current time from the system clock (tests only).
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

fn scope(s: &str) -> Scope {
    Scope::parse(s).expect("valid scope")
}

/// Expands to one `#[tokio::test]` per case of [`cases`], each awaiting
/// `$start` (an expression giving a `Future<Output = TestTarget>`) for a fresh
/// server. The calling crate needs `tokio` (with `macros` and `rt`) as a
/// dev-dependency.
#[macro_export]
macro_rules! http_suite {
    ($start:expr) => {
        $crate::http_suite!(@cases $start;
            rfc_8414_section_3_metadata_at_every_well_known_location,
            rfc_7517_jwks_is_served,
            rfc_7591_section_3_registration_201_and_errors,
            oauth_2_1_full_flow_with_pkce_refresh_revoke_introspect,
            oauth_2_1_section_3_2_4_unsupported_grant_type,
            wrong_content_type_is_invalid_request,
            repeated_authorization_header_is_invalid_request,
            oversized_body_is_refused,
            oauth_2_1_section_3_2_undecodable_or_repeated_form_parameters_are_refused,
            rfc_9110_section_15_5_6_wrong_method_is_405_with_allow,
            oauth_2_1_section_3_2_3_token_responses_are_no_store,
            oauth_2_1_section_4_1_2_1_unverifiable_client_gets_an_error_page,
            r3_r4_missing_token_gets_401_with_challenge,
            r5_r7_invalid_token_is_401_invalid_token,
            rfc_7009_revoked_access_token_is_401_invalid_token,
            r6_r13_wrong_audience_token_is_401,
            r11_insufficient_scope_is_403_step_up,
            rfc_6750_query_string_token_is_refused,
            rfc_6750_form_body_token_is_not_accepted,
            rfc_9449_dpop_bound_token_with_bearer_scheme_is_401,
            rfc_9449_dpop_bound_token_with_valid_proof_is_accepted,
            rfc_9449_dpop_proof_replay_is_refused,
            rfc_9449_htu_is_the_configured_url_not_the_host_header,
            r1_r3_prm_at_both_locations,
            r15_foreign_origin_is_403,
            rfc_9700_section_4_16_authorize_error_page_cannot_be_framed_or_cached,
        );
    };
    (@cases $start:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let target: $crate::TestTarget = $start.await;
                $crate::cases::$case(&target).await;
            }
        )*
    };
}
