//! The server's cookies as requests carry them (RFC 6265 section 5.4: `Cookie:
//! name=value; name2=value2`, possibly in several header fields), and the
//! shape of a session id.

use base64ct::{Base64UrlUnpadded, Encoding};
use http::HeaderMap;
use http::header::COOKIE;

/// Whether `value` has the shape of every session id, pre-login cookie and
/// consent request id the server makes: unpadded base64url of 32 random
/// bytes (43 characters, canonical trailing bits).
pub fn looks_like_session_id(value: &str) -> bool {
    value.len() == 43 && Base64UrlUnpadded::decode_vec(value).is_ok_and(|bytes| bytes.len() == 32)
}

/// The value of the first cookie called `name` in the request's `Cookie`
/// header fields, in the order they arrived (pairs split at `;`, each
/// trimmed, name and value split at the first `=`; a field that is not
/// visible ASCII is skipped). The value may be empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// Every cookie whose name starts with `prefix` and whose value is not
/// empty, as (name, value), in the order they arrived; of several cookies of
/// one name only the first counts, as in [`cookie`].
pub fn cookies_with_prefix(headers: &HeaderMap, prefix: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
    {
        if !name.starts_with(prefix) || seen.contains(&name) {
            continue;
        }
        seen.push(name);
        if !value.is_empty() {
            found.push((name.to_owned(), value.to_owned()));
        }
    }
    found
}

/// The session cookie `name`: the first cookie of that name
/// ([`cookie`]), only if it has the shape of a session id
/// ([`looks_like_session_id`]).
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    cookie(headers, name)
        .filter(|value| looks_like_session_id(value))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const ID: &str = "ok9g7CUHL0Ll3ENbzgDiwXvqQfXqSJ1p2rXgSRk8SeQ";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn session_ids_are_43_characters_of_canonical_base64url() {
        assert!(looks_like_session_id(ID));
        // Same length, but the last character carries bits past 256.
        assert!(!looks_like_session_id(
            "ok9g7CUHL0Ll3ENbzgDiwXvqQfXqSJ1p2rXgSRk8SeR"
        ));
        assert!(!looks_like_session_id(&ID[1..]));
        assert!(!looks_like_session_id(&format!("{ID}=")));
        assert!(!looks_like_session_id(
            "ok9g7CUHL0Ll3ENbzgDiwXvqQfXqSJ1p2rXgSRk8Se+"
        ));
    }

    #[test]
    fn cookies_with_a_prefix_first_of_each_name_empty_ones_dropped() {
        let h = headers(&["up-a=1; other=x; up-b=2", "up-a=second; up-c=; up-d=4"]);
        assert_eq!(
            cookies_with_prefix(&h, "up-"),
            vec![
                ("up-a".to_owned(), "1".to_owned()),
                ("up-b".to_owned(), "2".to_owned()),
                ("up-d".to_owned(), "4".to_owned()),
            ]
        );
        // An empty first cookie of a name hides a later one of that name.
        let h = headers(&["up-a=; up-a=2"]);
        assert!(cookies_with_prefix(&h, "up-").is_empty());
        assert!(cookies_with_prefix(&h, "none").is_empty());
    }

    #[test]
    fn rfc_6265_section_5_4_the_first_cookie_of_the_name_counts() {
        let h = headers(&[&format!("other=1; latchkey={ID}"), "latchkey=second"]);
        assert_eq!(cookie(&h, "latchkey"), Some(ID));
        assert_eq!(session_cookie(&h, "latchkey").as_deref(), Some(ID));
        assert_eq!(cookie(&h, "other"), Some("1"));
        // Names are case-sensitive and whole.
        assert_eq!(cookie(&h, "Latchkey"), None);
        assert_eq!(cookie(&h, "latch"), None);
        // The first of the name decides: a malformed one hides a later good one.
        let h = headers(&["latchkey=junk", &format!("latchkey={ID}")]);
        assert_eq!(session_cookie(&h, "latchkey"), None);
        assert_eq!(cookie(&headers(&["latchkey="]), "latchkey"), Some(""));
        assert_eq!(cookie(&headers(&["latchkey"]), "latchkey"), None);
        assert_eq!(cookie(&HeaderMap::new(), "latchkey"), None);
    }
}
