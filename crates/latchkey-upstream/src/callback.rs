//! The authorization response at `/latchkey/callback/{id}` (RFC 6749 section
//! 4.1.2, OIDC Core 1.0 section 3.1.2.5 to 3.1.2.7, RFC 9207) and the token
//! request it leads to (RFC 6749 section 4.1.3).

use core::fmt;
use std::collections::BTreeSet;

use base64ct::{Base64, Encoding};
use latchkey_types::{SecretString, TokenDigest, UnixTime};

use crate::{
    CallbackUrl, ClientAuthMethod, ClientSecret, Endpoints, PendingUpstream, Provider,
    ProviderErrorCode, ProviderId, UpstreamError, UpstreamPolicy,
};

/// The longest callback query accepted, in bytes.
pub const MAX_CALLBACK_QUERY_LEN: usize = 8 * 1024;
/// The longest `code`, `state` or `iss` value accepted, in bytes.
const MAX_VALUE_LEN: usize = 2048;
/// The longest `error_description` kept (for the log), in bytes.
const MAX_DESCRIPTION_LEN: usize = 256;

/// The parameters of an authorization response, parsed but not yet checked
/// against a pending request ([`complete_callback`] does that).
pub struct CallbackParams {
    code: Option<SecretString>,
    state: Option<SecretString>,
    iss: Option<String>,
    error: Option<(ProviderErrorCode, Option<String>)>,
}

impl CallbackParams {
    /// Parses the query string of the callback (without the `?`).
    ///
    /// Refuses a query over [`MAX_CALLBACK_QUERY_LEN`] bytes, any parameter
    /// sent twice (RFC 6749 section 3.1: "Request and response parameters MUST
    /// NOT be included more than once"; unknown parameters too, so no reader
    /// downstream can see another copy), and a `code`, `state` or `iss` that is
    /// empty, not VSCHAR (RFC 6749 appendix A.11 and A.5) or longer than 2048
    /// bytes. An `error_description` outside its grammar (RFC 6749 section
    /// 4.1.2.1) or longer than 256 bytes is dropped, not refused.
    pub fn parse(query: &str) -> Result<Self, UpstreamError> {
        if query.len() > MAX_CALLBACK_QUERY_LEN {
            return Err(UpstreamError::CallbackTooLarge);
        }
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut params = Self {
            code: None,
            state: None,
            iss: None,
            error: None,
        };
        let mut error = None;
        let mut description = None;
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if !seen.insert(name.clone().into_owned()) {
                return Err(UpstreamError::CallbackDuplicateParameter);
            }
            match name.as_ref() {
                "code" => params.code = Some(SecretString::new(vschar(&value, "code")?)),
                "state" => params.state = Some(SecretString::new(vschar(&value, "state")?)),
                "iss" => params.iss = Some(vschar(&value, "iss")?),
                "error" => error = Some(ProviderErrorCode::parse(&vschar(&value, "error")?)),
                "error_description" => {
                    description = Some(value.into_owned()).filter(|d| {
                        d.len() <= MAX_DESCRIPTION_LEN
                            && d.bytes()
                                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5b | 0x5d..=0x7e))
                    });
                }
                _ => {}
            }
        }
        params.error = error.map(|code| (code, description));
        Ok(params)
    }

    /// The `iss` parameter, if sent (RFC 9207 section 2).
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// The `error` code, if sent.
    pub fn error(&self) -> Option<ProviderErrorCode> {
        self.error.as_ref().map(|(code, _)| *code)
    }

    /// Whether a `code` was sent.
    pub fn has_code(&self) -> bool {
        self.code.is_some()
    }
}

impl fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackParams")
            .field("iss", &self.iss)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Checks an authorization response against the pending request it answers,
/// and on success builds the token request that redeems the code.
///
/// In this order:
/// 1. The query parses ([`CallbackParams::parse`]).
/// 2. `provider` (the one named by the callback path) is the pending
///    request's ([`UpstreamError::PendingProviderMismatch`]).
/// 3. The pending request is at most `policy.pending_max_age` old
///    ([`UpstreamError::Expired`]) and not from the future beyond the leeway.
/// 4. `state` is present and hashes to the pending digest, compared in
///    constant time (RFC 6749 section 10.12, RFC 9700 section 4.7.1):
///    [`UpstreamError::StateMissing`], [`UpstreamError::StateMismatch`]. A
///    replayed callback fails here: the pending request is consumed by the
///    first one (the caller deletes its cookie or row).
/// 5. RFC 9207 section 2.4: when the provider advertises
///    `authorization_response_iss_parameter_supported`, `iss` must be present;
///    whenever present, it must equal the provider's issuer byte for byte
///    ("simple string comparison", RFC 3986 section 6.2.1):
///    [`UpstreamError::IssuerParameterMismatch`]. An `oauth2` provider's
///    issuer is its optional `issuer` setting (no discovery); without one, a
///    sent `iss` cannot be compared and is refused with
///    [`UpstreamError::IssuerParameterUnconfigured`], which tells the
///    operator to set it (section 2.4: without metadata, clients "MUST use
///    deployment-specific ways (for example, a static configuration)" to
///    decide whether `iss` is expected, and "SHOULD discard" responses with
///    `iss` from servers that do not indicate support). Checked for error
///    responses too.
/// 6. `error=access_denied` is [`UpstreamError::Denied`]; any other `error` is
///    [`UpstreamError::ProviderError`] (RFC 6749 section 4.1.2.1).
/// 7. `code` is present ([`UpstreamError::CodeMissing`]).
///
/// The pending request is consumed: its verifier goes into the token request.
#[expect(
    clippy::too_many_arguments,
    reason = "each is one independent input the check needs; a struct would only rename them"
)]
pub fn complete_callback(
    provider: &Provider,
    endpoints: &Endpoints,
    pending: PendingUpstream,
    callback: &CallbackUrl,
    query: &str,
    secret: &ClientSecret,
    now: UnixTime,
    policy: &UpstreamPolicy,
) -> Result<Redemption, UpstreamError> {
    let params = CallbackParams::parse(query)?;
    if pending.provider != *provider.id() {
        return Err(UpstreamError::PendingProviderMismatch);
    }
    if pending.created_at > now.saturating_add(policy.leeway) {
        return Err(UpstreamError::PendingFromTheFuture);
    }
    if now.duration_since(pending.created_at) > Some(policy.pending_max_age) {
        return Err(UpstreamError::Expired);
    }
    let state = params.state.as_ref().ok_or(UpstreamError::StateMissing)?;
    if state.digest() != pending.state {
        return Err(UpstreamError::StateMismatch);
    }
    match (
        &params.iss,
        endpoints.iss_parameter_supported(),
        endpoints.issuer(),
    ) {
        (None, true, _) => return Err(UpstreamError::IssuerParameterMissing),
        (None, false, _) => {}
        (Some(_), _, None) => return Err(UpstreamError::IssuerParameterUnconfigured),
        (Some(iss), _, Some(issuer)) => {
            if iss.as_bytes() != issuer.as_bytes() {
                return Err(UpstreamError::IssuerParameterMismatch);
            }
        }
    }
    if let Some((code, description)) = params.error {
        return Err(match code {
            ProviderErrorCode::AccessDenied => UpstreamError::Denied,
            code => UpstreamError::ProviderError { code, description },
        });
    }
    let code = params.code.ok_or(UpstreamError::CodeMissing)?;
    let token_request = TokenRequest::new(provider, endpoints, callback, code, &pending, secret);
    Ok(Redemption {
        token_request,
        expected: Expected {
            provider: pending.provider,
            nonce: pending.nonce,
        },
    })
}

/// What a successful callback yields: the token request to send, and what the
/// ID token must then say.
#[derive(Debug)]
pub struct Redemption {
    /// The request that redeems the code.
    pub token_request: TokenRequest,
    /// What [`crate::validate_id_token`] checks the ID token against.
    pub expected: Expected,
}

/// What the ID token must carry: the provider the request went to and the
/// digest of the `nonce` sent (OIDC Core 1.0 section 3.1.3.7 step 11).
#[derive(Debug, Clone)]
pub struct Expected {
    pub(crate) provider: ProviderId,
    pub(crate) nonce: Option<TokenDigest>,
}

impl Expected {
    /// The provider the request went to.
    pub fn provider(&self) -> &ProviderId {
        &self.provider
    }
}

/// A token request (RFC 6749 section 4.1.3, RFC 7636 section 4.5): POST
/// [`TokenRequest::body`] as `application/x-www-form-urlencoded` to
/// [`TokenRequest::endpoint`], with [`TokenRequest::authorization`] as the
/// `Authorization` header when set, and `Accept: application/json`.
///
/// The body holds the code and the verifier, and the header the client
/// secret, so both are [`SecretString`]s and `Debug` shows only the endpoint.
pub struct TokenRequest {
    endpoint: String,
    body: SecretString,
    authorization: Option<SecretString>,
}

impl TokenRequest {
    fn new(
        provider: &Provider,
        endpoints: &Endpoints,
        callback: &CallbackUrl,
        code: SecretString,
        pending: &PendingUpstream,
        secret: &ClientSecret,
    ) -> Self {
        let mut form = url::form_urlencoded::Serializer::new(String::with_capacity(256));
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code.expose_secret())
            .append_pair("redirect_uri", callback.as_str())
            .append_pair("code_verifier", pending.verifier.expose_secret());
        let authorization = match endpoints.client_auth() {
            ClientAuthMethod::ClientSecretBasic => Some(basic_authorization(
                provider.client_id().as_str(),
                secret.expose_secret(),
            )),
            ClientAuthMethod::ClientSecretPost => {
                form.append_pair("client_id", provider.client_id().as_str())
                    .append_pair("client_secret", secret.expose_secret());
                None
            }
        };
        Self {
            endpoint: endpoints.token_endpoint().to_owned(),
            body: SecretString::new(form.finish()),
            authorization,
        }
    }

    /// The token endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The form body: `grant_type`, `code`, `redirect_uri`, `code_verifier`,
    /// and with `client_secret_post` also `client_id` and `client_secret`.
    pub fn body(&self) -> &SecretString {
        &self.body
    }

    /// The `Authorization` header value for `client_secret_basic`.
    pub fn authorization(&self) -> Option<&SecretString> {
        self.authorization.as_ref()
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`: RFC 6749 section
/// 2.3.1 has the client id and secret "encoded using the
/// application/x-www-form-urlencoded encoding algorithm" before they become
/// the HTTP Basic user name and password (RFC 7617 section 2).
pub fn basic_authorization(client_id: &str, client_secret: &str) -> SecretString {
    let mut pair = String::with_capacity(client_id.len() + client_secret.len() + 8);
    pair.extend(url::form_urlencoded::byte_serialize(client_id.as_bytes()));
    pair.push(':');
    pair.extend(url::form_urlencoded::byte_serialize(
        client_secret.as_bytes(),
    ));
    let pair = SecretString::new(pair);
    SecretString::new(format!(
        "Basic {}",
        Base64::encode_string(pair.expose_secret().as_bytes())
    ))
}

fn vschar(value: &str, name: &'static str) -> Result<String, UpstreamError> {
    if value.is_empty()
        || value.len() > MAX_VALUE_LEN
        || !value.bytes().all(|b| (0x20..=0x7e).contains(&b))
    {
        return Err(UpstreamError::CallbackParameterInvalid(name));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ISSUER, callback_url, oidc_endpoints, oidc_provider, rng, secret};
    use crate::{Endpoints, begin};
    use std::time::Duration;

    const T0: u64 = 1_700_000_000;

    /// Begins a sign-in at T0 and returns the pending request and the `state` sent.
    fn started(endpoints: &Endpoints) -> (PendingUpstream, String) {
        let (redirect, pending) = begin(
            &oidc_provider(),
            endpoints,
            &callback_url(),
            UnixTime::from_secs(T0),
            &mut rng(9),
        );
        let (_, query) = redirect.as_str().split_once('?').unwrap();
        let state = url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == "state")
            .unwrap()
            .1
            .into_owned();
        (pending, state)
    }

    fn complete(
        endpoints: &Endpoints,
        pending: PendingUpstream,
        query: &str,
        now: u64,
    ) -> Result<Redemption, UpstreamError> {
        complete_callback(
            &oidc_provider(),
            endpoints,
            pending,
            &callback_url(),
            query,
            &secret(),
            UnixTime::from_secs(now),
            &UpstreamPolicy::default(),
        )
    }

    fn encode(pairs: &[(&str, &str)]) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    }

    #[test]
    fn rfc_6749_section_4_1_2_a_matching_callback_yields_the_token_request() {
        let endpoints = oidc_endpoints();
        let (pending, state) = started(&endpoints);
        let verifier = pending.verifier.expose_secret().to_owned();
        let query = encode(&[("code", "c0de"), ("state", &state), ("iss", ISSUER)]);
        let redemption = complete(&endpoints, pending, &query, T0 + 30).unwrap();
        let request = redemption.token_request;
        assert_eq!(request.endpoint(), "https://login.example.com/token");
        let body: Vec<(String, String)> =
            url::form_urlencoded::parse(request.body().expose_secret().as_bytes())
                .into_owned()
                .collect();
        let expect = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            body,
            expect(&[
                ("grant_type", "authorization_code"),
                ("code", "c0de"),
                (
                    "redirect_uri",
                    "https://auth.example.com/latchkey/callback/corp"
                ),
                ("code_verifier", &verifier),
            ])
        );
        assert_eq!(
            request.authorization().unwrap().expose_secret(),
            basic_authorization("latchkey", "s3cret").expose_secret()
        );
        assert_eq!(
            format!("{request:?}"),
            "TokenRequest { endpoint: \"https://login.example.com/token\", .. }"
        );
        assert_eq!(redemption.expected.provider().as_str(), "corp");
    }

    #[test]
    fn rfc_6749_section_2_3_1_basic_credentials_are_form_urlencoded_first() {
        // "a b:c" and "p%ss+w/rd" → "a+b%3Ac" and "p%25ss%2Bw%2Frd".
        let header = basic_authorization("a b:c", "p%ss+w/rd");
        assert_eq!(
            header.expose_secret(),
            format!(
                "Basic {}",
                Base64::encode_string(b"a+b%3Ac:p%25ss%2Bw%2Frd")
            )
        );
        assert_eq!(
            basic_authorization("latchkey", "s3cret").expose_secret(),
            "Basic bGF0Y2hrZXk6czNjcmV0"
        );
    }

    #[test]
    fn rfc_6749_section_2_3_1_client_secret_post_puts_credentials_in_the_body() {
        let mut endpoints = oidc_endpoints();
        endpoints.set_client_auth(ClientAuthMethod::ClientSecretPost);
        let (pending, state) = started(&endpoints);
        let query = encode(&[("code", "c0de"), ("state", &state), ("iss", ISSUER)]);
        let request = complete(&endpoints, pending, &query, T0)
            .unwrap()
            .token_request;
        assert!(request.authorization().is_none());
        let body = request.body().expose_secret();
        assert!(
            body.ends_with("&client_id=latchkey&client_secret=s3cret"),
            "{body}"
        );
    }

    #[test]
    fn rfc_6749_section_10_12_state_mismatch_is_refused() {
        let endpoints = oidc_endpoints();
        let (pending, state) = started(&endpoints);
        let mut other = state.clone();
        other.replace_range(..1, if state.starts_with('A') { "B" } else { "A" });
        let query = encode(&[("code", "c0de"), ("state", &other), ("iss", ISSUER)]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::StateMismatch
        );
        let (pending, _) = started(&endpoints);
        let query = encode(&[("code", "c0de"), ("iss", ISSUER)]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::StateMissing
        );
    }

    #[test]
    fn rfc_9700_section_4_7_a_callback_from_another_browser_session_is_refused() {
        // Two browsers start; the callback of one arrives with the other's
        // pending request (its cookie): the states differ.
        let endpoints = oidc_endpoints();
        let (mine, _) = started(&endpoints);
        let (theirs, _) = begin(
            &oidc_provider(),
            &endpoints,
            &callback_url(),
            UnixTime::from_secs(T0),
            &mut rng(10),
        );
        let (_, query) = theirs.as_str().split_once('?').unwrap();
        let their_state = url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == "state")
            .unwrap()
            .1
            .into_owned();
        let query = encode(&[("code", "c0de"), ("state", &their_state), ("iss", ISSUER)]);
        assert_eq!(
            complete(&endpoints, mine, &query, T0).unwrap_err(),
            UpstreamError::StateMismatch
        );
    }

    #[test]
    fn a_pending_request_older_than_the_maximum_age_is_expired() {
        let endpoints = oidc_endpoints();
        let query = |state: &str| encode(&[("code", "c0de"), ("state", state), ("iss", ISSUER)]);
        let max = UpstreamPolicy::default().pending_max_age.as_secs();
        let (pending, state) = started(&endpoints);
        assert!(complete(&endpoints, pending, &query(&state), T0 + max).is_ok());
        let (pending, state) = started(&endpoints);
        assert_eq!(
            complete(&endpoints, pending, &query(&state), T0 + max + 1).unwrap_err(),
            UpstreamError::Expired
        );
        let (pending, state) = started(&endpoints);
        assert_eq!(
            complete(&endpoints, pending, &query(&state), T0 - 61).unwrap_err(),
            UpstreamError::PendingFromTheFuture
        );
        let (pending, state) = started(&endpoints);
        let policy = UpstreamPolicy {
            pending_max_age: Duration::from_secs(5),
            ..UpstreamPolicy::default()
        };
        assert_eq!(
            complete_callback(
                &oidc_provider(),
                &endpoints,
                pending,
                &callback_url(),
                &query(&state),
                &secret(),
                UnixTime::from_secs(T0 + 6),
                &policy,
            )
            .unwrap_err(),
            UpstreamError::Expired
        );
    }

    #[test]
    fn rfc_9207_section_2_4_iss_is_required_when_advertised_and_checked_when_sent() {
        let endpoints = oidc_endpoints();
        assert!(endpoints.iss_parameter_supported());
        let (pending, state) = started(&endpoints);
        assert_eq!(
            complete(
                &endpoints,
                pending,
                &encode(&[("code", "c"), ("state", &state)]),
                T0
            )
            .unwrap_err(),
            UpstreamError::IssuerParameterMissing
        );
        let (pending, state) = started(&endpoints);
        let query = encode(&[
            ("code", "c"),
            ("state", &state),
            ("iss", "https://evil.example.com"),
        ]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::IssuerParameterMismatch
        );

        let mut quiet = oidc_endpoints();
        quiet.set_iss_parameter_supported(false);
        let (pending, state) = started(&quiet);
        assert!(
            complete(
                &quiet,
                pending,
                &encode(&[("code", "c"), ("state", &state)]),
                T0
            )
            .is_ok()
        );
        let (pending, state) = started(&quiet);
        let query = encode(&[
            ("code", "c"),
            ("state", &state),
            ("iss", "https://evil.example.com"),
        ]);
        assert_eq!(
            complete(&quiet, pending, &query, T0).unwrap_err(),
            UpstreamError::IssuerParameterMismatch
        );
        // Error responses carry iss too (RFC 9207 section 2).
        let (pending, state) = started(&endpoints);
        let query = encode(&[
            ("error", "access_denied"),
            ("state", &state),
            ("iss", "https://evil.example.com"),
        ]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::IssuerParameterMismatch
        );
    }

    /// An `oauth2` provider from `oauth2_provider()`'s settings, with `extra`.
    fn oauth2_with(extra: &str) -> crate::Provider {
        let config: crate::ProviderConfig = toml::from_str(&format!(
            r#"
            id = "github"
            kind = "oauth2"
            display_name = "GitHub"
            client_id = "Iv1.abc"
            client_secret = "gh-secret"
            authorization_endpoint = "https://github.com/login/oauth/authorize"
            token_endpoint = "https://github.com/login/oauth/access_token"
            userinfo_endpoint = "https://api.github.com/user"
            {extra}
            "#
        ))
        .unwrap();
        config.validate().unwrap()
    }

    /// Begins at `provider` and answers its callback with `pairs` plus the state.
    fn oauth2_callback(
        provider: &crate::Provider,
        pairs: &[(&str, &str)],
    ) -> Result<Redemption, UpstreamError> {
        let endpoints = Endpoints::from_config(provider).unwrap();
        let (redirect, pending) = begin(
            provider,
            &endpoints,
            &callback_url(),
            UnixTime::from_secs(T0),
            &mut rng(12),
        );
        let (_, query) = redirect.as_str().split_once('?').unwrap();
        let state = url::form_urlencoded::parse(query.as_bytes())
            .find(|(n, _)| n == "state")
            .unwrap()
            .1
            .into_owned();
        let mut all = vec![("state", state.as_str())];
        all.extend_from_slice(pairs);
        complete_callback(
            provider,
            &endpoints,
            pending,
            &callback_url(),
            &encode(&all),
            &secret(),
            UnixTime::from_secs(T0),
            &UpstreamPolicy::default(),
        )
    }

    #[test]
    fn rfc_9207_section_2_4_an_oauth2_issuer_is_compared_byte_for_byte_when_configured() {
        let provider = oauth2_with(r#"issuer = "https://github.com/login/oauth""#);
        assert_eq!(provider.issuer(), Some("https://github.com/login/oauth"));
        // Not advertised (no discovery for oauth2): an absent iss is accepted.
        assert!(oauth2_callback(&provider, &[("code", "c")]).is_ok());
        assert!(
            oauth2_callback(
                &provider,
                &[("code", "c"), ("iss", "https://github.com/login/oauth")]
            )
            .is_ok()
        );
        for other in [
            "https://github.com/login/oauth/",
            "https://GitHub.com/login/oauth",
            "https://github.com/login/OAuth",
            "https://evil.example.com",
        ] {
            assert_eq!(
                oauth2_callback(&provider, &[("code", "c"), ("iss", other)]).unwrap_err(),
                UpstreamError::IssuerParameterMismatch,
                "{other}"
            );
        }
    }

    #[test]
    fn rfc_9207_section_2_4_an_oauth2_provider_sending_iss_without_a_configured_issuer_is_refused_with_advice()
     {
        let provider = oauth2_with("");
        assert_eq!(provider.issuer(), None);
        assert!(oauth2_callback(&provider, &[("code", "c")]).is_ok());
        let error = oauth2_callback(
            &provider,
            &[("code", "c"), ("iss", "https://github.com/login/oauth")],
        )
        .unwrap_err();
        assert_eq!(error, UpstreamError::IssuerParameterUnconfigured);
        assert!(error.to_string().contains("set issuer"), "{error}");
        assert_eq!(error.reason(), crate::Reason::Misconfigured);
        // Error responses too: their origin cannot be trusted either.
        assert_eq!(
            oauth2_callback(
                &provider,
                &[("error", "access_denied"), ("iss", "https://x.example")]
            )
            .unwrap_err(),
            UpstreamError::IssuerParameterUnconfigured
        );
    }

    #[test]
    fn an_oauth2_issuer_is_validated_like_an_oidc_one() {
        for bad in [
            "http://github.com",
            "https://github.com/?q=1",
            "https://github.com/#f",
            "not a url",
        ] {
            let config: crate::ProviderConfig = toml::from_str(&format!(
                r#"
                id = "github"
                kind = "oauth2"
                display_name = "GitHub"
                client_id = "Iv1.abc"
                issuer = "{bad}"
                authorization_endpoint = "https://github.com/login/oauth/authorize"
                token_endpoint = "https://github.com/login/oauth/access_token"
                userinfo_endpoint = "https://api.github.com/user"
                "#
            ))
            .unwrap();
            assert_eq!(
                config.validate().unwrap_err(),
                UpstreamError::IssuerInvalid,
                "{bad}"
            );
        }
        // No discovery document for oauth2, issuer or not.
        assert_eq!(
            oauth2_with(r#"issuer = "https://github.com""#).discovery_url(),
            None
        );
    }

    #[test]
    fn rfc_6749_section_4_1_2_1_error_responses_are_typed() {
        let endpoints = oidc_endpoints();
        let (pending, state) = started(&endpoints);
        let query = encode(&[
            ("error", "access_denied"),
            ("error_description", "User said no"),
            ("state", &state),
            ("iss", ISSUER),
        ]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::Denied
        );

        let (pending, state) = started(&endpoints);
        let query = encode(&[
            ("error", "login_required"),
            ("error_description", "Login \"needed\""),
            ("state", &state),
            ("iss", ISSUER),
        ]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            // The description has a `"`, outside its grammar: dropped.
            UpstreamError::ProviderError {
                code: ProviderErrorCode::LoginRequired,
                description: None
            }
        );
        let (pending, state) = started(&endpoints);
        let query = encode(&[
            ("error", "<script>"),
            ("error_description", "try later"),
            ("state", &state),
            ("iss", ISSUER),
        ]);
        let error = complete(&endpoints, pending, &query, T0).unwrap_err();
        assert_eq!(
            error,
            UpstreamError::ProviderError {
                code: ProviderErrorCode::Unregistered,
                description: Some("try later".to_owned())
            }
        );
        assert_eq!(
            error.to_string(),
            "provider answered with error unregistered"
        );

        let (pending, state) = started(&endpoints);
        assert_eq!(
            complete(
                &endpoints,
                pending,
                &encode(&[("state", &state), ("iss", ISSUER)]),
                T0
            )
            .unwrap_err(),
            UpstreamError::CodeMissing
        );
    }

    #[test]
    fn rfc_6749_section_3_1_repeated_parameters_are_refused() {
        for query in [
            "code=a&code=b&state=s",
            "code=a&state=s&state=s",
            "code=a&state=s&iss=x&iss=x",
            "code=a&state=s&foo=1&foo=2",
        ] {
            assert_eq!(
                CallbackParams::parse(query).unwrap_err(),
                UpstreamError::CallbackDuplicateParameter,
                "{query}"
            );
        }
        assert_eq!(
            CallbackParams::parse(&"a".repeat(MAX_CALLBACK_QUERY_LEN + 1)).unwrap_err(),
            UpstreamError::CallbackTooLarge
        );
        assert_eq!(
            CallbackParams::parse("code=&state=s").unwrap_err(),
            UpstreamError::CallbackParameterInvalid("code")
        );
        assert_eq!(
            CallbackParams::parse("code=a%0Ab&state=s").unwrap_err(),
            UpstreamError::CallbackParameterInvalid("code")
        );
        let params = CallbackParams::parse("code=a&state=s&iss=https%3A%2F%2Fx").unwrap();
        assert!(params.has_code());
        assert_eq!(params.iss(), Some("https://x"));
        assert_eq!(params.error(), None);
        assert!(!format!("{params:?}").contains("code"));
    }

    #[test]
    fn rfc_9700_section_4_7_a_replayed_callback_is_refused() {
        // The first callback consumes the pending request (it is moved into
        // `complete_callback`, and the server deletes its cookie or row). A
        // replay finds either no pending request (the server's error page)
        // or a newer one whose state differs.
        let endpoints = oidc_endpoints();
        let (pending, state) = started(&endpoints);
        let query = encode(&[("code", "c0de"), ("state", &state), ("iss", ISSUER)]);
        assert!(complete(&endpoints, pending, &query, T0).is_ok());
        let (_, newer) = begin(
            &oidc_provider(),
            &endpoints,
            &callback_url(),
            UnixTime::from_secs(T0 + 5),
            &mut rng(11),
        );
        assert_eq!(
            complete(&endpoints, newer, &query, T0 + 6).unwrap_err(),
            UpstreamError::StateMismatch
        );
    }

    proptest::proptest! {
        #[test]
        fn callback_parsing_never_panics(query in ".{0,400}") {
            if let Err(error) = CallbackParams::parse(&query) {
                proptest::prop_assert_eq!(error.reason(), crate::Reason::BadCallback);
            }
        }

        #[test]
        fn complete_callback_never_panics(
            query in "(code|state|iss|error|error_description|x|=|&|%[0-9A-F]{2}|[a-z0-9:/.]){0,120}",
            age in 0u64..2000,
        ) {
            let endpoints = oidc_endpoints();
            let (pending, _) = started(&endpoints);
            // A random query never carries the 256-bit state that was sent.
            let result = complete(&endpoints, pending, &query, T0 + age);
            proptest::prop_assert!(result.is_err());
        }
    }

    #[test]
    fn the_callback_path_must_name_the_pending_provider() {
        let endpoints = oidc_endpoints();
        let (mut pending, state) = started(&endpoints);
        pending.provider = ProviderId::parse("other").unwrap();
        let query = encode(&[("code", "c"), ("state", &state), ("iss", ISSUER)]);
        assert_eq!(
            complete(&endpoints, pending, &query, T0).unwrap_err(),
            UpstreamError::PendingProviderMismatch
        );
    }
}
