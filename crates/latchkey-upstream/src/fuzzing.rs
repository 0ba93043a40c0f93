//! Fuzz-target bodies (STYLE.md section 9): the `fuzz/` binaries call these.

use std::sync::OnceLock;

use latchkey_types::ErrorCode;
use latchkey_types::json::parse_object;
use serde_json::Value;

use crate::{
    CallbackParams, IdTokenClaims, Provider, ProviderConfig, ProviderKind, Reason, TokenResponse,
    UpstreamError, UpstreamIdentity,
};

/// `upstream_callback`: parses arbitrary bytes as a callback query. Accepted
/// input names no parameter twice and keeps `code`, `state` and `iss` within
/// their grammar; refused input is a bad callback, answered `invalid_request`.
pub fn upstream_callback(data: &[u8]) {
    let Ok(query) = core::str::from_utf8(data) else {
        return;
    };
    match CallbackParams::parse(query) {
        Ok(params) => {
            let mut names: Vec<String> = url::form_urlencoded::parse(data)
                .map(|(name, _)| name.into_owned())
                .collect();
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "a repeated parameter was accepted");
            if let Some(iss) = params.iss() {
                assert!(!iss.is_empty() && iss.bytes().all(|b| (0x20..=0x7e).contains(&b)));
            }
        }
        Err(error) => {
            assert_eq!(error.reason(), Reason::BadCallback, "{error:?}");
            assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidRequest);
        }
    }
}

/// `upstream_id_token_claims`: parses arbitrary bytes as ID token claims.
/// Accepted claims have a printable `sub` of at most 255 bytes and at least
/// one audience, and their JSON written back out parses to the same claims;
/// refused claims are a bad ID token.
pub fn upstream_id_token_claims(data: &[u8]) {
    match IdTokenClaims::parse(data) {
        Ok(claims) => {
            assert!(!claims.aud.is_empty());
            assert!(claims.sub.as_str().len() <= 255);
            let again = serde_json::to_vec(&claims.all).expect("a map always serializes");
            assert_eq!(IdTokenClaims::parse(&again).as_ref(), Ok(&claims));
        }
        Err(error) => assert_eq!(error.reason(), Reason::BadIdToken, "{error:?}"),
    }
}

/// The statuses `upstream_token_response` reads a body under (chosen by the
/// input's first byte): success, a refusal, a gateway failure, and a success
/// code other than 200.
const TOKEN_STATUSES: [u16; 4] = [200, 400, 502, 201];

/// `upstream_token_response`: the identity provider's token response (RFC
/// 6749 sections 5.1 and 5.2, OIDC Core 1.0 section 3.1.3.3). The first byte
/// picks the provider kind (`oidc` or `oauth2`) and the HTTP status; the rest
/// is the body. The answer is checked against a model of the rules written
/// over the strict JSON reader: unreadable JSON is `TokenResponseJson` under
/// 200 and `TokenStatus` otherwise; an `error` member is `TokenRefused`
/// whatever the status; a status other than 200 is `TokenStatus`; then
/// `access_token` (1 to 16 KiB of printable ASCII), `token_type` `Bearer` in
/// any case, and for `oidc` an `id_token` like the access token. An accepted
/// response keeps exactly the body's tokens, and its `Debug` shows neither.
/// Every refusal is a provider failure.
pub fn upstream_token_response(data: &[u8]) {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let kind = if choice & 1 == 0 {
        ProviderKind::Oidc
    } else {
        ProviderKind::OAuth2
    };
    let status = TOKEN_STATUSES[usize::from(choice >> 1) % TOKEN_STATUSES.len()];
    let result = TokenResponse::parse(kind, status, body);
    let doc = match parse_object(body, crate::MAX_TOKEN_RESPONSE_LEN) {
        Ok(doc) => doc,
        Err(json) => {
            let expected = if status == 200 {
                UpstreamError::TokenResponseJson(json)
            } else {
                UpstreamError::TokenStatus(status)
            };
            assert_eq!(result.err(), Some(expected));
            return;
        }
    };
    if doc.contains_key("error") {
        assert!(
            matches!(result, Err(UpstreamError::TokenRefused { .. })),
            "{result:?}"
        );
        return;
    }
    if status != 200 {
        assert_eq!(result.err(), Some(UpstreamError::TokenStatus(status)));
        return;
    }
    let token = |name: &str| match doc.get(name) {
        None => Ok(None),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 16 * 1024
                && s.bytes().all(|b| (0x20..=0x7e).contains(&b)) =>
        {
            Ok(Some(s.as_str()))
        }
        Some(_) => Err(()),
    };
    let bearer =
        matches!(doc.get("token_type"), Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer"));
    let access = token("access_token");
    let id = token("id_token");
    let accepted = matches!(access, Ok(Some(_)))
        && bearer
        && id.is_ok()
        && (kind == ProviderKind::OAuth2 || matches!(id, Ok(Some(_))));
    match result {
        Ok(response) => {
            assert!(accepted, "accepted against the rules: {body:?}");
            assert_eq!(Ok(Some(response.access_token().expose_secret())), access);
            assert_eq!(Ok(response.id_token().map(|t| t.expose_secret())), id);
            assert_eq!(
                format!("{response:?}"),
                format!(
                    "TokenResponse {{ id_token: {}, .. }}",
                    response.id_token().is_some()
                )
            );
        }
        Err(error) => {
            assert!(!accepted, "refused a valid response: {error:?}");
            assert_eq!(error.reason(), Reason::ProviderFailed, "{error:?}");
        }
    }
}

/// `upstream_userinfo`: an `oauth2` provider's userinfo response (RFC 6750
/// section 2.1 for the request; the body is the provider's own JSON). The
/// first byte picks the provider: a GitHub-like one whose subject is the
/// member `id`, or one whose subject is `sub`. The rest is the body. An
/// accepted body has the subject member as a string, or an integer written
/// in decimal, that is a valid subject; the identity's name holds no control
/// character, is trimmed and at most 128 characters; its email has an `@`
/// with something on both sides and no whitespace; a verified email is a
/// present one; and the identity stored and restored is the same value with
/// the same local subject. A refused body is unreadable strict JSON or lacks
/// a usable subject; every refusal is a provider failure.
pub fn upstream_userinfo(data: &[u8]) {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let provider = &userinfo_providers()[usize::from(choice & 1)];
    let field = provider.subject_field().unwrap_or("sub");
    let result = UpstreamIdentity::from_userinfo(provider, body);
    let doc = parse_object(body, crate::MAX_USERINFO_LEN);
    let subject = doc.as_ref().ok().and_then(|doc| match doc.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        _ => None,
    });
    match result {
        Ok(identity) => {
            assert_eq!(Some(identity.subject().as_str()), subject.as_deref());
            assert_eq!(identity.provider(), provider.id());
            if let Some(name) = identity.name() {
                assert!(!name.is_empty() && name.trim() == name);
                assert!(!name.chars().any(char::is_control));
                assert!(name.chars().count() <= 128);
            }
            if let Some(email) = identity.email() {
                assert!(email.len() <= 254);
                assert!(!email.chars().any(|c| c.is_control() || c.is_whitespace()));
                let (local, domain) = email.rsplit_once('@').expect("an email has an @");
                assert!(!local.is_empty() && !domain.is_empty());
            }
            assert!(!identity.email_verified() || identity.email().is_some());
            let restored = UpstreamIdentity::restore(
                identity.provider().clone(),
                identity.subject().clone(),
                identity.name().map(str::to_owned),
                identity.email().map(str::to_owned),
                identity.email_verified(),
            );
            assert_eq!(restored, identity);
            assert_eq!(restored.local_subject(), identity.local_subject());
        }
        Err(error) => {
            assert_eq!(error.reason(), Reason::ProviderFailed, "{error:?}");
            match doc {
                Err(json) => assert_eq!(error, UpstreamError::UserinfoJson(json)),
                Ok(_) => assert!(matches!(
                    error,
                    UpstreamError::UserinfoSubjectMissing | UpstreamError::UserinfoSubjectInvalid
                )),
            }
        }
    }
}

/// The two providers of `upstream_userinfo`: subject at `id`, and at `sub`.
fn userinfo_providers() -> &'static [Provider; 2] {
    static PROVIDERS: OnceLock<[Provider; 2]> = OnceLock::new();
    PROVIDERS.get_or_init(|| {
        let provider = |id: &str, field: &str| {
            let config: ProviderConfig = serde_json::from_value(serde_json::json!({
                "id": id,
                "kind": "oauth2",
                "display_name": "Fuzz",
                "client_id": "latchkey",
                "client_secret": "fuzz-secret",
                "authorization_endpoint": "https://idp.example.com/authorize",
                "token_endpoint": "https://idp.example.com/token",
                "userinfo_endpoint": "https://idp.example.com/user",
                "subject_field": field,
            }))
            .expect("a valid provider configuration");
            config.validate().expect("a valid provider")
        };
        [provider("by-id", "id"), provider("by-sub", "sub")]
    })
}

#[cfg(test)]
mod tests {
    use latchkey_types::fuzzing::replay;

    #[test]
    fn replays_upstream_callback_corpus() {
        assert!(replay("upstream_callback", super::upstream_callback) >= 3);
    }

    #[test]
    fn replays_upstream_id_token_claims_corpus() {
        assert!(replay("upstream_id_token_claims", super::upstream_id_token_claims) >= 3);
    }

    #[test]
    fn replays_upstream_token_response_corpus() {
        assert!(replay("upstream_token_response", super::upstream_token_response) >= 4);
    }

    #[test]
    fn replays_upstream_userinfo_corpus() {
        assert!(replay("upstream_userinfo", super::upstream_userinfo) >= 4);
    }
}
