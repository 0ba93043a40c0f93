//! The server over TLS: a real handshake against the test certificate in
//! `tests/data/`, a request, and a graceful shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use latchkey_server::config::ServerConfig;
use latchkey_server::{serve, tls};
use latchkey_store_sqlite::SqliteStore;
use rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn data(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
}

#[tokio::test]
async fn serves_metadata_over_tls_and_shuts_down_gracefully() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let issuer = format!("https://localhost:{port}");
    let dir = std::env::temp_dir().join(format!("latchkey-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let database = dir.join("tls.db");
    let mut config = ServerConfig::default();
    config.apply_env(|name| match name {
        "LATCHKEY_ISSUER" => Some(issuer.clone()),
        "LATCHKEY_DATABASE" => Some(database.display().to_string()),
        "LATCHKEY_TLS_CERT" => Some(data("cert.pem").display().to_string()),
        "LATCHKEY_TLS_KEY" => Some(data("key.pem").display().to_string()),
        _ => None,
    });
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let store = Arc::new(SqliteStore::open(&config.database).await.expect("store"));
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let app = serve::build(
        &config,
        store,
        latchkey_server::now(),
        &mut rng,
        &mut Vec::new(),
    )
    .await
    .expect("build");
    let acceptor = tls::acceptor(&data("cert.pem"), &data("key.pem")).expect("acceptor");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tls::serve(listener, acceptor, app, async {
        let _ = stopped.await;
    }));

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(data("ca.pem")).expect("ca"))
        .expect("root");
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut stream = connector.connect(name, tcp).await.expect("handshake");
    let request = format!(
        "GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: localhost:{port}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    // rustls reports the peer closing without close_notify as an error after the data.
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8(response).expect("utf-8");
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains(&format!("\"issuer\":\"{issuer}\"")));

    stop.send(()).expect("stop");
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("shut down in time")
        .expect("server task");
}
