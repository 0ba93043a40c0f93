//! Your own MCP server on actix-web, protected by `latchkey-actix` against a
//! separate Latchkey authorization server (see the library docs for what it
//! assembles).
//!
//! # Running it
//!
//! The authorization server must list this server's URL as a resource, with
//! the scopes it uses, exactly as clients reach it:
//!
//! ```toml
//! [[resources]]
//! uri = "http://127.0.0.1:3001/mcp"
//! scopes = ["notes:read", "notes:write"]
//! default_scope = ["notes:read"]
//! ```
//!
//! `examples/authorization-server-only/latchkey.toml` has that entry. From
//! the repository root:
//!
//! ```sh
//! # 1. The authorization server (http://127.0.0.1:8080), and a client for curl.
//! CONFIG=examples/authorization-server-only/latchkey.toml
//! cargo run -p latchkey-server -- --config $CONFIG serve &
//! cargo run -p latchkey-server -- --config $CONFIG clients add --id notes-cli \
//!     --auth-method client_secret_post --client-credentials --scope "notes:read notes:write"
//! # (prints the client secret once)
//!
//! # 2. This server on http://127.0.0.1:3001/mcp.
//! cargo run -p actix-resource-server &
//!
//! # 3. A token for this server, then a tool call.
//! TOKEN=$(curl -s http://127.0.0.1:8080/token -d grant_type=client_credentials \
//!     -d client_id=notes-cli -d client_secret=SECRET \
//!     -d resource=http://127.0.0.1:3001/mcp -d scope=notes:read | jq -r .access_token)
//! curl -i http://127.0.0.1:3001/mcp -H "Authorization: Bearer $TOKEN" \
//!     -H 'Content-Type: application/json' -H 'MCP-Protocol-Version: 2025-11-25' \
//!     -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
//! ```
//!
//! Without the header the answer is `401` with `WWW-Authenticate: Bearer
//! resource_metadata="http://127.0.0.1:3001/.well-known/oauth-protected-resource/mcp"`;
//! `add_note` with that `notes:read` token is `403 insufficient_scope`
//! naming `notes:read notes:write`; a token asked for
//! `resource=http://127.0.0.1:3000/mcp` (the axum example) is `401
//! invalid_token` here.
//!
//! Options (or the environment variables in brackets): `--issuer`
//! [`NOTES_ISSUER`], default `http://127.0.0.1:8080`; `--resource`
//! [`NOTES_RESOURCE`], default `http://127.0.0.1:3001/mcp`; `--bind`
//! [`NOTES_BIND`], default `127.0.0.1:3001`; `--allowed-origin` (repeat)
//! [`NOTES_ALLOWED_ORIGINS`, comma-separated] for browser clients.
//!
//! Another authorization server (see `docs/other-authorization-servers.md`):
//! `--algorithm` [`NOTES_ALGORITHMS`, comma-separated], default `ES256`, e.g.
//! `RS256,PS256`; for opaque tokens `--introspection opaque` (or `only` for
//! every token) [`NOTES_INTROSPECTION`] with `--introspection-client-id`
//! [`NOTES_INTROSPECTION_CLIENT_ID`] and the secret in
//! [`NOTES_INTROSPECTION_CLIENT_SECRET`] (`client_secret_basic` at the
//! issuer's `introspection_endpoint`), answers trusted for
//! `--introspection-cache-ttl` seconds [`NOTES_INTROSPECTION_CACHE_TTL`],
//! default 60.

use actix_resource_server::{
    IntrospectionSettings, Notes, Settings, configure, metadata, resource_server,
};
use actix_web::{App, HttpServer};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use latchkey_actix::IntrospectionMode;
use latchkey_jose::Algorithm;
use latchkey_types::{ClientId, SecretString};
use latchkey_uri::ResourceUri;

/// The notes MCP server, protected by a separate Latchkey.
#[derive(Debug, Parser)]
struct Options {
    /// The authorization server's issuer identifier.
    #[arg(long, env = "NOTES_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// This server's MCP endpoint URL, as the authorization server names it.
    #[arg(
        long,
        env = "NOTES_RESOURCE",
        default_value = "http://127.0.0.1:3001/mcp"
    )]
    resource: String,
    /// The address to listen on.
    #[arg(long, env = "NOTES_BIND", default_value = "127.0.0.1:3001")]
    bind: String,
    /// A browser origin allowed to call the endpoint.
    #[arg(
        long = "allowed-origin",
        env = "NOTES_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// The JWS algorithms access tokens may be signed with (ES256, ES384,
    /// EdDSA, RS256, PS256); by default ES256.
    #[arg(
        long = "algorithm",
        env = "NOTES_ALGORITHMS",
        value_delimiter = ',',
        default_value = "ES256"
    )]
    algorithms: Vec<String>,
    /// Token introspection at the issuer (RFC 7662): `off`, `opaque` (tokens
    /// that are not JWTs) or `only` (every token).
    #[arg(long, env = "NOTES_INTROSPECTION", default_value = "off")]
    introspection: String,
    /// This server's client id at the issuer's introspection endpoint.
    #[arg(long, env = "NOTES_INTROSPECTION_CLIENT_ID")]
    introspection_client_id: Option<String>,
    /// Its client secret (prefer the environment variable).
    #[arg(
        long,
        env = "NOTES_INTROSPECTION_CLIENT_SECRET",
        hide_env_values = true
    )]
    introspection_client_secret: Option<String>,
    /// Seconds an active introspection answer is trusted (0: ask every time).
    #[arg(long, env = "NOTES_INTROSPECTION_CACHE_TTL", default_value_t = 60)]
    introspection_cache_ttl: u64,
}

impl Options {
    /// The algorithms, each name checked.
    fn algorithms(&self) -> Result<Vec<Algorithm>, String> {
        self.algorithms
            .iter()
            .map(|name| Algorithm::parse(name).map_err(|_| format!("unknown algorithm {name}")))
            .collect()
    }

    /// The introspection settings, when introspection is on.
    fn introspection(&self) -> Result<Option<IntrospectionSettings>, String> {
        let mode = match self.introspection.as_str() {
            "off" => return Ok(None),
            "opaque" => IntrospectionMode::ForOpaqueTokens,
            "only" => IntrospectionMode::Only,
            other => {
                return Err(format!(
                    "--introspection is off, opaque or only, not {other}"
                ));
            }
        };
        let (Some(client_id), Some(secret)) = (
            &self.introspection_client_id,
            &self.introspection_client_secret,
        ) else {
            return Err("introspection needs a client id and a client secret".to_owned());
        };
        Ok(Some(IntrospectionSettings {
            client_id: ClientId::parse(client_id).map_err(|error| error.to_string())?,
            client_secret: Arc::new(SecretString::new(secret.clone())),
            mode,
            cache_ttl: Duration::from_secs(self.introspection_cache_ttl),
        }))
    }
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let options = Options::parse();
    let algorithms = options.algorithms()?;
    let introspection = options.introspection()?;
    let settings = Settings {
        issuer: options.issuer,
        resource: ResourceUri::parse(&options.resource)?,
        algorithms,
        introspection,
        allowed_origins: options.allowed_origins,
    };
    let rs = resource_server(&settings).await?;
    let notes = Notes::default();
    println!("notes MCP server at {}", settings.resource);
    HttpServer::new(move || {
        App::new()
            .wrap(latchkey_actix::SensitiveHeaders)
            .configure(configure(rs.clone(), &metadata(&settings), notes.clone()))
    })
    .bind(&options.bind)?
    .run()
    .await?;
    Ok(())
}
