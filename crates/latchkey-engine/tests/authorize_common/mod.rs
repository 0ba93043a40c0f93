//! Shared set-up for the authorization, registration and discovery tests:
//! a memory store, fixed instants, seeded RNGs, a fake metadata fetcher.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;

use latchkey_dpop::NonceKey;
use latchkey_engine::authorize::{AuthorizeOutcome, PendingAuthorization};
use latchkey_engine::{
    EndpointResponse, Engine, EngineConfig, EngineSecrets, FetchError, HttpContext,
    MetadataFetcher, Params, ResourceConfig,
};
use latchkey_registration::ClientIdMetadataUrl;
use latchkey_store::{ClientStore, MemoryStore};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ErrorCode, Scope, UnixTime};
use latchkey_uri::ResourceUri;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
pub const ISSUER: &str = "https://as.example.com";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const FILES: &str = "https://files.example.com/mcp";
pub const REDIRECT: &str = "https://client.example.org/cb";
pub const LOOPBACK: &str = "http://127.0.0.1/callback";
pub const CIMD_URL: &str = "https://app.example.net/oauth/client.json";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// RFC 9449 section 6.1 (Figure 9 thumbprint).
pub const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

pub type TestEngine = Engine<MemoryStore, FakeFetcher>;

/// Serves metadata documents from a map; anything else is a 404.
#[derive(Clone, Debug, Default)]
pub struct FakeFetcher {
    pub documents: HashMap<String, Vec<u8>>,
}

impl MetadataFetcher for FakeFetcher {
    async fn fetch(&self, url: &ClientIdMetadataUrl) -> Result<Vec<u8>, FetchError> {
        self.documents
            .get(url.as_str())
            .cloned()
            .ok_or(FetchError::Status(404))
    }
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn resource(uri: &str) -> ResourceUri {
    ResourceUri::parse(uri).unwrap()
}

/// Two resources: the default `mcp` one (`mcp:read mcp:write`, default
/// `mcp:read`) and a `files` one (`files:read`, no default scope).
pub fn config() -> EngineConfig {
    let mut config = EngineConfig::new(ISSUER, resource(RESOURCE)).unwrap();
    config.resources[0].scopes_supported = Scope::parse("mcp:read mcp:write").unwrap();
    config.resources[0].default_scope = Scope::parse("mcp:read").unwrap();
    config.resources[0].name = Some("Example MCP".to_owned());
    let mut files = ResourceConfig::new(resource(FILES));
    files.scopes_supported = Scope::parse("files:read").unwrap();
    config.resources.push(files);
    config
}

pub fn cimd_document(redirect: &str) -> Vec<u8> {
    serde_json::json!({
        "client_id": CIMD_URL,
        "client_name": "Metadata App",
        "redirect_uris": [redirect],
        "token_endpoint_auth_method": "none",
    })
    .to_string()
    .into_bytes()
}

pub async fn engine_with(config: EngineConfig) -> TestEngine {
    let mut fetcher = FakeFetcher::default();
    fetcher
        .documents
        .insert(CIMD_URL.to_owned(), cimd_document(LOOPBACK));
    let mut rng = rng(1);
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: NonceKey::generate(&mut rng),
    };
    Engine::new(
        Arc::new(MemoryStore::new()),
        config,
        secrets,
        fetcher,
        NOW,
        &mut rng,
    )
    .await
    .unwrap()
}

pub async fn engine() -> TestEngine {
    engine_with(config()).await
}

pub fn http(method: &str) -> HttpContext {
    HttpContext::new(method, "https://as.example.com/register")
}

pub fn json(response: &EndpointResponse) -> serde_json::Value {
    serde_json::from_str(response.json_body().expect("a json body")).unwrap()
}

/// Registers a public client through RFC 7591; returns the response body.
pub async fn register(engine: &TestEngine, metadata: serde_json::Value) -> serde_json::Value {
    let response = engine
        .register(
            metadata.to_string().as_bytes(),
            &http("POST"),
            NOW,
            &mut rng(7),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.json_body());
    json(&response)
}

/// A public client with one `https` redirect URI and the `mcp:read` scope.
pub async fn public_client(engine: &TestEngine) -> String {
    let body = register(
        engine,
        serde_json::json!({
            "client_name": "Test Client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    body["client_id"].as_str().unwrap().to_owned()
}

/// The client id of [`admin_client`].
pub const ADMIN_CLIENT: &str = "admin-client";

/// A public client with [`public_client`]'s metadata, added the way an
/// administrator adds one (`latchkey clients add`: stored directly, without
/// a registration access token), so its errors before any interaction are
/// redirected (RFC 9700 section 4.11.2 applies to clients anyone could create).
pub async fn admin_client(engine: &TestEngine) -> String {
    let dynamic = public_client(engine).await;
    let mut record = engine
        .store()
        .client(&latchkey_types::ClientId::parse(&dynamic).unwrap())
        .await
        .unwrap()
        .unwrap();
    record.client_id = latchkey_types::ClientId::parse(ADMIN_CLIENT).unwrap();
    record.registration_token_digest = None;
    record.fingerprint = None;
    record.secret_digest = None;
    engine
        .store()
        .register_client(&record, u64::MAX)
        .await
        .unwrap();
    ADMIN_CLIENT.to_owned()
}

pub fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A valid authorization request for `client_id`, plus `extra` (which replace
/// same-named defaults; an empty value removes the parameter).
pub fn request<'a>(client_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut list = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "af0ifjsldkj"),
    ];
    for (name, value) in extra {
        list.retain(|(n, _)| n != name);
        if !value.is_empty() {
            list.push((name, value));
        }
    }
    list
}

pub async fn authorize(engine: &TestEngine, list: &[(&str, &str)]) -> AuthorizeOutcome {
    engine.authorize(&params(list), NOW).await
}

pub fn pending(outcome: AuthorizeOutcome) -> PendingAuthorization {
    match outcome {
        AuthorizeOutcome::Interaction(pending) => pending,
        other => panic!("expected an interaction, got {other:?}"),
    }
}

pub fn page(outcome: AuthorizeOutcome) -> (ErrorCode, String) {
    match outcome {
        AuthorizeOutcome::ErrorPage { error, description } => (error, description),
        other => panic!("expected an error page, got {other:?}"),
    }
}

/// The redirect's Location, split into its base and decoded query pairs.
pub fn redirect(outcome: AuthorizeOutcome) -> (String, Vec<(String, String)>) {
    match outcome {
        AuthorizeOutcome::Redirect(response) => location(&response),
        other => panic!("expected a redirect, got {other:?}"),
    }
}

pub fn location(response: &EndpointResponse) -> (String, Vec<(String, String)>) {
    assert_eq!(response.status, 302);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let url = url::Url::parse(response.header("location").expect("a Location")).unwrap();
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let mut base = url.clone();
    base.set_query(None);
    (base.to_string(), query)
}

pub fn value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Asserts an error redirect to `REDIRECT` with `error`, the state and `iss`.
pub fn assert_error_redirect(outcome: AuthorizeOutcome, error: ErrorCode) {
    let (base, query) = redirect(outcome);
    assert_eq!(base, REDIRECT);
    assert_eq!(value(&query, "error"), Some(error.as_str()), "{query:?}");
    assert_eq!(value(&query, "state"), Some("af0ifjsldkj"));
    assert_eq!(value(&query, "iss"), Some(ISSUER));
    assert!(value(&query, "code").is_none());
}
