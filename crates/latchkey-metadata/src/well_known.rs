//! Well-known metadata URLs (RFC 8414 section 3.1, RFC 9728 section 3.1) and
//! the order MCP clients probe them in (MCP 2025-11-25 "Authorization Server
//! Metadata Discovery" and "Protected Resource Metadata Discovery
//! Requirements").

use url::Url;

use crate::MetadataError;

/// The RFC 8414 well-known suffix for OAuth authorization server metadata.
pub const OAUTH_AUTHORIZATION_SERVER: &str = "oauth-authorization-server";
/// The OpenID Connect Discovery 1.0 suffix (RFC 8414 section 5).
pub const OPENID_CONFIGURATION: &str = "openid-configuration";
/// The RFC 9728 well-known suffix for protected resource metadata.
pub const OAUTH_PROTECTED_RESOURCE: &str = "oauth-protected-resource";

/// The metadata URL for `issuer` and a well-known `suffix`
/// ([`OAUTH_AUTHORIZATION_SERVER`] or [`OPENID_CONFIGURATION`]), built by
/// path insertion (RFC 8414 section 3 and 3.1): any terminating `/` of the
/// issuer's path is removed, then `/.well-known/{suffix}` goes between the host
/// and the path. `https://as.example/tenant1` gives
/// `https://as.example/.well-known/oauth-authorization-server/tenant1`.
///
/// The issuer must be an `https` URL (which always has a host) with no query or fragment
/// (RFC 8414 section 2).
pub fn authorization_server_metadata_url(issuer: &Url, suffix: &str) -> Result<Url, MetadataError> {
    check_issuer(issuer)?;
    Ok(path_inserted(issuer, suffix))
}

/// The OpenID Connect Discovery 1.0 section 4 URL: the issuer with any
/// terminating `/` removed, then `/.well-known/openid-configuration`
/// appended. `https://as.example/tenant1` gives
/// `https://as.example/tenant1/.well-known/openid-configuration`.
pub fn openid_configuration_appended_url(issuer: &Url) -> Result<Url, MetadataError> {
    check_issuer(issuer)?;
    Ok(openid_appended(issuer))
}

/// Every URL an MCP client tries for `issuer`, in the order MCP 2025-11-25
/// ("Authorization Server Metadata Discovery") prescribes.
///
/// With a path: RFC 8414 path insertion, OpenID Connect path insertion, then
/// OpenID Connect path appending. Without a path: `oauth-authorization-server`,
/// then `openid-configuration`. This is also the order the specifications
/// give on their own: RFC 8414 section 3.1 first; then, for the
/// `openid-configuration` suffix, RFC 8414 section 5 ("applications should
/// first apply the transformation defined in this specification ... only if
/// the retrieval from that location fails should they fall back to" the
/// OpenID Connect Discovery 1.0 section 4 location, the issuer with
/// `/.well-known/openid-configuration` appended). Without a path the two
/// `openid-configuration` forms are one URL (RFC 8414 section 5).
pub fn authorization_server_discovery_urls(issuer: &Url) -> Result<Vec<Url>, MetadataError> {
    check_issuer(issuer)?;
    Ok(danger_authorization_server_discovery_urls_unchecked(issuer))
}

/// The URLs of [`authorization_server_discovery_urls`], in the same order,
/// for an issuer whose URL the caller has checked by a rule of its own, such
/// as `http` on a loopback host for a development server, which RFC 8414
/// section 2 does not allow. Nothing about the issuer is checked here: not
/// its scheme, query or fragment.
pub fn danger_authorization_server_discovery_urls_unchecked(issuer: &Url) -> Vec<Url> {
    let mut urls = vec![
        path_inserted(issuer, OAUTH_AUTHORIZATION_SERVER),
        path_inserted(issuer, OPENID_CONFIGURATION),
    ];
    if has_path(issuer) {
        urls.push(openid_appended(issuer));
    }
    urls
}

/// The protected resource metadata URL for `resource` (RFC 9728 section 3
/// and 3.1): `/.well-known/oauth-protected-resource` goes between the host and
/// the path and query, after removing a terminating `/` that directly follows
/// the host. `https://rs.example/mcp` gives
/// `https://rs.example/.well-known/oauth-protected-resource/mcp`.
///
/// The resource must be an `https` URL with no fragment (RFC 9728
/// section 1.2); a query is allowed and kept.
pub fn protected_resource_metadata_url(resource: &Url) -> Result<Url, MetadataError> {
    check_resource(resource)?;
    let path = match resource.path() {
        "/" => "",
        path => path,
    };
    Ok(with_path(
        resource,
        &format!("/.well-known/{OAUTH_PROTECTED_RESOURCE}{path}"),
    ))
}

/// The metadata URL at the root of the resource's host,
/// `https://rs.example/.well-known/oauth-protected-resource`, which MCP
/// 2025-11-25 lets a server use instead of the path-inserted one (R3').
pub fn protected_resource_root_metadata_url(resource: &Url) -> Result<Url, MetadataError> {
    check_resource(resource)?;
    let mut url = with_path(
        resource,
        &format!("/.well-known/{OAUTH_PROTECTED_RESOURCE}"),
    );
    url.set_query(None);
    Ok(url)
}

/// Every URL an MCP client tries for `resource` when the 401 challenge had
/// no `resource_metadata`, in order: path-inserted, then root (MCP
/// 2025-11-25 "Protected Resource Metadata Discovery Requirements", R3').
/// A resource at the root yields one URL.
pub fn protected_resource_discovery_urls(resource: &Url) -> Result<Vec<Url>, MetadataError> {
    let inserted = protected_resource_metadata_url(resource)?;
    let root = protected_resource_root_metadata_url(resource)?;
    if inserted == root {
        return Ok(vec![root]);
    }
    Ok(vec![inserted, root])
}

// ---------------------------------------------------------------------------
// Helpers.

/// RFC 8414 section 2: "a URL that uses the https scheme and has no query or
/// fragment components".
fn check_issuer(issuer: &Url) -> Result<(), MetadataError> {
    check_resource(issuer)?;
    if issuer.query().is_some() {
        return Err(MetadataError::UrlHasQuery);
    }
    Ok(())
}

/// RFC 9728 section 1.2: "a URL that uses the https scheme and has no
/// fragment component".
fn check_resource(resource: &Url) -> Result<(), MetadataError> {
    if resource.scheme() != "https" {
        return Err(MetadataError::UrlNotHttps);
    }
    if resource.fragment().is_some() {
        return Err(MetadataError::UrlHasFragment);
    }
    Ok(())
}

/// RFC 8414 section 3.1: any terminating `/` of the issuer's path removed,
/// then `/.well-known/{suffix}` inserted between the host and the path.
fn path_inserted(issuer: &Url, suffix: &str) -> Url {
    let path = issuer.path().trim_end_matches('/');
    with_path(issuer, &format!("/.well-known/{suffix}{path}"))
}

/// OpenID Connect Discovery 1.0 section 4.1: any terminating `/` of the
/// issuer's path removed, then `/.well-known/openid-configuration` appended.
fn openid_appended(issuer: &Url) -> Url {
    let path = issuer.path().trim_end_matches('/');
    with_path(
        issuer,
        &format!("{path}/.well-known/{OPENID_CONFIGURATION}"),
    )
}

fn has_path(url: &Url) -> bool {
    !url.path().trim_end_matches('/').is_empty()
}

fn with_path(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn strings(urls: &[Url]) -> Vec<&str> {
        urls.iter().map(Url::as_str).collect()
    }

    #[test]
    fn rfc8414_section_3_1_issuer_without_path() {
        let got = authorization_server_metadata_url(
            &url("https://example.com"),
            OAUTH_AUTHORIZATION_SERVER,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://example.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn rfc8414_section_3_1_issuer_with_path_is_inserted() {
        let got = authorization_server_metadata_url(
            &url("https://example.com/issuer1"),
            OAUTH_AUTHORIZATION_SERVER,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1"
        );
        let got = authorization_server_metadata_url(
            &url("https://as.example/tenant1"),
            OPENID_CONFIGURATION,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://as.example/.well-known/openid-configuration/tenant1"
        );
    }

    #[test]
    fn rfc8414_section_3_1_terminating_slash_is_removed() {
        let got = authorization_server_metadata_url(
            &url("https://as.example/tenant1/"),
            OAUTH_AUTHORIZATION_SERVER,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://as.example/.well-known/oauth-authorization-server/tenant1"
        );
        let got = openid_configuration_appended_url(&url("https://as.example/tenant1/")).unwrap();
        assert_eq!(
            got.as_str(),
            "https://as.example/tenant1/.well-known/openid-configuration"
        );
    }

    #[test]
    fn rfc8414_section_3_1_keeps_port_and_deep_paths() {
        let got = authorization_server_metadata_url(
            &url("https://as.example:8443/a/b"),
            OAUTH_AUTHORIZATION_SERVER,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://as.example:8443/.well-known/oauth-authorization-server/a/b"
        );
    }

    #[test]
    fn rfc8414_section_3_1_percent_encoding_and_ip_literals_survive() {
        let got = authorization_server_metadata_url(
            &url("https://[::1]:8443/t%20x"),
            OAUTH_AUTHORIZATION_SERVER,
        )
        .unwrap();
        assert_eq!(
            got.as_str(),
            "https://[::1]:8443/.well-known/oauth-authorization-server/t%20x"
        );
        let got = protected_resource_metadata_url(&url("https://rs.example/a%2Fb/")).unwrap();
        // RFC 9728 section 3.1 removes only a slash right after the host; the path is kept whole.
        assert_eq!(
            got.as_str(),
            "https://rs.example/.well-known/oauth-protected-resource/a%2Fb/"
        );
    }

    #[test]
    fn a3_mcp_discovery_order_for_a_path_issuer() {
        let got =
            authorization_server_discovery_urls(&url("https://auth.example.com/tenant1")).unwrap();
        assert_eq!(
            strings(&got),
            [
                "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
                "https://auth.example.com/.well-known/openid-configuration/tenant1",
                "https://auth.example.com/tenant1/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn a3_mcp_discovery_order_for_an_issuer_without_path() {
        for issuer in ["https://auth.example.com", "https://auth.example.com/"] {
            let got = authorization_server_discovery_urls(&url(issuer)).unwrap();
            assert_eq!(
                strings(&got),
                [
                    "https://auth.example.com/.well-known/oauth-authorization-server",
                    "https://auth.example.com/.well-known/openid-configuration",
                ]
            );
        }
    }

    #[test]
    fn rfc8414_section_5_unchecked_urls_are_the_same_order_for_any_scheme() {
        for issuer in [
            "https://auth.example.com/tenant1",
            "https://auth.example.com",
        ] {
            let issuer = url(issuer);
            assert_eq!(
                danger_authorization_server_discovery_urls_unchecked(&issuer),
                authorization_server_discovery_urls(&issuer).unwrap()
            );
        }
        let got = danger_authorization_server_discovery_urls_unchecked(&url(
            "http://127.0.0.1:8080/tenant1/",
        ));
        assert_eq!(
            strings(&got),
            [
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server/tenant1",
                "http://127.0.0.1:8080/.well-known/openid-configuration/tenant1",
                "http://127.0.0.1:8080/tenant1/.well-known/openid-configuration",
            ]
        );
        let got = danger_authorization_server_discovery_urls_unchecked(&url("http://[::1]:8080"));
        assert_eq!(
            strings(&got),
            [
                "http://[::1]:8080/.well-known/oauth-authorization-server",
                "http://[::1]:8080/.well-known/openid-configuration",
            ]
        );
    }

    #[test]
    fn rfc8414_section_2_issuer_with_query_or_fragment_is_refused() {
        assert_eq!(
            authorization_server_discovery_urls(&url("https://as.example/t?x=1")),
            Err(MetadataError::UrlHasQuery)
        );
        assert_eq!(
            authorization_server_discovery_urls(&url("https://as.example/t#f")),
            Err(MetadataError::UrlHasFragment)
        );
        assert_eq!(
            openid_configuration_appended_url(&url("https://as.example/t?")),
            Err(MetadataError::UrlHasQuery)
        );
    }

    #[test]
    fn rfc8414_section_3_metadata_url_must_be_https() {
        assert_eq!(
            authorization_server_discovery_urls(&url("http://as.example")),
            Err(MetadataError::UrlNotHttps)
        );
        assert_eq!(
            protected_resource_discovery_urls(&url("http://rs.example/mcp")),
            Err(MetadataError::UrlNotHttps)
        );
        assert_eq!(
            authorization_server_discovery_urls(&url("file:///etc/issuer")),
            Err(MetadataError::UrlNotHttps)
        );
    }

    #[test]
    fn rfc9728_section_3_1_resource_without_path() {
        let got = protected_resource_metadata_url(&url("https://resource.example.com")).unwrap();
        assert_eq!(
            got.as_str(),
            "https://resource.example.com/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn rfc9728_section_3_1_resource_with_path_is_inserted() {
        let got = protected_resource_metadata_url(&url("https://resource.example.com/resource1"))
            .unwrap();
        assert_eq!(
            got.as_str(),
            "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
        );
    }

    #[test]
    fn rfc9728_section_3_query_is_kept_after_the_inserted_path() {
        let got = protected_resource_metadata_url(&url("https://rs.example/mcp?tenant=a")).unwrap();
        assert_eq!(
            got.as_str(),
            "https://rs.example/.well-known/oauth-protected-resource/mcp?tenant=a"
        );
        let root =
            protected_resource_root_metadata_url(&url("https://rs.example/mcp?tenant=a")).unwrap();
        assert_eq!(
            root.as_str(),
            "https://rs.example/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn rfc9728_section_1_2_resource_with_fragment_is_refused() {
        assert_eq!(
            protected_resource_metadata_url(&url("https://rs.example/mcp#x")),
            Err(MetadataError::UrlHasFragment)
        );
    }

    #[test]
    fn r3_prime_prm_discovery_order_path_inserted_then_root() {
        let got =
            protected_resource_discovery_urls(&url("https://example.com/public/mcp")).unwrap();
        assert_eq!(
            strings(&got),
            [
                "https://example.com/.well-known/oauth-protected-resource/public/mcp",
                "https://example.com/.well-known/oauth-protected-resource",
            ]
        );
        let got = protected_resource_discovery_urls(&url("https://example.com/")).unwrap();
        assert_eq!(
            strings(&got),
            ["https://example.com/.well-known/oauth-protected-resource"]
        );
    }
}
