use core::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use crate::{MAX_URI_LEN, UriError, UriRole, from_url_error, has_confusing_byte, split_authority};

/// A registered redirect URI (OAuth 2.1 section 2.3). It keeps the exact
/// string the client registered: redirect URIs are compared, never normalized
/// (OAuth 2.1 section 2.3.1, MCP A13).
///
/// Registration rules ([`parse`](Self::parse)):
///
/// - an absolute URI (OAuth 2.1 section 2.3) of at most [`MAX_URI_LEN`]
///   bytes of printable ASCII, without a fragment (section 2.3) and without
///   userinfo;
/// - `https` with any host ([`RedirectUriKind::Https`], RFC 8252 section 7.2);
/// - or `http` only for the loopback hosts `127.0.0.1`, `[::1]` and
///   `localhost` ([`RedirectUriKind::Loopback`]; RFC 8252 sections 7.3 and
///   8.3, MCP A12). The host must be written in canonical form (lowercase
///   or as `url` would print it), so `http://127.1/` or `http://[0::1]/` are
///   refused rather than matched by a different spelling later;
/// - or a private-use scheme that is a reverse domain name, containing a `.`
///   ([`RedirectUriKind::PrivateUseScheme`]; RFC 8252 section 7.1, OAuth 2.1
///   section 2.3.1), never one that runs code or is no redirect target
///   (`javascript`, `data`, `file`, `vbscript`, `about`, `blob`, `ws`, `wss`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RedirectUri {
    /// The exact registered string.
    raw: String,
    kind: RedirectUriKind,
    /// The host for `http(s)`, lowercased.
    host: Option<String>,
    /// Where the host ends in `raw` (for `http(s)`): a port, if any, follows.
    host_end: usize,
}

/// What kind of redirect a [`RedirectUri`] is (RFC 8252 section 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RedirectUriKind {
    /// An `https` URI (any host, including a loopback one: matched exactly).
    Https,
    /// An `http` URI on `127.0.0.1`, `[::1]` or `localhost` (RFC 8252 section 7.3).
    Loopback,
    /// A private-use scheme such as `com.example.app:/cb` (RFC 8252 section 7.1).
    PrivateUseScheme,
}

/// Schemes that are never a redirect target: they run script, read local
/// files, or are not navigations an authorization response can go to.
const FORBIDDEN_SCHEMES: [&str; 8] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ws",
    "wss",
];

/// The loopback hosts an `http` redirect URI may name (RFC 8252 sections 7.3 and 8.3).
const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "[::1]", "localhost"];

impl RedirectUri {
    /// Validates a redirect URI at registration time (see the type's documentation).
    pub fn parse(s: &str) -> Result<Self, UriError> {
        const ROLE: UriRole = UriRole::Redirect;
        if s.is_empty() {
            return Err(UriError::Empty(ROLE));
        }
        if s.len() > MAX_URI_LEN {
            return Err(UriError::TooLong(ROLE));
        }
        if has_confusing_byte(s) || !s.is_ascii() {
            return Err(UriError::InvalidCharacter(ROLE));
        }
        // OAuth 2.1 section 2.3: "MUST NOT include a fragment component" (even an empty one).
        if s.contains('#') {
            return Err(UriError::FragmentNotAllowed(ROLE));
        }
        let url = Url::parse(s).map_err(|e| from_url_error(e, ROLE))?;
        let scheme = url.scheme();
        if FORBIDDEN_SCHEMES.contains(&scheme) {
            return Err(UriError::ForbiddenScheme);
        }
        if scheme == "https" || scheme == "http" {
            return Self::parse_http(s, &url);
        }
        if !is_reverse_domain(scheme) {
            return Err(UriError::SchemeNotReverseDomain);
        }
        let has_raw_userinfo = split_authority(s).is_some_and(|(_, a)| a.contains('@'));
        if has_raw_userinfo || !url.username().is_empty() || url.password().is_some() {
            return Err(UriError::UserinfoNotAllowed(ROLE));
        }
        Ok(Self {
            raw: s.to_owned(),
            kind: RedirectUriKind::PrivateUseScheme,
            host: None,
            host_end: 0,
        })
    }

    /// The exact registered string.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// What kind of redirect this is.
    pub fn kind(&self) -> RedirectUriKind {
        self.kind
    }

    /// Whether this is an `http` loopback redirect (RFC 8252 section 7.3).
    pub fn is_loopback(&self) -> bool {
        self.kind == RedirectUriKind::Loopback
    }

    /// Request-time check of a `redirect_uri` parameter against this registered URI.
    ///
    /// Exact, byte-for-byte string comparison (OAuth 2.1 section 2.3.1, MCP A13),
    /// with one exception: for loopback redirects any port is accepted
    /// (RFC 8252 section 7.3, OAuth 2.1 section 4.1.1), including none,
    /// when scheme, host, path and query are byte-identical. The exception
    /// applies to `localhost` as well as to `127.0.0.1` and `[::1]`: MCP
    /// clients register `http://localhost/...` and listen on an ephemeral
    /// port, and the port carries no authority: the same user agent on the
    /// same machine receives the response whatever the port.
    pub fn matches(&self, requested: &str) -> bool {
        if requested == self.raw {
            return true;
        }
        if self.kind != RedirectUriKind::Loopback || requested.len() > MAX_URI_LEN {
            return false;
        }
        let (Some(prefix), Some(after_host)) =
            (self.raw.get(..self.host_end), self.raw.get(self.host_end..))
        else {
            return false;
        };
        let Some(requested_after_host) = requested.strip_prefix(prefix) else {
            return false;
        };
        let (Some(registered_rest), Some(requested_rest)) =
            (strip_port(after_host), strip_port(requested_after_host))
        else {
            return false;
        };
        // The rest is the path and query; it must start where the authority ends.
        let starts_cleanly = requested_rest.is_empty() || requested_rest.starts_with(['/', '?']);
        starts_cleanly && registered_rest == requested_rest
    }

    /// The host, for consent screens ("redirects to host X"): lowercased, IPv6 in
    /// brackets. `None` for private-use schemes, where the scheme names the app.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The `http`/`https` rules: a host written canonically, no userinfo, and
    /// `http` only on loopback.
    fn parse_http(s: &str, url: &Url) -> Result<Self, UriError> {
        const ROLE: UriRole = UriRole::Redirect;
        let Some((authority_start, authority)) = split_authority(s) else {
            return Err(UriError::MissingHost(ROLE));
        };
        if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
            return Err(UriError::UserinfoNotAllowed(ROLE));
        }
        let raw_host = if authority.starts_with('[') {
            authority
                .find(']')
                .and_then(|end| authority.get(..=end))
                .unwrap_or(authority)
        } else {
            authority.split_once(':').map_or(authority, |(h, _)| h)
        };
        if raw_host.is_empty() {
            return Err(UriError::MissingHost(ROLE));
        }
        let host = url.host_str().ok_or(UriError::MissingHost(ROLE))?;
        if !raw_host.eq_ignore_ascii_case(host) {
            return Err(UriError::InvalidHost(ROLE));
        }
        let kind = if url.scheme() == "https" {
            RedirectUriKind::Https
        } else if LOOPBACK_HOSTS.contains(&host) {
            RedirectUriKind::Loopback
        } else {
            return Err(UriError::HttpNotLoopback);
        };
        let host_end = authority_start
            .checked_add(raw_host.len())
            .ok_or(UriError::TooLong(ROLE))?;
        Ok(Self {
            raw: s.to_owned(),
            kind,
            host: Some(host.to_owned()),
            host_end,
        })
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for RedirectUri {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for RedirectUri {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A reverse domain name: at least two non-empty labels separated by `.`
/// (RFC 8252 section 7.1; `url` has already checked the scheme grammar).
fn is_reverse_domain(scheme: &str) -> bool {
    scheme.contains('.') && scheme.split('.').all(|label| !label.is_empty())
}

/// Strips `:port` (possibly empty, at most five digits, at most 65535) from
/// the start of `s`; `None` if what follows `:` is not a port.
fn strip_port(s: &str) -> Option<&str> {
    let Some(after_colon) = s.strip_prefix(':') else {
        return Some(s);
    };
    let digits = after_colon.bytes().take_while(u8::is_ascii_digit).count();
    let (port, rest) = after_colon.split_at_checked(digits)?;
    if !port.is_empty() && port.parse::<u16>().is_err() {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use latchkey_types::ErrorCode;
    use proptest::prelude::*;

    const R: UriRole = UriRole::Redirect;

    fn ok(s: &str) -> RedirectUri {
        RedirectUri::parse(s).unwrap()
    }

    fn err(s: &str) -> UriError {
        RedirectUri::parse(s).unwrap_err()
    }

    #[test]
    fn rfc8252_7_2_https_any_host_keeps_exact_string() {
        let uri = ok("https://App.Example.com/oauth2redirect/example-provider?x=1");
        assert_eq!(uri.kind(), RedirectUriKind::Https);
        assert_eq!(
            uri.as_str(),
            "https://App.Example.com/oauth2redirect/example-provider?x=1"
        );
        assert_eq!(uri.host(), Some("app.example.com"));
        assert!(!uri.is_loopback());
        assert_eq!(
            ok("https://127.0.0.1:8443/cb").kind(),
            RedirectUriKind::Https
        );
    }

    #[test]
    fn a12_rfc8252_7_3_http_only_on_loopback_hosts() {
        for s in [
            "http://127.0.0.1:51004/oauth2redirect/example-provider",
            "http://[::1]:61023/oauth2redirect/example-provider",
            "http://localhost:3000/callback",
            "http://localhost/callback",
            "http://LOCALHOST/callback",
        ] {
            let uri = ok(s);
            assert_eq!(uri.kind(), RedirectUriKind::Loopback, "{s}");
            assert!(uri.is_loopback());
        }
        assert_eq!(ok("http://[::1]/cb").host(), Some("[::1]"));
        for s in [
            "http://example.com/cb",
            "http://127.0.0.2/cb",
            "http://localhost.example.com/cb",
            "http://10.0.0.1/cb",
        ] {
            assert_eq!(err(s), UriError::HttpNotLoopback, "{s}");
        }
    }

    #[test]
    fn rfc8252_8_3_loopback_host_must_be_written_canonically() {
        assert_eq!(err("http://127.1/cb"), UriError::InvalidHost(R));
        assert_eq!(err("http://0x7f000001/cb"), UriError::InvalidHost(R));
        assert_eq!(err("http://[0:0::1]/cb"), UriError::InvalidHost(R));
        assert_eq!(err("https://%65xample.com/cb"), UriError::InvalidHost(R));
    }

    #[test]
    fn rfc8252_7_1_private_use_scheme_must_be_reverse_domain() {
        let uri = ok("com.example.app:/oauth2redirect/example-provider");
        assert_eq!(uri.kind(), RedirectUriKind::PrivateUseScheme);
        assert_eq!(uri.host(), None);
        assert!(!uri.is_loopback());
        assert_eq!(
            ok("com.example.app://callback").kind(),
            RedirectUriKind::PrivateUseScheme
        );
        assert_eq!(err("myapp:/callback"), UriError::SchemeNotReverseDomain);
        assert_eq!(err("com..app:/callback"), UriError::SchemeNotReverseDomain);
        assert_eq!(
            err("com.example.:/callback"),
            UriError::SchemeNotReverseDomain
        );
        assert_eq!(
            err("com.example.app://user@host/cb"),
            UriError::UserinfoNotAllowed(R)
        );
    }

    #[test]
    fn dangerous_schemes_are_forbidden() {
        for s in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "about:blank",
            "blob:https://x.example/uuid",
            "ws://localhost/cb",
            "wss://x.example/cb",
        ] {
            assert_eq!(err(s), UriError::ForbiddenScheme, "{s}");
        }
    }

    #[test]
    fn oauth21_2_3_fragment_is_refused_even_empty() {
        assert_eq!(
            err("https://x.example/cb#"),
            UriError::FragmentNotAllowed(R)
        );
        assert_eq!(
            err("https://x.example/cb#a"),
            UriError::FragmentNotAllowed(R)
        );
        assert_eq!(
            err("com.example.app:/cb#a"),
            UriError::FragmentNotAllowed(R)
        );
    }

    #[test]
    fn oauth21_2_3_must_be_absolute_with_host() {
        assert_eq!(err(""), UriError::Empty(R));
        assert_eq!(err("/callback"), UriError::NotAbsolute(R));
        assert_eq!(err("x.example/callback"), UriError::NotAbsolute(R));
        assert_eq!(err("https:x.example/cb"), UriError::MissingHost(R));
        assert_eq!(err("https:///x.example/cb"), UriError::MissingHost(R));
        assert_eq!(err("https://x.example:70000/cb"), UriError::InvalidPort(R));
    }

    #[test]
    fn userinfo_is_refused() {
        assert_eq!(
            err("https://user@x.example/cb"),
            UriError::UserinfoNotAllowed(R)
        );
        assert_eq!(
            err("https://@x.example/cb"),
            UriError::UserinfoNotAllowed(R)
        );
        assert_eq!(
            err("http://localhost@evil.example/cb"),
            UriError::UserinfoNotAllowed(R)
        );
    }

    #[test]
    fn oauth21_7_12_characters_and_length() {
        assert_eq!(err("https://x.example/c b"), UriError::InvalidCharacter(R));
        assert_eq!(err("https://x.example/cb\n"), UriError::InvalidCharacter(R));
        assert_eq!(err("https://x.example\\cb"), UriError::InvalidCharacter(R));
        assert_eq!(
            err("https://b\u{fc}cher.example/cb"),
            UriError::InvalidCharacter(R)
        );
        let long = format!("https://x.example/{}", "a".repeat(MAX_URI_LEN));
        assert_eq!(err(&long), UriError::TooLong(R));
        assert_eq!(ErrorCode::from(&err(&long)), ErrorCode::InvalidRedirectUri);
    }

    #[test]
    fn a13_exact_string_match_for_https_and_private_use() {
        let uri = ok("https://x.example/cb?a=1");
        assert!(uri.matches("https://x.example/cb?a=1"));
        for other in [
            "https://x.example/cb?a=1&b=2",
            "https://x.example/cb",
            "https://X.example/cb?a=1",
            "https://x.example:443/cb?a=1",
            "https://x.example/cb/?a=1",
            "https://x.example/CB?a=1",
            "https://x.example/cb?a=1#",
            "https://x.example:8443/cb?a=1",
        ] {
            assert!(!uri.matches(other), "{other}");
        }
        let app = ok("com.example.app:/cb");
        assert!(app.matches("com.example.app:/cb"));
        assert!(!app.matches("com.example.app:/cb2"));
        assert!(!app.matches("com.example.app://cb"));
        // An https redirect on a loopback address gets no port exception.
        assert!(!ok("https://127.0.0.1:8443/cb").matches("https://127.0.0.1:9443/cb"));
    }

    #[test]
    fn rfc8252_7_3_loopback_accepts_any_port_and_nothing_else() {
        for registered in [
            "http://127.0.0.1/cb?x=1",
            "http://127.0.0.1:8080/cb?x=1",
            "http://127.0.0.1:/cb?x=1",
        ] {
            let uri = ok(registered);
            assert!(uri.matches("http://127.0.0.1:51004/cb?x=1"), "{registered}");
            assert!(uri.matches("http://127.0.0.1/cb?x=1"), "{registered}");
            assert!(uri.matches("http://127.0.0.1:65535/cb?x=1"), "{registered}");
            for other in [
                "http://127.0.0.1:51004/cb?x=2",
                "http://127.0.0.1:51004/cb",
                "http://127.0.0.1:51004/cb/?x=1",
                "http://127.0.0.1:65536/cb?x=1",
                "http://127.0.0.1:5a/cb?x=1",
                "http://127.0.0.1:51004@evil/cb?x=1",
                "http://127.0.0.10/cb?x=1",
                "http://127.0.0.1.evil.example/cb?x=1",
                "http://localhost:51004/cb?x=1",
                "https://127.0.0.1:51004/cb?x=1",
                "HTTP://127.0.0.1:51004/cb?x=1",
                "http://127.0.0.1:51004/cb?x=1#f",
            ] {
                assert!(!uri.matches(other), "{registered} vs {other}");
            }
        }
        let v6 = ok("http://[::1]/cb");
        assert!(v6.matches("http://[::1]:61023/cb"));
        assert!(!v6.matches("http://[::1]:61023/cb2"));
        assert!(!v6.matches("http://127.0.0.1:61023/cb"));
        let root = ok("http://127.0.0.1");
        assert!(root.matches("http://127.0.0.1:3000"));
        assert!(!root.matches("http://127.0.0.1:3000/"));
        assert!(!root.matches("http://127.0.0.12"));
    }

    #[test]
    fn rfc8252_7_3_port_exception_applies_to_localhost() {
        let uri = ok("http://localhost/callback");
        assert!(uri.matches("http://localhost:33418/callback"));
        assert!(!uri.matches("http://localhost:33418/callback2"));
        assert!(!uri.matches("http://LOCALHOST:33418/callback"));
        assert!(!uri.matches("http://localhost.evil.example:33418/callback"));
    }

    #[test]
    fn serde_keeps_the_exact_string_and_deserialize_validates() {
        let uri = ok("https://X.example/cb");
        assert_eq!(
            serde_json::to_string(&uri).unwrap(),
            "\"https://X.example/cb\""
        );
        let back: RedirectUri = serde_json::from_str("\"https://X.example/cb\"").unwrap();
        assert_eq!(back, uri);
        assert!(serde_json::from_str::<RedirectUri>("\"http://evil.example/cb\"").is_err());
        assert_eq!(uri.to_string(), "https://X.example/cb");
    }

    proptest! {
        #[test]
        fn loopback_matches_any_port_but_only_that_change(port in any::<u16>(), path in "/[a-z]{0,6}") {
            let uri = ok(&format!("http://127.0.0.1{path}"));
            let with_port = format!("http://127.0.0.1:{port}{path}");
            prop_assert!(uri.matches(&with_port));
            let with_other_path = format!("http://127.0.0.1:{port}{path}x");
            prop_assert!(!uri.matches(&with_other_path));
        }

        #[test]
        fn accepted_redirects_match_themselves_and_reparse(s in "[a-zA-Z.:/@?#\\[\\]0-9%-]{0,40}") {
            if let Ok(uri) = RedirectUri::parse(&s) {
                prop_assert!(uri.matches(&s));
                prop_assert_eq!(RedirectUri::parse(uri.as_str()), Ok(uri.clone()));
                prop_assert!(!s.contains('#'));
            }
        }
    }
}
