//! Test harness for the token-side engine tests: an engine over a
//! `MemoryStore` with a fixed clock, a seeded RNG and a few clients inserted
//! directly into the store.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    reason = "a shared test harness: not every test uses every helper, and failed setup should panic"
)]

use std::sync::Arc;

use base64ct::{Base64, Encoding};
use latchkey_dpop::NonceKey;
use latchkey_engine::{
    EndpointResponse, Engine, EngineConfig, EngineSecrets, HttpContext, NoMetadataFetcher, Params,
};
use latchkey_jose::{Algorithm, JoseHeader, SigningKey};
use latchkey_pkce::CodeChallenge;
use latchkey_store::{ClientRecord, ClientStore, GrantStore, MemoryStore};
use latchkey_token::code::{CodeParams, CodeRecord, JwkThumbprint, RedirectUriSource};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://as.example.com";
pub const TOKEN_ENDPOINT: &str = "https://as.example.com/token";
pub const REVOCATION_ENDPOINT: &str = "https://as.example.com/revoke";
pub const INTROSPECTION_ENDPOINT: &str = "https://as.example.com/introspect";
pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const OTHER_RESOURCE: &str = "https://tools.example.com/mcp";
pub const REDIRECT: &str = "http://127.0.0.1:8080/cb";
pub const NOW: u64 = 1_700_000_000;

/// `token_endpoint_auth_method: none`, authorization_code + refresh_token.
pub const PUBLIC: &str = "public-client";
/// `client_secret_basic`, every grant, scope `mcp:read mcp:write`.
pub const BASIC: &str = "basic-client";
/// `client_secret_post`, authorization_code + refresh_token + client_credentials.
pub const POST: &str = "post-client";
/// `private_key_jwt` with an inline `jwks`, client_credentials.
pub const JWT: &str = "jwt-client";
/// `client_secret_basic`, allowed to introspect.
pub const RS: &str = "resource-server";
/// A public client registered without the refresh_token grant.
pub const NO_REFRESH: &str = "no-refresh-client";
pub const SECRET: &str = "correct horse battery staple";
/// RFC 7636 appendix B.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub struct Harness {
    pub engine: Arc<Engine<MemoryStore>>,
    pub rng: ChaCha20Rng,
    /// The key of the `private_key_jwt` client.
    pub jwt_key: SigningKey,
    /// A DPoP key.
    pub dpop_key: SigningKey,
    /// Another DPoP key.
    pub other_dpop_key: SigningKey,
}

pub fn now() -> UnixTime {
    UnixTime::from_secs(NOW)
}

pub async fn harness() -> Harness {
    harness_with(|_| {}).await
}

pub async fn harness_with(adjust: impl FnOnce(&mut EngineConfig)) -> Harness {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let resource = ResourceUri::parse(RESOURCE).unwrap();
    let mut config = EngineConfig::new(ISSUER, resource).unwrap();
    let mut other =
        latchkey_engine::ResourceConfig::new(ResourceUri::parse(OTHER_RESOURCE).unwrap());
    other.scopes_supported = Scope::parse("tools:run").unwrap();
    config.resources.push(other);
    config.resources[0].scopes_supported = Scope::parse("mcp:read mcp:write").unwrap();
    config.resources[0].default_scope = Scope::parse("mcp:read").unwrap();
    config.introspection_clients = vec![ClientId::parse(RS).unwrap()];
    adjust(&mut config);
    let store = Arc::new(MemoryStore::new());
    let jwt_key = SigningKey::generate(Algorithm::Es256, "jwt-key-1".to_owned(), &mut rng);
    let dpop_key = SigningKey::generate(Algorithm::Es256, "dpop-1".to_owned(), &mut rng);
    let other_dpop_key = SigningKey::generate(Algorithm::EdDsa, "dpop-2".to_owned(), &mut rng);
    let secret = Some(TokenDigest::of(SECRET.as_bytes()));
    insert_client(
        &store,
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
        &store,
        NO_REFRESH,
        json!({
            "client_name": "No refresh",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
        }),
        None,
    )
    .await;
    insert_client(
        &store,
        BASIC,
        json!({
            "client_name": "Basic",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "mcp:read mcp:write",
        }),
        secret,
    )
    .await;
    insert_client(
        &store,
        POST,
        json!({
            "client_name": "Post",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "scope": "mcp:read",
        }),
        secret,
    )
    .await;
    insert_client(
        &store,
        JWT,
        json!({
            "client_name": "Jwt",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "mcp:read tools:run",
            "jwks": { "keys": [jwt_key.public_jwk().to_json()] },
        }),
        None,
    )
    .await;
    insert_client(
        &store,
        RS,
        json!({
            "client_name": "Resource server",
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
        }),
        secret,
    )
    .await;
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: NonceKey::generate(&mut rng),
    };
    let engine = Engine::new(store, config, secrets, NoMetadataFetcher, now(), &mut rng)
        .await
        .unwrap();
    Harness {
        engine: Arc::new(engine),
        rng,
        jwt_key,
        dpop_key,
        other_dpop_key,
    }
}

pub async fn insert_client(
    store: &MemoryStore,
    id: &str,
    metadata: Value,
    secret: Option<TokenDigest>,
) {
    let Value::Object(metadata) = metadata else {
        panic!("metadata must be an object")
    };
    // The stored metadata must read back: fail here rather than in a test.
    serde_json::from_value::<latchkey_registration::ClientMetadata>(Value::Object(
        metadata.clone(),
    ))
    .unwrap_or_else(|e| panic!("metadata of {id} is invalid: {e}"));
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

impl Harness {
    pub fn store(&self) -> &Arc<MemoryStore> {
        self.engine.store()
    }

    /// Issues a code for `client` the way the authorization endpoint would,
    /// for RESOURCE with scope `mcp:read`.
    pub async fn issue_code(&mut self, client: &str, dpop_jkt: Option<JwkThumbprint>) -> String {
        self.issue_code_for(client, &[RESOURCE], "mcp:read", dpop_jkt)
            .await
    }

    pub async fn issue_code_for(
        &mut self,
        client: &str,
        resources: &[&str],
        scope: &str,
        dpop_jkt: Option<JwkThumbprint>,
    ) -> String {
        let params = CodeParams {
            client_id: ClientId::parse(client).unwrap(),
            redirect_uri: RedirectUri::parse(REDIRECT).unwrap(),
            redirect_uri_source: RedirectUriSource::Request,
            code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap(),
            resources: resources
                .iter()
                .map(|r| ResourceUri::parse(r).unwrap())
                .collect(),
            scope: Scope::parse(scope).unwrap(),
            subject: Subject::parse("alice").unwrap(),
            auth_time: UnixTime::from_secs(NOW - 10),
            dpop_jkt,
        };
        let (code, record) = CodeRecord::issue(
            params,
            now(),
            &self.engine.config().code_policy,
            &mut self.rng,
        )
        .unwrap();
        self.store().insert_code(&record).await.unwrap();
        code.expose_secret().to_owned()
    }

    /// POSTs `pairs` to the token endpoint at `at`.
    pub async fn token_at(
        &mut self,
        pairs: &[(&str, &str)],
        http: HttpContext,
        at: UnixTime,
    ) -> EndpointResponse {
        let params = params(pairs);
        self.engine.token(&params, &http, at, &mut self.rng).await
    }

    pub async fn token(&mut self, pairs: &[(&str, &str)], http: HttpContext) -> EndpointResponse {
        self.token_at(pairs, http, now()).await
    }

    /// Redeems `code` as the public client; returns the JSON body.
    pub async fn redeem_public(&mut self, code: &str) -> EndpointResponse {
        self.token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
                ("redirect_uri", REDIRECT),
            ],
            post_token(),
        )
        .await
    }

    pub async fn refresh_public(&mut self, refresh_token: &str, at: UnixTime) -> EndpointResponse {
        self.token_at(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", PUBLIC),
            ],
            post_token(),
            at,
        )
        .await
    }

    /// A DPoP proof by `key` for POST to the token endpoint.
    pub fn proof(&mut self, key_is_other: bool, iat: UnixTime, nonce: Option<&str>) -> String {
        let mut jti = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut self.rng, &mut jti);
        let jti = base64ct::Base64UrlUnpadded::encode_string(&jti);
        let key = if key_is_other {
            &self.other_dpop_key
        } else {
            &self.dpop_key
        };
        dpop_proof(key, "POST", TOKEN_ENDPOINT, iat, &jti, nonce)
    }

    /// The thumbprint of the (first) DPoP key, as the token crate spells it.
    pub fn dpop_jkt(&self) -> JwkThumbprint {
        self.dpop_key.public_jwk().thumbprint()
    }

    /// A fresh client assertion for the `private_key_jwt` client.
    pub fn assertion(&mut self, aud: &str, exp: u64) -> (String, String) {
        let mut jti = [0u8; 16];
        rand_core::Rng::fill_bytes(&mut self.rng, &mut jti);
        let jti = base64ct::Base64UrlUnpadded::encode_string(&jti);
        (client_assertion(&self.jwt_key, JWT, aud, exp, &jti), jti)
    }

    /// Every stored client, for "nothing changed" snapshots.
    pub async fn clients_snapshot(&self) -> Vec<ClientRecord> {
        self.store().list_clients().await.unwrap()
    }
}

pub fn params(pairs: &[(&str, &str)]) -> Params {
    Params::from_pairs(
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    )
    .unwrap()
}

pub fn post_token() -> HttpContext {
    HttpContext::new("POST", TOKEN_ENDPOINT)
}

pub fn post_to(uri: &str) -> HttpContext {
    HttpContext::new("POST", uri)
}

/// RFC 6749 section 2.3.1 Basic credentials.
pub fn basic(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        Base64::encode_string(format!("{id}:{secret}").as_bytes())
    )
}

pub fn body(response: &EndpointResponse) -> Value {
    serde_json::from_str(response.json_body().expect("a JSON body")).expect("valid JSON")
}

/// The `error` of an error response, after checking its shape.
pub fn error(response: &EndpointResponse) -> String {
    let body = body(response);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    body["error"].as_str().expect("an error member").to_owned()
}

pub fn dpop_proof(
    key: &SigningKey,
    method: &str,
    uri: &str,
    iat: UnixTime,
    jti: &str,
    nonce: Option<&str>,
) -> String {
    let header = JoseHeader::new(key.algorithm())
        .with_typ("dpop+jwt")
        .with_jwk(key.public_jwk());
    let mut claims = json!({ "jti": jti, "htm": method, "htu": uri, "iat": iat.as_secs() });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    key.sign_compact(&header, claims.to_string().as_bytes())
}

pub fn client_assertion(key: &SigningKey, client: &str, aud: &str, exp: u64, jti: &str) -> String {
    let header = JoseHeader::new(key.algorithm());
    let claims =
        json!({ "iss": client, "sub": client, "aud": aud, "exp": exp, "iat": NOW, "jti": jti });
    key.sign_compact(&header, claims.to_string().as_bytes())
}

/// The claims of a JWT, unverified (the tests check what the engine signed).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64ct::Base64UrlUnpadded::decode_vec(payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
