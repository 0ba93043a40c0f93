//! A standard authorization server that is not Latchkey, for the
//! foreign-issuer tests: node-oidc-provider (a test peer, `e2e/foreign-issuer/`)
//! started on a loopback port, and the client-credentials, revocation and
//! crafting helpers those tests need.
//!
//! When `node` or `e2e/foreign-issuer/node_modules` is missing, [`ForeignIssuer::start`]
//! prints why and returns `None` so that a developer without Node can still
//! run the suite; with the `CI` environment variable set it panics instead,
//! so CI never skips these tests silently.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

use crate::client::{Request, send};

/// A running node-oidc-provider; stopped when dropped.
pub struct ForeignIssuer {
    child: Child,
    /// Its issuer identifier, `http://127.0.0.1:<port>`.
    pub issuer: String,
}

impl Drop for ForeignIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The npm project holding the provider.
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e/foreign-issuer")
}

impl ForeignIssuer {
    /// Starts the provider signing JWT access tokens with `alg` (`RS256` or
    /// `PS256`) and waits until its discovery document answers. `None` (after
    /// printing why) when Node or the npm install is missing outside CI.
    pub async fn start(alg: &str) -> Option<Self> {
        let dir = project_dir();
        let node_present = Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        let installed = dir.join("node_modules/oidc-provider").is_dir();
        if !node_present || !installed {
            let why = if node_present {
                "run `npm ci` in e2e/foreign-issuer"
            } else {
                "node is not installed"
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "foreign-issuer tests cannot run in CI: {why}"
            );
            println!("skipping the foreign-issuer tests: {why}");
            return None;
        }
        let port = free_port();
        let child = Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .arg(alg)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let issuer = format!("http://127.0.0.1:{port}");
        let started = Self { child, issuer };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Some(started);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("node-oidc-provider did not start on port {port}");
    }

    /// An access token for `resource` with `scope`, by the client credentials
    /// grant as `client` (`jwt-client` for a JWT, `opaque-client` for an
    /// opaque token; RFC 6749 section 4.4, RFC 8707 section 2).
    pub async fn token(&self, client: &str, resource: &str, scope: &str) -> String {
        let response = send(
            &self.issuer,
            &Request::new("POST", "/token")
                .header("Authorization", &basic(client))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("resource", resource),
                    ("scope", scope),
                ]),
        )
        .await;
        assert_eq!(response.status, 200, "token request: {}", response.text());
        response.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Revokes `token` as `client` (RFC 7009 section 2.1).
    pub async fn revoke(&self, client: &str, token: &str) {
        let response = send(
            &self.issuer,
            &Request::new("POST", "/token/revocation")
                .header("Authorization", &basic(client))
                .form(&[("token", token), ("token_type_hint", "access_token")]),
        )
        .await;
        assert_eq!(response.status, 200, "revocation: {}", response.text());
    }
}

/// The client the resource server introspects as, and its secret.
pub const INTROSPECTION_CLIENT: (&str, &str) = ("resource-server", "resource-server-secret");

/// `Authorization: Basic` for the provider's static `client` (secret `<client>-secret`).
pub fn basic(client: &str) -> String {
    format!(
        "Basic {}",
        Base64::encode_string(format!("{client}:{client}-secret").as_bytes())
    )
}

/// `token` with the last character of its payload changed (the signature
/// no longer matches).
pub fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = decode_part(&parts[1]);
    let mut claims: serde_json::Value = serde_json::from_slice(&payload).expect("claims");
    claims["scope"] = serde_json::json!("notes:read notes:write mcp:read admin");
    parts[1] = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    parts.join(".")
}

/// `token`'s claims under a header `{"alg":"none","typ":"at+jwt"}` and an
/// empty signature (RFC 7519 section 6.1, refused by RFC 8725 section 3.1).
pub fn unsigned(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"none","typ":"at+jwt"}"#);
    format!("{header}.{payload}.")
}

/// `token`'s `exp` claim.
pub fn expiry(token: &str) -> u64 {
    let payload = decode_part(token.split('.').nth(1).expect("payload"));
    let claims: serde_json::Value = serde_json::from_slice(&payload).expect("claims");
    claims["exp"].as_u64().expect("exp")
}

fn decode_part(part: &str) -> Vec<u8> {
    Base64UrlUnpadded::decode_vec(part).expect("base64url")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// `tools/call whoami` at `{base}/mcp` of an example MCP server with
/// `token`: the status of the answer.
pub async fn whoami(base: &str, token: &str) -> u16 {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": { "name": "whoami", "arguments": {} },
    });
    let request = Request::new("POST", "/mcp")
        .header("Accept", "application/json, text/event-stream")
        .header("MCP-Protocol-Version", "2025-11-25")
        .header("Authorization", &format!("Bearer {token}"))
        .json(&body);
    send(base, &request).await.status
}

/// What each example must do with `provider`'s tokens, serving at `base`
/// (`{base}/mcp` is its resource): accept its JWT and its opaque token
/// (introspected), refuse one for another audience, one from `other`, a
/// tampered one, an `alg: none` one and the opaque one once revoked.
pub async fn example_checks(provider: &ForeignIssuer, other: &ForeignIssuer, base: &str) {
    let resource = format!("{base}/mcp");
    let elsewhere = "http://127.0.0.1:1/other";
    let token = provider.token("jwt-client", &resource, "notes:read").await;
    assert_eq!(whoami(base, &token).await, 200, "own token");
    let foreign = provider.token("jwt-client", elsewhere, "notes:read").await;
    assert_eq!(whoami(base, &foreign).await, 401, "another audience");
    let other_issuer = other.token("jwt-client", &resource, "notes:read").await;
    assert_eq!(whoami(base, &other_issuer).await, 401, "another issuer");
    assert_eq!(whoami(base, &tampered(&token)).await, 401, "tampered");
    assert_eq!(whoami(base, &unsigned(&token)).await, 401, "alg none");
    let opaque = provider
        .token("opaque-client", &resource, "notes:read")
        .await;
    assert_eq!(whoami(base, &opaque).await, 200, "opaque, introspected");
    provider.revoke("opaque-client", &opaque).await;
    assert_eq!(whoami(base, &opaque).await, 401, "revoked");
}
