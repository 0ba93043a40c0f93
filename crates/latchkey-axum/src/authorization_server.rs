//! The authorization server routes: every endpoint of a `latchkey_engine::Engine`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use latchkey_engine::authorize::{AuthorizationDecision, AuthorizeOutcome, PendingAuthorization};
use latchkey_engine::{EndpointResponse, Engine, HttpContext, MetadataFetcher, Params};
use latchkey_store::Store;
use latchkey_types::{ErrorCode, UnixTime};

use crate::error::AdapterError;
use crate::translate::{
    MAX_QUERY_LEN, authorization, content_type_is, dpop_values, form_pairs, into_response,
    mark_sensitive, now, os_rng, read_body, refusal_response, server_error,
};

/// What an [`InteractionHandler`] decided about a pending authorization.
#[derive(Debug)]
pub enum Interaction {
    /// Decided at once (the user is already signed in and consented):
    /// the router completes the authorization with this decision.
    Decide(AuthorizationDecision),
    /// Answer with this response (a login or consent page). The handler keeps
    /// the `PendingAuthorization` server-side and completes it later with
    /// `Engine::complete_authorization` from its own route.
    Respond(Response),
}

/// How the server plugs login and consent into the authorization endpoint
/// (OAuth 2.1 section 4.1.1: the server "authenticates the resource owner and
/// obtains an authorization decision").
pub trait InteractionHandler: Send + Sync + 'static {
    /// Handles a verified authorization request. `request` is the original
    /// request's head (cookies for the session, for example); `now` is the
    /// request's time.
    fn interact<'a>(
        &'a self,
        pending: PendingAuthorization,
        request: &'a Parts,
        now: UnixTime,
    ) -> Pin<Box<dyn Future<Output = Interaction> + Send + 'a>>;
}

/// A router serving every authorization server endpoint of `engine`, at the
/// paths of its configured URLs: `GET` authorization endpoint; `POST` token,
/// revocation, introspection and registration endpoints; `GET`/`PUT`/`DELETE`
/// `{registration endpoint}/{client_id}` (RFC 7592); `GET` JWKS; `GET`
/// `/.well-known/oauth-authorization-server{issuer path}` (RFC 8414 section
/// 3.1) and, when the profile serves it, `/.well-known/openid-configuration{path}`
/// and `{path}/.well-known/openid-configuration`.
///
/// `DPoP` `htu` and every `HttpContext::uri` are the configured endpoint URLs,
/// never built from `Host`. Request headers carrying credentials are marked
/// sensitive before any handler runs; to keep them out of a trace layer, wrap
/// the final router with [`crate::with_sensitive_headers`] after adding it.
pub fn authorization_server_router<S, F>(
    engine: Arc<Engine<S, F>>,
    interaction: Arc<dyn InteractionHandler>,
) -> Router
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let config = engine.config();
    let issuer_path = path_of(&config.issuer);
    let issuer_path = issuer_path.trim_end_matches('/').to_owned();
    let state = Arc::new(AsState {
        engine: Arc::clone(&engine),
        interaction,
    });

    let mut router = Router::new();
    {
        let s = Arc::clone(&state);
        router = router.route(
            &path_of(&config.authorization_endpoint),
            get(move |request: Request| authorize(Arc::clone(&s), request)),
        );
    }
    for (endpoint, kind) in [
        (&config.token_endpoint, FormEndpoint::Token),
        (&config.revocation_endpoint, FormEndpoint::Revoke),
        (&config.introspection_endpoint, FormEndpoint::Introspect),
    ] {
        let s = Arc::clone(&state);
        let uri = endpoint.clone();
        router = router.route(
            &path_of(endpoint),
            post(move |request: Request| form_endpoint(Arc::clone(&s), kind, uri.clone(), request)),
        );
    }
    if let Some(registration) = config.registration_endpoint.clone() {
        let path = path_of(&registration);
        let s = Arc::clone(&state);
        let uri = registration.clone();
        router = router.route(
            &path,
            post(move |request: Request| register(Arc::clone(&s), uri.clone(), request)),
        );
        let client_path = format!("{}/{{client_id}}", path.trim_end_matches('/'));
        let (s1, s2, s3) = (Arc::clone(&state), Arc::clone(&state), Arc::clone(&state));
        let (u1, u2, u3) = (registration.clone(), registration.clone(), registration);
        router = router.route(
            &client_path,
            get(move |id: Path<String>, request: Request| {
                manage(Arc::clone(&s1), Manage::Read, u1.clone(), id, request)
            })
            .put(move |id: Path<String>, request: Request| {
                manage(Arc::clone(&s2), Manage::Update, u2.clone(), id, request)
            })
            .delete(move |id: Path<String>, request: Request| {
                manage(Arc::clone(&s3), Manage::Delete, u3.clone(), id, request)
            }),
        );
    }
    {
        let e = Arc::clone(&engine);
        router = router.route(
            &path_of(&config.jwks_uri),
            get(move || std::future::ready(into_response(e.jwks()))),
        );
    }
    {
        let e = Arc::clone(&engine);
        router = router.route(
            &format!("/.well-known/oauth-authorization-server{issuer_path}"),
            get(move || std::future::ready(into_response(e.authorization_server_metadata()))),
        );
    }
    if engine.openid_configuration().is_some() {
        let inserted = format!("/.well-known/openid-configuration{issuer_path}");
        let appended = format!("{issuer_path}/.well-known/openid-configuration");
        let mut paths = vec![inserted];
        if !paths.contains(&appended) {
            paths.push(appended);
        }
        for path in paths {
            let e = Arc::clone(&engine);
            router = router.route(
                &path,
                get(move || {
                    std::future::ready(
                        e.openid_configuration()
                            .map(into_response)
                            .unwrap_or_else(not_found),
                    )
                }),
            );
        }
    }
    router.layer(axum::middleware::map_request(mark_request_sensitive))
}

struct AsState<S: Store, F: MetadataFetcher> {
    engine: Arc<Engine<S, F>>,
    interaction: Arc<dyn InteractionHandler>,
}

#[derive(Clone, Copy, Debug)]
enum FormEndpoint {
    Token,
    Revoke,
    Introspect,
}

#[derive(Clone, Copy, Debug)]
enum Manage {
    Read,
    Update,
    Delete,
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

async fn mark_request_sensitive(mut request: Request) -> Request {
    mark_sensitive(request.headers_mut());
    request
}

/// `GET` authorization endpoint (OAuth 2.1 section 4.1.1).
async fn authorize<S, F>(state: Arc<AsState<S, F>>, request: Request) -> Response
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let now = now();
    let (parts, _body) = request.into_parts();
    let query = parts.uri.query().unwrap_or("");
    if query.len() > MAX_QUERY_LEN {
        return error_page(ErrorCode::InvalidRequest, "the request is too large");
    }
    let pairs = form_pairs(query.as_bytes());
    match state.engine.authorize_pairs(pairs, now).await {
        AuthorizeOutcome::ErrorPage { error, description } => error_page(error, &description),
        AuthorizeOutcome::Redirect(response) => into_response(response),
        AuthorizeOutcome::Interaction(pending) => {
            match state
                .interaction
                .interact(pending.clone(), &parts, now)
                .await
            {
                Interaction::Respond(response) => response,
                Interaction::Decide(decision) => {
                    let Some(mut rng) = os_rng() else {
                        return server_error();
                    };
                    let response = state
                        .engine
                        .complete_authorization(pending, decision, now, &mut rng)
                        .await;
                    into_response(response)
                }
            }
        }
    }
}

/// `POST` token, revocation and introspection endpoints.
async fn form_endpoint<S, F>(
    state: Arc<AsState<S, F>>,
    kind: FormEndpoint,
    uri: String,
    request: Request,
) -> Response
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let now = now();
    let (parts, body) = request.into_parts();
    let (http, body) = match form_request(&parts.headers, body, &uri).await {
        Ok(ok) => ok,
        Err(refusal) => return refusal_response(&refusal),
    };
    let params = match Params::from_pairs(form_pairs(&body)) {
        Ok(params) => params,
        Err(error) => return into_response(error.to_response()),
    };
    let engine = &state.engine;
    let response = match kind {
        FormEndpoint::Token => {
            let Some(mut rng) = os_rng() else {
                return server_error();
            };
            engine.token(&params, &http, now, &mut rng).await
        }
        FormEndpoint::Revoke => engine.revoke(&params, &http, now).await,
        FormEndpoint::Introspect => engine.introspect(&params, &http, now).await,
    };
    into_response(response)
}

/// `POST` registration endpoint (RFC 7591 section 3.1).
async fn register<S, F>(state: Arc<AsState<S, F>>, uri: String, request: Request) -> Response
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let now = now();
    let (parts, body) = request.into_parts();
    let (http, body) = match json_request(&parts.headers, body, "POST", &uri).await {
        Ok(ok) => ok,
        Err(refusal) => return refusal_response(&refusal),
    };
    let Some(mut rng) = os_rng() else {
        return server_error();
    };
    into_response(state.engine.register(&body, &http, now, &mut rng).await)
}

/// `GET`/`PUT`/`DELETE` client configuration endpoint (RFC 7592 section 2).
async fn manage<S, F>(
    state: Arc<AsState<S, F>>,
    action: Manage,
    registration: String,
    Path(client_id): Path<String>,
    request: Request,
) -> Response
where
    S: Store + Send + Sync + 'static,
    F: MetadataFetcher + Send + Sync + 'static,
{
    let now = now();
    let (parts, body) = request.into_parts();
    let uri = format!("{}/{client_id}", registration.trim_end_matches('/'));
    let engine = &state.engine;
    let response = match action {
        Manage::Read | Manage::Delete => {
            let http = match context(&parts.headers, parts.method.as_str(), &uri) {
                Ok(http) => http,
                Err(refusal) => return refusal_response(&refusal),
            };
            if let Manage::Delete = action {
                engine.delete_client(&client_id, &http, now).await
            } else {
                let Some(mut rng) = os_rng() else {
                    return server_error();
                };
                engine.read_client(&client_id, &http, now, &mut rng).await
            }
        }
        Manage::Update => {
            let (http, body) = match json_request(&parts.headers, body, "PUT", &uri).await {
                Ok(ok) => ok,
                Err(refusal) => return refusal_response(&refusal),
            };
            let Some(mut rng) = os_rng() else {
                return server_error();
            };
            engine
                .update_client(&client_id, &http, &body, now, &mut rng)
                .await
        }
    };
    into_response(response)
}

async fn form_request(
    headers: &HeaderMap,
    body: axum::body::Body,
    uri: &str,
) -> Result<(HttpContext, Vec<u8>), AdapterError> {
    let http = context(headers, "POST", uri)?;
    content_type_is(headers, FORM)?;
    let body = read_body(headers, body).await?;
    Ok((http, body))
}

async fn json_request(
    headers: &HeaderMap,
    body: axum::body::Body,
    method: &str,
    uri: &str,
) -> Result<(HttpContext, Vec<u8>), AdapterError> {
    let http = context(headers, method, uri)?;
    content_type_is(headers, JSON)?;
    let body = read_body(headers, body).await?;
    Ok((http, body))
}

/// The engine's view of a request: `uri` is the configured endpoint URL.
fn context(headers: &HeaderMap, method: &str, uri: &str) -> Result<HttpContext, AdapterError> {
    let mut http = HttpContext::new(method, uri);
    http.authorization = authorization(headers)?;
    http.dpop = dpop_values(headers);
    Ok(http)
}

/// The path of an absolute URL from the configuration (validated by the engine).
fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".to_owned())
}

/// The `400` HTML page for an authorization request that cannot be redirected
/// (OAuth 2.1 section 4.1.2.1).
/// The page shown when the client or its redirect URI cannot be verified
/// (OAuth 2.1 section 4.1.2.1: never redirect then), or an error for a client
/// anyone could have created (RFC 9700 section 4.11.2). Every text is escaped;
/// the page cannot be framed (RFC 9700 section 4.16), cached, run scripts or
/// leak its URL in a `Referer`.
fn error_page(error: ErrorCode, description: &str) -> Response {
    let status = match error {
        ErrorCode::ServerError => 500,
        ErrorCode::TemporarilyUnavailable => 503,
        _ => 400,
    };
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Authorization error</title></head>\
         <body><h1>Authorization error</h1><p><code>{}</code>: {}</p></body></html>\n",
        escape_html(error.as_str()),
        escape_html(description)
    );
    let response = EndpointResponse {
        status,
        headers: vec![
            (
                "Content-Type".to_owned(),
                "text/html; charset=utf-8".to_owned(),
            ),
            (
                "Content-Security-Policy".to_owned(),
                "default-src 'none'; frame-ancestors 'none'".to_owned(),
            ),
            ("X-Frame-Options".to_owned(), "DENY".to_owned()),
            ("X-Content-Type-Options".to_owned(), "nosniff".to_owned()),
            ("Referrer-Policy".to_owned(), "no-referrer".to_owned()),
        ],
        body: latchkey_engine::ResponseBody::Html(html),
    }
    .no_store();
    into_response(response)
}

fn not_found() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
        .headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// HTML-escapes `text` for element content and attribute values.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_text_is_escaped() {
        assert_eq!(
            escape_html("<script>\"a\"&'b'</script>"),
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn oauth_2_1_section_4_1_2_1_error_page_is_html_400_not_cached() {
        let response = error_page(ErrorCode::InvalidRequest, "client_id <b>");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .map(HeaderValue::as_bytes),
            Some(&b"text/html; charset=utf-8"[..])
        );
        assert_eq!(
            response
                .headers()
                .get("cache-control")
                .map(HeaderValue::as_bytes),
            Some(&b"no-store"[..])
        );
    }

    #[test]
    fn endpoint_paths_come_from_the_configured_urls() {
        assert_eq!(
            path_of("https://as.example.com/oauth/token"),
            "/oauth/token"
        );
        assert_eq!(path_of("https://as.example.com"), "/");
    }
}
