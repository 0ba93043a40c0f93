//! HTTP <-> engine translation shared by both routers: the clock, the RNG,
//! header extraction, size-limited bodies and response conversion.

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use latchkey_engine::{EndpointResponse, ResponseBody};
use latchkey_types::{ErrorCode, UnixTime};
use rand_core::SeedableRng;

use crate::error::AdapterError;

/// The largest form or JSON body read, in bytes (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// The largest authorization request query string read, in bytes.
pub const MAX_QUERY_LEN: usize = 32 * 1024;

/// The `DPoP` header name (RFC 9449 section 4.1).
pub(crate) static DPOP: HeaderName = HeaderName::from_static("dpop");

/// The system clock as `UnixTime`, read once per request (the guard of
/// `latchkey-http` takes it as an argument).
pub fn now() -> UnixTime {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

/// A ChaCha20 RNG seeded from the operating system, or `None` when the OS RNG fails.
pub(crate) fn os_rng() -> Option<rand_chacha::ChaCha20Rng> {
    rand_chacha::ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).ok()
}

/// The JSON answer to a refused authorization-server request: `400
/// invalid_request` (`413` for a body too large) with `Cache-Control: no-store`.
pub(crate) fn refusal_response(error: &AdapterError) -> Response {
    let mut response = EndpointResponse::error(ErrorCode::from(error), &error.to_string());
    response.status = error.http_status();
    into_response(response)
}

/// The one `Authorization` header, refusing repeats (OAuth 2.1 section 3.2).
pub(crate) fn authorization(headers: &HeaderMap) -> Result<Option<String>, AdapterError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(AdapterError::RepeatedAuthorization);
    }
    first
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| AdapterError::MalformedAuthorization)
        })
        .transpose()
}

/// Every `DPoP` header value, in order (the engine refuses more than one).
/// A value that is not UTF-8 is passed lossily, so the engine refuses it as malformed.
pub(crate) fn dpop_values(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(&DPOP)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect()
}

/// Whether the media type of `Content-Type` is `expected` (parameters such as
/// `charset` ignored, compared case-insensitively, RFC 9110 section 8.3.1).
pub(crate) fn content_type_is(
    headers: &HeaderMap,
    expected: &'static str,
) -> Result<(), AdapterError> {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(AdapterError::UnsupportedContentType(expected));
    };
    let media_type = value
        .to_str()
        .ok()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match media_type {
        Some(media_type) if media_type.eq_ignore_ascii_case(expected) => Ok(()),
        _ => Err(AdapterError::UnsupportedContentType(expected)),
    }
}

/// The body, at most [`MAX_BODY_LEN`] bytes.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, AdapterError> {
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_LEN as u64) {
        return Err(AdapterError::BodyTooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY_LEN)
        .await
        .map(|bytes| bytes.to_vec())
        .map_err(|_| AdapterError::BodyTooLarge)
}

/// Form pairs (`application/x-www-form-urlencoded`, percent-decoded).
pub(crate) fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

/// Copies an engine response onto HTTP; a header the engine built that HTTP
/// cannot carry becomes a generic `server_error`.
pub(crate) fn into_response(response: EndpointResponse) -> Response {
    try_into_response(response).unwrap_or_else(|| {
        tracing::error!("an engine response could not be converted");
        server_error()
    })
}

/// The generic `500 server_error` JSON answer.
pub(crate) fn server_error() -> Response {
    let mut response = Response::new(Body::from(
        "{\"error\":\"server_error\",\"error_description\":\"internal server error\"}",
    ));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

fn try_into_response(response: EndpointResponse) -> Option<Response> {
    let status = StatusCode::from_u16(response.status).ok()?;
    let body = match response.body {
        ResponseBody::Empty => Body::empty(),
        ResponseBody::Json(json) => Body::from(json),
        ResponseBody::Html(html) => Body::from(html),
    };
    let mut out = Response::new(body);
    *out.status_mut() = status;
    for (name, value) in response.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        let mut value = HeaderValue::from_str(&value).ok()?;
        if is_sensitive(&name) {
            value.set_sensitive(true);
        }
        out.headers_mut().append(name, value);
    }
    Some(out)
}

/// Whether header `name` carries credentials (never logged).
pub(crate) fn is_sensitive(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || *name == DPOP || *name == COOKIE || *name == SET_COOKIE
}

/// Marks `Authorization`, `DPoP`, `Cookie` and `Set-Cookie` values sensitive in `headers`.
pub(crate) fn mark_sensitive(headers: &mut HeaderMap) {
    for (name, value) in headers.iter_mut() {
        if is_sensitive(name) {
            value.set_sensitive(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in list {
            map.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn oauth_2_1_section_3_2_repeated_authorization_is_refused() {
        let map = headers(&[("authorization", "Basic a"), ("authorization", "Basic b")]);
        assert_eq!(
            authorization(&map),
            Err(AdapterError::RepeatedAuthorization)
        );
        let map = headers(&[("authorization", "Basic a")]);
        assert_eq!(authorization(&map), Ok(Some("Basic a".to_owned())));
        assert_eq!(authorization(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn content_type_media_type_is_compared_without_parameters() {
        let form = "application/x-www-form-urlencoded";
        let ok = headers(&[(
            "content-type",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        )]);
        assert_eq!(content_type_is(&ok, form), Ok(()));
        let json = headers(&[("content-type", "application/json")]);
        assert_eq!(
            content_type_is(&json, form),
            Err(AdapterError::UnsupportedContentType(form))
        );
        assert_eq!(
            content_type_is(&HeaderMap::new(), form),
            Err(AdapterError::UnsupportedContentType(form))
        );
        let twice = headers(&[("content-type", form), ("content-type", form)]);
        assert_eq!(
            content_type_is(&twice, form),
            Err(AdapterError::UnsupportedContentType(form))
        );
    }

    #[test]
    fn credentials_are_marked_sensitive() {
        let mut map = headers(&[
            ("authorization", "Bearer x"),
            ("dpop", "p"),
            ("cookie", "c"),
            ("accept", "*/*"),
        ]);
        mark_sensitive(&mut map);
        assert!(
            map.get("authorization")
                .is_some_and(HeaderValue::is_sensitive)
        );
        assert!(map.get("dpop").is_some_and(HeaderValue::is_sensitive));
        assert!(map.get("cookie").is_some_and(HeaderValue::is_sensitive));
        assert!(!map.get("accept").is_some_and(HeaderValue::is_sensitive));
    }

    #[test]
    fn an_unrepresentable_engine_header_is_a_generic_server_error() {
        let response = EndpointResponse::empty_ok().with_header("bad name", "x".to_owned());
        let converted = into_response(response);
        assert_eq!(converted.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn bodies_over_64_kib_are_too_large() {
        let big = Body::from(vec![b'a'; MAX_BODY_LEN + 1]);
        assert_eq!(
            read_body(&HeaderMap::new(), big).await,
            Err(AdapterError::BodyTooLarge)
        );
        let declared = headers(&[("content-length", "1000000")]);
        assert_eq!(
            read_body(&declared, Body::empty()).await,
            Err(AdapterError::BodyTooLarge)
        );
        let fits = Body::from(vec![b'a'; MAX_BODY_LEN]);
        assert_eq!(
            read_body(&HeaderMap::new(), fits).await.map(|b| b.len()),
            Ok(MAX_BODY_LEN)
        );
    }
}
