//! Token introspection at the resource server (RFC 7662): when it is used,
//! how its answer is checked, and the cache of accepted answers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use latchkey_jose::JwkThumbprint;
use latchkey_remote_keys::Introspect;
use latchkey_token::{AccessTokenClaims, Audience, TokenError, TokenId};
use latchkey_types::{ClientId, Scope, Subject, TokenDigest, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};
use serde_json::{Map, Value};

use crate::HttpError;
use crate::cache::TokenCache;

/// Which tokens are introspected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntrospectionMode {
    /// Every token: none is validated locally, the issuer answers for each
    /// (opaque tokens, or JWTs whose revocation must show at once).
    Only,
    /// Tokens that are not a JWS compact serialization (not three
    /// dot-separated parts, RFC 7515 section 7.1): opaque tokens. A token
    /// that looks like a JWS is validated locally and is refused, never
    /// introspected, when that fails.
    ForOpaqueTokens,
}

/// How the resource server introspects tokens (RFC 7662): whom it asks, for
/// which tokens, how it reads the answer and how long it remembers it.
///
/// An answer is accepted only when (RFC 7662 section 2.2): it is a JSON
/// object with `active: true`; its `iss`, when present, is the configured
/// issuer byte for byte; its `aud` (a string or an array) covers this
/// resource under the audience match (RFC 8707 section 2, RFC 9068 section
/// 4; a missing `aud` is refused unless
/// [`danger_accept_missing_audience`](Self::danger_accept_missing_audience));
/// it has an `exp` not passed and an `nbf`, if any, reached, within the
/// leeway; a `client_id`; a `scope` that is a scope string; a `cnf` that is
/// only a `jkt` (RFC 9449 section 6.1: the token is then DPoP-bound and the
/// proof is checked as for a JWT). `sub` defaults to `client_id` (a client
/// credentials token, RFC 9068 section 2.2) and `jti` to the hex digest of
/// the token.
///
/// Fail closed: no answer (connection, timeout, status other than `200`,
/// oversized body) or an answer that is not such a JSON object is
/// [`HttpError::IntrospectionUnavailable`], `503 temporarily_unavailable`:
/// the fault is the issuer's, not the client's, whose token may well be
/// good, so the client is not told to drop it (RFC 6750 section 3.1 keeps
/// `invalid_token` for tokens that are expired, revoked or malformed). An
/// inactive token is `401 invalid_token` ([`HttpError::TokenInactive`]);
/// an active one failing a check above `401 invalid_token` too.
///
/// The cache: accepted answers only, keyed by the SHA-256 of the token,
/// each kept until the token's `exp` and at most the TTL
/// ([`Self::DEFAULT_CACHE_TTL`], or [`with_cache`](Self::with_cache); `0`
/// turns it off), at most [`Self::DEFAULT_CACHE_CAPACITY`] entries. An
/// inactive answer is not cached: a revoked token must keep failing, a
/// refusal costs the attacker who sends junk tokens as much as it costs us,
/// and junk kept in the cache would push out the entries worth keeping. The
/// TTL is how long a token revoked at the issuer may still be accepted here.
pub struct Introspection {
    source: Arc<dyn Introspect>,
    issuer: String,
    mode: IntrospectionMode,
    leeway: Duration,
    audience_match: AudienceMatch,
    accept_missing_audience: bool,
    cache: Mutex<TokenCache<Arc<AccessTokenClaims>>>,
}

impl core::fmt::Debug for Introspection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Introspection")
            .field("issuer", &self.issuer)
            .field("mode", &self.mode)
            .field("accept_missing_audience", &self.accept_missing_audience)
            .finish_non_exhaustive()
    }
}

impl Introspection {
    /// How long an accepted answer is kept by default: 60 seconds.
    pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);
    /// How many accepted answers are kept at most by default.
    pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
    /// The default clock leeway on `exp` and `nbf`: 60 seconds, as the JWT validator's.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

    /// Introspection at `source` of the tokens `mode` names, answers
    /// accepted from `issuer` only. Defaults: the audience compared exactly,
    /// `aud` required, 60 s leeway, the default cache.
    pub fn new(source: Arc<dyn Introspect>, issuer: String, mode: IntrospectionMode) -> Self {
        Self {
            source,
            issuer,
            mode,
            leeway: Self::DEFAULT_LEEWAY,
            audience_match: AudienceMatch::Exact,
            accept_missing_audience: false,
            cache: Mutex::new(TokenCache::new(
                Self::DEFAULT_CACHE_CAPACITY,
                Some(Self::DEFAULT_CACHE_TTL),
            )),
        }
    }

    /// With accepted answers kept at most `ttl` (never past the token's
    /// `exp`), at most `capacity` of them; `ttl` or `capacity` zero: every
    /// request is introspected.
    pub fn with_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.cache = Mutex::new(TokenCache::new(capacity, Some(ttl)));
        self
    }

    /// With `leeway` on `exp` and `nbf` (at most
    /// `AccessTokenValidator::MAX_LEEWAY`, 5 minutes; more is cut to it).
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(latchkey_token::AccessTokenValidator::MAX_LEEWAY);
        self
    }

    /// With `aud` values compared with the resource under `audience_match`.
    pub fn with_audience_match(mut self, audience_match: AudienceMatch) -> Self {
        self.audience_match = audience_match;
        self
    }

    /// Accepts an active answer without `aud` as if it named this resource.
    /// Only for an issuer that cannot say whom a token is for, when every
    /// token it issues is for this resource: otherwise a token issued for
    /// another service works here too (RFC 8707 section 1, RFC 9700 section
    /// 4.10.1).
    pub fn danger_accept_missing_audience(mut self) -> Self {
        self.accept_missing_audience = true;
        self
    }

    /// Which tokens are introspected.
    pub fn mode(&self) -> IntrospectionMode {
        self.mode
    }

    /// Whether `token` is introspected rather than validated locally.
    pub(crate) fn applies_to(&self, token: &str) -> bool {
        match self.mode {
            IntrospectionMode::Only => true,
            IntrospectionMode::ForOpaqueTokens => !looks_like_jws(token),
        }
    }

    /// The claims of `token` at `now`, from the cache or from the issuer.
    pub(crate) async fn claims(
        &self,
        token: &str,
        resource: &ResourceUri,
        now: UnixTime,
    ) -> Result<Arc<AccessTokenClaims>, HttpError> {
        let digest = TokenDigest::of(token.as_bytes());
        if let Some(claims) = self.lock_cache().get(&digest, now) {
            return Ok(claims);
        }
        let body = self.source.introspect(token).await.map_err(|error| {
            tracing::warn!(
                target: "latchkey::http",
                resource = resource.as_str(),
                %error,
                "token introspection failed"
            );
            HttpError::IntrospectionUnavailable
        })?;
        let claims = Arc::new(self.check_answer(&body, &digest, resource, now)?);
        let mut cache = self.lock_cache();
        cache.insert(digest, claims.exp, Arc::clone(&claims), now);
        Ok(claims)
    }

    /// RFC 7662 section 2.2: the answer `body` for the token of `digest`,
    /// checked as the type documentation says.
    pub(crate) fn check_answer(
        &self,
        body: &[u8],
        digest: &TokenDigest,
        resource: &ResourceUri,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, HttpError> {
        let Ok(Value::Object(answer)) = serde_json::from_slice::<Value>(body) else {
            return Err(HttpError::IntrospectionUnavailable);
        };
        match answer.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => return Err(HttpError::TokenInactive),
            _ => return Err(HttpError::IntrospectionUnavailable),
        }
        let invalid = HttpError::InvalidToken;
        if let Some(iss) = answer.get("iss")
            && iss.as_str() != Some(self.issuer.as_str())
        {
            return Err(invalid(TokenError::WrongIssuer));
        }
        let aud = self.audience(&answer, resource).map_err(invalid)?;
        let exp = date(&answer, "exp")
            .map_err(invalid)?
            .ok_or(invalid(TokenError::MissingClaim("exp")))?;
        if now >= exp.saturating_add(self.leeway) {
            return Err(invalid(TokenError::Expired));
        }
        let nbf = date(&answer, "nbf").map_err(invalid)?;
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(self.leeway)) {
            return Err(invalid(TokenError::NotYetValid));
        }
        let iat = date(&answer, "iat").map_err(invalid)?;
        let client_id = text(&answer, "client_id")
            .map_err(invalid)?
            .ok_or(invalid(TokenError::MissingClaim("client_id")))?;
        let client_id = ClientId::parse(client_id)
            .map_err(|_| invalid(TokenError::MalformedClaim("client_id")))?;
        let sub = text(&answer, "sub")
            .map_err(invalid)?
            .unwrap_or(client_id.as_str());
        let sub = Subject::parse(sub).map_err(|_| invalid(TokenError::MalformedClaim("sub")))?;
        let scope = match text(&answer, "scope").map_err(invalid)? {
            None => Scope::empty(),
            Some(scope) => {
                Scope::parse(scope).map_err(|_| invalid(TokenError::MalformedClaim("scope")))?
            }
        };
        let jti = match text(&answer, "jti").map_err(invalid)? {
            Some(jti) => TokenId::parse(jti).map_err(invalid)?,
            None => TokenId::parse(&hex(digest.as_bytes())).map_err(invalid)?,
        };
        let cnf_jkt = confirmation(&answer).map_err(invalid)?;
        Ok(AccessTokenClaims {
            iss: self.issuer.clone(),
            sub,
            aud,
            exp,
            iat: iat.unwrap_or(now),
            nbf,
            jti,
            client_id,
            scope,
            auth_time: None,
            cnf_jkt,
        })
    }

    /// RFC 8707 section 2 and RFC 9068 section 4 step 4 (MCP R6): one `aud`
    /// value covers this resource. Values that are not resource URIs (names
    /// of other services) cover nothing and are left out.
    fn audience(
        &self,
        answer: &Map<String, Value>,
        resource: &ResourceUri,
    ) -> Result<Audience, TokenError> {
        let values: Vec<&str> = match answer.get("aud") {
            None if self.accept_missing_audience => return Ok(Audience::new(resource.clone())),
            None => return Err(TokenError::MissingClaim("aud")),
            Some(Value::String(one)) => vec![one.as_str()],
            Some(Value::Array(many)) => many
                .iter()
                .map(|value| value.as_str().ok_or(TokenError::MalformedClaim("aud")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(TokenError::MalformedClaim("aud")),
        };
        let covering: Vec<ResourceUri> = values
            .into_iter()
            .filter_map(|value| ResourceUri::parse(value).ok())
            .filter(|uri| uri.covers(resource, self.audience_match))
            .collect();
        Audience::from_vec(covering).ok_or(TokenError::WrongAudience)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, TokenCache<Arc<AccessTokenClaims>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Three dot-separated parts: the shape of a JWS compact serialization (RFC
/// 7515 section 7.1). Anything else (an opaque token, a JWE's five parts) is
/// introspected in [`IntrospectionMode::ForOpaqueTokens`].
pub(crate) fn looks_like_jws(token: &str) -> bool {
    token.split('.').count() == 3
}

/// A string member, if present.
fn text<'a>(
    answer: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, TokenError> {
    match answer.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(TokenError::MalformedClaim(name)),
    }
}

/// A NumericDate member (RFC 7519 section 2), if present: a non-negative
/// number of seconds, fractions cut.
fn date(answer: &Map<String, Value>, name: &'static str) -> Result<Option<UnixTime>, TokenError> {
    match answer.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => match (number.as_u64(), number.as_f64()) {
            (Some(secs), _) => Ok(Some(UnixTime::from_secs(secs))),
            (None, Some(secs)) if (0.0..1e15).contains(&secs) => {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "finite, non-negative and below 1e15: the floor fits a u64"
                )]
                let secs = secs.floor() as u64;
                Ok(Some(UnixTime::from_secs(secs)))
            }
            _ => Err(TokenError::MalformedClaim(name)),
        },
        Some(_) => Err(TokenError::MalformedClaim(name)),
    }
}

/// `cnf` (RFC 7800 section 3.1): absent, or exactly a `jkt` (RFC 9449
/// section 6.1). Another confirmation method cannot be checked here, so the
/// token is refused rather than used as a bearer token.
fn confirmation(answer: &Map<String, Value>) -> Result<Option<JwkThumbprint>, TokenError> {
    let Some(cnf) = answer.get("cnf") else {
        return Ok(None);
    };
    let Value::Object(cnf) = cnf else {
        return Err(TokenError::MalformedClaim("cnf"));
    };
    if cnf.keys().any(|name| name != "jkt") {
        return Err(TokenError::UnsupportedConfirmation);
    }
    let Some(Value::String(jkt)) = cnf.get("jkt") else {
        return Err(TokenError::UnsupportedConfirmation);
    };
    JwkThumbprint::parse(jkt)
        .map(Some)
        .map_err(|_| TokenError::MalformedClaim("cnf"))
}

fn hex(bytes: &[u8]) -> String {
    use core::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(json: &str) -> Map<String, Value> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn rfc_7519_section_2_numeric_dates_are_seconds_with_fractions_cut() {
        let at = |json: &str| date(&answer(json), "exp");
        assert_eq!(
            at(r#"{"exp":1800000000}"#),
            Ok(Some(UnixTime::from_secs(1_800_000_000)))
        );
        assert_eq!(
            at(r#"{"exp":1800000000.9}"#),
            Ok(Some(UnixTime::from_secs(1_800_000_000)))
        );
        assert_eq!(at("{}"), Ok(None));
        for bad in [
            r#"{"exp":-1}"#,
            r#"{"exp":1e300}"#,
            r#"{"exp":"1800000000"}"#,
            r#"{"exp":null}"#,
        ] {
            assert_eq!(at(bad), Err(TokenError::MalformedClaim("exp")), "{bad}");
        }
    }

    #[test]
    fn rfc_7515_section_7_1_only_three_parts_look_like_a_jws() {
        assert!(looks_like_jws("a.b.c"));
        assert!(looks_like_jws(".."));
        for opaque in ["abc", "a.b", "a.b.c.d.e", "2YotnFZFEjr1zCsicMWpAA"] {
            assert!(!looks_like_jws(opaque), "{opaque}");
        }
    }

    #[test]
    fn rfc_9449_section_6_1_only_a_jkt_confirmation_is_usable() {
        let jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
        let cnf = |json: &str| confirmation(&answer(json));
        assert!(matches!(
            cnf(&format!(r#"{{"cnf":{{"jkt":"{jkt}"}}}}"#)),
            Ok(Some(_))
        ));
        assert_eq!(cnf("{}"), Ok(None));
        assert_eq!(
            cnf(r#"{"cnf":{"x5t#S256":"abc"}}"#),
            Err(TokenError::UnsupportedConfirmation)
        );
        assert_eq!(
            cnf(&format!(r#"{{"cnf":{{"jkt":"{jkt}","x5t#S256":"abc"}}}}"#)),
            Err(TokenError::UnsupportedConfirmation)
        );
        assert_eq!(
            cnf(r#"{"cnf":{}}"#),
            Err(TokenError::UnsupportedConfirmation)
        );
        assert_eq!(
            cnf(r#"{"cnf":"jkt"}"#),
            Err(TokenError::MalformedClaim("cnf"))
        );
        assert_eq!(
            cnf(r#"{"cnf":{"jkt":"short"}}"#),
            Err(TokenError::MalformedClaim("cnf"))
        );
    }
}
