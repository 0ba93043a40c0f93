//! `RemoteKeys::discover` against loopback HTTP servers: which metadata
//! document is used (RFC 8414 section 3.1, then `openid-configuration` as RFC
//! 8414 section 5 and OpenID Connect Discovery 1.0 section 4 place it), the
//! issuer check for each (RFC 8414 section 3.3, OpenID Connect Discovery 1.0
//! section 4.3), and that only a 404 moves on to the next location.
#![cfg(feature = "http")]

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use latchkey_metadata::{MAX_DOCUMENT_LEN, MetadataError};
use latchkey_remote_keys::{KeyRefresh, KeySource, KeysError, RemoteKeys};
use latchkey_types::UnixTime;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const OAUTH: &str = "/.well-known/oauth-authorization-server";
const OPENID: &str = "/.well-known/openid-configuration";

/// What the test server answers for one path.
enum Reply {
    Json(String),
    Status(u16),
    Redirect(String),
    Bytes(Vec<u8>),
    /// Reads the request, then never answers.
    Hang,
}

/// A loopback HTTP/1.1 server that answers each request by path, one request
/// per connection, and records the paths it was asked for, in order.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Binds `127.0.0.1:0`; `routes` gets the server's base URL (the issuer
    /// of the documents it serves) and returns the answer for a path.
    async fn start<F>(routes: impl FnOnce(&str) -> F) -> Self
    where
        F: Fn(&str) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let routes = Arc::new(routes(&base));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let routes = Arc::clone(&routes);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(path.clone());
                    let (status, extra, body) = match routes(&path) {
                        Reply::Json(body) => (200, String::new(), body.into_bytes()),
                        Reply::Bytes(body) => (200, String::new(), body),
                        Reply::Status(status) => (status, String::new(), Vec::new()),
                        Reply::Redirect(to) => (302, format!("Location: {to}\r\n"), Vec::new()),
                        Reply::Hang => std::future::pending().await,
                    };
                    let head = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(&body).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { base, requests }
    }

    /// The paths asked for so far, in order.
    fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// RFC 8414 section 2: the REQUIRED members and the keys.
fn oauth_document(issuer: &str, jwks_uri: &str) -> String {
    json!({
        "issuer": issuer,
        "response_types_supported": ["code"],
        "jwks_uri": jwks_uri,
    })
    .to_string()
}

/// The OpenID Connect Discovery 1.0 section 4.2 example response, with the
/// `issuer` and `jwks_uri` of the test server.
fn openid_document(issuer: &str, jwks_uri: &str) -> String {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/connect/authorize"),
        "token_endpoint": format!("{issuer}/connect/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "userinfo_endpoint": format!("{issuer}/connect/userinfo"),
        "check_session_iframe": format!("{issuer}/connect/check_session"),
        "end_session_endpoint": format!("{issuer}/connect/end_session"),
        "jwks_uri": jwks_uri,
        "registration_endpoint": format!("{issuer}/connect/register"),
        "scopes_supported": ["openid", "profile", "email", "address", "phone", "offline_access"],
        "response_types_supported": ["code", "code id_token", "id_token", "id_token token"],
        "acr_values_supported": ["urn:mace:incommon:iap:silver", "urn:mace:incommon:iap:bronze"],
        "subject_types_supported": ["public", "pairwise"],
        "userinfo_signing_alg_values_supported": ["RS256", "ES256", "HS256"],
        "userinfo_encryption_alg_values_supported": ["RSA-OAEP-256", "A128KW"],
        "userinfo_encryption_enc_values_supported": ["A128CBC-HS256", "A128GCM"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256"],
        "id_token_encryption_alg_values_supported": ["RSA-OAEP-256", "A128KW"],
        "id_token_encryption_enc_values_supported": ["A128CBC-HS256", "A128GCM"],
        "request_object_signing_alg_values_supported": ["none", "RS256", "ES256"],
        "display_values_supported": ["page", "popup"],
        "claim_types_supported": ["normal", "distributed"],
        "claims_supported": ["sub", "iss", "auth_time", "acr", "name", "given_name",
            "family_name", "nickname", "profile", "picture", "website", "email",
            "email_verified", "locale", "zoneinfo", "http://example.info/claims/groups"],
        "claims_parameter_supported": true,
        "service_documentation": "http://server.example.com/connect/service_documentation.html",
        "ui_locales_supported": ["en-US", "en-GB", "en-CA", "fr-FR", "fr-CA"],
    })
    .to_string()
}

/// A JWK Set of one public key named `kid`: the RFC 7515 appendix A.3 P-256
/// key, or, for `ed`, the RFC 8037 appendix A.2 Ed25519 key.
fn jwks(kid: &str) -> String {
    let key: Value = if kid.starts_with("ed") {
        json!({"kty":"OKP","crv":"Ed25519",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":kid})
    } else {
        json!({"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":kid})
    };
    json!({ "keys": [key] }).to_string()
}

/// Serves `documents` (path, body) and the JWK Sets at `/jwks-<kid>`;
/// everything else is 404.
async fn serving(documents: impl Fn(&str) -> Vec<(String, String)>) -> Server {
    Server::start(|base| {
        let documents = documents(base);
        move |path: &str| {
            if let Some(kid) = path.strip_prefix("/jwks-") {
                return Reply::Json(jwks(kid));
            }
            match documents.iter().find(|(p, _)| p == path) {
                Some((_, body)) => Reply::Json(body.clone()),
                None => Reply::Status(404),
            }
        }
    })
    .await
}

#[tokio::test]
async fn rfc_8414_section_3_1_only_the_oauth_document_is_served() {
    let server = serving(|base| {
        vec![(
            format!("{OAUTH}/tenant"),
            oauth_document(&format!("{base}/tenant"), &format!("{base}/jwks-as")),
        )]
    })
    .await;
    let issuer = format!("{}/tenant", server.base);
    let remote = RemoteKeys::discover(&issuer).await.unwrap();
    assert_eq!(remote.issuer(), issuer);
    assert_eq!(
        remote.metadata_url(),
        format!("{}{OAUTH}/tenant", server.base)
    );
    assert_eq!(remote.jwks_uri(), format!("{}/jwks-as", server.base));
    assert!(remote.fetch().await.unwrap().find("as").is_some());
    assert_eq!(
        server.requests(),
        [format!("{OAUTH}/tenant"), "/jwks-as".into()]
    );
}

#[tokio::test]
async fn openid_connect_discovery_section_4_only_openid_configuration_is_served() {
    // An issuer without a path: the two openid-configuration forms are one URL.
    let server = serving(|base| {
        vec![(
            OPENID.to_owned(),
            openid_document(base, &format!("{base}/jwks-op")),
        )]
    })
    .await;
    let remote = RemoteKeys::discover(&server.base).await.unwrap();
    assert_eq!(remote.metadata_url(), format!("{}{OPENID}", server.base));
    assert!(remote.fetch().await.unwrap().find("op").is_some());
    assert_eq!(
        server.requests(),
        [OAUTH.to_owned(), OPENID.to_owned(), "/jwks-op".into()]
    );

    // An issuer with a path, served only where OpenID Connect Discovery 1.0
    // section 4.1 puts it: appended to the issuer, tried last.
    let server = serving(|base| {
        vec![(
            format!("/tenant{OPENID}"),
            openid_document(&format!("{base}/tenant"), &format!("{base}/jwks-op")),
        )]
    })
    .await;
    let error = RemoteKeys::discover(&format!("{}/tenant/", server.base))
        .await
        .unwrap_err();
    // Byte for byte: the configured issuer has a terminating slash, the
    // document's has none (the URLs tried are the same).
    assert_eq!(error, KeysError::Metadata(MetadataError::IssuerMismatch));
    let remote = RemoteKeys::discover(&format!("{}/tenant", server.base))
        .await
        .unwrap();
    assert_eq!(
        remote.metadata_url(),
        format!("{}/tenant{OPENID}", server.base)
    );
    assert_eq!(
        server.requests()[3..],
        [
            format!("{OAUTH}/tenant"),
            format!("{OPENID}/tenant"),
            format!("/tenant{OPENID}"),
        ]
    );
}

#[tokio::test]
async fn rfc_8414_section_5_the_path_inserted_openid_configuration_comes_before_the_appended_one() {
    let server = serving(|base| {
        let issuer = format!("{base}/tenant");
        vec![
            (
                format!("{OPENID}/tenant"),
                openid_document(&issuer, &format!("{base}/jwks-inserted")),
            ),
            (
                format!("/tenant{OPENID}"),
                openid_document(&issuer, &format!("{base}/jwks-appended")),
            ),
        ]
    })
    .await;
    let remote = RemoteKeys::discover(&format!("{}/tenant", server.base))
        .await
        .unwrap();
    assert_eq!(remote.jwks_uri(), format!("{}/jwks-inserted", server.base));
    assert_eq!(
        server.requests(),
        [format!("{OAUTH}/tenant"), format!("{OPENID}/tenant")]
    );
}

#[tokio::test]
async fn rfc_8414_section_5_both_served_the_oauth_document_wins() {
    let server = serving(|base| {
        vec![
            (
                OAUTH.to_owned(),
                oauth_document(base, &format!("{base}/jwks-as")),
            ),
            (
                OPENID.to_owned(),
                openid_document(base, &format!("{base}/jwks-op")),
            ),
        ]
    })
    .await;
    let remote = RemoteKeys::discover(&server.base).await.unwrap();
    assert_eq!(remote.metadata_url(), format!("{}{OAUTH}", server.base));
    assert_eq!(remote.jwks_uri(), format!("{}/jwks-as", server.base));
    assert_eq!(server.requests(), [OAUTH]);
}

#[tokio::test]
async fn openid_connect_discovery_section_3_a_provider_document_need_not_list_jwt_auth_algorithms()
{
    // What OpenID Providers publish: `private_key_jwt` without
    // token_endpoint_auth_signing_alg_values_supported (OPTIONAL in OpenID
    // Connect Discovery 1.0 section 3, a MUST in RFC 8414 section 2).
    let provider = |base: &str| {
        json!({
            "issuer": base,
            "authorization_endpoint": format!("{base}/authorize"),
            "token_endpoint": format!("{base}/token"),
            "token_endpoint_auth_methods_supported":
                ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/jwks-op"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
        .to_string()
    };
    let server = serving(|base| vec![(OPENID.to_owned(), provider(base))]).await;
    let remote = RemoteKeys::discover(&server.base).await.unwrap();
    assert_eq!(remote.jwks_uri(), format!("{}/jwks-op", server.base));

    // Served as RFC 8414 metadata, the same document breaks RFC 8414 section
    // 2, and discovery ends there.
    let server = serving(|base| {
        vec![
            (OAUTH.to_owned(), provider(base)),
            (OPENID.to_owned(), provider(base)),
        ]
    })
    .await;
    assert_eq!(
        RemoteKeys::discover(&server.base).await.unwrap_err(),
        KeysError::Metadata(MetadataError::SigningAlgsMissing)
    );
    assert_eq!(server.requests(), [OAUTH]);
}

#[tokio::test]
async fn rfc_8414_section_3_3_an_oauth_document_for_another_issuer_is_refused_not_skipped() {
    let server = serving(|base| {
        vec![
            (
                OAUTH.to_owned(),
                oauth_document("https://evil.example", &format!("{base}/jwks-evil")),
            ),
            (
                OPENID.to_owned(),
                openid_document(base, &format!("{base}/jwks-op")),
            ),
        ]
    })
    .await;
    assert_eq!(
        RemoteKeys::discover(&server.base).await.unwrap_err(),
        KeysError::Metadata(MetadataError::IssuerMismatch)
    );
    assert_eq!(
        server.requests(),
        [OAUTH],
        "no fall-through to openid-configuration"
    );
}

#[tokio::test]
async fn openid_connect_discovery_section_4_3_an_openid_configuration_for_another_issuer_is_refused()
 {
    // Without a path: the only openid-configuration URL names another issuer.
    let server = serving(|base| {
        vec![(
            OPENID.to_owned(),
            openid_document(&format!("{base}/other"), &format!("{base}/jwks-op")),
        )]
    })
    .await;
    assert_eq!(
        RemoteKeys::discover(&server.base).await.unwrap_err(),
        KeysError::Metadata(MetadataError::IssuerMismatch)
    );
    assert_eq!(server.requests(), [OAUTH, OPENID]);

    // With a path: the path-inserted document is for another issuer, and the
    // appended one, correct as it is, is never asked for.
    let server = serving(|base| {
        vec![
            (
                format!("{OPENID}/tenant"),
                openid_document(base, &format!("{base}/jwks-evil")),
            ),
            (
                format!("/tenant{OPENID}"),
                openid_document(&format!("{base}/tenant"), &format!("{base}/jwks-op")),
            ),
        ]
    })
    .await;
    assert_eq!(
        RemoteKeys::discover(&format!("{}/tenant", server.base))
            .await
            .unwrap_err(),
        KeysError::Metadata(MetadataError::IssuerMismatch)
    );
    assert_eq!(
        server.requests(),
        [format!("{OAUTH}/tenant"), format!("{OPENID}/tenant")]
    );
}

#[tokio::test]
async fn rfc_8414_section_5_only_a_404_moves_on_to_openid_configuration() {
    // Each failure of the RFC 8414 document ends discovery with its own
    // error, although a good openid-configuration is served.
    type Answer = fn(&str) -> Reply;
    let cases: [(&str, Answer, KeysError); 8] = [
        (
            "malformed json",
            |_| Reply::Json("{\"issuer\":".into()),
            KeysError::Metadata(MetadataError::InvalidJson),
        ),
        (
            "duplicate issuer",
            |base| {
                Reply::Json(format!(
                    r#"{{"issuer":"{base}","issuer":"{base}","response_types_supported":["code"]}}"#
                ))
            },
            KeysError::Metadata(MetadataError::DuplicateMember),
        ),
        (
            "no jwks_uri",
            |base| {
                Reply::Json(
                    json!({"issuer": base, "response_types_supported": ["code"]}).to_string(),
                )
            },
            KeysError::JwksUri,
        ),
        (
            "redirect",
            |base| Reply::Redirect(format!("{base}{OPENID}")),
            KeysError::Status(302),
        ),
        (
            "oversized",
            |_| Reply::Bytes(vec![b' '; MAX_DOCUMENT_LEN + 1]),
            KeysError::TooLarge,
        ),
        (
            "server error",
            |_| Reply::Status(500),
            KeysError::Status(500),
        ),
        ("gone", |_| Reply::Status(410), KeysError::Status(410)),
        ("forbidden", |_| Reply::Status(403), KeysError::Status(403)),
    ];
    for (case, first, expected) in cases {
        let server = Server::start(|base| {
            let base = base.to_owned();
            let openid = openid_document(&base, &format!("{base}/jwks-op"));
            move |path: &str| match path {
                OAUTH => first(&base),
                OPENID => Reply::Json(openid.clone()),
                _ => Reply::Status(404),
            }
        })
        .await;
        assert_eq!(
            RemoteKeys::discover(&server.base).await.unwrap_err(),
            expected,
            "{case}"
        );
        assert_eq!(server.requests(), [OAUTH], "{case}: no fall-through");
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_on_the_oauth_document_does_not_fall_through() {
    let server = Server::start(|base| {
        let openid = openid_document(base, &format!("{base}/jwks-op"));
        move |path: &str| match path {
            OAUTH => Reply::Hang,
            OPENID => Reply::Json(openid.clone()),
            _ => Reply::Status(404),
        }
    })
    .await;
    assert_eq!(
        RemoteKeys::discover(&server.base).await.unwrap_err(),
        KeysError::Timeout
    );
    assert!(
        !server.requests().iter().any(|path| path == OPENID),
        "{:?}",
        server.requests()
    );
}

#[tokio::test]
async fn rfc_8414_section_5_when_every_location_is_404_the_answer_is_404() {
    let server = serving(|_| Vec::new()).await;
    assert_eq!(
        RemoteKeys::discover(&format!("{}/tenant", server.base))
            .await
            .unwrap_err(),
        KeysError::Status(404)
    );
    assert_eq!(
        server.requests(),
        [
            format!("{OAUTH}/tenant"),
            format!("{OPENID}/tenant"),
            format!("/tenant{OPENID}"),
        ]
    );
}

#[tokio::test]
async fn keys_found_through_openid_configuration_are_fetched_again_at_most_once_per_interval() {
    let current = Arc::new(Mutex::new("op-1".to_owned()));
    let served = Arc::clone(&current);
    let server = Server::start(move |base| {
        let openid = openid_document(base, &format!("{base}/jwks"));
        move |path: &str| match path {
            OPENID => Reply::Json(openid.clone()),
            "/jwks" => Reply::Json(jwks(&served.lock().unwrap_or_else(PoisonError::into_inner))),
            _ => Reply::Status(404),
        }
    })
    .await;
    let remote = RemoteKeys::discover(&server.base).await.unwrap();
    assert!(remote.fetch().await.unwrap().find("op-1").is_some());

    // The authorization server rotates its key; a token names the new kid.
    *current.lock().unwrap() = "op-2".to_owned();
    let refresh = KeyRefresh::new(
        Arc::new(remote) as Arc<dyn KeySource>,
        Duration::from_secs(60),
    );
    let at = |secs: u64| UnixTime::from_secs(1_700_000_000 + secs);
    let jwks_fetches = || server.requests().iter().filter(|p| *p == "/jwks").count();
    let rotated = refresh.fetch_if_due(at(0), "https://rs.example").await;
    assert!(rotated.unwrap().find("op-2").is_some());
    assert_eq!(jwks_fetches(), 2);
    // More unknown kids within the interval do not reach the server.
    for secs in [1, 30, 59] {
        assert!(
            refresh
                .fetch_if_due(at(secs), "https://rs.example")
                .await
                .is_none()
        );
    }
    assert_eq!(jwks_fetches(), 2);
    assert!(
        refresh
            .fetch_if_due(at(60), "https://rs.example")
            .await
            .is_some()
    );
    assert_eq!(jwks_fetches(), 3);
    // The metadata was read once, at discovery.
    assert_eq!(server.requests().iter().filter(|p| *p == OPENID).count(), 1);
}
