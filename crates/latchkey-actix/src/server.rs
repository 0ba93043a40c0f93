//! The authorization server routes: every endpoint of the engine, at the paths
//! of the engine configuration's absolute URLs.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use latchkey_engine::authorize::{AuthorizationDecision, AuthorizeOutcome, PendingAuthorization};
use latchkey_engine::{EndpointResponse, Engine, EngineConfig, MetadataFetcher, Params};
use latchkey_store::Store;
use latchkey_types::ErrorCode;

use crate::error::ActixError;
use crate::http::{
    adapter_error, form_pairs, http_context, into_http_response, now, read_body, request_rng,
    require_content_type,
};

/// The media type the token, revocation and introspection endpoints accept
/// (OAuth 2.1 section 3.2.2, RFC 7009 section 2.1, RFC 7662 section 2.1).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";
/// The media type the registration endpoint accepts (RFC 7591 section 3.1).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// What the server does with a valid authorization request: authenticate the
/// resource owner, ask for consent, then answer with
/// [`complete_authorization`] (OAuth 2.1 section 4.1.1). The binary
/// implements login and consent with it; tests approve automatically.
///
/// Handlers run on actix's per-thread runtime, so neither the handler nor its
/// future needs to be `Send`.
pub trait InteractionHandler<S: Store, F: MetadataFetcher>: 'static {
    /// Answers the user agent for `pending`; `request` is the authorization
    /// request as received (for cookies and sessions).
    fn interact(
        &self,
        engine: Arc<Engine<S, F>>,
        pending: PendingAuthorization,
        request: HttpRequest,
    ) -> impl Future<Output = HttpResponse>;
}

/// The routes of the authorization server over `engine`, for
/// [`actix_web::App::configure`]:
///
/// - `GET` authorization endpoint (OAuth 2.1 section 4.1.1): the raw query
///   pairs go to `Engine::authorize_pairs`; an error page is an escaped HTML
///   page (`400`, `500` or `503`), a redirect a `302`, and an interaction goes
///   to `interaction`;
/// - `POST` token, revocation and introspection endpoints with
///   `application/x-www-form-urlencoded` bodies of at most 64 KiB;
/// - `POST` registration endpoint (`application/json`, at most 64 KiB) and
///   `GET`/`PUT`/`DELETE` `{registration endpoint}/{client_id}` (RFC 7592);
/// - `GET` JWKS;
/// - `GET` `/.well-known/oauth-authorization-server{issuer path}` (RFC 8414
///   section 3.1 path insertion) and, when the profile offers OpenID Connect
///   discovery, `/.well-known/openid-configuration{issuer path}` and
///   `{issuer path}/.well-known/openid-configuration` (MCP 2025-11-25).
///
/// A configured URL that is not absolute is [`ActixError::ConfiguredUrl`].
/// Call it inside the `HttpServer::new` factory (each worker builds its own
/// `App`), with clones of the engine:
///
/// ```no_run
/// use std::sync::Arc;
///
/// use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
/// use latchkey_actix::{InteractionHandler, SensitiveHeaders, configure_authorization_server};
/// use latchkey_engine::authorize::{AuthorizationDecision, PendingAuthorization};
/// use latchkey_engine::{Engine, NoMetadataFetcher};
/// use latchkey_store::MemoryStore;
///
/// /// Shows a login and consent page; here it denies everything.
/// struct Consent;
///
/// impl InteractionHandler<MemoryStore, NoMetadataFetcher> for Consent {
///     async fn interact(
///         &self,
///         engine: Arc<Engine<MemoryStore>>,
///         pending: PendingAuthorization,
///         _request: HttpRequest,
///     ) -> HttpResponse {
///         latchkey_actix::complete_authorization(&engine, pending, AuthorizationDecision::Deny)
///             .await
///     }
/// }
///
/// async fn serve(engine: Arc<Engine<MemoryStore>>) -> std::io::Result<()> {
///     HttpServer::new(move || {
///         let routes = configure_authorization_server(Arc::clone(&engine), Consent)
///             .expect("the engine configuration holds absolute urls");
///         App::new().wrap(SensitiveHeaders).configure(routes)
///     })
///     .bind(("127.0.0.1", 8080))?
///     .run()
///     .await
/// }
/// ```
pub fn configure_authorization_server<S, F, I>(
    engine: Arc<Engine<S, F>>,
    interaction: I,
) -> Result<impl FnOnce(&mut web::ServiceConfig), ActixError>
where
    S: Store + 'static,
    F: MetadataFetcher + 'static,
    I: InteractionHandler<S, F>,
{
    let paths = RoutePaths::from_config(engine.config())?;
    let interaction = Rc::new(interaction);
    Ok(move |cfg: &mut web::ServiceConfig| {
        let openid = engine.openid_configuration().is_some();
        {
            let engine = Arc::clone(&engine);
            let interaction = Rc::clone(&interaction);
            cfg.route(
                &paths.authorize,
                web::get().to(move |request: HttpRequest| {
                    authorize(Arc::clone(&engine), Rc::clone(&interaction), request)
                }),
            );
        }
        for (path, kind) in [
            (&paths.token, FormEndpoint::Token),
            (&paths.revoke, FormEndpoint::Revoke),
            (&paths.introspect, FormEndpoint::Introspect),
        ] {
            let engine = Arc::clone(&engine);
            let uri = kind.configured_uri(engine.config()).to_owned();
            cfg.route(
                path,
                web::post().to(move |request: HttpRequest, payload: web::Payload| {
                    form_endpoint(Arc::clone(&engine), kind, uri.clone(), request, payload)
                }),
            );
        }
        if let Some((register_path, endpoint)) = paths.register.clone() {
            let client_path = format!("{}/{{client_id}}", register_path.trim_end_matches('/'));
            let engine_post = Arc::clone(&engine);
            let endpoint_post = endpoint.clone();
            cfg.route(
                &register_path,
                web::post().to(move |request: HttpRequest, payload: web::Payload| {
                    register(
                        Arc::clone(&engine_post),
                        endpoint_post.clone(),
                        request,
                        payload,
                    )
                }),
            );
            let engine_manage = Arc::clone(&engine);
            let manage = move |request: HttpRequest, payload: web::Payload| {
                manage_client(
                    Arc::clone(&engine_manage),
                    endpoint.clone(),
                    request,
                    payload,
                )
            };
            cfg.service(
                web::resource(client_path)
                    .route(web::get().to(manage.clone()))
                    .route(web::put().to(manage.clone()))
                    .route(web::delete().to(manage)),
            );
        }
        {
            let engine = Arc::clone(&engine);
            cfg.route(
                &paths.jwks,
                web::get().to(move || {
                    let response = engine.jwks();
                    async move { into_http_response(response) }
                }),
            );
        }
        {
            let engine = Arc::clone(&engine);
            cfg.route(
                &paths.oauth_metadata,
                web::get().to(move || {
                    let response = engine.authorization_server_metadata();
                    async move { into_http_response(response) }
                }),
            );
        }
        if openid {
            for path in &paths.openid_metadata {
                let engine = Arc::clone(&engine);
                cfg.route(
                    path,
                    web::get().to(move || {
                        let response = engine.openid_configuration();
                        async move {
                            response.map_or_else(
                                || HttpResponse::NotFound().finish(),
                                into_http_response,
                            )
                        }
                    }),
                );
            }
        }
    })
}

/// Completes a pending authorization with the resource owner's decision
/// (OAuth 2.1 section 4.1.2), reading the clock and the OS RNG once: the
/// `302` to the client, or a generic `500` when the RNG fails. For
/// [`InteractionHandler`] implementations.
pub async fn complete_authorization<S: Store, F: MetadataFetcher>(
    engine: &Engine<S, F>,
    pending: PendingAuthorization,
    decision: AuthorizationDecision,
) -> HttpResponse {
    let now = now();
    let mut rng = match request_rng() {
        Ok(rng) => rng,
        Err(error) => return adapter_error(&error),
    };
    into_http_response(
        engine
            .complete_authorization(pending, decision, now, &mut rng)
            .await,
    )
}

/// The endpoints that take a form body.
#[derive(Clone, Copy, Debug)]
enum FormEndpoint {
    Token,
    Revoke,
    Introspect,
}

impl FormEndpoint {
    fn configured_uri(self, config: &EngineConfig) -> &str {
        match self {
            Self::Token => &config.token_endpoint,
            Self::Revoke => &config.revocation_endpoint,
            Self::Introspect => &config.introspection_endpoint,
        }
    }
}

/// The route paths, from the configured absolute URLs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RoutePaths {
    authorize: String,
    token: String,
    revoke: String,
    introspect: String,
    /// The registration path and the configured registration endpoint URL.
    register: Option<(String, String)>,
    jwks: String,
    oauth_metadata: String,
    openid_metadata: Vec<String>,
}

impl RoutePaths {
    fn from_config(config: &EngineConfig) -> Result<Self, ActixError> {
        let issuer_path = url_path(&config.issuer)?;
        // RFC 8414 section 3.1: a terminating "/" of the issuer path is removed
        // before the well-known suffix goes between host and path.
        let issuer_path = issuer_path.trim_end_matches('/');
        let register = match (&config.registration, &config.registration_endpoint) {
            (Some(_), Some(endpoint)) => Some((url_path(endpoint)?, endpoint.clone())),
            _ => None,
        };
        let mut openid_metadata = vec![format!("/.well-known/openid-configuration{issuer_path}")];
        if !issuer_path.is_empty() {
            openid_metadata.push(format!("{issuer_path}/.well-known/openid-configuration"));
        }
        Ok(Self {
            authorize: url_path(&config.authorization_endpoint)?,
            token: url_path(&config.token_endpoint)?,
            revoke: url_path(&config.revocation_endpoint)?,
            introspect: url_path(&config.introspection_endpoint)?,
            register,
            jwks: url_path(&config.jwks_uri)?,
            oauth_metadata: format!("/.well-known/oauth-authorization-server{issuer_path}"),
            openid_metadata,
        })
    }
}

/// The path of an absolute configured URL.
fn url_path(configured: &str) -> Result<String, ActixError> {
    let url = url::Url::parse(configured).map_err(|_| ActixError::ConfiguredUrl)?;
    if url.cannot_be_a_base() {
        return Err(ActixError::ConfiguredUrl);
    }
    Ok(url.path().to_owned())
}

async fn authorize<S, F, I>(
    engine: Arc<Engine<S, F>>,
    interaction: Rc<I>,
    request: HttpRequest,
) -> HttpResponse
where
    S: Store,
    F: MetadataFetcher,
    I: InteractionHandler<S, F>,
{
    let now = now();
    let pairs = match form_pairs(request.query_string().as_bytes()) {
        Ok(pairs) => pairs,
        Err(_) => {
            return error_page(ErrorCode::InvalidRequest, "the query string cannot be read");
        }
    };
    match engine.authorize_pairs(pairs, now).await {
        AuthorizeOutcome::ErrorPage { error, description } => error_page(error, &description),
        AuthorizeOutcome::Redirect(response) => into_http_response(response),
        AuthorizeOutcome::Interaction(pending) => {
            interaction.interact(engine, pending, request).await
        }
    }
}

async fn form_endpoint<S: Store, F: MetadataFetcher>(
    engine: Arc<Engine<S, F>>,
    kind: FormEndpoint,
    uri: String,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let now = now();
    let (params, http) = match form_request(&request, payload, &uri).await {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let response = match kind {
        FormEndpoint::Token => {
            let mut rng = match request_rng() {
                Ok(rng) => rng,
                Err(error) => return adapter_error(&error),
            };
            engine.token(&params, &http, now, &mut rng).await
        }
        FormEndpoint::Revoke => engine.revoke(&params, &http, now).await,
        FormEndpoint::Introspect => engine.introspect(&params, &http, now).await,
    };
    into_http_response(response)
}

/// The checks every form endpoint shares, in order: one `Authorization`
/// header, the form media type, the body limit, then the pairs.
async fn form_request(
    request: &HttpRequest,
    payload: web::Payload,
    uri: &str,
) -> Result<(Params, latchkey_engine::HttpContext), HttpResponse> {
    let http = http_context(request, uri).map_err(|e| adapter_error(&e))?;
    require_content_type(request, FORM_CONTENT_TYPE).map_err(|e| adapter_error(&e))?;
    let body = read_body(request, payload)
        .await
        .map_err(|e| adapter_error(&e))?;
    let pairs = form_pairs(&body).map_err(|e| adapter_error(&e))?;
    let params = Params::from_pairs(pairs).map_err(|e| into_http_response(e.to_response()))?;
    Ok((params, http))
}

async fn register<S: Store, F: MetadataFetcher>(
    engine: Arc<Engine<S, F>>,
    endpoint: String,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let now = now();
    let body = match json_request(&request, payload, &endpoint).await {
        Ok(parsed) => parsed,
        Err(response) => return response,
    };
    let mut rng = match request_rng() {
        Ok(rng) => rng,
        Err(error) => return adapter_error(&error),
    };
    into_http_response(engine.register(&body.0, &body.1, now, &mut rng).await)
}

async fn json_request(
    request: &HttpRequest,
    payload: web::Payload,
    uri: &str,
) -> Result<(Vec<u8>, latchkey_engine::HttpContext), HttpResponse> {
    let http = http_context(request, uri).map_err(|e| adapter_error(&e))?;
    require_content_type(request, JSON_CONTENT_TYPE).map_err(|e| adapter_error(&e))?;
    let body = read_body(request, payload)
        .await
        .map_err(|e| adapter_error(&e))?;
    Ok((body, http))
}

/// RFC 7592 section 2: read, update and delete at `{endpoint}/{client_id}`.
/// The `htu`-style URI handed to the engine is built from the configured
/// endpoint, never from `Host`.
async fn manage_client<S: Store, F: MetadataFetcher>(
    engine: Arc<Engine<S, F>>,
    endpoint: String,
    request: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let now = now();
    let client_id = request
        .match_info()
        .get("client_id")
        .unwrap_or_default()
        .to_owned();
    let uri = format!("{}/{client_id}", endpoint.trim_end_matches('/'));
    let method = request.method().clone();
    if method == actix_web::http::Method::PUT {
        let (body, http) = match json_request(&request, payload, &uri).await {
            Ok(parsed) => parsed,
            Err(response) => return response,
        };
        let mut rng = match request_rng() {
            Ok(rng) => rng,
            Err(error) => return adapter_error(&error),
        };
        return into_http_response(
            engine
                .update_client(&client_id, &http, &body, now, &mut rng)
                .await,
        );
    }
    let http = match http_context(&request, &uri) {
        Ok(http) => http,
        Err(error) => return adapter_error(&error),
    };
    if method == actix_web::http::Method::DELETE {
        return into_http_response(engine.delete_client(&client_id, &http, now).await);
    }
    let mut rng = match request_rng() {
        Ok(rng) => rng,
        Err(error) => return adapter_error(&error),
    };
    into_http_response(engine.read_client(&client_id, &http, now, &mut rng).await)
}

/// The page shown when the client or its redirect URI cannot be verified
/// (OAuth 2.1 section 4.1.2.1: never redirect then), or an error for a client
/// anyone could have created (RFC 9700 section 4.11.2). Every text is escaped;
/// the page cannot be framed (RFC 9700 section 4.16), cached, run scripts or
/// leak its URL in a `Referer`.
fn error_page(error: ErrorCode, description: &str) -> HttpResponse {
    let status = match error {
        ErrorCode::ServerError => 500,
        ErrorCode::TemporarilyUnavailable => 503,
        _ => 400,
    };
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p>{}</p><p><code>{}</code></p></body></html>\n",
        escape_html(description),
        escape_html(error.as_str()),
    );
    into_http_response(
        EndpointResponse {
            status,
            headers: vec![(
                header::CONTENT_TYPE.as_str().to_owned(),
                "text/html; charset=utf-8".to_owned(),
            )],
            body: latchkey_engine::ResponseBody::Html(html),
        }
        .no_store()
        .with_header("X-Frame-Options", "DENY".to_owned())
        .with_header(
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'".to_owned(),
        )
        .with_header(
            header::X_CONTENT_TYPE_OPTIONS.as_str(),
            "nosniff".to_owned(),
        )
        .with_header("Referrer-Policy", "no-referrer".to_owned()),
    )
}

/// HTML-escapes `text` for element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_uri::ResourceUri;

    fn config(issuer: &str) -> EngineConfig {
        EngineConfig::new(
            issuer,
            ResourceUri::parse("https://mcp.example.com/mcp").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn rfc_8414_section_3_1_path_insertion_for_a_path_issuer() {
        let paths = RoutePaths::from_config(&config("https://as.example.com/tenant1/")).unwrap();
        assert_eq!(
            paths.oauth_metadata,
            "/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            paths.openid_metadata,
            vec![
                "/.well-known/openid-configuration/tenant1".to_owned(),
                "/tenant1/.well-known/openid-configuration".to_owned()
            ]
        );
        assert_eq!(paths.token, "/tenant1/token");
    }

    #[test]
    fn rfc_8414_section_3_1_no_path_issuer_has_one_location_each() {
        let paths = RoutePaths::from_config(&config("https://as.example.com")).unwrap();
        assert_eq!(
            paths.oauth_metadata,
            "/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            paths.openid_metadata,
            vec!["/.well-known/openid-configuration".to_owned()]
        );
        assert_eq!(
            paths.register,
            Some((
                "/register".to_owned(),
                "https://as.example.com/register".to_owned()
            ))
        );
    }

    #[test]
    fn registration_off_serves_no_registration_route() {
        let mut config = config("https://as.example.com");
        config.registration = None;
        assert_eq!(RoutePaths::from_config(&config).unwrap().register, None);
    }

    #[test]
    fn a_configured_url_that_is_not_absolute_is_refused() {
        assert_eq!(url_path("/token"), Err(ActixError::ConfiguredUrl));
        assert_eq!(url_path("mailto:a@b"), Err(ActixError::ConfiguredUrl));
    }

    #[test]
    fn oauth_2_1_section_4_1_2_1_error_page_escapes_and_is_not_cached() {
        let response = error_page(ErrorCode::InvalidRequest, "<script>alert(1)</script>");
        assert_eq!(response.status(), 400);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
        assert!(response.headers().get("location").is_none());
        let body = actix_web::body::MessageBody::try_into_bytes(response.into_body()).unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("<script>"));
        assert!(text.contains("&lt;script&gt;"));
        assert_eq!(error_page(ErrorCode::ServerError, "x").status(), 500);
        assert_eq!(
            error_page(ErrorCode::TemporarilyUnavailable, "x").status(),
            503
        );
    }
}
