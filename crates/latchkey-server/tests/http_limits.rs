//! The connection limits of `latchkey serve` (`[http]`), against the real
//! accept loop on 127.0.0.1 with raw TCP clients and short timeouts, so each
//! test ends within a few seconds: slowloris headers and bodies are cut off,
//! the connection cap holds, a slow handler is answered, and a well-behaved
//! client is served.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use latchkey_server::config::ServerConfig;
use latchkey_server::{http_limits, serve};
use latchkey_store_sqlite::SqliteStore;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// The longest any single wait in these tests may take.
const BOUND: Duration = Duration::from_secs(5);

struct Server {
    port: u16,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn temp_db() -> std::path::PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("latchkey-http-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("{}.db", COUNTER.fetch_add(1, Ordering::Relaxed)))
}

/// A server on 127.0.0.1 with `toml` over the defaults, served by the same
/// loop as `latchkey serve`.
async fn start(toml: &str) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut config = ServerConfig::default();
    config
        .apply_toml(&format!("demo_user = false\n{toml}"))
        .expect("toml");
    let issuer = format!("http://127.0.0.1:{port}");
    let database = temp_db();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
    let app = serve::build(
        &config,
        store,
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = config.http_limits();
    let proxies = config.parsed_trusted_proxies().expect("proxies");
    tokio::spawn(http_limits::serve_with_proxies(
        listener,
        None,
        app,
        limits,
        proxies,
        async {
            let _ = stopped.await;
        },
    ));
    Server { port, _stop: stop }
}

impl Server {
    async fn connect(&self) -> TcpStream {
        self.connect_from("127.0.0.1").await
    }

    /// A connection whose source is `source` (any of 127.0.0.0/8).
    async fn connect_from(&self, source: &str) -> TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(std::net::SocketAddr::new(
                source.parse().expect("address"),
                0,
            ))
            .expect("bind the source address");
        socket
            .connect(([127, 0, 0, 1], self.port).into())
            .await
            .expect("connect")
    }
}

/// Reads until the server closes the connection (or `BOUND` passes, which
/// fails the test): what was received, and how long it took.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin)) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(BOUND, stream.read(&mut buf))
            .await
            .expect("the server closed the connection in time");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// Writes `bytes` one at a time, `every` apart, until the peer stops taking
/// them or they run out.
async fn drip(mut writer: OwnedWriteHalf, bytes: Vec<u8>, every: Duration) {
    for byte in bytes {
        if writer.write_all(&[byte]).await.is_err() {
            return;
        }
        tokio::time::sleep(every).await;
    }
}

const SHORT: &str = "[http]\nheader_read_timeout_secs = 1\nbody_read_timeout_secs = 1\n\
                     request_timeout_secs = 2\nmax_connections = 64\n";

#[tokio::test]
async fn security_slowloris_partial_headers_are_closed() {
    let server = start(SHORT).await;

    // Headers dripped a byte every 100 ms: each byte arrives well within any
    // per-read timeout, but the whole head does not arrive within 1 s.
    let stream = server.connect().await;
    let (mut reader, writer) = stream.into_split();
    let head = b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nX-Pad: "
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'a', 200))
        .collect();
    let dripping = tokio::spawn(drip(writer, head, Duration::from_millis(100)));
    let (received, took) = read_until_closed(&mut reader).await;
    dripping.abort();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    assert!(!received.contains("200 OK"), "{received}");

    // A connection that sends nothing at all is closed too.
    let mut idle = server.connect().await;
    let (_, took) = read_until_closed(&mut idle).await;
    assert!(took < Duration::from_secs(3), "closed after {took:?}");
}

#[tokio::test]
async fn security_slowloris_dripped_body_is_cut_off() {
    let server = start(SHORT).await;
    for (path, media_type) in [
        ("/token", "application/x-www-form-urlencoded"),
        ("/register", "application/json"),
    ] {
        let stream = server.connect().await;
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {media_type}\r\n\
             Content-Length: 1000\r\n\r\n"
        );
        writer.write_all(head.as_bytes()).await.expect("write");
        let dripping = tokio::spawn(drip(writer, vec![b'a'; 1000], Duration::from_millis(100)));
        let (received, took) = read_until_closed(&mut reader).await;
        dripping.abort();
        assert!(
            received.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{path}: {received}"
        );
        assert!(
            received.to_ascii_lowercase().contains("connection: close"),
            "{received}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "{path}: cut off after {took:?}"
        );
    }
}

#[tokio::test]
async fn security_connection_cap_holds_and_frees_when_a_connection_ends() {
    let server = start("[http]\nheader_read_timeout_secs = 30\nmax_connections = 2\n").await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = server.connect().await;
        holder
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        holders.push(holder);
    }
    // Give the accept loop time to take both.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = server.connect().await;
    third
        .write_all(
            b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        waited.is_err(),
        "a third connection was served at a cap of 2"
    );

    drop(holders.pop());
    let (received, _) = read_until_closed(&mut third).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}

#[tokio::test]
async fn a_slow_handler_is_answered_503_after_the_request_timeout() {
    // A metadata document server that answers after 4 s; the fetcher would
    // wait 5 s, the request timeout is 1 s.
    let documents = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let document_port = documents.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = documents.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(4)).await;
                drop(stream);
            });
        }
    });
    let server = start(
        "[http]\nrequest_timeout_secs = 1\n[cimd]\ndanger_allow_loopback_http_documents = true\n",
    )
    .await;
    let client_id = format!("http://127.0.0.1:{document_port}/client.json");
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", "http://127.0.0.1:9999/cb")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut stream = server.connect().await;
    let request = format!("GET /authorize?{query} HTTP/1.1\r\nHost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let (received, took) = read_until_closed(&mut stream).await;
    assert!(
        received.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{received}"
    );
    assert!(received.contains("temporarily_unavailable"), "{received}");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}

#[tokio::test]
async fn a_well_behaved_client_is_served_with_keep_alive_under_short_limits() {
    let server = start(SHORT).await;
    let mut stream = server.connect().await;
    stream
        .write_all(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 16 * 1024];
    let n = tokio::time::timeout(BOUND, stream.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");

    // The same connection carries a form post whose body arrives at once.
    let body = "grant_type=authorization_code&code=nope&client_id=nobody&code_verifier=\
                dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb";
    let request = format!(
        "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let (second, _) = read_until_closed(&mut stream).await;
    // Refused by the engine (no such client), not by a limit.
    assert!(
        second.starts_with("HTTP/1.1 400 ") || second.starts_with("HTTP/1.1 401 "),
        "{second}"
    );
    assert!(
        second.contains("\"error\":\"invalid_client\"")
            || second.contains("\"error\":\"invalid_grant\""),
        "{second}"
    );
}

#[tokio::test]
async fn security_an_oversized_request_head_is_refused_with_431() {
    let server = start(SHORT).await;
    let mut stream = server.connect().await;
    let padding = "a".repeat(http_limits::MAX_HEAD_BYTES + 1);
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {padding}\r\n\r\n");
    // The server may stop reading before the whole head is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let (received, _) = read_until_closed(&mut stream).await;
    assert!(
        received.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{received}"
    );
}

#[tokio::test]
async fn security_one_address_cannot_take_every_connection() {
    let server = start(
        "[http]\nheader_read_timeout_secs = 30\nmax_connections = 8\n\
         max_connections_per_address = 2\n",
    )
    .await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = server.connect_from("127.0.0.1").await;
        holder
            .write_all(b"GET / HTTP/1.1\r\n")
            .await
            .expect("write");
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A third from the same address is closed at once, long before the
    // 30 s header timeout.
    let mut third = server.connect_from("127.0.0.1").await;
    let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let (received, took) = read_until_closed(&mut third).await;
    assert!(received.is_empty(), "{received}");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
    // Another address is served.
    let mut other = server.connect_from("127.0.0.2").await;
    other
        .write_all(
            b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let (received, _) = read_until_closed(&mut other).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
    // When a connection ends, its address may open another.
    drop(holders.pop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = server.connect_from("127.0.0.1").await;
    again
        .write_all(
            b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let (received, _) = read_until_closed(&mut again).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}

#[tokio::test]
async fn a_trusted_proxy_is_exempt_from_the_per_address_cap() {
    let server = start(
        "trusted_proxies = [\"127.0.0.1\"]\n[http]\nheader_read_timeout_secs = 30\n\
         max_connections_per_address = 1\n",
    )
    .await;
    let mut holder = server.connect_from("127.0.0.1").await;
    holder
        .write_all(b"GET / HTTP/1.1\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = server.connect_from("127.0.0.1").await;
    second
        .write_all(
            b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await
        .expect("write");
    let (received, _) = read_until_closed(&mut second).await;
    assert!(received.starts_with("HTTP/1.1 200 OK\r\n"), "{received}");
}
