//! Revocation (RFC 7009) and introspection (RFC 7662).

mod common;

use common::*;
use latchkey_engine::{EndpointResponse, ResponseBody};
use latchkey_store::ClientRecord;
use latchkey_types::UnixTime;

struct Issued {
    access: String,
    refresh: String,
}

async fn issue_public(h: &mut Harness) -> Issued {
    let code = h.issue_code(PUBLIC, None).await;
    let tokens = body(&h.redeem_public(&code).await);
    Issued {
        access: tokens["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned(),
        refresh: tokens["refresh_token"]
            .as_str()
            .expect("a refresh token")
            .to_owned(),
    }
}

async fn revoke(h: &Harness, client: &str, token: &str) -> EndpointResponse {
    let pairs = [("token", token), ("client_id", client)];
    h.engine
        .revoke(&params(&pairs), &post_to(REVOCATION_ENDPOINT), now())
        .await
}

async fn introspect_at(h: &Harness, token: &str, at: UnixTime) -> serde_json::Value {
    let http = post_to(INTROSPECTION_ENDPOINT).with_authorization(basic(RS, SECRET));
    let response = h
        .engine
        .introspect(&params(&[("token", token)]), &http, at)
        .await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    body(&response)
}

async fn introspect(h: &Harness, token: &str) -> serde_json::Value {
    introspect_at(h, token, now()).await
}

#[tokio::test]
async fn rfc_7662_section_2_2_active_access_token() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let answer = introspect(&h, &issued.access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], PUBLIC);
    assert_eq!(answer["sub"], "alice");
    assert_eq!(answer["aud"], RESOURCE);
    assert_eq!(answer["iss"], ISSUER);
    assert_eq!(answer["scope"], "mcp:read");
    assert_eq!(answer["exp"], NOW + 300);
    assert_eq!(answer["iat"], NOW);
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["jti"].is_string());
    // Expired.
    let expired = introspect_at(&h, &issued.access, UnixTime::from_secs(NOW + 300)).await;
    assert_eq!(expired, serde_json::json!({ "active": false }));
}

#[tokio::test]
async fn rfc_7662_section_2_2_refresh_tokens_are_active_only_while_current() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let answer = introspect(&h, &issued.refresh).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["client_id"], PUBLIC);
    assert!(answer.get("token_type").is_none());
    let rotated = h.refresh_public(&issued.refresh, now()).await;
    assert_eq!(rotated.status, 200);
    assert_eq!(introspect(&h, &issued.refresh).await["active"], false);
    let successor = body(&rotated)["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&h, &successor).await["active"], true);
}

#[tokio::test]
async fn rfc_7662_inactive_for_garbage_and_foreign_tokens() {
    let h = harness().await;
    for token in ["garbage", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
        assert_eq!(
            introspect(&h, token).await,
            serde_json::json!({ "active": false })
        );
    }
    // A well-formed access token under our kid, signed by another key.
    let kid = h.engine.keys().active().kid().to_owned();
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(9);
    let impostor =
        latchkey_jose::SigningKey::generate(latchkey_jose::Algorithm::Es256, kid, &mut rng);
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "aud": RESOURCE, "exp": NOW + 300, "iat": NOW,
        "jti": "forged", "client_id": PUBLIC,
    });
    let header = latchkey_jose::JoseHeader::new(latchkey_jose::Algorithm::Es256).with_typ("at+jwt");
    let forged = impostor.sign_compact(&header, claims.to_string().as_bytes());
    assert_eq!(
        introspect(&h, &forged).await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn rfc_7662_section_2_1_only_listed_confidential_clients_may_introspect() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let token = params(&[("token", issued.access.as_str())]);
    // A confidential client that is not listed.
    let http = post_to(INTROSPECTION_ENDPOINT).with_authorization(basic(BASIC, SECRET));
    let response = h.engine.introspect(&token, &http, now()).await;
    assert_eq!(response.status, 401);
    assert_eq!(error(&response), "invalid_client");
    // Wrong secret.
    let http = post_to(INTROSPECTION_ENDPOINT).with_authorization(basic(RS, "wrong"));
    let response = h.engine.introspect(&token, &http, now()).await;
    assert_eq!(error(&response), "invalid_client");
    assert!(response.header("www-authenticate").is_some());
    // No authentication.
    let response = h
        .engine
        .introspect(&token, &post_to(INTROSPECTION_ENDPOINT), now())
        .await;
    assert_eq!(error(&response), "invalid_client");
    // Missing token.
    let http = post_to(INTROSPECTION_ENDPOINT).with_authorization(basic(RS, SECRET));
    let response = h.engine.introspect(&params(&[]), &http, now()).await;
    assert_eq!(error(&response), "invalid_request");
}

#[tokio::test]
async fn rfc_7009_section_2_1_revoking_a_refresh_token_revokes_the_family() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let response = revoke(&h, PUBLIC, &issued.refresh).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body, ResponseBody::Empty);
    assert_eq!(introspect(&h, &issued.refresh).await["active"], false);
    assert_eq!(
        introspect(&h, &issued.access).await["active"],
        false,
        "its access tokens too"
    );
    assert_eq!(
        error(&h.refresh_public(&issued.refresh, now()).await),
        "invalid_grant"
    );
}

#[tokio::test]
async fn rfc_7009_section_2_1_revoking_an_access_token() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let response = revoke(&h, PUBLIC, &issued.access).await;
    assert_eq!(response.status, 200);
    assert_eq!(introspect(&h, &issued.access).await["active"], false);
    // The refresh token is untouched.
    assert_eq!(introspect(&h, &issued.refresh).await["active"], true);
}

#[tokio::test]
async fn rfc_7009_section_2_2_other_clients_tokens_and_unknown_tokens_get_200_and_no_change() {
    let mut h = harness().await;
    let issued = issue_public(&mut h).await;
    let pairs = [
        ("token", issued.refresh.as_str()),
        ("token_type_hint", "refresh_token"),
    ];
    let http = post_to(REVOCATION_ENDPOINT).with_authorization(basic(BASIC, SECRET));
    let response = h.engine.revoke(&params(&pairs), &http, now()).await;
    assert_eq!(response.status, 200);
    let pairs = [
        ("token", issued.access.as_str()),
        ("token_type_hint", "unknown_hint"),
    ];
    let response = h.engine.revoke(&params(&pairs), &http, now()).await;
    assert_eq!(response.status, 200);
    assert_eq!(introspect(&h, &issued.refresh).await["active"], true);
    assert_eq!(introspect(&h, &issued.access).await["active"], true);
    assert_eq!(revoke(&h, PUBLIC, "unknown-token").await.status, 200);
    assert_eq!(revoke(&h, PUBLIC, "x.y.z").await.status, 200);
}

#[tokio::test]
async fn rfc_7009_section_2_1_client_authentication_and_token_are_required() {
    let h = harness().await;
    let response = h
        .engine
        .revoke(
            &params(&[("client_id", PUBLIC)]),
            &post_to(REVOCATION_ENDPOINT),
            now(),
        )
        .await;
    assert_eq!(error(&response), "invalid_request");
    let http = post_to(REVOCATION_ENDPOINT).with_authorization(basic(BASIC, "wrong"));
    let response = h
        .engine
        .revoke(&params(&[("token", "x")]), &http, now())
        .await;
    assert_eq!(response.status, 401);
    assert_eq!(error(&response), "invalid_client");
}

#[tokio::test]
async fn rfc_7662_section_2_2_dpop_bound_tokens_report_cnf() {
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
    let access = body(&response)["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let answer = introspect(&h, &access).await;
    assert_eq!(answer["active"], true);
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["sub"], BASIC);
    assert_eq!(
        answer["cnf"]["jkt"],
        h.dpop_key.public_jwk().thumbprint().to_encoded()
    );
}

/// RFC 7662 section 2.1: a confidential client whose stored record carries
/// the administrator's permission (`ClientRecord::may_introspect`, what
/// `latchkey clients add --introspect` stores) introspects with no
/// `introspection_clients` entry; a confidential client without it, and a
/// public client even with the flag set, get `401 invalid_client`
/// (sections 2.3 and 4: they learn nothing about the token).
#[tokio::test]
async fn rfc_7662_section_2_1_the_stored_permission_lets_a_confidential_client_introspect() {
    let mut h = harness_with(|config| config.introspection_clients.clear()).await;
    let secret = latchkey_types::TokenDigest::of(SECRET.as_bytes());
    let stored = |id: &str, secret_digest, method: &str| latchkey_store::ClientRecord {
        client_id: latchkey_types::ClientId::parse(id).expect("id"),
        metadata: serde_json::json!({
            "token_endpoint_auth_method": method,
            "grant_types": ["client_credentials"],
        })
        .as_object()
        .expect("an object")
        .clone(),
        secret_digest,
        secret_expires_at: None,
        registration_token_digest: None,
        fingerprint: None,
        issued_at: now(),
        first_used_at: Some(now()),
        may_introspect: true,
    };
    for record in [
        stored("admin-rs", Some(secret), "client_secret_basic"),
        ClientRecord {
            metadata: serde_json::json!({
                "redirect_uris": [REDIRECT],
                "token_endpoint_auth_method": "none",
            })
            .as_object()
            .expect("an object")
            .clone(),
            ..stored("public-with-flag", None, "none")
        },
    ] {
        latchkey_store::ClientStore::register_client(h.store().as_ref(), &record, 1000)
            .await
            .expect("register");
    }
    let issued = issue_public(&mut h).await;
    let ask = |authorization: Option<String>, client: Option<&'static str>| {
        let mut pairs = vec![("token", issued.access.as_str())];
        if let Some(client) = client {
            pairs.push(("client_id", client));
        }
        let mut http = post_to(INTROSPECTION_ENDPOINT);
        if let Some(authorization) = authorization {
            http = http.with_authorization(authorization);
        }
        (params(&pairs), http)
    };

    let (request, http) = ask(Some(basic("admin-rs", SECRET)), None);
    let answer = h.engine.introspect(&request, &http, now()).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(body(&answer)["active"], true);
    assert_eq!(body(&answer)["client_id"], PUBLIC);

    for (authorization, client) in [
        // Confidential, not listed, no stored permission.
        (Some(basic(RS, SECRET)), None),
        // Public: cannot authenticate, whatever its record says.
        (None, Some("public-with-flag")),
    ] {
        let (request, http) = ask(authorization, client);
        let refused = h.engine.introspect(&request, &http, now()).await;
        assert_eq!(refused.status, 401, "{client:?}: {:?}", refused.body);
        assert_eq!(error(&refused), "invalid_client");
        assert!(body(&refused).get("active").is_none());
    }
}
