//! A small MCP server of your own ("notes"), on axum with the official Rust
//! MCP SDK (`rmcp`, Streamable HTTP), protected by `latchkey-axum` against a
//! Latchkey authorization server that runs separately.
//!
//! What [`app`] assembles, in order:
//!
//! 1. The authorization server's keys: [`RemoteKeys::discover`] reads its
//!    metadata at the RFC 8414 section 3.1 well-known URL (the `issuer` must
//!    match byte for byte, section 3.3) and [`RemoteKeys::fetch`] its JWK Set.
//! 2. Local token validation (MCP R5-R9, R13): an [`AccessTokenValidator`]
//!    for this issuer and this server's URL as the audience. When a token
//!    names a key the server does not know (the authorization server rotated
//!    its key), the keys are fetched again, at most once per
//!    [`KEY_REFRESH_INTERVAL`].
//! 3. The protected resource metadata (RFC 9728, MCP R1, R2) that points
//!    clients at the authorization server.
//! 4. The MCP endpoint behind three checks: `Origin` (MCP R15, `403`), the
//!    access token with [`READ_SCOPE`] (`401` with `resource_metadata`, MCP
//!    R3, R4), and per tool: `add_note` also needs [`WRITE_SCOPE`], else
//!    `403 insufficient_scope` naming both scopes, so the client can ask for
//!    more (step-up, MCP R11).
//!
//! Tools: `whoami` (what the token says), `list_notes`, `add_note`. The notes
//! live in memory.

use latchkey_axum::ResourceServerExt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use latchkey_axum::{
    AccessToken, HttpError, Introspection, IntrospectionMode, KeysError, MAX_BODY_LEN,
    RemoteIntrospection, RemoteKeys, ResourceServer, protected_resource_metadata_routes,
    with_sensitive_headers,
};
use latchkey_jose::Algorithm;
use latchkey_metadata::ProtectedResourceMetadata;
use latchkey_token::AccessTokenValidator;
use latchkey_types::{ClientId, Scope, SecretString};
use latchkey_uri::{AudienceMatch, ResourceUri};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
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

/// Discovers the authorization server's keys and builds the whole application.
pub async fn app(settings: &Settings) -> Result<Router, KeysError> {
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
    if let Some(introspection) = &settings.introspection {
        rs = rs.with_introspection(introspect(&settings.issuer, introspection).await?);
    }
    let rs = Arc::new(rs);

    // 3. RFC 9728 metadata: which authorization server, which scopes.
    let mut metadata = ProtectedResourceMetadata::new(settings.resource.as_str());
    metadata.authorization_servers = Some(vec![settings.issuer.clone()]);
    metadata.scopes_supported = Some(vec![READ_SCOPE.to_owned(), WRITE_SCOPE.to_owned()]);
    metadata.bearer_methods_supported = Some(vec!["header".to_owned()]);
    metadata.resource_name = Some("Notes (axum example)".to_owned());

    // 4. The MCP endpoint. The layer added last runs first: Origin, then the
    //    token, then the per-tool scopes, then rmcp.
    let mcp = Router::new()
        .route_service(
            &mcp_path(&settings.resource),
            mcp_service(&settings.resource),
        )
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&rs),
            require_tool_scopes,
        ))
        .layer(rs.require_access_token())
        .layer(rs.origin_layer());

    let app = mcp.merge(protected_resource_metadata_routes(&metadata));
    Ok(with_sensitive_headers(app))
}

/// Introspection at `issuer`'s `introspection_endpoint` (from its metadata).
async fn introspect(
    issuer: &str,
    settings: &IntrospectionSettings,
) -> Result<Introspection, KeysError> {
    let remote =
        RemoteIntrospection::discover(issuer, settings.client_id.clone(), &settings.client_secret)
            .await?;
    Ok(
        Introspection::new(Arc::new(remote), issuer.to_owned(), settings.mode)
            .with_cache(settings.cache_ttl, Introspection::DEFAULT_CACHE_CAPACITY),
    )
}

/// The scopes a tool needs beyond [`READ_SCOPE`].
pub fn tool_scopes(tool: &str) -> Scope {
    match tool {
        "add_note" => scope(WRITE_SCOPE),
        _ => Scope::empty(),
    }
}

/// MCP "Scope Challenge Handling": a `tools/call` of a tool needing a scope
/// the token lacks is refused with `403 insufficient_scope`, whose `scope`
/// names every scope the call needs (RFC 6750 section 3.1), before rmcp runs
/// the tool. Bodies over [`MAX_BODY_LEN`] are `413`.
async fn require_tool_scopes(
    State(rs): State<Arc<ResourceServer>>,
    token: AccessToken,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_LEN).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let needed = called_tools(&bytes)
        .iter()
        .fold(Scope::empty(), |all, tool| all.union(&tool_scopes(tool)));
    if !needed.is_subset(&token.claims().scope) {
        let all = needed.union(&scope(READ_SCOPE));
        return rs
            .refusal(&HttpError::InsufficientScope, &all, latchkey_axum::now())
            .map(Body::from);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The tool names of the `tools/call` requests in a JSON-RPC body (one
/// message, or a batch); anything unparsable is left to rmcp to refuse.
fn called_tools(body: &[u8]) -> Vec<String> {
    let messages = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(batch)) => batch,
        Ok(single) => vec![single],
        Err(_) => return Vec::new(),
    };
    messages
        .iter()
        .filter(|message| message["method"] == "tools/call")
        .map(|message| message["params"]["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The rmcp Streamable HTTP service: stateless, JSON answers (no SSE), and
/// the resource URL's host as the only allowed `Host` (DNS rebinding).
fn mcp_service(resource: &ResourceUri) -> StreamableHttpService<Notes, NeverSessionManager> {
    let host = url::Url::parse(resource.as_str())
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
        .unwrap_or_default();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(MAX_BODY_LEN)
        .with_allowed_hosts([host]);
    let notes = Notes::default();
    StreamableHttpService::new(
        move || Ok(notes.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    )
}

fn mcp_path(resource: &ResourceUri) -> String {
    url::Url::parse(resource.as_str()).map_or_else(|_| "/".to_owned(), |url| url.path().to_owned())
}

/// The MCP tools over notes kept in memory.
#[derive(Clone, Debug, Default)]
pub struct Notes {
    notes: Arc<Mutex<Vec<String>>>,
}

impl Notes {
    fn tools() -> Vec<Tool> {
        let no_arguments = json!({ "type": "object", "properties": {} });
        vec![
            Tool::new(
                "whoami",
                "What the access token says: subject, client and scopes.",
                schema(no_arguments.clone()),
            ),
            Tool::new("list_notes", "Every note.", schema(no_arguments)),
            Tool::new(
                "add_note",
                "Adds a note (needs the notes:write scope).",
                schema(json!({
                    "type": "object",
                    "properties": { "text": { "type": "string" } },
                    "required": ["text"],
                })),
            ),
        ]
    }

    fn call(
        &self,
        name: &str,
        arguments: Option<&JsonObject>,
        token: &AccessToken,
    ) -> Result<CallToolResult, ErrorData> {
        let mut notes = self.notes.lock().unwrap_or_else(PoisonError::into_inner);
        match name {
            "whoami" => {
                let claims = token.claims();
                Ok(CallToolResult::structured(json!({
                    "subject": claims.sub.as_str(),
                    "client_id": claims.client_id.as_str(),
                    "scope": claims.scope.to_string(),
                })))
            }
            "list_notes" => Ok(CallToolResult::structured(json!({ "notes": *notes }))),
            "add_note" => {
                let text = arguments
                    .and_then(|a| a.get("text"))
                    .and_then(Value::as_str)
                    .filter(|text| text.len() <= MAX_NOTE_LEN)
                    .ok_or_else(|| {
                        ErrorData::invalid_params("`text` must be a short string", None)
                    })?;
                notes.push(text.to_owned());
                Ok(CallToolResult::success(vec![ContentBlock::text("added")]))
            }
            _ => Err(ErrorData::invalid_params("unknown tool", None)),
        }
    }
}

impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("notes-axum", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // rmcp hands over the HTTP request head; the layer put the token in it.
        let token = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AccessToken>())
            .ok_or_else(|| ErrorData::internal_error("no validated access token", None))?;
        self.call(&request.name, request.arguments.as_ref(), token)
            .map(Into::into)
    }
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

/// One of the scope constants of this file.
fn scope(value: &str) -> Scope {
    Scope::parse(value).expect("the scope constants are valid scope tokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn called_tools_are_found_in_single_messages_and_batches() {
        let single =
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add_note"}}"#;
        assert_eq!(called_tools(single), vec!["add_note"]);
        let batch = br#"[{"method":"tools/list"},{"method":"tools/call","params":{"name":"whoami"}},{"method":"tools/call","params":{"name":"add_note"}}]"#;
        assert_eq!(called_tools(batch), vec!["whoami", "add_note"]);
        assert!(called_tools(b"not json").is_empty());
        assert!(called_tools(br#"{"method":"tools/list"}"#).is_empty());
    }

    #[test]
    fn only_add_note_needs_the_write_scope() {
        assert_eq!(tool_scopes("add_note"), scope(WRITE_SCOPE));
        assert!(tool_scopes("whoami").is_empty());
        assert!(tool_scopes("list_notes").is_empty());
    }
}
