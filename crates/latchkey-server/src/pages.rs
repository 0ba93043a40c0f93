//! The login, consent and message pages: askama templates (`templates/`,
//! checked and compiled into the binary at build time, every value
//! HTML-escaped unless a template says otherwise, which none does), sent with
//! headers that keep them out of frames and caches.
//!
//! No external resource and no JavaScript: the stylesheet is served by this
//! server at [`STYLESHEET_PATH`], so the `Content-Security-Policy` needs no
//! `'unsafe-inline'`.

use std::collections::BTreeMap;
use std::time::Duration;

use askama::Template;
use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use latchkey_engine::authorize::PendingAuthorization;

use crate::session::{SignedIn, UpstreamProfile};

/// Where the pages' stylesheet is served.
pub const STYLESHEET_PATH: &str = "/latchkey/style.css";
/// Where the login form posts.
pub const LOGIN_PATH: &str = "/latchkey/login";
/// Where a "Continue with" button posts: `/latchkey/upstream/{id}`.
pub const UPSTREAM_PATH: &str = "/latchkey/upstream/{id}";
/// Where an identity provider sends the browser back: the redirect URI to
/// register there is `{issuer}/latchkey/callback/{id}`.
pub const CALLBACK_PATH: &str = "/latchkey/callback/{id}";
/// Where the consent form posts (and where the consent page is shown).
pub const CONSENT_PATH: &str = "/latchkey/consent";

/// The stylesheet's text.
pub const STYLESHEET: &str = include_str!("../templates/style.css");

/// `templates/login.html` in `templates/layout.html`.
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    title: &'a str,
    client_name: &'a str,
    error: Option<&'a str>,
    csrf: &'a str,
    request: &'a str,
    passwords: bool,
    providers: &'a [ProviderButton],
}

/// One "Continue with {display_name}" button of the login page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderButton {
    /// The provider's id (the form posts to `/latchkey/upstream/{id}`).
    pub id: String,
    /// The provider's display name.
    pub display_name: String,
}

/// How people sign in here: with a password, and through which providers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignInChoices {
    /// Whether the password form is shown.
    pub passwords: bool,
    /// One button per identity provider.
    pub providers: Vec<ProviderButton>,
}

/// One line of the consent page's permissions: a scope and what it means.
struct ScopeLine<'a> {
    name: &'a str,
    description: Option<&'a str>,
}

/// `templates/consent.html` in `templates/layout.html`.
#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    title: &'a str,
    subject: &'a str,
    client_name: &'a str,
    client_id: &'a str,
    redirect_host: &'a str,
    upstream: Option<&'a UpstreamProfile>,
    resources: Vec<&'a str>,
    scopes: Vec<ScopeLine<'a>>,
    warning: bool,
    stays_connected_for: Option<String>,
    remember: bool,
    csrf: &'a str,
    request: &'a str,
}

/// `templates/message.html` in `templates/layout.html`.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

/// The login page for `pending`, with `error` shown when set; its form
/// carries `csrf` and `request`, the sealed pending authorization.
pub fn login(
    pending: &PendingAuthorization,
    choices: &SignInChoices,
    csrf: &str,
    request: &str,
    error: Option<&str>,
) -> String {
    render(&LoginPage {
        title: "Sign in",
        client_name: pending.display_name(),
        error,
        csrf,
        request,
        passwords: choices.passwords,
        providers: &choices.providers,
    })
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
///
/// Who signed in: the local subject, or for a sign-in through an identity
/// provider the provider, name and email (`user.upstream`). Each scope shows
/// its description from `[[resources]] scope_descriptions`, when there is one.
pub fn consent(
    pending: &PendingAuthorization,
    user: &SignedIn,
    scope_descriptions: &BTreeMap<String, String>,
    request_id: &str,
    stays_connected: Option<Duration>,
) -> String {
    let mut scopes: Vec<ScopeLine<'_>> = pending
        .scope()
        .iter()
        .map(|s| ScopeLine {
            name: s.as_str(),
            description: scope_descriptions.get(s.as_str()).map(String::as_str),
        })
        .collect();
    if pending.offline_access_requested() {
        scopes.push(ScopeLine {
            name: "offline_access",
            description: Some("stay connected when you are away"),
        });
    }
    let redirect_host = pending
        .redirect_host()
        .unwrap_or_else(|| pending.redirect_uri().as_str());
    render(&ConsentPage {
        title: "Allow access?",
        subject: user.subject.as_str(),
        client_name: pending.display_name(),
        client_id: pending.client_id().as_str(),
        redirect_host,
        upstream: user.upstream.as_ref(),
        resources: pending.resources().iter().map(|r| r.as_str()).collect(),
        scopes,
        warning: pending.loopback_redirect_warning(),
        stays_connected_for: stays_connected.map(describe_duration),
        remember: pending.redirect_is_loopback(),
        csrf: user.csrf(),
        request: request_id,
    })
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
    render(&MessagePage {
        title,
        message: text,
    })
}

/// The page, or (if a value's `Display` failed, which none of ours does) a
/// fixed page that says something went wrong, logged.
fn render(page: &impl Template) -> String {
    page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "a page could not be rendered");
        FALLBACK.to_owned()
    })
}

/// What [`render`] answers when a template fails.
const FALLBACK: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Error · Latchkey</title></head><body><p>Something went wrong. Go back to the \
application you came from and start again.</p></body></html>";

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

/// The `Content-Security-Policy` of a page whose forms may end at
/// `form_target`: one origin, or several separated by spaces (the login page:
/// the client's, and each identity provider's authorization endpoint). A
/// part that is not an origin or scheme (no `:`, or a `;` or `,` that would
/// end the directive) is left out.
pub fn content_security_policy(form_target: Option<&str>) -> String {
    let extra: String = form_target
        .unwrap_or_default()
        .split(' ')
        .filter(|origin| {
            origin.contains(':')
                && origin
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b';' && b != b',')
        })
        .map(|origin| format!(" {origin}"))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    const LAYOUT: &str = include_str!("../templates/layout.html");
    const LOGIN: &str = include_str!("../templates/login.html");
    const CONSENT: &str = include_str!("../templates/consent.html");
    const MESSAGE: &str = include_str!("../templates/message.html");

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

    fn user(subject: &str) -> SignedIn {
        SignedIn::for_tests(subject, "c\"srf", None)
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
        let page = consent(
            &pending(true),
            &user("demo"),
            &BTreeMap::new(),
            "req-1",
            None,
        );
        assert!(page.contains("&#60;b&#62;Evil&#60;/b&#62;"), "{page}");
        assert!(!page.contains("<b>Evil"));
        assert!(page.contains("<code>https://app.example/client.json</code>"));
        assert!(page.contains("<code>127.0.0.1</code>"));
        assert!(page.contains("<li><code>https://mcp.example/mcp</code></li>"));
        assert!(page.contains("<li><code>mcp:read</code></li>"));
        assert!(page.contains("class=\"warning\""));
        assert!(page.contains("name=\"csrf\" value=\"c&#34;srf\""));
        assert!(page.contains("name=\"request\" value=\"req-1\""));
        let page = consent(
            &pending(false),
            &user("demo"),
            &BTreeMap::new(),
            "req-1",
            None,
        );
        assert!(!page.contains("class=\"warning\""));
    }

    /// A pending request whose client name, redirect host and scope are
    /// markup (a scope token may hold `<`, `>` and `'`, RFC 6749 section 3.3).
    fn hostile() -> PendingAuthorization {
        let mut value = serde_json::to_value(pending(true)).unwrap();
        value["client_name"] = "<script>alert(1)</script>".into();
        value["redirect_host"] = "<script>host</script>".into();
        value["scope"] = "<script>scope</script> x'onload='y".into();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn security_hostile_values_are_escaped_in_every_page() {
        let hostile = hostile();
        let pages = [
            login(
                &hostile,
                &SignInChoices {
                    passwords: true,
                    providers: vec![ProviderButton {
                        id: "corp".to_owned(),
                        display_name: "<script>idp</script>".to_owned(),
                    }],
                },
                "c\"srf",
                "r<e>q",
                Some("<script>error</script>"),
            ),
            consent(
                &hostile,
                &user("<script>subject</script>"),
                &BTreeMap::new(),
                "r<e>q",
                Some(Duration::from_secs(3_600)),
            ),
            message("<script>title</script>", "<script>message</script>"),
        ];
        for page in &pages {
            assert!(!page.contains("<script"), "{page}");
            assert!(page.contains("&#60;script&#62;"), "{page}");
            // No attribute value can be closed early.
            assert!(!page.contains("value=\"c\"srf\""), "{page}");
            assert!(!page.contains("x'onload"), "{page}");
        }
        let [login, consent, message] = pages;
        assert!(login.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(login.contains("&#60;script&#62;error&#60;/script&#62;"));
        assert!(login.contains("value=\"r&#60;e&#62;q\""));
        for text in ["alert(1)", "host", "scope", "subject"] {
            assert!(
                consent.contains(&format!("&#60;script&#62;{text}&#60;/script&#62;")),
                "{text}: {consent}"
            );
        }
        assert!(
            message.contains("<title>&#60;script&#62;title&#60;/script&#62; · Latchkey</title>")
        );
        assert!(message.contains("&#60;script&#62;message&#60;/script&#62;"));
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
            &user("demo"),
            &BTreeMap::new(),
            "req-1",
            Some(Duration::from_secs(7 * 86_400)),
        );
        assert!(page.contains("stays connected to your account for 7 days"));
        // The pending request's redirect URI is loopback: an unticked box.
        assert!(page.contains("<input type=\"checkbox\" name=\"remember\" value=\"yes\">"));
        let page = consent(
            &pending(false),
            &user("demo"),
            &BTreeMap::new(),
            "req-1",
            None,
        );
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
