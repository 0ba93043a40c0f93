//! The token response (RFC 6749 sections 5.1 and 5.2, OIDC Core 1.0 sections
//! 3.1.3.3 to 3.1.3.5) and the userinfo request (RFC 6750 section 2.1).

use core::fmt;

use latchkey_types::SecretString;
use latchkey_types::json::parse_object;
use serde_json::Value;

use crate::{Endpoints, ProviderErrorCode, ProviderKind, UpstreamError};

/// The largest token response accepted, in bytes.
pub const MAX_TOKEN_RESPONSE_LEN: usize = 64 * 1024;

/// The largest access or ID token accepted, in bytes.
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest unregistered `error` code kept from a token error response.
const MAX_ERROR_CODE_LEN: usize = 64;
/// The longest `error_description` kept from a token error response.
const MAX_ERROR_DESCRIPTION_LEN: usize = 200;

/// `text` with every character `keep` refuses replaced by `?`, cut after
/// `max` characters (then ending in `...`). The result is ASCII whenever
/// `keep` admits only ASCII.
fn sanitize(text: &str, max: usize, keep: impl Fn(char) -> bool) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if keep(c) { c } else { '?' })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// A successful token response, reduced to what sign-in needs.
///
/// Upstream tokens are never passed on (no token passthrough, MCP security
/// best practices): the access token is used at most once, for the userinfo
/// request of an `oauth2` provider, and the ID token only to validate it. A
/// refresh token, if the provider sends one, is not even kept. Both tokens are
/// secrets; `Debug` shows neither.
pub struct TokenResponse {
    access_token: SecretString,
    id_token: Option<SecretString>,
}

impl TokenResponse {
    /// Reads the token endpoint's answer: its HTTP `status` and `body`.
    ///
    /// - A body with an `error` member is [`UpstreamError::TokenRefused`]
    ///   whatever the status (RFC 6749 section 5.2; some providers answer
    ///   errors with 200).
    /// - Otherwise a status other than 200 is [`UpstreamError::TokenStatus`].
    /// - Strict JSON (no member twice), at most [`MAX_TOKEN_RESPONSE_LEN`] bytes.
    /// - `access_token` (a non-empty string) and `token_type` (`Bearer`,
    ///   compared case-insensitively, RFC 6749 section 5.1 and 7.1, OIDC Core
    ///   1.0 section 3.1.3.3) are required; for `oidc`, `id_token` too.
    pub fn parse(kind: ProviderKind, status: u16, body: &[u8]) -> Result<Self, UpstreamError> {
        let doc = parse_object(body, MAX_TOKEN_RESPONSE_LEN).map_err(|e| {
            if status == 200 {
                UpstreamError::TokenResponseJson(e)
            } else {
                UpstreamError::TokenStatus(status)
            }
        })?;
        if let Some(error) = doc.get("error") {
            let sent = error.as_str().unwrap_or_default();
            let code = ProviderErrorCode::parse(sent);
            let error = match code {
                ProviderErrorCode::Unregistered if !sent.is_empty() => {
                    sanitize(sent, MAX_ERROR_CODE_LEN, |c| {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
                    })
                }
                code => code.as_str().to_owned(),
            };
            let description = doc
                .get("error_description")
                .and_then(Value::as_str)
                .map(|d| {
                    sanitize(d, MAX_ERROR_DESCRIPTION_LEN, |c| {
                        c.is_ascii() && !c.is_ascii_control()
                    })
                })
                .filter(|d| !d.is_empty());
            return Err(UpstreamError::TokenRefused {
                code,
                error,
                description,
            });
        }
        if status != 200 {
            return Err(UpstreamError::TokenStatus(status));
        }
        let token = |name: &'static str| -> Result<Option<SecretString>, UpstreamError> {
            match doc.get(name) {
                None => Ok(None),
                Some(Value::String(s))
                    if !s.is_empty()
                        && s.len() <= MAX_TOKEN_LEN
                        && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
                {
                    Ok(Some(SecretString::new(s.clone())))
                }
                Some(_) => Err(UpstreamError::TokenMemberInvalid(name)),
            }
        };
        let access_token =
            token("access_token")?.ok_or(UpstreamError::TokenMemberMissing("access_token"))?;
        match doc.get("token_type") {
            None => return Err(UpstreamError::TokenMemberMissing("token_type")),
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(Value::String(_)) => return Err(UpstreamError::TokenTypeNotBearer),
            Some(_) => return Err(UpstreamError::TokenMemberInvalid("token_type")),
        }
        let id_token = token("id_token")?;
        if kind == ProviderKind::Oidc && id_token.is_none() {
            return Err(UpstreamError::TokenMemberMissing("id_token"));
        }
        Ok(Self {
            access_token,
            id_token,
        })
    }

    /// The upstream access token: for the userinfo request only.
    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }

    /// The ID token, for [`crate::validate_id_token`].
    pub fn id_token(&self) -> Option<&SecretString> {
        self.id_token.as_ref()
    }

    /// The userinfo request of an `oauth2` provider (RFC 6750 section 2.1):
    /// GET the URL with the `Authorization` header value, and
    /// `Accept: application/json`. `None` if the provider has no userinfo
    /// endpoint.
    pub fn userinfo_request(&self, endpoints: &Endpoints) -> Option<UserinfoRequest> {
        let url = endpoints.userinfo_endpoint()?.to_owned();
        Some(UserinfoRequest {
            url,
            authorization: SecretString::new(format!(
                "Bearer {}",
                self.access_token.expose_secret()
            )),
        })
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

/// A userinfo request: a GET to `url` with the `Authorization` header value.
#[derive(Debug)]
pub struct UserinfoRequest {
    /// The userinfo endpoint.
    pub url: String,
    /// `Bearer {access token}`.
    pub authorization: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::oidc_endpoints;
    use latchkey_types::json::JsonError;

    fn ok(body: &str) -> Result<TokenResponse, UpstreamError> {
        TokenResponse::parse(ProviderKind::Oidc, 200, body.as_bytes())
    }

    #[test]
    fn rfc_6749_section_5_1_and_oidc_core_3_1_3_3_a_successful_response() {
        let response = ok(
            r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"id_token":"a.b.c","refresh_token":"rt"}"#,
        )
        .unwrap();
        assert_eq!(response.access_token().expose_secret(), "at-1");
        assert_eq!(response.id_token().unwrap().expose_secret(), "a.b.c");
        let debug = format!("{response:?}");
        assert!(
            !debug.contains("at-1") && !debug.contains("a.b.c"),
            "{debug}"
        );
        let request = response.userinfo_request(&oidc_endpoints()).unwrap();
        assert_eq!(request.url, "https://login.example.com/userinfo");
        assert_eq!(request.authorization.expose_secret(), "Bearer at-1");
    }

    #[test]
    fn oidc_core_3_1_3_3_token_type_bearer_is_case_insensitive_and_required() {
        for t in ["bearer", "BEARER", "Bearer"] {
            assert!(
                ok(&format!(
                    r#"{{"access_token":"a","token_type":"{t}","id_token":"x"}}"#
                ))
                .is_ok()
            );
        }
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"DPoP","id_token":"x"}"#).unwrap_err(),
            UpstreamError::TokenTypeNotBearer
        );
        assert_eq!(
            ok(r#"{"access_token":"a","id_token":"x"}"#).unwrap_err(),
            UpstreamError::TokenMemberMissing("token_type")
        );
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":1,"id_token":"x"}"#).unwrap_err(),
            UpstreamError::TokenMemberInvalid("token_type")
        );
    }

    #[test]
    fn oidc_core_3_1_3_3_id_token_is_required_for_oidc_only() {
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer"}"#).unwrap_err(),
            UpstreamError::TokenMemberMissing("id_token")
        );
        assert!(
            TokenResponse::parse(
                ProviderKind::OAuth2,
                200,
                br#"{"access_token":"gho_x","token_type":"bearer","scope":"read:user"}"#
            )
            .is_ok()
        );
        assert_eq!(
            ok(r#"{"token_type":"Bearer","id_token":"x"}"#).unwrap_err(),
            UpstreamError::TokenMemberMissing("access_token")
        );
        assert_eq!(
            ok(r#"{"access_token":"","token_type":"Bearer","id_token":"x"}"#).unwrap_err(),
            UpstreamError::TokenMemberInvalid("access_token")
        );
    }

    #[test]
    fn rfc_6749_section_5_2_error_responses_are_typed() {
        for status in [400, 401, 200] {
            assert_eq!(
                TokenResponse::parse(
                    ProviderKind::Oidc,
                    status,
                    br#"{"error":"invalid_grant","error_description":"code used"}"#
                )
                .unwrap_err(),
                UpstreamError::TokenRefused {
                    code: ProviderErrorCode::InvalidGrant,
                    error: "invalid_grant".to_owned(),
                    description: Some("code used".to_owned()),
                }
            );
        }
        let error = TokenResponse::parse(
            ProviderKind::OAuth2,
            200,
            br#"{"error":"bad_verification_code"}"#,
        )
        .unwrap_err();
        assert_eq!(
            error,
            UpstreamError::TokenRefused {
                code: ProviderErrorCode::Unregistered,
                error: "bad_verification_code".to_owned(),
                description: None,
            }
        );
        assert_eq!(
            error.page_message("GitHub"),
            "Sign-in with GitHub failed: the provider refused the code: bad_verification_code."
        );
        assert_eq!(
            TokenResponse::parse(ProviderKind::Oidc, 502, b"<html>").unwrap_err(),
            UpstreamError::TokenStatus(502)
        );
        assert_eq!(
            TokenResponse::parse(
                ProviderKind::Oidc,
                500,
                br#"{"access_token":"a","token_type":"Bearer","id_token":"x"}"#
            )
            .unwrap_err(),
            UpstreamError::TokenStatus(500)
        );
    }

    #[test]
    fn rfc_6749_section_5_2_the_error_is_named_on_the_page_and_its_description_in_the_log_sanitized()
     {
        let error = TokenResponse::parse(
            ProviderKind::OAuth2,
            400,
            br#"{"error":"invalid_grant","error_description":"The code\u0000 <b>expired</b>\n\u00e9t\u00e9"}"#,
        )
        .unwrap_err();
        assert_eq!(
            error.page_message("Plain"),
            "Sign-in with Plain failed: the provider refused the code: invalid_grant."
        );
        assert_eq!(
            error.to_string(),
            "the provider refused the code: invalid_grant (error_description \"The code? <b>expired</b>??t?\")"
        );
        // Long descriptions are cut; odd codes keep only safe characters.
        let long = format!(
            r#"{{"error":"<script>alert(1)</script>","error_description":"{}"}}"#,
            "x".repeat(5000)
        );
        let error = TokenResponse::parse(ProviderKind::OAuth2, 401, long.as_bytes()).unwrap_err();
        let UpstreamError::TokenRefused {
            code,
            error: sent,
            description,
        } = &error
        else {
            panic!("{error:?}");
        };
        assert_eq!(*code, ProviderErrorCode::Unregistered);
        assert_eq!(sent, "?script?alert?1???script?");
        assert_eq!(description.as_deref().map(str::len), Some(203));
        assert!(!error.page_message("P").contains('<'));
        // A non-string error is still a refusal, named as unregistered.
        let error = TokenResponse::parse(ProviderKind::OAuth2, 400, br#"{"error":7}"#).unwrap_err();
        assert_eq!(
            error.page_reason(),
            "the provider refused the code: unregistered"
        );
    }

    #[test]
    fn rfc_8259_section_4_duplicate_members_are_refused() {
        assert_eq!(
            ok(r#"{"access_token":"a","token_type":"Bearer","id_token":"x","id_token":"y"}"#)
                .unwrap_err(),
            UpstreamError::TokenResponseJson(JsonError::DuplicateMember)
        );
        assert_eq!(
            ok("access_token=a&token_type=bearer").unwrap_err(),
            UpstreamError::TokenResponseJson(JsonError::Malformed)
        );
    }
}
