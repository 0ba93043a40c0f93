//! Code -> token -> refresh flows, replay and reuse detection, the retry rule,
//! and concurrency (OAuth 2.1 sections 4.1.3 and 4.3.1, RFC 9700 section 4.14,
//! MCP A9 and A10).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use latchkey_store::GrantStore;
use latchkey_types::UnixTime;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

#[tokio::test]
async fn oauth_2_1_section_4_1_3_code_token_refresh_refresh() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let response = h.redeem_public(&code).await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("pragma"), Some("no-cache"));
    let tokens = body(&response);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 300); // MCP A9
    assert_eq!(tokens["scope"], "mcp:read");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = jwt_claims(access);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], RESOURCE);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], PUBLIC);
    assert_eq!(claims["auth_time"], NOW - 10);
    assert_eq!(claims["exp"], NOW + 300);
    assert!(claims.get("cnf").is_none());
    let record = h
        .store()
        .access_token(claims["jti"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!record.revoked);
    assert!(record.family.is_some());
    let refresh1 = tokens["refresh_token"].as_str().unwrap().to_owned();

    let later = UnixTime::from_secs(NOW + 100);
    let response = h.refresh_public(&refresh1, later).await;
    assert_eq!(response.status, 200);
    let tokens = body(&response);
    let refresh2 = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh1, refresh2, "OAuth 2.1 section 4.3.1: rotation");
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["iat"],
        NOW + 100
    );

    let response = h
        .refresh_public(&refresh2, UnixTime::from_secs(NOW + 200))
        .await;
    assert_eq!(response.status, 200);
    let refresh3 = body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(refresh2, refresh3);

    let clients = h.clients_snapshot().await;
    let public = clients
        .iter()
        .find(|c| c.client_id.as_str() == PUBLIC)
        .unwrap();
    assert_eq!(public.first_used_at, Some(now()), "mark_client_used");
}

#[tokio::test]
async fn no_refresh_token_without_the_refresh_token_grant() {
    let mut h = harness().await;
    let code = h.issue_code(NO_REFRESH, None).await;
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", NO_REFRESH),
            ],
            post_token(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert!(body(&response).get("refresh_token").is_none());
}

#[tokio::test]
async fn oauth_2_1_section_4_1_3_code_replay_revokes_family_and_access_tokens() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let first = body(&h.redeem_public(&code).await);
    let access_jti = jwt_claims(first["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = first["refresh_token"].as_str().unwrap().to_owned();
    // A refresh in between: its access token must be revoked too.
    let refreshed = body(&h.refresh_public(&refresh, now()).await);
    let refreshed_jti = jwt_claims(refreshed["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    let replay = h.redeem_public(&code).await;
    assert_eq!(replay.status, 400);
    assert_eq!(error(&replay), "invalid_grant");
    for jti in [&access_jti, &refreshed_jti] {
        assert!(h.store().access_token(jti).await.unwrap().unwrap().revoked);
    }
    let successor = refreshed["refresh_token"].as_str().unwrap();
    let response = h.refresh_public(successor, now()).await;
    assert_eq!(error(&response), "invalid_grant");
}

#[tokio::test]
async fn rfc_9700_section_4_14_2_refresh_reuse_revokes_the_family() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let first = body(&h.redeem_public(&code).await);
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = body(&h.refresh_public(&old, now()).await);
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();
    let current_jti = jwt_claims(rotated["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();

    // Outside the retry window the old token is reuse.
    let late = UnixTime::from_secs(NOW + 31);
    let reuse = h.refresh_public(&old, late).await;
    assert_eq!(error(&reuse), "invalid_grant");
    assert!(
        h.store()
            .access_token(&current_jti)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    // The family is gone for the legitimate holder too.
    let response = h.refresh_public(&current, late).await;
    assert_eq!(error(&response), "invalid_grant");
}

/// An engine whose public clients without DPoP opted in to a 30 s retry window.
async fn lenient_harness() -> Harness {
    harness_with(|config| {
        config.refresh_policy = config
            .refresh_policy
            .with_public_client_retry_window(Duration::from_secs(30))
            .unwrap_or_else(|error| panic!("a window within 60 s: {error}"));
    })
    .await
}

#[tokio::test]
async fn mcp_a10_retry_within_the_window_returns_the_same_successor() {
    let mut h = lenient_harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let first = body(&h.redeem_public(&code).await);
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = body(&h.refresh_public(&old, now()).await);
    let retried = h.refresh_public(&old, UnixTime::from_secs(NOW + 5)).await;
    assert_eq!(retried.status, 200);
    let retried = body(&retried);
    assert_eq!(retried["refresh_token"], rotated["refresh_token"]);
    assert_ne!(retried["access_token"], rotated["access_token"]);
    // The successor still works afterwards: the retry changed nothing.
    let next = h
        .refresh_public(
            rotated["refresh_token"].as_str().unwrap(),
            UnixTime::from_secs(NOW + 6),
        )
        .await;
    assert_eq!(next.status, 200);
}

#[tokio::test]
async fn refresh_by_another_client_is_refused() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let first = body(&h.redeem_public(&code).await);
    let token = first["refresh_token"].as_str().unwrap();
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_id", NO_REFRESH),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "unauthorized_client");
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", token),
                ("client_secret", SECRET),
                ("client_id", POST),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_grant");
    // Still usable by its own client.
    assert_eq!(h.refresh_public(token, now()).await.status, 200);
}

#[tokio::test]
async fn oauth_2_1_section_4_3_1_scope_may_narrow_but_not_widen() {
    let mut h = harness().await;
    let code = h
        .issue_code_for(PUBLIC, &[RESOURCE], "mcp:read mcp:write", None)
        .await;
    let first = body(&h.redeem_public(&code).await);
    let token = first["refresh_token"].as_str().unwrap().to_owned();
    let wider = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("scope", "admin"),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&wider), "invalid_scope");
    let narrower = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("scope", "mcp:read"),
            ],
            post_token(),
        )
        .await;
    assert_eq!(narrower.status, 200);
    assert_eq!(body(&narrower)["scope"], "mcp:read");
}

#[tokio::test]
async fn rfc_8707_section_2_2_resource_narrows_the_audience() {
    let mut h = harness().await;
    let code = h
        .issue_code_for(PUBLIC, &[RESOURCE, OTHER_RESOURCE], "mcp:read", None)
        .await;
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
                ("resource", OTHER_RESOURCE),
            ],
            post_token(),
        )
        .await;
    assert_eq!(response.status, 200);
    let tokens = body(&response);
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["aud"],
        OTHER_RESOURCE
    );
    // A refresh may ask for the other granted resource...
    let token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("resource", RESOURCE),
            ],
            post_token(),
        )
        .await;
    assert_eq!(response.status, 200);
    let token = body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        jwt_claims(body(&response)["access_token"].as_str().unwrap())["aud"],
        RESOURCE
    );
    // ...but never one outside the grant.
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("resource", "https://evil.example/mcp"),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_target");
}

#[tokio::test]
async fn a_code_redeemed_with_a_resource_outside_the_grant_is_invalid_target() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
                ("resource", OTHER_RESOURCE),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_target");
}

#[tokio::test]
async fn code_errors_are_invalid_grant() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    // Wrong verifier (RFC 7636 section 4.6).
    let wrong = "x".repeat(43);
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &wrong),
                ("client_id", PUBLIC),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_grant");
    // Unknown code.
    let response = h.redeem_public("unknown-code").await;
    assert_eq!(error(&response), "invalid_grant");
    // Another client's code.
    let code = h.issue_code(NO_REFRESH, None).await;
    let response = h.redeem_public(&code).await;
    assert_eq!(error(&response), "invalid_grant");
    // Redirect URI mismatch (OAuth 2.1 section 4.1.3).
    let code = h.issue_code(PUBLIC, None).await;
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
                ("redirect_uri", "http://127.0.0.1:8080/other"),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_grant");
    // Expired code (60 s default lifetime).
    let code = h.issue_code(PUBLIC, None).await;
    let response = h
        .token_at(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
            ],
            post_token(),
            UnixTime::from_secs(NOW + 60),
        )
        .await;
    assert_eq!(error(&response), "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oauth_2_1_section_4_1_3_concurrent_redemptions_issue_once() {
    for round in 0..25u64 {
        let mut h = harness().await;
        let code = h.issue_code(PUBLIC, None).await;
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let engine = Arc::clone(&h.engine);
            let code = code.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = ChaCha20Rng::seed_from_u64(round * 1000 + i);
                let params = params(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("code_verifier", VERIFIER),
                    ("client_id", PUBLIC),
                ]);
                engine.token(&params, &post_token(), now(), &mut rng).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            let response = task.await.unwrap();
            match response.status.as_u16() {
                200 => ok += 1,
                400 => assert_eq!(error(&response), "invalid_grant"),
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mcp_a10_concurrent_refreshes_agree_on_one_successor() {
    for round in 0..20u64 {
        let mut h = lenient_harness().await;
        let code = h.issue_code(PUBLIC, None).await;
        let token = body(&h.redeem_public(&code).await)["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut tasks = Vec::new();
        for i in 0..32u64 {
            let engine = Arc::clone(&h.engine);
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                let mut rng = ChaCha20Rng::seed_from_u64(round * 1000 + i);
                let params = params(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &token),
                    ("client_id", PUBLIC),
                ]);
                engine.token(&params, &post_token(), now(), &mut rng).await
            }));
        }
        let mut successors = std::collections::BTreeSet::new();
        for task in tasks {
            let response = task.await.unwrap();
            match response.status.as_u16() {
                200 => {
                    successors.insert(
                        body(&response)["refresh_token"]
                            .as_str()
                            .unwrap()
                            .to_owned(),
                    );
                }
                400 => assert_eq!(error(&response), "invalid_grant"),
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(
            successors.len(),
            1,
            "round {round}: one successor, never two"
        );
        // The family is intact: the successor rotates.
        let successor = successors.into_iter().next().unwrap();
        assert_eq!(
            h.refresh_public(&successor, UnixTime::from_secs(NOW + 1))
                .await
                .status,
            200
        );
    }
}

/// RFC 9700 section 4.14.2, by default: a public client without DPoP proves
/// nothing but the token, so its rotated token presented again, even a second
/// later, revokes the family and the access tokens issued under it.
#[tokio::test]
async fn rfc_9700_section_4_14_2_a_public_bearer_retry_revokes_the_family() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let first = body(&h.redeem_public(&code).await);
    let old = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated = body(&h.refresh_public(&old, now()).await);
    let current = rotated["refresh_token"].as_str().unwrap().to_owned();
    let current_jti = jwt_claims(rotated["access_token"].as_str().unwrap())["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let thief = h.refresh_public(&old, UnixTime::from_secs(NOW + 1)).await;
    assert_eq!(error(&thief), "invalid_grant");
    assert!(
        h.store()
            .access_token(&current_jti)
            .await
            .unwrap()
            .unwrap()
            .revoked
    );
    let response = h
        .refresh_public(&current, UnixTime::from_secs(NOW + 2))
        .await;
    assert_eq!(error(&response), "invalid_grant", "the family is revoked");
}

/// A DPoP-bound family keeps the retry window: the retry proves the key.
#[tokio::test]
async fn rfc_9700_section_4_14_2_a_dpop_bound_retry_gets_the_same_successor() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let proof = h.proof(false, now(), None);
    let first = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
            ],
            post_token().with_dpop(proof),
        )
        .await;
    let old = body(&first)["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |h: &mut Harness, at: UnixTime| {
        let proof = h.proof(false, at, None);
        let pairs = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", old.clone()),
            ("client_id", PUBLIC.to_owned()),
        ];
        (pairs, proof)
    };
    let (pairs, proof) = refresh(&mut h, now());
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let rotated = body(&h.token(&borrowed, post_token().with_dpop(proof)).await);
    let later = UnixTime::from_secs(NOW + 5);
    let (_, proof) = refresh(&mut h, later);
    let retried = h
        .token_at(&borrowed, post_token().with_dpop(proof), later)
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(body(&retried)["refresh_token"], rotated["refresh_token"]);
}

/// A client that authenticates keeps the retry window: the retry proves its
/// secret.
#[tokio::test]
async fn rfc_9700_section_4_14_2_an_authenticated_clients_retry_gets_the_same_successor() {
    let mut h = harness().await;
    let code = h.issue_code(POST, None).await;
    let first = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", POST),
                ("client_secret", SECRET),
                ("redirect_uri", REDIRECT),
            ],
            post_token(),
        )
        .await;
    let old = body(&first)["refresh_token"].as_str().unwrap().to_owned();
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", old.as_str()),
        ("client_id", POST),
        ("client_secret", SECRET),
    ];
    let rotated = body(&h.token(&pairs, post_token()).await);
    let retried = h
        .token_at(&pairs, post_token(), UnixTime::from_secs(NOW + 5))
        .await;
    assert_eq!(retried.status, 200, "{:?}", retried.body);
    assert_eq!(body(&retried)["refresh_token"], rotated["refresh_token"]);
}
