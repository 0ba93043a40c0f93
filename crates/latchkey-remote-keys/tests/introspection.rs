//! `RemoteIntrospection` against a loopback HTTP server: the request it sends
//! (RFC 7662 section 2.1, `client_secret_basic` as RFC 6749 section 2.3.1
//! says), the endpoint found in the metadata (RFC 8414 section 2), and every
//! failure an error, never an answer (fail closed).
#![cfg(feature = "http")]

use std::sync::{Arc, Mutex, PoisonError};

use latchkey_remote_keys::{Introspect, KeysError, RemoteIntrospection};
use latchkey_types::{ClientId, SecretString};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server answering every request with `status` and `body`, and
/// keeping the last request as received (head and body).
async fn server(status: u16, body: Vec<u8>) -> (String, Arc<Mutex<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(String::new()));
    let last = Arc::clone(&seen);
    let issuer = base.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Head, then as many body bytes as Content-Length says.
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
                let text = String::from_utf8_lossy(&request).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|line| {
                            let (name, value) = line.split_once(':')?;
                            name.eq_ignore_ascii_case("content-length")
                                .then(|| value.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let text = String::from_utf8_lossy(&request).into_owned();
            *last.lock().unwrap_or_else(PoisonError::into_inner) = text.clone();
            let body = if text.contains("/.well-known/oauth-authorization-server") {
                json!({
                    "issuer": issuer,
                    "response_types_supported": ["code"],
                    "introspection_endpoint": format!("{issuer}/introspect"),
                })
                .to_string()
                .into_bytes()
            } else {
                body.clone()
            };
            let status = if text.contains("/.well-known/") {
                200
            } else {
                status
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(&body).await;
            let _ = stream.shutdown().await;
        }
    });
    (base, seen)
}

fn client() -> ClientId {
    ClientId::parse("resource-server").expect("client id")
}

fn secret() -> SecretString {
    SecretString::new("s3cret value".to_owned())
}

#[tokio::test]
async fn rfc_7662_section_2_1_the_request_posts_the_token_with_basic_credentials() {
    let (base, seen) = server(200, br#"{"active":false}"#.to_vec()).await;
    let remote =
        RemoteIntrospection::new(&format!("{base}/introspect"), client(), &secret()).unwrap();
    let body = remote.introspect("opaque+token/1").await.unwrap();
    assert_eq!(body, br#"{"active":false}"#);
    let request = seen.lock().unwrap().clone();
    assert!(
        request.starts_with("POST /introspect HTTP/1.1\r\n"),
        "{request}"
    );
    let lower = request.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/x-www-form-urlencoded\r\n"),
        "{request}"
    );
    // base64("resource-server:s3cret+value")
    assert!(
        request.contains("authorization: Basic cmVzb3VyY2Utc2VydmVyOnMzY3JldCt2YWx1ZQ==\r\n"),
        "{request}"
    );
    assert!(
        request.ends_with("\r\n\r\ntoken=opaque%2Btoken%2F1&token_type_hint=access_token"),
        "{request}"
    );
}

#[tokio::test]
async fn rfc_8414_section_2_the_endpoint_is_read_from_the_metadata() {
    let (base, seen) = server(200, br#"{"active":true}"#.to_vec()).await;
    let remote = RemoteIntrospection::discover(&base, client(), &secret())
        .await
        .unwrap();
    assert_eq!(remote.endpoint(), format!("{base}/introspect"));
    remote.introspect("t").await.unwrap();
    assert!(seen.lock().unwrap().starts_with("POST /introspect "));
}

#[tokio::test]
async fn metadata_without_an_introspection_endpoint_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let document = json!({"issuer": base, "response_types_supported": ["code"]}).to_string();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                document.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(document.as_bytes()).await;
        }
    });
    assert_eq!(
        RemoteIntrospection::discover(&base, client(), &secret())
            .await
            .unwrap_err(),
        KeysError::IntrospectionEndpoint
    );
}

#[tokio::test]
async fn rfc_7662_section_2_3_a_status_other_than_200_is_an_error() {
    for status in [401u16, 500, 302] {
        let (base, _) = server(status, br#"{"active":true}"#.to_vec()).await;
        let remote =
            RemoteIntrospection::new(&format!("{base}/introspect"), client(), &secret()).unwrap();
        assert_eq!(
            remote.introspect("t").await.unwrap_err(),
            KeysError::Status(status)
        );
    }
}

#[tokio::test]
async fn an_oversized_answer_is_an_error() {
    let body = vec![b' '; RemoteIntrospection::MAX_RESPONSE_LEN + 1];
    let (base, _) = server(200, body).await;
    let remote =
        RemoteIntrospection::new(&format!("{base}/introspect"), client(), &secret()).unwrap();
    assert_eq!(
        remote.introspect("t").await.unwrap_err(),
        KeysError::TooLarge
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let remote =
        RemoteIntrospection::new(&format!("http://{address}/introspect"), client(), &secret())
            .unwrap();
    assert_eq!(
        remote.introspect("t").await.unwrap_err(),
        KeysError::Connection
    );
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_that_never_answers_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                std::future::pending::<()>().await;
            });
        }
    });
    let remote =
        RemoteIntrospection::new(&format!("http://{address}/introspect"), client(), &secret())
            .unwrap();
    assert_eq!(
        remote.introspect("t").await.unwrap_err(),
        KeysError::Timeout
    );
}
