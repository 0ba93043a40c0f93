//! MCP 2026-07-28, Authorization, "Step-Up Authorization Flow": "Servers
//! **MUST** account for scope hierarchies, where a broader scope implies
//! narrower ones". At the authorization endpoint: the client's registered
//! scope, the resource's `scopes_supported` and remembered consent.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use authorize_common::*;
use latchkey_engine::EngineConfig;
use latchkey_engine::authorize::AuthorizationDecision;
use latchkey_types::{ErrorCode, Scope, ScopeHierarchy, ScopeToken, Subject};

/// `mcp:write` implies `mcp:read`.
fn hierarchical(mut config: EngineConfig) -> EngineConfig {
    config.scope_hierarchy = ScopeHierarchy::new([(
        ScopeToken::parse("mcp:write").unwrap(),
        ScopeToken::parse("mcp:read").unwrap(),
    )])
    .unwrap();
    config
}

/// A dynamically registered public client registered for `scope`.
async fn client_for(engine: &TestEngine, scope: &str) -> String {
    let body = register(
        engine,
        serde_json::json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "scope": scope,
        }),
    )
    .await;
    body["client_id"].as_str().unwrap().to_owned()
}

fn alice() -> Subject {
    Subject::parse("alice").unwrap()
}

async fn remembered(engine: &TestEngine, client: &str, scope: &str) -> bool {
    let pending = pending(authorize(engine, &request(client, &[("scope", scope)])).await);
    engine
        .consent_is_remembered(&pending, &alice())
        .await
        .unwrap()
}

async fn approve_remembering(engine: &TestEngine, client: &str, scope: &str) {
    let approved = pending(authorize(engine, &request(client, &[("scope", scope)])).await);
    let decision = AuthorizationDecision::Approve {
        subject: alice(),
        auth_time: NOW,
        remember_consent: true,
    };
    engine
        .complete_authorization(approved, decision, NOW, &mut rng(3))
        .await;
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_broader_scope_implies_narrower_for_the_registered_scope() {
    let engine = engine_with(hierarchical(config())).await;
    let client = client_for(&engine, "mcp:write").await;
    let asked = pending(authorize(&engine, &request(&client, &[("scope", "mcp:read")])).await);
    assert_eq!(asked.scope(), &Scope::parse("mcp:read").unwrap());
    // Without a `scope`, the resource's default (`mcp:read`) is covered too.
    let default = pending(authorize(&engine, &request(&client, &[])).await);
    assert_eq!(default.scope(), &Scope::parse("mcp:read").unwrap());

    // Without the hierarchy the same request is refused.
    let flat = authorize_common::engine().await;
    let client = client_for(&flat, "mcp:write").await;
    let (error, _) = page(authorize(&flat, &request(&client, &[("scope", "mcp:read")])).await);
    assert_eq!(error, ErrorCode::InvalidScope);
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_narrower_scope_never_implies_broader() {
    let engine = engine_with(hierarchical(config())).await;
    let client = client_for(&engine, "mcp:read").await;
    let (error, description) =
        page(authorize(&engine, &request(&client, &[("scope", "mcp:write")])).await);
    assert_eq!(error, ErrorCode::InvalidScope);
    assert_eq!(
        description,
        "scope holds a scope the client did not register"
    );
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_a_resource_supporting_a_broader_scope_supports_narrower() {
    let mut config = hierarchical(config());
    config.resources[0].scopes_supported = Scope::parse("mcp:write").unwrap();
    config.resources[0].default_scope = Scope::empty();
    let engine = engine_with(config).await;
    let client = public_client(&engine).await;
    let asked = pending(authorize(&engine, &request(&client, &[("scope", "mcp:read")])).await);
    assert_eq!(asked.scope(), &Scope::parse("mcp:read").unwrap());
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_remembered_broader_consent_covers_a_narrower_request() {
    let engine = engine_with(hierarchical(config())).await;
    let client = public_client(&engine).await;
    approve_remembering(&engine, &client, "mcp:write").await;
    assert!(remembered(&engine, &client, "mcp:read").await);
    assert!(remembered(&engine, &client, "mcp:write").await);
    assert!(remembered(&engine, &client, "mcp:read mcp:write").await);

    // Without the hierarchy, consent to `mcp:write` says nothing of `mcp:read`.
    let flat = authorize_common::engine().await;
    let client = public_client(&flat).await;
    approve_remembering(&flat, &client, "mcp:write").await;
    assert!(!remembered(&flat, &client, "mcp:read").await);
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_remembered_narrower_consent_never_covers_a_broader_request() {
    let engine = engine_with(hierarchical(config())).await;
    let client = public_client(&engine).await;
    approve_remembering(&engine, &client, "mcp:read").await;
    assert!(remembered(&engine, &client, "mcp:read").await);
    assert!(!remembered(&engine, &client, "mcp:write").await);
}
