//! Translation between actix-web and the engine's types: the clock and RNG read
//! once per request, request facts extracted, bodies read within limits, and
//! [`EndpointResponse`] copied onto an [`HttpResponse`].

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use latchkey_engine::{EndpointResponse, HttpContext, ResponseBody};
use latchkey_types::{ErrorCode, UnixTime};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::error::ActixError;

/// The largest form or JSON request body read, in bytes (64 KiB).
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// The current time, read from the system clock (once per request).
pub fn now() -> UnixTime {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    UnixTime::from_secs(secs)
}

/// A request's RNG: ChaCha20 seeded from the operating system's generator.
/// A failing OS generator is [`ActixError::Rng`], never a panic.
pub fn request_rng() -> Result<ChaCha20Rng, ActixError> {
    ChaCha20Rng::try_from_rng(&mut getrandom::SysRng).map_err(|_| ActixError::Rng)
}

/// Copies an engine response onto HTTP: status, headers in order, and the
/// body (whose `Content-Type` the engine already set). A status or header
/// HTTP cannot carry becomes a generic `500 server_error`.
pub fn into_http_response(response: EndpointResponse) -> HttpResponse {
    let Ok(status) = StatusCode::from_u16(response.status) else {
        return adapter_error(&ActixError::ResponseEncoding);
    };
    let mut builder = HttpResponse::build(status);
    for (name, value) in &response.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            // The name only: values may be redirect targets or nonces.
            tracing::error!(target: "latchkey::actix", header = %name, "engine header cannot be encoded");
            return adapter_error(&ActixError::ResponseEncoding);
        };
        builder.append_header((name, value));
    }
    match response.body {
        ResponseBody::Empty => builder.finish(),
        ResponseBody::Json(json) => builder.body(json),
        ResponseBody::Html(html) => builder.body(html),
    }
}

/// The RFC 6749 section 5.2 JSON error for an adapter-level refusal, with
/// `Cache-Control: no-store`; a body over the limit is `413` (RFC 9110
/// section 15.5.14) with the `invalid_request` body. Internal failures get a
/// generic description and are logged without detail from the request.
pub(crate) fn adapter_error(error: &ActixError) -> HttpResponse {
    let code = ErrorCode::from(error);
    if code == ErrorCode::ServerError {
        tracing::error!(target: "latchkey::actix", %error, "internal failure");
    }
    let description = match code {
        ErrorCode::ServerError => "internal server error".to_owned(),
        _ => error.to_string(),
    };
    let mut response = EndpointResponse::error(code, &description);
    if *error == ActixError::BodyTooLarge {
        response.status = 413;
    }
    // `EndpointResponse::error` only makes encodable responses.
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut builder = HttpResponse::build(status);
    for (name, value) in response.headers {
        builder.append_header((name, value));
    }
    match response.body {
        ResponseBody::Json(json) => builder.body(json),
        ResponseBody::Empty | ResponseBody::Html(_) => builder.finish(),
    }
}

/// The request facts the engine needs: the method, the CONFIGURED endpoint
/// URL `uri` (the DPoP `htu`, RFC 9449 section 4.3; never built from `Host`),
/// the one `Authorization` header (a repeated one is refused) and every
/// `DPoP` header value in order.
pub(crate) fn http_context(request: &HttpRequest, uri: &str) -> Result<HttpContext, ActixError> {
    let mut context = HttpContext::new(request.method().as_str(), uri);
    context.authorization = single_authorization(request)?;
    context.dpop = request
        .headers()
        .get_all(HeaderName::from_static("dpop"))
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    Ok(context)
}

/// The `Authorization` header if exactly one was sent: `None` when absent,
/// [`ActixError::RepeatedAuthorization`] for more than one,
/// [`ActixError::MalformedAuthorization`] when it is not visible ASCII.
pub(crate) fn single_authorization(request: &HttpRequest) -> Result<Option<String>, ActixError> {
    let mut values = request.headers().get_all(header::AUTHORIZATION);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ActixError::RepeatedAuthorization);
    }
    let text = first
        .to_str()
        .map_err(|_| ActixError::MalformedAuthorization)?;
    Ok(Some(text.to_owned()))
}

/// Checks that the request has exactly one `Content-Type` whose media type
/// (parameters such as `charset` aside) is `expected`, case-insensitively
/// (RFC 9110 section 8.3.1).
pub(crate) fn require_content_type(
    request: &HttpRequest,
    expected: &str,
) -> Result<(), ActixError> {
    let mut values = request.headers().get_all(header::CONTENT_TYPE);
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ActixError::WrongContentType);
    };
    let text = value.to_str().map_err(|_| ActixError::WrongContentType)?;
    let media_type = text.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ActixError::WrongContentType)
    }
}

/// Reads the body, refusing more than [`MAX_BODY_LEN`] bytes: early from a
/// `Content-Length`, otherwise while reading.
pub(crate) async fn read_body(
    request: &HttpRequest,
    payload: web::Payload,
) -> Result<Vec<u8>, ActixError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_LEN as u64) {
        return Err(ActixError::BodyTooLarge);
    }
    match payload.to_bytes_limited(MAX_BODY_LEN).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(_)) => Err(ActixError::BodyUnreadable),
        Err(_) => Err(ActixError::BodyTooLarge),
    }
}

/// Splits an `application/x-www-form-urlencoded` body or query string into
/// percent-decoded pairs (WHATWG URL "application/x-www-form-urlencoded
/// parsing", as OAuth 2.1 appendix B asks). A body that is not UTF-8, or
/// whose decoded bytes are not, is [`ActixError::BodyUnreadable`]. The count
/// and lengths are bounded by `Params::from_pairs` and the body limit.
pub(crate) fn form_pairs(bytes: &[u8]) -> Result<Vec<(String, String)>, ActixError> {
    let Ok(raw) = core::str::from_utf8(bytes) else {
        return Err(ActixError::BodyUnreadable);
    };
    let raw_replacements = raw.matches('\u{FFFD}').count();
    let mut decoded_replacements = 0usize;
    let mut pairs = Vec::new();
    for (name, value) in url::form_urlencoded::parse(bytes) {
        // `parse` decodes lossily: more replacement characters than the raw
        // input held means percent-encoded bytes were not UTF-8.
        decoded_replacements = decoded_replacements
            .saturating_add(name.matches('\u{FFFD}').count())
            .saturating_add(value.matches('\u{FFFD}').count());
        pairs.push((name.into_owned(), value.into_owned()));
    }
    if decoded_replacements > raw_replacements {
        return Err(ActixError::BodyUnreadable);
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;
    use actix_web::test::TestRequest;

    #[test]
    fn repeated_authorization_is_refused() {
        let request = TestRequest::default()
            .append_header(("Authorization", "Basic YTpi"))
            .append_header(("Authorization", "Basic YzpkCg"))
            .to_http_request();
        assert_eq!(
            single_authorization(&request),
            Err(ActixError::RepeatedAuthorization)
        );
        let one = TestRequest::default()
            .append_header(("Authorization", "Bearer abc"))
            .to_http_request();
        assert_eq!(
            single_authorization(&one),
            Ok(Some("Bearer abc".to_owned()))
        );
    }

    #[test]
    fn non_ascii_authorization_is_malformed() {
        let request = TestRequest::default()
            .append_header((
                header::AUTHORIZATION,
                HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
            ))
            .to_http_request();
        assert_eq!(
            single_authorization(&request),
            Err(ActixError::MalformedAuthorization)
        );
    }

    #[test]
    fn content_type_media_type_is_compared_without_parameters() {
        let form = "application/x-www-form-urlencoded";
        let ok = TestRequest::default()
            .append_header((
                "Content-Type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            ))
            .to_http_request();
        assert_eq!(require_content_type(&ok, form), Ok(()));
        let json = TestRequest::default()
            .append_header(("Content-Type", "application/json"))
            .to_http_request();
        assert_eq!(
            require_content_type(&json, form),
            Err(ActixError::WrongContentType)
        );
        let none = TestRequest::default().to_http_request();
        assert_eq!(
            require_content_type(&none, form),
            Err(ActixError::WrongContentType)
        );
        let twice = TestRequest::default()
            .append_header(("Content-Type", form))
            .append_header(("Content-Type", form))
            .to_http_request();
        assert_eq!(
            require_content_type(&twice, form),
            Err(ActixError::WrongContentType)
        );
    }

    #[test]
    fn dpop_headers_are_all_passed_and_uri_is_the_configured_one() {
        let request = TestRequest::default()
            .insert_header(("Host", "evil.example"))
            .append_header(("DPoP", "a.b.c"))
            .append_header(("DPoP", "d.e.f"))
            .to_http_request();
        let context = http_context(&request, "https://as.example/token").unwrap();
        assert_eq!(context.uri, "https://as.example/token");
        assert_eq!(context.dpop, vec!["a.b.c".to_owned(), "d.e.f".to_owned()]);
        assert_eq!(context.authorization, None);
    }

    #[test]
    fn form_pairs_decode_and_refuse_invalid_utf8() {
        let pairs = form_pairs(b"a=b%20c&d=%2B+e").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("a".to_owned(), "b c".to_owned()),
                ("d".to_owned(), "+ e".to_owned())
            ]
        );
        assert_eq!(form_pairs(b"a=%FF"), Err(ActixError::BodyUnreadable));
        assert_eq!(form_pairs(b"a=\xff"), Err(ActixError::BodyUnreadable));
    }

    #[test]
    fn engine_responses_are_copied_and_bad_headers_are_a_server_error() {
        let response = into_http_response(EndpointResponse::error(ErrorCode::InvalidGrant, "x"));
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers().get("cache-control").unwrap(), "no-store");
        let bad = EndpointResponse::empty_ok().with_header("Location", "a\nb".to_owned());
        let response = into_http_response(bad);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = response.into_body().try_into_bytes().unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"error\":\"server_error\""));
        assert!(!String::from_utf8_lossy(&body).contains("a\nb"));
    }

    #[test]
    fn rfc_9110_section_15_5_14_too_large_is_413_invalid_request() {
        let response = adapter_error(&ActixError::BodyTooLarge);
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = response.into_body().try_into_bytes().unwrap();
        assert!(String::from_utf8_lossy(&body).contains("\"error\":\"invalid_request\""));
    }

    #[test]
    fn request_rng_draws_from_the_os() {
        use rand_core::Rng;
        let mut a = request_rng().unwrap();
        let mut b = request_rng().unwrap();
        assert_ne!(a.next_u64(), b.next_u64());
    }
}
