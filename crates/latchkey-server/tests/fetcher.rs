//! `HttpMetadataFetcher` against local document servers on 127.0.0.1 (with
//! the danger option that allows loopback), and its refusals without it
//! (CIMD draft sections 6.5 and 6.6, RFC 9111 section 5.2.2).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use latchkey_engine::{FetchError, MetadataFetcher};
use latchkey_registration::{CimdPolicy, ClientIdMetadataUrl};
use latchkey_server::fetcher::{FetcherConfig, HttpMetadataFetcher};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DOCUMENT: &str =
    r#"{"client_id":"x","client_name":"Test","redirect_uris":["http://127.0.0.1/cb"]}"#;

/// A one-response-per-connection HTTP server: every request gets `response`
/// after `delay`. It counts requests and keeps their heads.
struct DocumentServer {
    port: u16,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn serve(response: Vec<u8>, delay: Duration) -> DocumentServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    serve_on(listener, response, delay)
}

fn serve_on(listener: TcpListener, response: Vec<u8>, delay: Duration) -> DocumentServer {
    let port = listener.local_addr().expect("addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (h, r) = (Arc::clone(&hits), Arc::clone(&requests));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (response, hits, requests) = (response.clone(), Arc::clone(&h), Arc::clone(&r));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
                    }
                }
                hits.fetch_add(1, Ordering::SeqCst);
                requests
                    .lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&head).into_owned());
                tokio::time::sleep(delay).await;
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    DocumentServer {
        port,
        hits,
        requests,
    }
}

fn response(status: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

fn loopback_config() -> FetcherConfig {
    FetcherConfig::default().danger_allow_loopback_http()
}

fn url(s: &str) -> ClientIdMetadataUrl {
    let policy = CimdPolicy::strict_default().danger_allow_loopback_http_urls();
    ClientIdMetadataUrl::parse_with(s, &policy).expect("metadata url")
}

impl DocumentServer {
    fn url(&self) -> ClientIdMetadataUrl {
        url(&format!("http://127.0.0.1:{}/client.json", self.port))
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_200_document_is_returned_and_asked_for_as_json() {
    let server = serve(
        response("200 OK", &["Content-Type: application/json"], DOCUMENT),
        Duration::ZERO,
    )
    .await;
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    let body = fetcher.fetch(&server.url()).await;
    assert_eq!(body, Ok(DOCUMENT.as_bytes().to_vec()));
    let requests = server.requests.lock().expect("lock").clone();
    let head = requests.first().expect("one request").to_ascii_lowercase();
    assert!(head.starts_with("get /client.json http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\naccept: application/json\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", server.port)),
        "{head}"
    );
}

#[tokio::test]
async fn cimd_6_5_a_redirect_is_refused_and_not_followed() {
    let server = serve(
        response(
            "302 Found",
            &["Location: http://127.0.0.1:1/elsewhere.json"],
            "",
        ),
        Duration::ZERO,
    )
    .await;
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    assert_eq!(
        fetcher.fetch(&server.url()).await,
        Err(FetchError::Refused("redirect"))
    );
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn cimd_6_6_a_6_kb_body_is_too_large() {
    let big = format!(r#"{{"pad":"{}"}}"#, "a".repeat(6 * 1024));
    let server = serve(response("200 OK", &[], &big), Duration::ZERO).await;
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    assert_eq!(
        fetcher.fetch(&server.url()).await,
        Err(FetchError::TooLarge)
    );
}

#[tokio::test]
async fn cimd_6_6_a_6_kb_body_without_content_length_is_too_large() {
    // Close-delimited body: the bound is enforced while reading.
    let big = "a".repeat(6 * 1024);
    let raw = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{big}").into_bytes();
    let server = serve(raw, Duration::ZERO).await;
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    assert_eq!(
        fetcher.fetch(&server.url()).await,
        Err(FetchError::TooLarge)
    );
    // Exactly 5 KiB is accepted.
    let exact = "b".repeat(5 * 1024);
    let raw = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{exact}").into_bytes();
    let server = serve(raw, Duration::ZERO).await;
    assert_eq!(fetcher.fetch(&server.url()).await, Ok(exact.into_bytes()));
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = serve(response("200 OK", &[], DOCUMENT), Duration::from_secs(3)).await;
    let mut config = loopback_config();
    config.timeout = Duration::from_millis(300);
    let fetcher = HttpMetadataFetcher::new(config);
    let started = std::time::Instant::now();
    assert_eq!(fetcher.fetch(&server.url()).await, Err(FetchError::Timeout));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn only_200_is_accepted() {
    for (status, code) in [
        ("404 Not Found", 404),
        ("500 Internal Server Error", 500),
        ("204 No Content", 204),
    ] {
        let server = serve(response(status, &[], ""), Duration::ZERO).await;
        let fetcher = HttpMetadataFetcher::new(loopback_config());
        assert_eq!(
            fetcher.fetch(&server.url()).await,
            Err(FetchError::Status(code)),
            "{status}"
        );
    }
}

#[tokio::test]
async fn rfc_9111_max_age_is_honoured_and_the_second_fetch_is_cached() {
    for headers in [&["Cache-Control: max-age=60"][..], &[][..]] {
        let server = serve(response("200 OK", headers, DOCUMENT), Duration::ZERO).await;
        let fetcher = HttpMetadataFetcher::new(loopback_config());
        let first = fetcher.fetch(&server.url()).await;
        let second = fetcher.fetch(&server.url()).await;
        assert_eq!(first, Ok(DOCUMENT.as_bytes().to_vec()));
        assert_eq!(second, first);
        assert_eq!(server.hits(), 1, "{headers:?}");
    }
}

#[tokio::test]
async fn rfc_9111_no_store_and_no_cache_are_not_cached() {
    for header in [
        "Cache-Control: no-store",
        "Cache-Control: no-cache",
        "Cache-Control: max-age=0",
    ] {
        let server = serve(response("200 OK", &[header], DOCUMENT), Duration::ZERO).await;
        let fetcher = HttpMetadataFetcher::new(loopback_config());
        assert!(fetcher.fetch(&server.url()).await.is_ok());
        assert!(fetcher.fetch(&server.url()).await.is_ok());
        assert_eq!(server.hits(), 2, "{header}");
    }
}

#[tokio::test]
async fn cimd_6_5_without_the_danger_option_loopback_is_refused_after_resolution() {
    let server = serve(response("200 OK", &[], DOCUMENT), Duration::ZERO).await;
    let fetcher = HttpMetadataFetcher::new(FetcherConfig::default());
    // Plain http is refused outright.
    assert_eq!(
        fetcher.fetch(&server.url()).await,
        Err(FetchError::Refused("not https"))
    );
    // https to a loopback literal, and to a name that resolves to loopback.
    let literal = format!("https://127.0.0.1:{}/client.json", server.port);
    assert_eq!(
        fetcher.fetch_url(&literal).await,
        Err(FetchError::Refused("loopback address"))
    );
    let name = format!("https://localhost:{}/client.json", server.port);
    assert_eq!(
        fetcher.fetch_url(&name).await,
        Err(FetchError::Refused("loopback address"))
    );
    // Decimal and hex IPv4 spellings are the same address (WHATWG URL parsing).
    for spelled in ["https://2130706433/c.json", "https://0x7f.1/c.json"] {
        assert_eq!(
            fetcher.fetch_url(spelled).await,
            Err(FetchError::Refused("loopback address")),
            "{spelled}"
        );
    }
    let mapped = format!("https://[::ffff:127.0.0.1]:{}/client.json", server.port);
    assert_eq!(
        fetcher.fetch_url(&mapped).await,
        Err(FetchError::Refused("loopback address"))
    );
    assert_eq!(server.hits(), 0, "nothing was sent");
}

#[tokio::test]
async fn cimd_6_5_private_and_link_local_addresses_are_refused_even_with_the_danger_option() {
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    for (target, reason) in [
        ("https://10.0.0.1/c.json", "private address"),
        (
            "https://169.254.169.254/latest/meta-data",
            "link-local address",
        ),
        ("https://[fd00::1]/c.json", "unique local address"),
        ("https://[fe80::1]/c.json", "link-local address"),
        (
            "https://0.0.0.0/c.json",
            "unspecified or this-network address",
        ),
        ("https://224.0.0.1/c.json", "multicast address"),
        ("http://10.0.0.1/c.json", "private address"),
    ] {
        assert_eq!(
            fetcher.fetch_url(target).await,
            Err(FetchError::Refused(reason)),
            "{target}"
        );
    }
    // The danger option allows http to loopback only, never to a public host.
    assert_eq!(
        fetcher.fetch_url("http://8.8.8.8/c.json").await,
        Err(FetchError::Refused("http to a non-loopback address"))
    );
    // Other schemes never.
    assert_eq!(
        fetcher.fetch_url("ftp://example.com/c.json").await,
        Err(FetchError::Refused("not https"))
    );
}

#[tokio::test]
async fn the_engine_resolves_a_client_through_the_fetcher_and_refuses_a_redirect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let client_id = format!("http://127.0.0.1:{port}/client.json");
    let document = serde_json::json!({
        "client_id": client_id,
        "client_name": "Loopback test client",
        "redirect_uris": ["http://127.0.0.1:9999/callback"],
    })
    .to_string();
    let server = serve_on(
        listener,
        response("200 OK", &["Content-Type: application/json"], &document),
        Duration::ZERO,
    );
    let engine = engine(HttpMetadataFetcher::new(loopback_config())).await;
    let now = latchkey_server::now();
    let id = latchkey_types::ClientId::parse(&client_id).expect("client id");
    let client = engine
        .resolve_client(&id, now)
        .await
        .expect("resolved")
        .expect("a client");
    assert_eq!(client.client_id, id);
    assert_eq!(
        client.source,
        latchkey_engine::ClientSource::MetadataDocument {
            redirect_uris_all_loopback: true
        }
    );
    assert_eq!(server.hits(), 1);

    let redirect = serve(
        response("302 Found", &["Location: http://127.0.0.1:1/c.json"], ""),
        Duration::ZERO,
    )
    .await;
    let id = latchkey_types::ClientId::parse(redirect.url().as_str()).expect("client id");
    let error = engine.resolve_client(&id, now).await.expect_err("refused");
    assert_eq!(
        latchkey_types::ErrorCode::from(&error),
        latchkey_types::ErrorCode::InvalidClient
    );
}

async fn engine(
    fetcher: HttpMetadataFetcher,
) -> latchkey_engine::Engine<latchkey_store::MemoryStore, HttpMetadataFetcher> {
    use rand_core::SeedableRng;
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    let base = "http://127.0.0.1:8080";
    let resource = latchkey_uri::ResourceUri::parse("http://127.0.0.1:8080/mcp").expect("uri");
    let mut config = latchkey_engine::EngineConfig::new(base, resource).expect("config");
    config.cimd = Some(CimdPolicy::strict_default().danger_allow_loopback_http_urls());
    let secrets = latchkey_engine::EngineSecrets {
        rotation_key: latchkey_token::refresh::RotationKey::generate(&mut rng),
        key_wrap_key: None,
        nonce_key: latchkey_dpop::NonceKey::generate(&mut rng),
    };
    latchkey_engine::Engine::new(
        Arc::new(latchkey_store::MemoryStore::new()),
        config,
        secrets,
        fetcher,
        latchkey_server::now(),
        &mut rng,
    )
    .await
    .expect("engine")
}

#[tokio::test]
async fn https_fails_closed_when_the_server_does_not_speak_tls() {
    // The TLS branch runs (loopback allowed by the danger option) and a
    // failed handshake is a network failure, never a plain-text fallback.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        // Answers in plain text at once, without waiting for a request.
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream.write_all(&response("200 OK", &[], DOCUMENT)).await;
            let _ = stream.shutdown().await;
        }
    });
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    let target = format!("https://127.0.0.1:{port}/client.json");
    assert_eq!(fetcher.fetch_url(&target).await, Err(FetchError::Network));
}

/// A `private_key_jwt` client's `jwks_uri` goes through the same fetcher: a
/// 6 KiB JWK Set (too large for a metadata document) is read, one over 64 KiB
/// is not, and without the danger option a loopback `jwks_uri` is refused
/// after resolution like any document URL.
#[tokio::test]
async fn rfc_7591_jwks_uri_is_fetched_under_the_same_rules_with_a_64_kib_bound() {
    let six_kb = format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(6 * 1024));
    let server = serve(response("200 OK", &[], &six_kb), Duration::ZERO).await;
    let fetcher = HttpMetadataFetcher::new(loopback_config());
    let url = format!("http://127.0.0.1:{}/jwks.json", server.port);
    assert_eq!(
        fetcher.fetch_jwks_url(&url).await,
        Ok(six_kb.clone().into_bytes())
    );
    assert_eq!(fetcher.fetch_url(&url).await, Err(FetchError::TooLarge));

    let huge = format!(r#"{{"keys":[],"pad":"{}"}}"#, "a".repeat(65 * 1024));
    let server = serve(response("200 OK", &[], &huge), Duration::ZERO).await;
    let url = format!("http://127.0.0.1:{}/jwks.json", server.port);
    assert_eq!(
        fetcher.fetch_jwks_url(&url).await,
        Err(FetchError::TooLarge)
    );

    let strict = HttpMetadataFetcher::new(FetcherConfig::default());
    let https_loopback = format!("https://127.0.0.1:{}/jwks.json", server.port);
    assert!(matches!(
        strict.fetch_jwks_url(&https_loopback).await,
        Err(FetchError::Refused(_))
    ));
    assert_eq!(server.hits(), 1, "the refused fetch never connected");
}

/// A failed fetch is remembered for `failure_ttl`: the same URL asked for
/// again gets the same error without a new connection, so a client naming
/// a failing `client_id` over and over makes this server connect out once.
#[tokio::test]
async fn security_failed_fetches_are_remembered_for_the_failure_ttl() {
    for (status, code) in [("404 Not Found", 404), ("500 Internal Server Error", 500)] {
        let server = serve(response(status, &[], ""), Duration::ZERO).await;
        let fetcher = HttpMetadataFetcher::new(loopback_config());
        for _ in 0..5 {
            assert_eq!(
                fetcher.fetch(&server.url()).await,
                Err(FetchError::Status(code))
            );
        }
        assert_eq!(server.hits(), 1, "{status}");
    }
    // A slow host too: one timeout, then answered from memory at once.
    let server = serve(response("200 OK", &[], DOCUMENT), Duration::from_secs(3)).await;
    let mut config = loopback_config();
    config.timeout = Duration::from_millis(300);
    let fetcher = HttpMetadataFetcher::new(config);
    assert_eq!(fetcher.fetch(&server.url()).await, Err(FetchError::Timeout));
    let started = std::time::Instant::now();
    assert_eq!(fetcher.fetch(&server.url()).await, Err(FetchError::Timeout));
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(server.hits(), 1);
    // With no failure lifetime every attempt connects.
    let server = serve(response("404 Not Found", &[], ""), Duration::ZERO).await;
    let mut config = loopback_config();
    config.failure_ttl = Duration::ZERO;
    let fetcher = HttpMetadataFetcher::new(config);
    for _ in 0..3 {
        assert_eq!(
            fetcher.fetch(&server.url()).await,
            Err(FetchError::Status(404))
        );
    }
    assert_eq!(server.hits(), 3);
}

/// Fetches that are not cached (`no-store`) still start at most
/// `fetches_per_host_per_minute` a minute to one host and
/// `fetches_per_minute` overall; past that they are refused before any
/// connection.
#[tokio::test]
async fn security_outgoing_fetches_are_rate_limited_per_host_and_overall() {
    let uncached = response("200 OK", &["Cache-Control: no-store"], DOCUMENT);
    let server = serve(uncached.clone(), Duration::ZERO).await;
    let mut config = loopback_config();
    config.fetches_per_host_per_minute = 3;
    let fetcher = HttpMetadataFetcher::new(config);
    for _ in 0..3 {
        assert!(fetcher.fetch(&server.url()).await.is_ok());
    }
    assert_eq!(
        fetcher.fetch(&server.url()).await,
        Err(FetchError::Refused("fetch rate limit"))
    );
    assert_eq!(server.hits(), 3);

    let server = serve(uncached, Duration::ZERO).await;
    let mut config = loopback_config();
    config.fetches_per_minute = 4;
    let fetcher = HttpMetadataFetcher::new(config);
    for n in 0..4 {
        let url = format!("http://127.0.0.1:{}/client-{n}.json", server.port);
        assert!(fetcher.fetch_url(&url).await.is_ok());
    }
    // Another host is refused too: the overall rate is spent.
    let other = format!("http://localhost:{}/client.json", server.port);
    assert_eq!(
        fetcher.fetch_url(&other).await,
        Err(FetchError::Refused("fetch rate limit"))
    );
    assert_eq!(server.hits(), 4);
}

/// At most `max_concurrent_per_host` fetches are in flight to one host
/// (more are refused at once), and at most `max_concurrent` overall (more
/// wait up to half the timeout, then are refused); slots free up when
/// fetches end.
#[tokio::test]
async fn security_fetches_in_flight_are_limited_per_host_and_overall() {
    let server = serve(
        response("200 OK", &["Cache-Control: no-store"], DOCUMENT),
        Duration::from_millis(500),
    )
    .await;
    let mut config = loopback_config();
    config.max_concurrent_per_host = 1;
    let fetcher = Arc::new(HttpMetadataFetcher::new(config));
    let url = |n: u32| format!("http://127.0.0.1:{}/c{n}.json", server.port);
    let first = {
        let (fetcher, url) = (Arc::clone(&fetcher), url(1));
        tokio::spawn(async move { fetcher.fetch_url(&url).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fetcher.fetch_url(&url(2)).await,
        Err(FetchError::Refused(
            "too many fetches in flight to this host"
        ))
    );
    assert!(first.await.expect("task").is_ok());
    assert!(
        fetcher.fetch_url(&url(3)).await.is_ok(),
        "the slot was freed"
    );

    let mut config = loopback_config();
    config.max_concurrent = 1;
    config.timeout = Duration::from_millis(400);
    let fetcher = Arc::new(HttpMetadataFetcher::new(config));
    let first = {
        let (fetcher, url) = (Arc::clone(&fetcher), url(4));
        tokio::spawn(async move { fetcher.fetch_url(&url).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        fetcher.fetch_url(&url(5)).await,
        Err(FetchError::Refused("too many fetches in flight"))
    );
    assert_eq!(first.await.expect("task"), Err(FetchError::Timeout));
}
