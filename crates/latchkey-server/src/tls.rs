//! Serving over TLS (rustls) when `tls.cert` and `tls.key` are configured.
//!
//! The certificate chain and the private key are PEM files (the chain starts
//! with the server's certificate; the key is PKCS#8, SEC1 or PKCS#1). Only
//! HTTP/1.1 is offered (ALPN `http/1.1`), with rustls' default protocol
//! versions (TLS 1.2 and 1.3) and cipher suites. A handshake that takes more
//! than [`HANDSHAKE_TIMEOUT`] is dropped. Connections are served by the same
//! loop as plain http, under the same limits ([`crate::http_limits`]). On
//! shutdown, connections in flight finish their current request first.
//!
//! Not done: certificate reloading without a restart, client certificates,
//! HTTP/2.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig as RustlsConfig;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::ServerError;
use crate::http_limits::{self, HttpLimits};

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TLS acceptor for the PEM certificate chain at `cert` and key at `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ServerError> {
    let problem = |path: &Path, problem| ServerError::TlsFile {
        path: path.display().to_string(),
        problem,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|_| problem(cert, "could not be read"))?
        .collect::<Result<_, _>>()
        .map_err(|_| problem(cert, "is not a PEM certificate chain"))?;
    if chain.is_empty() {
        return Err(problem(cert, "holds no certificate"));
    }
    let private_key =
        PrivateKeyDer::from_pem_file(key).map_err(|_| problem(key, "is not a PEM private key"))?;
    let mut config = RustlsConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|_| problem(key, "does not match the certificate"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS on `listener` with the default [`HttpLimits`]
/// until `shutdown` completes, then waits for the connections in flight
/// (see [`crate::http_limits::serve`], which plain http shares).
pub async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    shutdown: impl Future<Output = ()>,
) {
    http_limits::serve(
        listener,
        Some(acceptor),
        app,
        HttpLimits::default(),
        shutdown,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn data(name: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")).join(name)
    }

    #[test]
    fn loads_the_test_certificate() {
        assert!(acceptor(&data("cert.pem"), &data("key.pem")).is_ok());
    }

    #[test]
    fn refuses_swapped_or_missing_files() {
        let error = acceptor(&data("key.pem"), &data("key.pem")).err().unwrap();
        assert!(matches!(
            error,
            ServerError::TlsFile {
                problem: "holds no certificate",
                ..
            }
        ));
        let error = acceptor(&data("cert.pem"), &data("cert.pem"))
            .err()
            .unwrap();
        assert!(matches!(
            error,
            ServerError::TlsFile {
                problem: "is not a PEM private key",
                ..
            }
        ));
        let error = acceptor(&data("nope.pem"), &data("key.pem")).err().unwrap();
        assert!(matches!(
            error,
            ServerError::TlsFile {
                problem: "could not be read",
                ..
            }
        ));
    }
}
