//! The login, consent and message pages: small HTML templates compiled into
//! the binary (`templates/`), filled with HTML-escaped values, and sent with
//! headers that keep them out of frames and caches.
//!
//! No external resource and no JavaScript: the stylesheet is served by this
//! server at [`STYLESHEET_PATH`], so the `Content-Security-Policy` needs no
//! `'unsafe-inline'`.

use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use latchkey_engine::authorize::PendingAuthorization;

/// Where the pages' stylesheet is served.
pub const STYLESHEET_PATH: &str = "/latchkey/style.css";
/// Where the login form posts.
pub const LOGIN_PATH: &str = "/latchkey/login";
/// Where the consent form posts (and where the consent page is shown).
pub const CONSENT_PATH: &str = "/latchkey/consent";

const LAYOUT: &str = include_str!("../templates/layout.html");
const LOGIN: &str = include_str!("../templates/login.html");
const CONSENT: &str = include_str!("../templates/consent.html");
const MESSAGE: &str = include_str!("../templates/message.html");
/// The stylesheet's text.
pub const STYLESHEET: &str = include_str!("../templates/style.css");

/// The login page for `pending`, with `error` shown when set; its form
/// carries `csrf` and `request`, the sealed pending authorization.
pub fn login(
    pending: &PendingAuthorization,
    csrf: &str,
    request: &str,
    error: Option<&str>,
) -> String {
    let error = error
        .map(|text| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(text)))
        .unwrap_or_default();
    let content = fill(
        LOGIN,
        &[
            ("client_name", &escape(pending.display_name())),
            ("error", &error),
            ("csrf", &escape(csrf)),
            ("request", &escape(request)),
        ],
    );
    layout("Sign in", &content)
}

/// The consent page (MCP A8: names the client, its redirect host, the
/// resources and the scopes; warns about metadata-document clients whose
/// redirect URIs are all loopback). Its form names the one request it shows,
/// `request_id`, so that a decision applies to that request alone.
///
/// When the client will get a refresh token, `stays_connected` (from
/// [`latchkey_engine::Engine::stays_connected_for`]) is how long it stays
/// connected, and the page says so whether or not it asked for
/// `offline_access`. For a loopback redirect URI
/// ([`PendingAuthorization::redirect_is_loopback`]) the form has a "remember"
/// box, unticked, that says why it is not remembered by default: any program
/// on this computer can listen there.
pub fn consent(
    pending: &PendingAuthorization,
    subject: &str,
    csrf: &str,
    request_id: &str,
    stays_connected: Option<Duration>,
) -> String {
    let list = |items: Vec<String>| -> String {
        if items.is_empty() {
            return "<li>nothing beyond signing in</li>".to_owned();
        }
        items
            .iter()
            .map(|item| format!("<li><code>{}</code></li>", escape(item)))
            .collect()
    };
    let resources = list(
        pending
            .resources()
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
    );
    let mut scopes: Vec<String> = pending
        .scope()
        .iter()
        .map(|s| s.as_str().to_owned())
        .collect();
    if pending.offline_access_requested() {
        scopes.push("offline_access (stay connected when you are away)".to_owned());
    }
    let warning = if pending.loopback_redirect_warning() {
        "<p class=\"warning\" role=\"alert\"><strong>Check this application.</strong> \
         It describes itself with a document on the web but sends you back only to this \
         computer (localhost), so any program on this computer could claim to be it. \
         Allow only if you just started it yourself.</p>"
    } else {
        ""
    };
    let connected = stays_connected
        .map(|lifetime| {
            format!(
                "<p class=\"connected\">If you allow, <strong>{}</strong> stays connected to \
                 your account for {}: it can renew its access without asking you again \
                 until then.</p>",
                escape(pending.display_name()),
                describe_duration(lifetime)
            )
        })
        .unwrap_or_default();
    let remember = if pending.redirect_is_loopback() {
        format!(
            "<p class=\"remember\"><label><input type=\"checkbox\" name=\"remember\" \
             value=\"yes\"> Remember this decision for <strong>{}</strong></label>\
             This application receives its answer on this computer (localhost), where any \
             program can listen and claim to be it, so you are asked every time unless you \
             tick this box.</p>",
            escape(pending.display_name())
        )
    } else {
        String::new()
    };
    let redirect_host = pending
        .redirect_host()
        .unwrap_or_else(|| pending.redirect_uri().as_str());
    let content = fill(
        CONSENT,
        &[
            ("subject", &escape(subject)),
            ("client_name", &escape(pending.display_name())),
            ("client_id", &escape(pending.client_id().as_str())),
            ("redirect_host", &escape(redirect_host)),
            ("resources", &resources),
            ("scopes", &list(scopes)),
            ("warning", warning),
            ("connected", &connected),
            ("remember", &remember),
            ("csrf", &escape(csrf)),
            ("request", &escape(request_id)),
        ],
    );
    layout("Allow access?", &content)
}

/// A lifetime in words: whole days, else whole hours, else minutes (rounded
/// up), e.g. "30 days", "1 hour".
fn describe_duration(lifetime: Duration) -> String {
    let secs = lifetime.as_secs();
    let (count, unit) = if secs >= 86_400 && secs.is_multiple_of(86_400) {
        (secs / 86_400, "day")
    } else if secs >= 3_600 && secs.is_multiple_of(3_600) {
        (secs / 3_600, "hour")
    } else {
        (secs.div_ceil(60).max(1), "minute")
    };
    format!("{count} {unit}{}", if count == 1 { "" } else { "s" })
}

/// A page with a title and one message.
pub fn message(title: &str, text: &str) -> String {
    layout(title, &fill(MESSAGE, &[("message", &escape(text))]))
}

/// An HTML response with the page headers: `Content-Security-Policy`
/// (`default-src 'none'`, the same-origin stylesheet, forms posting only here
/// or, after a redirect, to `form_target` (the client's redirect origin, which
/// browsers check form redirects against), `frame-ancestors 'none'`),
/// `X-Frame-Options: DENY` (RFC 9700 section 4.4.1.9 clickjacking),
/// `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
pub fn html(status: StatusCode, body: String, form_target: Option<&str>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let csp = content_security_policy(form_target);
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(HeaderName::from_static("content-security-policy"), value);
    }
    apply_common_headers(headers);
    response
}

/// The stylesheet response.
pub fn stylesheet() -> Response {
    let mut response = Response::new(Body::from(STYLESHEET));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// The `Content-Security-Policy` of a page whose forms may end at `form_target`.
pub fn content_security_policy(form_target: Option<&str>) -> String {
    let extra = form_target
        .filter(|origin| {
            origin
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        })
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{extra}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The origin (`scheme://host[:port]`) a pending authorization redirects to,
/// for the `form-action` directive; `None` for URIs without a host.
pub fn redirect_origin(pending: &PendingAuthorization) -> Option<String> {
    let url = url::Url::parse(pending.redirect_uri().as_str()).ok()?;
    match url.origin() {
        url::Origin::Tuple(..) => Some(url.origin().ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", url.scheme())),
    }
}

/// HTML escaping for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn apply_common_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn layout(title: &str, content: &str) -> String {
    fill(LAYOUT, &[("title", &escape(title)), ("content", content)])
}

/// Replaces each `{{name}}` with its (already escaped) value, in one pass, so
/// a value can never introduce a placeholder.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start.saturating_add(2)..).unwrap_or_default();
        let Some(end) = after.find("}}") else {
            out.push_str(rest.get(start..).unwrap_or_default());
            return out;
        };
        let name = after.get(..end).unwrap_or_default();
        if let Some((_, value)) = values.iter().find(|(key, _)| *key == name) {
            out.push_str(value);
        }
        rest = after.get(end.saturating_add(2)..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_html_specials() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn fill_is_single_pass() {
        assert_eq!(
            fill("a{{x}}b{{y}}", &[("x", "{{y}}"), ("y", "Y")]),
            "a{{y}}bY"
        );
        assert_eq!(fill("a{{unclosed", &[]), "a{{unclosed");
    }

    #[test]
    fn csp_forbids_framing_and_foreign_forms() {
        let csp = content_security_policy(Some("http://127.0.0.1:33333"));
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'self'; img-src 'self'; \
             form-action 'self' http://127.0.0.1:33333; frame-ancestors 'none'; base-uri 'none'"
        );
        // A value that could add a directive is dropped.
        assert!(!content_security_policy(Some("x; script-src *")).contains("script-src"));
    }

    #[test]
    fn templates_have_no_external_resources_or_scripts() {
        for template in [LAYOUT, LOGIN, CONSENT, MESSAGE, STYLESHEET] {
            assert!(!template.contains("<script"));
            assert!(!template.contains("http://"));
            assert!(!template.contains("https://"));
            assert!(!template.contains("@import"));
        }
    }

    fn pending(warning: bool) -> PendingAuthorization {
        serde_json::from_value(serde_json::json!({
            "client_id": "https://app.example/client.json",
            "client_name": "<b>Evil</b>",
            "metadata_document": true,
            "redirect_uri": "http://127.0.0.1:4567/cb",
            "redirect_uri_sent": true,
            "redirect_host": "127.0.0.1",
            "loopback_redirect_warning": warning,
            "resources": ["https://mcp.example/mcp"],
            "scope": "mcp:read",
            "offline_access": false,
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dpop_jkt": null,
            "prompt": { "none": false, "login": false, "consent": false, "select_account": false },
            "max_age": null,
            "requested_at": 1_800_000_000,
            "unvetted_client": true,
            "refresh_token_grant": true
        }))
        .unwrap()
    }

    #[test]
    fn mcp_a8_consent_page_names_client_host_resource_scope_and_warns_on_loopback() {
        let page = consent(&pending(true), "demo", "tok", "req-1", None);
        assert!(page.contains("&lt;b&gt;Evil&lt;/b&gt;"));
        assert!(!page.contains("<b>Evil"));
        assert!(page.contains("<code>https://app.example/client.json</code>"));
        assert!(page.contains("<code>127.0.0.1</code>"));
        assert!(page.contains("<li><code>https://mcp.example/mcp</code></li>"));
        assert!(page.contains("<li><code>mcp:read</code></li>"));
        assert!(page.contains("class=\"warning\""));
        assert!(page.contains("name=\"csrf\" value=\"tok\""));
        assert!(page.contains("name=\"request\" value=\"req-1\""));
        let page = consent(&pending(false), "demo", "tok", "req-1", None);
        assert!(!page.contains("class=\"warning\""));
    }

    #[test]
    fn lifetimes_are_said_in_whole_days_hours_or_minutes() {
        let said = |secs| describe_duration(Duration::from_secs(secs));
        assert_eq!(said(30 * 86_400), "30 days");
        assert_eq!(said(86_400), "1 day");
        assert_eq!(said(36 * 3_600), "36 hours");
        assert_eq!(said(3_600), "1 hour");
        assert_eq!(said(90), "2 minutes");
        assert_eq!(said(1), "1 minute");
    }

    #[test]
    fn consent_page_says_how_long_the_client_stays_connected_and_asks_to_remember_loopback() {
        let page = consent(
            &pending(false),
            "demo",
            "tok",
            "req-1",
            Some(Duration::from_secs(7 * 86_400)),
        );
        assert!(page.contains("stays connected to your account for 7 days"));
        // The pending request's redirect URI is loopback: an unticked box.
        assert!(page.contains("<input type=\"checkbox\" name=\"remember\" value=\"yes\">"));
        let page = consent(&pending(false), "demo", "tok", "req-1", None);
        assert!(!page.contains("stays connected"));
    }

    #[test]
    fn redirect_origin_keeps_the_port() {
        assert_eq!(
            redirect_origin(&pending(false)).as_deref(),
            Some("http://127.0.0.1:4567")
        );
    }

    #[test]
    fn login_form_has_labelled_username_and_password() {
        assert!(LOGIN.contains("<label for=\"username\">"));
        assert!(LOGIN.contains("id=\"username\" name=\"username\""));
        assert!(LOGIN.contains("<label for=\"password\">"));
        assert!(LOGIN.contains("name=\"password\" type=\"password\""));
        assert!(LOGIN.contains("name=\"csrf\""));
        assert!(LOGIN.contains("name=\"request\""));
        assert!(CONSENT.contains("name=\"csrf\""));
        assert!(CONSENT.contains("name=\"request\""));
    }
}
