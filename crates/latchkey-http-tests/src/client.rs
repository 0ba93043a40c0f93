//! A tiny HTTP/1.1 client over `tokio::net::TcpStream`: one request per
//! connection (`Connection: close`), response read to EOF, chunked bodies decoded.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest response the client reads, in bytes.
pub const MAX_RESPONSE_LEN: usize = 1024 * 1024;

/// A request to send.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target (path and query), e.g. `/token`.
    pub target: String,
    /// Header fields, in order (repeats allowed); a `Host` here replaces the default one.
    pub headers: Vec<(String, String)>,
    /// The body (a `Content-Length` is added when it is not empty or the method is `POST`/`PUT`).
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` to `target` and no headers or body.
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// This request with one more header field.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// This request with a form body (`application/x-www-form-urlencoded`).
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = form_encode(pairs);
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.into_bytes())
    }

    /// This request with a JSON body (`application/json`).
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(value.to_string().into_bytes())
    }

    /// This request with `body` (no `Content-Type` added).
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// A response as read off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as UTF-8 (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics (failing the test) when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// Sends `request` to the server at `base` (`http://host:port`) and reads the
/// whole response.
pub async fn send(base: &str, request: &Request) -> Response {
    let authority = base
        .strip_prefix("http://")
        .expect("base is an http:// url")
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("the server accepts connections");
    let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    if !request
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: {authority}\r\n"));
    }
    head.push_str("Connection: close\r\n");
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || matches!(request.method.as_str(), "POST" | "PUT") {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .await
        .expect("request head is sent");
    // A server may answer (413) before reading a large body and close: ignore write errors.
    let _ = stream.write_all(&request.body).await;
    let mut raw = Vec::new();
    let _ = (&mut stream)
        .take(MAX_RESPONSE_LEN as u64)
        .read_to_end(&mut raw)
        .await;
    parse_response(&raw).unwrap_or_else(|| panic!("malformed response: {raw:?}"))
}

/// `application/x-www-form-urlencoded` serialization of `pairs`.
pub fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..split)?).ok()?;
    let rest = raw.get(split.checked_add(4)?..)?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(data.get(..line_end)?).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        let start = line_end.checked_add(2)?;
        if size == 0 {
            return Some(out);
        }
        let end = start.checked_add(size)?;
        out.extend_from_slice(data.get(start..end)?);
        data = data.get(end.checked_add(2)?..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chunked_responses() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let response = parse_response(raw).expect("parses");
        assert_eq!(response.status, 200);
        assert_eq!(response.header("x-a"), Some("1"));
        assert_eq!(response.body, b"abcde");
    }

    #[test]
    fn form_encoding_escapes_reserved_characters() {
        assert_eq!(form_encode(&[("a b", "c&d=e/")]), "a%20b=c%26d%3De%2F");
    }
}
