//! Dynamic client registration (RFC 7591) and management (RFC 7592) through the engine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize_common;

use core::time::Duration;

use authorize_common::*;
use latchkey_engine::{HttpContext, RegistrationSettings, ResponseBody};
use latchkey_store::{ClientStore, GrantStore};
use latchkey_types::{ClientId, ErrorCode, UnixTime};

fn public_metadata() -> serde_json::Value {
    serde_json::json!({
        "client_name": "MCP Inspector",
        "redirect_uris": [LOOPBACK],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    })
}

fn confidential_metadata() -> serde_json::Value {
    serde_json::json!({
        "client_name": "Web App",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

fn bearer(token: &str) -> HttpContext {
    http("GET").with_authorization(format!("Bearer {token}"))
}

async fn post(engine: &TestEngine, body: &[u8], seed: u64) -> latchkey_engine::EndpointResponse {
    engine
        .register(body, &http("POST"), NOW, &mut rng(seed))
        .await
}

fn error_of(response: &latchkey_engine::EndpointResponse) -> String {
    json(response)["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rfc_7591_section_3_2_1_public_client_response() {
    let engine = engine().await;
    let response = post(&engine, public_metadata().to_string().as_bytes(), 1).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = json(&response);
    let client_id = body["client_id"].as_str().unwrap();
    assert_eq!(client_id.len(), 32);
    assert_eq!(body["client_id_issued_at"], NOW.as_secs());
    assert_eq!(body["client_name"], "MCP Inspector");
    assert_eq!(body["redirect_uris"][0], LOOPBACK);
    assert!(body.get("client_secret").is_none());
    assert_eq!(
        body["registration_client_uri"],
        format!("https://as.example.com/register/{client_id}")
    );
    let token = body["registration_access_token"].as_str().unwrap();
    let stored = engine
        .store()
        .client(&ClientId::parse(client_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .registration_token_digest
            .unwrap()
            .matches(token.as_bytes())
    );
    assert!(
        stored.fingerprint.is_none(),
        "every registration is its own client"
    );
    assert!(stored.secret_digest.is_none());
}

#[tokio::test]
async fn rfc_7591_section_3_2_1_confidential_client_gets_a_secret_and_is_never_idempotent() {
    let engine = engine().await;
    let bytes = confidential_metadata().to_string();
    let first = json(&post(&engine, bytes.as_bytes(), 1).await);
    let second = json(&post(&engine, bytes.as_bytes(), 2).await);
    assert_ne!(first["client_id"], second["client_id"]);
    let secret = first["client_secret"].as_str().unwrap();
    assert_eq!(first["client_secret_expires_at"], 0);
    let stored = engine
        .store()
        .client(&ClientId::parse(first["client_id"].as_str().unwrap()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.secret_digest.unwrap().matches(secret.as_bytes()));
    assert!(stored.fingerprint.is_none());
    assert_eq!(engine.store().list_clients().await.unwrap().len(), 2);
}

/// Registering identical public metadata again is a new client with its own
/// registration access token; the first registrant's token keeps working
/// (RFC 7592 section 2.1).
#[tokio::test]
async fn rfc_7592_section_2_1_identical_public_metadata_keeps_the_first_registrants_token() {
    let engine = engine().await;
    let first = json(&post(&engine, public_metadata().to_string().as_bytes(), 1).await);
    // Same meaning, other member order and a repeated redirect URI.
    let again = serde_json::json!({
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "grant_types": ["refresh_token", "authorization_code"],
        "redirect_uris": [LOOPBACK, LOOPBACK],
        "client_name": "MCP Inspector",
    });
    let response = post(&engine, again.to_string().as_bytes(), 2).await;
    assert_eq!(response.status, 201);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let second = json(&response);
    assert_ne!(second["client_id"], first["client_id"]);
    assert_eq!(engine.store().list_clients().await.unwrap().len(), 2);
    let first_id = first["client_id"].as_str().unwrap();
    let first_token = first["registration_access_token"].as_str().unwrap();
    let second_id = second["client_id"].as_str().unwrap();
    let second_token = second["registration_access_token"].as_str().unwrap();
    // Each token reads its own client, and only its own.
    let read = engine
        .read_client(first_id, &bearer(first_token), NOW, &mut rng(3))
        .await;
    assert_eq!(read.status, 200, "the first registrant's token still works");
    let read = engine
        .read_client(second_id, &bearer(second_token), NOW, &mut rng(4))
        .await;
    assert_eq!(read.status, 200);
    let crossed = engine
        .read_client(first_id, &bearer(second_token), NOW, &mut rng(5))
        .await;
    assert_eq!(crossed.status, 401);
}

#[tokio::test]
async fn client_cap_counts_every_registration() {
    let mut config = config();
    config.registration = Some(RegistrationSettings {
        max_clients: 1,
        ..RegistrationSettings::default()
    });
    let engine = engine_with(config).await;
    let first = json(&post(&engine, public_metadata().to_string().as_bytes(), 1).await);
    let refused = post(&engine, confidential_metadata().to_string().as_bytes(), 2).await;
    assert_eq!(refused.status, 503);
    assert_eq!(error_of(&refused), "temporarily_unavailable");
    assert_eq!(engine.store().list_clients().await.unwrap().len(), 1);
    // A repeat is a new client too, so the cap refuses it.
    let repeat = post(&engine, public_metadata().to_string().as_bytes(), 3).await;
    assert_eq!(repeat.status, 503);
    let stored = engine.store().list_clients().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].client_id.as_str(),
        first["client_id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn a18_rfc_7591_section_3_2_2_errors_are_400_and_store_nothing() {
    let engine = engine().await;
    let cases: [(&[u8], ErrorCode); 8] = [
        (br#"{"redirect_uris":["http://evil.example/cb"],"token_endpoint_auth_method":"none"}"#, ErrorCode::InvalidRedirectUri),
        (br#"{"redirect_uris":["https://c.example/cb#f"],"token_endpoint_auth_method":"none"}"#, ErrorCode::InvalidRedirectUri),
        (br#"{"redirect_uris":["https://c.example/cb"],"grant_types":["implicit"]}"#, ErrorCode::InvalidClientMetadata),
        (br#"{"redirect_uris":["https://c.example/cb"],"scope":"admin"}"#, ErrorCode::InvalidClientMetadata),
        (br#"{"redirect_uris":["https://c.example/cb"],"redirect_uris":["https://d.example/cb"]}"#, ErrorCode::InvalidRequest),
        (b"[1,2]", ErrorCode::InvalidRequest),
        (b"{not json", ErrorCode::InvalidRequest),
        (br#"{"redirect_uris":["https://c.example/cb"],"software_statement":"x.y.z"}"#, ErrorCode::InvalidSoftwareStatement),
    ];
    for (body, code) in cases {
        let response = post(&engine, body, 1).await;
        assert_eq!(response.status, 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(
            error_of(&response),
            code.as_str(),
            "{}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
    let oversized = format!(
        r#"{{"client_name":"{}","redirect_uris":["https://c.example/cb"]}}"#,
        "a".repeat(100_000)
    );
    let response = post(&engine, oversized.as_bytes(), 1).await;
    assert_eq!(response.status, 400);
    assert!(engine.store().list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn registrable_scope_defaults_to_the_resources_scopes() {
    let engine = engine().await;
    let body = serde_json::json!({
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "none",
        "scope": "mcp:read files:read offline_access",
    });
    let response = post(&engine, body.to_string().as_bytes(), 1).await;
    assert_eq!(response.status, 201);
    assert_eq!(
        json(&response)["scope"],
        "files:read mcp:read offline_access"
    );
}

#[tokio::test]
async fn registration_off_is_404() {
    let mut config = config();
    config.registration = None;
    let engine = engine_with(config).await;
    let response = post(&engine, public_metadata().to_string().as_bytes(), 1).await;
    assert_eq!(response.status, 404);
    assert_eq!(response.body, ResponseBody::Empty);
    let read = engine
        .read_client("x", &bearer("abc"), NOW, &mut rng(1))
        .await;
    assert_eq!(read.status, 404);
    assert_eq!(
        engine.delete_client("x", &bearer("abc"), NOW).await.status,
        404
    );
    assert_eq!(engine.purge_unused_clients(NOW, u64::MAX).await.unwrap(), 0);
}

#[tokio::test]
async fn rfc_7592_section_2_1_read_with_good_and_bad_tokens() {
    let engine = engine().await;
    let first = json(&post(&engine, confidential_metadata().to_string().as_bytes(), 1).await);
    let client_id = first["client_id"].as_str().unwrap();
    let token = first["registration_access_token"].as_str().unwrap();

    for (id, http) in [
        (client_id, http("GET")),
        (client_id, bearer("wrong-token")),
        (
            client_id,
            http("GET").with_authorization(format!("Basic {token}")),
        ),
        ("unknown-client", bearer(token)),
        ("bad\u{1}id", bearer(token)),
    ] {
        let response = engine.read_client(id, &http, NOW, &mut rng(2)).await;
        assert_eq!(response.status, 401);
        assert_eq!(error_of(&response), "invalid_token");
        assert!(
            response
                .header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
    }
    // A wrong token for an existing client and any token for a missing one look alike.
    let wrong = engine
        .read_client(client_id, &bearer("wrong-token"), NOW, &mut rng(2))
        .await;
    let missing = engine
        .read_client("unknown-client", &bearer("wrong-token"), NOW, &mut rng(2))
        .await;
    assert_eq!(wrong, missing);

    let response = engine
        .read_client(client_id, &bearer(token), NOW, &mut rng(2))
        .await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = json(&response);
    assert_eq!(body["client_id"], client_id);
    assert_eq!(body["client_name"], "Web App");
    assert!(
        body.get("client_secret").is_none(),
        "the secret is never repeated"
    );
    let new_token = body["registration_access_token"].as_str().unwrap();
    assert_ne!(new_token, token);
    // The old token is gone, the new one works.
    assert_eq!(
        engine
            .read_client(client_id, &bearer(token), NOW, &mut rng(3))
            .await
            .status,
        401
    );
    assert_eq!(
        engine
            .read_client(client_id, &bearer(new_token), NOW, &mut rng(3))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn rfc_7592_section_2_2_update_replaces_the_metadata() {
    let engine = engine().await;
    let first = json(&post(&engine, confidential_metadata().to_string().as_bytes(), 1).await);
    let client_id = first["client_id"].as_str().unwrap();
    let token = first["registration_access_token"].as_str().unwrap();
    let secret = first["client_secret"].as_str().unwrap();
    let update = serde_json::json!({
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": ["https://client.example.org/new"],
        "token_endpoint_auth_method": "client_secret_post",
    });
    let bytes = update.to_string();
    let bad = engine
        .update_client(
            client_id,
            &bearer("nope"),
            bytes.as_bytes(),
            NOW,
            &mut rng(2),
        )
        .await;
    assert_eq!(bad.status, 401);

    let response = engine
        .update_client(
            client_id,
            &bearer(token),
            bytes.as_bytes(),
            NOW,
            &mut rng(2),
        )
        .await;
    assert_eq!(response.status, 200, "{:?}", response.json_body());
    let body = json(&response);
    assert_eq!(body["redirect_uris"][0], "https://client.example.org/new");
    assert!(
        body.get("client_name").is_none(),
        "omitted members are deleted"
    );
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    let resolved = engine
        .resolve_client(&ClientId::parse(client_id).unwrap(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved.metadata.redirect_uris()[0].as_str(),
        "https://client.example.org/new"
    );
    assert!(
        resolved.secret_digest.unwrap().matches(secret.as_bytes()),
        "the secret is kept"
    );
    let new_token = body["registration_access_token"].as_str().unwrap();

    // Refusals: wrong secret, changed client_id, switch to public, server-issued member.
    let cases = [
        (
            serde_json::json!({"client_id": client_id, "client_secret": "wrong", "redirect_uris": [REDIRECT]}),
            "invalid_request",
        ),
        (
            serde_json::json!({"client_id": "other", "redirect_uris": [REDIRECT]}),
            "invalid_request",
        ),
        (
            serde_json::json!({"client_id": client_id, "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            serde_json::json!({"client_id": client_id, "redirect_uris": [REDIRECT], "registration_access_token": "x"}),
            "invalid_request",
        ),
        (
            serde_json::json!({"client_id": client_id, "redirect_uris": ["http://evil.example/"]}),
            "invalid_redirect_uri",
        ),
    ];
    for (body, code) in cases {
        let response = engine
            .update_client(
                client_id,
                &bearer(new_token),
                body.to_string().as_bytes(),
                NOW,
                &mut rng(3),
            )
            .await;
        assert_eq!(response.status, 400, "{body}");
        assert_eq!(error_of(&response), code, "{body}");
    }
    // Nothing changed through the refused updates.
    let resolved = engine
        .resolve_client(&ClientId::parse(client_id).unwrap(), NOW)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        resolved.metadata.redirect_uris()[0].as_str(),
        "https://client.example.org/new"
    );
}

#[tokio::test]
async fn a_repeat_registrant_cannot_redirect_or_delete_the_first_client() {
    let engine = engine().await;
    let victim = json(&post(&engine, public_metadata().to_string().as_bytes(), 1).await);
    let attacker = json(&post(&engine, public_metadata().to_string().as_bytes(), 2).await);
    let client_id = victim["client_id"].as_str().unwrap();
    assert_ne!(attacker["client_id"], client_id);
    let token = attacker["registration_access_token"].as_str().unwrap();
    let mut hijack = public_metadata();
    hijack["client_id"] = client_id.into();
    hijack["redirect_uris"] = serde_json::json!(["https://attacker.example/cb"]);
    let response = engine
        .update_client(
            client_id,
            &bearer(token),
            hijack.to_string().as_bytes(),
            NOW,
            &mut rng(3),
        )
        .await;
    assert_eq!(response.status, 401);
    let deleted = engine.delete_client(client_id, &bearer(token), NOW).await;
    assert_eq!(deleted.status, 401);
    let stored = engine
        .store()
        .client(&ClientId::parse(client_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.metadata["redirect_uris"],
        serde_json::json!([LOOPBACK])
    );
}

#[tokio::test]
async fn rfc_7592_section_2_3_delete() {
    let engine = engine().await;
    let first = json(&post(&engine, confidential_metadata().to_string().as_bytes(), 1).await);
    let client_id = first["client_id"].as_str().unwrap();
    let token = first["registration_access_token"].as_str().unwrap();
    assert_eq!(
        engine
            .delete_client(client_id, &bearer("nope"), NOW)
            .await
            .status,
        401
    );
    assert_eq!(
        engine
            .delete_client(client_id, &http("DELETE"), NOW)
            .await
            .status,
        401
    );
    let response = engine.delete_client(client_id, &bearer(token), NOW).await;
    assert_eq!(response.status, 204);
    assert_eq!(response.body, ResponseBody::Empty);
    assert!(
        engine
            .store()
            .client(&ClientId::parse(client_id).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // Afterwards the token opens nothing.
    assert_eq!(
        engine
            .delete_client(client_id, &bearer(token), NOW)
            .await
            .status,
        401
    );
    assert_eq!(
        engine
            .read_client(client_id, &bearer(token), NOW, &mut rng(1))
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn purge_unused_clients_after_the_ttl() {
    let engine = engine().await;
    let unused = json(&post(&engine, confidential_metadata().to_string().as_bytes(), 1).await);
    let used = json(&post(&engine, public_metadata().to_string().as_bytes(), 2).await);
    let used_id = ClientId::parse(used["client_id"].as_str().unwrap()).unwrap();
    engine
        .store()
        .mark_client_used(&used_id, NOW)
        .await
        .unwrap();
    let ttl = RegistrationSettings::default().unused_client_ttl;
    assert_eq!(ttl, Duration::from_secs(24 * 3600));
    let just_before = UnixTime::from_secs(NOW.as_secs() + ttl.as_secs() - 1);
    assert_eq!(
        engine
            .purge_unused_clients(just_before, u64::MAX)
            .await
            .unwrap(),
        0
    );
    let after = UnixTime::from_secs(NOW.as_secs() + ttl.as_secs() + 1);
    assert_eq!(
        engine.purge_unused_clients(after, u64::MAX).await.unwrap(),
        1
    );
    let unused_id = ClientId::parse(unused["client_id"].as_str().unwrap()).unwrap();
    assert!(engine.store().client(&unused_id).await.unwrap().is_none());
    assert!(engine.store().client(&used_id).await.unwrap().is_some());
    let _ = engine.store().purge_expired(after, u64::MAX).await.unwrap();
}

#[tokio::test]
async fn a12_redirect_uris_are_loopback_or_https() {
    let engine = engine().await;
    for (seed, (uri, status)) in (10..).zip([
        ("http://client.example.org/cb", 400),
        ("com.example.app:/cb", 400),
        ("javascript:alert(1)", 400),
        ("http://localhost/cb", 201),
        ("http://[::1]/cb", 201),
        ("https://client.example.org/cb", 201),
    ]) {
        let body =
            serde_json::json!({ "redirect_uris": [uri], "token_endpoint_auth_method": "none" });
        let response = post(&engine, body.to_string().as_bytes(), seed).await;
        assert_eq!(response.status, status, "{uri}");
        if status == 400 {
            assert_eq!(error_of(&response), "invalid_redirect_uri", "{uri}");
        }
    }
}

/// Metadata members a registrant might send hoping to be let into `/introspect`.
fn smuggled_introspection_members(metadata: &mut serde_json::Value) {
    for member in [
        "may_introspect",
        "latchkey_introspect",
        "introspect",
        "introspection",
        "introspection_allowed",
    ] {
        metadata[member] = serde_json::Value::Bool(true);
    }
}

/// `/introspect` as `client_id` with `client_secret` in the body (RFC 6749
/// section 2.3.1), asking about a token that does not exist.
async fn introspect_as(
    engine: &TestEngine,
    client_id: &str,
    secret: &str,
) -> latchkey_engine::EndpointResponse {
    let params = latchkey_engine::Params::from_pairs(
        [
            ("token", "no-such-token"),
            ("client_id", client_id),
            ("client_secret", secret),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    )
    .unwrap();
    engine
        .introspect(
            &params,
            &HttpContext::new("POST", "https://as.example.com/introspect"),
            NOW,
        )
        .await
}

/// RFC 7662 section 2.1 (the server authorizes the caller), RFC 7591
/// section 2 and RFC 7592 section 2.2: no metadata member sent in a
/// registration or an update grants the introspection permission; the
/// client, authenticated, is refused with `401 invalid_client`.
#[tokio::test]
async fn rfc_7662_section_2_1_no_registration_or_update_grants_introspection() {
    let engine = engine().await;
    let mut metadata = serde_json::json!({
        "client_name": "Sneaky",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_post",
    });
    smuggled_introspection_members(&mut metadata);
    let registered = post(&engine, metadata.to_string().as_bytes(), 41).await;
    assert_eq!(registered.status, 201, "{:?}", registered.json_body());
    let body = json(&registered);
    let client_id = body["client_id"].as_str().unwrap().to_owned();
    let secret = body["client_secret"].as_str().unwrap().to_owned();
    let token = body["registration_access_token"].as_str().unwrap();
    let id = ClientId::parse(&client_id).unwrap();
    let stored = engine.store().client(&id).await.unwrap().unwrap();
    assert!(!stored.may_introspect, "{stored:?}");
    assert!(
        !engine
            .resolve_client(&id, NOW)
            .await
            .unwrap()
            .unwrap()
            .may_introspect
    );

    let refused = introspect_as(&engine, &client_id, &secret).await;
    assert_eq!(refused.status, 401, "{:?}", refused.json_body());
    let answer = json(&refused);
    assert_eq!(answer["error"], "invalid_client");
    assert_eq!(
        answer["error_description"], "the client may not introspect tokens",
        "authenticated, then refused for want of the permission"
    );
    assert!(answer.get("active").is_none());

    // RFC 7592 section 2.2: an update sending the same members.
    let mut update = serde_json::json!({
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "Sneaky, updated",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_post",
    });
    smuggled_introspection_members(&mut update);
    let updated = engine
        .update_client(
            &client_id,
            &bearer(token),
            update.to_string().as_bytes(),
            NOW,
            &mut rng(42),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.json_body());
    let stored = engine.store().client(&id).await.unwrap().unwrap();
    assert_eq!(stored.metadata["client_name"], "Sneaky, updated");
    assert!(!stored.may_introspect, "{stored:?}");
    let refused = introspect_as(&engine, &client_id, &secret).await;
    assert_eq!(refused.status, 401);
    assert_eq!(json(&refused)["error"], "invalid_client");
}

/// RFC 7592 section 2.2: an update keeps the permission an administrator
/// stored with the client (`ClientRecord::may_introspect`).
#[tokio::test]
async fn rfc_7592_section_2_2_an_update_keeps_the_administrators_introspection_permission() {
    let engine = engine().await;
    let registered = json(&post(&engine, confidential_metadata().to_string().as_bytes(), 43).await);
    let client_id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let token = registered["registration_access_token"].as_str().unwrap();
    let id = ClientId::parse(client_id).unwrap();
    // What `latchkey clients add --introspect` stores, for this client.
    let stored = engine.store().client(&id).await.unwrap().unwrap();
    assert!(engine.store().delete_client(&id, NOW).await.unwrap());
    let granted = latchkey_store::ClientRecord {
        may_introspect: true,
        ..stored
    };
    engine
        .store()
        .register_client(&granted, u64::MAX)
        .await
        .unwrap();
    let update = serde_json::json!({
        "client_id": client_id,
        "client_name": "Renamed",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let updated = engine
        .update_client(
            client_id,
            &bearer(token),
            update.to_string().as_bytes(),
            NOW,
            &mut rng(44),
        )
        .await;
    assert_eq!(updated.status, 200, "{:?}", updated.json_body());
    let stored = engine.store().client(&id).await.unwrap().unwrap();
    assert_eq!(stored.metadata["client_name"], "Renamed");
    assert!(stored.may_introspect);
    let basic =
        HttpContext::new("POST", "https://as.example.com/introspect").with_authorization(format!(
            "Basic {}",
            <base64ct::Base64 as base64ct::Encoding>::encode_string(
                format!("{client_id}:{secret}").as_bytes()
            )
        ));
    let params =
        latchkey_engine::Params::from_pairs([("token".to_owned(), "no-such-token".to_owned())])
            .unwrap();
    let answer = engine.introspect(&params, &basic, NOW).await;
    assert_eq!(answer.status, 200, "{:?}", answer.json_body());
    assert_eq!(json(&answer), serde_json::json!({ "active": false }));
}
