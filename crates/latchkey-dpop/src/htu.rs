//! The `htu` claim and the request URI it must match (RFC 9449 section 4.3 check 9).

use core::fmt;

use crate::DpopError;

/// An HTTP target URI in the normalized form `htu` claims are compared in.
///
/// RFC 9449 section 4.2 defines `htu` as the target URI of the request (RFC 9110
/// section 7.1) without query and fragment; section 4.3 asks servers to apply
/// syntax-based (RFC 3986 section 6.2.2) and scheme-based (RFC 3986 section 6.2.3)
/// normalization before comparing. [`Htu::parse`] does exactly that, so two
/// `Htu`s are the same URI exactly when their strings are equal:
///
/// - scheme and host lowercased (RFC 3986 section 6.2.2.1);
/// - percent-encodings of unreserved characters decoded and all other hex digits
///   uppercased (RFC 3986 section 6.2.2.1 and 6.2.2.2);
/// - dot segments removed (RFC 3986 section 6.2.2.3);
/// - the default port dropped and an empty path written as `/` (RFC 3986
///   section 6.2.3);
/// - query and fragment dropped (RFC 9449 section 4.2).
///
/// It is strict about everything else: only absolute `http` and `https` URIs with
/// a host and no userinfo (RFC 9110 section 4.2.4), only the characters RFC 3986
/// allows (no spaces, backslashes or non-ASCII), well-formed percent-encodings,
/// and at most [`Htu::MAX_LEN`] bytes.
///
/// The adapter builds the expected `Htu` from the request it received (scheme
/// and authority as the client addressed them, then the path), and
/// [`validate_proof`](crate::validate_proof) parses the claim with the same function.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Htu(String);

impl Htu {
    /// The longest URI accepted, in bytes, before normalization.
    pub const MAX_LEN: usize = 2048;

    /// Parses and normalizes an HTTP target URI, ignoring any query and fragment.
    pub fn parse(uri: &str) -> Result<Self, DpopError> {
        if uri.len() > Self::MAX_LEN {
            return Err(DpopError::HtuMalformed);
        }
        // RFC 9449 section 4.3 check 9: query and fragment are not compared.
        let end = uri.find(['?', '#']).unwrap_or(uri.len());
        let target = uri.get(..end).ok_or(DpopError::HtuMalformed)?;
        check_rfc_3986_characters(target)?;
        check_absolute_http_prefix(target)?;
        let parsed = url::Url::parse(target).map_err(|_| DpopError::HtuMalformed)?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(DpopError::HtuMalformed);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(DpopError::HtuMalformed);
        }
        let host = parsed.host_str().ok_or(DpopError::HtuMalformed)?;
        if host.is_empty() {
            return Err(DpopError::HtuMalformed);
        }
        let mut out = String::with_capacity(target.len());
        out.push_str(parsed.scheme());
        out.push_str("://");
        out.push_str(host);
        // `url` already omits a port equal to the scheme's default
        // (RFC 3986 section 6.2.3).
        if let Some(port) = parsed.port() {
            out.push(':');
            out.push_str(&port.to_string());
        }
        let path = parsed.path();
        if path.is_empty() {
            out.push('/');
        } else {
            // RFC 3986 section 6.2.2.1 and 6.2.2.2, as for resource URIs.
            latchkey_uri::normalize_percent_encoding(path, &mut out)
                .map_err(|_| DpopError::HtuMalformed)?;
        }
        Ok(Self(out))
    }

    /// The normalized URI.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Htu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 3986 section 2: unreserved, reserved and `%`; nothing else may appear.
fn check_rfc_3986_characters(s: &str) -> Result<(), DpopError> {
    let bytes = s.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let allowed = b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b);
        if !allowed {
            return Err(DpopError::HtuMalformed);
        }
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DpopError::HtuMalformed)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return Err(DpopError::HtuMalformed);
            }
        }
    }
    Ok(())
}

/// `http://` or `https://` (any case) followed by a non-empty authority.
///
/// The WHATWG parser behind `url` would also take `https:host` or `https:///host`;
/// RFC 3986 section 3 does not, so neither do we.
fn check_absolute_http_prefix(s: &str) -> Result<(), DpopError> {
    let lower_starts = |prefix: &str| {
        s.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    let rest = if lower_starts("https://") {
        s.get("https://".len()..)
    } else if lower_starts("http://") {
        s.get("http://".len()..)
    } else {
        None
    };
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(DpopError::HtuMalformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> String {
        Htu::parse(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn rfc_9449_section_4_3_scheme_and_host_case_are_normalized() {
        // RFC 3986 section 6.2.2.1.
        assert_eq!(
            norm("HTTPS://Server.Example.COM/token"),
            "https://server.example.com/token"
        );
    }

    #[test]
    fn rfc_9449_section_4_3_default_port_and_empty_path_are_normalized() {
        // RFC 3986 section 6.2.3.
        assert_eq!(
            norm("https://server.example.com:443/token"),
            "https://server.example.com/token"
        );
        assert_eq!(
            norm("http://server.example.com:80/token"),
            "http://server.example.com/token"
        );
        assert_eq!(
            norm("https://server.example.com"),
            "https://server.example.com/"
        );
        assert_eq!(
            norm("https://server.example.com:/x"),
            "https://server.example.com/x"
        );
        assert_eq!(
            norm("https://server.example.com:8443/token"),
            "https://server.example.com:8443/token"
        );
        assert_eq!(
            norm("http://server.example.com:443/"),
            "http://server.example.com:443/"
        );
    }

    #[test]
    fn rfc_9449_section_4_3_percent_encoding_is_normalized() {
        // RFC 3986 section 6.2.2.1 (hex case) and 6.2.2.2 (unreserved decoded).
        assert_eq!(norm("https://ex.com/a%2fb"), "https://ex.com/a%2Fb");
        assert_eq!(
            norm("https://ex.com/%7Euser/%41%62c"),
            "https://ex.com/~user/Abc"
        );
        assert_eq!(norm("https://ex.com/a%2Db%5f"), "https://ex.com/a-b_");
        assert_ne!(norm("https://ex.com/a%2Fb"), norm("https://ex.com/a/b"));
    }

    #[test]
    fn rfc_9449_section_4_3_dot_segments_are_removed() {
        // RFC 3986 section 6.2.2.3.
        assert_eq!(norm("https://ex.com/a/./b/../c"), "https://ex.com/a/c");
        assert_eq!(norm("https://ex.com/a/%2e%2E/c"), "https://ex.com/c");
    }

    #[test]
    fn rfc_9449_section_4_2_query_and_fragment_are_ignored() {
        assert_eq!(norm("https://ex.com/r?x=1#frag"), "https://ex.com/r");
        assert_eq!(norm("https://ex.com/r#f?g"), "https://ex.com/r");
        assert_eq!(norm("https://ex.com?x"), "https://ex.com/");
        // Characters RFC 3986 forbids are not looked at past `?`.
        assert_eq!(norm("https://ex.com/r?a b"), "https://ex.com/r");
    }

    #[test]
    fn ip_literals_and_encoded_hosts_are_normalized() {
        assert_eq!(norm("https://[::1]:443/token"), "https://[::1]/token");
        assert_eq!(
            norm("http://127.0.0.1:8080/token"),
            "http://127.0.0.1:8080/token"
        );
        assert_eq!(
            norm("https://ex%41mple.com/token"),
            "https://example.com/token"
        );
    }

    #[test]
    fn rfc_9449_section_4_2_figure_4_htu_is_already_normal() {
        let htu = "https://server.example.com/token";
        assert_eq!(norm(htu), htu);
        let htu = "https://resource.example.org/protectedresource";
        assert_eq!(norm(htu), htu);
    }

    #[test]
    fn refuses_what_is_not_an_absolute_http_uri() {
        for bad in [
            "",
            "/token",
            "server.example.com/token",
            "ftp://server.example.com/token",
            "https:server.example.com/token",
            "https:///server.example.com/token",
            "https://",
            "https://user:pw@server.example.com/token",
            "https://user@server.example.com/token",
            "https://server.example.com/to ken",
            "https://server.example.com\\token",
            "https://server.example.com/caf\u{e9}",
            "https://server.example.com/%zz",
            "https://server.example.com/%4",
            "https://server.exa\nmple.com/token",
            " https://server.example.com/token",
            "https://server.example.com:99999/",
        ] {
            assert_eq!(Htu::parse(bad), Err(DpopError::HtuMalformed), "{bad:?}");
        }
        let long = format!("https://ex.com/{}", "a".repeat(Htu::MAX_LEN));
        assert_eq!(Htu::parse(&long), Err(DpopError::HtuMalformed));
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(s in "https?://[a-zA-Z0-9.]{1,12}(:[0-9]{1,4})?(/[a-zA-Z0-9%._~!$&'()*+,;=:@-]{0,8}){0,4}") {
            if let Ok(htu) = Htu::parse(&s) {
                prop_assert_eq!(Htu::parse(htu.as_str()).unwrap(), htu);
            }
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = Htu::parse(&s);
        }
    }
}
