//! What every authorization-server response carries, and the one page the
//! authorization endpoint shows instead of redirecting.

use bytes::Bytes;
use http::header::{
    CONTENT_TYPE, HeaderName, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use latchkey_engine::EndpointResponse;
use latchkey_types::ErrorCode;

use crate::resource::{into_response, server_error};

/// Adds the security headers of every authorization-server response the
/// layer makes, keeping any value already set (a discovery document keeps
/// its own caching; a page of the server's keeps its own policy): a
/// `Content-Security-Policy` of `default-src 'none'; frame-ancestors
/// 'none'` and `X-Frame-Options: DENY` (no framing, RFC 9700 section 4.16;
/// no script), `X-Content-Type-Options: nosniff` and `Referrer-Policy:
/// no-referrer` (no URL, codes included, leaks in a `Referer`).
pub fn security_headers(headers: &mut HeaderMap) {
    const CSP: HeaderName = http::header::CONTENT_SECURITY_POLICY;
    for (name, value) in [
        (CSP, "default-src 'none'; frame-ancestors 'none'"),
        (X_FRAME_OPTIONS, "DENY"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

/// The page shown when the client or its redirect URI cannot be verified
/// (OAuth 2.1 section 4.1.2.1: never redirect then), or for an error of a
/// client anyone could have created (RFC 9700 section 4.11.2): `500` for
/// `server_error`, `503` for `temporarily_unavailable`, otherwise `400`;
/// HTML from a compiled template that escapes every text, not cached
/// (`Cache-Control: no-store`, `Pragma: no-cache`), with the
/// [`security_headers`].
pub fn error_page(error: ErrorCode, description: &str) -> Response<Bytes> {
    let page = ErrorPage {
        error: error.as_str(),
        description,
    };
    let Ok(html) = askama::Template::render(&page) else {
        return server_error();
    };
    let status = match error.http_status() {
        500 => StatusCode::INTERNAL_SERVER_ERROR,
        503 => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = into_response(EndpointResponse::empty_ok().no_store());
    *response.status_mut() = status;
    *response.body_mut() = Bytes::from(html);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(headers);
    response
}

/// `templates/error_page.html`: askama escapes `error` and `description`
/// for HTML (the `.html` extension turns escaping on).
#[derive(askama::Template)]
#[template(path = "error_page.html")]
struct ErrorPage<'a> {
    error: &'a str,
    description: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response<Bytes>, name: &str) -> Option<&'a [u8]> {
        response.headers().get(name).map(HeaderValue::as_bytes)
    }

    #[test]
    fn oauth_2_1_section_4_1_2_1_error_page_escapes_every_text() {
        let response = error_page(
            ErrorCode::InvalidRequest,
            "<script>alert(\"x\")</script> & 'quoted'",
        );
        let text = String::from_utf8_lossy(response.body());
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.contains("&#60;script&#62;"), "{text}");
        assert!(text.contains("&#38; &#39;quoted&#39;"), "{text}");
        assert!(!text.contains("\"x\""), "{text}");
        assert!(!text.contains("'quoted'"), "{text}");
        assert!(text.contains("<code>invalid_request</code>"), "{text}");
    }

    #[test]
    fn rfc_9700_section_4_16_error_page_is_not_cached_framed_or_redirected() {
        let response = error_page(ErrorCode::InvalidRequest, "client_id is missing");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            header(&response, "content-type"),
            Some(&b"text/html; charset=utf-8"[..])
        );
        assert_eq!(header(&response, "cache-control"), Some(&b"no-store"[..]));
        assert_eq!(header(&response, "pragma"), Some(&b"no-cache"[..]));
        assert_eq!(header(&response, "x-frame-options"), Some(&b"DENY"[..]));
        assert_eq!(
            header(&response, "content-security-policy"),
            Some(&b"default-src 'none'; frame-ancestors 'none'"[..])
        );
        assert_eq!(
            header(&response, "referrer-policy"),
            Some(&b"no-referrer"[..])
        );
        assert_eq!(header(&response, "location"), None);
        assert_eq!(
            error_page(ErrorCode::ServerError, "x").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            error_page(ErrorCode::TemporarilyUnavailable, "x").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn security_headers_keep_a_value_already_set() {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        security_headers(&mut headers);
        assert_eq!(
            headers
                .get(http::header::CONTENT_SECURITY_POLICY)
                .map(HeaderValue::as_bytes),
            Some(&b"default-src 'self'"[..])
        );
        assert_eq!(
            headers
                .get(X_CONTENT_TYPE_OPTIONS)
                .map(HeaderValue::as_bytes),
            Some(&b"nosniff"[..])
        );
    }
}
