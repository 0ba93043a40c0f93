//! Discovery documents per profile (RFC 8414, OpenID Connect Discovery 1.0,
//! RFC 9728; MCP A3, A4, A5, A6, R1, R2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use authorize_common::*;
use latchkey_engine::{EngineConfig, McpProfile};
use latchkey_metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use latchkey_registration::CimdPolicy;
use latchkey_types::Scope;

fn strings(value: &serde_json::Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn profile(profile: McpProfile) -> EngineConfig {
    let mut config = config();
    config.profile = profile;
    config.cimd = profile
        .cimd_supported_by_default()
        .then(CimdPolicy::strict_default);
    config
}

#[tokio::test]
async fn a3_rfc_8414_section_2_authorization_server_metadata() {
    let engine = engine().await;
    let response = engine.authorization_server_metadata();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    let raw = response.json_body().unwrap();
    let parsed = AuthorizationServerMetadata::parse(raw.as_bytes()).unwrap();
    parsed.validate_issuer(ISSUER).unwrap();
    parsed.check_mcp_requirements().unwrap();
    let doc = json(&response);
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(
        doc["authorization_endpoint"],
        "https://as.example.com/authorize"
    );
    assert_eq!(doc["token_endpoint"], "https://as.example.com/token");
    assert_eq!(doc["jwks_uri"], "https://as.example.com/jwks");
    assert_eq!(doc["revocation_endpoint"], "https://as.example.com/revoke");
    assert_eq!(
        doc["introspection_endpoint"],
        "https://as.example.com/introspect"
    );
    assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
    assert_eq!(strings(&doc["response_modes_supported"]), ["query"]);
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    assert!(strings(&doc["token_endpoint_auth_methods_supported"]).contains(&"none"));
    assert!(
        strings(&doc["token_endpoint_auth_methods_supported"]).contains(&"client_secret_basic")
    );
    assert_eq!(
        strings(&doc["dpop_signing_alg_values_supported"]),
        ["ES256", "EdDSA"]
    );
    assert_eq!(strings(&doc["protected_resources"]), [RESOURCE, FILES]);
}

#[tokio::test]
async fn a4_code_challenge_methods_supported_is_s256_only() {
    for p in [
        McpProfile::V2025_06_18,
        McpProfile::V2025_11_25,
        McpProfile::V2026_07_28,
    ] {
        let engine = engine_with(profile(p)).await;
        let doc = json(&engine.authorization_server_metadata());
        assert_eq!(strings(&doc["code_challenge_methods_supported"]), ["S256"]);
        if let Some(oidc) = engine.openid_configuration() {
            assert_eq!(
                strings(&json(&oidc)["code_challenge_methods_supported"]),
                ["S256"]
            );
        }
    }
}

#[tokio::test]
async fn rfc_9207_section_3_iss_parameter_supported_is_advertised() {
    let engine = engine().await;
    let doc = json(&engine.authorization_server_metadata());
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn rfc_8414_section_3_3_issuer_is_byte_identical() {
    for issuer in [
        "https://as.example.com/tenant/a",
        "https://as.example.com/",
        "http://127.0.0.1:8080",
    ] {
        let config = EngineConfig::new(issuer, resource(RESOURCE)).unwrap();
        let engine = engine_with(config).await;
        let doc = json(&engine.authorization_server_metadata());
        assert_eq!(doc["issuer"], issuer);
        let prm = json(
            &engine
                .protected_resource_metadata(&resource(RESOURCE))
                .unwrap(),
        );
        assert_eq!(strings(&prm["authorization_servers"]), [issuer]);
    }
}

#[tokio::test]
async fn a5_a6_registration_and_cimd_are_advertised_only_when_on() {
    let engine = engine().await;
    let doc = json(&engine.authorization_server_metadata());
    assert_eq!(
        doc["registration_endpoint"],
        "https://as.example.com/register"
    );
    assert_eq!(doc["client_id_metadata_document_supported"], true);

    let mut config = config();
    config.registration = None;
    config.cimd = None;
    let engine = engine_with(config).await;
    let doc = json(&engine.authorization_server_metadata());
    assert!(doc.get("registration_endpoint").is_none());
    assert!(doc.get("client_id_metadata_document_supported").is_none());

    let engine = engine_with(profile(McpProfile::V2025_06_18)).await;
    let doc = json(&engine.authorization_server_metadata());
    assert!(doc.get("client_id_metadata_document_supported").is_none());
}

#[tokio::test]
async fn mcp_2026_07_28_scopes_supported_without_offline_access() {
    let engine = engine_with(profile(McpProfile::V2026_07_28)).await;
    let doc = json(&engine.authorization_server_metadata());
    assert_eq!(
        strings(&doc["scopes_supported"]),
        ["files:read", "mcp:read", "mcp:write"]
    );

    let engine = engine_with(profile(McpProfile::V2025_11_25)).await;
    let doc = json(&engine.authorization_server_metadata());
    assert_eq!(
        strings(&doc["scopes_supported"]),
        ["files:read", "mcp:read", "mcp:write", "offline_access"]
    );

    let mut config = profile(McpProfile::V2025_11_25);
    config.issue_refresh_tokens = false;
    let engine = engine_with(config).await;
    let doc = json(&engine.authorization_server_metadata());
    assert!(!strings(&doc["scopes_supported"]).contains(&"offline_access"));
    assert_eq!(
        strings(&doc["grant_types_supported"]),
        ["authorization_code", "client_credentials"]
    );
}

#[tokio::test]
async fn a3_openid_configuration_per_profile() {
    let engine = engine_with(profile(McpProfile::V2025_06_18)).await;
    assert!(engine.openid_configuration().is_none());
    for p in [McpProfile::V2025_11_25, McpProfile::V2026_07_28] {
        let engine = engine_with(profile(p)).await;
        let response = engine.openid_configuration().unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.header("cache-control"),
            Some("public, max-age=300")
        );
        let doc = json(&response);
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(strings(&doc["subject_types_supported"]), ["public"]);
        assert_eq!(
            strings(&doc["id_token_signing_alg_values_supported"]),
            ["ES256"]
        );
        assert_eq!(
            doc["authorization_endpoint"],
            "https://as.example.com/authorize"
        );
        assert_eq!(strings(&doc["response_types_supported"]), ["code"]);
        assert_eq!(doc["jwks_uri"], "https://as.example.com/jwks");
    }
}

#[tokio::test]
async fn rfc_7517_jwks_holds_public_keys_only() {
    let engine = engine().await;
    let response = engine.jwks();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let doc = json(&response);
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "EC");
    assert_eq!(keys[0]["kid"], engine.keys().active().kid());
    assert!(keys[0].get("d").is_none());
    engine.rotate_signing_key(NOW, &mut rng(9)).await.unwrap();
    let doc = json(&engine.jwks());
    assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
    assert!(
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none())
    );
}

#[tokio::test]
async fn r1_r2_rfc_9728_protected_resource_metadata() {
    let engine = engine().await;
    let response = engine
        .protected_resource_metadata(&resource(RESOURCE))
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("cache-control"),
        Some("public, max-age=300")
    );
    let raw = response.json_body().unwrap();
    let parsed = ProtectedResourceMetadata::parse(raw.as_bytes()).unwrap();
    parsed.validate_resource(RESOURCE).unwrap();
    parsed.check_mcp_requirements().unwrap();
    let doc = json(&response);
    assert_eq!(doc["resource"], RESOURCE);
    assert_eq!(strings(&doc["authorization_servers"]), [ISSUER]);
    assert_eq!(strings(&doc["scopes_supported"]), ["mcp:read", "mcp:write"]);
    assert_eq!(strings(&doc["bearer_methods_supported"]), ["header"]);
    assert_eq!(
        strings(&doc["dpop_signing_alg_values_supported"]),
        ["ES256", "EdDSA"]
    );
    assert_eq!(doc["resource_name"], "Example MCP");

    // The second resource: its own scopes, no name.
    let files = json(
        &engine
            .protected_resource_metadata(&resource(FILES))
            .unwrap(),
    );
    assert_eq!(files["resource"], FILES);
    assert_eq!(strings(&files["scopes_supported"]), ["files:read"]);
    assert!(files.get("resource_name").is_none());

    // Only configured resources have a document.
    assert!(
        engine
            .protected_resource_metadata(&resource("https://mcp.example.com/other"))
            .is_none()
    );
    assert!(
        engine
            .protected_resource_metadata(&resource("https://mcp.example.com/mcp/sub"))
            .is_none()
    );
}

#[tokio::test]
async fn mcp_2026_07_28_refresh_tokens_protected_resource_metadata_never_lists_offline_access() {
    let mut config = profile(McpProfile::V2025_11_25);
    config.resources[0].scopes_supported = Scope::parse("mcp:read offline_access").unwrap();
    config.resources[0].default_scope = Scope::parse("mcp:read").unwrap();
    let engine = engine_with(config).await;
    let doc = json(
        &engine
            .protected_resource_metadata(&resource(RESOURCE))
            .unwrap(),
    );
    assert_eq!(strings(&doc["scopes_supported"]), ["mcp:read"]);
}
