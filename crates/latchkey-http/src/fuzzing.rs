//! Fuzz-target bodies, run by the `fuzz/` workspace through the adapters'
//! targets and replayed by their tests.

use latchkey_types::ErrorCode;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use http::HeaderMap;
use http::header::{CACHE_CONTROL, COOKIE, HeaderValue};

use crate::{
    ConsentChoice, MAX_FORWARDED_HOPS, PageForm, Scheme, TrustedProxies, cache_ttl, cookie,
    form_pairs, looks_like_session_id, parse_authorization, parse_remember, query_request_id,
};

/// `Authorization` parsing at the resource server: never panics; an accepted
/// token is non-empty, holds no whitespace, ends the value and parses back
/// the same under the canonical scheme name; a refusal maps to an `ErrorCode`.
pub fn authorization_header(data: &[u8]) {
    let Ok(value) = core::str::from_utf8(data) else {
        return;
    };
    match parse_authorization(value) {
        Ok(Some((scheme, token))) => {
            assert!(!token.is_empty() && !token.contains([' ', '\t']));
            assert!(value.trim_end_matches(' ').ends_with(token));
            let name = match scheme {
                Scheme::Bearer => "Bearer",
                Scheme::Dpop => "DPoP",
            };
            let canonical = format!("{name} {token}");
            assert_eq!(parse_authorization(&canonical), Ok(Some((scheme, token))));
        }
        Ok(None) => {}
        Err(error) => assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest),
    }
}

/// Form body and query decoding at the authorization server (one function
/// for both adapters, so `axum_form_body` and `actix_form_body` reach the
/// same code): never panics; accepted pairs are the pairs the WHATWG
/// decoder reads (differential), and re-encode and decode to the same pairs
/// (round trip); a refusal is an input with a `%` not followed by two
/// hexadecimal digits or with escapes that decode to non-UTF-8 (where the
/// WHATWG decoder substitutes U+FFFD); refusals, and pairs
/// `latchkey_engine::Params` refuses, map to `invalid_request`.
pub fn form_body(data: &[u8]) {
    let reference: Vec<(String, String)> = url::form_urlencoded::parse(data)
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    match form_pairs(data) {
        Ok(pairs) => {
            assert_eq!(pairs, reference);
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter())
                .finish();
            assert_eq!(form_pairs(encoded.as_bytes()).ok(), Some(pairs.clone()));
            if let Err(error) = latchkey_engine::Params::from_pairs(pairs) {
                assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            }
        }
        Err(error) => {
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
            let substituted = reference
                .iter()
                .any(|(name, value)| name.contains('\u{FFFD}') || value.contains('\u{FFFD}'));
            assert!(bad_escape(data) || substituted);
        }
    }
}

/// Whether `data` holds a `%` not followed by two hexadecimal digits.
fn bad_escape(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(at, &byte)| {
        byte == b'%'
            && !data
                .get(at + 1..at + 3)
                .is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit))
    })
}

/// `cache_control`: the metadata fetcher's `Cache-Control` reader over
/// header values (one per input line). Never panics; a lifetime is never
/// zero and never above the cap; the directive names are case-insensitive
/// (the upper-cased values give the same answer); `max-age=0` or `no-store`
/// added at the end always means "do not keep", and `max-age=7` added at the
/// end of values that could be kept means seven seconds (the last `max-age`
/// wins, RFC 9111 section 5.2.2.1).
pub fn cache_control(data: &[u8]) {
    let default = Duration::from_secs(300);
    let max = Duration::from_secs(3600);
    let lines: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    let ttl = |suffix: &[u8], upper: bool| {
        let mut headers = HeaderMap::new();
        let last = lines.len().saturating_sub(1);
        for (at, line) in lines.iter().enumerate() {
            let mut value = line.to_vec();
            if upper {
                value.make_ascii_uppercase();
            }
            if at == last {
                value.extend_from_slice(suffix);
            }
            if let Ok(value) = HeaderValue::from_bytes(&value) {
                headers.append(CACHE_CONTROL, value);
            }
        }
        cache_ttl(&headers, default, max)
    };
    let plain = ttl(b"", false);
    assert!(plain.is_none_or(|ttl| !ttl.is_zero() && ttl <= max));
    assert_eq!(ttl(b"", true), plain);
    // A suffix that turns a value unreadable (a bare `\r`, say) drops it.
    let readable = lines
        .last()
        .is_some_and(|line| HeaderValue::from_bytes(line).is_ok_and(|v| v.to_str().is_ok()));
    if readable {
        assert_eq!(ttl(b", max-age=0", false), None);
        assert_eq!(ttl(b", no-store", false), None);
        if plain.is_some() {
            assert_eq!(ttl(b", max-age=7", false), Some(Duration::from_secs(7)));
        }
    }
}

/// `page_form`: the sign-in and consent pages' form reader and the fields
/// read from it. The form is read as the WHATWG decoder reads it, and
/// refused exactly when a decoded name repeats (differential); an accepted
/// form answers every field as decoded, re-encodes to an equal form (round
/// trip), and its `Debug` lists the names only. `decision` and `remember`
/// accept exactly their values; the input read as the consent page's query
/// yields a request id only when `request` is there once, shaped like an id.
pub fn page_form(data: &[u8]) {
    let reference: Vec<(String, String)> = url::form_urlencoded::parse(data).into_owned().collect();
    let mut names: Vec<&str> = reference.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let repeated = names.windows(2).any(|pair| pair[0] == pair[1]);
    match PageForm::parse(data) {
        Ok(form) => {
            assert!(!repeated, "a repeated field was accepted");
            let fields: Vec<(&str, &str)> = form.fields().collect();
            assert_eq!(fields.len(), reference.len());
            for ((name, value), (n, v)) in reference.iter().zip(&fields) {
                assert_eq!((name.as_str(), value.as_str()), (*n, *v));
                assert_eq!(form.get(name), value);
            }
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.fields())
                .finish();
            assert_eq!(PageForm::parse(encoded.as_bytes()).as_ref(), Ok(&form));
            let debug_names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            assert_eq!(format!("{form:?}"), format!("PageForm({debug_names:?})"));
            for (_, value) in &fields {
                let choice = ConsentChoice::parse(value);
                assert_eq!(choice.is_some(), matches!(*value, "allow" | "deny"));
                assert!(choice.is_none_or(|c| c.as_str() == *value));
                let remember = parse_remember(value);
                assert_eq!(remember.is_some(), matches!(*value, "" | "yes"));
                assert!(remember.is_none_or(|ticked| ticked == (*value == "yes")));
            }
        }
        Err(_) => assert!(repeated, "a form without repeats was refused"),
    }
    if let Ok(query) = core::str::from_utf8(data) {
        let requests: Vec<&str> = reference
            .iter()
            .filter(|(n, _)| n == "request")
            .map(|(_, v)| v.as_str())
            .collect();
        match query_request_id(Some(query)) {
            Some(id) => {
                assert_eq!(requests, [id.as_str()]);
                assert!(looks_like_session_id(&id));
            }
            None => assert!(requests.len() != 1 || !looks_like_session_id(requests[0])),
        }
    }
}

/// A request id, session id or pre-login cookie as the server makes them.
const SESSION_ID: &str = "ok9g7CUHL0Ll3ENbzgDiwXvqQfXqSJ1p2rXgSRk8SeQ";

/// `session_cookie`: the `Cookie` header fields of a request (one per input
/// line) read for the server's cookie names. A value found for a name is the
/// first `name=value` pair of the fields, so it holds no `;` and the pair is
/// one of the fields' trimmed segments; a session cookie is exactly that
/// value when it is shaped like a session id; a field `name=<id>` put first
/// is always the answer (the first wins), and one put last changes nothing
/// that was found. A value shaped like a session id is canonical: it
/// decodes to 32 bytes that encode back to it (round trip).
pub fn session_cookie(data: &[u8]) {
    let values: Vec<HeaderValue> = data
        .split(|&byte| byte == b'\n')
        .filter_map(|line| HeaderValue::from_bytes(line).ok())
        .collect();
    let headers = |first: Option<&str>, last: Option<&str>| {
        let mut map = HeaderMap::new();
        let extra = |pair: &str| HeaderValue::from_str(pair).expect("a visible ASCII pair");
        if let Some(pair) = first {
            map.append(COOKIE, extra(pair));
        }
        for value in &values {
            map.append(COOKIE, value.clone());
        }
        if let Some(pair) = last {
            map.append(COOKIE, extra(pair));
        }
        map
    };
    let plain = headers(None, None);
    for name in ["latchkey", "__Host-latchkey", "latchkey-upstream"] {
        let found = cookie(&plain, name);
        if let Some(value) = found {
            assert!(!value.contains(';'));
            let pair = format!("{name}={value}");
            assert!(
                plain
                    .get_all(COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(';'))
                    .any(|segment| segment.trim() == pair)
            );
        }
        assert_eq!(
            crate::session_cookie(&plain, name).as_deref(),
            found.filter(|value| looks_like_session_id(value))
        );
        let planted = format!("{name}={SESSION_ID}");
        let first = headers(Some(&planted), None);
        assert_eq!(
            crate::session_cookie(&first, name).as_deref(),
            Some(SESSION_ID)
        );
        let last = headers(None, Some(&planted));
        match found {
            Some(value) => assert_eq!(cookie(&last, name), Some(value)),
            None => assert_eq!(cookie(&last, name), Some(SESSION_ID)),
        }
    }
    if let Ok(text) = core::str::from_utf8(data)
        && looks_like_session_id(text)
    {
        let bytes = Base64UrlUnpadded::decode_vec(text).expect("a session id decodes");
        assert_eq!(bytes.len(), 32);
        assert_eq!(Base64UrlUnpadded::encode_string(&bytes), text);
    }
}

/// The proxies `forwarded_for` trusts.
fn trusted_proxies() -> &'static TrustedProxies {
    static PROXIES: OnceLock<TrustedProxies> = OnceLock::new();
    PROXIES.get_or_init(|| {
        TrustedProxies::parse(&["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"])
            .expect("valid trusted proxies")
    })
}

/// The connection peers `forwarded_for` picks from (by the input's first
/// byte): trusted IPv4, IPv6 and IPv4-mapped, and untrusted ones.
const PEERS: [&str; 6] = [
    "10.1.2.3",
    "2001:db8::5",
    "::ffff:10.9.9.9",
    "127.0.0.1",
    "192.0.2.44",
    "2001:db9::1",
];

/// `forwarded_for`: the `X-Forwarded-For` walk behind trusted proxies. The
/// first byte picks the connection's peer, each further line is one header
/// field. The answer is canonical (IPv4-mapped addresses as IPv4); it is the
/// peer itself when the peer is untrusted; otherwise the peer or an address
/// written in one of the fields. The fields folded into one, joined with
/// `,` (RFC 9110 section 5.3), give the same answer; and so does the same
/// request passed through one more trusted proxy, which appends the peer it
/// saw (while the chain stays within [`MAX_FORWARDED_HOPS`]).
pub fn forwarded_for(data: &[u8]) {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    let proxies = trusted_proxies();
    let peer: IpAddr = PEERS[usize::from(choice) % PEERS.len()]
        .parse()
        .expect("a valid peer");
    let fields: Vec<&str> = text.split('\n').collect();
    let client = proxies.client_address(peer, fields.iter().copied());
    assert_eq!(client, client.to_canonical());
    if !proxies.contains(peer) {
        assert_eq!(client, peer.to_canonical());
    } else if client != peer.to_canonical() {
        let named = fields
            .iter()
            .flat_map(|field| field.split(','))
            .filter_map(crate::forwarded::parse_forwarded_entry)
            .any(|entry| entry == client);
        assert!(named, "{client} is neither the peer nor a forwarded entry");
    }
    let folded = fields.join(",");
    assert_eq!(proxies.client_address(peer, [folded.as_str()]), client);
    let entries = fields
        .iter()
        .map(|field| field.split(',').count())
        .sum::<usize>();
    if entries < MAX_FORWARDED_HOPS {
        let appended = format!("{folded},{peer}");
        let front: IpAddr = "10.200.0.1".parse().expect("a valid proxy");
        assert_eq!(proxies.client_address(front, [appended.as_str()]), client);
    }
}

#[cfg(test)]
mod tests {
    fn replay(target: &str, body: fn(&[u8])) -> usize {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut count = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/{target}")) else {
                assert_eq!(dir, "regressions", "the corpus of {target} exists");
                continue;
            };
            for entry in entries.flatten() {
                body(&std::fs::read(entry.path()).expect("readable corpus file"));
                count += 1;
            }
        }
        count
    }

    #[test]
    fn corpus_and_regressions_replay_page_form() {
        assert!(replay("page_form", super::page_form) >= 4);
    }

    #[test]
    fn corpus_and_regressions_replay_session_cookie() {
        assert!(replay("session_cookie", super::session_cookie) >= 4);
    }

    #[test]
    fn corpus_and_regressions_replay_forwarded_for() {
        assert!(replay("forwarded_for", super::forwarded_for) >= 4);
    }

    #[test]
    fn corpus_and_regressions_replay_cache_control() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz");
        let mut count = 0;
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(format!("{root}/{dir}/cache_control")) else {
                assert_eq!(dir, "regressions", "the corpus exists");
                continue;
            };
            for entry in entries.flatten() {
                let data = std::fs::read(entry.path()).expect("readable corpus file");
                super::cache_control(&data);
                count += 1;
            }
        }
        assert!(count > 0);
    }
}
