//! The demo MCP server mounted at [`MCP_PATH`]: three tools behind the
//! resource-server layer, served by the official Rust MCP SDK (`rmcp`) over
//! Streamable HTTP (MCP 2025-11-25 "Transports", section "Streamable HTTP").
//!
//! - `whoami`: the caller's subject, client id, scopes and token expiry, from
//!   the access token the `latchkey_axum::ResourceServer` layer validated
//!   (MCP R5-R13). rmcp puts the HTTP request head (`http::request::Parts`)
//!   into each request context's extensions; the layer put
//!   `latchkey_axum::AccessToken` into that head's extensions.
//! - `echo`: returns its `text` argument.
//! - `time`: the server's time, RFC 3339 in UTC.
//!
//! Protection: [`router`] wraps the MCP service in
//! `rs.require_access_token()` (no token: `401` with `resource_metadata`;
//! missing scope: `403 insufficient_scope`; with the revocation check that
//! `serve` configures, a revoked token: `401 invalid_token`) and, outside it,
//! `rs.origin_layer()` (a foreign `Origin`: `403`, MCP R15). rmcp's own `Host`
//! check (DNS rebinding) allows the resource URI's host.
//!
//! Limits: request bodies over `latchkey_axum::MAX_BODY_LEN` (64 KiB, the
//! adapters' JSON limit) are `413`; `echo` text over [`MAX_ECHO_LEN`] is an
//! `invalid_params` error.
//!
//! Sessions: stateless. MCP 2026-07-28 removes sessions; rmcp serves requests
//! of that revision statelessly always, and with
//! `legacy_session_mode = false` (set here) it serves older revisions
//! (2025-06-18, 2025-11-25) statelessly too: `initialize` issues no
//! `Mcp-Session-Id`, each POST is answered on its own (JSON, not SSE), and
//! the standalone `GET` stream is not offered. That suits these tools, which
//! keep no state and send no server-initiated messages.
//!
//! Dependencies: `rmcp` (features `server`, `transport-streamable-http-server`;
//! the official MCP SDK the issue asks for) and `time` (features
//! `formatting`, `parsing`) for the RFC 3339 `time` tool.

use latchkey_axum::ResourceServerExt;
use std::sync::Arc;

use axum::http::request::Parts;
use latchkey_axum::{AccessToken, ResourceServer};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

/// The path the demo MCP endpoint is served at.
pub const MCP_PATH: &str = "/mcp";

/// The longest `echo` text accepted, in bytes.
pub const MAX_ECHO_LEN: usize = 4096;

/// The demo MCP server at [`MCP_PATH`], behind `rs.require_access_token()`
/// and `rs.origin_layer()`. Merge it into the application at the root; the
/// protected-resource metadata router is mounted separately (by `serve`).
pub fn router(rs: Arc<ResourceServer>) -> axum::Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(latchkey_axum::MAX_BODY_LEN)
        .with_allowed_hosts(allowed_hosts(rs.resource().as_str()));
    let service = StreamableHttpService::new(
        || Ok(DemoTools),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    // `route_layer`, not `layer`: the guards run on `/mcp` only. With
    // `layer` they also wrapped this router's fallback, and once merged
    // into the application every unknown path answered `401` with a
    // challenge for a resource it is not.
    axum::Router::new()
        .route_service(MCP_PATH, service)
        .route_layer(rs.require_access_token())
        .route_layer(rs.origin_layer())
}

/// The demo tools: `whoami`, `echo` and `time`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DemoTools;

impl DemoTools {
    /// The tool descriptions `tools/list` returns.
    pub fn tools() -> Vec<Tool> {
        vec![
            Tool::new(
                "whoami",
                "Who the access token says is calling: subject, client id and scopes.",
                schema(json!({ "type": "object", "properties": {} })),
            ),
            Tool::new(
                "echo",
                "Returns the text it is given.",
                schema(json!({
                    "type": "object",
                    "properties": { "text": { "type": "string", "description": "The text to return." } },
                    "required": ["text"],
                })),
            ),
            Tool::new(
                "time",
                "The server's current time, RFC 3339 in UTC.",
                schema(json!({ "type": "object", "properties": {} })),
            ),
        ]
    }

    /// Runs tool `name` with `arguments` for the caller holding `token`.
    pub fn call(
        name: &str,
        arguments: Option<&JsonObject>,
        token: Option<&AccessToken>,
    ) -> Result<CallToolResult, ErrorData> {
        match name {
            "whoami" => {
                // The layer always inserts the token; its absence is a mounting mistake.
                let token = token.ok_or_else(|| {
                    ErrorData::internal_error("no validated access token on the request", None)
                })?;
                Ok(CallToolResult::structured(whoami(token)))
            }
            "echo" => {
                let text = arguments
                    .and_then(|a| a.get("text"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| ErrorData::invalid_params("echo needs a string `text`", None))?;
                if text.len() > MAX_ECHO_LEN {
                    return Err(ErrorData::invalid_params("`text` is too long", None));
                }
                Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
            }
            "time" => {
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .map_err(|_| ErrorData::internal_error("the clock cannot be read", None))?;
                Ok(CallToolResult::success(vec![ContentBlock::text(now)]))
            }
            _ => Err(ErrorData::invalid_params("unknown tool", None)),
        }
    }
}

impl ServerHandler for DemoTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "latchkey-demo",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "A demo MCP server protected by Latchkey. Call `whoami` to see what your access token says.",
            )
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
        let token = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<AccessToken>());
        Self::call(&request.name, request.arguments.as_ref(), token).map(Into::into)
    }
}

/// The `whoami` answer: `subject`, `client_id`, `scopes` (a list), `scope`
/// (space-separated), `audience` and `expires_at` (seconds since the epoch).
fn whoami(token: &AccessToken) -> Value {
    let claims = token.claims();
    let scopes: Vec<&str> = claims.scope.iter().map(|s| s.as_str()).collect();
    let audience: Vec<&str> = claims.aud.iter().map(|a| a.as_str()).collect();
    json!({
        "subject": claims.sub.as_str(),
        "client_id": claims.client_id.as_str(),
        "scopes": scopes,
        "scope": claims.scope.to_string(),
        "audience": audience,
        "expires_at": claims.exp.as_secs(),
    })
}

fn schema(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(object) => Arc::new(object),
        _ => Arc::new(JsonObject::new()),
    }
}

/// The `Host` values rmcp accepts: the resource URI's host (any port), and
/// every loopback name when that host is loopback.
fn allowed_hosts(resource: &str) -> Vec<String> {
    let host = url::Url::parse(resource)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    match host {
        Some(host) if is_loopback_name(&host) => vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            host,
        ],
        Some(host) => vec![host],
        // Unreachable for a valid ResourceUri; refuse every Host rather than allow all.
        None => vec!["invalid.invalid".to_owned()],
    }
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_hosts_are_the_resource_host_and_loopback_names_for_loopback() {
        assert_eq!(
            allowed_hosts("https://mcp.example.com/mcp"),
            vec!["mcp.example.com".to_owned()]
        );
        assert_eq!(
            allowed_hosts("http://127.0.0.1:8080/mcp"),
            vec!["localhost", "127.0.0.1", "::1", "127.0.0.1"]
        );
        assert_eq!(allowed_hosts("not a url"), vec!["invalid.invalid"]);
    }

    #[test]
    fn echo_returns_its_text_and_refuses_bad_arguments() {
        let mut arguments = JsonObject::new();
        arguments.insert("text".into(), json!("hello"));
        let result = DemoTools::call("echo", Some(&arguments), None).expect("echo");
        assert_eq!(
            serde_json::to_value(&result.content).expect("json"),
            json!([{ "type": "text", "text": "hello" }])
        );
        let missing = DemoTools::call("echo", None, None).expect_err("no text");
        assert_eq!(missing.message, "echo needs a string `text`");
        arguments.insert("text".into(), json!("x".repeat(MAX_ECHO_LEN + 1)));
        let long = DemoTools::call("echo", Some(&arguments), None).expect_err("too long");
        assert_eq!(long.message, "`text` is too long");
        let unknown = DemoTools::call("nope", None, None).expect_err("unknown");
        assert_eq!(unknown.message, "unknown tool");
    }

    #[test]
    fn whoami_without_a_validated_token_is_an_internal_error() {
        let error = DemoTools::call("whoami", None, None).expect_err("no token");
        assert_eq!(error.message, "no validated access token on the request");
    }

    #[test]
    fn time_is_rfc_3339_utc() {
        let result = DemoTools::call("time", None, None).expect("time");
        let text = serde_json::to_value(&result.content).expect("json");
        let text = text
            .pointer("/0/text")
            .and_then(Value::as_str)
            .expect("text");
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .expect("rfc 3339");
        assert_eq!(parsed.offset(), time::UtcOffset::UTC);
    }
}
