//! `Fetcher` against local servers on 127.0.0.1, with an injected resolver
//! where a name must resolve to an address of the test's choosing (CIMD draft
//! sections 6.5 and 6.6, RFC 9728 section 7.7).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions: a failure is the test failing"
)]

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use latchkey_fetch::{
    BasicCredentials, FetchError, Fetcher, Policy, Resolve, Resolving, SpecialPurpose,
    USER_AGENT_VALUE,
};
use latchkey_types::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// How the test server answers.
#[derive(Clone)]
enum Answer {
    /// These bytes, then close.
    Raw(Vec<u8>),
    /// A `200` head without length, then `chunk` over and over until the
    /// client goes away; counts the bytes it managed to write.
    Endless(Arc<AtomicUsize>),
    /// A `200` head promising 100 bytes, 10 of them, then nothing.
    Stall,
}

/// A server on 127.0.0.1 that answers every connection with one `Answer` and
/// keeps each request (head and body) it read.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    async fn start(answer: Answer) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, seen) = (answer.clone(), Arc::clone(&seen));
                tokio::spawn(async move { serve(stream, answer, seen).await });
            }
        });
        Self { port, requests }
    }

    fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    fn request(&self) -> String {
        self.requests
            .lock()
            .unwrap()
            .first()
            .cloned()
            .unwrap_or_default()
    }
}

async fn serve(mut stream: TcpStream, answer: Answer, seen: Arc<Mutex<Vec<String>>>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&request).into_owned());
    match answer {
        Answer::Raw(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Answer::Endless(written) => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await;
            let chunk = vec![b'a'; 16 * 1024];
            while stream.write_all(&chunk).await.is_ok() {
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
        Answer::Stall => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
                .await;
            std::future::pending::<()>().await;
        }
    }
}

fn ok(body: &str, headers: &[&str]) -> Answer {
    let mut out = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(body);
    Answer::Raw(out.into_bytes())
}

/// A resolver that answers from a map and counts its lookups.
struct MapResolver {
    names: HashMap<String, Vec<IpAddr>>,
    lookups: AtomicUsize,
}

impl MapResolver {
    fn new(entries: &[(&str, &[&str])]) -> Arc<Self> {
        let names = entries
            .iter()
            .map(|(name, ips)| {
                let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
                ((*name).to_owned(), ips)
            })
            .collect();
        Arc::new(Self {
            names,
            lookups: AtomicUsize::new(0),
        })
    }
}

impl Resolve for MapResolver {
    fn resolve(&self, host: &str) -> Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .names
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown name"));
        Box::pin(async move { answer })
    }
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn local(port: u16, path: &str) -> Url {
    url(&format!("http://127.0.0.1:{port}{path}"))
}

fn loopback_operator() -> Fetcher {
    Fetcher::new(Policy::operator_configured().danger_allow_loopback_http())
}

#[tokio::test]
async fn a_200_is_read_with_a_fixed_user_agent_json_accept_and_no_cookie() {
    let server = Server::start(ok("{}", &["Set-Cookie: a=b"])).await;
    let fetcher = loopback_operator();
    for _ in 0..2 {
        let response = fetcher
            .get(&local(server.port, "/doc?x=1"), 1024)
            .await
            .unwrap();
        assert_eq!(response.body(), b"{}");
    }
    let requests = server.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2);
    for request in requests {
        let request = request.to_ascii_lowercase();
        assert!(
            request.starts_with("get /doc?x=1 http/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nhost: 127.0.0.1:{}\r\n", server.port)),
            "{request}"
        );
        assert!(
            request.contains("\r\naccept: application/json\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!(
                "\r\nuser-agent: {}\r\n",
                USER_AGENT_VALUE.to_ascii_lowercase()
            )),
            "{request}"
        );
        assert!(
            !request.contains("cookie"),
            "no cookie is ever sent: {request}"
        );
    }
}

#[tokio::test]
async fn mcp_ssrf_a_redirect_is_refused_and_not_followed() {
    let target = Server::start(ok("{}", &[])).await;
    let location = format!("Location: http://127.0.0.1:{}/elsewhere", target.port);
    let server = Server::start(Answer::Raw(
        format!("HTTP/1.1 302 Found\r\n{location}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
    ))
    .await;
    assert_eq!(
        loopback_operator()
            .get(&local(server.port, "/"), 1024)
            .await
            .unwrap_err(),
        FetchError::Redirect(302)
    );
    assert_eq!(server.hits(), 1);
    assert_eq!(target.hits(), 0, "the redirect target was never asked");
}

#[tokio::test]
async fn only_200_is_accepted() {
    for (status, code) in [
        ("404 Not Found", 404),
        ("204 No Content", 204),
        ("500 Oops", 500),
    ] {
        let server = Server::start(Answer::Raw(
            format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ))
        .await;
        assert_eq!(
            loopback_operator()
                .get(&local(server.port, "/"), 1024)
                .await
                .unwrap_err(),
            FetchError::Status(code)
        );
    }
}

#[tokio::test]
async fn cimd_6_6_an_oversize_body_is_cut_off_while_reading() {
    // Declared too long: refused before reading.
    let body = "a".repeat(2048);
    let server = Server::start(ok(&body, &[])).await;
    let fetcher = loopback_operator();
    assert_eq!(
        fetcher
            .get(&local(server.port, "/"), 1024)
            .await
            .unwrap_err(),
        FetchError::TooLarge
    );
    // Exactly the limit is accepted.
    assert_eq!(
        fetcher
            .get(&local(server.port, "/"), 2048)
            .await
            .unwrap()
            .body()
            .len(),
        2048
    );
    // No length, and no end: reading stops past the limit, long before the
    // overall timeout, and the server can write no more than the socket
    // buffers hold.
    let written = Arc::new(AtomicUsize::new(0));
    let server = Server::start(Answer::Endless(Arc::clone(&written))).await;
    let started = Instant::now();
    assert_eq!(
        fetcher
            .get(&local(server.port, "/"), 4096)
            .await
            .unwrap_err(),
        FetchError::TooLarge
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = written.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        written.load(Ordering::SeqCst),
        after,
        "the connection was closed"
    );
    assert!(after < 64 * 1024 * 1024, "{after} bytes written");
}

#[tokio::test]
async fn a_slow_body_times_out_within_the_overall_timeout() {
    let server = Server::start(Answer::Stall).await;
    let fetcher = Fetcher::builder(Policy::operator_configured().danger_allow_loopback_http())
        .timeout(Duration::from_millis(300))
        .build();
    let started = Instant::now();
    assert_eq!(
        fetcher
            .get(&local(server.port, "/"), 1024)
            .await
            .unwrap_err(),
        FetchError::Timeout
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        server.hits(),
        1,
        "the head arrived; the body is what was slow"
    );
}

#[tokio::test]
async fn cimd_6_5_a_name_resolving_to_a_special_address_is_refused_under_the_attacker_policy() {
    let server = Server::start(ok("{}", &[])).await;
    let resolver = MapResolver::new(&[
        ("evil.example", &["127.0.0.1"]),
        ("private.example", &["10.0.0.1"]),
        ("metadata.example", &["169.254.169.254"]),
        ("mapped.example", &["::ffff:127.0.0.1"]),
        ("mixed.example", &["93.184.215.14", "192.168.1.1"]),
    ]);
    let fetcher = Fetcher::builder(Policy::attacker_chosen())
        .resolver(resolver.clone())
        .build();
    for (name, range) in [
        ("evil.example", SpecialPurpose::Loopback),
        ("private.example", SpecialPurpose::Private),
        ("metadata.example", SpecialPurpose::LinkLocal),
        ("mapped.example", SpecialPurpose::Loopback),
        // One refused address refuses the name, whatever else it resolves to.
        ("mixed.example", SpecialPurpose::Private),
    ] {
        let target = url(&format!("https://{name}:{}/client.json", server.port));
        assert_eq!(
            fetcher.get(&target, 1024).await.unwrap_err(),
            FetchError::AddressRefused(range),
            "{name}"
        );
    }
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 5);
    // Plain http is refused before anything resolves.
    assert_eq!(
        fetcher
            .get(&url(&format!("http://evil.example:{}/", server.port)), 1024)
            .await
            .unwrap_err(),
        FetchError::NotHttps
    );
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 5);
    assert_eq!(server.hits(), 0, "nothing was sent");
}

#[tokio::test]
async fn cimd_6_5_ipv4_mapped_and_respelled_loopback_literals_are_refused() {
    let server = Server::start(ok("{}", &[])).await;
    let fetcher = Fetcher::new(Policy::attacker_chosen());
    for (target, range) in [
        (
            format!("https://[::ffff:127.0.0.1]:{}/", server.port),
            SpecialPurpose::Loopback,
        ),
        (
            format!("https://[::ffff:7f00:1]:{}/", server.port),
            SpecialPurpose::Loopback,
        ),
        (
            "https://[::ffff:10.0.0.1]/".to_owned(),
            SpecialPurpose::Private,
        ),
        (
            "https://[::ffff:169.254.169.254]/".to_owned(),
            SpecialPurpose::LinkLocal,
        ),
        (
            format!("https://127.0.0.1:{}/", server.port),
            SpecialPurpose::Loopback,
        ),
        ("https://2130706433/".to_owned(), SpecialPurpose::Loopback),
        ("https://0x7f.1/".to_owned(), SpecialPurpose::Loopback),
        ("https://[::1]/".to_owned(), SpecialPurpose::Loopback),
        ("https://[fd00::1]/".to_owned(), SpecialPurpose::UniqueLocal),
    ] {
        assert_eq!(
            fetcher.get(&url(&target), 1024).await.unwrap_err(),
            FetchError::AddressRefused(range),
            "{target}"
        );
    }
    // Even the operator's loopback allowance does not make a mapped private
    // address loopback.
    let operator = Fetcher::new(Policy::operator_configured().danger_allow_loopback_http());
    assert_eq!(
        operator
            .get(&url("https://[::ffff:10.0.0.1]/"), 1024)
            .await
            .unwrap_err(),
        FetchError::AddressRefused(SpecialPurpose::Private)
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn an_operator_policy_with_loopback_allowed_fetches_from_a_local_issuer() {
    let server = Server::start(ok(r#"{"issuer":"x"}"#, &[])).await;
    let resolver = MapResolver::new(&[("issuer.internal", &["127.0.0.1"])]);
    let fetcher = Fetcher::builder(Policy::operator_configured().danger_allow_loopback_http())
        .resolver(resolver.clone())
        .build();
    let by_name = url(&format!(
        "http://issuer.internal:{}/.well-known/x",
        server.port
    ));
    assert_eq!(
        fetcher.get(&by_name, 1024).await.unwrap().body(),
        br#"{"issuer":"x"}"#
    );
    assert_eq!(
        fetcher
            .get(&local(server.port, "/"), 1024)
            .await
            .unwrap()
            .body(),
        br#"{"issuer":"x"}"#
    );
    // Resolved once per fetch, and connected to the address it gave.
    assert_eq!(resolver.lookups.load(Ordering::SeqCst), 1);
    assert!(
        server
            .request()
            .to_ascii_lowercase()
            .contains(&format!("host: issuer.internal:{}", server.port))
    );
    // The same URLs without the operator's allowance.
    let strict = Fetcher::builder(Policy::operator_configured())
        .resolver(resolver.clone())
        .build();
    assert_eq!(
        strict.get(&by_name, 1024).await.unwrap_err(),
        FetchError::NotHttps
    );
    let https = url(&format!("https://issuer.internal:{}/", server.port));
    assert_eq!(
        strict.get(&https, 1024).await.unwrap_err(),
        FetchError::AddressRefused(SpecialPurpose::Loopback)
    );
    // Plain http only ever to loopback.
    let public = MapResolver::new(&[("issuer.example", &["93.184.215.14"])]);
    let fetcher = Fetcher::builder(Policy::operator_configured().danger_allow_loopback_http())
        .resolver(public)
        .build();
    assert_eq!(
        fetcher
            .get(&url("http://issuer.example/"), 1024)
            .await
            .unwrap_err(),
        FetchError::HttpNotLoopback
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn an_operator_policy_with_private_addresses_allowed_connects_to_a_private_issuer() {
    // 10.255.255.1 on the discard port: nothing serves a document there, so
    // the fetch fails connecting (or, behind a network that accepts every
    // connection, in the TLS handshake), which it only reaches once the
    // address was allowed.
    let resolver = MapResolver::new(&[("issuer.corp", &["10.255.255.1"])]);
    let target = url("https://issuer.corp:9/.well-known/oauth-authorization-server");
    let private = Fetcher::builder(Policy::operator_configured().danger_allow_private_addresses())
        .resolver(resolver.clone())
        .connect_timeout(Duration::from_millis(200))
        .timeout(Duration::from_secs(2))
        .build();
    let error = private.get(&target, 1024).await.unwrap_err();
    assert!(
        matches!(
            error,
            FetchError::Connect | FetchError::Timeout | FetchError::Tls
        ),
        "the private address was connected to: {error:?}"
    );
    for fetcher in [
        Fetcher::builder(Policy::operator_configured())
            .resolver(resolver.clone())
            .build(),
        Fetcher::builder(Policy::attacker_chosen())
            .resolver(resolver.clone())
            .build(),
    ] {
        assert_eq!(
            fetcher.get(&target, 1024).await.unwrap_err(),
            FetchError::AddressRefused(SpecialPurpose::Private),
            "{:?}",
            fetcher.policy()
        );
    }
}

#[tokio::test]
async fn other_schemes_and_userinfo_are_refused_before_any_connection() {
    let server = Server::start(ok("{}", &[])).await;
    let fetcher = loopback_operator();
    assert_eq!(
        fetcher
            .get(&url("ftp://127.0.0.1/x"), 1024)
            .await
            .unwrap_err(),
        FetchError::NotHttps
    );
    let userinfo = url(&format!("http://user:pw@127.0.0.1:{}/", server.port));
    assert_eq!(
        fetcher.get(&userinfo, 1024).await.unwrap_err(),
        FetchError::UserinfoInUrl
    );
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn https_fails_closed_against_a_plain_text_server() {
    // Answers in plain text at once, without waiting for a request.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await;
            let _ = stream.shutdown().await;
        }
    });
    let target = url(&format!("https://127.0.0.1:{port}/"));
    assert_eq!(
        loopback_operator().get(&target, 1024).await.unwrap_err(),
        FetchError::Tls
    );
}

#[tokio::test]
async fn rfc_6749_section_2_3_1_post_form_sends_the_form_and_basic_credentials() {
    let server = Server::start(ok(r#"{"active":false}"#, &[])).await;
    let credentials = BasicCredentials::new("rs", SecretString::new("s3cr3t".to_owned()));
    let response = loopback_operator()
        .post_form(
            &local(server.port, "/introspect"),
            &[("token", "a b&c"), ("token_type_hint", "access_token")],
            Some(&credentials),
            1024,
        )
        .await
        .unwrap();
    assert_eq!(response.body(), br#"{"active":false}"#);
    let request = server.request();
    assert!(
        request.starts_with("POST /introspect HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("\r\ncontent-type: application/x-www-form-urlencoded\r\n"),
        "{request}"
    );
    // base64("rs:s3cr3t")
    assert!(
        request.contains("\r\nauthorization: Basic cnM6czNjcjN0\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with("\r\n\r\ntoken=a+b%26c&token_type_hint=access_token"),
        "{request}"
    );
}

fn answer(status: &str, body: &str) -> Answer {
    Answer::Raw(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

#[tokio::test]
async fn rfc_6749_section_5_2_a_token_error_body_is_read_only_on_opt_in_and_bounded() {
    let error = r#"{"error":"invalid_grant","error_description":"code expired"}"#;
    for (status, code) in [("400 Bad Request", 400), ("401 Unauthorized", 401)] {
        let server = Server::start(answer(status, error)).await;
        let token = local(server.port, "/token");
        // post_form still drops it.
        assert_eq!(
            loopback_operator()
                .post_form(&token, &[("code", "c")], None, 1024)
                .await
                .unwrap_err(),
            FetchError::Status(code)
        );
        let response = loopback_operator()
            .post_form_reading_errors(&token, &[("code", "c")], None, 1024, 1024)
            .await
            .unwrap();
        assert_eq!(response.status(), code);
        assert_eq!(response.body(), error.as_bytes());
        // Over the error limit: only the status, as before.
        assert_eq!(
            loopback_operator()
                .post_form_reading_errors(&token, &[("code", "c")], None, 1024, 10)
                .await
                .unwrap_err(),
            FetchError::Status(code)
        );
    }
    // Other statuses and redirects are refused as always.
    for (status, refused) in [
        ("500 Oops", FetchError::Status(500)),
        ("403 Forbidden", FetchError::Status(403)),
        ("302 Found", FetchError::Redirect(302)),
    ] {
        let server = Server::start(answer(status, error)).await;
        assert_eq!(
            loopback_operator()
                .post_form_reading_errors(&local(server.port, "/token"), &[], None, 1024, 1024)
                .await
                .unwrap_err(),
            refused
        );
    }
    // A 200 keeps its own limit, and its status.
    let server = Server::start(answer("200 OK", r#"{"access_token":"a"}"#)).await;
    let response = loopback_operator()
        .post_form_reading_errors(&local(server.port, "/token"), &[], None, 1024, 4)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // An error body limit above the crate's maximum is held to it.
    let big = format!(
        r#"{{"error":"invalid_grant","error_description":"{}"}}"#,
        "x".repeat(latchkey_fetch::MAX_ERROR_BODY_LEN)
    );
    let server = Server::start(answer("400 Bad Request", &big)).await;
    assert_eq!(
        loopback_operator()
            .post_form_reading_errors(&local(server.port, "/token"), &[], None, 1024, usize::MAX)
            .await
            .unwrap_err(),
        FetchError::Status(400)
    );
}
