//! What the consent and sign-in pages are told: remembered consent keyed by
//! resources and scope, `prompt` and `max_age` (OpenID Connect Core 1.0
//! section 3.1.2.1), the `prompt=none` error answers (section 3.1.2.6),
//! loopback redirects, how long a client stays connected, and which errors
//! are a page rather than a redirect (RFC 9700 section 4.11.2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use std::time::Duration;

use authorize_common::*;
use latchkey_engine::authorize::{AuthorizationDecision, AuthorizeOutcome, PromptNoneRefusal};
use latchkey_token::refresh::RefreshPolicy;
use latchkey_types::{ErrorCode, Subject, UnixTime};

fn alice() -> Subject {
    Subject::parse("alice").unwrap()
}

fn approve(remember: bool) -> AuthorizationDecision {
    AuthorizationDecision::Approve {
        subject: alice(),
        auth_time: NOW,
        remember_consent: remember,
    }
}

async fn remembered(engine: &TestEngine, client: &str, extra: &[(&str, &str)]) -> bool {
    let pending = pending(authorize(engine, &request(client, extra)).await);
    engine
        .consent_is_remembered(&pending, &alice())
        .await
        .unwrap()
}

/// A dynamically registered public client with an `https` and a loopback
/// redirect URI.
async fn client_with_loopback(engine: &TestEngine) -> String {
    let body = register(
        engine,
        serde_json::json!({
            "client_name": "Desktop Client",
            "redirect_uris": [REDIRECT, LOOPBACK],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    body["client_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn security_remembered_consent_covers_only_the_approved_resources_and_scope() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let approved = pending(
        authorize(
            &engine,
            &request(&client, &[("resource", RESOURCE), ("scope", "mcp:read")]),
        )
        .await,
    );
    engine
        .complete_authorization(approved, approve(true), NOW, &mut rng(3))
        .await;

    assert!(
        remembered(
            &engine,
            &client,
            &[("resource", RESOURCE), ("scope", "mcp:read")]
        )
        .await
    );
    assert!(
        !remembered(
            &engine,
            &client,
            &[("resource", FILES), ("scope", "files:read")]
        )
        .await,
        "another resource was never approved"
    );
    assert!(
        !remembered(&engine, &client, &[("resource", FILES), ("scope", "")]).await,
        "another resource, even with no scope"
    );
    let mut both = request(&client, &[("resource", RESOURCE), ("scope", "mcp:read")]);
    both.push(("resource", FILES));
    let both = pending(engine.authorize_pairs(pairs(&both), NOW).await);
    assert!(
        !engine.consent_is_remembered(&both, &alice()).await.unwrap(),
        "a larger resource set"
    );
    assert!(
        !remembered(
            &engine,
            &client,
            &[("resource", RESOURCE), ("scope", "mcp:read mcp:write")]
        )
        .await,
        "a larger scope"
    );

    // Approving both resources together covers each of them on its own.
    engine
        .complete_authorization(both, approve(true), NOW, &mut rng(4))
        .await;
    assert!(remembered(&engine, &client, &[("resource", FILES), ("scope", "")]).await);
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_prompt_and_max_age_are_parsed_strictly() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let plain = pending(authorize(&engine, &request(&client, &[])).await);
    assert_eq!(plain.prompt(), Default::default());
    assert_eq!(plain.max_age(), None);
    assert_eq!(plain.requested_at(), NOW);

    let both = pending(
        authorize(
            &engine,
            &request(&client, &[("prompt", "login consent"), ("max_age", "300")]),
        )
        .await,
    );
    assert!(both.prompt().login() && both.prompt().consent() && !both.prompt().none());
    assert_eq!(both.max_age(), Some(Duration::from_secs(300)));
    let none = pending(authorize(&engine, &request(&client, &[("prompt", "none")])).await);
    assert!(none.prompt().none());

    for extra in [
        ("prompt", "none login"),
        ("prompt", "consent none"),
        ("prompt", "create"),
        ("prompt", "Login"),
        ("prompt", "login  consent"),
        ("prompt", "login login"),
        ("max_age", "-1"),
        ("max_age", "1.5"),
        ("max_age", "ten"),
        ("max_age", "99999999999"),
    ] {
        let outcome = authorize(&engine, &request(&client, &[extra])).await;
        assert_error_redirect(outcome, ErrorCode::InvalidRequest);
    }
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_login_and_max_age_decide_when_to_sign_in_again() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let later = |secs| UnixTime::from_secs(NOW.as_secs() + secs);
    let earlier = UnixTime::from_secs(NOW.as_secs() - 10);

    let plain = pending(authorize(&engine, &request(&client, &[])).await);
    assert!(plain.must_sign_in(None, NOW), "no session");
    assert!(!plain.must_sign_in(Some(earlier), later(86_400)));

    let login = pending(authorize(&engine, &request(&client, &[("prompt", "login")])).await);
    assert!(
        login.must_sign_in(Some(earlier), NOW),
        "a session from before the request"
    );
    assert!(
        !login.must_sign_in(Some(later(5)), later(5)),
        "signed in for this request"
    );

    let max_age = pending(authorize(&engine, &request(&client, &[("max_age", "60")])).await);
    assert!(!max_age.must_sign_in(Some(NOW), later(60)));
    assert!(
        max_age.must_sign_in(Some(NOW), later(61)),
        "older than max_age"
    );

    let zero = pending(authorize(&engine, &request(&client, &[("max_age", "0")])).await);
    assert!(
        zero.must_sign_in(Some(earlier), NOW),
        "max_age=0 is prompt=login"
    );
    assert!(!zero.must_sign_in(Some(NOW), NOW));
}

#[tokio::test]
async fn openid_connect_core_3_1_2_1_prompt_consent_is_never_remembered() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let first = pending(authorize(&engine, &request(&client, &[])).await);
    engine
        .complete_authorization(first, approve(true), NOW, &mut rng(3))
        .await;
    assert!(remembered(&engine, &client, &[]).await);
    assert!(!remembered(&engine, &client, &[("prompt", "consent")]).await);
    assert!(!remembered(&engine, &client, &[("prompt", "login consent")]).await);
    // prompt=none with the consent remembered: the pages complete without asking.
    let silent = pending(authorize(&engine, &request(&client, &[("prompt", "none")])).await);
    assert!(
        engine
            .consent_is_remembered(&silent, &alice())
            .await
            .unwrap()
    );
    let response = engine
        .complete_authorization(silent, approve(false), NOW, &mut rng(4))
        .await;
    let (_, query) = location(&response);
    assert!(value(&query, "code").is_some());
}

#[tokio::test]
async fn openid_connect_core_3_1_2_6_prompt_none_refusals_redirect_with_state_and_iss() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let silent = pending(authorize(&engine, &request(&client, &[("prompt", "none")])).await);
    for (refusal, code) in [
        (PromptNoneRefusal::LoginRequired, ErrorCode::LoginRequired),
        (
            PromptNoneRefusal::ConsentRequired,
            ErrorCode::ConsentRequired,
        ),
        (
            PromptNoneRefusal::InteractionRequired,
            ErrorCode::InteractionRequired,
        ),
    ] {
        assert_eq!(refusal.error_code(), code);
        assert_error_redirect(engine.refuse_prompt_none(&silent, refusal), code);
    }
    // Nothing was stored.
    assert!(
        !engine
            .consent_is_remembered(&silent, &alice())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn rfc_9700_section_4_11_2_prompt_none_refusal_for_a_dynamic_client_is_a_page() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let silent = pending(authorize(&engine, &request(&client, &[("prompt", "none")])).await);
    assert!(silent.is_unvetted_client());
    let (error, _) = page(engine.refuse_prompt_none(&silent, PromptNoneRefusal::LoginRequired));
    assert_eq!(error, ErrorCode::LoginRequired);
}

#[tokio::test]
async fn security_loopback_consent_is_remembered_only_when_chosen_for_loopback() {
    let engine = engine().await;
    let client = client_with_loopback(&engine).await;
    let loopback = [("redirect_uri", "http://127.0.0.1:50123/callback")];
    let https = pending(authorize(&engine, &request(&client, &[])).await);
    assert!(!https.redirect_is_loopback());
    let local = pending(authorize(&engine, &request(&client, &loopback)).await);
    assert!(local.redirect_is_loopback());
    assert!(!local.loopback_redirect_warning(), "a registered client");

    // A consent remembered for the https redirect does not cover a loopback one.
    engine
        .complete_authorization(https, approve(true), NOW, &mut rng(3))
        .await;
    assert!(remembered(&engine, &client, &[]).await);
    assert!(!remembered(&engine, &client, &loopback).await);

    // Approving a loopback request without choosing to remember records nothing.
    engine
        .complete_authorization(local.clone(), approve(false), NOW, &mut rng(4))
        .await;
    assert!(!remembered(&engine, &client, &loopback).await);

    // Choosing to remember it does, for any loopback port.
    engine
        .complete_authorization(local, approve(true), NOW, &mut rng(5))
        .await;
    assert!(remembered(&engine, &client, &loopback).await);
    assert!(
        remembered(
            &engine,
            &client,
            &[("redirect_uri", "http://127.0.0.1:6000/callback")]
        )
        .await
    );
}

#[tokio::test]
async fn mcp_refresh_tokens_stays_connected_for_the_refresh_family_lifetime() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let with_refresh = pending(authorize(&engine, &request(&client, &[])).await);
    assert!(!with_refresh.offline_access_requested());
    assert_eq!(
        engine.stays_connected_for(&with_refresh),
        Some(RefreshPolicy::DEFAULT_FAMILY_LIFETIME),
        "a refresh token is issued without offline_access"
    );

    // (A second engine: the test registration RNG is seeded the same every time.)
    let other = authorize_common::engine().await;
    let body = register(
        &other,
        serde_json::json!({
            "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let code_only = body["client_id"].as_str().unwrap();
    let without = pending(authorize(&other, &request(code_only, &[])).await);
    assert_eq!(other.stays_connected_for(&without), None);

    let mut config = config();
    config.issue_refresh_tokens = false;
    config.refresh_policy =
        RefreshPolicy::new(Duration::from_secs(7 * 86_400), Duration::ZERO).unwrap();
    let off = engine_with(config).await;
    let client = public_client(&off).await;
    let refused = pending(authorize(&off, &request(&client, &[])).await);
    assert_eq!(off.stays_connected_for(&refused), None);

    let mut config = authorize_common::config();
    config.refresh_policy =
        RefreshPolicy::new(Duration::from_secs(7 * 86_400), Duration::ZERO).unwrap();
    let week = engine_with(config).await;
    let client = public_client(&week).await;
    let weekly = pending(authorize(&week, &request(&client, &[])).await);
    assert_eq!(
        week.stays_connected_for(&weekly),
        Some(Duration::from_secs(7 * 86_400))
    );
}

/// RFC 9700 section 4.11.2: anyone can register `https://phish.example/login`;
/// an invalid request for that client is shown, not redirected there.
#[tokio::test]
async fn security_dynamic_client_errors_are_a_page_until_the_user_interacts() {
    let engine = engine().await;
    let phish = "https://phish.example/login";
    let body = register(
        &engine,
        serde_json::json!({
            "redirect_uris": [phish],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let client = body["client_id"].as_str().unwrap();
    for extra in [
        ("response_type", "token"),
        ("code_challenge", ""),
        ("scope", "nope"),
        ("resource", "https://x.example/"),
        ("prompt", "bogus"),
    ] {
        let outcome = authorize(&engine, &request(client, &[extra, ("redirect_uri", phish)])).await;
        assert!(
            matches!(outcome, AuthorizeOutcome::ErrorPage { .. }),
            "{extra:?}: {outcome:?}"
        );
    }
    let mut repeated = request(client, &[("redirect_uri", phish)]);
    repeated.push(("scope", "a"));
    repeated.push(("scope", "b"));
    let (error, _) = page(engine.authorize_pairs(pairs(&repeated), NOW).await);
    assert_eq!(error, ErrorCode::InvalidRequest);

    // After the user interacted (denied on the consent page), the redirect is sent.
    let shown = pending(authorize(&engine, &request(client, &[("redirect_uri", phish)])).await);
    assert!(shown.is_unvetted_client());
    let denied = engine
        .complete_authorization(shown, AuthorizationDecision::Deny, NOW, &mut rng(3))
        .await;
    let (base, query) = location(&denied);
    assert_eq!(base, phish);
    assert_eq!(value(&query, "error"), Some("access_denied"));
}

#[tokio::test]
async fn security_metadata_document_client_errors_are_a_page() {
    let engine = engine().await;
    let list = request(
        CIMD_URL,
        &[
            ("redirect_uri", "http://127.0.0.1:6274/callback"),
            ("response_type", "token"),
        ],
    );
    let (error, _) = page(authorize(&engine, &list).await);
    assert_eq!(error, ErrorCode::UnsupportedResponseType);
    let list = request(
        CIMD_URL,
        &[("redirect_uri", "http://127.0.0.1:6274/callback")],
    );
    assert!(pending(authorize(&engine, &list).await).is_unvetted_client());
}

#[tokio::test]
async fn administrator_client_errors_are_still_redirected() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let outcome = authorize(&engine, &request(&client, &[("response_type", "token")])).await;
    assert_error_redirect(outcome, ErrorCode::UnsupportedResponseType);
    assert!(!pending(authorize(&engine, &request(&client, &[])).await).is_unvetted_client());
}
