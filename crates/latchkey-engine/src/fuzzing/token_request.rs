//! `engine_token_request`: the token endpoint past parameter parsing, with
//! structure-aware input (`arbitrary`). Raw bytes rarely name a registered
//! client, a live code and its verifier at once; here the input chooses among
//! the real values (and free strings), so every grant reaches the store.
//!
//! Each run starts from the same state: a fresh [`MemoryStore`] with three
//! clients (public, `client_secret_basic`, `client_secret_post`), a code
//! issued to the public client and one to the basic client, and a third code
//! already redeemed by the public client (its refresh token is known). The
//! clock is fixed and the RNG seeded, so a failing input replays exactly.

use std::collections::HashSet;
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use base64ct::{Base64, Encoding};
use latchkey_pkce::CodeChallenge;
use latchkey_store::{ClientRecord, ClientStore, GrantStore, MemoryStore};
use latchkey_token::code::{CodeParams, CodeRecord, RedirectUriSource};
use latchkey_token::refresh::RotationKey;
use latchkey_types::{ClientId, ErrorCode, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{RedirectUri, ResourceUri};
use serde_json::Value;

use crate::authorize::fuzzing::{FuzzRng, block_on};
use crate::clients::NoMetadataFetcher;
use crate::config::EngineConfig;
use crate::engine::{Engine, EngineSecrets};
use crate::request::{HttpContext, Params};
use crate::response::EndpointResponse;

const ISSUER: &str = "https://as.example.com";
const RESOURCE: &str = "https://mcp.example.com/mcp";
const REDIRECT: &str = "http://127.0.0.1:8080/cb";
const PUBLIC: &str = "fuzz-public";
const BASIC: &str = "fuzz-basic";
const POST: &str = "fuzz-post";
const SECRET: &str = "correct horse battery staple";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const NOW: u64 = 1_800_000_000;
/// The most requests one input makes.
const MAX_CALLS: usize = 6;

/// One token request, as choices among the values the fixture holds.
#[derive(Arbitrary, Debug)]
pub struct TokenCall {
    grant_type: Option<GrantType>,
    client: ClientAuth,
    code: Option<CodeRef>,
    code_verifier: Option<Text<VerifierRef>>,
    redirect_uri: Option<Text<RedirectRef>>,
    refresh_token: Option<RefreshRef>,
    scope: Option<Text<ScopeRef>>,
    resources: Vec<Text<ResourceRef>>,
    extra: Option<(String, String)>,
    seconds_later: u16,
}

/// A known value, or any string.
#[derive(Arbitrary, Debug)]
enum Text<T> {
    Known(T),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Other(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Client {
    Public,
    Basic,
    Post,
}

#[derive(Arbitrary, Debug)]
enum ClientAuth {
    /// `client_id` only (a public client's way).
    Id(Client),
    /// HTTP Basic with the right or a wrong secret.
    Basic { client: Client, right: bool },
    /// `client_secret` in the body with the right or a wrong secret.
    Post { client: Client, right: bool },
    /// Basic and `client_secret` at once (refused: one method per request).
    BasicAndPost,
    /// Nothing at all.
    Nothing,
    /// A `client_id` of any text.
    OtherId(String),
    /// An `Authorization` header of any text.
    OtherHeader(String),
}

#[derive(Arbitrary, Debug)]
enum CodeRef {
    /// The public client's unredeemed code.
    FreshPublic,
    /// The basic client's unredeemed code.
    FreshBasic,
    /// The code redeemed while setting up.
    Spent,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum VerifierRef {
    Right,
    /// A well-formed verifier of another challenge.
    Wrong,
}

#[derive(Arbitrary, Debug)]
enum RedirectRef {
    Registered,
    Other,
}

#[derive(Arbitrary, Debug)]
enum RefreshRef {
    /// The refresh token of the code redeemed while setting up.
    Original,
    /// The refresh token of the n-th successful response so far (modulo).
    Issued(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum ScopeRef {
    Read,
    Write,
    ReadWrite,
    Unknown,
}

#[derive(Arbitrary, Debug)]
enum ResourceRef {
    Registered,
    Unregistered,
}

/// The state a run starts from.
struct Fixture {
    engine: Engine<MemoryStore>,
    rng: FuzzRng,
    fresh_public: String,
    fresh_basic: String,
    spent: String,
    original_refresh: String,
}

/// `engine_token_request`: up to [`MAX_CALLS`] token requests built from the
/// input against the fixture. Never a panic; every answer carries
/// `Cache-Control: no-store`; a success is a Bearer token response; every
/// refusal is a registered OAuth error code (never `server_error` over the
/// memory store) with that code's HTTP status; a code issues tokens at most
/// once, and the code redeemed while setting up never does.
pub fn engine_token_request(data: &[u8]) {
    let mut input = Unstructured::new(data);
    let Ok(calls) = input.arbitrary_iter::<TokenCall>() else {
        return;
    };
    let calls: Vec<TokenCall> = calls.take(MAX_CALLS).map_while(Result::ok).collect();
    if calls.is_empty() {
        return;
    }
    let mut fixture = fixture();
    let mut redeemed: HashSet<String> = HashSet::from([fixture.spent.clone()]);
    let mut refresh_tokens = vec![fixture.original_refresh.clone()];
    for call in &calls {
        let (pairs, authorization) = request(call, &fixture, &refresh_tokens);
        let params = match Params::from_pairs(pairs) {
            Ok(params) => params,
            Err(error) => {
                // The adapter answers these itself, as `invalid_request`.
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
                continue;
            }
        };
        let mut http = HttpContext::new("POST", &fixture.engine.config().token_endpoint);
        if let Some(value) = authorization {
            http = http.with_authorization(value);
        }
        let now = UnixTime::from_secs(NOW + u64::from(call.seconds_later));
        let response = block_on(fixture.engine.token(&params, &http, now, &mut fixture.rng));
        assert_eq!(response.header("cache-control"), Some("no-store"));
        let body: Value = serde_json::from_str(response.json_body().expect("a JSON body"))
            .expect("the endpoint writes JSON");
        if response.status.as_u16() == 200 {
            check_tokens(&body);
            if params.get("grant_type") == Some("authorization_code") {
                let code = params.get("code").expect("a redeemed code was sent");
                assert!(
                    redeemed.insert(code.to_owned()),
                    "a code issued tokens twice"
                );
            }
            if let Some(token) = body.get("refresh_token").and_then(Value::as_str) {
                refresh_tokens.push(token.to_owned());
            }
        } else {
            check_refusal(&response, &body);
        }
    }
}

/// The form pairs and `Authorization` header of `call`.
fn request(
    call: &TokenCall,
    fixture: &Fixture,
    refresh_tokens: &[String],
) -> (Vec<(String, String)>, Option<String>) {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut push = |name: &str, value: &str| pairs.push((name.to_owned(), value.to_owned()));
    match &call.grant_type {
        Some(GrantType::AuthorizationCode) => push("grant_type", "authorization_code"),
        Some(GrantType::RefreshToken) => push("grant_type", "refresh_token"),
        Some(GrantType::ClientCredentials) => push("grant_type", "client_credentials"),
        Some(GrantType::Other(other)) => push("grant_type", other),
        None => {}
    }
    let id = |client: Client| match client {
        Client::Public => PUBLIC,
        Client::Basic => BASIC,
        Client::Post => POST,
    };
    let secret = |right: bool| if right { SECRET } else { "wrong secret" };
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            Base64::encode_string(format!("{id}:{}", secret.replace(' ', "+")).as_bytes())
        )
    };
    let mut authorization = None;
    match &call.client {
        ClientAuth::Id(client) => push("client_id", id(*client)),
        ClientAuth::Basic { client, right } => {
            authorization = Some(basic(id(*client), secret(*right)));
        }
        ClientAuth::Post { client, right } => {
            push("client_id", id(*client));
            push("client_secret", secret(*right));
        }
        ClientAuth::BasicAndPost => {
            authorization = Some(basic(BASIC, SECRET));
            push("client_secret", SECRET);
        }
        ClientAuth::Nothing => {}
        ClientAuth::OtherId(other) => push("client_id", other),
        ClientAuth::OtherHeader(other) => authorization = Some(other.clone()),
    }
    match &call.code {
        Some(CodeRef::FreshPublic) => push("code", &fixture.fresh_public),
        Some(CodeRef::FreshBasic) => push("code", &fixture.fresh_basic),
        Some(CodeRef::Spent) => push("code", &fixture.spent),
        Some(CodeRef::Other(other)) => push("code", other),
        None => {}
    }
    match &call.code_verifier {
        Some(Text::Known(VerifierRef::Right)) => push("code_verifier", VERIFIER),
        Some(Text::Known(VerifierRef::Wrong)) => {
            push(
                "code_verifier",
                "wrong-verifier-of-43-characters-0123456789ab",
            );
        }
        Some(Text::Other(other)) => push("code_verifier", other),
        None => {}
    }
    match &call.redirect_uri {
        Some(Text::Known(RedirectRef::Registered)) => push("redirect_uri", REDIRECT),
        Some(Text::Known(RedirectRef::Other)) => push("redirect_uri", "http://127.0.0.1:9/cb"),
        Some(Text::Other(other)) => push("redirect_uri", other),
        None => {}
    }
    match &call.refresh_token {
        Some(RefreshRef::Original) => push("refresh_token", &fixture.original_refresh),
        Some(RefreshRef::Issued(n)) => {
            let at = usize::from(*n) % refresh_tokens.len().max(1);
            if let Some(token) = refresh_tokens.get(at) {
                push("refresh_token", token);
            }
        }
        Some(RefreshRef::Other(other)) => push("refresh_token", other),
        None => {}
    }
    match &call.scope {
        Some(Text::Known(ScopeRef::Read)) => push("scope", "mcp:read"),
        Some(Text::Known(ScopeRef::Write)) => push("scope", "mcp:write"),
        Some(Text::Known(ScopeRef::ReadWrite)) => push("scope", "mcp:read mcp:write"),
        Some(Text::Known(ScopeRef::Unknown)) => push("scope", "admin"),
        Some(Text::Other(other)) => push("scope", other),
        None => {}
    }
    for resource in call.resources.iter().take(4) {
        match resource {
            Text::Known(ResourceRef::Registered) => push("resource", RESOURCE),
            Text::Known(ResourceRef::Unregistered) => {
                push("resource", "https://other.example.com/mcp");
            }
            Text::Other(other) => push("resource", other),
        }
    }
    if let Some((name, value)) = &call.extra {
        push(name, value);
    }
    (pairs, authorization)
}

/// OAuth 2.1 section 3.2.3: a Bearer access token with its lifetime.
fn check_tokens(body: &Value) {
    assert!(
        body.get("access_token")
            .and_then(Value::as_str)
            .is_some_and(|token| !token.is_empty()),
        "{body}"
    );
    assert_eq!(
        body.get("token_type").and_then(Value::as_str),
        Some("Bearer")
    );
    assert!(body.get("expires_in").and_then(Value::as_u64).is_some());
    assert!(body.get("error").is_none());
}

/// OAuth 2.1 section 3.2.4: a registered error code, with its status.
fn check_refusal(response: &EndpointResponse, body: &Value) {
    let error = body
        .get("error")
        .and_then(Value::as_str)
        .expect("a refusal names its error");
    let code = ErrorCode::parse(error).expect("a registered error code");
    assert_ne!(code, ErrorCode::ServerError, "{body}");
    assert_eq!(response.status.as_u16(), code.http_status(), "{body}");
    if let Some(description) = body.get("error_description").and_then(Value::as_str) {
        // RFC 6749 section 5.2: %x20-21 / %x23-5B / %x5D-7E.
        assert!(
            description
                .bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e)),
            "{description:?}"
        );
    }
}

fn fixture() -> Fixture {
    let mut rng = FuzzRng(11);
    let resource = ResourceUri::parse(RESOURCE).expect("a valid resource");
    let mut config = EngineConfig::new(ISSUER, resource.clone()).expect("a valid configuration");
    config.resources[0].scopes_supported =
        Scope::parse("mcp:read mcp:write").expect("a valid scope");
    config.resources[0].default_scope = Scope::parse("mcp:read").expect("a valid scope");
    let secrets = EngineSecrets {
        rotation_key: RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
    };
    let store = Arc::new(MemoryStore::new());
    let digest = Some(TokenDigest::of(SECRET.as_bytes()));
    for (id, method, grants, secret) in [
        (
            PUBLIC,
            "none",
            &["authorization_code", "refresh_token"][..],
            None,
        ),
        (
            BASIC,
            "client_secret_basic",
            &["authorization_code", "refresh_token", "client_credentials"][..],
            digest,
        ),
        (
            POST,
            "client_secret_post",
            &["authorization_code", "refresh_token", "client_credentials"][..],
            digest,
        ),
    ] {
        let metadata = serde_json::json!({
            "client_name": id,
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": method,
            "grant_types": grants,
            "scope": "mcp:read mcp:write",
        });
        let record = ClientRecord {
            client_id: ClientId::parse(id).expect("a valid client id"),
            metadata: metadata.as_object().cloned().unwrap_or_default(),
            secret_digest: secret,
            secret_expires_at: None,
            registration_token_digest: None,
            fingerprint: None,
            issued_at: UnixTime::from_secs(NOW),
            first_used_at: None,
            may_introspect: false,
        };
        block_on(store.register_client(&record, 10)).expect("the memory store registers");
    }
    let engine = block_on(Engine::new(
        store,
        config,
        secrets,
        NoMetadataFetcher,
        UnixTime::from_secs(NOW),
        &mut rng,
    ))
    .expect("the fuzz engine starts");
    let mut issue = |client: &str| {
        let params = CodeParams {
            client_id: ClientId::parse(client).expect("a valid client id"),
            redirect_uri: RedirectUri::parse(REDIRECT).expect("a valid redirect uri"),
            redirect_uri_source: RedirectUriSource::Request,
            code_challenge: CodeChallenge::parse(CHALLENGE, Some("S256"))
                .expect("RFC 7636 appendix B"),
            resources: vec![resource.clone()],
            scope: Scope::parse("mcp:read").expect("a valid scope"),
            subject: Subject::parse("alice").expect("a valid subject"),
            auth_time: UnixTime::from_secs(NOW - 10),
            dpop_jkt: None,
        };
        let (code, record) = CodeRecord::issue(
            params,
            UnixTime::from_secs(NOW),
            &engine.config().code_policy,
            &mut rng,
        )
        .expect("a valid code");
        block_on(engine.store().insert_code(&record)).expect("the memory store inserts");
        code.expose_secret().to_owned()
    };
    let fresh_public = issue(PUBLIC);
    let fresh_basic = issue(BASIC);
    let spent = issue(PUBLIC);
    let params = Params::from_pairs(
        [
            ("grant_type", "authorization_code"),
            ("code", spent.as_str()),
            ("code_verifier", VERIFIER),
            ("client_id", PUBLIC),
            ("redirect_uri", REDIRECT),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned())),
    )
    .expect("distinct parameters");
    let http = HttpContext::new("POST", &engine.config().token_endpoint);
    let response = block_on(engine.token(&params, &http, UnixTime::from_secs(NOW), &mut rng));
    assert_eq!(response.status.as_u16(), 200, "{:?}", response.body);
    let body: Value = serde_json::from_str(response.json_body().expect("a JSON body"))
        .expect("the endpoint writes JSON");
    let original_refresh = body
        .get("refresh_token")
        .and_then(Value::as_str)
        .expect("the public client gets a refresh token")
        .to_owned();
    Fixture {
        engine,
        rng,
        fresh_public,
        fresh_basic,
        spent,
        original_refresh,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inputs that reach a redemption: the seeds exercise the success path.
    #[test]
    fn the_fixture_redeems_a_fresh_code_once_and_never_the_spent_one() {
        let mut fixture = fixture();
        let http = HttpContext::new("POST", &fixture.engine.config().token_endpoint);
        let redeem = |fixture: &mut Fixture, code: &str| {
            let params = Params::from_pairs(
                [
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", VERIFIER),
                    ("client_id", PUBLIC),
                ]
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
            )
            .unwrap();
            block_on(fixture.engine.token(
                &params,
                &http,
                UnixTime::from_secs(NOW),
                &mut fixture.rng,
            ))
            .status
            .as_u16()
        };
        let fresh = fixture.fresh_public.clone();
        let spent = fixture.spent.clone();
        assert_eq!(redeem(&mut fixture, &fresh), 200);
        assert_eq!(redeem(&mut fixture, &fresh), 400);
        assert_eq!(redeem(&mut fixture, &spent), 400);
    }

    #[test]
    fn corpus_engine_token_request() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut count = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/engine_token_request"))
            else {
                assert_eq!(dir, "regressions", "the corpus exists");
                continue;
            };
            for entry in entries.flatten() {
                engine_token_request(&std::fs::read(entry.path()).unwrap());
                count += 1;
            }
        }
        assert!(count >= 4);
    }
}
