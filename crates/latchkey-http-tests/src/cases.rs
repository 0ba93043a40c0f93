//! The cases, one `pub async fn` each, run against a [`TestTarget`] started
//! with the fixture (see the crate documentation). Each panics on failure.

use latchkey_metadata::{Challenge, parse_www_authenticate};
use latchkey_types::ErrorCode;

use crate::client::{Request, Response, send};
use crate::dpop::DpopKey;
use crate::{
    ADMIN_PATH, ADMIN_SCOPES, ALLOWED_ORIGIN, BACKEND_CLIENT, BACKEND_SECRET, DEFAULT_SCOPE,
    OTHER_RESOURCE_PATH, RESOURCE_PATH, TEST_SUBJECT, TestTarget,
};

/// The loopback redirect URI the cases register.
pub const REDIRECT_URI: &str = "http://127.0.0.1:8080/cb";
/// RFC 7636 appendix B verifier and challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The S256 challenge of [`VERIFIER`].
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// RFC 8414 section 3.1 and OpenID Connect Discovery 1.0 section 4: the
/// metadata at every well-known location, `issuer` byte-identical to the base.
pub async fn rfc_8414_section_3_metadata_at_every_well_known_location(t: &TestTarget) {
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let response = send(&t.base, &Request::new("GET", path)).await;
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        let doc = response.json();
        assert_eq!(doc["issuer"], t.base.as_str(), "{path}");
        assert_eq!(doc["token_endpoint"], t.url("/token").as_str());
        assert_eq!(doc["code_challenge_methods_supported"][0], "S256");
    }
    let missing = send(
        &t.base,
        &Request::new("GET", "/.well-known/oauth-authorization-server/x"),
    )
    .await;
    assert_eq!(missing.status, 404);
}

/// RFC 7517 section 5: the JWK Set, public members only.
pub async fn rfc_7517_jwks_is_served(t: &TestTarget) {
    let response = send(&t.base, &Request::new("GET", "/jwks")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let jwks = response.json();
    let keys = jwks["keys"].as_array().expect("keys array");
    assert!(!keys.is_empty());
    assert!(
        keys.iter().all(|k| k.get("d").is_none()),
        "no private member"
    );
}

/// RFC 7591 section 3 and RFC 7592: `201` with a client id, read and delete
/// with the registration access token, and a refused registration.
pub async fn rfc_7591_section_3_registration_201_and_errors(t: &TestTarget) {
    let response = register_public(t).await;
    assert_eq!(response.status, 201, "{}", response.text());
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    let client_id = body["client_id"].as_str().expect("client_id").to_owned();
    let token = body["registration_access_token"]
        .as_str()
        .expect("registration_access_token")
        .to_owned();
    let path = format!("/register/{client_id}");
    let read = send(
        &t.base,
        &Request::new("GET", &path).header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.text());
    let token = read.json()["registration_access_token"]
        .as_str()
        .expect("a new registration access token")
        .to_owned();
    let unauthenticated = send(&t.base, &Request::new("GET", &path)).await;
    assert_eq!(unauthenticated.status, 401);
    let deleted = send(
        &t.base,
        &Request::new("DELETE", &path).header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    assert!(matches!(deleted.status, 204 | 405), "{}", deleted.status);

    let refused = send(
        &t.base,
        &Request::new("POST", "/register").json(&serde_json::json!({
            "redirect_uris": ["http://evil.example/cb"],
            "token_endpoint_auth_method": "none",
        })),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"], "invalid_redirect_uri");
    let not_json = send(
        &t.base,
        &Request::new("POST", "/register")
            .header("Content-Type", "application/json")
            .body(b"{not json".to_vec()),
    )
    .await;
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json()["error"], "invalid_request");
}

/// OAuth 2.1 sections 4.1 and 4.3, RFC 7636, RFC 7009, RFC 7662: register,
/// authorize (auto-approved as `alice`), redeem with PKCE, call the resource,
/// refresh, revoke, introspect.
pub async fn oauth_2_1_full_flow_with_pkce_refresh_revoke_introspect(t: &TestTarget) {
    let registered = register_public(t).await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let client_id = registered.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let code = authorize_code(t, &client_id).await;
    let tokens = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ]),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let body = tokens.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], DEFAULT_SCOPE);
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let first_refresh = body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();

    let resource = get_resource(t, RESOURCE_PATH, &access).await;
    assert_eq!(resource.status, 200, "{}", resource.text());
    assert_eq!(resource.json()["sub"], TEST_SUBJECT);
    assert_eq!(resource.json()["client_id"], client_id.as_str());

    let replay = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
        ]),
    )
    .await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.json()["error"], "invalid_grant");
    // OAuth 2.1 section 4.1.3: the replay revoked what the code issued.
    let revoked_family = introspect(t, &first_refresh).await;
    assert_eq!(revoked_family.json()["active"], false);

    // The replay revoked what the code issued; start a new grant.
    let code = authorize_code(t, &client_id).await;
    let tokens = redeem(t, &client_id, &code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text());
    let refresh = tokens.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let refreshed = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ]),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let body = refreshed.json();
    let access = body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let new_refresh = body["refresh_token"].as_str().expect("rotated").to_owned();
    assert_ne!(new_refresh, refresh, "OAuth 2.1 section 4.3.1: rotation");

    let introspected = introspect(t, &access).await;
    assert_eq!(introspected.status, 200, "{}", introspected.text());
    assert_eq!(introspected.json()["active"], true);

    let revoked = send(
        &t.base,
        &Request::new("POST", "/revoke")
            .form(&[("token", &new_refresh), ("client_id", &client_id)]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let introspected = introspect(t, &new_refresh).await;
    assert_eq!(introspected.json()["active"], false);
    let again = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &new_refresh),
            ("client_id", &client_id),
        ]),
    )
    .await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json()["error"], "invalid_grant");
}

/// OAuth 2.1 section 3.2.4: an unknown grant type.
pub async fn oauth_2_1_section_3_2_4_unsupported_grant_type(t: &TestTarget) {
    let response = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "password"),
            ("client_id", BACKEND_CLIENT),
            ("client_secret", BACKEND_SECRET),
        ]),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "unsupported_grant_type");
}

/// Token-side endpoints need `application/x-www-form-urlencoded` and
/// registration `application/json`; anything else is `400 invalid_request`.
pub async fn wrong_content_type_is_invalid_request(t: &TestTarget) {
    for path in ["/token", "/revoke", "/introspect"] {
        let response = send(
            &t.base,
            &Request::new("POST", path)
                .header("Content-Type", "application/json")
                .body(b"{\"grant_type\":\"client_credentials\"}".to_vec()),
        )
        .await;
        assert_eq!(response.status, 400, "{path}");
        assert_eq!(response.json()["error"], "invalid_request", "{path}");
    }
    let response = send(
        &t.base,
        &Request::new("POST", "/token").body(b"grant_type=client_credentials".to_vec()),
    )
    .await;
    assert_eq!(response.status, 400, "no content type");
    assert_eq!(response.json()["error"], "invalid_request");
    let response = send(
        &t.base,
        &Request::new("POST", "/register").form(&[("redirect_uris", REDIRECT_URI)]),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_request");
}

/// A repeated `Authorization` header is `400 invalid_request`.
pub async fn repeated_authorization_header_is_invalid_request(t: &TestTarget) {
    let response = send(
        &t.base,
        &Request::new("POST", "/token")
            .header("Authorization", "Basic YmFja2VuZDp4")
            .header("Authorization", "Basic YmFja2VuZDp5")
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_request");
}

/// OAuth 2.1 appendix B and sections 3.1 and 3.2: a form body whose
/// percent-encoding is invalid or whose bytes are not UTF-8, and a parameter
/// sent twice, are `400 invalid_request`, never decoded with replacement
/// characters and served.
pub async fn oauth_2_1_section_3_2_undecodable_or_repeated_form_parameters_are_refused(
    t: &TestTarget,
) {
    let credentials = format!(
        "grant_type=client_credentials&client_id={BACKEND_CLIENT}&client_secret={}",
        crate::client::percent_encode(BACKEND_SECRET)
    );
    for tail in [
        &b"&x=\xff"[..],
        b"&x=%FF",
        b"&x=%zz",
        b"&grant_type=client_credentials",
    ] {
        let mut body = credentials.clone().into_bytes();
        body.extend_from_slice(tail);
        let response = send(
            &t.base,
            &Request::new("POST", "/token")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        let tail = String::from_utf8_lossy(tail);
        assert_eq!(response.status, 400, "{tail}: {}", response.text());
        assert_eq!(response.json()["error"], "invalid_request", "{tail}");
        assert_eq!(response.header("cache-control"), Some("no-store"), "{tail}");
    }
}

/// RFC 9110 section 15.5.6: another method at an endpoint is `405` with `Allow`.
pub async fn rfc_9110_section_15_5_6_wrong_method_is_405_with_allow(t: &TestTarget) {
    for (method, path, allow) in [
        ("DELETE", "/token", "POST"),
        ("GET", "/revoke", "POST"),
        ("POST", "/authorize", "GET"),
        ("POST", "/jwks", "GET"),
    ] {
        let response = send(&t.base, &Request::new(method, path)).await;
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
    }
}

/// A body over 64 KiB is refused (`413`, or `400 invalid_request`).
pub async fn oversized_body_is_refused(t: &TestTarget) {
    let big = "a".repeat(70 * 1024);
    for path in ["/token", "/register"] {
        let request = if path == "/token" {
            Request::new("POST", path).form(&[("grant_type", "client_credentials"), ("x", &big)])
        } else {
            Request::new("POST", path).json(&serde_json::json!({ "client_name": big }))
        };
        let response = send(&t.base, &request).await;
        assert!(
            matches!(response.status, 413 | 400),
            "{path}: {}",
            response.status
        );
        if response.status == 400 {
            assert_eq!(response.json()["error"], "invalid_request");
        }
    }
}

/// OAuth 2.1 section 3.2.3: token responses, successful or not, are not cached.
pub async fn oauth_2_1_section_3_2_3_token_responses_are_no_store(t: &TestTarget) {
    let ok = client_credentials(t, Some(DEFAULT_SCOPE), None, None).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    assert_eq!(ok.header("pragma"), Some("no-cache"));
    assert_eq!(ok.header("content-type"), Some("application/json"));
    let refused = send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND_CLIENT),
            ("client_secret", "wrong"),
        ]),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["error"], "invalid_client");
    assert_eq!(refused.header("cache-control"), Some("no-store"));
}

/// OAuth 2.1 section 4.1.2.1: an unknown client gets an escaped HTML error
/// page (`400`), never a redirect.
pub async fn oauth_2_1_section_4_1_2_1_unverifiable_client_gets_an_error_page(t: &TestTarget) {
    let target = format!(
        "/authorize?response_type=code&client_id=%3Cscript%3E&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        crate::client::percent_encode(REDIRECT_URI)
    );
    let response = send(&t.base, &Request::new("GET", &target)).await;
    assert_eq!(response.status, 400);
    assert_eq!(
        response.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(response.header("location").is_none());
    assert!(!response.text().contains("<script>"));
}

/// RFC 9700 section 4.16 (clickjacking) and OAuth 2.1 section 4.1.2.1: the
/// `/authorize` error page cannot be framed, cached, run scripts or leak its
/// URL through `Referer`, in every adapter alike.
pub async fn rfc_9700_section_4_16_authorize_error_page_cannot_be_framed_or_cached(t: &TestTarget) {
    let response = send(
        &t.base,
        &Request::new("GET", "/authorize?response_type=code&client_id=nobody"),
    )
    .await;
    assert_eq!(response.status, 400);
    assert!(response.header("location").is_none());
    let csp = response
        .header("content-security-policy")
        .expect("Content-Security-Policy");
    let directives: Vec<&str> = csp.split(';').map(str::trim).collect();
    assert!(directives.contains(&"frame-ancestors 'none'"), "{csp}");
    assert!(directives.contains(&"default-src 'none'"), "{csp}");
    assert_eq!(response.header("x-frame-options"), Some("DENY"));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
}

/// MCP R3, R4, RFC 9728 section 5.1: no token is `401` with a Bearer challenge
/// carrying `resource_metadata` and `scope`, plus a DPoP challenge.
pub async fn r3_r4_missing_token_gets_401_with_challenge(t: &TestTarget) {
    let response = send(&t.base, &Request::new("GET", RESOURCE_PATH)).await;
    assert_eq!(response.status, 401);
    let challenges = challenges(&response);
    let bearer = find(&challenges, "Bearer");
    assert_eq!(
        bearer.resource_metadata(),
        Some(t.url("/.well-known/oauth-protected-resource/mcp").as_str())
    );
    assert_eq!(bearer.param("scope"), Some(DEFAULT_SCOPE));
    assert_eq!(bearer.error(), None);
    let dpop = find(&challenges, "DPoP");
    assert_eq!(dpop.algs(), Some(vec!["ES256", "EdDSA"]));
}

/// MCP R5, R7: a malformed or forged token is `401 invalid_token`.
pub async fn r5_r7_invalid_token_is_401_invalid_token(t: &TestTarget) {
    let good = access_token(t, DEFAULT_SCOPE, None).await;
    let forged = format!("{}x", good.trim_end_matches(|c| c != '.'));
    for token in ["not-a-jwt", forged.as_str()] {
        let response = get_resource(t, RESOURCE_PATH, token).await;
        assert_eq!(response.status, 401, "{token}");
        let challenges = challenges(&response);
        let bearer = find(&challenges, "Bearer");
        assert_eq!(bearer.error_code(), Some(ErrorCode::InvalidToken));
        assert!(bearer.resource_metadata().is_some());
    }
}

/// RFC 7009 section 2 and RFC 6750 section 3.1: an access token revoked at
/// the revocation endpoint is refused at once by a resource server beside
/// the authorization server (the fixture's asks the engine's store), as
/// `401 invalid_token`; it worked before.
pub async fn rfc_7009_revoked_access_token_is_401_invalid_token(t: &TestTarget) {
    let token = access_token(t, DEFAULT_SCOPE, None).await;
    let before = get_resource(t, RESOURCE_PATH, &token).await;
    assert_eq!(before.status, 200, "{}", before.text());
    let revoked = send(
        &t.base,
        &Request::new("POST", "/revoke").form(&[
            ("token", &token),
            ("client_id", BACKEND_CLIENT),
            ("client_secret", BACKEND_SECRET),
        ]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let after = get_resource(t, RESOURCE_PATH, &token).await;
    assert_eq!(after.status, 401, "{}", after.text());
    let challenges = challenges(&after);
    let bearer = find(&challenges, "Bearer");
    assert_eq!(bearer.error_code(), Some(ErrorCode::InvalidToken));
    assert!(bearer.resource_metadata().is_some());
}

/// MCP R6, R13: a token issued for another resource is `401 invalid_token`.
pub async fn r6_r13_wrong_audience_token_is_401(t: &TestTarget) {
    let other = t.url(OTHER_RESOURCE_PATH);
    let token = access_token(t, "other:read", Some(&other)).await;
    let response = get_resource(t, RESOURCE_PATH, &token).await;
    assert_eq!(response.status, 401);
    let challenges = challenges(&response);
    assert_eq!(
        find(&challenges, "Bearer").error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

/// MCP R11: a valid token without a route's scope is `403
/// insufficient_scope` naming every scope the route needs.
pub async fn r11_insufficient_scope_is_403_step_up(t: &TestTarget) {
    let token = access_token(t, DEFAULT_SCOPE, None).await;
    let ok = get_resource(t, RESOURCE_PATH, &token).await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["client_id"], BACKEND_CLIENT);
    let response = get_resource(t, ADMIN_PATH, &token).await;
    assert_eq!(response.status, 403);
    let challenges = challenges(&response);
    let bearer = find(&challenges, "Bearer");
    assert_eq!(bearer.error_code(), Some(ErrorCode::InsufficientScope));
    assert_eq!(bearer.param("scope"), Some(ADMIN_SCOPES));
    assert!(bearer.resource_metadata().is_some());
    let stronger = access_token(t, ADMIN_SCOPES, None).await;
    assert_eq!(get_resource(t, ADMIN_PATH, &stronger).await.status, 200);
}

/// RFC 6750 section 2.3 is not supported (OAuth 2.1 section 5.1.2): a token in
/// the query string is `400 invalid_request` and never accepted.
pub async fn rfc_6750_query_string_token_is_refused(t: &TestTarget) {
    let token = access_token(t, DEFAULT_SCOPE, None).await;
    let target = format!("{RESOURCE_PATH}?access_token={token}");
    let response = send(&t.base, &Request::new("GET", &target)).await;
    assert_eq!(response.status, 400);
    let challenges = challenges(&response);
    assert_eq!(
        find(&challenges, "Bearer").error_code(),
        Some(ErrorCode::InvalidRequest)
    );
    let with_header = send(
        &t.base,
        &Request::new("GET", &target).header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    assert_eq!(with_header.status, 400);
}

/// RFC 6750 section 2.2 is not supported (OAuth 2.1 section 5.1 allows
/// only the header): a token in a form body is no credential, `401`.
pub async fn rfc_6750_form_body_token_is_not_accepted(t: &TestTarget) {
    let token = access_token(t, DEFAULT_SCOPE, None).await;
    let response = send(
        &t.base,
        &Request::new("POST", RESOURCE_PATH).form(&[("access_token", &token)]),
    )
    .await;
    assert_eq!(response.status, 401);
    let challenges = challenges(&response);
    assert_eq!(find(&challenges, "Bearer").error(), None);
}

/// RFC 9449 section 7.1: a DPoP-bound token presented as a Bearer token is
/// `401 invalid_token`.
pub async fn rfc_9449_dpop_bound_token_with_bearer_scheme_is_401(t: &TestTarget) {
    let mut key = DpopKey::new(7);
    let token = dpop_token(t, &mut key).await;
    let response = get_resource(t, RESOURCE_PATH, &token).await;
    assert_eq!(response.status, 401);
    let challenges = challenges(&response);
    let error = challenges.iter().find_map(Challenge::error_code);
    assert_eq!(error, Some(ErrorCode::InvalidToken));
}

/// RFC 9449 sections 4.3 and 7: a DPoP-bound token with a valid proof (right
/// `htm`, `htu`, `ath`) is accepted; a proof for another URI is not.
pub async fn rfc_9449_dpop_bound_token_with_valid_proof_is_accepted(t: &TestTarget) {
    let mut key = DpopKey::new(8);
    let token = dpop_token(t, &mut key).await;
    let proof = key.proof("GET", &t.url(RESOURCE_PATH), Some(&token));
    let response = dpop_get(t, RESOURCE_PATH, &token, &proof).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let wrong_uri = key.proof("GET", &t.url(ADMIN_PATH), Some(&token));
    let response = dpop_get(t, RESOURCE_PATH, &token, &wrong_uri).await;
    assert_eq!(response.status, 401);
    let challenges = challenges(&response);
    assert_eq!(
        find(&challenges, "DPoP").error_code(),
        Some(ErrorCode::InvalidDpopProof)
    );
    let other_key = DpopKey::new(9).proof("GET", &t.url(RESOURCE_PATH), Some(&token));
    let response = dpop_get(t, RESOURCE_PATH, &token, &other_key).await;
    assert_eq!(response.status, 401);
}

/// RFC 9449 section 11.1: the same proof twice is refused the second time.
pub async fn rfc_9449_dpop_proof_replay_is_refused(t: &TestTarget) {
    let mut key = DpopKey::new(10);
    let token = dpop_token(t, &mut key).await;
    let proof = key.proof("GET", &t.url(RESOURCE_PATH), Some(&token));
    assert_eq!(dpop_get(t, RESOURCE_PATH, &token, &proof).await.status, 200);
    let replay = dpop_get(t, RESOURCE_PATH, &token, &proof).await;
    assert_eq!(replay.status, 401);
    assert_eq!(
        find(&challenges(&replay), "DPoP").error_code(),
        Some(ErrorCode::InvalidDpopProof)
    );
}

/// RFC 9449 section 4.3 check 9: the token endpoint's `htu` is its configured
/// URL, whatever `Host` the request names (no Host-header injection).
pub async fn rfc_9449_htu_is_the_configured_url_not_the_host_header(t: &TestTarget) {
    let mut key = DpopKey::new(11);
    let pairs = [
        ("grant_type", "client_credentials"),
        ("client_id", BACKEND_CLIENT),
        ("client_secret", BACKEND_SECRET),
    ];
    let configured = key.proof("POST", &t.url("/token"), None);
    let response = send(
        &t.base,
        &Request::new("POST", "/token")
            .header("Host", "evil.example")
            .header("DPoP", &configured)
            .form(&pairs),
    )
    .await;
    assert_eq!(response.status, 200, "{}", response.text());
    let spoofed = key.proof("POST", "http://evil.example/token", None);
    let response = send(
        &t.base,
        &Request::new("POST", "/token")
            .header("Host", "evil.example")
            .header("DPoP", &spoofed)
            .form(&pairs),
    )
    .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.json()["error"], "invalid_dpop_proof");
}

/// MCP R1, R2, R3' and RFC 9728 section 3: the protected resource metadata at
/// the path-inserted and the root well-known URL, `resource` byte for byte.
pub async fn r1_r3_prm_at_both_locations(t: &TestTarget) {
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = send(&t.base, &Request::new("GET", path)).await;
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        let doc = response.json();
        assert_eq!(doc["resource"], t.url(RESOURCE_PATH).as_str());
        assert_eq!(doc["authorization_servers"][0], t.base.as_str());
        assert_eq!(doc["bearer_methods_supported"][0], "header");
    }
}

/// MCP R15: a request with a foreign `Origin` is `403`; the allowed origin passes.
pub async fn r15_foreign_origin_is_403(t: &TestTarget) {
    let token = access_token(t, DEFAULT_SCOPE, None).await;
    let foreign = send(
        &t.base,
        &Request::new("GET", RESOURCE_PATH)
            .header("Origin", "http://evil.example")
            .header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    assert_eq!(foreign.status, 403);
    let allowed = send(
        &t.base,
        &Request::new("GET", RESOURCE_PATH)
            .header("Origin", ALLOWED_ORIGIN)
            .header("Authorization", &format!("Bearer {token}")),
    )
    .await;
    assert_eq!(allowed.status, 200);
    let no_token = send(
        &t.base,
        &Request::new("GET", RESOURCE_PATH).header("Origin", "http://evil.example"),
    )
    .await;
    assert_eq!(no_token.status, 403, "origin is checked before the token");
}

/// Registers a public loopback client (RFC 7591 section 3.1).
pub async fn register_public(t: &TestTarget) -> Response {
    send(
        &t.base,
        &Request::new("POST", "/register").json(&serde_json::json!({
            "client_name": "HTTP suite",
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        })),
    )
    .await
}

/// Runs the authorization endpoint for `client_id` (auto-approved) and returns the code.
pub async fn authorize_code(t: &TestTarget, client_id: &str) -> String {
    let query = crate::client::form_encode(&[
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
        ("scope", DEFAULT_SCOPE),
        ("resource", &t.url(RESOURCE_PATH)),
    ]);
    let response = send(
        &t.base,
        &Request::new("GET", &format!("/authorize?{query}")),
    )
    .await;
    assert_eq!(response.status, 302, "{}", response.text());
    let location = response.header("location").expect("Location");
    let url = url::Url::parse(location).expect("absolute Location");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("state").as_deref(), Some("xyz"));
    assert_eq!(get("iss").as_deref(), Some(t.base.as_str()), "RFC 9207");
    get("code").expect("code in the redirect")
}

async fn redeem(t: &TestTarget, client_id: &str, code: &str) -> Response {
    send(
        &t.base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ]),
    )
    .await
}

async fn introspect(t: &TestTarget, token: &str) -> Response {
    send(
        &t.base,
        &Request::new("POST", "/introspect").form(&[
            ("token", token),
            ("client_id", BACKEND_CLIENT),
            ("client_secret", BACKEND_SECRET),
        ]),
    )
    .await
}

/// A `client_credentials` token request by [`BACKEND_CLIENT`], with a DPoP proof
/// when `dpop` is given.
pub async fn client_credentials(
    t: &TestTarget,
    scope: Option<&str>,
    resource: Option<&str>,
    dpop: Option<&mut DpopKey>,
) -> Response {
    let mut pairs = vec![
        ("grant_type", "client_credentials"),
        ("client_id", BACKEND_CLIENT),
        ("client_secret", BACKEND_SECRET),
    ];
    if let Some(scope) = scope {
        pairs.push(("scope", scope));
    }
    if let Some(resource) = resource {
        pairs.push(("resource", resource));
    }
    let mut request = Request::new("POST", "/token").form(&pairs);
    if let Some(key) = dpop {
        request = request.header("DPoP", &key.proof("POST", &t.url("/token"), None));
    }
    send(&t.base, &request).await
}

/// A Bearer access token from [`client_credentials`]; `resource` defaults to the fixture's.
async fn access_token(t: &TestTarget, scope: &str, resource: Option<&str>) -> String {
    let response = client_credentials(t, Some(scope), resource, None).await;
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A DPoP-bound access token for `key`.
async fn dpop_token(t: &TestTarget, key: &mut DpopKey) -> String {
    let response = client_credentials(t, Some(DEFAULT_SCOPE), None, Some(key)).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = response.json();
    assert_eq!(body["token_type"], "DPoP");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

async fn get_resource(t: &TestTarget, path: &str, token: &str) -> Response {
    send(
        &t.base,
        &Request::new("GET", path).header("Authorization", &format!("Bearer {token}")),
    )
    .await
}

async fn dpop_get(t: &TestTarget, path: &str, token: &str, proof: &str) -> Response {
    send(
        &t.base,
        &Request::new("GET", path)
            .header("Authorization", &format!("DPoP {token}"))
            .header("DPoP", proof),
    )
    .await
}

/// Every challenge of every `WWW-Authenticate` field of `response`.
pub fn challenges(response: &Response) -> Vec<Challenge> {
    let values = response.header_all("www-authenticate");
    assert!(
        !values.is_empty(),
        "no WWW-Authenticate: {}",
        response.text()
    );
    values
        .into_iter()
        .flat_map(|v| parse_www_authenticate(v).expect("a well-formed challenge"))
        .collect()
}

fn find<'a>(challenges: &'a [Challenge], scheme: &str) -> &'a Challenge {
    challenges
        .iter()
        .find(|c| c.scheme().as_str().eq_ignore_ascii_case(scheme))
        .unwrap_or_else(|| panic!("no {scheme} challenge in {challenges:?}"))
}
