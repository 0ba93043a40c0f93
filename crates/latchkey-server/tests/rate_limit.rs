//! The request rate limits (`[rate_limits]`, `latchkey_server::rate_limit`)
//! through the in-process router, each request carrying the peer address a
//! real listener would give it (`ConnectInfo<SocketAddr>`). Counts are small
//! and bounded; nothing touches the network.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use base64ct::{Base64, Encoding};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::Scope;
use rand_core::SeedableRng;
use tower::ServiceExt;

const ISSUER: &str = "http://127.0.0.1:8080";
const REGISTRATION: &str =
    r#"{"redirect_uris":["http://127.0.0.1:9999/cb"],"token_endpoint_auth_method":"none"}"#;

fn temp_db() -> std::path::PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-rate-limit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// The application with `toml` over the defaults.
async fn app(toml: &str) -> Router {
    app_and_store(toml).await.0
}

/// [`app`], and its store.
async fn app_and_store(toml: &str) -> (Router, Arc<SqliteStore>) {
    let mut config = ServerConfig::default();
    config
        .apply_toml(&format!("demo_user = false\n{toml}"))
        .expect("toml");
    let database = temp_db();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(ISSUER.to_owned()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
    let app = serve::build(
        &config,
        Arc::clone(&store),
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build");
    (app, store)
}

struct Reply {
    status: StatusCode,
    retry_after: Option<u64>,
    content_type: String,
    cache_control: String,
    body: String,
}

/// A request from `from` (an address on loopback, port 40000).
fn from(address: &str, request: axum::http::request::Builder, body: Body) -> Request<Body> {
    let peer: SocketAddr = format!("{address}:40000").parse().expect("address");
    request
        .extension(ConnectInfo(peer))
        .body(body)
        .expect("request")
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let retry_after = header("retry-after").parse().ok();
    let content_type = header("content-type");
    let cache_control = header("cache-control");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    Reply {
        status,
        retry_after,
        content_type,
        cache_control,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

fn form_post(path: &str, address: &str, form: &str) -> Request<Body> {
    from(
        address,
        Request::post(path).header("content-type", "application/x-www-form-urlencoded"),
        Body::from(form.to_owned()),
    )
}

fn register(address: &str) -> Request<Body> {
    from(
        address,
        Request::post("/register").header("content-type", "application/json"),
        Body::from(REGISTRATION),
    )
}

fn authorize(address: &str, client_id: &str) -> Request<Body> {
    from(
        address,
        Request::get(format!(
            "/authorize?response_type=code&client_id={client_id}"
        )),
        Body::empty(),
    )
}

fn assert_json_429(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        reply.body
    );
    let retry_after = reply.retry_after.expect("Retry-After");
    assert!((1..=3600).contains(&retry_after), "{what}: {retry_after}");
    assert_eq!(reply.content_type, "application/json", "{what}");
    assert_eq!(reply.cache_control, "no-store", "{what}");
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    assert_eq!(body["error"], "temporarily_unavailable", "{what}");
}

/// Three requests at once per address and per client, then one a minute.
const TIGHT: &str = "[rate_limits]\nper_address_per_minute = 1\nper_address_burst = 3\n\
                     per_client_per_minute = 1\nper_client_burst = 3\n\
                     registrations_per_address_per_hour = 1000\n";

#[tokio::test]
async fn security_rate_limit_answers_429_with_retry_after() {
    let app = app(TIGHT).await;
    // Each endpoint family from its own address, each request naming a
    // client of its own, so that only the address limit is met.
    type Make = fn(&str, u32) -> Request<Body>;
    let families: [(&str, Make); 4] = [
        ("/token", |a, i| {
            form_post(
                "/token",
                a,
                &format!("grant_type=client_credentials&client_id=c{i}"),
            )
        }),
        ("/revoke", |a, i| {
            form_post("/revoke", a, &format!("token=x&client_id=c{i}"))
        }),
        ("/introspect", |a, i| {
            form_post("/introspect", a, &format!("token=x&client_id=c{i}"))
        }),
        ("/register", |a, _| register(a)),
    ];
    for (n, (name, make)) in families.iter().enumerate() {
        let address = format!("127.0.1.{n}");
        let first = 10 * u32::try_from(n).expect("small");
        for i in first..first + 3 {
            let reply = send(&app, make(&address, i)).await;
            assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{name} #{i}");
        }
        let reply = send(&app, make(&address, first + 3)).await;
        assert_json_429(&reply, name);
    }

    // The authorization endpoint answers with a page, never a redirect.
    for i in 0..3 {
        let reply = send(&app, authorize("127.0.2.1", &format!("page{i}"))).await;
        assert_ne!(
            reply.status,
            StatusCode::TOO_MANY_REQUESTS,
            "authorize #{i}"
        );
    }
    let reply = send(&app, authorize("127.0.2.1", "page3")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.content_type, "text/html; charset=utf-8");
    assert!(
        reply
            .retry_after
            .is_some_and(|secs| (1..=60).contains(&secs))
    );
    assert!(reply.body.contains("Too many requests"), "{}", reply.body);

    // A client configuration endpoint (RFC 7592) counts with /register.
    let reply = send(
        &app,
        from(
            "127.0.1.3",
            Request::get("/register/some-client").header("authorization", "Bearer x"),
            Body::empty(),
        ),
    )
    .await;
    assert_json_429(&reply, "/register/{client_id}");

    // Other routes are not limited.
    for _ in 0..10 {
        let reply = send(
            &app,
            from(
                "127.0.1.0",
                Request::get("/.well-known/oauth-authorization-server"),
                Body::empty(),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
}

/// A confidential client's successful requests count against one budget
/// from every address; requests that merely name a client (a wrong secret,
/// a public client's revocation) cost it nothing, so nobody can lock a
/// known client out by naming it.
#[tokio::test]
async fn security_rate_limit_counts_a_client_across_addresses() {
    let (app, store) = app_and_store(
        "[rate_limits]\nper_address_per_minute = 1000\nper_address_burst = 1000\n\
         per_client_per_minute = 1\nper_client_burst = 3\n",
    )
    .await;
    let new = NewClient {
        client_id: Some("cc-client".to_owned()),
        auth_method: "client_secret_basic".to_owned(),
        client_credentials: true,
        ..NewClient::default()
    };
    let mut out = Vec::new();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    admin::clients_add(
        store.as_ref(),
        &new,
        &Scope::parse("mcp:tools").expect("scope"),
        latchkey_server::now(),
        &mut rng,
        &mut out,
    )
    .await
    .expect("client");
    let out = String::from_utf8(out).expect("utf-8");
    let secret = out
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .and_then(|rest| rest.split(' ').next())
        .expect("secret");
    let token = |address: &str, secret: &str| {
        let basic = Base64::encode_string(format!("cc-client:{secret}").as_bytes());
        from(
            address,
            Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", format!("Basic {basic}")),
            Body::from("grant_type=client_credentials"),
        )
    };
    for n in 0..10 {
        let reply = send(&app, token(&format!("127.0.3.{}", 100 + n), "wrong")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    }
    for n in 1..=3 {
        let reply = send(&app, token(&format!("127.0.3.{n}"), secret)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let reply = send(&app, token("127.0.3.4", secret)).await;
    assert_json_429(&reply, "a fourth address using the same client");
    // The same address with another client is not affected.
    let reply = send(&app, register("127.0.3.5")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let registered: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
    let other = registered["client_id"].as_str().expect("client_id");
    let reply = send(
        &app,
        form_post(
            "/revoke",
            "127.0.3.4",
            &format!("token=x&client_id={other}"),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    // A public client's revocation is answered 200 whatever the token
    // (RFC 7009 section 2.2), so anyone can send one: it spends nothing.
    for n in 0..10 {
        let reply = send(
            &app,
            form_post(
                "/revoke",
                &format!("127.0.3.{}", 120 + n),
                &format!("token=x&client_id={other}"),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
}

#[tokio::test]
async fn security_rate_limit_counts_an_address_across_clients_and_spares_other_addresses() {
    let app = app(TIGHT).await;
    for i in 0..3 {
        let form = format!("grant_type=client_credentials&client_id=a{i}");
        let reply = send(&app, form_post("/token", "127.0.4.1", &form)).await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let reply = send(
        &app,
        form_post(
            "/token",
            "127.0.4.1",
            "grant_type=client_credentials&client_id=a9",
        ),
    )
    .await;
    assert_json_429(&reply, "a fourth client from one address");
    // Requests refused per address do not spend the named client's budget,
    // and another address is not affected.
    let reply = send(
        &app,
        form_post(
            "/token",
            "127.0.4.2",
            "grant_type=client_credentials&client_id=a9",
        ),
    )
    .await;
    assert_ne!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    // An IPv6 client counts per /64.
    for i in 0..3 {
        let address = format!("[2001:db8::{i}]");
        let reply = send(&app, authorize(&address, &format!("v{i}"))).await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let reply = send(&app, authorize("[2001:db8::ffff]", "v9")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn security_rate_limit_believes_x_forwarded_for_only_from_trusted_proxies() {
    let forwarded = |peer: &str, client: &str, n: u32| {
        from(
            peer,
            Request::post("/token")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-forwarded-for", client),
            Body::from(format!("grant_type=client_credentials&client_id=x{n}")),
        )
    };
    // Untrusted peer: a header naming a new client each time changes nothing.
    let app_direct = app(TIGHT).await;
    for n in 0..3 {
        let reply = send(
            &app_direct,
            forwarded("127.0.5.1", &format!("198.51.100.{n}"), n),
        )
        .await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
    let reply = send(&app_direct, forwarded("127.0.5.1", "198.51.100.99", 3)).await;
    assert_json_429(&reply, "forged X-Forwarded-For");

    // Trusted proxy: each forwarded client has its own budget.
    let app_proxied = app(&format!("trusted_proxies = [\"127.0.5.1\"]\n{TIGHT}")).await;
    for n in 0..6 {
        let reply = send(
            &app_proxied,
            forwarded("127.0.5.1", &format!("198.51.100.{n}"), n),
        )
        .await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS, "{n}");
    }
}

#[tokio::test]
async fn security_registration_flood_from_one_address_does_not_block_another() {
    // The default request rates; a registration quota of 5 an hour.
    let app = app("[rate_limits]\nregistrations_per_address_per_hour = 5\n").await;
    let mut created = 0;
    let mut refused = 0;
    for _ in 0..40 {
        let reply = send(&app, register("127.0.6.1")).await;
        match reply.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert_json_429(&reply, "registration flood");
                refused += 1;
            }
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!((created, refused), (5, 35));
    let reply = send(&app, register("127.0.6.2")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[tokio::test]
async fn rate_limits_can_be_turned_off() {
    let app = app(&format!("{TIGHT}enabled = false\n")).await;
    for _ in 0..10 {
        let reply = send(&app, authorize("127.0.7.1", "c")).await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
}
