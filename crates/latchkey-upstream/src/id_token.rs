//! ID token validation (OIDC Core 1.0 sections 2, 3.1.3.7 and 3.1.3.8).

use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_jose::{Algorithm, CompactJws, JoseError, Jwks, PublicJwk};
use latchkey_types::json::parse_object;
use latchkey_types::{Subject, TokenDigest, UnixTime};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha512};

use crate::discovery::ID_TOKEN_ALGORITHMS;
use crate::{
    Endpoints, Expected, Provider, TokenResponse, UpstreamError, UpstreamIdentity, UpstreamPolicy,
};

/// The longest ID token accepted, in bytes.
pub const MAX_ID_TOKEN_LEN: usize = 16 * 1024;

/// The claims of an ID token that validation reads (OIDC Core 1.0 section 2),
/// parsed from the payload (strict JSON: no claim twice, RFC 7519 section 4)
/// but not yet checked against anything.
#[derive(Debug, Clone, PartialEq)]
pub struct IdTokenClaims {
    /// `iss`.
    pub iss: String,
    /// `sub`: at most 255 ASCII characters (section 2), printable.
    pub sub: Subject,
    /// `aud`: a string or an array of strings, as a list.
    pub aud: Vec<String>,
    /// `azp`, if present.
    pub azp: Option<String>,
    /// `exp`, in whole seconds (fractions dropped).
    pub exp: UnixTime,
    /// `iat`, in whole seconds.
    pub iat: UnixTime,
    /// `nonce`, if present.
    pub nonce: Option<String>,
    /// `at_hash`, if present.
    pub at_hash: Option<String>,
    /// Every claim, for the display attributes (`name`, `email`, ...).
    pub all: Map<String, Value>,
}

impl IdTokenClaims {
    /// Parses a JWT claims set: `iss`, `sub`, `aud`, `exp` and `iat` are
    /// required (section 2); `azp`, `nonce` and `at_hash` must be strings when
    /// present.
    pub fn parse(payload: &[u8]) -> Result<Self, UpstreamError> {
        let all =
            parse_object(payload, MAX_ID_TOKEN_LEN).map_err(UpstreamError::IdTokenClaimsJson)?;
        let iss = string(&all, "iss")?.ok_or(UpstreamError::IdTokenClaimMissing("iss"))?;
        let sub = string(&all, "sub")?.ok_or(UpstreamError::IdTokenClaimMissing("sub"))?;
        let sub = Subject::parse(&sub).map_err(|_| UpstreamError::IdTokenClaimInvalid("sub"))?;
        let aud = match all.get("aud") {
            None => return Err(UpstreamError::IdTokenClaimMissing("aud")),
            Some(Value::String(one)) => vec![one.clone()],
            Some(Value::Array(many)) if !many.is_empty() => many
                .iter()
                .map(|a| a.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(UpstreamError::IdTokenClaimInvalid("aud"))?,
            Some(_) => return Err(UpstreamError::IdTokenClaimInvalid("aud")),
        };
        let exp = numeric_date(&all, "exp")?;
        let iat = numeric_date(&all, "iat")?;
        Ok(Self {
            iss,
            sub,
            aud,
            azp: string(&all, "azp")?,
            exp,
            iat,
            nonce: string(&all, "nonce")?,
            at_hash: string(&all, "at_hash")?,
            all,
        })
    }
}

/// Validates the ID token of `tokens` (OIDC Core 1.0 section 3.1.3.7) and
/// returns who signed in.
///
/// - Step 1: an encrypted (five-part) token is refused as malformed; Latchkey
///   registers no encryption.
/// - Steps 6 to 8: the JWS `alg` must be both in [`ID_TOKEN_ALGORITHMS`]
///   (RS256, PS256, ES256, EdDSA; `none` and `HS*` cannot even be parsed) and
///   advertised in `id_token_signing_alg_values_supported`
///   ([`UpstreamError::IdTokenAlgorithmNotAllowed`]); the key is the one of
///   the provider's JWK Set named by `kid`, or the only one that verifies
///   `alg` when there is no `kid`. No such key is
///   [`UpstreamError::IdTokenUnknownKey`]: the caller fetches the JWK Set
///   again, once, and retries (section 10.1.1, key rotation). The signature
///   is always checked, TLS or not. A `typ` header, if any, must be `JWT`
///   (RFC 8725 section 3.11).
/// - Step 2: `iss` exactly the issuer from discovery.
/// - Step 3: `aud` contains the client id; any other audience is not trusted
///   and the token refused.
/// - Steps 4 and 5: with several audiences `azp` is required; whenever
///   present, it must be the client id.
/// - Step 9: now is before `exp` plus the leeway.
/// - Step 10: `iat` is not later than now plus the leeway, nor older than
///   `policy.id_token_max_age`.
/// - Step 11: `nonce` present and equal to the one sent (digests compared in
///   constant time).
/// - Section 3.1.3.8: when `at_hash` is present, it is the left half of the
///   hash of the access token (SHA-256 for RS256, PS256, ES256; SHA-512 for
///   EdDSA over Ed25519), base64url-encoded (section 3.2.2.9).
pub fn validate_id_token(
    provider: &Provider,
    endpoints: &Endpoints,
    jwks: &Jwks,
    tokens: &TokenResponse,
    expected: &Expected,
    now: UnixTime,
    policy: &UpstreamPolicy,
) -> Result<UpstreamIdentity, UpstreamError> {
    if expected.provider != *provider.id() {
        return Err(UpstreamError::PendingProviderMismatch);
    }
    let token = tokens
        .id_token()
        .ok_or(UpstreamError::TokenMemberMissing("id_token"))?;
    let jws = CompactJws::parse(token.expose_secret(), MAX_ID_TOKEN_LEN)
        .map_err(UpstreamError::IdTokenMalformed)?;
    let header = jws.header();
    if header
        .typ
        .as_deref()
        .is_some_and(|typ| !typ.eq_ignore_ascii_case("JWT"))
    {
        return Err(UpstreamError::IdTokenType);
    }
    let alg = header.alg;
    if !ID_TOKEN_ALGORITHMS.contains(&alg) || !endpoints.id_token_algorithms().contains(&alg) {
        return Err(UpstreamError::IdTokenAlgorithmNotAllowed);
    }
    let key = find_key(jwks, header.kid.as_deref(), alg)?;
    jws.verify_with(key).map_err(|error| match error {
        JoseError::BadSignature | JoseError::AlgorithmMismatch | JoseError::SignatureLength => {
            UpstreamError::IdTokenBadSignature
        }
        other => UpstreamError::IdTokenMalformed(other),
    })?;

    let claims = IdTokenClaims::parse(jws.payload())?;
    // Step 2.
    if endpoints.issuer() != Some(claims.iss.as_str()) {
        return Err(UpstreamError::IdTokenIssuerMismatch);
    }
    // Step 3.
    let client_id = provider.client_id().as_str();
    if !claims.aud.iter().any(|aud| aud == client_id) {
        return Err(UpstreamError::IdTokenAudienceMismatch);
    }
    // Steps 4 and 5.
    if claims.aud.len() > 1 && claims.azp.is_none() {
        return Err(UpstreamError::IdTokenAuthorizedPartyMissing);
    }
    if claims.azp.as_deref().is_some_and(|azp| azp != client_id) {
        return Err(UpstreamError::IdTokenAuthorizedPartyMismatch);
    }
    // Step 3, second half: no audience Latchkey does not trust.
    if claims.aud.iter().any(|aud| aud != client_id) {
        return Err(UpstreamError::IdTokenUntrustedAudience);
    }
    // Step 9.
    if claims.exp.saturating_add(policy.leeway) <= now {
        return Err(UpstreamError::IdTokenExpired);
    }
    // Step 10.
    if claims.iat > now.saturating_add(policy.leeway) {
        return Err(UpstreamError::IdTokenIssuedInFuture);
    }
    if now.duration_since(claims.iat).unwrap_or(Duration::ZERO) > policy.id_token_max_age {
        return Err(UpstreamError::IdTokenTooOld);
    }
    // Step 11.
    if let Some(sent) = expected.nonce {
        let received = claims
            .nonce
            .as_deref()
            .ok_or(UpstreamError::IdTokenClaimMissing("nonce"))?;
        if TokenDigest::of(received.as_bytes()) != sent {
            return Err(UpstreamError::IdTokenNonceMismatch);
        }
    }
    // Section 3.1.3.8.
    if let Some(at_hash) = &claims.at_hash {
        let expected_hash = access_token_hash(alg, tokens.access_token().expose_secret());
        if TokenDigest::of(at_hash.as_bytes()) != TokenDigest::of(expected_hash.as_bytes()) {
            return Err(UpstreamError::AccessTokenHashMismatch);
        }
    }
    Ok(UpstreamIdentity::new(
        provider.id().clone(),
        claims.sub,
        &claims.all,
    ))
}

/// `at_hash` / `c_hash` (OIDC Core 1.0 section 3.2.2.9): the base64url of the
/// left-most half of the hash of the ASCII token, with the hash of the JWS
/// algorithm. EdDSA over Ed25519 uses SHA-512.
pub fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::EdDsa => Sha512::digest(access_token.as_bytes()).to_vec(),
        Algorithm::Es384 => sha2::Sha384::digest(access_token.as_bytes()).to_vec(),
        Algorithm::Es256 | Algorithm::Rs256 | Algorithm::Ps256 => {
            Sha256::digest(access_token.as_bytes()).to_vec()
        }
    };
    let half = digest.get(..digest.len() / 2).unwrap_or_default();
    Base64UrlUnpadded::encode_string(half)
}

// ---------------------------------------------------------------------------
// Helpers.

fn find_key<'a>(
    jwks: &'a Jwks,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<&'a PublicJwk, UpstreamError> {
    match kid {
        Some(kid) => jwks.find(kid).ok_or(UpstreamError::IdTokenUnknownKey),
        None => {
            let mut usable = jwks.keys().iter().filter(|key| key.allows(alg));
            match (usable.next(), usable.next()) {
                (Some(key), None) => Ok(key),
                _ => Err(UpstreamError::IdTokenUnknownKey),
            }
        }
    }
}

fn string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, UpstreamError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(UpstreamError::IdTokenClaimInvalid(name)),
    }
}

/// A JWT NumericDate (RFC 7519 section 2): a non-negative number of seconds,
/// fractions dropped.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<UnixTime, UpstreamError> {
    let Some(value) = claims.get(name) else {
        return Err(UpstreamError::IdTokenClaimMissing(name));
    };
    let Value::Number(number) = value else {
        return Err(UpstreamError::IdTokenClaimInvalid(name));
    };
    if let Some(secs) = number.as_u64() {
        return Ok(UnixTime::from_secs(secs));
    }
    match number.as_f64() {
        // Finite, non-negative and below 2^64: the cast only drops the fraction.
        Some(secs) if (0.0..18_446_744_073_709_551_616.0).contains(&secs) => {
            Ok(UnixTime::from_secs(secs as u64))
        }
        _ => Err(UpstreamError::IdTokenClaimInvalid(name)),
    }
}

#[cfg(test)]
mod tests;
