//! A small MCP server of your own ("notes"), on actix-web, protected by
//! `latchkey-actix` against a Latchkey authorization server that runs
//! separately. The MCP side is a minimal JSON-RPC handler over Streamable
//! HTTP POST (stateless, JSON answers, no SSE stream), enough for
//! `initialize`, `ping`, `tools/list` and `tools/call`.
//!
//! What it assembles, in order:
//!
//! 1. The authorization server's keys ([`resource_server`]):
//!    [`RemoteKeys::discover`] reads its metadata at the RFC 8414 section 3.1
//!    well-known URL (the `issuer` must match byte for byte, section 3.3) and
//!    [`RemoteKeys::fetch`] its JWK Set.
//! 2. Local token validation (MCP R5-R9, R13): an [`AccessTokenValidator`]
//!    for this issuer and this server's URL as the audience. When a token
//!    names a key the server does not know (the authorization server rotated
//!    its key), the keys are fetched again, at most once per
//!    [`KEY_REFRESH_INTERVAL`].
//! 3. The protected resource metadata (RFC 9728, MCP R1, R2) that points
//!    clients at the authorization server ([`configure`]).
//! 4. The MCP endpoint behind [`RequireAccessToken`]: `Origin` (MCP R15,
//!    `403`), then the access token with [`READ_SCOPE`] (`401` with
//!    `resource_metadata`, MCP R3, R4); per tool, `add_note` also needs
//!    [`WRITE_SCOPE`], else `403 insufficient_scope` naming both scopes, so
//!    the client can ask for more (step-up, MCP R11).
//!
//! Tools: `whoami` (what the token says), `list_notes`, `add_note`. The notes
//! live in memory.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use latchkey_actix::{
    AccessToken, ActixError, HttpError, Introspection, IntrospectionMode, KeysError, MAX_BODY_LEN,
    RemoteIntrospection, RemoteKeys, RequireAccessToken, ResourceServer, into_actix_response,
    protected_resource_metadata_routes,
};
use latchkey_jose::Algorithm;
use latchkey_metadata::ProtectedResourceMetadata;
use latchkey_token::AccessTokenValidator;
use latchkey_types::{ClientId, Scope, SecretString};
use latchkey_uri::{AudienceMatch, ResourceUri};
use serde_json::{Value, json};

/// The scope every call needs (the resource's default scope at the
/// authorization server).
pub const READ_SCOPE: &str = "notes:read";
/// The further scope `add_note` needs.
pub const WRITE_SCOPE: &str = "notes:write";
/// The shortest time between two fetches of the authorization server's keys
/// caused by tokens naming an unknown key.
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// The longest note accepted, in bytes.
pub const MAX_NOTE_LEN: usize = 1024;
/// The MCP protocol revisions this server speaks, oldest first.
pub const PROTOCOL_VERSIONS: [&str; 3] = ["2025-03-26", "2025-06-18", "2025-11-25"];

/// What the server needs to know.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The authorization server's issuer identifier, exactly as it publishes it.
    pub issuer: String,
    /// This server's MCP endpoint URL, exactly as the authorization server's
    /// resource configuration names it (the token audience).
    pub resource: ResourceUri,
    /// Browser origins allowed to call the endpoint (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    /// The JWS algorithms access tokens may be signed with (RFC 8725bis
    /// section 3.1); empty: ES256, Latchkey's own. Another issuer usually
    /// signs with RS256 or PS256.
    pub algorithms: Vec<Algorithm>,
    /// Token introspection at the issuer (RFC 7662), for issuers that hand
    /// out opaque tokens; `None`: JWT access tokens only.
    pub introspection: Option<IntrospectionSettings>,
}

/// How this server introspects tokens at the issuer (RFC 7662 section 2.1).
#[derive(Clone, Debug)]
pub struct IntrospectionSettings {
    /// This server's client id at the issuer.
    pub client_id: ClientId,
    /// Its client secret (`client_secret_basic`); `Debug` never shows it.
    pub client_secret: Arc<SecretString>,
    /// Every token, or only those that are not JWTs.
    pub mode: IntrospectionMode,
    /// How long an active answer is trusted (never past the token's `exp`);
    /// a token revoked at the issuer works here at most this long.
    pub cache_ttl: Duration,
}

/// Why the resource server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The authorization server's keys could not be had.
    #[error(transparent)]
    Keys(#[from] KeysError),
    /// The adapter refused the configuration.
    #[error(transparent)]
    Adapter(#[from] ActixError),
}

/// Discovers the authorization server's keys and builds the resource server
/// (steps 1 to 3 of the crate documentation).
pub async fn resource_server(settings: &Settings) -> Result<Arc<ResourceServer>, SetupError> {
    // 1. The authorization server's keys, over HTTP.
    let keys = RemoteKeys::discover(&settings.issuer).await?;
    let jwks = keys.fetch().await?;

    // 2. Tokens are validated here: this issuer, this server as the audience.
    let validator = AccessTokenValidator::new(
        jwks,
        settings.issuer.clone(),
        settings.resource.clone(),
        AudienceMatch::Exact,
    );
    let validator = match validator.clone().with_algorithms(&settings.algorithms) {
        Ok(configured) => configured,
        // An empty list keeps the default, ES256.
        Err(_) => validator,
    };

    let mut rs = ResourceServer::new(settings.resource.clone(), validator)
        .with_default_scopes(scope(READ_SCOPE))
        .with_allowed_origins(settings.allowed_origins.clone())
        .with_key_refresh(Arc::new(keys), KEY_REFRESH_INTERVAL);

    // Opaque tokens (or all of them) are asked about at the issuer.
    if let Some(introspection) = &settings.introspection {
        let remote = RemoteIntrospection::discover(
            &settings.issuer,
            introspection.client_id.clone(),
            &introspection.client_secret,
        )
        .await?;
        rs = rs.with_introspection(
            Introspection::new(
                Arc::new(remote),
                settings.issuer.clone(),
                introspection.mode,
            )
            .with_cache(
                introspection.cache_ttl,
                Introspection::DEFAULT_CACHE_CAPACITY,
            ),
        );
    }
    Ok(Arc::new(rs))
}

/// Step 3: the RFC 9728 metadata: which authorization server, which scopes.
pub fn metadata(settings: &Settings) -> ProtectedResourceMetadata {
    let mut metadata = ProtectedResourceMetadata::new(settings.resource.as_str());
    metadata.authorization_servers = Some(vec![settings.issuer.clone()]);
    metadata.scopes_supported = Some(vec![READ_SCOPE.to_owned(), WRITE_SCOPE.to_owned()]);
    metadata.bearer_methods_supported = Some(vec!["header".to_owned()]);
    metadata.resource_name = Some("Notes (actix-web example)".to_owned());
    metadata
}

/// The routes, for [`actix_web::App::configure`]: the protected resource
/// metadata and the MCP endpoint at the resource URL's path (step 4). Wrap the
/// `App` in `latchkey_actix::SensitiveHeaders`.
pub fn configure(
    rs: Arc<ResourceServer>,
    metadata: &ProtectedResourceMetadata,
    notes: Notes,
) -> impl FnOnce(&mut web::ServiceConfig) + use<> {
    let metadata_routes = protected_resource_metadata_routes(metadata);
    move |cfg: &mut web::ServiceConfig| {
        cfg.configure(metadata_routes);
        let path = url::Url::parse(rs.resource().as_str())
            .map_or_else(|_| "/".to_owned(), |url| url.path().to_owned());
        cfg.service(
            web::resource(path)
                .wrap(RequireAccessToken::new(Arc::clone(&rs)))
                .app_data(web::Data::from(rs))
                .app_data(web::Data::new(notes))
                .app_data(web::PayloadConfig::new(MAX_BODY_LEN))
                .route(web::post().to(mcp))
                // No server-initiated stream: MCP Streamable HTTP allows 405.
                .route(web::get().to(|| async { HttpResponse::MethodNotAllowed().finish() })),
        );
    }
}

/// The scopes a tool needs beyond [`READ_SCOPE`].
pub fn tool_scopes(tool: &str) -> Scope {
    match tool {
        "add_note" => scope(WRITE_SCOPE),
        _ => Scope::empty(),
    }
}

/// One JSON-RPC message per POST (JSON-RPC 2.0; MCP 2025-06-18 dropped batches).
async fn mcp(
    request: HttpRequest,
    token: AccessToken,
    body: web::Bytes,
    rs: web::Data<ResourceServer>,
    notes: web::Data<Notes>,
) -> HttpResponse {
    // MCP transports: an unsupported `MCP-Protocol-Version` is 400.
    let version = request.headers().get("mcp-protocol-version");
    if version.is_some_and(|v| {
        !PROTOCOL_VERSIONS
            .iter()
            .any(|p| v.as_bytes() == p.as_bytes())
    }) {
        return HttpResponse::BadRequest().finish();
    }
    let message = match serde_json::from_slice::<Value>(&body) {
        Ok(message @ Value::Object(_)) => message,
        Ok(_) => return rpc_error(Value::Null, -32600, "send one json-rpc request per post"),
        Err(_) => return rpc_error(Value::Null, -32700, "the body is not json"),
    };
    let Some(id) = message.get("id").cloned() else {
        // A notification (or a response): accepted, nothing to answer.
        return HttpResponse::Accepted().finish();
    };
    let params = &message["params"];
    match message["method"].as_str().unwrap_or_default() {
        "initialize" => rpc_result(id, initialize(params)),
        "ping" => rpc_result(id, json!({})),
        "tools/list" => rpc_result(id, json!({ "tools": Notes::tools() })),
        "tools/call" => {
            let name = params["name"].as_str().unwrap_or_default();
            let extra = tool_scopes(name);
            if !extra.is_empty() {
                // Step-up: the token must hold every scope this tool needs;
                // the refusal is the 403 challenge naming them all.
                let needed = extra.union(&scope(READ_SCOPE));
                if !needed.is_subset(&token.claims().scope) {
                    let now = latchkey_actix::now();
                    let refusal = rs.refusal(&HttpError::InsufficientScope, &needed, now);
                    return into_actix_response(refusal);
                }
            }
            match notes.call(name, &params["arguments"], &token) {
                Ok(result) => rpc_result(id, result),
                Err(message) => rpc_error(id, -32602, message),
            }
        }
        _ => rpc_error(id, -32601, "method not found"),
    }
}

/// The `initialize` result: the client's protocol revision when spoken here,
/// else the latest one (MCP lifecycle, version negotiation).
fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = PROTOCOL_VERSIONS
        .iter()
        .find(|v| **v == asked)
        .or(PROTOCOL_VERSIONS.last())
        .copied()
        .unwrap_or_default();
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": { "name": "notes-actix", "version": env!("CARGO_PKG_VERSION") },
    })
}

fn rpc_result(id: Value, result: Value) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "jsonrpc": "2.0", "id": id, "result": result }))
}

fn rpc_error(id: Value, code: i64, message: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    }))
}

/// The MCP tools over notes kept in memory.
#[derive(Clone, Debug, Default)]
pub struct Notes {
    notes: Arc<Mutex<Vec<String>>>,
}

impl Notes {
    fn tools() -> Value {
        let no_arguments = json!({ "type": "object", "properties": {} });
        json!([
            {
                "name": "whoami",
                "description": "What the access token says: subject, client and scopes.",
                "inputSchema": no_arguments,
            },
            { "name": "list_notes", "description": "Every note.", "inputSchema": no_arguments },
            {
                "name": "add_note",
                "description": "Adds a note (needs the notes:write scope).",
                "inputSchema": {
                    "type": "object",
                    "properties": { "text": { "type": "string" } },
                    "required": ["text"],
                },
            },
        ])
    }

    /// A `tools/call` result, or the message of an `invalid_params` error.
    fn call(
        &self,
        name: &str,
        arguments: &Value,
        token: &AccessToken,
    ) -> Result<Value, &'static str> {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        match name {
            "whoami" => {
                let claims = token.claims();
                Ok(structured(json!({
                    "subject": claims.sub.as_str(),
                    "client_id": claims.client_id.as_str(),
                    "scope": claims.scope.to_string(),
                })))
            }
            "list_notes" => Ok(structured(json!({ "notes": *notes }))),
            "add_note" => {
                let text = arguments["text"]
                    .as_str()
                    .filter(|text| text.len() <= MAX_NOTE_LEN)
                    .ok_or("`text` must be a short string")?;
                notes.push(text.to_owned());
                Ok(json!({ "content": [{ "type": "text", "text": "added" }], "isError": false }))
            }
            _ => Err("unknown tool"),
        }
    }
}

/// A tool result with structured content, also as JSON text (MCP tools,
/// "Structured Content").
fn structured(value: Value) -> Value {
    json!({
        "content": [{ "type": "text", "text": value.to_string() }],
        "structuredContent": value,
        "isError": false,
    })
}

/// One of the scope constants of this file.
fn scope(value: &str) -> Scope {
    Scope::parse(value).expect("the scope constants are valid scope tokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initialize_answers_the_clients_revision_or_the_latest() {
        let known = initialize(&json!({ "protocolVersion": "2025-06-18" }));
        assert_eq!(known["protocolVersion"], "2025-06-18");
        let unknown = initialize(&json!({ "protocolVersion": "1999-01-01" }));
        assert_eq!(unknown["protocolVersion"], "2025-11-25");
        assert_eq!(unknown["capabilities"], json!({ "tools": {} }));
    }

    #[test]
    fn only_add_note_needs_the_write_scope() {
        assert_eq!(tool_scopes("add_note"), scope(WRITE_SCOPE));
        assert!(tool_scopes("whoami").is_empty());
        assert!(tool_scopes("list_notes").is_empty());
    }
}
