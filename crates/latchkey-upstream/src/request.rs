//! The upstream authorization request (RFC 6749 section 4.1.1, OIDC Core 1.0
//! section 3.1.2.1) and the state kept until the callback.

use core::fmt;
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_pkce::CodeVerifier;
use latchkey_types::{SecretString, TokenDigest, UnixTime};
use rand_core::CryptoRng;

use crate::{CallbackUrl, Endpoints, Provider, ProviderId, ProviderKind, UpstreamError};

/// Time limits of an upstream sign-in. Leeway is explicit (STYLE.md section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamPolicy {
    /// How long a pending request may wait for its callback (default 10 minutes).
    pub pending_max_age: Duration,
    /// Clock skew allowed on `exp`, `iat` and the pending request's age (default 60 s).
    pub leeway: Duration,
    /// How old an ID token's `iat` may be (OIDC Core 1.0 section 3.1.3.7 step
    /// 10; default 10 minutes: the token was just issued by the token endpoint).
    pub id_token_max_age: Duration,
}

impl Default for UpstreamPolicy {
    fn default() -> Self {
        Self {
            pending_max_age: Duration::from_secs(600),
            leeway: Duration::from_secs(60),
            id_token_max_age: Duration::from_secs(600),
        }
    }
}

/// The URL the browser is sent to. Its query carries the `state` and `nonce`,
/// so `Debug` shows only the type name; adapters must not log it.
pub struct AuthorizationRedirect(String);

impl AuthorizationRedirect {
    /// The URL, for the `Location` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthorizationRedirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthorizationRedirect(..)")
    }
}

/// Starts a sign-in at `provider`: the authorization code request URL, and the
/// [`PendingUpstream`] the callback needs.
///
/// The request (RFC 6749 section 4.1.1, OIDC Core 1.0 section 3.1.2.1) has
/// `response_type=code`, `client_id`, the exact `redirect_uri` (`callback`),
/// `scope` (the configured scopes, left out when none), a `state` of 256
/// random bits (RFC 6749 section 10.12, RFC 9700 section 4.7.1), for `oidc` a
/// `nonce` of 256 random bits (OIDC Core 1.0 section 3.1.2.1 and 15.5.2), and
/// PKCE with `S256` (RFC 7636 section 4.2, RFC 9700 section 2.1.1) whatever
/// the provider advertises. A query already in the endpoint URL is kept
/// (RFC 6749 section 3.1).
pub fn begin(
    provider: &Provider,
    endpoints: &Endpoints,
    callback: &CallbackUrl,
    now: UnixTime,
    rng: &mut impl CryptoRng,
) -> (AuthorizationRedirect, PendingUpstream) {
    let state = SecretString::generate(rng, SecretString::MIN_RANDOM_BYTES);
    let nonce = (provider.kind() == ProviderKind::Oidc)
        .then(|| SecretString::generate(rng, SecretString::MIN_RANDOM_BYTES));
    let verifier = CodeVerifier::generate(rng);
    let challenge = verifier.challenge();

    let scope = provider
        .scopes()
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut query = url::form_urlencoded::Serializer::new(String::with_capacity(400));
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", provider.client_id().as_str())
        .append_pair("redirect_uri", callback.as_str());
    if !scope.is_empty() {
        query.append_pair("scope", &scope);
    }
    query.append_pair("state", state.expose_secret());
    if let Some(nonce) = &nonce {
        query.append_pair("nonce", nonce.expose_secret());
    }
    query
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    let query = query.finish();
    let endpoint = endpoints.authorization_endpoint();
    let separator = match endpoint.find('?') {
        None => "?",
        Some(_) if endpoint.ends_with(['?', '&']) => "",
        Some(_) => "&",
    };
    let url = format!("{endpoint}{separator}{query}");

    let pending = PendingUpstream {
        provider: provider.id().clone(),
        state: state.digest(),
        nonce: nonce.as_ref().map(SecretString::digest),
        verifier,
        created_at: now,
    };
    (AuthorizationRedirect(url), pending)
}

/// What the callback needs from the request that [`begin`] made: the provider,
/// the SHA-256 digests of `state` and `nonce` (compared in constant time, never
/// stored in the clear), the PKCE verifier, and when it began.
///
/// It is single-use (not `Clone`), and [`PendingUpstream::encode`] writes it
/// as one short string for a sealed cookie or a store row; the string holds the
/// verifier, so it is a [`SecretString`]. `Debug` shows only the provider and
/// the time.
pub struct PendingUpstream {
    pub(crate) provider: ProviderId,
    pub(crate) state: TokenDigest,
    pub(crate) nonce: Option<TokenDigest>,
    pub(crate) verifier: CodeVerifier,
    pub(crate) created_at: UnixTime,
}

impl PendingUpstream {
    /// The longest encoded form accepted by [`Self::decode`].
    pub const MAX_ENCODED_LEN: usize = 512;

    /// The provider the request went to.
    pub fn provider(&self) -> &ProviderId {
        &self.provider
    }

    /// When the request began.
    pub fn created_at(&self) -> UnixTime {
        self.created_at
    }

    /// The SHA-256 digest of the `state` sent: a store may key the pending
    /// request by it, and the callback's `state` hashes to it.
    pub fn state_digest(&self) -> TokenDigest {
        self.state
    }

    /// `u1.{provider}.{created_at}.{state digest}.{nonce digest or -}.{verifier}`,
    /// digests in unpadded base64url: about 190 bytes.
    pub fn encode(&self) -> SecretString {
        let nonce = self.nonce.map_or_else(
            || "-".to_owned(),
            |n| Base64UrlUnpadded::encode_string(n.as_bytes()),
        );
        SecretString::new(format!(
            "u1.{}.{}.{}.{}.{}",
            self.provider,
            self.created_at.as_secs(),
            Base64UrlUnpadded::encode_string(self.state.as_bytes()),
            nonce,
            self.verifier.expose_secret()
        ))
    }

    /// Reads what [`Self::encode`] wrote; anything else is
    /// [`UpstreamError::PendingMalformed`].
    pub fn decode(encoded: &str) -> Result<Self, UpstreamError> {
        if encoded.len() > Self::MAX_ENCODED_LEN {
            return Err(UpstreamError::PendingMalformed);
        }
        let mut parts = encoded.splitn(6, '.');
        let (Some("u1"), Some(provider), Some(created), Some(state), Some(nonce), Some(verifier)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(UpstreamError::PendingMalformed);
        };
        let malformed = |_| UpstreamError::PendingMalformed;
        let provider = ProviderId::parse(provider).map_err(malformed)?;
        let created_at = created
            .parse::<u64>()
            .map(UnixTime::from_secs)
            .map_err(|_| UpstreamError::PendingMalformed)?;
        let state = digest(state)?;
        let nonce = if nonce == "-" {
            None
        } else {
            Some(digest(nonce)?)
        };
        let verifier = CodeVerifier::parse(verifier.to_owned())
            .map_err(|_| UpstreamError::PendingMalformed)?;
        Ok(Self {
            provider,
            state,
            nonce,
            verifier,
            created_at,
        })
    }
}

impl fmt::Debug for PendingUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingUpstream")
            .field("provider", &self.provider)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

fn digest(encoded: &str) -> Result<TokenDigest, UpstreamError> {
    let mut bytes = [0u8; 32];
    match Base64UrlUnpadded::decode(encoded, &mut bytes) {
        Ok(decoded) if decoded.len() == 32 => Ok(TokenDigest::from_bytes(bytes)),
        _ => Err(UpstreamError::PendingMalformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{callback_url, oauth2_provider, oidc_endpoints, oidc_provider, rng};
    use latchkey_pkce::CodeChallenge;

    fn query_of(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').unwrap();
        url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect()
    }

    fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
        let mut values = pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let value = values.next();
        assert!(values.next().is_none(), "{name} twice");
        value
    }

    #[test]
    fn oidc_core_3_1_2_1_the_request_is_a_code_request_with_pkce_state_and_nonce() {
        let provider = oidc_provider();
        let (redirect, pending) = begin(
            &provider,
            &oidc_endpoints(),
            &callback_url(),
            UnixTime::from_secs(1000),
            &mut rng(1),
        );
        let url = redirect.as_str();
        assert!(
            url.starts_with("https://login.example.com/authorize?"),
            "{url}"
        );
        let pairs = query_of(url);
        assert_eq!(param(&pairs, "response_type"), Some("code"));
        assert_eq!(param(&pairs, "client_id"), Some("latchkey"));
        assert_eq!(
            param(&pairs, "redirect_uri"),
            Some("https://auth.example.com/latchkey/callback/corp")
        );
        assert_eq!(param(&pairs, "scope"), Some("openid email profile"));
        assert_eq!(param(&pairs, "code_challenge_method"), Some("S256"));
        let state = param(&pairs, "state").unwrap();
        let nonce = param(&pairs, "nonce").unwrap();
        // 256 bits each, base64url.
        assert_eq!(state.len(), 43);
        assert_eq!(nonce.len(), 43);
        assert_ne!(state, nonce);
        assert!(pending.state_digest().matches(state.as_bytes()));
        assert!(pending.nonce.unwrap().matches(nonce.as_bytes()));
        let challenge =
            CodeChallenge::parse(param(&pairs, "code_challenge").unwrap(), Some("S256")).unwrap();
        assert!(challenge.verify(&pending.verifier));
        assert_eq!(pending.created_at(), UnixTime::from_secs(1000));
        assert_eq!(pending.provider().as_str(), "corp");
    }

    #[test]
    fn rfc_6749_section_3_1_an_endpoint_query_is_kept_and_oauth2_sends_no_nonce() {
        let provider = oauth2_provider();
        let endpoints = Endpoints::from_config(&provider).unwrap();
        let (redirect, pending) = begin(
            &provider,
            &endpoints,
            &CallbackUrl::new("https://auth.example.com", provider.id()).unwrap(),
            UnixTime::from_secs(1),
            &mut rng(2),
        );
        let pairs = query_of(redirect.as_str());
        assert_eq!(param(&pairs, "nonce"), None);
        assert!(pending.nonce.is_none());
        assert_eq!(param(&pairs, "scope"), Some("read:user user:email"));

        let mut with_query = oidc_endpoints();
        with_query.set_authorization_endpoint("https://login.example.com/authorize?tenant=a");
        let (redirect, _) = begin(
            &oidc_provider(),
            &with_query,
            &callback_url(),
            UnixTime::from_secs(1),
            &mut rng(3),
        );
        assert!(
            redirect
                .as_str()
                .starts_with("https://login.example.com/authorize?tenant=a&response_type=code&"),
            "{}",
            redirect.as_str()
        );
    }

    #[test]
    fn rfc_6749_section_10_10_each_request_draws_fresh_values() {
        let mut rng = rng(4);
        let (a, _) = begin(
            &oidc_provider(),
            &oidc_endpoints(),
            &callback_url(),
            UnixTime::EPOCH,
            &mut rng,
        );
        let (b, _) = begin(
            &oidc_provider(),
            &oidc_endpoints(),
            &callback_url(),
            UnixTime::EPOCH,
            &mut rng,
        );
        let (a, b) = (query_of(a.as_str()), query_of(b.as_str()));
        for name in ["state", "nonce", "code_challenge"] {
            assert_ne!(param(&a, name), param(&b, name), "{name}");
        }
    }

    #[test]
    fn pending_round_trips_and_never_prints_its_secrets() {
        let (redirect, pending) = begin(
            &oidc_provider(),
            &oidc_endpoints(),
            &callback_url(),
            UnixTime::from_secs(1_700_000_000),
            &mut rng(5),
        );
        let pairs = query_of(redirect.as_str());
        let encoded = pending.encode();
        assert!(
            encoded.expose_secret().len() < 200,
            "{}",
            encoded.expose_secret().len()
        );
        let back = PendingUpstream::decode(encoded.expose_secret()).unwrap();
        assert_eq!(back.provider, pending.provider);
        assert_eq!(back.state, pending.state);
        assert_eq!(back.nonce, pending.nonce);
        assert_eq!(back.created_at, pending.created_at);
        assert_eq!(
            back.verifier.expose_secret(),
            pending.verifier.expose_secret()
        );

        let debug = format!("{pending:?}");
        assert_eq!(
            debug,
            "PendingUpstream { provider: ProviderId(\"corp\"), created_at: UnixTime(1700000000), .. }"
        );
        assert!(!debug.contains(pending.verifier.expose_secret()));
        for name in ["state", "nonce"] {
            assert!(!debug.contains(param(&pairs, name).unwrap()));
        }
        assert_eq!(format!("{redirect:?}"), "AuthorizationRedirect(..)");
        assert_eq!(format!("{encoded:?}"), "SecretString(..)");
    }

    #[test]
    fn pending_decode_refuses_anything_else() {
        let (_, pending) = begin(
            &oidc_provider(),
            &oidc_endpoints(),
            &callback_url(),
            UnixTime::EPOCH,
            &mut rng(6),
        );
        let good = pending.encode().expose_secret().to_owned();
        let mut bad = vec![
            String::new(),
            "u1".to_owned(),
            good.replacen("u1.", "u2.", 1),
            good.replacen(".corp.", ".Corp.", 1),
            good.replacen(".0.", ".x.", 1),
            format!("{good}{}", "a".repeat(200)),
        ];
        // A truncated verifier (RFC 7636 section 4.1: at least 43 characters).
        bad.push(good[..good.len() - 10].to_owned());
        for input in bad {
            assert_eq!(
                PendingUpstream::decode(&input).unwrap_err(),
                UpstreamError::PendingMalformed,
                "{input}"
            );
        }
    }
}
