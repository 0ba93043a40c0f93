//! MCP 2026-07-28, Authorization, "Step-Up Authorization Flow": "Servers
//! **MUST** account for scope hierarchies, where a broader scope implies
//! narrower ones". At the token endpoint (client credentials, OAuth 2.1
//! section 4.2): the client's registered scope and the resource's
//! `scopes_supported`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use latchkey_engine::EngineConfig;
use latchkey_types::{Scope, ScopeHierarchy, ScopeToken, TokenDigest};

const NOTES_CLIENT: &str = "notes-client";

/// `notes` implies `notes:read` and `notes:write`; the resource lists only `notes`.
fn notes(config: &mut EngineConfig) {
    let token = |s| ScopeToken::parse(s).unwrap();
    config.scope_hierarchy = ScopeHierarchy::new([
        (token("notes"), token("notes:read")),
        (token("notes"), token("notes:write")),
    ])
    .unwrap();
    config.resources[0].scopes_supported = Scope::parse("notes").unwrap();
    config.resources[0].default_scope = Scope::empty();
}

async fn notes_harness(registered: &str) -> Harness {
    notes_harness_with(notes, registered).await
}

/// A harness configured by `adjust`, with a confidential client-credentials
/// client registered for `registered`.
async fn notes_harness_with(adjust: impl FnOnce(&mut EngineConfig), registered: &str) -> Harness {
    let h = harness_with(adjust).await;
    insert_client(
        h.store(),
        NOTES_CLIENT,
        serde_json::json!({
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["client_credentials"],
            "scope": registered,
        }),
        Some(TokenDigest::of(SECRET.as_bytes())),
    )
    .await;
    h
}

async fn client_credentials(h: &mut Harness, scope: &str) -> latchkey_engine::EndpointResponse {
    h.token(
        &[("grant_type", "client_credentials"), ("scope", scope)],
        post_token().with_authorization(basic(NOTES_CLIENT, SECRET)),
    )
    .await
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_broader_scope_implies_narrower_for_client_credentials() {
    let mut h = notes_harness("notes").await;
    let response = client_credentials(&mut h, "notes:read").await;
    assert_eq!(response.status, 200, "{}", error(&response));
    assert_eq!(body(&response)["scope"], "notes:read");
    let both = client_credentials(&mut h, "notes:read notes:write").await;
    assert_eq!(body(&both)["scope"], "notes:read notes:write");
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_narrower_scope_never_implies_broader_for_client_credentials() {
    let mut h = notes_harness("notes:read").await;
    let broader = client_credentials(&mut h, "notes").await;
    assert_eq!(error(&broader), "invalid_scope");
    let sibling = client_credentials(&mut h, "notes:write").await;
    assert_eq!(error(&sibling), "invalid_scope");
    let own = client_credentials(&mut h, "notes:read").await;
    assert_eq!(own.status, 200);
}

#[tokio::test]
async fn without_a_hierarchy_a_broader_registration_does_not_cover_a_narrower_request() {
    let mut h = notes_harness_with(
        |config| {
            config.resources[0].scopes_supported = Scope::parse("notes notes:read").unwrap();
            config.resources[0].default_scope = Scope::empty();
        },
        "notes",
    )
    .await;
    let response = client_credentials(&mut h, "notes:read").await;
    assert_eq!(error(&response), "invalid_scope");
}

/// Redeems a code for `granted` as the public client; returns its refresh token.
async fn refresh_token_for(h: &mut Harness, granted: &str) -> String {
    let code = h.issue_code_for(PUBLIC, &[RESOURCE], granted, None).await;
    let response = h.redeem_public(&code).await;
    assert_eq!(response.status, 200);
    body(&response)["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

async fn refresh_for(
    h: &mut Harness,
    token: &str,
    scope: &str,
) -> latchkey_engine::EndpointResponse {
    h.token(
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", PUBLIC),
            ("scope", scope),
        ],
        post_token(),
    )
    .await
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_a_refresh_may_narrow_to_an_implied_scope() {
    let mut h = harness_with(notes).await;
    let token = refresh_token_for(&mut h, "notes").await;
    let response = refresh_for(&mut h, &token, "notes:read").await;
    assert_eq!(response.status, 200, "{}", error(&response));
    assert_eq!(body(&response)["scope"], "notes:read");

    // Without the hierarchy, OAuth 2.1 section 4.3.1's plain subset rule.
    let mut flat = harness_with(|config| {
        config.resources[0].scopes_supported = Scope::parse("notes notes:read").unwrap();
        config.resources[0].default_scope = Scope::empty();
    })
    .await;
    let token = refresh_token_for(&mut flat, "notes").await;
    let response = refresh_for(&mut flat, &token, "notes:read").await;
    assert_eq!(error(&response), "invalid_scope");
}

#[tokio::test]
async fn mcp_2026_07_28_step_up_a_refresh_never_widens_to_a_broader_scope() {
    let mut h = harness_with(notes).await;
    let token = refresh_token_for(&mut h, "notes:read").await;
    let response = refresh_for(&mut h, &token, "notes").await;
    assert_eq!(error(&response), "invalid_scope");
}
