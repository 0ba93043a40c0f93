//! Clients identified by a client ID metadata document at the token endpoint
//! (MCP 2025-11-25 and later): public clients authenticating with `none`.

mod common;

use std::sync::Arc;

use common::*;
use latchkey_dpop::NonceKey;
use latchkey_engine::{Engine, EngineConfig, EngineSecrets, FetchError, MetadataFetcher};
use latchkey_pkce::CodeChallenge;
use latchkey_registration::ClientIdMetadataUrl;
use latchkey_store::{GrantStore, MemoryStore};
use latchkey_token::code::{CodeParams, CodeRecord, RedirectUriSource};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, Scope, Subject};
use latchkey_uri::{RedirectUri, ResourceUri};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const DOC_CLIENT: &str = "https://app.example.com/oauth/client.json";
/// A document client that authenticates with `private_key_jwt`, its keys at `KEYED_JWKS`.
const KEYED_CLIENT: &str = "https://app.example.com/oauth/keyed.json";
const KEYED_JWKS: &str = "https://app.example.com/oauth/jwks.json";
/// A keyed document client whose document claims the right to introspect.
const CLAIMING_CLIENT: &str = "https://app.example.com/oauth/claiming.json";

/// The key the keyed client signs its assertions with.
fn keyed_key() -> latchkey_jose::SigningKey {
    latchkey_jose::SigningKey::generate(
        latchkey_jose::Algorithm::Es256,
        "keyed-1".to_owned(),
        &mut ChaCha20Rng::seed_from_u64(99),
    )
}

struct DocFetcher;

impl MetadataFetcher for DocFetcher {
    async fn fetch(&self, url: &ClientIdMetadataUrl) -> Result<Vec<u8>, FetchError> {
        if url.as_str() == CLAIMING_CLIENT {
            return Ok(serde_json::json!({
                "client_id": CLAIMING_CLIENT,
                "client_name": "Claiming document client",
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": KEYED_JWKS,
                "may_introspect": true,
                "latchkey_introspect": true,
                "introspect": true,
                "introspection_clients": [CLAIMING_CLIENT],
            })
            .to_string()
            .into_bytes());
        }
        if url.as_str() == KEYED_CLIENT {
            return Ok(serde_json::json!({
                "client_id": KEYED_CLIENT,
                "client_name": "Keyed document client",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": KEYED_JWKS,
            })
            .to_string()
            .into_bytes());
        }
        if url.as_str() != DOC_CLIENT {
            return Err(FetchError::Status(404));
        }
        Ok(serde_json::json!({
            "client_id": DOC_CLIENT,
            "client_name": "Document client",
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        })
        .to_string()
        .into_bytes())
    }

    async fn fetch_jwks(
        &self,
        url: &latchkey_registration::MetadataUri,
    ) -> Result<Vec<u8>, FetchError> {
        if url.as_str() != KEYED_JWKS {
            return Err(FetchError::Status(404));
        }
        Ok(
            serde_json::json!({ "keys": [keyed_key().public_jwk().to_json()] })
                .to_string()
                .into_bytes(),
        )
    }
}

async fn engine() -> (Engine<MemoryStore, DocFetcher>, ChaCha20Rng) {
    engine_with_introspectors(Vec::new()).await
}

async fn engine_with_introspectors(
    introspection_clients: Vec<ClientId>,
) -> (Engine<MemoryStore, DocFetcher>, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut config =
        EngineConfig::new(ISSUER, ResourceUri::parse(RESOURCE).expect("uri")).expect("config");
    config.introspection_clients = introspection_clients;
    assert!(
        config.cimd.is_some(),
        "on by default for the 2026-07-28 profile"
    );
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: NonceKey::generate(&mut rng),
    };
    let engine = Engine::new(
        Arc::new(MemoryStore::new()),
        config,
        secrets,
        DocFetcher,
        now(),
        &mut rng,
    )
    .await
    .expect("engine");
    (engine, rng)
}

#[tokio::test]
async fn a_metadata_document_client_redeems_a_code() {
    let (engine, mut rng) = engine().await;
    let code_params = CodeParams {
        client_id: ClientId::parse(DOC_CLIENT).expect("id"),
        redirect_uri: RedirectUri::parse(REDIRECT).expect("uri"),
        redirect_uri_source: RedirectUriSource::Request,
        code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).expect("challenge"),
        resources: vec![ResourceUri::parse(RESOURCE).expect("resource")],
        scope: Scope::parse("mcp:read").expect("scope"),
        subject: Subject::parse("alice").expect("subject"),
        auth_time: now(),
        dpop_jkt: None,
    };
    let (code, record) =
        CodeRecord::issue(code_params, now(), &engine.config().code_policy, &mut rng)
            .expect("code");
    engine.store().insert_code(&record).await.expect("insert");
    let request = params(&[
        ("grant_type", "authorization_code"),
        ("code", code.expose_secret()),
        ("code_verifier", VERIFIER),
        ("client_id", DOC_CLIENT),
    ]);
    let response = engine.token(&request, &post_token(), now(), &mut rng).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let tokens = body(&response);
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().expect("token"))["client_id"],
        DOC_CLIENT
    );
    assert!(tokens["refresh_token"].is_string());
}

#[tokio::test]
async fn an_unfetchable_metadata_document_is_invalid_client() {
    let (engine, mut rng) = engine().await;
    let request = params(&[
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("code_verifier", VERIFIER),
        ("client_id", "https://app.example.com/other.json"),
    ]);
    let response = engine.token(&request, &post_token(), now(), &mut rng).await;
    assert_eq!(response.status, 401);
    assert_eq!(error(&response), "invalid_client");
    // A document client can never use a secret.
    let request = params(&[
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("code_verifier", VERIFIER),
        ("client_id", DOC_CLIENT),
        ("client_secret", "anything"),
    ]);
    let response = engine.token(&request, &post_token(), now(), &mut rng).await;
    assert_eq!(error(&response), "invalid_client");
}

/// CIMD draft section 3: a plain `http` document URL is not a client here
/// (unless the danger setting allows loopback ones): `invalid_client`, saying why.
#[tokio::test]
async fn an_http_metadata_url_is_invalid_client_at_the_token_endpoint() {
    let (engine, mut rng) = engine().await;
    let request = params(&[
        ("grant_type", "authorization_code"),
        ("code", "x"),
        ("code_verifier", VERIFIER),
        ("client_id", "http://127.0.0.1:8080/client.json"),
    ]);
    let response = engine.token(&request, &post_token(), now(), &mut rng).await;
    assert_eq!(response.status, 401);
    assert_eq!(error(&response), "invalid_client");
    assert_eq!(
        body(&response)["error_description"],
        "client id metadata url is not https"
    );
}

/// RFC 7523 section 3 with RFC 7591's `jwks_uri`: a document client's
/// assertion is verified with the JWK Set its `jwks_uri` names, fetched
/// through the fetcher; a key that is not in that set is `invalid_client`.
#[tokio::test]
async fn rfc_7523_a_metadata_document_client_authenticates_with_keys_from_its_jwks_uri() {
    let (engine, mut rng) = engine().await;
    let issue = |rng: &mut ChaCha20Rng| {
        let code_params = CodeParams {
            client_id: ClientId::parse(KEYED_CLIENT).expect("id"),
            redirect_uri: RedirectUri::parse(REDIRECT).expect("uri"),
            redirect_uri_source: RedirectUriSource::Request,
            code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256")).expect("challenge"),
            resources: vec![ResourceUri::parse(RESOURCE).expect("resource")],
            scope: Scope::parse("mcp:read").expect("scope"),
            subject: Subject::parse("alice").expect("subject"),
            auth_time: now(),
            dpop_jkt: None,
        };
        CodeRecord::issue(code_params, now(), &engine.config().code_policy, rng).expect("code")
    };
    let redeem = |code: &str, assertion: &str| {
        params(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", VERIFIER),
            ("client_id", KEYED_CLIENT),
            (
                "client_assertion_type",
                latchkey_engine::JWT_BEARER_ASSERTION_TYPE,
            ),
            ("client_assertion", assertion),
        ])
    };

    let (code, record) = issue(&mut rng);
    engine.store().insert_code(&record).await.expect("insert");
    let assertion = client_assertion(&keyed_key(), KEYED_CLIENT, TOKEN_ENDPOINT, NOW + 60, "a-1");
    let response = engine
        .token(
            &redeem(code.expose_secret(), &assertion),
            &post_token(),
            now(),
            &mut rng,
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(
        jwt_claims(body(&response)["access_token"].as_str().expect("token"))["client_id"],
        KEYED_CLIENT
    );

    // Signed by a key the client's JWK Set does not hold.
    let (code, record) = issue(&mut rng);
    engine.store().insert_code(&record).await.expect("insert");
    let stranger = latchkey_jose::SigningKey::generate(
        latchkey_jose::Algorithm::Es256,
        "keyed-1".to_owned(),
        &mut rng,
    );
    let forged = client_assertion(&stranger, KEYED_CLIENT, TOKEN_ENDPOINT, NOW + 60, "a-2");
    let response = engine
        .token(
            &redeem(code.expose_secret(), &forged),
            &post_token(),
            now(),
            &mut rng,
        )
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(error(&response), "invalid_client");
}

/// `/introspect` as the claiming document client, with a fresh assertion.
async fn introspect_as_claiming_client(
    engine: &Engine<MemoryStore, DocFetcher>,
    jti: &str,
) -> latchkey_engine::EndpointResponse {
    let assertion = client_assertion(
        &keyed_key(),
        CLAIMING_CLIENT,
        INTROSPECTION_ENDPOINT,
        NOW + 60,
        jti,
    );
    let request = params(&[
        ("token", "no-such-token"),
        ("client_id", CLAIMING_CLIENT),
        (
            "client_assertion_type",
            latchkey_engine::JWT_BEARER_ASSERTION_TYPE,
        ),
        ("client_assertion", &assertion),
    ]);
    engine
        .introspect(&request, &post_to(INTROSPECTION_ENDPOINT), now())
        .await
}

/// RFC 7662 section 2.1: a client ID metadata document, which anyone can
/// publish, never grants the introspection permission, whatever members it
/// carries. The document client authenticates (its assertion is good: the
/// same client listed in `introspection_clients` introspects) and is refused
/// with `401 invalid_client` otherwise.
#[tokio::test]
async fn rfc_7662_section_2_1_a_metadata_document_cannot_grant_introspection() {
    let (engine, _) = engine().await;
    let resolved = engine
        .resolve_client(&ClientId::parse(CLAIMING_CLIENT).expect("id"), now())
        .await
        .expect("resolves")
        .expect("a document client");
    assert!(!resolved.may_introspect);
    let refused = introspect_as_claiming_client(&engine, "i-1").await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(error(&refused), "invalid_client");
    assert_eq!(
        body(&refused)["error_description"],
        "the client may not introspect tokens"
    );

    let (listed, _) =
        engine_with_introspectors(vec![ClientId::parse(CLAIMING_CLIENT).expect("id")]).await;
    let answer = introspect_as_claiming_client(&listed, "i-2").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(body(&answer), serde_json::json!({ "active": false }));
}
