//! Token introspection in the guard (RFC 7662 section 2.2: what an answer
//! must say before a token is admitted; fail closed; the cache bounds) and
//! the cache of validated JWTs (a repeated token skips the signature check,
//! never the DPoP proof).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use latchkey_http::{
    AccessToken, HttpError, Introspection, IntrospectionMode, RequestHead, ResourceServer,
};
use latchkey_http_tests::dpop::DpopKey;
use latchkey_jose::{Algorithm, SigningKey};
use latchkey_remote_keys::{Introspect, IntrospectionFuture, KeysError};
use latchkey_token::{AccessTokenClaims, AccessTokenValidator, Audience, KeySet, TokenError};
use latchkey_types::{ClientId, Scope, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rand_core::SeedableRng;
use serde_json::{Value, json};

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const OPAQUE: &str = "opaque-token-value_1";

fn now() -> UnixTime {
    latchkey_http_tests::now()
}

fn resource() -> ResourceUri {
    ResourceUri::parse(RESOURCE).expect("resource")
}

fn keys() -> KeySet {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k1".to_owned(),
        &mut rng,
    ))
    .expect("keys")
}

fn validator(keys: &KeySet) -> AccessTokenValidator {
    AccessTokenValidator::new(
        keys.jwks(),
        ISSUER.to_owned(),
        resource(),
        AudienceMatch::Exact,
    )
}

fn jwt(keys: &KeySet, bound: Option<&DpopKey>) -> String {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
    let mut claims = AccessTokenClaims::new(
        ISSUER.to_owned(),
        Subject::parse("alice").expect("subject"),
        ClientId::parse("client-1").expect("client id"),
        Audience::new(resource()),
        now(),
        &mut rng,
    )
    .with_scope(Scope::parse("mcp:read").expect("scope"));
    if let Some(key) = bound {
        claims = claims.with_cnf_jkt(key.public_jwk().thumbprint());
    }
    keys.issue(&claims)
}

/// An active answer for [`RESOURCE`] from [`ISSUER`], expiring in 5 minutes.
fn active() -> Value {
    json!({
        "active": true,
        "iss": ISSUER,
        "aud": RESOURCE,
        "client_id": "client-1",
        "scope": "mcp:read other",
        "exp": now().as_secs() + 300,
        "iat": now().as_secs(),
    })
}

/// Answers every request with the same body (or error) and counts them.
struct Scripted {
    answer: Mutex<Result<Vec<u8>, KeysError>>,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(answer: Result<Value, KeysError>) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(answer.map(|value| value.to_string().into_bytes())),
            calls: AtomicUsize::new(0),
        })
    }

    fn raw(body: &[u8]) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(Ok(body.to_vec())),
            calls: AtomicUsize::new(0),
        })
    }

    fn set(&self, answer: Value) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) =
            Ok(answer.to_string().into_bytes());
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Introspect for Scripted {
    fn introspect<'a>(&'a self, _token: &'a str) -> IntrospectionFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        Box::pin(std::future::ready(answer))
    }
}

fn server(source: &Arc<Scripted>, mode: IntrospectionMode) -> ResourceServer {
    let introspection = Introspection::new(
        Arc::clone(source) as Arc<dyn Introspect>,
        ISSUER.to_owned(),
        mode,
    );
    ResourceServer::new(resource(), validator(&keys())).with_introspection(introspection)
}

async fn guard_at(
    server: &ResourceServer,
    authorization: &str,
    dpop: Option<&str>,
    at: UnixTime,
) -> Result<AccessToken, Response<Bytes>> {
    let mut request = Request::get("/mcp").header("authorization", authorization);
    if let Some(proof) = dpop {
        request = request.header("dpop", proof);
    }
    let (parts, ()) = request.body(()).expect("request").into_parts();
    server
        .guard(
            RequestHead::from(&parts),
            &Scope::parse("mcp:read").expect("scope"),
            at,
        )
        .await
}

async fn status_of(server: &ResourceServer, token: &str, at: UnixTime) -> (u16, String) {
    match guard_at(server, &format!("Bearer {token}"), None, at).await {
        Ok(_) => (200, String::new()),
        Err(response) => {
            let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
            (
                response.status().as_u16(),
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    }
}

#[tokio::test]
async fn rfc_7662_section_2_2_an_active_answer_for_this_resource_admits_the_token() {
    let source = Scripted::new(Ok(active()));
    let server = server(&source, IntrospectionMode::Only);
    let token = guard_at(&server, &format!("Bearer {OPAQUE}"), None, now())
        .await
        .expect("admitted");
    let claims = token.claims();
    assert_eq!(claims.client_id.as_str(), "client-1");
    // No `sub`: the client's own token (client credentials).
    assert_eq!(claims.sub.as_str(), "client-1");
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.exp.as_secs(), now().as_secs() + 300);
    assert!(
        claims
            .scope
            .is_subset(&Scope::parse("mcp:read other").unwrap())
    );
    assert_eq!(source.calls(), 1);
}

#[tokio::test]
async fn rfc_7662_section_2_2_answers_that_do_not_fit_this_resource_are_invalid_token() {
    let exp_past = now().as_secs() - 61;
    let nbf_future = now().as_secs() + 61;
    let cases: Vec<(&str, Value)> = vec![
        ("inactive", json!({"active": false})),
        ("other issuer", json!({"iss": "https://other.example.com"})),
        (
            "other audience",
            json!({"aud": "https://other.example.com/mcp"}),
        ),
        ("audience not a uri", json!({"aud": ["api", 3]})),
        ("expired beyond leeway", json!({"exp": exp_past})),
        ("not yet valid", json!({"nbf": nbf_future})),
        ("no exp", json!({"exp": null})),
        ("no client_id", json!({"client_id": null})),
        ("scope not a string", json!({"scope": ["mcp:read"]})),
        ("mtls binding", json!({"cnf": {"x5t#S256": "abc"}})),
    ];
    for (case, change) in cases {
        let mut answer = active();
        for (name, value) in change.as_object().unwrap() {
            if value.is_null() {
                answer.as_object_mut().unwrap().remove(name);
            } else {
                answer[name] = value.clone();
            }
        }
        let server = server(&Scripted::new(Ok(answer)), IntrospectionMode::Only);
        assert_eq!(
            status_of(&server, OPAQUE, now()).await,
            (401, "invalid_token".to_owned()),
            "{case}"
        );
    }
}

#[tokio::test]
async fn rfc_8707_a_missing_audience_is_refused_unless_explicitly_accepted() {
    let mut answer = active();
    answer.as_object_mut().unwrap().remove("aud");
    let source = Scripted::new(Ok(answer));
    let strict = server(&source, IntrospectionMode::Only);
    assert_eq!(
        strict.check(
            RequestHead::from(
                &Request::get("/mcp")
                    .header("authorization", format!("Bearer {OPAQUE}"))
                    .body(())
                    .unwrap()
                    .into_parts()
                    .0
            ),
            &Scope::empty(),
            now()
        ),
        Err(HttpError::IntrospectionUnavailable),
        "the synchronous check never introspects"
    );
    assert_eq!(
        status_of(&strict, OPAQUE, now()).await,
        (401, "invalid_token".to_owned())
    );
    let lenient = ResourceServer::new(resource(), validator(&keys())).with_introspection(
        Introspection::new(
            Arc::clone(&source) as Arc<dyn Introspect>,
            ISSUER.to_owned(),
            IntrospectionMode::Only,
        )
        .danger_accept_missing_audience(),
    );
    assert_eq!(status_of(&lenient, OPAQUE, now()).await.0, 200);
}

#[tokio::test]
async fn security_a_failed_introspection_fails_closed_with_503() {
    let failures = [
        Scripted::new(Err(KeysError::Connection)),
        Scripted::new(Err(KeysError::Timeout)),
        Scripted::new(Err(KeysError::Status(500))),
        Scripted::new(Err(KeysError::Status(401))),
        Scripted::raw(b"not json"),
        Scripted::raw(b"[true]"),
        Scripted::raw(br#"{"active":"true"}"#),
        Scripted::raw(br#"{"scope":"mcp:read"}"#),
    ];
    for (index, source) in failures.iter().enumerate() {
        let server = server(source, IntrospectionMode::Only);
        assert_eq!(
            status_of(&server, OPAQUE, now()).await,
            (503, "temporarily_unavailable".to_owned()),
            "failure {index}"
        );
    }
}

#[tokio::test]
async fn the_cache_keeps_an_active_answer_for_its_ttl_and_never_past_exp() {
    let source = Scripted::new(Ok(active()));
    let server = ResourceServer::new(resource(), validator(&keys())).with_introspection(
        Introspection::new(
            Arc::clone(&source) as Arc<dyn Introspect>,
            ISSUER.to_owned(),
            IntrospectionMode::Only,
        )
        .with_cache(Duration::from_secs(30), 100),
    );
    assert_eq!(status_of(&server, OPAQUE, now()).await.0, 200);
    assert_eq!(
        status_of(
            &server,
            OPAQUE,
            now().saturating_add(Duration::from_secs(29))
        )
        .await
        .0,
        200
    );
    assert_eq!(source.calls(), 1, "answered from the cache");
    // The issuer revokes the token: past the TTL the refusal shows.
    source.set(json!({"active": false}));
    let later = now().saturating_add(Duration::from_secs(30));
    assert_eq!(
        status_of(&server, OPAQUE, later).await,
        (401, "invalid_token".to_owned())
    );
    assert_eq!(source.calls(), 2);
    // An inactive answer is not cached.
    assert_eq!(status_of(&server, OPAQUE, later).await.0, 401);
    assert_eq!(source.calls(), 3);

    // A token expiring in 10 s is kept 10 s, not 30.
    let mut short = active();
    short["exp"] = json!(now().as_secs() + 10);
    let source = Scripted::new(Ok(short));
    let server = ResourceServer::new(resource(), validator(&keys())).with_introspection(
        Introspection::new(
            Arc::clone(&source) as Arc<dyn Introspect>,
            ISSUER.to_owned(),
            IntrospectionMode::Only,
        )
        .with_cache(Duration::from_secs(30), 100)
        .with_leeway(Duration::ZERO),
    );
    assert_eq!(status_of(&server, OPAQUE, now()).await.0, 200);
    let after_exp = now().saturating_add(Duration::from_secs(10));
    assert_eq!(
        status_of(&server, OPAQUE, after_exp).await,
        (401, "invalid_token".to_owned())
    );
    assert_eq!(source.calls(), 2);
}

#[tokio::test]
async fn a_zero_ttl_introspects_every_request() {
    let source = Scripted::new(Ok(active()));
    let server = ResourceServer::new(resource(), validator(&keys())).with_introspection(
        Introspection::new(
            Arc::clone(&source) as Arc<dyn Introspect>,
            ISSUER.to_owned(),
            IntrospectionMode::Only,
        )
        .with_cache(Duration::ZERO, 100),
    );
    for _ in 0..3 {
        assert_eq!(status_of(&server, OPAQUE, now()).await.0, 200);
    }
    assert_eq!(source.calls(), 3);
}

#[tokio::test]
async fn opaque_tokens_are_introspected_and_jwts_validated_locally() {
    let source = Scripted::new(Ok(active()));
    let server = server(&source, IntrospectionMode::ForOpaqueTokens);
    let keys = keys();
    let good = jwt(&keys, None);
    assert_eq!(status_of(&server, &good, now()).await.0, 200);
    assert_eq!(source.calls(), 0, "a JWT is not introspected");
    // A tampered JWT is refused, never handed to the issuer.
    let mut tampered = good.clone();
    tampered.pop();
    tampered.push(if good.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        status_of(&server, &tampered, now()).await,
        (401, "invalid_token".to_owned())
    );
    assert_eq!(source.calls(), 0);
    assert_eq!(status_of(&server, OPAQUE, now()).await.0, 200);
    assert_eq!(source.calls(), 1);
    // In `Only` mode a JWT is introspected too.
    let only = server_only(&source);
    assert_eq!(status_of(&only, &good, now()).await.0, 200);
    assert_eq!(source.calls(), 2);
}

fn server_only(source: &Arc<Scripted>) -> ResourceServer {
    server(source, IntrospectionMode::Only)
}

#[tokio::test]
async fn rfc_9449_section_6_1_an_introspected_cnf_jkt_binds_the_token() {
    let mut key = DpopKey::new(4);
    let mut answer = active();
    answer["cnf"] = json!({"jkt": key.public_jwk().thumbprint().to_encoded()});
    let source = Scripted::new(Ok(answer));
    let server = server(&source, IntrospectionMode::Only);
    assert_eq!(
        status_of(&server, OPAQUE, now()).await,
        (401, "invalid_token".to_owned())
    );
    let proof = key.proof("GET", RESOURCE, Some(OPAQUE));
    let admitted = guard_at(&server, &format!("DPoP {OPAQUE}"), Some(&proof), now()).await;
    assert!(admitted.is_ok());
}

#[tokio::test]
async fn security_a_cached_jwt_still_needs_a_fresh_dpop_proof() {
    let keys = keys();
    let mut key = DpopKey::new(4);
    let token = jwt(&keys, Some(&key));
    let server = ResourceServer::new(resource(), validator(&keys));
    let authorization = format!("DPoP {token}");
    let proof = key.proof("GET", RESOURCE, Some(&token));
    assert!(
        guard_at(&server, &authorization, Some(&proof), now())
            .await
            .is_ok()
    );
    // Same token (cached now), same proof: the replay is caught.
    let replay = guard_at(&server, &authorization, Some(&proof), now()).await;
    assert_eq!(replay.map(|_| ()).unwrap_err().status(), 401);
    // Same token as a bearer token: still refused.
    assert_eq!(
        status_of(&server, &token, now()).await,
        (401, "invalid_token".to_owned())
    );
    let fresh = key.proof("GET", RESOURCE, Some(&token));
    assert!(
        guard_at(&server, &authorization, Some(&fresh), now())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn new_keys_empty_the_cache_of_validated_jwts() {
    let keys = keys();
    let token = jwt(&keys, None);
    let server = ResourceServer::new(resource(), validator(&keys));
    assert_eq!(status_of(&server, &token, now()).await.0, 200);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let other = KeySet::new(SigningKey::generate(
        Algorithm::Es256,
        "k2".to_owned(),
        &mut rng,
    ))
    .expect("keys");
    server.replace_keys(other.jwks());
    let head = Request::get("/mcp")
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts()
        .0;
    assert_eq!(
        server.check(RequestHead::from(&head), &Scope::empty(), now()),
        Err(HttpError::InvalidToken(TokenError::UnknownKey)),
        "a token cached under the old keys is validated again"
    );
}
