use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::{MAX_URI_LEN, UriError, UriRole, from_url_error, has_confusing_byte, split_authority};

/// A protected resource identifier in canonical form: the `resource`
/// parameter (RFC 8707 section 2) and the token audience.
///
/// [`parse`](Self::parse) accepts any spelling and canonicalizes it, so that
/// two spellings of the same resource compare equal:
///
/// - absolute `https` or `http` URI with a host (RFC 8707 section 2,
///   RFC 3986 section 4.3); `http` is accepted for any host here, and the
///   servers decide through configuration whether a non-loopback `http`
///   resource is acceptable ([`is_https`](Self::is_https), [`is_loopback`](Self::is_loopback));
/// - scheme and host lowercased, uppercase input accepted (RFC 3986 section
///   6.2.2.1, MCP "Canonical Server URI", R10); internationalized hosts in
///   punycode; IPv6 literals bracketed and compressed; IPv4 in dotted decimal;
/// - the default port dropped (443 for `https`, 80 for `http`, RFC 3986 section 6.2.3);
/// - percent-encodings in the path use uppercase hex and unreserved characters
///   are decoded (RFC 3986 section 6.2.2.1 and 6.2.2.2); dot segments removed
///   (section 6.2.2.3);
/// - trailing-slash policy: the canonical form never ends in `/`. A bare origin
///   has an empty path (`https://mcp.example.com/` becomes
///   `https://mcp.example.com`) and `https://x/mcp/` becomes `https://x/mcp`.
///   This follows the MCP SHOULD to "consistently use the form without the
///   trailing slash"; a server whose trailing slash is semantically
///   significant cannot be told apart from one without it, by design;
/// - no fragment (RFC 8707 section 2 MUST NOT), no userinfo (never part of a
///   resource's identity, and `https://good@evil` misleads readers);
/// - no query: RFC 8707 section 2 says SHOULD NOT; Latchkey refuses it,
///   because a query would make audience comparison depend on parameter
///   order and encoding, and MCP servers are identified by scheme, host, port
///   and path alone;
/// - at most [`MAX_URI_LEN`] bytes, in and out.
///
/// Equality, ordering and hashing are on the canonical string.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceUri {
    /// The canonical string.
    canonical: String,
    /// Where the path starts in `canonical` (the length of the origin).
    path_start: usize,
}

/// How [`ResourceUri::covers`] compares a token's audience with the resource it is used at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AudienceMatch {
    /// The canonical forms are equal.
    Exact,
    /// Same scheme, host and port, and the audience's path is the target's
    /// path or a whole-segment prefix of it: `/mcp` covers `/mcp` and `/mcp/x`,
    /// never `/mcp-other`. An audience with an empty path covers the whole origin.
    PathPrefix,
}

impl ResourceUri {
    /// Parses and canonicalizes a resource URI (see the type's documentation for the rules).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        const ROLE: UriRole = UriRole::Resource;
        if s.is_empty() {
            return Err(UriError::Empty(ROLE));
        }
        if s.len() > MAX_URI_LEN {
            return Err(UriError::TooLong(ROLE));
        }
        if has_confusing_byte(s) {
            return Err(UriError::InvalidCharacter(ROLE));
        }
        let url = Url::parse(s).map_err(|e| from_url_error(e, ROLE))?;
        if url.fragment().is_some() {
            return Err(UriError::FragmentNotAllowed(ROLE));
        }
        let scheme = url.scheme();
        if scheme != "https" && scheme != "http" {
            return Err(UriError::UnsupportedScheme);
        }
        // `url` accepts `https:host` and `https:///host`; RFC 3986 requires `//authority`.
        let Some((_, authority)) = split_authority(s) else {
            return Err(UriError::MissingHost(ROLE));
        };
        if authority.is_empty() {
            return Err(UriError::MissingHost(ROLE));
        }
        // `url` silently drops an empty userinfo (`https://@host`), so look at the raw authority.
        if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
            return Err(UriError::UserinfoNotAllowed(ROLE));
        }
        if url.query().is_some() {
            return Err(UriError::QueryNotAllowed);
        }
        let host = url.host_str().ok_or(UriError::MissingHost(ROLE))?;
        if host.is_empty() {
            return Err(UriError::MissingHost(ROLE));
        }

        let mut canonical = String::with_capacity(s.len());
        canonical.push_str(scheme);
        canonical.push_str("://");
        canonical.push_str(host);
        if let Some(port) = url.port() {
            canonical.push(':');
            canonical.push_str(&port.to_string());
        }
        let path_start = canonical.len();
        normalize_percent_encoding(url.path(), &mut canonical)?;
        while canonical.len() > path_start && canonical.ends_with('/') {
            canonical.pop();
        }
        if canonical.len() > MAX_URI_LEN {
            return Err(UriError::TooLong(ROLE));
        }
        Ok(Self {
            canonical,
            path_start,
        })
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// Whether a token whose audience is `self` may be used at `target`.
    ///
    /// Scheme, host and port must always be equal; see [`AudienceMatch`] for the path.
    pub fn covers(&self, target: &ResourceUri, mode: AudienceMatch) -> bool {
        match mode {
            AudienceMatch::Exact => self == target,
            AudienceMatch::PathPrefix => {
                if self.origin() != target.origin() {
                    return false;
                }
                let (own, theirs) = (self.path(), target.path());
                match theirs.strip_prefix(own) {
                    Some(rest) => rest.is_empty() || rest.starts_with('/'),
                    None => false,
                }
            }
        }
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.canonical.starts_with("https://")
    }

    /// Whether the host is `localhost`, an IPv4 loopback address (`127.0.0.0/8`)
    /// or `[::1]`: a place where plain `http` never leaves the machine
    /// (RFC 8252 section 8.3). No name resolution is done.
    pub fn is_loopback(&self) -> bool {
        let host = self.host();
        if host == "localhost" {
            return true;
        }
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
        }
        host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
    }

    /// `scheme://host[:port]`, without the path.
    pub fn origin(&self) -> &str {
        self.canonical.get(..self.path_start).unwrap_or_default()
    }

    /// The host as in the canonical form (IPv6 literals in brackets).
    pub fn host(&self) -> &str {
        let origin = self.origin();
        let after = origin.split_once("://").map_or(origin, |(_, a)| a);
        if after.starts_with('[') {
            return after
                .find(']')
                .and_then(|end| after.get(..=end))
                .unwrap_or(after);
        }
        after.split_once(':').map_or(after, |(h, _)| h)
    }

    /// The canonical path: empty, or starting with `/` and never ending with it.
    pub fn path(&self) -> &str {
        self.canonical.get(self.path_start..).unwrap_or_default()
    }
}

impl fmt::Display for ResourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl Serialize for ResourceUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for ResourceUri {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Normalizes percent-encodings of a path already parsed by `url` (which has
/// removed dot segments and encoded characters outside the URI grammar):
/// hex digits uppercased, encoded unreserved characters decoded
/// (RFC 3986 section 6.2.2.1 and 6.2.2.2). A `%` without two hex digits is
/// [`UriError::InvalidPercentEncoding`]. The DPoP `htu` comparison of
/// `latchkey-dpop` normalizes with the same function.
pub fn normalize_percent_encoding(path: &str, out: &mut String) -> Result<(), UriError> {
    let mut bytes = path.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(char::from(b));
            continue;
        }
        let (Some(hi), Some(lo)) = (bytes.next(), bytes.next()) else {
            return Err(UriError::InvalidPercentEncoding);
        };
        let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo)) else {
            return Err(UriError::InvalidPercentEncoding);
        };
        let decoded = (h << 4) | l;
        if is_unreserved(decoded) {
            out.push(char::from(decoded));
        } else {
            out.push('%');
            out.push(char::from(hi.to_ascii_uppercase()));
            out.push(char::from(lo.to_ascii_uppercase()));
        }
    }
    Ok(())
}

/// `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"` (RFC 3986 section 2.3).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use url::Host;

    /// What `url` thinks the host is, to compare against ours.
    fn url_host(url: &Url) -> Option<String> {
        url.host().map(|h| match h {
            Host::Domain(d) => d.to_owned(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => format!("[{ip}]"),
        })
    }

    fn canon(s: &str) -> String {
        ResourceUri::parse(s).unwrap().as_str().to_owned()
    }

    fn err(s: &str) -> UriError {
        ResourceUri::parse(s).unwrap_err()
    }

    const R: UriRole = UriRole::Resource;

    #[test]
    fn mcp_canonical_server_uri_valid_examples_are_already_canonical() {
        for s in [
            "https://mcp.example.com/mcp",
            "https://mcp.example.com",
            "https://mcp.example.com:8443",
            "https://mcp.example.com/server/mcp",
        ] {
            assert_eq!(canon(s), s);
        }
    }

    #[test]
    fn mcp_canonical_server_uri_invalid_examples_are_refused() {
        assert_eq!(err("mcp.example.com"), UriError::NotAbsolute(R));
        assert_eq!(
            err("https://mcp.example.com#fragment"),
            UriError::FragmentNotAllowed(R)
        );
    }

    #[test]
    fn r10_uppercase_scheme_and_host_are_accepted_and_lowercased() {
        assert_eq!(
            canon("HTTPS://MCP.EXAMPLE.COM/MCP"),
            "https://mcp.example.com/MCP"
        );
        assert_eq!(canon("Http://LocalHost:8080"), "http://localhost:8080");
    }

    #[test]
    fn r10_trailing_slash_is_dropped() {
        assert_eq!(canon("https://mcp.example.com/"), "https://mcp.example.com");
        assert_eq!(canon("https://x.example/mcp/"), "https://x.example/mcp");
        assert_eq!(canon("https://x.example/mcp//"), "https://x.example/mcp");
        assert_eq!(canon("https://x.example//"), "https://x.example");
    }

    #[test]
    fn rfc3986_6_2_3_default_port_is_dropped() {
        assert_eq!(canon("https://x.example:443/a"), "https://x.example/a");
        assert_eq!(canon("http://x.example:80/a"), "http://x.example/a");
        assert_eq!(canon("http://x.example:443/a"), "http://x.example:443/a");
        assert_eq!(canon("https://x.example:80"), "https://x.example:80");
    }

    #[test]
    fn rfc3986_6_2_2_percent_encoding_is_normalized() {
        assert_eq!(canon("https://x.example/%7emcp"), "https://x.example/~mcp");
        assert_eq!(
            canon("https://x.example/%4D%63%70"),
            "https://x.example/Mcp"
        );
        assert_eq!(canon("https://x.example/a%2fb"), "https://x.example/a%2Fb");
        assert_eq!(
            canon("https://x.example/a%c3%a9"),
            "https://x.example/a%C3%A9"
        );
        assert_eq!(
            canon("https://x.example/caf\u{e9}"),
            "https://x.example/caf%C3%A9"
        );
    }

    #[test]
    fn rfc3986_2_1_stray_percent_is_refused() {
        assert_eq!(
            err("https://x.example/a%"),
            UriError::InvalidPercentEncoding
        );
        assert_eq!(
            err("https://x.example/a%zz"),
            UriError::InvalidPercentEncoding
        );
        assert_eq!(
            err("https://x.example/a%4"),
            UriError::InvalidPercentEncoding
        );
    }

    #[test]
    fn rfc3986_6_2_2_3_dot_segments_are_removed() {
        assert_eq!(
            canon("https://x.example/a/./b/../c"),
            "https://x.example/a/c"
        );
        assert_eq!(
            canon("https://x.example/../../mcp"),
            "https://x.example/mcp"
        );
        assert_eq!(
            canon("https://x.example/mcp/%2e%2E/other"),
            "https://x.example/other"
        );
    }

    #[test]
    fn hosts_ipv6_bracketed_idn_punycode_ipv4_dotted() {
        assert_eq!(canon("http://[0:0::1]:3000/mcp"), "http://[::1]:3000/mcp");
        assert_eq!(
            canon("https://B\u{fc}cher.example"),
            "https://xn--bcher-kva.example"
        );
        assert_eq!(canon("http://127.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(err("https://[::1"), UriError::InvalidHost(R));
        assert_eq!(err("https://exa mple.com"), UriError::InvalidCharacter(R));
    }

    #[test]
    fn rfc8707_2_must_be_absolute_with_host() {
        assert_eq!(err(""), UriError::Empty(R));
        assert_eq!(err("/mcp"), UriError::NotAbsolute(R));
        assert_eq!(err("https:mcp.example.com"), UriError::MissingHost(R));
        assert_eq!(err("https:/mcp.example.com"), UriError::MissingHost(R));
        assert_eq!(err("https:///mcp.example.com"), UriError::MissingHost(R));
        assert_eq!(err("https://"), UriError::MissingHost(R));
        assert_eq!(err("https://x.example:99999"), UriError::InvalidPort(R));
    }

    #[test]
    fn rfc8707_2_fragment_is_refused_even_empty() {
        assert_eq!(
            err("https://x.example/mcp#"),
            UriError::FragmentNotAllowed(R)
        );
        assert_eq!(
            err("https://x.example/mcp#a"),
            UriError::FragmentNotAllowed(R)
        );
    }

    #[test]
    fn rfc8707_2_query_is_refused_even_empty() {
        assert_eq!(err("https://x.example/mcp?a=b"), UriError::QueryNotAllowed);
        assert_eq!(err("https://x.example/mcp?"), UriError::QueryNotAllowed);
    }

    #[test]
    fn userinfo_is_refused_even_empty() {
        assert_eq!(
            err("https://user@x.example"),
            UriError::UserinfoNotAllowed(R)
        );
        assert_eq!(
            err("https://u:p@x.example"),
            UriError::UserinfoNotAllowed(R)
        );
        assert_eq!(err("https://@x.example"), UriError::UserinfoNotAllowed(R));
        assert_eq!(err("https://:@x.example"), UriError::UserinfoNotAllowed(R));
    }

    #[test]
    fn only_https_and_http_schemes() {
        assert_eq!(err("ftp://x.example"), UriError::UnsupportedScheme);
        assert_eq!(err("urn:example:mcp"), UriError::UnsupportedScheme);
        assert_eq!(err("wss://x.example/mcp"), UriError::UnsupportedScheme);
        assert_eq!(canon("http://mcp.example.com"), "http://mcp.example.com");
    }

    #[test]
    fn characters_url_would_silently_drop_are_refused() {
        assert_eq!(err(" https://x.example"), UriError::InvalidCharacter(R));
        assert_eq!(
            err("https://x.example/m\tcp"),
            UriError::InvalidCharacter(R)
        );
        assert_eq!(
            err("https://x.example/m\ncp"),
            UriError::InvalidCharacter(R)
        );
        assert_eq!(err("https://x.example\\mcp"), UriError::InvalidCharacter(R));
        assert_eq!(
            err("https://x.example/\u{7f}"),
            UriError::InvalidCharacter(R)
        );
    }

    #[test]
    fn length_is_bounded() {
        let long = format!("https://x.example/{}", "a".repeat(MAX_URI_LEN));
        assert_eq!(err(&long), UriError::TooLong(R));
        // Within the input bound, but percent-encoding grows it beyond.
        let grows = format!("https://x.example/{}", "\u{e9}".repeat(600));
        assert_eq!(err(&grows), UriError::TooLong(R));
        let fits = format!("https://x.example/{}", "a".repeat(MAX_URI_LEN - 18));
        assert_eq!(canon(&fits).len(), MAX_URI_LEN);
    }

    #[test]
    fn is_https_and_is_loopback() {
        let https = ResourceUri::parse("https://mcp.example.com").unwrap();
        assert!(https.is_https());
        assert!(!https.is_loopback());
        for s in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "http://127.3.2.1",
            "http://[::1]:8080/mcp",
        ] {
            let uri = ResourceUri::parse(s).unwrap();
            assert!(uri.is_loopback(), "{s}");
            assert!(!uri.is_https(), "{s}");
        }
        assert!(!ResourceUri::parse("http://[::2]").unwrap().is_loopback());
        assert!(
            !ResourceUri::parse("http://localhost.evil.example")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn origin_host_path_accessors() {
        let uri = ResourceUri::parse("https://MCP.example.com:8443/a/b/").unwrap();
        assert_eq!(uri.origin(), "https://mcp.example.com:8443");
        assert_eq!(uri.host(), "mcp.example.com");
        assert_eq!(uri.path(), "/a/b");
        let v6 = ResourceUri::parse("http://[::1]:8080").unwrap();
        assert_eq!(v6.host(), "[::1]");
        assert_eq!(v6.path(), "");
    }

    #[test]
    fn covers_exact_and_path_prefix() {
        let p = |s: &str| ResourceUri::parse(s).unwrap();
        let mcp = p("https://x.example/mcp");
        assert!(mcp.covers(&p("HTTPS://X.example/mcp/"), AudienceMatch::Exact));
        assert!(!mcp.covers(&p("https://x.example/mcp/x"), AudienceMatch::Exact));
        assert!(mcp.covers(&p("https://x.example/mcp"), AudienceMatch::PathPrefix));
        assert!(mcp.covers(&p("https://x.example/mcp/x"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("https://x.example/mcp-other"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("https://x.example/mc"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("https://x.example/mcp%2Fx"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("https://x.example"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("http://x.example/mcp/x"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(
            &p("https://x.example:8443/mcp/x"),
            AudienceMatch::PathPrefix
        ));
        assert!(!mcp.covers(&p("https://y.example/mcp/x"), AudienceMatch::PathPrefix));
        assert!(!mcp.covers(&p("https://x.example.evil/mcp"), AudienceMatch::PathPrefix));
        let origin = p("https://x.example/");
        assert!(origin.covers(&p("https://x.example/anything"), AudienceMatch::PathPrefix));
        assert!(!origin.covers(&p("https://x.example:444/"), AudienceMatch::PathPrefix));
    }

    #[test]
    fn serde_is_the_canonical_string_and_deserialize_parses() {
        let uri = ResourceUri::parse("HTTPS://X.example/mcp/").unwrap();
        assert_eq!(
            serde_json::to_string(&uri).unwrap(),
            "\"https://x.example/mcp\""
        );
        let back: ResourceUri = serde_json::from_str("\"https://X.example:443/mcp\"").unwrap();
        assert_eq!(back, uri);
        assert!(serde_json::from_str::<ResourceUri>("\"https://x.example#f\"").is_err());
        assert_eq!(uri.to_string(), "https://x.example/mcp");
    }

    /// Inputs built from pieces that exercise every normalization step.
    fn resource_input() -> impl Strategy<Value = String> {
        let scheme = prop::sample::select(vec!["https", "HTTPS", "http", "HtTp"]);
        let host = prop::sample::select(vec![
            "mcp.example.com",
            "MCP.Example.COM",
            "127.0.0.1",
            "127.1",
            "[::1]",
            "[0:0::1]",
            "localhost",
            "b\u{fc}cher.example",
            "xn--bcher-kva.example",
            "a-b.c",
        ]);
        let port = prop::sample::select(vec!["", ":443", ":80", ":8443", ":0", ":65535"]);
        let segment = prop::sample::select(vec![
            "",
            ".",
            "..",
            "%2e",
            "%2E%2e",
            "mcp",
            "MCP",
            "%7e",
            "%7E",
            "%41",
            "%2f",
            "%2F",
            "a-b",
            "~x",
            "caf\u{e9}",
            "%c3%a9",
            "sp%20ace",
            "!$&'()*+,;=:@",
            "mcp-other",
        ]);
        (
            scheme,
            host,
            port,
            prop::collection::vec(segment, 0..6),
            any::<bool>(),
        )
            .prop_map(|(scheme, host, port, segments, trailing)| {
                let mut s = format!("{scheme}://{host}{port}");
                for seg in segments {
                    s.push('/');
                    s.push_str(seg);
                }
                if trailing {
                    s.push('/');
                }
                s
            })
    }

    fn percent_decode(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap();
                out.push(v);
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    fn trim_slashes(mut v: Vec<u8>) -> Vec<u8> {
        while v.last() == Some(&b'/') {
            v.pop();
        }
        v
    }

    proptest! {
        #[test]
        fn canonicalization_is_idempotent(s in resource_input()) {
            let uri = ResourceUri::parse(&s).unwrap();
            let again = ResourceUri::parse(uri.as_str()).unwrap();
            prop_assert_eq!(&again, &uri);
            prop_assert_eq!(again.as_str(), uri.as_str());
            prop_assert!(!uri.as_str().ends_with('/'));
        }

        #[test]
        fn canonicalization_is_idempotent_for_any_string(s in ".{0,80}") {
            if let Ok(uri) = ResourceUri::parse(&s) {
                prop_assert_eq!(ResourceUri::parse(uri.as_str()), Ok(uri));
            }
        }

        /// Differential check against `url`: the canonical form means the same
        /// scheme, host, port and (decoded) path as the input did.
        #[test]
        fn canonical_form_agrees_with_url_crate(s in resource_input()) {
            let uri = ResourceUri::parse(&s).unwrap();
            let theirs = Url::parse(&s).unwrap();
            let ours = Url::parse(uri.as_str()).unwrap();
            prop_assert_eq!(ours.scheme(), theirs.scheme());
            prop_assert_eq!(url_host(&ours), url_host(&theirs));
            prop_assert_eq!(ours.port_or_known_default(), theirs.port_or_known_default());
            prop_assert_eq!(
                trim_slashes(percent_decode(ours.path())),
                trim_slashes(percent_decode(theirs.path()))
            );
            prop_assert_eq!(ours.as_str().trim_end_matches('/'), uri.as_str());
        }

        #[test]
        fn path_prefix_never_covers_a_sibling_with_a_longer_segment(
            base in "[a-z]{1,8}",
            suffix in "[a-zA-Z0-9._~-]{1,8}",
            rest in "(/[a-z]{1,4}){0,3}",
        ) {
            let audience = ResourceUri::parse(&format!("https://x.example/{base}")).unwrap();
            let sibling = ResourceUri::parse(&format!("https://x.example/{base}{suffix}{rest}"));
            if let Ok(sibling) = sibling {
                // Dot segments may fold the sibling back into the audience's path; only true siblings count.
                if !(sibling.path() == audience.path() || sibling.path().starts_with(&format!("{}/", audience.path()))) {
                    prop_assert!(!audience.covers(&sibling, AudienceMatch::PathPrefix));
                }
            }
            let child = ResourceUri::parse(&format!("https://x.example/{base}/{suffix}")).unwrap();
            if !matches!(suffix.as_str(), "." | "..") {
                prop_assert!(audience.covers(&child, AudienceMatch::PathPrefix));
            }
        }
    }
}
