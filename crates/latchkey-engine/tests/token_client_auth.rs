//! Client authentication at the token endpoint (OAuth 2.1 section 2.4,
//! RFC 6749 section 2.3.1, RFC 7523 sections 2.2 and 3).

mod common;

use common::*;
use latchkey_engine::JWT_BEARER_ASSERTION_TYPE;
use latchkey_store::{ClientRecord, ClientStore};
use latchkey_types::{ClientId, TokenDigest, UnixTime};

const CC: (&str, &str) = ("grant_type", "client_credentials");

#[tokio::test]
async fn oauth_2_1_section_2_4_1_client_secret_basic() {
    let mut h = harness().await;
    let ok = h
        .token(&[CC], post_token().with_authorization(basic(BASIC, SECRET)))
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    let claims = jwt_claims(body(&ok)["access_token"].as_str().unwrap());
    assert_eq!(
        claims["sub"], BASIC,
        "RFC 9068 section 2.2: the client is the subject"
    );
    assert!(
        body(&ok).get("refresh_token").is_none(),
        "OAuth 2.1 section 4.2.3: no refresh token"
    );

    let wrong = h
        .token(
            &[CC],
            post_token().with_authorization(basic(BASIC, "wrong")),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(error(&wrong), "invalid_client");
    assert_eq!(
        wrong.header("www-authenticate"),
        Some("Basic realm=\"latchkey\"")
    );

    let unknown = h
        .token(
            &[CC],
            post_token().with_authorization(basic("nobody", SECRET)),
        )
        .await;
    assert_eq!(error(&unknown), "invalid_client");
    assert!(unknown.header("www-authenticate").is_some());

    let garbage = h
        .token(
            &[CC],
            post_token().with_authorization("Basic %%%".to_owned()),
        )
        .await;
    assert_eq!(error(&garbage), "invalid_client");
}

#[tokio::test]
async fn rfc_6749_section_2_3_1_basic_credentials_are_form_urlencoded() {
    let mut h = harness().await;
    // SECRET contains spaces: the client encodes them as '+'.
    let encoded = SECRET.replace(' ', "+");
    let ok = h
        .token(
            &[CC],
            post_token().with_authorization(basic(BASIC, &encoded)),
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn oauth_2_1_section_2_4_1_client_secret_post() {
    let mut h = harness().await;
    let ok = h
        .token(
            &[CC, ("client_id", POST), ("client_secret", SECRET)],
            post_token(),
        )
        .await;
    assert_eq!(ok.status, 200);
    let wrong = h
        .token(
            &[CC, ("client_id", POST), ("client_secret", "nope")],
            post_token(),
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(error(&wrong), "invalid_client");
    assert_eq!(
        wrong.header("www-authenticate"),
        None,
        "no Basic challenge when Basic was not tried"
    );
    let missing_id = h
        .token(&[CC, ("client_secret", SECRET)], post_token())
        .await;
    assert_eq!(error(&missing_id), "invalid_client");
}

#[tokio::test]
async fn registered_method_must_be_used() {
    let mut h = harness().await;
    // The Basic client sends its secret in the body.
    let response = h
        .token(
            &[CC, ("client_id", BASIC), ("client_secret", SECRET)],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_client");
    // The post client uses Basic.
    let response = h
        .token(&[CC], post_token().with_authorization(basic(POST, SECRET)))
        .await;
    assert_eq!(error(&response), "invalid_client");
    // A confidential client presents no secret at all (as if public).
    let response = h.token(&[CC, ("client_id", BASIC)], post_token()).await;
    assert_eq!(error(&response), "invalid_client");
    // A public client presents a secret.
    let response = h
        .token(
            &[CC, ("client_id", PUBLIC), ("client_secret", SECRET)],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_client");
}

#[tokio::test]
async fn oauth_2_1_section_2_4_two_methods_are_refused() {
    let mut h = harness().await;
    let response = h
        .token(
            &[CC, ("client_id", POST), ("client_secret", SECRET)],
            post_token().with_authorization(basic(BASIC, SECRET)),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(error(&response), "invalid_request");
    let (assertion, _) = h.assertion(TOKEN_ENDPOINT, NOW + 60);
    let response = h
        .token(
            &[
                CC,
                ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
                ("client_assertion", &assertion),
                ("client_secret", SECRET),
                ("client_id", JWT),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&response), "invalid_request");
}

#[tokio::test]
async fn basic_and_a_different_client_id_parameter_are_refused() {
    let mut h = harness().await;
    let response = h
        .token(
            &[CC, ("client_id", POST)],
            post_token().with_authorization(basic(BASIC, SECRET)),
        )
        .await;
    assert_eq!(error(&response), "invalid_request");
}

#[tokio::test]
async fn expired_client_secret_is_refused() {
    let mut h = harness().await;
    let id = "expiring-client";
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "token_endpoint_auth_method".into(),
        "client_secret_basic".into(),
    );
    metadata.insert(
        "grant_types".into(),
        serde_json::json!(["client_credentials"]),
    );
    let record = ClientRecord {
        client_id: ClientId::parse(id).unwrap(),
        metadata,
        secret_digest: Some(TokenDigest::of(SECRET.as_bytes())),
        secret_expires_at: Some(UnixTime::from_secs(NOW)),
        registration_token_digest: None,
        fingerprint: None,
        issued_at: UnixTime::from_secs(NOW - 10),
        first_used_at: None,
        may_introspect: false,
    };
    h.store().register_client(&record, 1000).await.unwrap();
    let at_expiry = h
        .token(&[CC], post_token().with_authorization(basic(id, SECRET)))
        .await;
    assert_eq!(error(&at_expiry), "invalid_client");
    let before = h
        .token_at(
            &[CC],
            post_token().with_authorization(basic(id, SECRET)),
            UnixTime::from_secs(NOW - 1),
        )
        .await;
    assert_eq!(before.status, 200);
}

#[tokio::test]
async fn rfc_7523_section_3_private_key_jwt() {
    let mut h = harness().await;
    let (assertion, _) = h.assertion(TOKEN_ENDPOINT, NOW + 60);
    let ok = h
        .token(
            &[
                CC,
                ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
            post_token(),
        )
        .await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(
        jwt_claims(body(&ok)["access_token"].as_str().unwrap())["client_id"],
        JWT
    );
    // The issuer is an acceptable audience too.
    let (assertion, _) = h.assertion(ISSUER, NOW + 60);
    let ok = h
        .token(
            &[
                CC,
                ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
                ("client_assertion", &assertion),
                ("client_id", JWT),
            ],
            post_token(),
        )
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn rfc_7523_section_3_assertion_jti_is_single_use() {
    let mut h = harness().await;
    let (assertion, _) = h.assertion(TOKEN_ENDPOINT, NOW + 60);
    let pairs = [
        CC,
        ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    assert_eq!(h.token(&pairs, post_token()).await.status, 200);
    let replay = h.token(&pairs, post_token()).await;
    assert_eq!(replay.status, 401);
    assert_eq!(error(&replay), "invalid_client");
}

#[tokio::test]
async fn rfc_7523_section_3_bad_assertions_are_invalid_client() {
    let mut h = harness().await;
    let cases = [
        // Wrong audience.
        client_assertion(
            &h.jwt_key,
            JWT,
            "https://other.example/token",
            NOW + 60,
            "j1",
        ),
        // Expired (beyond the 60 s leeway).
        client_assertion(&h.jwt_key, JWT, TOKEN_ENDPOINT, NOW - 61, "j2"),
        // exp too far ahead.
        client_assertion(&h.jwt_key, JWT, TOKEN_ENDPOINT, NOW + 3600, "j3"),
        // Signed by another key.
        client_assertion(&h.dpop_key, JWT, TOKEN_ENDPOINT, NOW + 60, "j4"),
        // iss/sub another client.
        client_assertion(&h.jwt_key, BASIC, TOKEN_ENDPOINT, NOW + 60, "j5"),
        // Not a JWT.
        "not.a.jwt".to_owned(),
    ];
    for assertion in &cases {
        let response = h
            .token(
                &[
                    CC,
                    ("client_assertion_type", JWT_BEARER_ASSERTION_TYPE),
                    ("client_assertion", assertion),
                    ("client_id", JWT),
                ],
                post_token(),
            )
            .await;
        assert_eq!(error(&response), "invalid_client", "{assertion}");
    }
    let (assertion, _) = h.assertion(TOKEN_ENDPOINT, NOW + 60);
    let wrong_type = h
        .token(
            &[
                CC,
                ("client_assertion_type", "urn:example:other"),
                ("client_assertion", &assertion),
                ("client_id", JWT),
            ],
            post_token(),
        )
        .await;
    assert_eq!(error(&wrong_type), "invalid_client");
}

#[tokio::test]
async fn oauth_2_1_section_4_2_public_clients_cannot_use_client_credentials() {
    let mut h = harness().await;
    let response = h.token(&[CC, ("client_id", PUBLIC)], post_token()).await;
    assert_eq!(error(&response), "unauthorized_client");
    // Even one that registered the grant type.
    let mut metadata = serde_json::Map::new();
    metadata.insert("token_endpoint_auth_method".into(), "none".into());
    metadata.insert(
        "grant_types".into(),
        serde_json::json!(["client_credentials"]),
    );
    let record = ClientRecord {
        client_id: ClientId::parse("public-cc").unwrap(),
        metadata,
        secret_digest: None,
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: UnixTime::from_secs(NOW - 10),
        first_used_at: None,
        may_introspect: false,
    };
    h.store().register_client(&record, 1000).await.unwrap();
    let response = h
        .token(&[CC, ("client_id", "public-cc")], post_token())
        .await;
    assert_eq!(error(&response), "unauthorized_client");
    assert_eq!(
        body(&response)["error_description"],
        "public clients may not use client_credentials"
    );
}

#[tokio::test]
async fn oauth_2_1_section_4_2_scope_and_resource_rules() {
    let mut h = harness().await;
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let default = h.token(&[CC], auth()).await;
    assert_eq!(
        body(&default)["scope"],
        "mcp:read",
        "the resource's default scope"
    );
    assert_eq!(
        jwt_claims(body(&default)["access_token"].as_str().unwrap())["aud"],
        RESOURCE
    );
    let wider = h.token(&[CC, ("scope", "mcp:read admin")], auth()).await;
    assert_eq!(error(&wider), "invalid_scope");
    let explicit = h.token(&[CC, ("scope", "mcp:write")], auth()).await;
    assert_eq!(body(&explicit)["scope"], "mcp:write");
    let unknown = h
        .token(&[CC, ("resource", "https://unknown.example/mcp")], auth())
        .await;
    assert_eq!(error(&unknown), "invalid_target");
    let other = h.token(&[CC, ("resource", OTHER_RESOURCE)], auth()).await;
    assert_eq!(
        jwt_claims(body(&other)["access_token"].as_str().unwrap())["aud"],
        OTHER_RESOURCE
    );
    // A client without the grant type.
    let code_only = h
        .token(&[CC, ("client_id", NO_REFRESH)], post_token())
        .await;
    assert_eq!(error(&code_only), "unauthorized_client");
}

/// A client-credentials token carries only scopes its audience supports: a
/// client registered with two resources' scopes cannot put one resource's
/// scope into a token for the other (RFC 8707 section 2; refused with
/// `invalid_scope`, OAuth 2.1 section 3.2.2.1, as at the authorization endpoint).
#[tokio::test]
async fn rfc_8707_section_2_client_credentials_scope_must_be_one_the_audience_supports() {
    let mut h = harness().await;
    let id = "two-resource-client";
    let mut metadata = serde_json::Map::new();
    metadata.insert(
        "token_endpoint_auth_method".into(),
        "client_secret_basic".into(),
    );
    metadata.insert(
        "grant_types".into(),
        serde_json::json!(["client_credentials"]),
    );
    metadata.insert("scope".into(), "mcp:read tools:run".into());
    let record = ClientRecord {
        client_id: ClientId::parse(id).unwrap(),
        metadata,
        secret_digest: Some(TokenDigest::of(SECRET.as_bytes())),
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: UnixTime::from_secs(NOW - 10),
        first_used_at: None,
        may_introspect: false,
    };
    h.store().register_client(&record, 1000).await.unwrap();
    let auth = || post_token().with_authorization(basic(id, SECRET));
    // The default resource does not support `tools:run`.
    let crossed = h.token(&[CC, ("scope", "tools:run")], auth()).await;
    assert_eq!(error(&crossed), "invalid_scope");
    let crossed_back = h
        .token(
            &[CC, ("resource", OTHER_RESOURCE), ("scope", "mcp:read")],
            auth(),
        )
        .await;
    assert_eq!(error(&crossed_back), "invalid_scope");
    // Each resource's own scope is fine.
    let own = h
        .token(
            &[CC, ("resource", OTHER_RESOURCE), ("scope", "tools:run")],
            auth(),
        )
        .await;
    assert_eq!(body(&own)["scope"], "tools:run");
    let claims = jwt_claims(body(&own)["access_token"].as_str().unwrap());
    assert_eq!(claims["aud"], OTHER_RESOURCE);
    let default = h.token(&[CC, ("scope", "mcp:read")], auth()).await;
    assert_eq!(body(&default)["scope"], "mcp:read");
}
