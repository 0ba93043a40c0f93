//! Resource-server validation of JWT access tokens (RFC 9068 section 4, OAuth 2.1
//! section 5.2, RFC 8725), from Latchkey's own authorization server or any other
//! that signs with ES256, ES384, EdDSA, RS256 or PS256.

use core::time::Duration;

use latchkey_jose::{Algorithm, CompactJws, JoseError, Jwks, PublicJwk};
use latchkey_types::{ClientId, Scope, ScopeToken, Subject, UnixTime};
use latchkey_uri::{AudienceMatch, ResourceUri};

use crate::TokenError;
use crate::claims::{AccessTokenClaims, Audience, TokenId};
use crate::code::JwkThumbprint;
use crate::raw::{JsonStr, NumericDate, RawClaims, ScopeList};

/// Validates JWT access tokens for one resource server (RFC 9068 section 4).
///
/// Built once from configuration: the issuer's JWK Set (keys parsed once), the
/// exact issuer identifier, this resource's URI and how the token's `aud` must
/// cover it, the allowed algorithms, a bounded clock leeway and a maximum token
/// length. [`validate`](Self::validate) then checks, in order:
///
/// 1. length and compact form (RFC 7515 section 7.1, RFC 8725bis section 3.14);
///    `none`, `HS*` and unknown algorithms are refused here (RFC 8725 section 3.1);
/// 2. `typ` is `at+jwt` or `application/at+jwt` (RFC 9068 section 2.1 and
///    section 4 step 1, RFC 8725 section 3.11); `JWT` or no `typ` only after
///    [`danger_accept_plain_jwt_typ`](Self::danger_accept_plain_jwt_typ);
/// 3. `alg` is in the allowlist (RFC 9068 section 4 step 2, RFC 8725 section 3.1):
///    ES256 unless [`with_algorithms`](Self::with_algorithms) says otherwise,
///    narrowed by [`with_advertised_algorithms`](Self::with_advertised_algorithms);
/// 4. the key: the one named by `kid`; without `kid`, the only key if the set has
///    exactly one; its algorithm must be the header's (RFC 8725bis section 3.1);
/// 5. the signature (RFC 9068 section 4 step 5, RFC 7515 section 5.2);
/// 6. the claims set is one JSON object without duplicate names (RFC 7519
///    section 4) holding every claim RFC 9068 section 2.2 requires;
/// 7. `iss` equals the configured issuer exactly (RFC 9068 section 4 step 3);
/// 8. one `aud` value covers this resource (RFC 9068 section 4 step 4, RFC 8707,
///    MCP R6, R9, R13);
/// 9. `exp` is after `now` minus the leeway (RFC 9068 section 4 step 7), and
///    `nbf` and `iat` are not after `now` plus the leeway (RFC 7519 section 4.1.5);
/// 10. the typed claims parse, and a `cnf` confirmation is a `jkt` (RFC 9449
///     section 6.1) and nothing this crate cannot check. The scope comes from
///     `scope` (a space-delimited string, RFC 9068 section 2.2.3) or from `scp`
///     (an array of scope tokens, or one space-delimited string, as several
///     issuers send it); a token carrying both is refused, since they could
///     disagree.
///
/// Keys: EC P-256 and P-384, Ed25519, and RSA of at least 2048 bits (see
/// `latchkey-jose`); the key found must verify the header's algorithm.
///
/// The keys are the configured issuer's by construction (RFC 8725bis section 3.8).
/// Header members such as `jku`, `x5u` and `jwk` are never used to find a key.
#[derive(Clone, Debug)]
pub struct AccessTokenValidator {
    jwks: Jwks,
    issuer: String,
    audience: ResourceUri,
    audience_match: AudienceMatch,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    max_token_len: usize,
    accept_plain_jwt_typ: bool,
}

impl AccessTokenValidator {
    /// The default clock leeway: 60 seconds, enough for ordinary clock skew between
    /// an authorization server and a resource server.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
    /// The largest leeway [`Self::with_leeway`] accepts: 5 minutes. More would
    /// stretch the life of short-lived tokens noticeably (MCP A9).
    pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
    /// The default longest token accepted, in bytes.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

    /// A validator accepting ES256 tokens from `issuer`, signed by a key of `jwks`,
    /// whose `aud` covers `audience` under `audience_match`.
    pub fn new(
        jwks: Jwks,
        issuer: String,
        audience: ResourceUri,
        audience_match: AudienceMatch,
    ) -> Self {
        Self {
            jwks,
            issuer,
            audience,
            audience_match,
            algorithms: vec![Algorithm::Es256],
            leeway: Self::DEFAULT_LEEWAY,
            max_token_len: Self::DEFAULT_MAX_TOKEN_LEN,
            accept_plain_jwt_typ: false,
        }
    }

    /// This validator allowing exactly `algorithms` (RFC 8725bis section 3.1);
    /// refused when empty. `none` and symmetric algorithms cannot be named.
    /// Duplicates are dropped.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Result<Self, TokenError> {
        if algorithms.is_empty() {
            return Err(TokenError::NoAlgorithms);
        }
        self.algorithms.clear();
        for alg in algorithms {
            if !self.algorithms.contains(alg) {
                self.algorithms.push(*alg);
            }
        }
        Ok(self)
    }

    /// This validator allowing only those of its algorithms that the issuer
    /// advertises, e.g. in its authorization server metadata (RFC 8414 section 2)
    /// or the `alg` members of its JWK Set: the allowlist becomes the
    /// intersection. Names Latchkey does not know are ignored (they could never
    /// be allowed). Refused with [`TokenError::NoAlgorithms`] when nothing is
    /// left; the allowlist never grows.
    pub fn with_advertised_algorithms<S: AsRef<str>>(
        mut self,
        advertised: &[S],
    ) -> Result<Self, TokenError> {
        self.algorithms.retain(|alg| {
            advertised
                .iter()
                .any(|name| Algorithm::parse(name.as_ref()) == Ok(*alg))
        });
        if self.algorithms.is_empty() {
            return Err(TokenError::NoAlgorithms);
        }
        Ok(self)
    }

    /// The algorithms this validator accepts, in the order they were configured.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// **Weakens a check.** This validator also accepting tokens whose header
    /// `typ` is `JWT` or `application/jwt` (RFC 7519 section 5.1), or that have
    /// no `typ` at all, besides `at+jwt`.
    ///
    /// RFC 9068 section 4 step 1 and RFC 8725 section 3.11 require `at+jwt` so
    /// that another kind of JWT from the same issuer (an OpenID Connect ID token,
    /// a logout token) cannot pass for an access token. Several widely used
    /// authorization servers do not set it; turn this on for such an issuer
    /// only. The other checks still stand against a substituted JWT: `aud` must
    /// cover this resource (an ID token's `aud` is a client id), and `client_id`
    /// and `jti` must be present (RFC 9068 section 2.2). Other `typ` values,
    /// such as `dpop+jwt`, are still refused.
    pub fn danger_accept_plain_jwt_typ(mut self) -> Self {
        self.accept_plain_jwt_typ = true;
        self
    }

    /// This validator with `leeway` of clock skew; refused above [`Self::MAX_LEEWAY`].
    pub fn with_leeway(mut self, leeway: Duration) -> Result<Self, TokenError> {
        if leeway > Self::MAX_LEEWAY {
            return Err(TokenError::LeewayTooLarge);
        }
        self.leeway = leeway;
        Ok(self)
    }

    /// This validator refusing tokens longer than `max_token_len` bytes.
    pub fn with_max_token_len(mut self, max_token_len: usize) -> Self {
        self.max_token_len = max_token_len;
        self
    }

    /// This validator verifying with `jwks` instead, every other setting kept:
    /// for a resource server that fetched the issuer's JWK Set again after a
    /// key rotation (RFC 7517 section 5; the keys stay the configured
    /// issuer's, RFC 8725bis section 3.8).
    pub fn with_jwks(mut self, jwks: Jwks) -> Self {
        self.jwks = jwks;
        self
    }

    /// The JWK Set tokens are verified with.
    pub fn jwks(&self) -> &Jwks {
        &self.jwks
    }

    /// Validates `token` at time `now` (see the type's documentation for the steps).
    pub fn validate(&self, token: &str, now: UnixTime) -> Result<ValidatedAccessToken, TokenError> {
        let jws = CompactJws::parse(token, self.max_token_len).map_err(TokenError::from_jose)?;
        let header = jws.header();
        let typ_ok = match header.typ.as_deref() {
            Some(typ) => {
                is_access_token_type(typ) || (self.accept_plain_jwt_typ && is_plain_jwt_type(typ))
            }
            None => self.accept_plain_jwt_typ,
        };
        if !typ_ok {
            return Err(TokenError::WrongType);
        }
        if !self.algorithms.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed);
        }
        let key = self.key_for(header.kid.as_deref())?;
        jws.verify_with(key).map_err(TokenError::from_jose)?;

        let raw = RawClaims::parse(jws.payload())?;
        let iss = raw.iss.ok_or(TokenError::MissingClaim("iss"))?;
        let sub = raw.sub.ok_or(TokenError::MissingClaim("sub"))?;
        let aud = raw.aud.ok_or(TokenError::MissingClaim("aud"))?;
        let exp = raw.exp.ok_or(TokenError::MissingClaim("exp"))?;
        let iat = raw.iat.ok_or(TokenError::MissingClaim("iat"))?;
        let jti = raw.jti.ok_or(TokenError::MissingClaim("jti"))?;
        let client_id = raw.client_id.ok_or(TokenError::MissingClaim("client_id"))?;

        if iss.0 != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let aud = self.check_audience(&aud)?;
        let leeway = self.leeway;
        if now >= UnixTime::from_secs(exp.floor).saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        let latest = now.saturating_add(leeway);
        if raw
            .nbf
            .is_some_and(|nbf| UnixTime::from_secs(nbf.ceil) > latest)
        {
            return Err(TokenError::NotYetValid);
        }
        if UnixTime::from_secs(iat.ceil) > latest {
            return Err(TokenError::IssuedInFuture);
        }
        let cnf_jkt = match raw.cnf {
            None => None,
            Some(cnf) if cnf.other => return Err(TokenError::UnsupportedConfirmation),
            Some(cnf) => {
                let jkt = cnf.jkt.ok_or(TokenError::UnsupportedConfirmation)?;
                Some(JwkThumbprint::parse(&jkt.0).map_err(|_| TokenError::MalformedClaim("cnf"))?)
            }
        };
        let scope = match (raw.scope, raw.scp) {
            (None, None) => Scope::empty(),
            (Some(s), None) => parse_scope_string(&s, "scope")?,
            (None, Some(ScopeList::One(s))) => parse_scope_string(&s, "scp")?,
            (None, Some(ScopeList::Many(values))) => parse_scope_array(&values)?,
            (Some(_), Some(_)) => return Err(TokenError::MalformedClaim("scp")),
        };
        let claims = AccessTokenClaims {
            iss: iss.0.into_owned(),
            sub: Subject::parse(&sub.0).map_err(|_| TokenError::MalformedClaim("sub"))?,
            aud,
            exp: UnixTime::from_secs(exp.floor),
            iat: UnixTime::from_secs(iat.ceil),
            nbf: raw
                .nbf
                .map(|nbf: NumericDate| UnixTime::from_secs(nbf.ceil)),
            jti: TokenId::parse(&jti.0)?,
            client_id: ClientId::parse(&client_id.0)
                .map_err(|_| TokenError::MalformedClaim("client_id"))?,
            scope,
            auth_time: raw
                .auth_time
                .map(|t: NumericDate| UnixTime::from_secs(t.floor)),
            cnf_jkt,
        };
        Ok(ValidatedAccessToken {
            claims,
            kid: header.kid.clone(),
        })
    }

    /// RFC 8725bis section 3.1: the key is found by `kid`, never by the algorithm.
    fn key_for(&self, kid: Option<&str>) -> Result<&PublicJwk, TokenError> {
        match kid {
            Some(kid) => self.jwks.find(kid).ok_or(TokenError::UnknownKey),
            None => match self.jwks.keys() {
                [only] => Ok(only),
                _ => Err(TokenError::UnknownKey),
            },
        }
    }

    /// RFC 9068 section 4 step 4 and RFC 8707 section 2 (MCP R6): one audience value
    /// must cover this resource. Values that are not resource URIs cover nothing;
    /// if one of them sits next to a covering value the token is malformed.
    fn check_audience(&self, aud: &[crate::raw::JsonStr<'_>]) -> Result<Audience, TokenError> {
        let mut parsed = Vec::with_capacity(aud.len());
        let mut unparsable = false;
        let mut covered = false;
        for value in aud {
            // Fast path: our own canonical spelling needs no URI parsing.
            if value.0 == self.audience.as_str() {
                covered = true;
                parsed.push(self.audience.clone());
                continue;
            }
            match ResourceUri::parse(&value.0) {
                Ok(uri) => {
                    covered |= uri.covers(&self.audience, self.audience_match);
                    parsed.push(uri);
                }
                Err(_) => unparsable = true,
            }
        }
        if !covered {
            return Err(TokenError::WrongAudience);
        }
        if unparsable {
            return Err(TokenError::MalformedClaim("aud"));
        }
        Audience::from_vec(parsed).ok_or(TokenError::MalformedClaim("aud"))
    }
}

/// An access token that passed every check, with its typed claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedAccessToken {
    claims: AccessTokenClaims,
    kid: Option<String>,
}

impl ValidatedAccessToken {
    /// The verified claims.
    pub fn claims(&self) -> &AccessTokenClaims {
        &self.claims
    }

    /// The verified claims, by value.
    pub fn into_claims(self) -> AccessTokenClaims {
        self.claims
    }

    /// The key id of the key that verified the token, if the header named one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The DPoP key thumbprint the token is bound to: when `Some`, the resource
    /// server must require a DPoP proof by that key (RFC 9449 section 7.1).
    pub fn dpop_jkt(&self) -> Option<&JwkThumbprint> {
        self.claims.cnf_jkt.as_ref()
    }
}

/// RFC 9068 section 4 step 1: `at+jwt` or `application/at+jwt`; media type names
/// are case-insensitive (RFC 7515 section 4.1.9, RFC 2045 section 5.1).
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// RFC 7519 section 5.1: `JWT`, or `application/jwt`, case-insensitive.
fn is_plain_jwt_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("application/jwt")
}

/// A space-delimited scope string (RFC 9068 section 2.2.3, RFC 6749 section
/// 3.3); empty means no scope.
fn parse_scope_string(s: &JsonStr<'_>, claim: &'static str) -> Result<Scope, TokenError> {
    if s.0.is_empty() {
        return Ok(Scope::empty());
    }
    Scope::parse(&s.0).map_err(|_| TokenError::MalformedClaim(claim))
}

/// An `scp` array: each value one scope token (RFC 6749 section 3.3, so no
/// spaces), at most [`Scope::MAX_LEN`] bytes in all.
fn parse_scope_array(values: &[JsonStr<'_>]) -> Result<Scope, TokenError> {
    let mut scope = Scope::empty();
    let mut total = 0usize;
    for value in values {
        total = total.saturating_add(value.0.len()).saturating_add(1);
        if total > Scope::MAX_LEN + 1 {
            return Err(TokenError::MalformedClaim("scp"));
        }
        scope.insert(ScopeToken::parse(&value.0).map_err(|_| TokenError::MalformedClaim("scp"))?);
    }
    Ok(scope)
}

impl TokenError {
    fn from_jose(error: JoseError) -> Self {
        match error {
            JoseError::TokenTooLong => Self::TooLong,
            JoseError::UnsupportedAlgorithm => Self::AlgorithmNotAllowed,
            JoseError::AlgorithmMismatch => Self::KeyAlgorithmMismatch,
            JoseError::BadSignature => Self::BadSignature,
            other => Self::Malformed(other),
        }
    }
}

#[cfg(test)]
mod other_issuer_tests;
#[cfg(test)]
mod tests;
