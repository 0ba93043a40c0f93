//! Checking DPoP proofs (RFC 9449 section 4.3).

use core::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_jose::{Algorithm, CompactJws, JoseError, PublicJwk};
use latchkey_types::UnixTime;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    DpopError, DpopNonces, Htu, JwkThumbprint, NonceCheck, ReplayCache, ReplayKey, ReplayOutcome,
};

/// The `typ` a DPoP proof must carry (RFC 9449 section 4.2).
pub const DPOP_JWT_TYPE: &str = "dpop+jwt";

/// Server policy for DPoP proofs.
///
/// Start from [`DpopConfig::default`] and change what you need.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DpopConfig {
    /// The `alg` values accepted (RFC 9449 section 4.3 check 5, "acceptable per
    /// local policy"); also what `dpop_signing_alg_values_supported` and the
    /// `algs` challenge parameter advertise. Only asymmetric algorithms exist in
    /// [`Algorithm`], so `none` and `HS*` can never be allowed.
    pub algorithms: Vec<Algorithm>,
    /// How long after its `iat` a proof is accepted (RFC 9449 section 11.1:
    /// "a relatively brief period on the order of seconds or minutes").
    pub max_age: Duration,
    /// How far in the future an `iat` may lie, for client clock skew (RFC 9449
    /// section 11.1 note).
    pub max_future_skew: Duration,
    /// The longest proof accepted, in bytes (RFC 9449 section 4.3 check 2).
    pub max_proof_len: usize,
    /// The longest `jti` accepted, in bytes (RFC 9449 section 11.1: "reject DPoP
    /// proof JWTs with unnecessarily large jti values").
    pub max_jti_len: usize,
    /// When set, every proof must carry a nonce these issued recently (RFC 9449
    /// sections 8 and 9); otherwise a `nonce` claim is ignored.
    pub nonces: Option<DpopNonces>,
}

impl Default for DpopConfig {
    /// ES256 and EdDSA, 60 s window, 5 s skew, 4 KiB proofs, 128-byte `jti`, no nonces.
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::Es256, Algorithm::EdDsa],
            max_age: Duration::from_secs(60),
            max_future_skew: Duration::from_secs(5),
            max_proof_len: 4096,
            max_jti_len: 128,
            nonces: None,
        }
    }
}

impl DpopConfig {
    /// The allowed algorithms, space-delimited: the `algs` parameter of a `DPoP`
    /// challenge (RFC 9449 section 7.1).
    pub fn algs_parameter(&self) -> String {
        let names: Vec<&str> = self.algorithms.iter().map(|alg| alg.as_str()).collect();
        names.join(" ")
    }
}

/// What the request a proof arrived with looks like.
#[derive(Clone, Debug)]
pub struct ProofExpectations<'a> {
    method: &'a str,
    uri: &'a Htu,
    access_token_hash: Option<[u8; 32]>,
}

impl<'a> ProofExpectations<'a> {
    /// A request with this HTTP method (case-sensitive, RFC 9110 section 9.1) and
    /// target URI (built by the adapter with [`Htu::parse`]).
    pub fn new(method: &'a str, uri: &'a Htu) -> Self {
        Self {
            method,
            uri,
            access_token_hash: None,
        }
    }

    /// The request also presents `access_token` (a resource request, RFC 9449
    /// section 7): the proof must then carry a matching `ath`. Only the token's
    /// SHA-256 hash is kept.
    pub fn with_access_token(mut self, access_token: &str) -> Self {
        self.access_token_hash = Some(Sha256::digest(access_token.as_bytes()).into());
        self
    }
}

/// A proof that passed every check of RFC 9449 section 4.3.
#[derive(Clone, Debug)]
pub struct ValidatedProof {
    jwk: PublicJwk,
    jkt: JwkThumbprint,
    jti: String,
    iat: UnixTime,
    htm: String,
    htu: Htu,
}

impl ValidatedProof {
    /// The JWK SHA-256 thumbprint of the proof's key (RFC 7638), to bind tokens to
    /// (`cnf.jkt`, RFC 9449 section 6.1).
    pub fn jkt(&self) -> &JwkThumbprint {
        &self.jkt
    }

    /// The proof's public key (the `jwk` header).
    pub fn public_key(&self) -> &PublicJwk {
        &self.jwk
    }

    /// The `jti` claim.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The `iat` claim.
    pub fn iat(&self) -> UnixTime {
        self.iat
    }

    /// The `htm` claim.
    pub fn htm(&self) -> &str {
        &self.htm
    }

    /// The `htu` claim, normalized.
    pub fn htu(&self) -> &Htu {
        &self.htu
    }
}

/// Checks the DPoP proof of one request (RFC 9449 section 4.3) and records its use.
///
/// `headers` holds the values of every `DPoP` header field of the request, as the
/// adapter received them: none is [`DpopError::MissingProof`], more than one is
/// [`DpopError::MultipleProofs`] (check 1). The remaining checks, each with its
/// own error, are: a single compact JWS of at most
/// [`DpopConfig::max_proof_len`] bytes (check 2), `typ` exactly `dpop+jwt`
/// (check 4), `alg` in [`DpopConfig::algorithms`] (check 5), a `jwk` header with
/// no private members (check 7) whose key verifies the signature (check 6), the
/// claims `jti`, `htm`, `htu` and `iat` present (check 3) with a `jti` of bounded
/// length (section 11.1), `htm` equal to the method (check 8), `htu` equal to the
/// request URI after [`Htu::parse`] normalization (check 9), `iat` no older than
/// [`DpopConfig::max_age`] and no further ahead than
/// [`DpopConfig::max_future_skew`] (check 11), `ath` equal to the hash of the
/// access token when one is presented (check 12, section 7), a recent server
/// nonce when [`DpopConfig::nonces`] is set (check 10, sections 8 and 9), and
/// finally that the proof was not used before (section 11.1).
///
/// The replay check runs last, so only otherwise valid proofs take room in the
/// cache. Its key is [`ReplayKey::new`] over `htu`, the key thumbprint and `jti`;
/// the entry lives until `iat + max_age`, after which the proof is refused as
/// expired anyway.
///
/// The key binding of an access token or refresh token (check 12, second bullet)
/// is a separate step: [`check_key_binding`](crate::check_key_binding).
pub fn validate_proof<H: AsRef<[u8]>>(
    headers: &[H],
    expected: &ProofExpectations<'_>,
    now: UnixTime,
    replay: &mut impl ReplayCache,
    config: &DpopConfig,
) -> Result<ValidatedProof, DpopError> {
    // Check 1: exactly one DPoP header field.
    let proof = match headers {
        [] => return Err(DpopError::MissingProof),
        [one] => one.as_ref(),
        _ => return Err(DpopError::MultipleProofs),
    };
    if proof.len() > config.max_proof_len {
        return Err(DpopError::ProofTooLong);
    }
    let proof = core::str::from_utf8(proof).map_err(|_| DpopError::MalformedJwt)?;

    // Check 2: a single well-formed JWT.
    let jws = CompactJws::parse(proof, config.max_proof_len).map_err(|e| jose_error(&e))?;
    let header = jws.header();
    // Check 4.
    if header.typ.as_deref() != Some(DPOP_JWT_TYPE) {
        return Err(DpopError::WrongType);
    }
    // Check 5.
    if !config.algorithms.contains(&header.alg) {
        return Err(DpopError::AlgorithmNotAllowed);
    }
    // Check 7 is enforced by `PublicJwk::from_json` while the header is parsed.
    let jwk = header.jwk.as_ref().ok_or(DpopError::MissingJwk)?;
    // Check 6.
    jws.verify_with(jwk).map_err(|e| jose_error(&e))?;

    // Check 3.
    let claims: Claims =
        serde_json::from_slice(jws.payload()).map_err(|_| DpopError::MalformedClaims)?;
    let jti = claims.jti.ok_or(DpopError::MissingClaim("jti"))?;
    let htm = claims.htm.ok_or(DpopError::MissingClaim("htm"))?;
    let htu = claims.htu.ok_or(DpopError::MissingClaim("htu"))?;
    let iat = claims.iat.ok_or(DpopError::MissingClaim("iat"))?;
    let iat = numeric_date(&iat)?;
    if jti.is_empty() || jti.len() > config.max_jti_len {
        return Err(DpopError::JtiLength);
    }

    // Check 8.
    if htm != expected.method {
        return Err(DpopError::MethodMismatch);
    }
    // Check 9.
    let htu = Htu::parse(&htu)?;
    if &htu != expected.uri {
        return Err(DpopError::UriMismatch);
    }
    // Check 11.
    if iat > now.saturating_add(config.max_future_skew) {
        return Err(DpopError::IssuedInFuture);
    }
    if iat < now.saturating_sub(config.max_age) {
        return Err(DpopError::ProofExpired);
    }
    // Check 12, first bullet; RFC 9449 section 7.
    if let Some(token_hash) = &expected.access_token_hash {
        let ath = claims.ath.ok_or(DpopError::AthMissing)?;
        if !ath_matches(&ath, token_hash) {
            return Err(DpopError::AthMismatch);
        }
    }
    // Check 10; sections 8 and 9.
    if let Some(nonces) = &config.nonces {
        let Some(nonce) = claims.nonce else {
            return Err(DpopError::NonceMissing(nonces.issue(now)));
        };
        if nonces.check(&nonce, now) != NonceCheck::Valid {
            return Err(DpopError::NonceMismatch(nonces.issue(now)));
        }
    }

    let jkt = jwk.thumbprint();
    // Section 11.1: single use within the acceptance window.
    let key = ReplayKey::new(&htu, &jkt, &jti);
    let expires_at = iat.saturating_add(config.max_age);
    match replay.check_and_insert(key, expires_at, now) {
        ReplayOutcome::Fresh => {}
        ReplayOutcome::Replayed => return Err(DpopError::Replayed),
        ReplayOutcome::Full => return Err(DpopError::ReplayCacheFull),
    }

    Ok(ValidatedProof {
        jwk: jwk.clone(),
        jkt,
        jti,
        iat,
        htm,
        htu,
    })
}

/// The claims Latchkey reads; others are ignored (RFC 9449 section 4.2 allows
/// extensions). A repeated member is refused by serde.
#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<serde_json::Number>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// RFC 7519 section 2 `NumericDate`: non-negative seconds, fractions dropped.
fn numeric_date(n: &serde_json::Number) -> Result<UnixTime, DpopError> {
    if let Some(secs) = n.as_u64() {
        return Ok(UnixTime::from_secs(secs));
    }
    match n.as_f64() {
        Some(secs) if (0.0..1.0e19).contains(&secs) => {
            // Finite, non-negative and below u64::MAX: the cast is exact after floor.
            let whole = secs.floor() as u64;
            Ok(UnixTime::from_secs(whole))
        }
        _ => Err(DpopError::MalformedClaims),
    }
}

/// RFC 9449 section 4.2: `ath` is base64url(SHA-256(token)); compared in constant time.
fn ath_matches(ath: &str, token_hash: &[u8; 32]) -> bool {
    let mut decoded = [0u8; 32];
    if ath.len() != 43 {
        return false;
    }
    match Base64UrlUnpadded::decode(ath, &mut decoded) {
        Ok(bytes) if bytes.len() == 32 => decoded.ct_eq(token_hash).into(),
        _ => false,
    }
}

/// The DPoP error for a JOSE failure while parsing or verifying a proof.
fn jose_error(error: &JoseError) -> DpopError {
    match error {
        JoseError::TokenTooLong => DpopError::ProofTooLong,
        JoseError::UnsupportedAlgorithm => DpopError::AlgorithmNotAllowed,
        JoseError::PrivateKeyMaterial => DpopError::PrivateKeyInJwk,
        JoseError::BadSignature => DpopError::BadSignature,
        // RFC 8725 section 3.1: the key decides the algorithm; a header naming
        // another algorithm than its own `jwk` is an unusable key for this proof.
        JoseError::AlgorithmMismatch
        | JoseError::MalformedJwk
        | JoseError::UnsupportedKeyType
        | JoseError::UnsupportedCurve
        | JoseError::InvalidPublicKey
        | JoseError::JwkAlgorithmMismatch
        | JoseError::KeyNotForSignature
        | JoseError::RsaKeyTooShort
        | JoseError::RsaKeyTooLong => DpopError::InvalidJwk,
        // `JoseError` is non-exhaustive: anything else about the token's form,
        // now or later, is a malformed JWT (RFC 9449 section 4.3 check 2).
        _ => DpopError::MalformedJwt,
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use latchkey_jose::{JoseHeader, SigningKey};
    use latchkey_types::ErrorCode;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use serde_json::{Value, json};

    use super::*;
    use crate::{MemoryReplayCache, NonceKey, check_key_binding};

    const NOW: u64 = 1_700_000_000;
    const URI: &str = "https://as.example.com/token";

    // RFC 9449 section 4.1 Figure 2 / section 5 Figure 5 (token request).
    const FIGURE_2: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ",
        ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg",
    );
    // RFC 9449 section 5 Figure 7 (refresh token request).
    const FIGURE_7: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ",
        ".pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA",
    );
    // RFC 9449 section 7.1 Figure 13 (resource request with `ath`).
    const FIGURE_13: &str = concat!(
        "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19",
        ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9",
        ".2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA",
    );
    // RFC 9449 section 5 Figure 6: the access token Figure 13 presents.
    const FIGURE_6_ACCESS_TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";
    // RFC 9449 section 6.1 Figure 9: the thumbprint of the examples' key.
    const FIGURE_9_JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    fn now() -> UnixTime {
        UnixTime::from_secs(NOW)
    }

    fn uri() -> Htu {
        Htu::parse(URI).unwrap()
    }

    fn es_key(seed: u64) -> SigningKey {
        SigningKey::generate(
            Algorithm::Es256,
            String::new(),
            &mut ChaCha20Rng::seed_from_u64(seed),
        )
    }

    fn ed_key(seed: u64) -> SigningKey {
        SigningKey::generate(
            Algorithm::EdDsa,
            String::new(),
            &mut ChaCha20Rng::seed_from_u64(seed),
        )
    }

    fn claims() -> Value {
        json!({"jti": "jti-1", "htm": "POST", "htu": URI, "iat": NOW})
    }

    fn sign(key: &SigningKey, payload: &Value) -> String {
        let header = JoseHeader::new(key.algorithm())
            .with_typ(DPOP_JWT_TYPE)
            .with_jwk(key.public_jwk());
        key.sign_compact(&header, payload.to_string().as_bytes())
    }

    fn with(mut payload: Value, name: &str, value: Value) -> Value {
        payload[name] = value;
        payload
    }

    fn without(mut payload: Value, name: &str) -> Value {
        payload.as_object_mut().unwrap().remove(name);
        payload
    }

    fn check_with(proof: &str, config: &DpopConfig) -> Result<ValidatedProof, DpopError> {
        let uri = uri();
        let expected = ProofExpectations::new("POST", &uri);
        validate_proof(
            &[proof],
            &expected,
            now(),
            &mut MemoryReplayCache::new(8),
            config,
        )
    }

    fn check(proof: &str) -> Result<ValidatedProof, DpopError> {
        check_with(proof, &DpopConfig::default())
    }

    fn err(result: Result<ValidatedProof, DpopError>) -> DpopError {
        result.unwrap_err()
    }

    fn b64(bytes: &[u8]) -> String {
        Base64UrlUnpadded::encode_string(bytes)
    }

    /// A token with a hand-written header and payload, signed with an Ed25519 seed.
    fn raw_token(header: &str, payload: &str, seed: u8) -> String {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        let signature = pair.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.as_ref()))
    }

    fn raw_jwk(seed: u8) -> Value {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[seed; 32]).unwrap();
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
    }

    fn raw_header(alg: &str, typ: &str, jwk: &Value) -> String {
        json!({"alg": alg, "typ": typ, "jwk": jwk}).to_string()
    }

    #[test]
    fn rfc_9449_figure_2_proof_validates_at_the_token_endpoint() {
        let uri = Htu::parse("https://server.example.com/token").unwrap();
        let expected = ProofExpectations::new("POST", &uri);
        let at = UnixTime::from_secs(1_562_262_616);
        let mut cache = MemoryReplayCache::new(8);
        let config = DpopConfig::default();
        let proof = validate_proof(&[FIGURE_2], &expected, at, &mut cache, &config).unwrap();
        assert_eq!(proof.jkt().to_encoded(), FIGURE_9_JKT);
        assert_eq!(proof.jti(), "-BwC3ESc6acc2lTc");
        assert_eq!(proof.htm(), "POST");
        assert_eq!(proof.htu(), &uri);
        assert_eq!(proof.iat(), at);
        assert_eq!(proof.public_key().algorithm(), Algorithm::Es256);
        // Section 11.1: the same proof again is a replay.
        assert_eq!(
            validate_proof(&[FIGURE_2], &expected, at, &mut cache, &config).unwrap_err(),
            DpopError::Replayed
        );
    }

    #[test]
    fn rfc_9449_section_5_figure_7_refresh_proof_is_checked_against_the_bound_key() {
        let uri = Htu::parse("https://server.example.com/token").unwrap();
        let expected = ProofExpectations::new("POST", &uri);
        let at = UnixTime::from_secs(1_562_265_300);
        let mut cache = MemoryReplayCache::new(8);
        let config = DpopConfig::default();
        let proof = validate_proof(&[FIGURE_7], &expected, at, &mut cache, &config).unwrap();
        let bound = JwkThumbprint::parse(FIGURE_9_JKT).unwrap();
        assert_eq!(check_key_binding(&proof, &bound), Ok(()));
        let other = JwkThumbprint::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
        let mismatch = check_key_binding(&proof, &other).unwrap_err();
        assert_eq!(mismatch, DpopError::KeyBindingMismatch);
        assert_eq!(mismatch.token_endpoint_code(), ErrorCode::InvalidGrant);
    }

    #[test]
    fn rfc_9449_section_7_1_figure_13_resource_proof_checks_ath_and_binding() {
        let uri = Htu::parse("https://resource.example.org/protectedresource").unwrap();
        let at = UnixTime::from_secs(1_562_262_618);
        let config = DpopConfig::default();
        let expected = ProofExpectations::new("GET", &uri).with_access_token(FIGURE_6_ACCESS_TOKEN);
        let proof = validate_proof(
            &[FIGURE_13],
            &expected,
            at,
            &mut MemoryReplayCache::new(8),
            &config,
        )
        .unwrap();
        assert_eq!(
            check_key_binding(&proof, &JwkThumbprint::parse(FIGURE_9_JKT).unwrap()),
            Ok(())
        );
        // Section 7.1 Figure 16: a key mismatch at the resource is invalid_token.
        let other = JwkThumbprint::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
        let mismatch = check_key_binding(&proof, &other).unwrap_err();
        assert_eq!(ErrorCode::from(&mismatch), ErrorCode::InvalidToken);
        // Without a presented access token (the token endpoint) `ath` is not looked at.
        let expected_no_token = ProofExpectations::new("GET", &uri);
        assert!(
            validate_proof(
                &[FIGURE_13],
                &expected_no_token,
                at,
                &mut MemoryReplayCache::new(8),
                &config
            )
            .is_ok()
        );
        // Section 4.3 check 12: another access token does not match `ath`.
        let expected = ProofExpectations::new("GET", &uri).with_access_token("another-token");
        assert_eq!(
            validate_proof(
                &[FIGURE_13],
                &expected,
                at,
                &mut MemoryReplayCache::new(8),
                &config
            )
            .unwrap_err(),
            DpopError::AthMismatch
        );
    }

    #[test]
    fn rfc_9449_section_7_ath_is_required_with_an_access_token() {
        let key = es_key(1);
        let uri = uri();
        let config = DpopConfig::default();
        let token = "access-token-value";
        let expected = ProofExpectations::new("POST", &uri).with_access_token(token);
        let validate = |proof: &str| {
            validate_proof(
                &[proof],
                &expected,
                now(),
                &mut MemoryReplayCache::new(8),
                &config,
            )
        };
        assert_eq!(err(validate(&sign(&key, &claims()))), DpopError::AthMissing);
        let ath = b64(&Sha256::digest(token.as_bytes()));
        assert!(validate(&sign(&key, &with(claims(), "ath", json!(ath)))).is_ok());
        for bad in [
            b64(&Sha256::digest(b"other")),
            format!("{ath}="),
            ath.to_uppercase(),
            String::new(),
            token.to_owned(),
        ] {
            assert_eq!(
                err(validate(&sign(&key, &with(claims(), "ath", json!(bad))))),
                DpopError::AthMismatch
            );
        }
        assert_eq!(
            err(validate(&sign(&key, &with(claims(), "ath", json!(1))))),
            DpopError::MalformedClaims
        );
    }

    #[test]
    fn es256_and_eddsa_proofs_validate() {
        for key in [es_key(1), ed_key(2)] {
            let proof = check(&sign(&key, &claims())).unwrap();
            assert_eq!(proof.jkt(), &key.public_jwk().thumbprint());
            assert_eq!(proof.public_key().algorithm(), key.algorithm());
        }
    }

    #[test]
    fn rfc_9449_section_4_3_check_1_exactly_one_dpop_header() {
        let proof = sign(&es_key(1), &claims());
        let uri = uri();
        let expected = ProofExpectations::new("POST", &uri);
        let config = DpopConfig::default();
        let mut cache = MemoryReplayCache::new(8);
        let none: [&str; 0] = [];
        assert_eq!(
            err(validate_proof(&none, &expected, now(), &mut cache, &config)),
            DpopError::MissingProof
        );
        assert_eq!(
            err(validate_proof(
                &[&proof, &proof],
                &expected,
                now(),
                &mut cache,
                &config
            )),
            DpopError::MultipleProofs
        );
        // Raw header bytes work too.
        assert!(validate_proof(&[proof.as_bytes()], &expected, now(), &mut cache, &config).is_ok());
    }

    #[test]
    fn rfc_9449_section_4_3_check_2_well_formed_jwt_of_bounded_size() {
        let proof = sign(&es_key(1), &claims());
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "...",
            &proof[..proof.len() - 1],
        ] {
            assert_eq!(err(check(bad)), DpopError::MalformedJwt, "{bad:?}");
        }
        assert_eq!(
            err(check_with(
                &proof,
                &DpopConfig {
                    max_proof_len: proof.len() - 1,
                    ..DpopConfig::default()
                }
            )),
            DpopError::ProofTooLong
        );
        assert!(
            check_with(
                &proof,
                &DpopConfig {
                    max_proof_len: proof.len(),
                    ..DpopConfig::default()
                }
            )
            .is_ok()
        );
        let uri = uri();
        let expected = ProofExpectations::new("POST", &uri);
        let not_utf8: &[u8] = b"\xff.\xfe.\xfd";
        assert_eq!(
            err(validate_proof(
                &[not_utf8],
                &expected,
                now(),
                &mut MemoryReplayCache::new(1),
                &DpopConfig::default()
            )),
            DpopError::MalformedJwt
        );
        // Payload that is not a JSON object.
        let jwk = raw_jwk(1);
        let header = raw_header("EdDSA", "dpop+jwt", &jwk);
        assert_eq!(
            err(check(&raw_token(&header, "[1]", 1))),
            DpopError::MalformedClaims
        );
        assert_eq!(
            err(check(&raw_token(&header, "not json", 1))),
            DpopError::MalformedClaims
        );
    }

    #[test]
    fn rfc_9449_section_4_3_check_4_typ_must_be_dpop_jwt_exactly() {
        let key = es_key(1);
        let payload = claims().to_string();
        for typ in [
            None,
            Some("jwt"),
            Some("DPoP+jwt"),
            Some("application/dpop+jwt"),
            Some("at+jwt"),
        ] {
            let mut header = JoseHeader::new(Algorithm::Es256).with_jwk(key.public_jwk());
            if let Some(typ) = typ {
                header = header.with_typ(typ);
            }
            let proof = key.sign_compact(&header, payload.as_bytes());
            assert_eq!(err(check(&proof)), DpopError::WrongType, "{typ:?}");
        }
    }

    #[test]
    fn rfc_9449_section_4_3_check_5_alg_must_be_asymmetric_and_allowed() {
        let jwk = raw_jwk(1);
        let payload = claims().to_string();
        for alg in ["none", "HS256", "HS512", "RS256", "ES384", "es256", ""] {
            let proof = raw_token(&raw_header(alg, "dpop+jwt", &jwk), &payload, 1);
            assert_eq!(err(check(&proof)), DpopError::AlgorithmNotAllowed, "{alg}");
        }
        // `none` with an empty signature segment, the classic form.
        let unsigned = format!(
            "{}.{}.",
            b64(raw_header("none", "dpop+jwt", &jwk).as_bytes()),
            b64(payload.as_bytes())
        );
        assert_eq!(err(check(&unsigned)), DpopError::AlgorithmNotAllowed);
        // Local policy: EdDSA is valid but not allowed here.
        let config = DpopConfig {
            algorithms: vec![Algorithm::Es256],
            ..DpopConfig::default()
        };
        assert_eq!(
            err(check_with(&sign(&ed_key(1), &claims()), &config)),
            DpopError::AlgorithmNotAllowed
        );
        assert!(check_with(&sign(&es_key(1), &claims()), &config).is_ok());
        assert_eq!(config.algs_parameter(), "ES256");
        assert_eq!(DpopConfig::default().algs_parameter(), "ES256 EdDSA");
    }

    #[test]
    fn rfc_9449_section_4_2_jwk_header_is_required() {
        let key = es_key(1);
        let header = JoseHeader::new(Algorithm::Es256).with_typ(DPOP_JWT_TYPE);
        let proof = key.sign_compact(&header, claims().to_string().as_bytes());
        assert_eq!(err(check(&proof)), DpopError::MissingJwk);
    }

    #[test]
    fn rfc_9449_section_4_3_check_7_jwk_must_not_contain_a_private_key() {
        let mut jwk = raw_jwk(1);
        jwk["d"] = json!(b64(&[1; 32]));
        let proof = raw_token(
            &raw_header("EdDSA", "dpop+jwt", &jwk),
            &claims().to_string(),
            1,
        );
        assert_eq!(err(check(&proof)), DpopError::PrivateKeyInJwk);
        let mut jwk = raw_jwk(1);
        jwk["k"] = json!("c2VjcmV0");
        let proof = raw_token(
            &raw_header("EdDSA", "dpop+jwt", &jwk),
            &claims().to_string(),
            1,
        );
        assert_eq!(err(check(&proof)), DpopError::PrivateKeyInJwk);
    }

    #[test]
    fn unusable_jwk_is_refused() {
        let payload = claims().to_string();
        for jwk in [
            json!({"kty": "oct", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            json!({"kty": "OKP", "crv": "X25519", "x": b64(&[1; 32])}),
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&[1; 31])}),
            json!({"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}),
            json!("not an object"),
        ] {
            let proof = raw_token(&raw_header("EdDSA", "dpop+jwt", &jwk), &payload, 1);
            let error = err(check(&proof));
            assert!(
                matches!(error, DpopError::InvalidJwk | DpopError::PrivateKeyInJwk),
                "{jwk}: {error:?}"
            );
        }
        let proof = raw_token(
            &raw_header(
                "EdDSA",
                "dpop+jwt",
                &json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
            ),
            &payload,
            1,
        );
        assert_eq!(err(check(&proof)), DpopError::InvalidJwk);
        // `alg` ES256 over an Ed25519 key: the key decides, the token does not.
        let proof = raw_token(&raw_header("ES256", "dpop+jwt", &raw_jwk(1)), &payload, 1);
        assert_eq!(err(check(&proof)), DpopError::InvalidJwk);
    }

    #[test]
    fn rfc_9449_section_4_3_check_6_signature_must_verify_with_the_jwk() {
        // Signed by key 2, carrying key 1.
        let proof = raw_token(
            &raw_header("EdDSA", "dpop+jwt", &raw_jwk(1)),
            &claims().to_string(),
            2,
        );
        assert_eq!(err(check(&proof)), DpopError::BadSignature);
        // Payload swapped after signing.
        let key = es_key(1);
        let good = sign(&key, &claims());
        let other = sign(
            &key,
            &with(claims(), "htu", json!("https://as.example.com/other")),
        );
        let mut good_parts = good.split('.');
        let mut other_parts = other.split('.');
        let spliced = format!(
            "{}.{}.{}",
            good_parts.next().unwrap(),
            {
                other_parts.next();
                other_parts.next().unwrap()
            },
            {
                good_parts.next();
                good_parts.next().unwrap()
            },
        );
        assert_eq!(err(check(&spliced)), DpopError::BadSignature);
    }

    #[test]
    fn rfc_9449_section_4_3_check_3_required_claims() {
        let key = es_key(1);
        for name in ["jti", "htm", "htu", "iat"] {
            assert_eq!(
                err(check(&sign(&key, &without(claims(), name)))),
                DpopError::MissingClaim(name)
            );
        }
        for (name, value) in [
            ("jti", json!(1)),
            ("htm", json!(true)),
            ("htu", json!([])),
            ("iat", json!("1700000000")),
            ("iat", json!(-1)),
            ("nonce", json!(5)),
        ] {
            assert_eq!(
                err(check(&sign(&key, &with(claims(), name, value.clone())))),
                DpopError::MalformedClaims,
                "{name}: {value}"
            );
        }
        // JSON null is the same as absent.
        assert_eq!(
            err(check(&sign(&key, &with(claims(), "jti", json!(null))))),
            DpopError::MissingClaim("jti")
        );
        // A repeated claim is refused rather than read one way or the other.
        let header = raw_header("EdDSA", "dpop+jwt", &raw_jwk(1));
        let payload =
            format!(r#"{{"jti":"a","htm":"GET","htm":"POST","htu":"{URI}","iat":{NOW}}}"#);
        assert_eq!(
            err(check(&raw_token(&header, &payload, 1))),
            DpopError::MalformedClaims
        );
        // Unknown claims are fine (section 4.2: extensions).
        assert!(check(&sign(&key, &with(claims(), "ext", json!({"a": 1})))).is_ok());
    }

    #[test]
    fn rfc_9449_section_11_1_jti_length_is_bounded() {
        let key = es_key(1);
        assert_eq!(
            err(check(&sign(&key, &with(claims(), "jti", json!(""))))),
            DpopError::JtiLength
        );
        let long = "j".repeat(129);
        assert_eq!(
            err(check(&sign(&key, &with(claims(), "jti", json!(long))))),
            DpopError::JtiLength
        );
        assert!(check(&sign(&key, &with(claims(), "jti", json!("j".repeat(128))))).is_ok());
    }

    #[test]
    fn rfc_9449_section_4_3_check_8_htm_must_equal_the_method() {
        let key = es_key(1);
        for htm in ["GET", "post", "POST ", ""] {
            assert_eq!(
                err(check(&sign(&key, &with(claims(), "htm", json!(htm))))),
                DpopError::MethodMismatch,
                "{htm:?}"
            );
        }
    }

    #[test]
    fn rfc_9449_section_4_3_check_9_htu_must_match_after_normalization() {
        let key = es_key(1);
        for same in [
            "https://as.example.com/token",
            "HTTPS://AS.Example.com:443/token",
            "https://as.example.com/%74oken",
            "https://as.example.com/token?query=1",
            "https://as.example.com/token#fragment",
            "https://as.example.com/x/../token",
        ] {
            assert!(
                check(&sign(&key, &with(claims(), "htu", json!(same)))).is_ok(),
                "{same}"
            );
        }
        for other in [
            "https://as.example.com/token/",
            "https://as.example.com/Token",
            "http://as.example.com/token",
            "https://as.example.com:8443/token",
            "https://rs.example.com/token",
        ] {
            assert_eq!(
                err(check(&sign(&key, &with(claims(), "htu", json!(other))))),
                DpopError::UriMismatch,
                "{other}"
            );
        }
        for malformed in [
            "/token",
            "as.example.com/token",
            "https://as.example.com/to ken",
        ] {
            assert_eq!(
                err(check(&sign(&key, &with(claims(), "htu", json!(malformed))))),
                DpopError::HtuMalformed,
                "{malformed}"
            );
        }
    }

    #[test]
    fn rfc_9449_section_4_3_check_11_iat_within_the_window() {
        let key = es_key(1);
        let iat = |secs: u64| sign(&key, &with(claims(), "iat", json!(secs)));
        assert!(check(&iat(NOW - 60)).is_ok());
        assert_eq!(err(check(&iat(NOW - 61))), DpopError::ProofExpired);
        assert_eq!(err(check(&iat(0))), DpopError::ProofExpired);
        assert!(check(&iat(NOW + 5)).is_ok());
        assert_eq!(err(check(&iat(NOW + 6))), DpopError::IssuedInFuture);
        assert_eq!(err(check(&iat(u64::MAX))), DpopError::IssuedInFuture);
        // RFC 7519 NumericDate may carry a fraction.
        assert!(check(&sign(&key, &with(claims(), "iat", json!(1_699_999_999.5)))).is_ok());
        assert_eq!(
            err(check(&sign(&key, &with(claims(), "iat", json!(1.0e300))))),
            DpopError::MalformedClaims
        );
        // The window is configurable.
        let config = DpopConfig {
            max_age: Duration::from_secs(10),
            max_future_skew: Duration::ZERO,
            ..DpopConfig::default()
        };
        assert_eq!(
            err(check_with(&iat(NOW - 11), &config)),
            DpopError::ProofExpired
        );
        assert_eq!(
            err(check_with(&iat(NOW + 1), &config)),
            DpopError::IssuedInFuture
        );
        assert!(check_with(&iat(NOW), &config).is_ok());
    }

    #[test]
    fn rfc_9449_section_8_nonce_required_missing_stale_or_forged_is_use_dpop_nonce() {
        let key = es_key(1);
        let nonces =
            DpopNonces::with_slot_length(NonceKey::new(&[9; 32]).unwrap(), Duration::from_secs(60));
        let config = DpopConfig {
            nonces: Some(nonces.clone()),
            ..DpopConfig::default()
        };
        let fresh = nonces.issue(now());

        let missing = err(check_with(&sign(&key, &claims()), &config));
        assert_eq!(missing, DpopError::NonceMissing(fresh.clone()));
        assert_eq!(ErrorCode::from(&missing), ErrorCode::UseDpopNonce);
        assert_eq!(missing.fresh_nonce(), Some(&fresh));

        let with_nonce = |nonce: &str| sign(&key, &with(claims(), "nonce", json!(nonce)));
        assert!(check_with(&with_nonce(fresh.as_str()), &config).is_ok());
        // Section 8.2: the previous slot's nonce is still accepted.
        let previous = nonces.issue(UnixTime::from_secs(NOW - 60));
        assert!(check_with(&with_nonce(previous.as_str()), &config).is_ok());
        let stale = nonces.issue(UnixTime::from_secs(NOW - 120));
        assert_eq!(
            err(check_with(&with_nonce(stale.as_str()), &config)),
            DpopError::NonceMismatch(fresh.clone())
        );
        // Section 9: another server's nonce.
        let foreign =
            DpopNonces::with_slot_length(NonceKey::new(&[8; 32]).unwrap(), Duration::from_secs(60))
                .issue(now());
        assert_eq!(
            err(check_with(&with_nonce(foreign.as_str()), &config)),
            DpopError::NonceMismatch(fresh.clone())
        );
        assert_eq!(
            err(check_with(&with_nonce("eyJ7S_zG.eyJH0-Z.HX4w-7v"), &config)),
            DpopError::NonceMismatch(fresh)
        );
        // Without a nonce policy a nonce claim is ignored.
        assert!(check(&with_nonce("anything")).is_ok());
    }

    #[test]
    fn rfc_9449_section_11_1_replay_is_refused_per_htu_and_cache_fails_closed() {
        let key = es_key(1);
        let uri = uri();
        let expected = ProofExpectations::new("POST", &uri);
        let config = DpopConfig::default();
        let mut cache = MemoryReplayCache::new(2);
        let first = sign(&key, &claims());
        assert!(validate_proof(&[&first], &expected, now(), &mut cache, &config).is_ok());
        assert_eq!(
            err(validate_proof(
                &[&first],
                &expected,
                now(),
                &mut cache,
                &config
            )),
            DpopError::Replayed
        );
        // A new signature over the same claims is the same jti: still a replay.
        let resigned = sign(&key, &claims());
        assert_eq!(
            err(validate_proof(
                &[&resigned],
                &expected,
                now(),
                &mut cache,
                &config
            )),
            DpopError::Replayed
        );
        // An invalid proof takes no room.
        let invalid = sign(&key, &with(claims(), "htm", json!("GET")));
        assert_eq!(
            err(validate_proof(
                &[&invalid],
                &expected,
                now(),
                &mut cache,
                &config
            )),
            DpopError::MethodMismatch
        );
        assert_eq!(cache.len(), 1);
        let second = sign(&key, &with(claims(), "jti", json!("jti-2")));
        assert!(validate_proof(&[&second], &expected, now(), &mut cache, &config).is_ok());
        // Full of live entries: refused, not forgotten.
        let third = sign(&key, &with(claims(), "jti", json!("jti-3")));
        let full = err(validate_proof(
            &[&third],
            &expected,
            now(),
            &mut cache,
            &config,
        ));
        assert_eq!(full, DpopError::ReplayCacheFull);
        assert_eq!(ErrorCode::from(&full), ErrorCode::TemporarilyUnavailable);
        assert_eq!(
            err(validate_proof(
                &[&first],
                &expected,
                now(),
                &mut cache,
                &config
            )),
            DpopError::Replayed
        );
        // After the window, entries expire; the old proofs are refused as expired anyway.
        let later = UnixTime::from_secs(NOW + 61);
        assert_eq!(
            err(validate_proof(
                &[&first],
                &expected,
                later,
                &mut cache,
                &config
            )),
            DpopError::ProofExpired
        );
        let fresh = sign(
            &key,
            &with(
                with(claims(), "jti", json!("jti-3")),
                "iat",
                json!(NOW + 61),
            ),
        );
        assert!(validate_proof(&[&fresh], &expected, later, &mut cache, &config).is_ok());
    }

    #[test]
    fn same_jti_at_another_uri_or_with_another_key_is_not_a_replay() {
        let uri_a = uri();
        let uri_b = Htu::parse("https://as.example.com/par").unwrap();
        let config = DpopConfig::default();
        let mut cache = MemoryReplayCache::new(8);
        let key = es_key(1);
        let a = sign(&key, &claims());
        let b = sign(&key, &with(claims(), "htu", json!(uri_b.as_str())));
        assert!(
            validate_proof(
                &[&a],
                &ProofExpectations::new("POST", &uri_a),
                now(),
                &mut cache,
                &config
            )
            .is_ok()
        );
        assert!(
            validate_proof(
                &[&b],
                &ProofExpectations::new("POST", &uri_b),
                now(),
                &mut cache,
                &config
            )
            .is_ok()
        );
        let other_key = sign(&es_key(2), &claims());
        assert!(
            validate_proof(
                &[&other_key],
                &ProofExpectations::new("POST", &uri_a),
                now(),
                &mut cache,
                &config
            )
            .is_ok()
        );
    }

    fn method() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("GET"),
            Just("POST"),
            Just("PUT"),
            Just("DELETE"),
            Just("get")
        ]
    }

    fn target() -> impl Strategy<Value = String> {
        ("(as|rs)\\.example\\.com", "(/[a-z]{1,3}){0,2}")
            .prop_map(|(host, path)| format!("https://{host}{path}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn proof_validates_only_for_its_method_and_uri(
            m1 in method(), u1 in target(), m2 in method(), u2 in target(),
        ) {
            let key = ed_key(3);
            let proof = sign(&key, &json!({"jti": "p", "htm": m1, "htu": u1, "iat": NOW}));
            let uri = Htu::parse(&u2).unwrap();
            let expected = ProofExpectations::new(m2, &uri);
            let result = validate_proof(&[&proof], &expected, now(), &mut MemoryReplayCache::new(1), &DpopConfig::default());
            if m1 != m2 {
                prop_assert_eq!(result.unwrap_err(), DpopError::MethodMismatch);
            } else if Htu::parse(&u1).unwrap() != uri {
                prop_assert_eq!(result.unwrap_err(), DpopError::UriMismatch);
            } else {
                prop_assert!(result.is_ok());
            }
        }

        #[test]
        fn validation_never_panics_on_random_strings(s in "\\PC{0,300}") {
            crate::fuzzing::dpop_proof(s.as_bytes());
        }

        #[test]
        fn validation_never_panics_on_jws_shaped_input(
            h in "[A-Za-z0-9_-]{0,80}", p in "[A-Za-z0-9_-]{0,80}", s in "[A-Za-z0-9_-]{0,90}",
        ) {
            crate::fuzzing::dpop_proof(format!("{h}.{p}.{s}").as_bytes());
        }

        #[test]
        fn any_single_character_change_is_refused(index in 0usize..2000, replacement in "[A-Za-z0-9_.-]") {
            let index = index % FIGURE_2.len();
            let mut tampered = FIGURE_2.to_owned();
            tampered.replace_range(index..=index, &replacement);
            prop_assume!(tampered != FIGURE_2);
            let uri = Htu::parse("https://server.example.com/token").unwrap();
            let expected = ProofExpectations::new("POST", &uri);
            let at = UnixTime::from_secs(1_562_262_616);
            let result = validate_proof(&[&tampered], &expected, at, &mut MemoryReplayCache::new(1), &DpopConfig::default());
            prop_assert!(result.is_err());
        }
    }
}
