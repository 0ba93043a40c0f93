//! Latchkey as an authorization server only, for several MCP servers that
//! run elsewhere, each with scopes of its own.
//!
//! The configuration is the whole example: [`CONFIG`] (the bundled
//! `latchkey.toml`) lists three resources, none on the issuer's origin, so
//! the server mounts no MCP endpoint of its own and only issues tokens:
//!
//! - each token's `aud` is the resource it was asked for (RFC 8707 section
//!   2; a request without `resource` gets `default_resource`), so a token
//!   for one server is refused by the others (MCP R6, R13);
//! - an authorization request may only ask for scopes of the resources it
//!   names (`invalid_scope` otherwise), and only for configured resources
//!   (`invalid_target`);
//! - a `client_credentials` client gets at most the scopes it registered
//!   (`latchkey clients add --scope`).
//!
//! Each resource server validates tokens itself with the issuer's keys and
//! its own URL as the audience, and serves RFC 9728 metadata naming this
//! issuer (the `axum-resource-server` and `actix-resource-server` examples
//! are two of them). [`describe`] prints what each needs.

use std::fmt::Write as _;
use std::path::Path;

use latchkey_server::ServerError;
use latchkey_server::config::ServerConfig;

/// The bundled configuration, `latchkey.toml` next to this crate's manifest.
pub const CONFIG: &str = include_str!("../latchkey.toml");

/// The configuration: the defaults, then the file at `path` (the bundled
/// [`CONFIG`] when `None`), then the `LATCHKEY_*` variables as `env` reports
/// them (pass `|name| std::env::var(name).ok()`).
pub fn load(
    path: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ServerConfig, ServerError> {
    if path.is_some() {
        return ServerConfig::load(path, env);
    }
    let mut config = ServerConfig::default();
    config.apply_toml(CONFIG)?;
    config.apply_env(env);
    Ok(config)
}

/// What each resource server needs to know about this authorization server,
/// one paragraph per configured resource.
pub fn describe(config: &ServerConfig) -> Result<String, ServerError> {
    let engine = config.engine_config()?;
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        text,
        "authorization server {} (keys at {}), protecting:",
        engine.issuer, engine.jwks_uri
    );
    for resource in &engine.resources {
        let _ = writeln!(
            text,
            "\n  {}{}\n    scopes: {}\n    granted when none is asked for: {}\n    \
             validates tokens with iss = {} and aud = {}\n    \
             serves RFC 9728 metadata with authorization_servers = [\"{}\"]",
            resource.uri.as_str(),
            resource
                .name
                .as_deref()
                .map_or_else(String::new, |name| format!(" ({name})")),
            resource.scopes_supported,
            resource.default_scope,
            engine.issuer,
            resource.uri.as_str(),
            engine.issuer,
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_configuration_has_three_resources_with_their_own_scopes() {
        let config = load(None, |_| None).unwrap();
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        let engine = config.engine_config().unwrap();
        let resources: Vec<(&str, String, String)> = engine
            .resources
            .iter()
            .map(|r| {
                (
                    r.uri.as_str(),
                    r.scopes_supported.to_string(),
                    r.default_scope.to_string(),
                )
            })
            .collect();
        assert_eq!(
            resources,
            vec![
                (
                    "http://127.0.0.1:3000/mcp",
                    "notes:read notes:write".to_owned(),
                    "notes:read".to_owned()
                ),
                (
                    "http://127.0.0.1:3001/mcp",
                    "notes:read notes:write".to_owned(),
                    "notes:read".to_owned()
                ),
                (
                    "https://calendar.example.com/mcp",
                    "calendar:read calendar:write".to_owned(),
                    "calendar:read".to_owned()
                ),
            ]
        );
        assert_eq!(
            engine.default_resource.as_str(),
            "http://127.0.0.1:3000/mcp"
        );
        let text = describe(&config).unwrap();
        assert!(
            text.contains("https://calendar.example.com/mcp (Calendar)"),
            "{text}"
        );
        assert!(text.contains("aud = http://127.0.0.1:3001/mcp"), "{text}");
    }

    #[test]
    fn the_environment_overrides_the_bundled_issuer() {
        let config = load(None, |name| {
            (name == "LATCHKEY_ISSUER").then(|| "http://127.0.0.1:9999".to_owned())
        })
        .unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:9999");
        assert_eq!(config.effective_resources().len(), 3);
    }
}
