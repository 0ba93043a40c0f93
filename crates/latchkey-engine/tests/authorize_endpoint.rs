//! The authorization endpoint: where each error goes (page or redirect), what
//! a valid request becomes, and the code redirect (OAuth 2.1 section 4.1,
//! RFC 9207, RFC 8707, MCP A8, A13, A14).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use authorize_common::*;
use latchkey_engine::authorize::{AuthorizationDecision, AuthorizeOutcome};
use latchkey_engine::{ClientSource, Params};
use latchkey_registration::CimdPolicy;
use latchkey_store::{ClientRecord, ClientStore, ConsentStore};
use latchkey_token::code::RedirectUriSource;
use latchkey_types::{ClientId, ErrorCode, Subject, UnixTime};

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

#[tokio::test]
async fn a14_oauth_2_1_section_4_1_2_1_missing_client_id_is_a_page_not_a_redirect() {
    let engine = engine().await;
    let (error, description) = page(authorize(&engine, &request("", &[])).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
    assert_eq!(description, "client_id is missing");
}

#[tokio::test]
async fn a14_unknown_or_malformed_client_is_a_page() {
    let engine = engine().await;
    let (error, _) = page(authorize(&engine, &request("nobody", &[])).await);
    assert_eq!(error, ErrorCode::InvalidClient);
    let (error, _) = page(authorize(&engine, &request("a\u{7f}b", &[])).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn a14_an_unfetchable_metadata_document_client_is_a_page() {
    let engine = engine().await;
    let list = request("https://app.example.net/other.json", &[]);
    let (error, _) = page(authorize(&engine, &list).await);
    assert_eq!(error, ErrorCode::InvalidClient);
}

/// CIMD draft section 3: a URL client id that is not an acceptable document
/// URL (plain `http`, a query, ...) is refused on a page that says why, before
/// anything is fetched (the fake fetcher would answer 404, "could not be
/// fetched"). Loopback `http` passes only with the danger setting, and is then
/// fetched like any other document URL.
#[tokio::test]
async fn a7_a14_a_metadata_url_the_policy_refuses_is_a_page_that_says_why() {
    let engine = engine().await;
    for (client_id, why) in [
        (
            "http://127.0.0.1:8080/client.json",
            "client id metadata url is not https",
        ),
        (
            "https://app.example.net/oauth/client.json?v=1",
            "client id metadata url has a query",
        ),
    ] {
        let (error, description) = page(authorize(&engine, &request(client_id, &[])).await);
        assert_eq!(error, ErrorCode::InvalidClient, "{client_id}");
        assert_eq!(description, why, "{client_id}");
    }

    let mut danger = config();
    danger.cimd = Some(CimdPolicy::strict_default().danger_allow_loopback_http_urls());
    let engine = engine_with(danger).await;
    let (error, description) =
        page(authorize(&engine, &request("http://127.0.0.1:8080/client.json", &[])).await);
    assert_eq!(error, ErrorCode::InvalidClient);
    assert_eq!(
        description,
        "the client id metadata document could not be fetched"
    );
}

#[tokio::test]
async fn a13_a14_redirect_uri_must_match_exactly_or_it_is_a_page() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    for wrong in [
        "https://client.example.org/cb/",
        "https://client.example.org/cb?x=1",
        "https://client.example.org/CB",
        "https://CLIENT.example.org/cb",
        "https://client.example.org:443/cb",
        "https://client.example.org/c",
        "https://attacker.example/cb",
        "http://client.example.org/cb",
        "https://client.example.org/cb#frag",
    ] {
        let (error, _) =
            page(authorize(&engine, &request(&client, &[("redirect_uri", wrong)])).await);
        assert_eq!(error, ErrorCode::InvalidRequest, "{wrong}");
    }
    // Even with every other parameter wrong, the page comes first: nothing is redirected.
    let list = request(
        &client,
        &[
            ("redirect_uri", "https://attacker.example/cb"),
            ("response_type", "token"),
        ],
    );
    page(authorize(&engine, &list).await);
}

#[tokio::test]
async fn a13_rfc_8252_section_7_3_loopback_redirect_any_port() {
    let engine = engine().await;
    let body = register(
        &engine,
        serde_json::json!({
            "redirect_uris": [LOOPBACK],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let client = body["client_id"].as_str().unwrap().to_owned();
    let sent = "http://127.0.0.1:51004/callback";
    let pending = pending(authorize(&engine, &request(&client, &[("redirect_uri", sent)])).await);
    assert_eq!(
        pending.redirect_uri().as_str(),
        sent,
        "kept as sent, with its port"
    );
    assert_eq!(pending.redirect_host(), Some("127.0.0.1"));
    // The path still compares exactly.
    let (error, _) = page(
        authorize(
            &engine,
            &request(
                &client,
                &[("redirect_uri", "http://127.0.0.1:51004/callback2")],
            ),
        )
        .await,
    );
    assert_eq!(error, ErrorCode::InvalidRequest);
    let (error, _) = page(
        authorize(
            &engine,
            &request(
                &client,
                &[("redirect_uri", "http://localhost:51004/callback")],
            ),
        )
        .await,
    );
    assert_eq!(error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn oauth_2_1_section_4_1_1_redirect_uri_optional_with_one_registered() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending(authorize(&engine, &request(&client, &[("redirect_uri", "")])).await);
    assert_eq!(pending.redirect_uri().as_str(), REDIRECT);
    assert_eq!(pending.redirect_uri_source(), RedirectUriSource::Registered);
    let pending2 = pending_with(&engine, &client).await;
    assert_eq!(pending2.redirect_uri_source(), RedirectUriSource::Request);
}

async fn pending_with(
    engine: &TestEngine,
    client: &str,
) -> latchkey_engine::authorize::PendingAuthorization {
    pending(authorize(engine, &request(client, &[])).await)
}

#[tokio::test]
async fn oauth_2_1_section_4_1_1_redirect_uri_required_with_several_registered() {
    let engine = engine().await;
    let body = register(
        &engine,
        serde_json::json!({
            "redirect_uris": [REDIRECT, "https://client.example.org/other"],
            "token_endpoint_auth_method": "none",
        }),
    )
    .await;
    let client = body["client_id"].as_str().unwrap();
    let (error, _) = page(authorize(&engine, &request(client, &[("redirect_uri", "")])).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
    let pending = pending(
        authorize(
            &engine,
            &request(
                client,
                &[("redirect_uri", "https://client.example.org/other")],
            ),
        )
        .await,
    );
    assert_eq!(
        pending.redirect_uri().as_str(),
        "https://client.example.org/other"
    );
}

#[tokio::test]
async fn oauth_2_1_section_3_1_repeated_client_id_or_redirect_uri_is_a_page() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let mut list = request(&client, &[]);
    list.push(("client_id", &client));
    let (error, description) = page(engine.authorize_pairs(pairs(&list), NOW).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
    assert_eq!(description, "client_id is repeated");
    let mut list = request(&client, &[]);
    list.push(("redirect_uri", REDIRECT));
    let (error, _) = page(engine.authorize_pairs(pairs(&list), NOW).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn oauth_2_1_section_3_1_other_repeats_are_redirected_as_invalid_request() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let mut list = request(&client, &[("scope", "mcp:read")]);
    list.push(("scope", "mcp:write"));
    assert_error_redirect(
        engine.authorize_pairs(pairs(&list), NOW).await,
        ErrorCode::InvalidRequest,
    );

    // A repeated state is not echoed.
    let mut list = request(&client, &[]);
    list.push(("state", "second"));
    let (_, query) = redirect(engine.authorize_pairs(pairs(&list), NOW).await);
    assert_eq!(value(&query, "error"), Some("invalid_request"));
    assert_eq!(value(&query, "state"), None);
    assert_eq!(value(&query, "iss"), Some(ISSUER));

    // An oversized value and too many parameters, likewise.
    let long = "x".repeat(Params::MAX_VALUE_LEN + 1);
    let list = request(&client, &[("nonce", &long)]);
    assert_error_redirect(
        engine.authorize_pairs(pairs(&list), NOW).await,
        ErrorCode::InvalidRequest,
    );
    let list = request(&client, &[("state", &long)]);
    let (_, query) = redirect(engine.authorize_pairs(pairs(&list), NOW).await);
    assert_eq!(value(&query, "error"), Some("invalid_request"));
    assert_eq!(value(&query, "state"), None);
    let names: Vec<String> = (0..Params::MAX_PARAMS).map(|i| format!("p{i}")).collect();
    let mut list = request(&client, &[]);
    list.extend(names.iter().map(|n| (n.as_str(), "v")));
    assert_error_redirect(
        engine.authorize_pairs(pairs(&list), NOW).await,
        ErrorCode::InvalidRequest,
    );

    // And a valid request goes through authorize_pairs unchanged.
    pending(
        engine
            .authorize_pairs(pairs(&request(&client, &[])), NOW)
            .await,
    );
}

#[tokio::test]
async fn oauth_2_1_section_4_1_2_1_repeated_resource_is_allowed_rfc_8707_section_2() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let mut list = request(
        &client,
        &[("resource", RESOURCE), ("scope", "mcp:read files:read")],
    );
    list.push(("resource", FILES));
    list.push(("resource", "HTTPS://MCP.EXAMPLE.COM:443/mcp"));
    let pending = pending(engine.authorize_pairs(pairs(&list), NOW).await);
    let granted: Vec<&str> = pending.resources().iter().map(|r| r.as_str()).collect();
    assert_eq!(granted, [FILES, RESOURCE]);
}

#[tokio::test]
async fn oauth_2_1_section_4_1_1_response_type_missing_or_unsupported() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let outcome = authorize(&engine, &request(&client, &[("response_type", "")])).await;
    assert_error_redirect(outcome, ErrorCode::InvalidRequest);
    for other in ["token", "code id_token", "CODE"] {
        let outcome = authorize(&engine, &request(&client, &[("response_type", other)])).await;
        assert_error_redirect(outcome, ErrorCode::UnsupportedResponseType);
    }
}

#[tokio::test]
async fn oauth_2_1_section_4_1_2_1_client_without_the_code_grant_is_unauthorized_client() {
    let engine = engine().await;
    let metadata = serde_json::json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let record = ClientRecord {
        client_id: ClientId::parse("service-client").unwrap(),
        metadata: metadata.as_object().unwrap().clone(),
        secret_digest: None,
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: NOW,
        first_used_at: None,
        may_introspect: false,
    };
    engine.store().register_client(&record, 100).await.unwrap();
    let outcome = authorize(&engine, &request("service-client", &[])).await;
    assert_error_redirect(outcome, ErrorCode::UnauthorizedClient);
}

#[tokio::test]
async fn oauth_2_1_section_4_1_1_pkce_s256_is_required() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    for extra in [
        [("code_challenge", ""), ("code_challenge_method", "S256")],
        [("code_challenge", CHALLENGE), ("code_challenge_method", "")],
        [
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "plain"),
        ],
        [
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "s256"),
        ],
        [
            ("code_challenge", "short"),
            ("code_challenge_method", "S256"),
        ],
        [
            (
                "code_challenge",
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c+",
            ),
            ("code_challenge_method", "S256"),
        ],
    ] {
        let outcome = authorize(&engine, &request(&client, &extra)).await;
        assert_error_redirect(outcome, ErrorCode::InvalidRequest);
    }
    let (_, query) = redirect(
        authorize(
            &engine,
            &request(&client, &[("code_challenge_method", "plain")]),
        )
        .await,
    );
    assert!(
        value(&query, "error_description")
            .unwrap()
            .contains("transform algorithm not supported")
    );
}

#[tokio::test]
async fn rfc_8707_section_2_resource_rules() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    // Absent: the configured default resource and its default scope.
    let pending_default = pending(authorize(&engine, &request(&client, &[])).await);
    assert_eq!(pending_default.resources()[0].as_str(), RESOURCE);
    assert_eq!(pending_default.resources().len(), 1);
    assert_eq!(pending_default.scope().to_string(), "mcp:read");
    // Canonicalized (R10: uppercase scheme and host, default port, trailing slash).
    let pending_canonical = pending(
        authorize(
            &engine,
            &request(&client, &[("resource", "HTTPS://Mcp.Example.com:443/mcp")]),
        )
        .await,
    );
    assert_eq!(pending_canonical.resources()[0].as_str(), RESOURCE);
    // Unknown, relative, with a fragment: invalid_target, redirected.
    for bad in [
        "https://other.example.com/mcp",
        "https://mcp.example.com/mcp/tools",
        "/mcp",
        "https://mcp.example.com/mcp#x",
        "urn:x",
    ] {
        let outcome = authorize(&engine, &request(&client, &[("resource", bad)])).await;
        assert_error_redirect(outcome, ErrorCode::InvalidTarget);
    }
}

#[tokio::test]
async fn rfc_6749_section_3_3_scope_rules() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    for bad in [
        "mcp:read  mcp:write",
        " mcp:read",
        "mcp:read\"",
        "mcp:admin",
        "files:read",
    ] {
        let outcome = authorize(&engine, &request(&client, &[("scope", bad)])).await;
        assert_error_redirect(outcome, ErrorCode::InvalidScope);
    }
    let pending = pending(
        authorize(
            &engine,
            &request(&client, &[("scope", "mcp:write mcp:read")]),
        )
        .await,
    );
    assert_eq!(pending.scope().to_string(), "mcp:read mcp:write");
    // A resource without a default scope gets an empty scope when none is asked for.
    let files = pending_for(&engine, &client, &[("resource", FILES)]).await;
    assert!(files.scope().is_empty());
}

async fn pending_for(
    engine: &TestEngine,
    client: &str,
    extra: &[(&str, &str)],
) -> latchkey_engine::authorize::PendingAuthorization {
    pending(authorize(engine, &request(client, extra)).await)
}

#[tokio::test]
async fn scope_is_bounded_by_the_client_registered_scope() {
    let engine = engine().await;
    let body = register(
        &engine,
        serde_json::json!({
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "scope": "mcp:write",
        }),
    )
    .await;
    let client = body["client_id"].as_str().unwrap();
    // A dynamically registered client: the error is a page (RFC 9700 section 4.11.2).
    let (error, _) = page(authorize(&engine, &request(client, &[("scope", "mcp:read")])).await);
    assert_eq!(error, ErrorCode::InvalidScope);
    let ok = pending_for(&engine, client, &[("scope", "mcp:write")]).await;
    assert_eq!(ok.scope().to_string(), "mcp:write");
    // The default (mcp:read) narrowed to what the client registered: nothing.
    let default = pending_for(&engine, client, &[]).await;
    assert!(default.scope().is_empty());
}

#[tokio::test]
async fn mcp_2026_07_28_offline_access_is_not_a_resource_scope() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending_for(&engine, &client, &[("scope", "mcp:read offline_access")]).await;
    assert_eq!(pending.scope().to_string(), "mcp:read");
    assert!(pending.offline_access_requested());
    let plain = pending_for(&engine, &client, &[("scope", "mcp:read")]).await;
    assert!(!plain.offline_access_requested());
}

#[tokio::test]
async fn rfc_9449_section_10_dpop_jkt() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let pending = pending_for(&engine, &client, &[("dpop_jkt", JKT)]).await;
    assert_eq!(pending.dpop_jkt(), Some(JKT));
    for bad in [
        "short",
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I=",
        "0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
    ] {
        let outcome = authorize(&engine, &request(&client, &[("dpop_jkt", bad)])).await;
        assert_error_redirect(outcome, ErrorCode::InvalidRequest);
    }
}

#[tokio::test]
async fn response_mode_and_request_objects_are_refused() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    for extra in [
        ("response_mode", "fragment"),
        ("response_mode", "form_post"),
        ("request", "eyJhbGciOiJub25lIn0.e30."),
        ("request_uri", "urn:ietf:params:oauth:request_uri:x"),
    ] {
        let outcome = authorize(&engine, &request(&client, &[extra])).await;
        assert_error_redirect(outcome, ErrorCode::InvalidRequest);
    }
    pending_for(&engine, &client, &[("response_mode", "query")]).await;
}

#[tokio::test]
async fn oauth_2_1_section_4_1_2_state_is_echoed_exactly() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let state = "a b&c=d/é+%20\"<>";
    let pending = pending_for(&engine, &client, &[("state", state)]).await;
    assert_eq!(pending.state(), Some(state));
    let response = engine
        .complete_authorization(pending, approve(false), NOW, &mut rng(3))
        .await;
    let (_, query) = location(&response);
    assert_eq!(value(&query, "state"), Some(state));
    // Without state, none is sent.
    let pending = pending_for(&engine, &client, &[("state", "")]).await;
    let response = engine
        .complete_authorization(pending, approve(false), NOW, &mut rng(3))
        .await;
    let (_, query) = location(&response);
    assert_eq!(value(&query, "state"), None);
}

#[tokio::test]
async fn rfc_9207_section_2_iss_on_success_on_error_and_on_denial() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let approved = engine
        .complete_authorization(
            pending_with(&engine, &client).await,
            approve(false),
            NOW,
            &mut rng(3),
        )
        .await;
    let (base, query) = location(&approved);
    assert_eq!(base, REDIRECT);
    assert_eq!(value(&query, "iss"), Some(ISSUER));
    assert_eq!(value(&query, "state"), Some("af0ifjsldkj"));
    assert_eq!(value(&query, "code").map(str::len), Some(43));
    let keys: Vec<&str> = query.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(keys, ["code", "state", "iss"]);

    let denied = engine
        .complete_authorization(
            pending_with(&engine, &client).await,
            AuthorizationDecision::Deny,
            NOW,
            &mut rng(3),
        )
        .await;
    let (_, query) = location(&denied);
    assert_eq!(value(&query, "error"), Some("access_denied"));
    assert_eq!(value(&query, "iss"), Some(ISSUER));
    assert_eq!(value(&query, "state"), Some("af0ifjsldkj"));
    assert_eq!(value(&query, "code"), None);

    let error = authorize(&engine, &request(&client, &[("response_type", "token")])).await;
    let (_, query) = redirect(error);
    assert_eq!(value(&query, "iss"), Some(ISSUER));
    assert!(value(&query, "error_description").is_some());
}

#[tokio::test]
async fn oauth_2_1_section_2_3_registered_query_is_kept() {
    let engine = engine().await;
    let with_query = "https://client.example.org/cb?tenant=a";
    let body = register(
        &engine,
        serde_json::json!({ "redirect_uris": [with_query], "token_endpoint_auth_method": "none" }),
    )
    .await;
    let client = body["client_id"].as_str().unwrap();
    let pending = pending_for(&engine, client, &[("redirect_uri", with_query)]).await;
    let response = engine
        .complete_authorization(pending, approve(false), NOW, &mut rng(3))
        .await;
    let (base, query) = location(&response);
    assert_eq!(base, "https://client.example.org/cb");
    assert_eq!(query[0], ("tenant".to_owned(), "a".to_owned()));
    assert!(value(&query, "code").is_some());
}

#[tokio::test]
async fn consent_is_remembered_per_subject_client_and_scope() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending_for(&engine, &client, &[("scope", "mcp:read")]).await;
    assert!(
        !engine
            .consent_is_remembered(&pending, &alice())
            .await
            .unwrap()
    );
    engine
        .complete_authorization(pending.clone(), approve(true), NOW, &mut rng(3))
        .await;
    assert!(
        engine
            .consent_is_remembered(&pending, &alice())
            .await
            .unwrap()
    );
    let bob = Subject::parse("bob").unwrap();
    assert!(!engine.consent_is_remembered(&pending, &bob).await.unwrap());
    let broader = pending_for(&engine, &client, &[("scope", "mcp:read mcp:write")]).await;
    assert!(
        !engine
            .consent_is_remembered(&broader, &alice())
            .await
            .unwrap()
    );
    // Not remembering leaves the store alone.
    engine
        .complete_authorization(broader.clone(), approve(false), NOW, &mut rng(4))
        .await;
    assert!(
        !engine
            .consent_is_remembered(&broader, &alice())
            .await
            .unwrap()
    );
    assert!(
        !engine
            .store()
            .consent_covers(
                &alice(),
                &ClientId::parse(&client).unwrap(),
                broader.resources(),
                broader.scope(),
                false,
            )
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a8_metadata_document_client_shows_host_and_loopback_warning() {
    let engine = engine().await;
    let list = request(
        CIMD_URL,
        &[("redirect_uri", "http://127.0.0.1:6274/callback")],
    );
    let pending = pending(authorize(&engine, &list).await);
    assert!(pending.is_metadata_document_client());
    assert!(pending.loopback_redirect_warning());
    assert_eq!(pending.display_name(), "Metadata App");
    assert_eq!(pending.redirect_host(), Some("127.0.0.1"));
    // A loopback-only metadata client is asked every time unless the user
    // chose to remember consent for a loopback request.
    let client = ClientId::parse(CIMD_URL).unwrap();
    engine
        .store()
        .remember_consent(
            &alice(),
            &client,
            pending.resources(),
            pending.scope(),
            false,
            NOW,
        )
        .await
        .unwrap();
    assert!(
        !engine
            .consent_is_remembered(&pending, &alice())
            .await
            .unwrap()
    );
    engine
        .complete_authorization(pending.clone(), approve(true), NOW, &mut rng(3))
        .await;
    assert!(
        engine
            .consent_is_remembered(&pending, &alice())
            .await
            .unwrap(),
        "the user opted in"
    );
    // A7: the redirect URI is checked against the document.
    let list = request(CIMD_URL, &[("redirect_uri", REDIRECT)]);
    let (error, _) = page(authorize(&engine, &list).await);
    assert_eq!(error, ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn registered_clients_carry_no_loopback_warning() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending_for(&engine, &client, &[]).await;
    assert!(!pending.loopback_redirect_warning());
    assert!(!pending.is_metadata_document_client());
    assert_eq!(pending.display_name(), "Test Client");
    assert_eq!(pending.redirect_host(), Some("client.example.org"));
    let resolved = engine
        .resolve_client(&ClientId::parse(&client).unwrap(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.source, ClientSource::DynamicallyRegistered);
}

#[tokio::test]
async fn pending_authorization_round_trips_through_serde() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending_for(
        &engine,
        &client,
        &[("dpop_jkt", JKT), ("scope", "mcp:read offline_access")],
    )
    .await;
    let json = serde_json::to_string(&pending).unwrap();
    let back: latchkey_engine::authorize::PendingAuthorization =
        serde_json::from_str(&json).unwrap();
    assert_eq!(back, pending);
}

#[tokio::test]
async fn errors_change_no_stored_state() {
    let engine = engine().await;
    let client = admin_client(&engine).await;
    let before = engine.store().list_clients().await.unwrap();
    for extra in [
        ("response_type", "token"),
        ("scope", "nope"),
        ("resource", "https://x.example/"),
    ] {
        let outcome = authorize(&engine, &request(&client, &[extra])).await;
        assert!(matches!(outcome, AuthorizeOutcome::Redirect(_)));
    }
    assert_eq!(engine.store().list_clients().await.unwrap(), before);
    let pending = pending_for(&engine, &client, &[]).await;
    assert!(
        !engine
            .consent_is_remembered(&pending, &alice())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn oauth_2_1_section_4_1_full_flow_authorize_complete_token() {
    let engine = engine().await;
    let client = public_client(&engine).await;
    let pending = pending_for(
        &engine,
        &client,
        &[("resource", RESOURCE), ("scope", "mcp:read mcp:write")],
    )
    .await;
    let response = engine
        .complete_authorization(pending, approve(false), NOW, &mut rng(5))
        .await;
    let (_, query) = location(&response);
    let code = value(&query, "code").unwrap().to_owned();
    let token_params = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("client_id", &client),
        ("code_verifier", VERIFIER),
        ("resource", RESOURCE),
    ]);
    let later = UnixTime::from_secs(NOW.as_secs() + 5);
    let http = latchkey_engine::HttpContext::new("POST", "https://as.example.com/token");
    let token = engine.token(&token_params, &http, later, &mut rng(6)).await;
    assert_eq!(token.status, 200, "{:?}", token.json_body());
    let body = json(&token);
    assert!(body["access_token"].is_string());
    assert_eq!(body["scope"], "mcp:read mcp:write");
    // The code is single use.
    let again = engine.token(&token_params, &http, later, &mut rng(7)).await;
    assert_eq!(again.status, 400);
    assert_eq!(json(&again)["error"], "invalid_grant");
    // A wrong verifier fails too (PKCE bound at the authorization endpoint).
    let pending = pending_for(&engine, &client, &[]).await;
    let response = engine
        .complete_authorization(pending, approve(false), NOW, &mut rng(8))
        .await;
    let (_, query) = location(&response);
    let code = value(&query, "code").unwrap().to_owned();
    let wrong = params(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("client_id", &client),
        (
            "code_verifier",
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx",
        ),
    ]);
    let refused = engine.token(&wrong, &http, later, &mut rng(9)).await;
    assert_eq!(json(&refused)["error"], "invalid_grant");
}
