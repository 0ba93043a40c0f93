//! Introspection (RFC 7662) granted from the command line: `latchkey clients
//! add --introspect` run as the binary stores the permission with a
//! confidential client, and `latchkey serve` (the real router on
//! 127.0.0.1:0, started in-process afterwards over the same database, with
//! no `introspection_clients` setting) lets that client introspect. A public
//! client cannot get the permission, and a dynamically registered client
//! cannot grant it to itself through any metadata member.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use latchkey_http_tests::client::{Request, Response, send};
use latchkey_server::admin::{self, NewClient};
use latchkey_server::config::ServerConfig;
use latchkey_server::serve;
use latchkey_store::ClientStore;
use latchkey_store_sqlite::SqliteStore;
use latchkey_types::{ClientId, Scope};
use rand_core::SeedableRng;
use serde_json::{Value, json};

const INTROSPECTOR: &str = "rs-introspector";
const BACKEND: &str = "backend";
const REDIRECT: &str = "http://127.0.0.1:9999/cb";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "latchkey-introspection-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs the `latchkey` binary in `dir` with no `LATCHKEY_*` variables.
fn latchkey(dir: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("LATCHKEY_") {
            command.env_remove(name);
        }
    }
    command.output().expect("run latchkey")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

/// The secret `latchkey clients add` printed once.
fn printed_secret(output: &Output) -> String {
    stdout(output)
        .lines()
        .find_map(|line| line.strip_prefix("client_secret: "))
        .and_then(|rest| rest.split(' ').next())
        .expect("a secret is printed")
        .to_owned()
}

/// `latchkey clients add --id ID --auth-method client_secret_post
/// --client-credentials --scope mcp:tools`, plus `extra`.
fn add_confidential(dir: &Path, id: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "clients",
        "add",
        "--id",
        id,
        "--auth-method",
        "client_secret_post",
        "--client-credentials",
        "--scope",
        "mcp:tools",
    ];
    args.extend_from_slice(extra);
    latchkey(dir, &args)
}

/// `latchkey serve`'s router over `dir/latchkey.db`, with the default
/// configuration (no `introspection_clients`), on 127.0.0.1:0.
async fn serve(dir: &Path) -> (String, Arc<SqliteStore>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let database = dir.join("latchkey.db");
    let mut config = ServerConfig::default();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(base.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    assert!(config.introspection_clients.is_empty());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(17);
    let app = serve::build(
        &config,
        Arc::clone(&store),
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    (base, store)
}

async fn introspect(base: &str, token: &str, client: &str, secret: &str) -> Response {
    send(
        base,
        &Request::new("POST", "/introspect").form(&[
            ("token", token),
            ("client_id", client),
            ("client_secret", secret),
        ]),
    )
    .await
}

fn assert_refused(response: &Response, who: &str) {
    assert_eq!(response.status, 401, "{who}: {}", response.text());
    let body = response.json();
    assert_eq!(body["error"], "invalid_client", "{who}: {body}");
    assert!(body.get("active").is_none(), "{who}: {body}");
}

/// Metadata members a registrant might send hoping to be let into `/introspect`.
fn with_smuggled_members(mut metadata: Value) -> Value {
    for member in [
        "may_introspect",
        "latchkey_introspect",
        "introspect",
        "introspection",
        "introspection_allowed",
    ] {
        metadata[member] = Value::Bool(true);
    }
    metadata["introspection_clients"] = json!(["*"]);
    metadata
}

/// RFC 7662 sections 2.1 to 2.3: `clients add --introspect` lets a
/// confidential client introspect through `latchkey serve` with no setting:
/// a live token is active, and inactive once revoked (RFC 7009). A public
/// client is refused the flag, and `clients list` shows who has it.
#[tokio::test]
async fn rfc_7662_clients_add_introspect_lets_the_client_introspect_through_serve() {
    let dir = temp_dir("cli");
    let introspector = add_confidential(&dir, INTROSPECTOR, &["--introspect"]);
    assert_eq!(introspector.status.code(), Some(0), "{introspector:?}");
    assert!(
        stdout(&introspector).ends_with("\nmay introspect tokens at /introspect\n"),
        "{introspector:?}"
    );
    let introspector_secret = printed_secret(&introspector);
    let backend = add_confidential(&dir, BACKEND, &[]);
    assert_eq!(backend.status.code(), Some(0), "{backend:?}");
    let backend_secret = printed_secret(&backend);

    // A public client cannot authenticate, so it cannot be given the permission.
    let public = latchkey(
        &dir,
        &[
            "clients",
            "add",
            "--id",
            "spa",
            "--redirect-uri",
            REDIRECT,
            "--introspect",
        ],
    );
    assert_eq!(public.status.code(), Some(1), "{public:?}");
    let stderr = String::from_utf8(public.stderr.clone()).expect("utf-8");
    assert!(
        stderr.starts_with(
            "latchkey: the client settings were refused: --introspect needs a confidential client"
        ),
        "{stderr}"
    );

    let listed = stdout(&latchkey(&dir, &["clients", "list"]));
    assert_eq!(
        listed,
        format!("{BACKEND}\tconfidential\t-\t\t\n{INTROSPECTOR}\tconfidential\tintrospect\t\t\n")
    );

    let (base, _store) = serve(&dir).await;
    let issued = send(
        &base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", &backend_secret),
        ]),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let access = issued.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    let active = introspect(&base, &access, INTROSPECTOR, &introspector_secret).await;
    assert_eq!(active.status, 200, "{}", active.text());
    assert_eq!(active.header("cache-control"), Some("no-store"));
    let body = active.json();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["client_id"], BACKEND);
    assert_eq!(body["scope"], "mcp:tools");

    // A confidential client without the permission learns nothing.
    assert_refused(
        &introspect(&base, &access, BACKEND, &backend_secret).await,
        BACKEND,
    );

    let revoked = send(
        &base,
        &Request::new("POST", "/revoke").form(&[
            ("token", &access),
            ("client_id", BACKEND),
            ("client_secret", &backend_secret),
        ]),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text());
    let inactive = introspect(&base, &access, INTROSPECTOR, &introspector_secret).await;
    assert_eq!(inactive.status, 200, "{}", inactive.text());
    assert_eq!(inactive.json(), json!({ "active": false }));
}

/// RFC 7591 section 2 and RFC 7592 section 2.2 against RFC 7662 section
/// 2.1: a client registered through `/register`, and then updated, with
/// every introspection-like member it can think of, is stored without the
/// permission and refused at `/introspect`.
#[tokio::test]
async fn rfc_7662_a_dynamically_registered_client_cannot_grant_itself_introspection() {
    let dir = temp_dir("dcr");
    let (base, store) = serve(&dir).await;
    let metadata = with_smuggled_members(json!({
        "client_name": "Sneaky",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_post",
    }));
    let registered = send(&base, &Request::new("POST", "/register").json(&metadata)).await;
    assert_eq!(registered.status, 201, "{}", registered.text());
    let body = registered.json();
    let client_id = body["client_id"].as_str().expect("client_id").to_owned();
    let secret = body["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_owned();
    let registration_token = body["registration_access_token"]
        .as_str()
        .expect("registration_access_token")
        .to_owned();
    let id = ClientId::parse(&client_id).expect("id");

    // A live token to ask about, from a client the administrator added.
    let mut out = Vec::new();
    let backend = NewClient {
        client_id: Some(BACKEND.to_owned()),
        auth_method: "client_secret_post".to_owned(),
        scope: Some("mcp:tools".to_owned()),
        client_credentials: true,
        ..NewClient::default()
    };
    admin::clients_add(
        store.as_ref(),
        &backend,
        &Scope::parse("mcp:tools").expect("scope"),
        latchkey_server::now(),
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(18),
        &mut out,
    )
    .await
    .expect("backend");
    let backend_secret = out
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(b"client_secret: "))
        .and_then(|rest| rest.split(|b| *b == b' ').next())
        .map(|secret| String::from_utf8(secret.to_vec()).expect("utf-8"))
        .expect("a secret is printed");
    let issued = send(
        &base,
        &Request::new("POST", "/token").form(&[
            ("grant_type", "client_credentials"),
            ("client_id", BACKEND),
            ("client_secret", &backend_secret),
        ]),
    )
    .await;
    assert_eq!(issued.status, 200, "{}", issued.text());
    let access = issued.json()["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();

    let stored = store.client(&id).await.expect("lookup").expect("stored");
    assert!(!stored.may_introspect, "{stored:?}");
    assert_refused(
        &introspect(&base, &access, &client_id, &secret).await,
        "registered",
    );

    let update = with_smuggled_members(json!({
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "Sneaky, updated",
        "redirect_uris": [REDIRECT],
        "token_endpoint_auth_method": "client_secret_post",
    }));
    let updated = send(
        &base,
        &Request::new("PUT", &format!("/register/{client_id}"))
            .header("Authorization", &format!("Bearer {registration_token}"))
            .json(&update),
    )
    .await;
    assert_eq!(updated.status, 200, "{}", updated.text());
    let stored = store.client(&id).await.expect("lookup").expect("stored");
    assert_eq!(stored.metadata["client_name"], "Sneaky, updated");
    assert!(!stored.may_introspect, "{stored:?}");
    assert_refused(
        &introspect(&base, &access, &client_id, &secret).await,
        "updated",
    );
}
