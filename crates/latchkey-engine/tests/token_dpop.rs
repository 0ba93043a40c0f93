//! DPoP at the token endpoint (RFC 9449 sections 5, 8, 10 and 11.1).

mod common;

use common::*;
use latchkey_types::UnixTime;

#[tokio::test]
async fn rfc_9449_section_5_a_valid_proof_binds_token_and_family() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let proof = h.proof(false, now(), None);
    let response = h
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
    assert_eq!(response.status, 200, "{:?}", response.body);
    let tokens = body(&response);
    assert_eq!(tokens["token_type"], "DPoP");
    let jkt = h.dpop_key.public_jwk().thumbprint().to_encoded();
    assert_eq!(
        jwt_claims(tokens["access_token"].as_str().unwrap())["cnf"]["jkt"],
        jkt.as_str()
    );
    assert_eq!(
        response.header("dpop-nonce"),
        None,
        "no nonce when nonces are off"
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The bound family refuses a refresh without a proof...
    let bare = h.refresh_public(&refresh, now()).await;
    assert_eq!(error(&bare), "invalid_grant");
    // ...and with another key.
    let other = h.proof(true, now(), None);
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", PUBLIC),
            ],
            post_token().with_dpop(other),
        )
        .await;
    assert_eq!(error(&response), "invalid_grant");
    // The right key works, and the new access token is bound again.
    let proof = h.proof(false, now(), None);
    let response = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("client_id", PUBLIC),
            ],
            post_token().with_dpop(proof),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response)["token_type"], "DPoP");
}

#[tokio::test]
async fn rfc_9449_section_10_dpop_jkt_bound_code_needs_that_key() {
    let mut h = harness().await;
    let jkt = h.dpop_jkt();
    let pairs = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
            ("client_id", PUBLIC.to_owned()),
        ]
    };
    let code = h.issue_code(PUBLIC, Some(jkt.clone())).await;
    let owned = pairs(&code);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let without = h.token(&borrowed, post_token()).await;
    assert_eq!(error(&without), "invalid_grant");

    let code = h.issue_code(PUBLIC, Some(jkt.clone())).await;
    let owned = pairs(&code);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let other = h.proof(true, now(), None);
    let wrong_key = h.token(&borrowed, post_token().with_dpop(other)).await;
    assert_eq!(error(&wrong_key), "invalid_grant");

    let code = h.issue_code(PUBLIC, Some(jkt)).await;
    let owned = pairs(&code);
    let borrowed: Vec<(&str, &str)> = owned.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let proof = h.proof(false, now(), None);
    let ok = h.token(&borrowed, post_token().with_dpop(proof)).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn rfc_9449_section_4_3_invalid_proofs_are_refused_and_keep_the_code() {
    let mut h = harness().await;
    let code = h.issue_code(PUBLIC, None).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
    ];
    let wrong_uri = dpop_proof(
        &h.dpop_key,
        "POST",
        "https://as.example.com/other",
        now(),
        "jti-1",
        None,
    );
    let wrong_method = dpop_proof(&h.dpop_key, "GET", TOKEN_ENDPOINT, now(), "jti-2", None);
    let old = dpop_proof(
        &h.dpop_key,
        "POST",
        TOKEN_ENDPOINT,
        UnixTime::from_secs(NOW - 3600),
        "jti-3",
        None,
    );
    for proof in [wrong_uri, wrong_method, old, "garbage".to_owned()] {
        let response = h.token(&pairs, post_token().with_dpop(proof)).await;
        assert_eq!(response.status, 400);
        assert_eq!(error(&response), "invalid_dpop_proof");
    }
    let (p1, p2) = (h.proof(false, now(), None), h.proof(false, now(), None));
    let two = h
        .token(&pairs, post_token().with_dpop(p1).with_dpop(p2))
        .await;
    assert_eq!(error(&two), "invalid_dpop_proof");
    // Nothing was consumed: the code still works.
    assert_eq!(h.redeem_public(&code).await.status, 200);
}

#[tokio::test]
async fn rfc_9449_section_11_1_a_proof_is_single_use() {
    let mut h = harness().await;
    let proof = h.proof(false, now(), None);
    let code = h.issue_code(PUBLIC, None).await;
    let first = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
                ("client_id", PUBLIC),
            ],
            post_token().with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(first.status, 200);
    let code = h.issue_code(PUBLIC, None).await;
    let replay = h
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
    assert_eq!(error(&replay), "invalid_dpop_proof");
    // The replayed proof did not consume the second code.
    assert_eq!(h.redeem_public(&code).await.status, 200);
}

#[tokio::test]
async fn rfc_9449_section_8_nonce_required() {
    let mut h = harness_with(|config| config.dpop_nonce_required = true).await;
    let code = h.issue_code(PUBLIC, None).await;
    let pairs = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", PUBLIC),
    ];
    let proof = h.proof(false, now(), None);
    let first = h.token(&pairs, post_token().with_dpop(proof)).await;
    assert_eq!(first.status, 400);
    assert_eq!(error(&first), "use_dpop_nonce");
    let nonce = first
        .header("dpop-nonce")
        .expect("a DPoP-Nonce header")
        .to_owned();

    let forged = h.proof(false, now(), Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let response = h.token(&pairs, post_token().with_dpop(forged)).await;
    assert_eq!(error(&response), "use_dpop_nonce");
    assert!(response.header("dpop-nonce").is_some());

    let proof = h.proof(false, now(), Some(&nonce));
    let ok = h.token(&pairs, post_token().with_dpop(proof)).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert!(
        ok.header("dpop-nonce").is_some(),
        "a fresh nonce on success too"
    );
}

#[tokio::test]
async fn client_credentials_with_dpop_are_bound() {
    let mut h = harness().await;
    let proof = h.proof(false, now(), None);
    let response = h
        .token(
            &[("grant_type", "client_credentials")],
            post_token()
                .with_authorization(basic(BASIC, SECRET))
                .with_dpop(proof),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response)["token_type"], "DPoP");
}

#[tokio::test]
async fn rfc_9449_section_5_confidential_clients_refresh_tokens_are_not_bound() {
    let mut h = harness().await;
    let code = h.issue_code(BASIC, None).await;
    let proof = h.proof(false, now(), None);
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let response = h
        .token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", VERIFIER),
            ],
            auth().with_dpop(proof),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(body(&response)["token_type"], "DPoP");
    let refresh = body(&response)["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // No proof needed on refresh: client authentication constrains the token.
    let response = h
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            auth(),
        )
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(body(&response)["token_type"], "Bearer");
}

/// RFC 9449 section 11.1: a proof's single use is recorded only for a
/// request whose client authenticated and whose grant holds. Refused requests
/// (a wrong secret, an unknown client, an unknown refresh token, a scope the
/// client may not have) store nothing, so the very same proof still works
/// afterwards; and once used, it is refused as a replay.
#[tokio::test]
async fn rfc_9449_section_11_1_a_refused_request_records_no_proof() {
    let mut h = harness().await;
    let proof = h.proof(false, now(), None);
    let wrong_secret = h
        .token(
            &[("grant_type", "client_credentials")],
            post_token()
                .with_authorization(basic(BASIC, "wrong secret"))
                .with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(error(&wrong_secret), "invalid_client");
    let unknown_client = h
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", SECRET),
            ],
            post_token().with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(error(&unknown_client), "invalid_client");
    // A public client "authenticates" by naming itself: the grant decides.
    let unknown_refresh = h
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "not-a-refresh-token"),
                ("client_id", PUBLIC),
            ],
            post_token().with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(error(&unknown_refresh), "invalid_grant");
    let wrong_scope = h
        .token(
            &[("grant_type", "client_credentials"), ("scope", "tools:run")],
            post_token()
                .with_authorization(basic(BASIC, SECRET))
                .with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(error(&wrong_scope), "invalid_scope");

    // None of them stored the proof: it is still fresh...
    let auth = || post_token().with_authorization(basic(BASIC, SECRET));
    let pairs = [("grant_type", "client_credentials")];
    let ok = h.token(&pairs, auth().with_dpop(proof.clone())).await;
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    // ...and single use still holds.
    let replay = h.token(&pairs, auth().with_dpop(proof)).await;
    assert_eq!(error(&replay), "invalid_dpop_proof");
}

/// RFC 9449 section 11.1: a replayed proof never rotates a refresh family.
#[tokio::test]
async fn rfc_9449_section_11_1_a_replayed_proof_does_not_rotate_the_family() {
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
            post_token().with_dpop(proof.clone()),
        )
        .await;
    assert_eq!(first.status, 200);
    let refresh = body(&first)["refresh_token"].as_str().unwrap().to_owned();
    let pairs = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", PUBLIC),
    ];
    let replay = h.token(&pairs, post_token().with_dpop(proof)).await;
    assert_eq!(error(&replay), "invalid_dpop_proof");
    // The token was not rotated: a fresh proof still rotates it.
    let fresh = h.proof(false, now(), None);
    let rotated = h.token(&pairs, post_token().with_dpop(fresh)).await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
}
