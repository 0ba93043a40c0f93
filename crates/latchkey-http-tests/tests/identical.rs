//! Both adapters answer identically: the axum and the actix fixture servers,
//! built from the same engine configuration and store seed, get the same
//! requests; status, the relevant headers, parsed challenges and JSON bodies
//! (random values such as tokens, codes, `jti` and client ids masked, the
//! base URL replaced) must be equal.

#[path = "../../latchkey-axum/tests/fixture/mod.rs"]
#[allow(dead_code)]
mod axum_fixture;

use std::collections::BTreeMap;

use latchkey_http_tests::cases::{
    CHALLENGE, REDIRECT_URI, VERIFIER, authorize_code, challenges, register_public,
};
use latchkey_http_tests::client::{Request, Response, percent_encode, send};
use latchkey_http_tests::dpop::DpopKey;
use latchkey_http_tests::{
    ADMIN_PATH, ALLOWED_ORIGIN, BACKEND_CLIENT, BACKEND_SECRET, DEFAULT_SCOPE, NONCE_PATH,
    RESOURCE_PATH, TestTarget,
};
use serde_json::Value;

/// The actix fixture server, as `crates/latchkey-actix/tests/http_suite.rs` builds it.
mod actix_fixture {
    use std::net::TcpListener;
    use std::sync::Arc;

    use actix_web::{App, HttpResponse, HttpServer, web};
    use latchkey_actix::{
        AccessToken, AuthorizationServer, Interaction, InteractionHandler, RequireAccessToken,
        ResourceServer, SensitiveHeaders, authorization_server_routes,
        protected_resource_metadata_routes,
    };
    use latchkey_engine::authorize::PendingAuthorization;
    use latchkey_http_tests::{
        ADMIN_PATH, ADMIN_SCOPES, ALLOWED_ORIGIN, NONCE_PATH, RESOURCE_PATH, TestTarget,
        fixture_engine, fixture_resource_uri,
    };
    use latchkey_types::Scope;

    struct AutoApprove;

    impl InteractionHandler for AutoApprove {
        fn interact<'a>(
            &'a self,
            _pending: PendingAuthorization,
            _request: &'a axum::http::request::Parts,
            now: latchkey_types::UnixTime,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Interaction> + Send + 'a>> {
            Box::pin(async move { Interaction::Decide(latchkey_http_tests::test_decision(now)) })
        }
    }

    async fn resource_handler(token: AccessToken) -> HttpResponse {
        let claims = token.claims();
        HttpResponse::Ok().json(serde_json::json!({
            "sub": claims.sub.as_str(),
            "client_id": claims.client_id.as_str(),
            "scope": claims.scope.to_string(),
        }))
    }

    pub(crate) async fn start() -> TestTarget {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("local addr").port();
        let base = format!("http://127.0.0.1:{port}");
        let engine = fixture_engine(&base).await;
        let rs = Arc::new(
            ResourceServer::from_engine(&engine, &fixture_resource_uri(&base))
                .expect("resource server")
                .with_allowed_origins([ALLOWED_ORIGIN.to_owned()]),
        );
        let metadata = engine
            .protected_resource_metadata_document(&fixture_resource_uri(&base))
            .expect("configured resource");
        let nonce_rs = Arc::new(
            ResourceServer::from_engine(&engine, &fixture_resource_uri(&base))
                .expect("resource server")
                .with_dpop(latchkey_http_tests::nonce_dpop_config())
                .with_allowed_origins([ALLOWED_ORIGIN.to_owned()]),
        );
        let admin = Scope::parse(ADMIN_SCOPES).expect("scope");
        let authorization = Arc::new(AuthorizationServer::new(engine, Arc::new(AutoApprove)));
        let server = HttpServer::new(move || {
            let as_routes = authorization_server_routes(Arc::clone(&authorization));
            App::new()
                .wrap(SensitiveHeaders)
                .configure(as_routes)
                .configure(protected_resource_metadata_routes(&metadata))
                .service(
                    web::resource(ADMIN_PATH)
                        .wrap(
                            RequireAccessToken::new(Arc::clone(&rs)).require_scopes(admin.clone()),
                        )
                        .route(web::get().to(resource_handler)),
                )
                .service(
                    web::resource(NONCE_PATH)
                        .wrap(RequireAccessToken::new(Arc::clone(&nonce_rs)))
                        .route(web::get().to(resource_handler)),
                )
                .service(
                    web::resource(RESOURCE_PATH)
                        .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                        .route(web::get().to(resource_handler))
                        .route(web::post().to(resource_handler)),
                )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        std::thread::spawn(move || actix_web::rt::System::new().block_on(server));
        TestTarget::new(base)
    }
}

/// JSON members whose values are random per server (or per run).
const MASKED: &[&str] = &[
    "access_token",
    "refresh_token",
    "client_id",
    "client_secret",
    "client_id_issued_at",
    "client_secret_expires_at",
    "registration_access_token",
    "registration_client_uri",
    "jti",
    "exp",
    "iat",
    "nbf",
    "auth_time",
    "x",
    "y",
    "kid",
];

/// What is compared of one response.
#[derive(Debug, PartialEq)]
struct Observed {
    label: &'static str,
    status: u16,
    headers: BTreeMap<String, String>,
    challenges: Vec<(String, BTreeMap<String, String>)>,
    location: Option<BTreeMap<String, String>>,
    json: Option<Value>,
    /// The whole body (the base URL replaced), for the refusals that must be
    /// byte-identical, `error_description` and HTML pages included.
    raw: Option<String>,
}

/// The refusals whose bodies must be the same to the byte in both adapters.
const BYTE_IDENTICAL: &[&str] = &[
    "unsupported grant",
    "wrong content type",
    "repeated authorization",
    "oversized body",
    "invalid client",
    "error page",
    FORM_NOT_UTF8,
    FORM_PERCENT_NOT_UTF8,
    FORM_BAD_PERCENT,
    REPEATED_PARAMETER,
    WRONG_METHOD,
    QUERY_NOT_UTF8,
    QUERY_TOO_LONG,
];

fn observe(label: &'static str, t: &TestTarget, response: &Response) -> Observed {
    let mut headers = BTreeMap::new();
    for name in [
        "content-type",
        "cache-control",
        "pragma",
        "allow",
        "content-security-policy",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
    ] {
        if let Some(value) = response.header(name) {
            headers.insert(name.to_owned(), value.to_ascii_lowercase());
        }
    }
    if response.header("dpop-nonce").is_some() {
        headers.insert("dpop-nonce".to_owned(), "<present>".to_owned());
    }
    let challenges = if response.header("www-authenticate").is_some() {
        let mut list: Vec<(String, BTreeMap<String, String>)> = challenges(response)
            .iter()
            .map(|c| {
                let params = c
                    .params()
                    .filter(|(name, _)| *name != "error_description")
                    .map(|(n, v)| (n.to_owned(), v.replace(&t.base, "{base}")))
                    .collect();
                (c.scheme().as_str().to_ascii_lowercase(), params)
            })
            .collect();
        list.sort();
        list
    } else {
        Vec::new()
    };
    let location = response.header("location").map(|location| {
        let url = url::Url::parse(location).expect("absolute location");
        let mut map: BTreeMap<String, String> = url
            .query_pairs()
            .map(|(n, v)| {
                let v = if n == "code" { "<masked>".into() } else { v };
                (n.into_owned(), v.replace(&t.base, "{base}"))
            })
            .collect();
        map.insert(
            "<target>".to_owned(),
            url[..url::Position::AfterPath].to_owned(),
        );
        map
    });
    let json = response
        .header("content-type")
        .filter(|ct| ct.starts_with("application/json"))
        .and_then(|_| serde_json::from_slice::<Value>(&response.body).ok())
        .map(|mut value| {
            mask(&mut value, &t.base);
            value
        });
    let raw = BYTE_IDENTICAL
        .contains(&label)
        .then(|| String::from_utf8_lossy(&response.body).replace(&t.base, "{base}"));
    Observed {
        label,
        status: response.status,
        headers,
        challenges,
        location,
        json,
        raw,
    }
}

fn mask(value: &mut Value, base: &str) {
    match value {
        Value::Object(map) => {
            for (name, member) in map.iter_mut() {
                // `error_description` texts are the adapters' own words.
                if MASKED.contains(&name.as_str()) || name == "error_description" {
                    *member = Value::String("<masked>".to_owned());
                } else {
                    mask(member, base);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask(item, base)),
        Value::String(s) => *s = s.replace(base, "{base}"),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

fn backend_form(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("client_id".to_owned(), BACKEND_CLIENT.to_owned()),
        ("client_secret".to_owned(), BACKEND_SECRET.to_owned()),
    ];
    pairs.extend(
        extra
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    pairs
}

fn form(pairs: &[(String, String)]) -> Request {
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Request::new("POST", "/token").form(&borrowed)
}

/// Labels the tests below look up.
const ORIGIN_IN_CAPITALS: &str = "rs allowed origin in capitals";
const NONCE_MISSING: &str = "rs dpop nonce missing";
const NONCE_GIVEN: &str = "rs dpop nonce given";
const FORM_NOT_UTF8: &str = "form body not utf-8";
const FORM_PERCENT_NOT_UTF8: &str = "form body percent-encoded not utf-8";
const FORM_BAD_PERCENT: &str = "form body invalid percent-encoding";
const REPEATED_PARAMETER: &str = "repeated parameter";
const WRONG_METHOD: &str = "wrong method";
const QUERY_NOT_UTF8: &str = "authorization query not utf-8";
const QUERY_TOO_LONG: &str = "authorization query too long";
const ORIGIN_MIXED_CASE: &str = "rs allowed origin in mixed case";

/// A form request to the token endpoint for the backend client whose body
/// ends with `tail`, as raw bytes.
fn raw_form(tail: &[u8]) -> Request {
    let mut body = format!(
        "grant_type=client_credentials&client_id={BACKEND_CLIENT}&client_secret={}&",
        percent_encode(BACKEND_SECRET)
    )
    .into_bytes();
    body.extend_from_slice(tail);
    Request::new("POST", "/token")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
}

/// Sends the script to `t` and records what it observed.
async fn run(t: &TestTarget) -> Vec<Observed> {
    let mut seen = Vec::new();
    for (label, path) in [
        ("as metadata", "/.well-known/oauth-authorization-server"),
        ("openid configuration", "/.well-known/openid-configuration"),
        ("jwks", "/jwks"),
        (
            "prm path-inserted",
            "/.well-known/oauth-protected-resource/mcp",
        ),
        ("prm root", "/.well-known/oauth-protected-resource"),
    ] {
        seen.push(observe(
            label,
            t,
            &send(&t.base, &Request::new("GET", path)).await,
        ));
    }
    seen.push(observe("register", t, &register_public(t).await));

    let unsupported = form(&backend_form(&[("grant_type", "password")]));
    seen.push(observe(
        "unsupported grant",
        t,
        &send(&t.base, &unsupported).await,
    ));
    let wrong_type = Request::new("POST", "/token")
        .header("Content-Type", "text/plain")
        .body(b"grant_type=client_credentials".to_vec());
    seen.push(observe(
        "wrong content type",
        t,
        &send(&t.base, &wrong_type).await,
    ));
    let repeated = form(&backend_form(&[("grant_type", "client_credentials")]))
        .header("Authorization", "Basic YTpi")
        .header("Authorization", "Basic YTpj");
    seen.push(observe(
        "repeated authorization",
        t,
        &send(&t.base, &repeated).await,
    ));
    let big = "a".repeat(70 * 1024);
    let oversized = form(&backend_form(&[
        ("grant_type", "client_credentials"),
        ("x", &big),
    ]));
    seen.push(observe(
        "oversized body",
        t,
        &send(&t.base, &oversized).await,
    ));
    let bad_client = form(&[
        ("grant_type".to_owned(), "client_credentials".to_owned()),
        ("client_id".to_owned(), BACKEND_CLIENT.to_owned()),
        ("client_secret".to_owned(), "wrong".to_owned()),
    ]);
    seen.push(observe(
        "invalid client",
        t,
        &send(&t.base, &bad_client).await,
    ));
    for (label, request) in [
        (FORM_NOT_UTF8, raw_form(b"x=\xff")),
        (FORM_PERCENT_NOT_UTF8, raw_form(b"x=%FF")),
        (FORM_BAD_PERCENT, raw_form(b"x=%zz")),
        (
            REPEATED_PARAMETER,
            raw_form(b"grant_type=client_credentials"),
        ),
        (WRONG_METHOD, Request::new("DELETE", "/token")),
        (
            QUERY_NOT_UTF8,
            Request::new(
                "GET",
                &format!(
                    "/authorize?response_type=code&client_id=%FF&redirect_uri={}",
                    percent_encode(REDIRECT_URI)
                ),
            ),
        ),
        (
            QUERY_TOO_LONG,
            Request::new(
                "GET",
                &format!(
                    "/authorize?client_id=nobody&redirect_uri={}&x={}",
                    percent_encode(REDIRECT_URI),
                    "a".repeat(33 * 1024)
                ),
            ),
        ),
    ] {
        seen.push(observe(label, t, &send(&t.base, &request).await));
    }
    let page = format!(
        "/authorize?response_type=code&client_id=nobody&redirect_uri={}&code_challenge={CHALLENGE}&code_challenge_method=S256",
        percent_encode(REDIRECT_URI)
    );
    seen.push(observe(
        "error page",
        t,
        &send(&t.base, &Request::new("GET", &page)).await,
    ));

    let tokens = send(
        &t.base,
        &form(&backend_form(&[
            ("grant_type", "client_credentials"),
            ("scope", DEFAULT_SCOPE),
        ])),
    )
    .await;
    seen.push(observe("client credentials", t, &tokens));
    let access = tokens.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let bearer = format!("Bearer {access}");
    // RFC 6454 section 4: scheme and host are case-insensitive.
    let capital_origin = ALLOWED_ORIGIN.to_ascii_uppercase();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = Request::new("GET", path);
        for (n, v) in headers {
            request = request.header(n, v);
        }
        request
    };
    for (label, request) in [
        ("rs no token", get(RESOURCE_PATH, &[])),
        (
            "rs bad token",
            get(RESOURCE_PATH, &[("Authorization", "Bearer nope")]),
        ),
        ("rs ok", get(RESOURCE_PATH, &[("Authorization", &bearer)])),
        ("rs step-up", get(ADMIN_PATH, &[("Authorization", &bearer)])),
        (
            "rs query token",
            get(&format!("{RESOURCE_PATH}?access_token={access}"), &[]),
        ),
        (
            "rs foreign origin",
            get(
                RESOURCE_PATH,
                &[
                    ("Authorization", &bearer),
                    ("Origin", "http://evil.example"),
                ],
            ),
        ),
        (
            "rs allowed origin",
            get(
                RESOURCE_PATH,
                &[("Authorization", &bearer), ("Origin", ALLOWED_ORIGIN)],
            ),
        ),
        (
            ORIGIN_IN_CAPITALS,
            get(
                RESOURCE_PATH,
                &[("Authorization", &bearer), ("Origin", &capital_origin)],
            ),
        ),
        (
            ORIGIN_MIXED_CASE,
            get(
                RESOURCE_PATH,
                &[
                    ("Authorization", &bearer),
                    ("Origin", "Http://LocalHost:6274"),
                ],
            ),
        ),
        (
            "rs origin with another port",
            get(
                RESOURCE_PATH,
                &[
                    ("Authorization", &bearer),
                    ("Origin", "http://LOCALHOST:6275"),
                ],
            ),
        ),
    ] {
        seen.push(observe(label, t, &send(&t.base, &request).await));
    }

    let mut key = DpopKey::new(21);
    let proof = key.proof("POST", &t.url("/token"), None);
    let dpop_tokens = send(
        &t.base,
        &form(&backend_form(&[("grant_type", "client_credentials")])).header("DPoP", &proof),
    )
    .await;
    seen.push(observe("dpop token", t, &dpop_tokens));
    let dpop_access = dpop_tokens.json()["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned();
    let scheme = format!("DPoP {dpop_access}");
    let proof = key.proof("GET", &t.url(RESOURCE_PATH), Some(&dpop_access));
    let dpop_ok = get(
        RESOURCE_PATH,
        &[("Authorization", &scheme), ("DPoP", &proof)],
    );
    seen.push(observe("rs dpop ok", t, &send(&t.base, &dpop_ok).await));
    seen.push(observe("rs dpop replay", t, &send(&t.base, &dpop_ok).await));
    // RFC 9449 section 9: the resource server's own nonce, issued on a
    // proof without one, then required.
    let proof = key.proof("GET", &t.url(NONCE_PATH), Some(&dpop_access));
    let no_nonce = get(NONCE_PATH, &[("Authorization", &scheme), ("DPoP", &proof)]);
    let refused = send(&t.base, &no_nonce).await;
    seen.push(observe(NONCE_MISSING, t, &refused));
    let nonce = refused.header("dpop-nonce").unwrap_or_default().to_owned();
    let proof = key.proof_with_nonce("GET", &t.url(NONCE_PATH), Some(&dpop_access), Some(&nonce));
    let with_nonce = get(NONCE_PATH, &[("Authorization", &scheme), ("DPoP", &proof)]);
    seen.push(observe(NONCE_GIVEN, t, &send(&t.base, &with_nonce).await));
    let proof = key.proof_with_nonce(
        "GET",
        &t.url(NONCE_PATH),
        Some(&dpop_access),
        Some("forged"),
    );
    let forged = get(NONCE_PATH, &[("Authorization", &scheme), ("DPoP", &proof)]);
    seen.push(observe(
        "rs dpop nonce forged",
        t,
        &send(&t.base, &forged).await,
    ));
    let as_bearer = get(
        RESOURCE_PATH,
        &[("Authorization", &format!("Bearer {dpop_access}"))],
    );
    seen.push(observe(
        "rs dpop as bearer",
        t,
        &send(&t.base, &as_bearer).await,
    ));

    let registered = register_public(t).await;
    let client_id = registered.json()["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();
    let code = authorize_code(t, &client_id).await;
    let redeem = Request::new("POST", "/token").form(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", &client_id),
        ("code_verifier", VERIFIER),
    ]);
    let tokens = send(&t.base, &redeem).await;
    seen.push(observe("code redeemed", t, &tokens));
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
    seen.push(observe("refreshed", t, &refreshed));
    let new_refresh = refreshed.json()["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let introspect = |token: &str| {
        Request::new("POST", "/introspect").form(&[
            ("token", token),
            ("client_id", BACKEND_CLIENT),
            ("client_secret", BACKEND_SECRET),
        ])
    };
    seen.push(observe(
        "introspect active",
        t,
        &send(&t.base, &introspect(&new_refresh)).await,
    ));
    let revoke = Request::new("POST", "/revoke").form(&[
        ("token", new_refresh.as_str()),
        ("client_id", client_id.as_str()),
    ]);
    seen.push(observe("revoke", t, &send(&t.base, &revoke).await));
    seen.push(observe(
        "introspect revoked",
        t,
        &send(&t.base, &introspect(&new_refresh)).await,
    ));
    seen.push(observe("code replay", t, &send(&t.base, &redeem).await));
    seen
}

/// What both adapters answered to the script, after checking they answered
/// alike.
async fn both() -> Vec<Observed> {
    let axum = axum_fixture::start().await;
    let actix = actix_fixture::start().await;
    let from_axum = run(&axum).await;
    let from_actix = run(&actix).await;
    assert_eq!(from_axum.len(), from_actix.len());
    let mut differences = Vec::new();
    for (a, b) in from_axum.iter().zip(&from_actix) {
        if a != b {
            differences.push(format!("axum:  {a:?}\nactix: {b:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    from_axum
}

fn seen<'a>(observed: &'a [Observed], label: &str) -> &'a Observed {
    observed
        .iter()
        .find(|o| o.label == label)
        .expect("the script sends it")
}

#[tokio::test]
async fn axum_and_actix_answer_identically() {
    both().await;
}

#[tokio::test]
async fn mcp_r15_rfc_6454_section_4_both_adapters_compare_origin_scheme_and_host_case_insensitively()
 {
    let observed = both().await;
    assert_eq!(seen(&observed, ORIGIN_IN_CAPITALS).status, 200);
    assert_eq!(seen(&observed, "rs origin with another port").status, 403);
}

#[tokio::test]
async fn rfc_9449_section_9_both_adapters_issue_and_require_resource_server_nonces() {
    let observed = both().await;
    let missing = seen(&observed, NONCE_MISSING);
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.headers.get("dpop-nonce").map(String::as_str),
        Some("<present>")
    );
    let dpop = missing
        .challenges
        .iter()
        .find(|(scheme, _)| scheme == "dpop")
        .expect("a dpop challenge");
    assert_eq!(
        dpop.1.get("error").map(String::as_str),
        Some("use_dpop_nonce")
    );
    assert_eq!(seen(&observed, NONCE_GIVEN).status, 200);
    assert_eq!(seen(&observed, "rs dpop nonce forged").status, 401);
}

#[tokio::test]
async fn oauth_2_1_section_3_2_both_adapters_refuse_undecodable_and_repeated_parameters() {
    let observed = both().await;
    for label in [
        FORM_NOT_UTF8,
        FORM_PERCENT_NOT_UTF8,
        FORM_BAD_PERCENT,
        REPEATED_PARAMETER,
    ] {
        let seen = seen(&observed, label);
        assert_eq!(seen.status, 400, "{label}");
        let error = seen.json.as_ref().map(|json| json["error"].clone());
        assert_eq!(error, Some(Value::from("invalid_request")), "{label}");
        assert_eq!(
            seen.headers.get("cache-control").map(String::as_str),
            Some("no-store"),
            "{label}"
        );
    }
}

#[tokio::test]
async fn oauth_2_1_section_4_1_2_1_both_adapters_show_the_same_error_page() {
    let observed = both().await;
    for (label, code) in [
        ("error page", "invalid_client"),
        (QUERY_NOT_UTF8, "invalid_request"),
        (QUERY_TOO_LONG, "invalid_request"),
    ] {
        let seen = seen(&observed, label);
        assert_eq!(seen.status, 400, "{label}");
        assert_eq!(seen.location, None, "{label}: never a redirect");
        assert_eq!(
            seen.headers.get("content-type").map(String::as_str),
            Some("text/html; charset=utf-8"),
            "{label}"
        );
        assert_eq!(
            seen.headers.get("x-frame-options").map(String::as_str),
            Some("deny"),
            "{label}"
        );
        assert!(
            seen.raw
                .as_deref()
                .is_some_and(|page| page.contains(&format!("<code>{code}</code>"))),
            "{label}: {:?}",
            seen.raw
        );
    }
}

#[tokio::test]
async fn rfc_9110_section_15_5_6_both_adapters_answer_405_with_allow() {
    let observed = both().await;
    let wrong = seen(&observed, WRONG_METHOD);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.headers.get("allow").map(String::as_str), Some("post"));
}

#[tokio::test]
async fn mcp_r15_both_adapters_allow_an_origin_in_mixed_case() {
    let observed = both().await;
    assert_eq!(seen(&observed, ORIGIN_MIXED_CASE).status, 200);
}
