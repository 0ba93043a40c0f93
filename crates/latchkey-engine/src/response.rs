//! Responses as the engine produces them; adapters copy them onto HTTP as they are.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, PRAGMA};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use latchkey_types::ErrorCode;

/// The `DPoP-Nonce` response header (RFC 9449 section 8.1).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// An HTTP response: status, headers and body, typed with the `http` crate's
/// status and header types, so an adapter copies it onto the wire without
/// parsing anything, and no OAuth rule is left for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointResponse {
    /// The HTTP status code.
    pub status: StatusCode,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body.
    pub body: ResponseBody,
}

/// The body of an [`EndpointResponse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponseBody {
    /// No body.
    Empty,
    /// A JSON document (`Content-Type: application/json` is among the headers).
    Json(String),
    /// An HTML page (`Content-Type: text/html; charset=utf-8` is among the headers).
    Html(String),
}

impl EndpointResponse {
    /// A response with `status`, no header and `body`.
    pub fn new(status: StatusCode, body: ResponseBody) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// A JSON response with `status`.
    pub fn json(status: StatusCode, body: &impl serde::Serialize) -> Self {
        match serde_json::to_string(body) {
            Ok(json) => Self::json_text(status, json),
            Err(_) => Self::error(ErrorCode::ServerError, "internal server error"),
        }
    }

    /// A response with `status` whose body is the JSON text `json`.
    pub fn json_text(status: StatusCode, json: String) -> Self {
        let mut response = Self::new(status, ResponseBody::Json(json));
        response
            .headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    }

    /// An RFC 6749 section 5.2 error: `{"error", "error_description"}` with the
    /// status of [`ErrorCode::http_status`] and `Cache-Control: no-store`.
    /// (An `invalid_client` answer to a Basic attempt adds its
    /// `WWW-Authenticate: Basic` challenge with [`Self::with_header`].)
    pub fn error(code: ErrorCode, description: &str) -> Self {
        let body = ErrorBody {
            error: code,
            error_description: description,
        };
        let json = serde_json::to_string(&body)
            .unwrap_or_else(|_| format!("{{\"error\":\"{}\"}}", code.as_str()));
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::json_text(status, json).no_store()
    }

    /// A `302 Found` to `location` with `Cache-Control: no-store`; a
    /// `location` no header can carry is a generic `server_error`.
    pub fn redirect(location: String) -> Self {
        Self::new(StatusCode::FOUND, ResponseBody::Empty)
            .with_header(LOCATION, location)
            .no_store()
    }

    /// An empty `200 OK` (RFC 7009 section 2.2).
    pub fn empty_ok() -> Self {
        Self::new(StatusCode::OK, ResponseBody::Empty)
    }

    /// This response with one more `name` field; a `value` no header can
    /// carry (a control character) makes it a generic `server_error`
    /// instead, never a response with the value dropped.
    pub fn with_header(mut self, name: HeaderName, value: String) -> Self {
        match HeaderValue::try_from(value) {
            Ok(value) => {
                self.headers.append(name, value);
                self
            }
            Err(_) => Self::error(ErrorCode::ServerError, "internal server error"),
        }
    }

    /// This response with `Cache-Control: no-store` and `Pragma: no-cache`
    /// (OAuth 2.1 section 3.2.3), replacing earlier values of those fields.
    pub fn no_store(mut self) -> Self {
        self.headers
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.headers
            .insert(PRAGMA, HeaderValue::from_static("no-cache"));
        self
    }

    /// The first value of header `name` (names are case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name.to_ascii_lowercase().as_str())
            .and_then(|value| value.to_str().ok())
    }

    /// The JSON body, if it is one.
    pub fn json_body(&self) -> Option<&str> {
        match &self.body {
            ResponseBody::Json(json) => Some(json),
            ResponseBody::Empty | ResponseBody::Html(_) => None,
        }
    }
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: ErrorCode,
    error_description: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6749_section_5_2_error_shape() {
        let response = EndpointResponse::error(ErrorCode::InvalidGrant, "code \"expired\"");
        assert_eq!(response.status, 400);
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("PRAGMA"), Some("no-cache"));
        let body: serde_json::Value = serde_json::from_str(response.json_body().unwrap()).unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert_eq!(body["error_description"], "code \"expired\"");
        assert_eq!(
            EndpointResponse::error(ErrorCode::InvalidClient, "x").status,
            401
        );
    }

    #[test]
    fn redirect_is_302_and_not_cached() {
        let response = EndpointResponse::redirect("https://c.example/cb?code=x".to_owned());
        assert_eq!(response.status, 302);
        assert_eq!(
            response.header("location"),
            Some("https://c.example/cb?code=x")
        );
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn no_store_replaces_earlier_cache_headers() {
        let response = EndpointResponse::json(StatusCode::OK, &serde_json::json!({}))
            .with_header(CACHE_CONTROL, "max-age=60".to_owned())
            .no_store();
        let count = response.headers.get_all(CACHE_CONTROL).iter().count();
        assert_eq!(count, 1);
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }

    #[test]
    fn a_header_value_http_cannot_carry_is_a_generic_server_error() {
        let response = EndpointResponse::redirect("https://c.example/cb\r\nx: y".to_owned());
        assert_eq!(response.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.header("location"), None);
        assert!(
            !response
                .json_body()
                .unwrap_or_default()
                .contains("c.example")
        );
    }
}
