//! Responses as the engine produces them; adapters copy them onto HTTP as they are.

use latchkey_types::ErrorCode;

/// An HTTP response: status, headers and body, with no OAuth rule left for the adapter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Header fields, in order.
    pub headers: Vec<(String, String)>,
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
    /// A JSON response with `status`.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Self {
        match serde_json::to_string(body) {
            Ok(json) => Self {
                status,
                headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
                body: ResponseBody::Json(json),
            },
            Err(_) => Self::error(ErrorCode::ServerError, "internal server error"),
        }
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
        Self {
            status: code.http_status(),
            headers: vec![("Content-Type".to_owned(), "application/json".to_owned())],
            body: ResponseBody::Json(json),
        }
        .no_store()
    }

    /// A `302 Found` to `location` with `Cache-Control: no-store`.
    pub fn redirect(location: String) -> Self {
        Self {
            status: 302,
            headers: vec![("Location".to_owned(), location)],
            body: ResponseBody::Empty,
        }
        .no_store()
    }

    /// An empty `200 OK` (RFC 7009 section 2.2).
    pub fn empty_ok() -> Self {
        Self {
            status: 200,
            headers: Vec::new(),
            body: ResponseBody::Empty,
        }
    }

    /// This response with one more header field.
    pub fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// This response with `Cache-Control: no-store` and `Pragma: no-cache`
    /// (OAuth 2.1 section 3.2.3), replacing earlier values of those fields.
    pub fn no_store(mut self) -> Self {
        self.headers.retain(|(name, _)| {
            !name.eq_ignore_ascii_case("cache-control") && !name.eq_ignore_ascii_case("pragma")
        });
        self.headers
            .push(("Cache-Control".to_owned(), "no-store".to_owned()));
        self.headers
            .push(("Pragma".to_owned(), "no-cache".to_owned()));
        self
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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
        let response = EndpointResponse::json(200, &serde_json::json!({}))
            .with_header("Cache-Control", "max-age=60".to_owned())
            .no_store();
        let count = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("cache-control"))
            .count();
        assert_eq!(count, 1);
        assert_eq!(response.header("cache-control"), Some("no-store"));
    }
}
