//! Malformed, missing and repeated parameters at the token endpoint: the exact
//! error, and nothing stored changes (OAuth 2.1 sections 3.2 and 3.2.4).

mod common;

use std::cell::RefCell;

use common::*;
use latchkey_engine::{EngineError, HttpContext, Params};
use latchkey_types::{ErrorCode, UnixTime};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

#[tokio::test]
async fn oauth_2_1_section_3_2_4_grant_type_errors() {
    let mut h = harness().await;
    let missing = h.token(&[("client_id", PUBLIC)], post_token()).await;
    assert_eq!(error(&missing), "invalid_request");
    for grant in [
        "password",
        "implicit",
        "token",
        "urn:ietf:params:oauth:grant-type:device_code",
        "AUTHORIZATION_CODE",
    ] {
        let response = h
            .token(
                &[("grant_type", grant), ("client_id", PUBLIC)],
                post_token(),
            )
            .await;
        assert_eq!(response.status, 400);
        assert_eq!(error(&response), "unsupported_grant_type", "{grant}");
    }
}

#[tokio::test]
async fn authorization_code_parameter_errors_leave_the_code_unconsumed() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let clients_before = h.clients_snapshot().await;
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        base.iter().copied().filter(|(n, _)| *n != name).collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut pairs: Vec<(&str, &str)> =
            base.iter().copied().filter(|(n, _)| *n != name).collect();
        pairs.push((name, value));
        pairs
    };
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (without("code"), "invalid_request"),
        (without("code_verifier"), "invalid_request"),
        (with("code_verifier", ""), "invalid_request"),
        (with("code_verifier", "too-short"), "invalid_grant"),
        (with("resource", "not a uri"), "invalid_target"),
        (
            with("resource", "https://mcp.example.com/mcp#fragment"),
            "invalid_target",
        ),
        (without("client_id"), "invalid_client"),
        (with("client_id", "unknown-client"), "invalid_client"),
    ];
    for (pairs, expected) in cases {
        let response = h.token(&pairs, post_token()).await;
        assert_eq!(error(&response), expected, "{pairs:?}");
    }
    assert_eq!(h.clients_snapshot().await, clients_before);
    assert_eq!(
        h.redeem_public(&code).await.status,
        200,
        "the code was never consumed"
    );
}

#[tokio::test]
async fn refresh_parameter_errors_leave_the_family_current() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let token = body(&h.redeem_public(&code).await)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let clients_before = h.clients_snapshot().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("grant_type", "refresh_token"), ("client_id", PUBLIC)],
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("scope", "bad\"scope"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", &token),
                ("client_id", PUBLIC),
                ("resource", "relative/path"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "unknown"),
                ("client_id", PUBLIC),
            ],
            "invalid_grant",
        ),
        (
            vec![("grant_type", "refresh_token"), ("refresh_token", &token)],
            "invalid_client",
        ),
    ];
    for (pairs, expected) in cases {
        let response = h.token(&pairs, post_token()).await;
        assert_eq!(error(&response), expected, "{pairs:?}");
    }
    assert_eq!(h.clients_snapshot().await, clients_before);
    // Still the current token: it rotates (a reused token would be refused).
    let later = UnixTime::from_secs(NOW + 120);
    assert_eq!(h.refresh_public(&token, later).await.status, 200);
}

#[tokio::test]
async fn client_credentials_parameter_errors() {
    let mut h = harness().await;
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let bad_scope = h
        .token(
            &[("grant_type", "client_credentials"), ("scope", "a\\b")],
            auth(),
        )
        .await;
    assert_eq!(error(&bad_scope), "invalid_scope");
    let bad_resource = h
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", "mailto:x@example.com"),
            ],
            auth(),
        )
        .await;
    assert_eq!(error(&bad_resource), "invalid_target");
}

#[test]
fn oauth_2_1_section_3_2_repeated_parameters_never_reach_the_engine() {
    for name in [
        "grant_type",
        "code",
        "code_verifier",
        "refresh_token",
        "scope",
        "client_id",
        "client_secret",
    ] {
        let pairs = vec![
            (name.to_owned(), "a".to_owned()),
            (name.to_owned(), "b".to_owned()),
        ];
        let Err(error) = Params::from_pairs(pairs) else {
            panic!("{name} repeated must be refused")
        };
        assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
        let response = error.to_response();
        assert_eq!(response.status, 400);
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert!(matches!(error, EngineError::ParameterRepeated { .. }));
    }
}

fn name_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("grant_type".to_owned()),
        Just("code".to_owned()),
        Just("code_verifier".to_owned()),
        Just("client_id".to_owned()),
        Just("client_secret".to_owned()),
        Just("refresh_token".to_owned()),
        Just("scope".to_owned()),
        Just("resource".to_owned()),
        Just("redirect_uri".to_owned()),
        Just("client_assertion".to_owned()),
        Just("client_assertion_type".to_owned()),
        Just("token".to_owned()),
        Just("token_type_hint".to_owned()),
        "[a-z_]{1,12}",
    ]
}

fn value_strategy(code: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization_code".to_owned()),
        Just("refresh_token".to_owned()),
        Just("client_credentials".to_owned()),
        Just(PUBLIC.to_owned()),
        Just(BASIC.to_owned()),
        Just(JWT.to_owned()),
        Just(SECRET.to_owned()),
        Just(VERIFIER.to_owned()),
        Just(RESOURCE.to_owned()),
        Just(latchkey_engine::JWT_BEARER_ASSERTION_TYPE.to_owned()),
        Just("a.b.c".to_owned()),
        Just(code),
        ".{0,60}",
    ]
}

#[test]
fn proptest_random_parameter_maps_never_produce_a_5xx() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut h = runtime.block_on(harness());
    let code = runtime.block_on(h.issue_code(PUBLIC, None));
    let h = RefCell::new(h);
    let strategy = (
        proptest::collection::vec((name_strategy(), value_strategy(code)), 0..10),
        proptest::option::of(prop_oneof![Just(basic(BASIC, SECRET)), ".{0,40}"]),
        proptest::option::of(".{0,80}"),
    );
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(pairs, authorization, dpop)| {
            let Ok(params) = Params::from_pairs(pairs) else {
                return Ok(());
            };
            let mut http = HttpContext::new("POST", TOKEN_ENDPOINT);
            http.authorization = authorization;
            http.dpop = dpop.into_iter().collect();
            let mut h = h.borrow_mut();
            let engine = std::sync::Arc::clone(&h.engine);
            let token = runtime.block_on(engine.token(&params, &http, now(), &mut h.rng));
            prop_assert!(token.status.as_u16() < 500, "token: {:?}", token.body);
            let revoke =
                runtime.block_on(engine.revoke(&params, &post_to(REVOCATION_ENDPOINT), now()));
            prop_assert!(revoke.status.as_u16() < 500, "revoke: {:?}", revoke.body);
            let introspect = runtime.block_on(engine.introspect(&params, &http, now()));
            prop_assert!(
                introspect.status.as_u16() < 500,
                "introspect: {:?}",
                introspect.body
            );
            Ok(())
        })
        .unwrap();
}
