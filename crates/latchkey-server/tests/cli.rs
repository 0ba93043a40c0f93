//! The `latchkey` binary's command line: `check` and the admin commands
//! against a temporary database.

use std::path::PathBuf;
use std::process::{Command, Output};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("latchkey-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn latchkey(dir: &PathBuf, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("LATCHKEY_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied());
    command.stdin(std::process::Stdio::piped());
    command.stdout(std::process::Stdio::piped());
    command.stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn latchkey");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("run latchkey")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[test]
fn check_accepts_the_defaults() {
    let dir = temp_dir("defaults");
    let output = latchkey(&dir, &["check"], &[], None);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "the configuration is fine: issuer http://127.0.0.1:8080, listening on 127.0.0.1:8080\n\
         sign-in limits: 5 failures per user name, or 20 per client address, within 900 s \
         lock it out for 900 s, doubling on each repeat up to 3600 s; trusted proxies: none \
         (the client address is the connection's peer)\n\
         sign-in: passwords on; identity providers: none\n\
         introspection: only clients added with `latchkey clients add --introspect` \
         (introspection_clients lists none)\n\
         scope hierarchy: none (a token must hold each scope a route needs)\n\
         connection limits: headers within 10 s, bodies within 30 s, responses within 60 s, \
         at most 512 connections at once, 64 from one address\n\
         rate limits: 300 requests per minute per address (burst 60), 600 per client \
         (burst 120), 20 registrations per address per hour\n\
         purge: expired records and never-used registered clients every 300 s; a rotated \
         refresh token of a public client without DPoP presented again revokes its family at \
         once\n\
         metrics: off ([metrics] bind or LATCHKEY_METRICS_BIND turns them on)\n"
    );
}

#[test]
fn check_validates_the_metrics_bind_and_says_where_metrics_are_served() {
    let dir = temp_dir("metrics-bad");
    let output = latchkey(
        &dir,
        &["check"],
        &[("LATCHKEY_METRICS_BIND", "localhost")],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "problem: metrics bind \"localhost\" is not an address and port such as \
          127.0.0.1:9464, other than bind"
        ],
        "{text}"
    );

    let dir = temp_dir("metrics-on");
    let output = latchkey(
        &dir,
        &["check"],
        &[("LATCHKEY_METRICS_BIND", "127.0.0.1:9464")],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    assert_eq!(
        text.lines().last(),
        Some("metrics: GET /metrics on 127.0.0.1:9464 (its own listener)"),
        "{text}"
    );
}

#[test]
fn mcp_a12_check_refuses_a_public_http_issuer_with_exit_code_1() {
    let dir = temp_dir("http");
    let output = latchkey(
        &dir,
        &["check"],
        &[
            ("LATCHKEY_ISSUER", "http://auth.example.com"),
            ("LATCHKEY_BIND", "nowhere"),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("problem: issuer \"http://auth.example.com\" uses plain http"));
    assert!(lines[1].starts_with("problem: bind \"nowhere\" is not an address and port"));
}

/// Serves `body` as JSON to every request on a loopback port, `count` times.
fn serve_json(body: String, count: usize) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn issue_10_check_fetches_each_discovery_document_and_never_prints_a_secret() {
    let dir = temp_dir("idp");
    // A provider whose discovery document names another issuer, and one
    // that cannot be reached at all.
    let port = serve_json(
        r#"{"issuer":"https://elsewhere.example","authorization_endpoint":"https://elsewhere.example/a","token_endpoint":"https://elsewhere.example/t","jwks_uri":"https://elsewhere.example/k","response_types_supported":["code"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["ES256"]}"#.to_owned(),
        1,
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let config = format!(
        r#"
        [[identity_providers]]
        id = "corp"
        kind = "oidc"
        display_name = "Corp SSO"
        issuer = "http://127.0.0.1:{port}"
        client_id = "latchkey"
        client_secret = "file-secret-value"
        scopes = ["openid"]

        [[identity_providers]]
        id = "down"
        kind = "oidc"
        display_name = "Down"
        issuer = "http://127.0.0.1:{closed_port}"
        client_id = "latchkey"
        scopes = ["openid"]
        "#
    );
    std::fs::write(dir.join("idp.toml"), config).expect("write config");
    let output = latchkey(
        &dir,
        &["check", "--config", "idp.toml"],
        &[("LATCHKEY_IDP_DOWN_CLIENT_SECRET", "env-secret-value")],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert_eq!(
        text,
        "problem: identity provider \"corp\": discovery document names another issuer\n\
         problem: identity provider \"down\": the provider's discovery document could not be \
         fetched: connection failed\n",
    );
    let everything = format!("{text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(!everything.contains("secret-value"), "{everything}");
}

#[test]
fn check_reports_an_unreadable_config_file() {
    let dir = temp_dir("nofile");
    let output = latchkey(&dir, &["check", "--config", "missing.toml"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output)
            .starts_with("problem: the configuration file missing.toml could not be read")
    );
}

#[test]
fn users_add_from_stdin_then_list() {
    let dir = temp_dir("users");
    let output = latchkey(
        &dir,
        &["users", "add", "alice", "--password-stdin"],
        &[],
        Some("a-long-enough-password\n"),
    );
    assert_eq!(output.status.code(), Some(0), "{:?}", output);
    assert_eq!(stdout(&output), "added user alice\n");
    let output = latchkey(&dir, &["users", "list"], &[], None);
    assert!(stdout(&output).starts_with("alice\tadded "));
    assert!(dir.join("latchkey.db").exists());
    let output = latchkey(&dir, &["users", "remove", "nobody"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).expect("utf-8"),
        "latchkey: user \"nobody\" does not exist\n"
    );
}

#[test]
fn clients_purge_deletes_never_used_registered_clients_and_prints_how_many() {
    use latchkey_store::ClientStore;
    use latchkey_types::{ClientId, UnixTime};

    let dir = temp_dir("purge");
    // An administrator's client (never purged), then two dynamically
    // registered ones: one that never obtained a token, two days old, and a
    // fresh one.
    let output = latchkey(
        &dir,
        &[
            "clients",
            "add",
            "--id",
            "admin-client",
            "--redirect-uri",
            "https://app.example/cb",
        ],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let store = latchkey_store_sqlite::SqliteStore::open(&dir.join("latchkey.db"))
            .await
            .expect("open");
        for (id, issued_at) in [("stale-client", now - 2 * 86_400), ("fresh-client", now)] {
            let mut metadata = serde_json::Map::new();
            metadata.insert("client_name".into(), "Registered".into());
            metadata.insert(
                "redirect_uris".into(),
                serde_json::json!(["http://127.0.0.1/cb"]),
            );
            let record = latchkey_store::ClientRecord {
                client_id: ClientId::parse(id).expect("id"),
                metadata,
                secret_digest: None,
                secret_expires_at: None,
                registration_token_digest: None,
                fingerprint: None,
                issued_at: UnixTime::from_secs(issued_at),
                first_used_at: None,
                may_introspect: false,
            };
            store
                .register_client(&record, u64::MAX)
                .await
                .expect("register");
        }
        store.close().await;
    });
    let output = latchkey(&dir, &["clients", "purge"], &[], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        stdout(&output),
        "purged 1 registered client(s) that obtained no token within 24 hours\n"
    );
    let listed = stdout(&latchkey(&dir, &["clients", "list"], &[], None));
    assert!(
        listed.contains("admin-client") && listed.contains("fresh-client"),
        "{listed}"
    );
    assert!(!listed.contains("stale-client"), "{listed}");
    let again = latchkey(&dir, &["clients", "purge"], &[], None);
    assert_eq!(
        stdout(&again),
        "purged 0 registered client(s) that obtained no token within 24 hours\n"
    );
}

#[test]
fn serve_refuses_a_database_that_others_can_read() {
    use std::os::unix::fs::PermissionsExt;

    let dir = temp_dir("db-mode");
    let output = latchkey(&dir, &["users", "list"], &[], None);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let database = dir.join("latchkey.db");
    let mode = std::fs::metadata(&database)
        .expect("created")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "a new database is private");
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let mut command = serve_command(&dir);
    command
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("spawn latchkey serve");
    // It must stop at once; a server that started would be killed here
    // (bounded: 100 checks 50 ms apart).
    let mut status = None;
    for _ in 0..100 {
        if let Some(done) = child.try_wait().expect("wait") {
            status = Some(done);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("output");
    assert_eq!(
        output.status.code(),
        Some(1),
        "serve must not start: {output:?}"
    );
    let stderr = String::from_utf8(output.stderr).expect("utf-8");
    assert!(
        stderr.contains(&format!(
            "latchkey: the database file {} can be read or written by other users; run chmod 600 on it",
            PathBuf::from(".").join("latchkey.db").display()
        )),
        "{stderr}"
    );
}

/// `latchkey serve` in `dir`, with no `LATCHKEY_*` variable of this process.
fn serve_command(dir: &PathBuf) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    command.arg("serve").current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("LATCHKEY_") {
            command.env_remove(name);
        }
    }
    command
}

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `GET path` on `127.0.0.1:port` over HTTP/1.1: the status and the body,
/// or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n")?.1.to_owned();
    Some((status, body))
}

#[test]
fn serve_answers_metrics_on_the_metrics_bind_only() {
    let dir = temp_dir("metrics-serve");
    let (main, metrics) = (free_port(), free_port());
    let mut command = serve_command(&dir);
    command
        .env("LATCHKEY_BIND", format!("127.0.0.1:{main}"))
        .env("LATCHKEY_ISSUER", format!("http://127.0.0.1:{main}"))
        .env("LATCHKEY_METRICS_BIND", format!("127.0.0.1:{metrics}"))
        .env("LATCHKEY_DEMO_PASSWORD", "correct horse battery staple")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = command.spawn().expect("spawn latchkey serve");
    // Bounded: 200 tries 50 ms apart while the server starts.
    let mut scraped = None;
    for _ in 0..200 {
        if get(main, "/.well-known/oauth-authorization-server").is_some()
            && let Some(answer) = get(metrics, "/metrics")
        {
            scraped = Some(answer);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let on_main = get(main, "/metrics");
    let elsewhere = get(metrics, "/token");
    child.kill().expect("kill");
    child.wait().expect("wait");
    let (status, body) = scraped.expect("the metrics listener answered");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("latchkey_code_replays_total 0"), "{body}");
    // The metadata request above was timed under its route name.
    assert!(
        body.contains(
            "latchkey_request_duration_seconds_count{route=\"authorization_server_metadata\"}"
        ),
        "{body}"
    );
    assert_eq!(on_main.map(|(status, _)| status), Some(404));
    assert_eq!(elsewhere.map(|(status, _)| status), Some(404));
}
