//! Reading the server's HTML forms as a browser would: the hidden fields, the
//! form's target, and the cookie to send back. For tests that walk the
//! sign-in and consent pages over HTTP.

use crate::client::{Request, Response};

/// The `name="value"` attributes of one HTML tag, entities of values decoded.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .rsplit(|c: char| c.is_whitespace())
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("closing quote");
        let value = after[..end]
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&");
        found.push((name, value));
        rest = &after[end + 1..];
    }
    found
}

/// Every hidden field of the page's form, as the browser would send it.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input")
        .skip(1)
        .filter_map(|chunk| {
            let tag = &chunk[..chunk.find('>').unwrap_or(chunk.len())];
            let attrs = attributes(tag);
            let attr = |n: &str| attrs.iter().find(|(name, _)| name == n).map(|(_, v)| v);
            (attr("type").map(String::as_str) == Some("hidden"))
                .then(|| Some((attr("name")?.clone(), attr("value")?.clone())))
                .flatten()
        })
        .collect()
}

/// The form's `action`.
pub fn form_action(html: &str) -> String {
    let start = html.find("<form").expect("a form");
    let tag = &html[start..start + html[start..].find('>').expect("end of form tag")];
    attributes(tag)
        .into_iter()
        .find(|(name, _)| name == "action")
        .map(|(_, v)| v)
        .expect("form action")
}

/// The `name=value` of the cookie `response` sets, else `current`.
pub fn cookie_of(response: &Response, current: Option<String>) -> Option<String> {
    response
        .header("set-cookie")
        .and_then(|set| set.split(';').next())
        .map(str::to_owned)
        .or(current)
}

/// `request` with `Cookie: cookie`, if any.
pub fn with_cookie(request: Request, cookie: Option<&String>) -> Request {
    match cookie {
        Some(cookie) => request.header("Cookie", cookie),
        None => request,
    }
}
