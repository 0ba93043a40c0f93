//! Resource-server protection through actix-web's service stack, with tokens
//! and DPoP proofs minted here so each refusal can be pinned exactly (MCP
//! R3-R15, RFC 6750 section 3, RFC 9449 section 7).

#![expect(
    clippy::unwrap_used,
    reason = "test fixtures: a failed unwrap is a failed test"
)]

use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, test, web};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_actix::{AccessToken, RequireAccessToken, ResourceServer, SensitiveHeaders};
use latchkey_jose::{Algorithm, JoseHeader, SigningKey};
use latchkey_metadata::{AuthScheme, Challenge, ProtectedResourceMetadata, parse_www_authenticate};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet};
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use sha2::Digest;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const ORIGIN: &str = "https://app.example.com";

struct Fixture {
    keys: KeySet,
    rs: Arc<ResourceServer>,
    rng: rand_chacha::ChaCha20Rng,
    calls: Rc<AtomicUsize>,
}

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).unwrap()
}

fn fixture() -> Fixture {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(99);
    let keys = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .unwrap();
    let validator = AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    );
    let mut metadata = ProtectedResourceMetadata::new(RESOURCE);
    metadata.authorization_servers = Some(vec![ISSUER.to_owned()]);
    let rs = ResourceServer::new(resource(), validator)
        .with_default_scopes(Scope::parse("mcp:read").unwrap())
        .with_allowed_origins([ORIGIN.to_owned()]);
    Fixture {
        keys,
        rs: Arc::new(rs),
        rng,
        calls: Rc::new(AtomicUsize::new(0)),
    }
}

impl Fixture {
    fn token(
        &mut self,
        scope: &str,
        now: UnixTime,
        jkt: Option<latchkey_jose::JwkThumbprint>,
    ) -> String {
        self.token_for(resource(), scope, now, jkt)
    }

    fn token_for(
        &mut self,
        audience: ResourceUri,
        scope: &str,
        now: UnixTime,
        jkt: Option<latchkey_jose::JwkThumbprint>,
    ) -> String {
        let mut claims = AccessTokenClaims::new(
            ISSUER.to_owned(),
            Subject::parse("alice").unwrap(),
            ClientId::parse("client-1").unwrap(),
            Audience::new(audience),
            now,
            &mut self.rng,
        )
        .with_scope(Scope::parse(scope).unwrap());
        if let Some(jkt) = jkt {
            claims = claims.with_cnf_jkt(jkt);
        }
        self.keys.issue(&claims)
    }
}

/// Builds and starts the test app for fixture `$f`: `/mcp` (default scope),
/// `/mcp/admin` (`mcp:read mcp:write`), `/unprotected` (no middleware).
macro_rules! app {
    ($f:expr) => {{
        let admin = Scope::parse("mcp:read mcp:write").unwrap();
        let calls = Rc::clone(&$f.calls);
        let handler = move |token: AccessToken, request: HttpRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            let sensitive = request
                .headers()
                .get(header::AUTHORIZATION)
                .is_some_and(|v| v.is_sensitive());
            async move {
                HttpResponse::Ok().json(serde_json::json!({
                    "sub": token.claims().sub.as_str(),
                    "authorization_sensitive": sensitive,
                }))
            }
        };
        test::init_service(
            App::new()
                .wrap(SensitiveHeaders)
                .service(
                    web::resource("/mcp/admin")
                        .wrap(RequireAccessToken::new(Arc::clone(&$f.rs)).require_scopes(admin))
                        .route(web::get().to(handler.clone())),
                )
                .service(
                    web::resource("/mcp")
                        .wrap(RequireAccessToken::new(Arc::clone(&$f.rs)))
                        .route(web::get().to(handler.clone()))
                        .route(web::post().to(handler)),
                )
                .route(
                    "/unprotected",
                    web::get().to(|_token: AccessToken| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await
    }};
}

fn now() -> UnixTime {
    latchkey_actix::now()
}

fn challenges(response: &ServiceResponse) -> Vec<Challenge> {
    response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .flat_map(|v| parse_www_authenticate(v.to_str().unwrap()).unwrap())
        .collect()
}

fn challenge(response: &ServiceResponse, scheme: AuthScheme) -> Challenge {
    challenges(response)
        .into_iter()
        .find(|c| *c.scheme() == scheme)
        .unwrap_or_else(|| panic!("no {scheme} challenge"))
}

struct DpopClient {
    key: SigningKey,
    counter: u32,
}

impl DpopClient {
    fn new(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        Self {
            key: SigningKey::generate(Algorithm::Es256, String::new(), &mut rng),
            counter: 0,
        }
    }

    fn jkt(&self) -> latchkey_jose::JwkThumbprint {
        self.key.public_jwk().thumbprint()
    }

    fn proof(&mut self, method: &str, htu: &str, token: Option<&str>) -> String {
        self.counter += 1;
        let mut claims = serde_json::json!({
            "jti": format!("proof-{}", self.counter),
            "htm": method,
            "htu": htu,
            "iat": now().as_secs(),
        });
        if let Some(token) = token {
            let hash = sha2::Sha256::digest(token.as_bytes());
            claims["ath"] = Base64UrlUnpadded::encode_string(&hash).into();
        }
        let header = JoseHeader::new(Algorithm::Es256)
            .with_typ("dpop+jwt")
            .with_jwk(self.key.public_jwk());
        self.key
            .sign_compact(&header, claims.to_string().as_bytes())
    }
}

#[actix_web::test]
async fn r3_r4_missing_token_challenges_without_error_code() {
    let f = fixture();
    let app = app!(f);
    let response =
        test::call_service(&app, test::TestRequest::get().uri("/mcp").to_request()).await;
    assert_eq!(response.status(), 401);
    let bearer = challenge(&response, AuthScheme::Bearer);
    assert_eq!(bearer.error(), None);
    assert_eq!(
        bearer.resource_metadata(),
        Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
    );
    assert_eq!(bearer.param("scope"), Some("mcp:read"));
    let dpop = challenge(&response, AuthScheme::Dpop);
    assert_eq!(dpop.algs(), Some(vec!["ES256", "EdDSA"]));
    assert_eq!(
        response.headers().get(header::CACHE_CONTROL).unwrap(),
        "no-store"
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn r5_r7_expired_token_is_401_invalid_token() {
    let mut f = fixture();
    let token = f.token(
        "mcp:read",
        UnixTime::from_secs(now().as_secs() - 1_000),
        None,
    );
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 401);
    let bearer = challenge(&response, AuthScheme::Bearer);
    assert_eq!(bearer.error_code(), Some(ErrorCode::InvalidToken));
    assert!(bearer.resource_metadata().is_some());
    assert_eq!(
        f.calls.load(Ordering::SeqCst),
        0,
        "R9: no data before validation"
    );
}

#[actix_web::test]
async fn r6_r8_r13_token_for_another_resource_is_401_invalid_token() {
    let mut f = fixture();
    let other = ResourceUri::parse("https://other.example.com/mcp").unwrap();
    let token = f.token_for(other, "mcp:read", now(), None);
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response, AuthScheme::Bearer).error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

#[actix_web::test]
async fn r5_valid_token_reaches_the_handler_with_its_claims_and_sensitive_headers() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["authorization_sensitive"], true);
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

#[actix_web::test]
async fn r11_r16_step_up_names_every_scope_the_route_needs() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp/admin")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 403);
    let bearer = challenge(&response, AuthScheme::Bearer);
    assert_eq!(bearer.error_code(), Some(ErrorCode::InsufficientScope));
    assert_eq!(bearer.param("scope"), Some("mcp:read mcp:write"));
    assert!(bearer.resource_metadata().is_some());
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"], "insufficient_scope");
}

#[actix_web::test]
async fn r12_rfc_6750_section_3_1_repeated_authorization_is_400_invalid_request() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .append_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .append_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        challenge(&response, AuthScheme::Bearer).error_code(),
        Some(ErrorCode::InvalidRequest)
    );
}

#[actix_web::test]
async fn rfc_6750_section_2_query_and_form_body_tokens_are_never_accepted() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let query = test::TestRequest::get()
        .uri(&format!("/mcp?access_token={token}"))
        .to_request();
    let response = test::call_service(&app, query).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        challenge(&response, AuthScheme::Bearer).error_code(),
        Some(ErrorCode::InvalidRequest)
    );
    let form = test::TestRequest::post()
        .uri("/mcp")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(format!("access_token={token}"))
        .to_request();
    let response = test::call_service(&app, form).await;
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response, AuthScheme::Bearer).error(), None);
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);
}

#[actix_web::test]
async fn rfc_6750_section_3_1_other_schemes_count_as_no_credentials() {
    let f = fixture();
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, "Basic YWxpY2U6c2VjcmV0"))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 401);
    assert_eq!(challenge(&response, AuthScheme::Bearer).error(), None);
    let empty = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, "Bearer "))
        .to_request();
    let response = test::call_service(&app, empty).await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        challenge(&response, AuthScheme::Bearer).error_code(),
        Some(ErrorCode::InvalidRequest)
    );
}

#[actix_web::test]
async fn r15_origin_is_checked_first_and_exactly() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    for (origins, status) in [
        (vec!["https://evil.example"], 403),
        (vec!["null"], 403),
        (vec![ORIGIN, "https://evil.example"], 403),
        (vec!["HTTPS://APP.EXAMPLE.COM"], 200),
        (vec![ORIGIN], 200),
    ] {
        let mut request = test::TestRequest::get()
            .uri("/mcp")
            .insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
        for origin in &origins {
            request = request.append_header((header::ORIGIN, *origin));
        }
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), status, "{origins:?}");
    }
    let no_token = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::ORIGIN, "https://evil.example"))
        .to_request();
    assert_eq!(test::call_service(&app, no_token).await.status(), 403);
}

#[actix_web::test]
async fn rfc_9449_section_7_1_dpop_bound_token_needs_a_proof_from_its_key() {
    let mut f = fixture();
    let mut client = DpopClient::new(1);
    let token = f.token("mcp:read", now(), Some(client.jkt()));
    let app = app!(f);
    let htu = "https://mcp.example.com/mcp";
    let dpop_get = |proof: Option<String>| {
        let mut request = test::TestRequest::get()
            .uri("/mcp")
            .insert_header((header::AUTHORIZATION, format!("DPoP {token}")));
        if let Some(proof) = proof {
            request = request.insert_header(("DPoP", proof));
        }
        request.to_request()
    };

    let missing = test::call_service(&app, dpop_get(None)).await;
    assert_eq!(missing.status(), 401);
    assert_eq!(
        challenge(&missing, AuthScheme::Dpop).error_code(),
        Some(ErrorCode::InvalidDpopProof)
    );

    let without_ath =
        test::call_service(&app, dpop_get(Some(client.proof("GET", htu, None)))).await;
    assert_eq!(without_ath.status(), 401);
    assert_eq!(
        challenge(&without_ath, AuthScheme::Dpop).error_code(),
        Some(ErrorCode::InvalidDpopProof)
    );

    let wrong_method = test::call_service(
        &app,
        dpop_get(Some(client.proof("POST", htu, Some(&token)))),
    )
    .await;
    assert_eq!(wrong_method.status(), 401);

    let other_key = DpopClient::new(2).proof("GET", htu, Some(&token));
    let response = test::call_service(&app, dpop_get(Some(other_key))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response, AuthScheme::Dpop).error_code(),
        Some(ErrorCode::InvalidToken)
    );
    assert_eq!(f.calls.load(Ordering::SeqCst), 0);

    let good =
        test::call_service(&app, dpop_get(Some(client.proof("GET", htu, Some(&token))))).await;
    assert_eq!(good.status(), 200);

    let bearer = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .to_request();
    let response = test::call_service(&app, bearer).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response, AuthScheme::Bearer).error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

#[actix_web::test]
async fn rfc_9449_section_7_1_unbound_token_under_dpop_scheme_is_invalid_token() {
    let mut f = fixture();
    let mut client = DpopClient::new(3);
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let request = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("DPoP {token}")))
        .insert_header(("DPoP", client.proof("GET", RESOURCE, Some(&token))))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response, AuthScheme::Dpop).error_code(),
        Some(ErrorCode::InvalidToken)
    );
}

#[actix_web::test]
async fn access_token_extractor_on_an_unprotected_route_is_a_server_error() {
    let f = fixture();
    let app = app!(f);
    let response = test::call_service(
        &app,
        test::TestRequest::get().uri("/unprotected").to_request(),
    )
    .await;
    assert_eq!(response.status(), 500);
    let body: serde_json::Value = test::read_body_json(response).await;
    assert_eq!(body["error"], "server_error");
    assert_eq!(body["error_description"], "internal server error");
}

#[actix_web::test]
async fn r14_every_request_is_verified_on_its_own() {
    let mut f = fixture();
    let token = f.token("mcp:read", now(), None);
    let app = app!(f);
    let with_token = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
        .insert_header((header::COOKIE, "session=abc"))
        .to_request();
    assert_eq!(test::call_service(&app, with_token).await.status(), 200);
    let cookie_only = test::TestRequest::get()
        .uri("/mcp")
        .insert_header((header::COOKIE, "session=abc"))
        .to_request();
    assert_eq!(test::call_service(&app, cookie_only).await.status(), 401);
    assert_eq!(f.calls.load(Ordering::SeqCst), 1);
}

/// A log sink for [`sensitive_values_never_reach_the_log`].
#[derive(Clone, Default)]
struct LogSink(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn sensitive_values_never_reach_the_log() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // A global subscriber, not a thread-scoped one: other tests of this binary
    // run in parallel without one, and tracing caches each call site's interest
    // globally, so a scoped subscriber can miss the events it is here to catch.
    // No other test in this binary installs a subscriber.
    tracing::subscriber::set_global_default(subscriber).expect("only this test sets a subscriber");

    let mut f = fixture();
    let mut client = DpopClient::new(4);
    let bound = f.token("mcp:read", now(), Some(client.jkt()));
    let narrow = f.token("mcp:read", now(), None);
    let proof = client.proof("POST", RESOURCE, Some(&bound));
    let app = app!(f);
    let requests = [
        test::TestRequest::get()
            .uri(&format!("/mcp?access_token={narrow}"))
            .to_request(),
        test::TestRequest::get()
            .uri("/mcp/admin")
            .insert_header((header::AUTHORIZATION, format!("Bearer {narrow}")))
            .to_request(),
        test::TestRequest::get()
            .uri("/mcp")
            .insert_header((header::AUTHORIZATION, format!("DPoP {bound}")))
            .insert_header(("DPoP", proof.clone()))
            .to_request(),
    ];
    for request in requests {
        let status = test::call_service(&app, request).await.status();
        assert!(status.is_client_error(), "{status}");
    }
    let log = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("access refused"),
        "the refusals are logged: {log}"
    );
    for secret in [&narrow, &bound, &proof] {
        let signature = secret.rsplit('.').next().unwrap();
        assert!(!log.contains(signature), "a credential reached the log");
    }
}
