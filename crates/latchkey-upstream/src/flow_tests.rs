//! The whole OIDC sign-in through the public API, as the server will call it,
//! with the refusals issue 10 lists: each one ends in an error and yields no
//! identity (so the caller has nothing to store).

use latchkey_jose::{Algorithm, JoseHeader, Jwks, SigningKey};
use latchkey_types::UnixTime;
use serde_json::{Value, json};

use crate::testing::{ISSUER, T0, callback_url, oidc_endpoints, provider_with, rng, secret};
use crate::{
    PendingUpstream, Provider, Reason, TokenResponse, UpstreamError, UpstreamIdentity,
    UpstreamPolicy, begin, complete_callback, validate_id_token,
};

struct SigningProvider {
    key: SigningKey,
    jwks: Jwks,
}

fn op() -> SigningProvider {
    let key = SigningKey::generate(Algorithm::Es256, "op-1".to_owned(), &mut rng(40));
    let jwks = Jwks::new(vec![key.public_jwk()]).unwrap();
    SigningProvider { key, jwks }
}

/// One browser's start: the pending request (as its cookie would hold it)
/// and the `state` and `nonce` the provider saw.
fn start(provider: &Provider, seed: u64) -> (String, String, String) {
    let (redirect, pending) = begin(
        provider,
        &oidc_endpoints(),
        &callback_url(),
        T0,
        &mut rng(seed),
    );
    let (_, query) = redirect.as_str().split_once('?').unwrap();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .into_owned()
    };
    (
        pending.encode().expose_secret().to_owned(),
        param("state"),
        param("nonce"),
    )
}

fn good_claims(nonce: &str) -> Value {
    json!({
        "iss": ISSUER, "sub": "alice-1", "aud": "latchkey",
        "exp": T0.as_secs() + 300, "iat": T0.as_secs() + 20, "nonce": nonce,
        "email": "alice@example.com", "email_verified": true, "name": "Alice",
    })
}

/// Runs the flow from the cookie and the callback query to an admitted identity.
fn finish(
    provider: &Provider,
    cookie: &str,
    callback_query: &str,
    id_token: &str,
    jwks: &Jwks,
) -> Result<UpstreamIdentity, UpstreamError> {
    let now = UnixTime::from_secs(T0.as_secs() + 30);
    let policy = UpstreamPolicy::default();
    let endpoints = oidc_endpoints();
    let pending = PendingUpstream::decode(cookie)?;
    let redemption = complete_callback(
        provider,
        &endpoints,
        pending,
        &callback_url(),
        callback_query,
        &secret(),
        now,
        &policy,
    )?;
    let body = json!({"access_token": "at", "token_type": "Bearer", "id_token": id_token});
    let tokens = TokenResponse::parse(provider.kind(), 200, body.to_string().as_bytes())?;
    let person = validate_id_token(
        provider,
        &endpoints,
        jwks,
        &tokens,
        &redemption.expected,
        now,
        &policy,
    )?;
    provider.admit(&person)?;
    Ok(person)
}

fn callback_query(state: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", "c0de")
        .append_pair("state", state)
        .append_pair("iss", ISSUER)
        .finish()
}

fn sign(op: &SigningProvider, claims: &Value) -> String {
    op.key.sign_compact(
        &JoseHeader::new(Algorithm::Es256),
        claims.to_string().as_bytes(),
    )
}

#[test]
fn issue_10_a_sign_in_goes_through_and_each_listed_refusal_stops_it() {
    let provider = provider_with("allowed_email_domains = [\"example.com\"]");
    let op = op();
    let (cookie, state, nonce) = start(&provider, 1);
    let query = callback_query(&state);

    let person = finish(
        &provider,
        &cookie,
        &query,
        &sign(&op, &good_claims(&nonce)),
        &op.jwks,
    )
    .unwrap();
    assert_eq!(person.local_subject().as_str(), "corp:alice-1");
    assert_eq!(person.name(), Some("Alice"));

    let refused = |claims: Value| {
        finish(&provider, &cookie, &query, &sign(&op, &claims), &op.jwks).unwrap_err()
    };
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut claims = good_claims(&nonce);
        f(&mut claims);
        claims
    };

    // A tampered ID token: the payload swapped under the same signature.
    let token = sign(&op, &good_claims(&nonce));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(
        edit(&|c| c["sub"] = json!("mallory"))
            .to_string()
            .as_bytes(),
    );
    let tampered = finish(&provider, &cookie, &query, &parts.join("."), &op.jwks).unwrap_err();
    assert_eq!(tampered, UpstreamError::IdTokenBadSignature);

    // A wrong nonce: the one another browser's request carried.
    let (_, _, other_nonce) = start(&provider, 2);
    assert_eq!(
        refused(good_claims(&other_nonce)),
        UpstreamError::IdTokenNonceMismatch
    );
    // A wrong audience, another issuer, an expired token.
    assert_eq!(
        refused(edit(&|c| c["aud"] = json!("another-client"))),
        UpstreamError::IdTokenAudienceMismatch
    );
    assert_eq!(
        refused(edit(&|c| c["iss"] = json!("https://other.example.com"))),
        UpstreamError::IdTokenIssuerMismatch
    );
    assert_eq!(
        refused(edit(&|c| c["exp"] = json!(T0.as_secs() - 120))),
        UpstreamError::IdTokenExpired
    );
    // A disallowed email domain.
    assert_eq!(
        refused(edit(&|c| c["email"] = json!("alice@evil-example.com"))),
        UpstreamError::EmailDomainNotAllowed
    );
    // A callback in another browser session: that browser's cookie, this state.
    let (other_cookie, _, _) = start(&provider, 3);
    let crossed = finish(
        &provider,
        &other_cookie,
        &query,
        &sign(&op, &good_claims(&nonce)),
        &op.jwks,
    )
    .unwrap_err();
    assert_eq!(crossed, UpstreamError::StateMismatch);
    // A replayed callback: the browser has started again, so its cookie holds
    // a newer request; the old callback's state is not that request's.
    let (newer_cookie, _, _) = start(&provider, 4);
    let replayed = finish(
        &provider,
        &newer_cookie,
        &query,
        &sign(&op, &good_claims(&nonce)),
        &op.jwks,
    )
    .unwrap_err();
    assert_eq!(replayed, UpstreamError::StateMismatch);

    // Every refusal has a reason for the page that names the provider.
    for (error, reason) in [
        (tampered, Reason::BadIdToken),
        (crossed, Reason::StateMismatch),
        (UpstreamError::Expired, Reason::Expired),
        (UpstreamError::Denied, Reason::Denied),
        (UpstreamError::EmailDomainNotAllowed, Reason::NotAllowed),
    ] {
        assert_eq!(error.reason(), reason);
        let message = error.page_message(provider.display_name());
        assert!(
            message.starts_with("Sign-in with Corp SSO failed: "),
            "{message}"
        );
    }
}

#[test]
fn errors_display_in_one_lowercase_line_without_secrets() {
    let errors = [
        UpstreamError::ProviderIdInvalid,
        UpstreamError::ClientSecretMissing,
        UpstreamError::DiscoveryMemberMissing("jwks_uri"),
        UpstreamError::StateMismatch,
        UpstreamError::IdTokenUnknownKey,
        UpstreamError::EmailDomainNotAllowed,
    ];
    for error in errors {
        let line = error.to_string();
        assert!(!line.contains('\n') && !line.ends_with('.'), "{line}");
        assert_eq!(
            line.chars().next(),
            line.chars().next().map(|c| c.to_ascii_lowercase())
        );
    }
    assert_eq!(
        UpstreamError::DiscoveryMemberMissing("jwks_uri").to_string(),
        "discovery document has no jwks_uri"
    );
}

#[test]
fn wire_codes_are_chosen_by_reason() {
    use latchkey_types::ErrorCode;
    assert_eq!(
        ErrorCode::from(&UpstreamError::Denied),
        ErrorCode::AccessDenied
    );
    assert_eq!(
        ErrorCode::from(&UpstreamError::IssuerInvalid),
        ErrorCode::ServerError
    );
    assert_eq!(
        ErrorCode::from(&UpstreamError::StateMismatch),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        ErrorCode::from(&UpstreamError::ProviderError {
            code: crate::ProviderErrorCode::TemporarilyUnavailable,
            description: None
        }),
        ErrorCode::TemporarilyUnavailable
    );
    assert_eq!(
        ErrorCode::from(&UpstreamError::TokenStatus(500)),
        ErrorCode::ServerError
    );
}
