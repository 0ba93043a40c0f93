//! An engine over any store: MemoryStore, SqliteStore on a temporary file,
//! PostgresStore in a fresh schema. Shared by the store-level engine tests
//! and the benchmark (`benches/engine.rs` includes this file by path).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a shared test harness: not every user needs every helper, and failed setup should panic"
)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base64ct::{Base64, Encoding};
use latchkey_dpop::NonceKey;
use latchkey_engine::{EndpointResponse, Engine, EngineConfig, EngineSecrets, HttpContext, Params};
use latchkey_pkce::CodeChallenge;
use latchkey_store::{ClientRecord, Store};
use latchkey_store_postgres::{PostgresOptions, PostgresStore};
use latchkey_store_sqlite::SqliteStore;
use latchkey_token::code::{CodeParams, CodeRecord, RedirectUriSource};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, Scope, SecretString, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://as.example.com";
pub const TOKEN_ENDPOINT: &str = "https://as.example.com/token";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const REDIRECT: &str = "http://127.0.0.1:8080/cb";
pub const NOW: u64 = 1_700_000_000;
/// `token_endpoint_auth_method: none`, authorization_code + refresh_token.
pub const PUBLIC: &str = "public-client";
/// `client_secret_basic`, client_credentials, scope `mcp:read`.
pub const BASIC: &str = "basic-client";
pub const SECRET: &str = "correct horse battery staple";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The variable naming the PostgreSQL server the tests may use.
pub const POSTGRES_URL_VAR: &str = "LATCHKEY_TEST_POSTGRES_URL";

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An engine over `store`. The first engine of a store inserts the clients
/// and generates the signing key; later ones (`first == false`) load the key
/// the first stored. Every engine gets the same secrets, as replicas would.
pub async fn engine_over<S: Store>(store: Arc<S>, first: bool) -> Engine<S> {
    engine_over_with(store, first, |_| {}).await
}

/// [`engine_over`], with `adjust` applied to the configuration last.
pub async fn engine_over_with<S: Store>(
    store: Arc<S>,
    first: bool,
    adjust: impl FnOnce(&mut EngineConfig),
) -> Engine<S> {
    let resource = ResourceUri::parse(RESOURCE).unwrap();
    let mut config = EngineConfig::new(ISSUER, resource).unwrap();
    config.resources[0].scopes_supported = Scope::parse("mcp:read mcp:write").unwrap();
    config.resources[0].default_scope = Scope::parse("mcp:read").unwrap();
    // The races refresh as a public client without DPoP, and its losers
    // retry: that needs the opted-in public-client retry window.
    config.refresh_policy = config
        .refresh_policy
        .with_public_client_retry_window(std::time::Duration::from_secs(30))
        .unwrap();
    if first {
        insert_client(
            store.as_ref(),
            PUBLIC,
            json!({
                "client_name": "Public",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }),
            None,
        )
        .await;
        insert_client(
            store.as_ref(),
            BASIC,
            json!({
                "client_name": "Basic",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "client_secret_basic",
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "scope": "mcp:read",
            }),
            Some(TokenDigest::of(SECRET.as_bytes())),
        )
        .await;
    }
    adjust(&mut config);
    let secrets = EngineSecrets {
        rotation_key: RotationKey::new(&SecretString::new(
            "engine-over-stores-rotation-key-0123456789".into(),
        ))
        .unwrap(),
        key_wrap_key: None,
        nonce_key: NonceKey::generate(&mut rng(7)),
    };
    Engine::new(
        store,
        config,
        secrets,
        latchkey_engine::NoMetadataFetcher,
        now(),
        &mut rng(8),
    )
    .await
    .unwrap()
}

async fn insert_client<S: Store>(
    store: &S,
    id: &str,
    metadata: Value,
    secret: Option<TokenDigest>,
) {
    let Value::Object(metadata) = metadata else {
        panic!("metadata must be an object")
    };
    let record = ClientRecord {
        client_id: ClientId::parse(id).unwrap(),
        metadata,
        secret_digest: secret,
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: UnixTime::from_secs(NOW - 3600),
        first_used_at: None,
        may_introspect: false,
    };
    let registered = store.register_client(&record, 1000).await.unwrap();
    assert_eq!(registered, latchkey_store::Registered::Inserted);
}

/// Issues a code for `client` the way the authorization endpoint would and
/// stores it; returns the code.
pub async fn issue_code<S: Store>(
    engine: &Engine<S>,
    client: &str,
    at: UnixTime,
    rng: &mut ChaCha20Rng,
) -> String {
    let params = CodeParams {
        client_id: ClientId::parse(client).unwrap(),
        redirect_uri: RedirectUri::parse(REDIRECT).unwrap(),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap(),
        resources: vec![ResourceUri::parse(RESOURCE).unwrap()],
        scope: Scope::parse("mcp:read").unwrap(),
        subject: Subject::parse("alice").unwrap(),
        auth_time: at,
        dpop_jkt: None,
    };
    let (code, record) = CodeRecord::issue(params, at, &engine.config().code_policy, rng).unwrap();
    engine.store().insert_code(&record).await.unwrap();
    code.expose_secret().to_owned()
}

pub fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

/// A public client's code redemption.
pub fn redeem_params(code: &str) -> Params {
    params(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
        ("redirect_uri", REDIRECT),
    ])
}

/// A public client's refresh.
pub fn refresh_params(refresh_token: &str) -> Params {
    params(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", PUBLIC),
    ])
}

pub fn client_credentials_params() -> Params {
    params(&[("grant_type", "client_credentials")])
}

pub fn post_token() -> HttpContext {
    HttpContext::new("POST", TOKEN_ENDPOINT)
}

/// The token endpoint request with RFC 6749 section 2.3.1 Basic credentials.
pub fn basic_token() -> HttpContext {
    let credentials = Base64::encode_string(format!("{BASIC}:{SECRET}").as_bytes());
    HttpContext::new("POST", TOKEN_ENDPOINT).with_authorization(format!("Basic {credentials}"))
}

pub fn body(response: &EndpointResponse) -> Value {
    serde_json::from_str(response.json_body().expect("a JSON body")).expect("valid JSON")
}

/// The `jti` of a JWT access token, unverified.
pub fn jti(access_token: &str) -> String {
    let payload = access_token.split('.').nth(1).unwrap();
    let bytes = base64ct::Base64UrlUnpadded::decode_vec(payload).unwrap();
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

/// A database path no other test or run uses, under the temporary directory.
pub fn temp_sqlite_path(tag: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "latchkey-engine-{tag}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("latchkey.db")
}

/// Removes the directory `temp_sqlite_path` made.
pub fn remove_sqlite(path: &std::path::Path) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// A SQLite store on a fresh temporary file (WAL mode).
pub async fn sqlite_store(tag: &str) -> (SqliteStore, PathBuf) {
    let path = temp_sqlite_path(tag);
    (SqliteStore::open(&path).await.unwrap(), path)
}

/// Runs `test` with `instances` PostgreSQL stores (separate pools) over one
/// fresh schema, then drops the schema, also when the test panics. Without
/// [`POSTGRES_URL_VAR`], prints one skip line and returns.
pub async fn with_postgres<F, Fut>(name: &str, instances: usize, test: F)
where
    F: FnOnce(Vec<PostgresStore>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        println!("skipped {name}: {POSTGRES_URL_VAR} is unset (no PostgreSQL to test against)");
        return;
    };
    let schema = fresh_schema();
    let options = PostgresOptions::new().schema(&schema).max_connections(8);
    let mut stores = Vec::with_capacity(instances);
    for _ in 0..instances.max(1) {
        stores.push(PostgresStore::connect_with(&url, &options).await.unwrap());
    }
    let admin = stores[0].clone();
    let outcome = tokio::spawn(test(stores)).await;
    sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .execute(admin.pool())
        .await
        .unwrap();
    admin.close().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

/// A schema name no other test, run or process uses.
pub fn fresh_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    #[expect(
        clippy::disallowed_methods,
        reason = "test support: schema names must differ between runs"
    )]
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "lk_engine_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000_000
    )
}
