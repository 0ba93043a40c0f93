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

struct DocFetcher;

impl MetadataFetcher for DocFetcher {
    async fn fetch(&self, url: &ClientIdMetadataUrl) -> Result<Vec<u8>, FetchError> {
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
}

async fn engine() -> (Engine<MemoryStore, DocFetcher>, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let config =
        EngineConfig::new(ISSUER, ResourceUri::parse(RESOURCE).expect("uri")).expect("config");
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
