use core::fmt;

use aws_lc_rs::digest::{SHA256, SHA384, digest};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
    EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair,
};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::jws::push_json_string;
use crate::{Algorithm, JoseError, JoseHeader, PublicJwk, b64};

/// A private signing key, parsed once into aws-lc's form: ES256, ES384 or EdDSA.
///
/// Latchkey does not sign with RSA: RS256 and PS256 are for verifying what other
/// parties sign ([`PublicJwk`]).
///
/// It cannot be cloned or serialized, and its `Debug` shows only the type name.
/// [`SigningKey::to_pkcs8`] is the one way its secret leaves it, for storage.
pub struct SigningKey {
    kid: String,
    pair: KeyPairInner,
    public: PublicJwk,
}

impl SigningKey {
    /// Generates a key from the caller's RNG.
    ///
    /// Ed25519 keys come from a 32-byte seed (RFC 8032 section 5.1.5). P-256 and
    /// P-384 keys come from 32 or 48 random bytes used as the scalar of an RFC 5915
    /// `ECPrivateKey`; a value outside `[1, n-1]` (probability about 2^-32 for
    /// P-256) is drawn again.
    ///
    /// # Panics
    ///
    /// If `rng` yields 64 invalid scalars in a row, which a working cryptographic
    /// RNG does with probability below 2^-2000: the RNG is broken, and continuing
    /// would mean signing with a predictable key. And if `alg` is RS256 or PS256:
    /// Latchkey signs with no RSA key (an RSA key cannot be drawn from the
    /// caller's RNG with aws-lc), which is a programming error, not an input.
    pub fn generate(alg: Algorithm, kid: String, rng: &mut impl CryptoRng) -> Self {
        match alg {
            Algorithm::EdDsa => {
                let mut secret = Zeroizing::new([0u8; 32]);
                rng.fill_bytes(secret.as_mut());
                let pair = Ed25519KeyPair::from_seed_unchecked(secret.as_ref())
                    .expect("every 32-byte string is an Ed25519 seed (RFC 8032 section 5.1.5)");
                Self::from_pair(kid, KeyPairInner::EdDsa(pair))
                    .expect("aws-lc derives a 32-byte Ed25519 public key")
            }
            Algorithm::Es256 => {
                let pair = generate_ecdsa::<32>(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &P256_DER_PREFIX,
                    &P256_DER_SUFFIX,
                    rng,
                );
                Self::from_pair(kid, KeyPairInner::Es256(pair))
                    .expect("aws-lc derives an uncompressed P-256 public key")
            }
            Algorithm::Es384 => {
                let pair = generate_ecdsa::<48>(
                    &ECDSA_P384_SHA384_FIXED_SIGNING,
                    &P384_DER_PREFIX,
                    &P384_DER_SUFFIX,
                    rng,
                );
                Self::from_pair(kid, KeyPairInner::Es384(pair))
                    .expect("aws-lc derives an uncompressed P-384 public key")
            }
            Algorithm::Rs256 | Algorithm::Ps256 => {
                panic!("Latchkey signs with ES256, ES384 or EdDSA, never with an RSA key")
            }
        }
    }

    /// Reads a key from an unencrypted PKCS#8 document (RFC 5208 / RFC 5958), as
    /// [`SigningKey::to_pkcs8`] writes it. The key must be of `alg`'s type; RS256
    /// and PS256 are refused (Latchkey does not sign with RSA).
    pub fn from_pkcs8(alg: Algorithm, kid: String, der: &[u8]) -> Result<Self, JoseError> {
        let pair = match alg {
            Algorithm::Es256 => KeyPairInner::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| JoseError::InvalidPrivateKey)?,
            ),
            Algorithm::Es384 => KeyPairInner::Es384(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, der)
                    .map_err(|_| JoseError::InvalidPrivateKey)?,
            ),
            Algorithm::EdDsa => KeyPairInner::EdDsa(
                Ed25519KeyPair::from_pkcs8(der).map_err(|_| JoseError::InvalidPrivateKey)?,
            ),
            Algorithm::Rs256 | Algorithm::Ps256 => return Err(JoseError::InvalidPrivateKey),
        };
        Self::from_pair(kid, pair)
    }

    /// The key as an unencrypted PKCS#8 document, for the server's key storage
    /// (PKCS#8 v1 for P-256 and P-384, v2 with the public key for Ed25519).
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        let document = match &self.pair {
            KeyPairInner::Es256(pair) | KeyPairInner::Es384(pair) => pair.to_pkcs8v1(),
            KeyPairInner::EdDsa(pair) => pair.to_pkcs8(),
        }
        .expect("aws-lc serializes a key it parsed; only allocation can fail");
        Zeroizing::new(document.as_ref().to_vec())
    }

    /// The key id published in the JWK Set and written into every header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            KeyPairInner::Es256(_) => Algorithm::Es256,
            KeyPairInner::Es384(_) => Algorithm::Es384,
            KeyPairInner::EdDsa(_) => Algorithm::EdDsa,
        }
    }

    /// The public half as a JWK with `kid`, `alg` and `use: sig`, as a JWK Set
    /// publishes it (RFC 7517 section 4).
    pub fn public_jwk(&self) -> PublicJwk {
        self.public.clone()
    }

    /// Signs `payload` into a compact JWS (RFC 7515 section 5.1 and 7.1).
    ///
    /// `alg` and `kid` come from this key (the header's own `alg` and `kid` are
    /// ignored, so a header can never name another algorithm than the key's); an
    /// empty key id is left out. `typ` and `jwk` come from `header`.
    ///
    /// ECDSA needs a fresh secret nonce per signature: aws-lc draws it inside the
    /// primitive, which is the one use of randomness outside the caller's RNG in
    /// this crate (aws-lc-rs ignores any RNG passed to `EcdsaKeyPair::sign`).
    pub fn sign_compact(&self, header: &JoseHeader, payload: &[u8]) -> String {
        let mut json = String::with_capacity(64);
        json.push_str("{\"alg\":\"");
        json.push_str(self.algorithm().as_str());
        json.push('"');
        if let Some(typ) = &header.typ {
            json.push_str(",\"typ\":");
            push_json_string(&mut json, typ);
        }
        if !self.kid.is_empty() {
            json.push_str(",\"kid\":");
            push_json_string(&mut json, &self.kid);
        }
        if let Some(jwk) = &header.jwk {
            json.push_str(",\"jwk\":");
            json.push_str(&jwk.to_json().to_string());
        }
        json.push('}');

        let mut token = String::with_capacity((json.len() + payload.len()) * 4 / 3 + 100);
        b64::encode_into(json.as_bytes(), &mut token);
        token.push('.');
        b64::encode_into(payload, &mut token);
        let mut signature = [0u8; MAX_EC_SIGNATURE_LEN];
        let len = self.sign_raw(token.as_bytes(), &mut signature);
        token.push('.');
        b64::encode_into(signature.get(..len).unwrap_or_default(), &mut token);
        token
    }

    /// Signs raw bytes into `out`, returning the length: `R || S` for ECDSA, 64
    /// bytes for ES256 and 96 for ES384 (RFC 7518 section 3.4), 64 bytes for
    /// Ed25519 (RFC 8032 section 5.1.6).
    fn sign_raw(&self, message: &[u8], out: &mut [u8; MAX_EC_SIGNATURE_LEN]) -> usize {
        let (signature, hash) = match &self.pair {
            KeyPairInner::Es256(pair) => (pair, &SHA256),
            KeyPairInner::Es384(pair) => (pair, &SHA384),
            KeyPairInner::EdDsa(pair) => {
                let signature = pair.sign(message);
                return copy_into(signature.as_ref(), out);
            }
        };
        let signature = signature
            .sign_digest(&digest(hash, message))
            .expect("ECDSA signing with a valid key fails only on allocation failure");
        copy_into(signature.as_ref(), out)
    }

    fn from_pair(kid: String, pair: KeyPairInner) -> Result<Self, JoseError> {
        let (alg, public) = match &pair {
            KeyPairInner::Es256(p) => (Algorithm::Es256, p.public_key().as_ref()),
            KeyPairInner::Es384(p) => (Algorithm::Es384, p.public_key().as_ref()),
            KeyPairInner::EdDsa(p) => (Algorithm::EdDsa, p.public_key().as_ref()),
        };
        let mut jwk = PublicJwk::from_public_bytes(alg, public)?.with_alg_and_use();
        if !kid.is_empty() {
            jwk = jwk.with_kid(kid.clone());
        }
        Ok(Self {
            kid,
            pair,
            public: jwk,
        })
    }

    /// An Ed25519 key from a known seed, for published test vectors.
    #[cfg(test)]
    pub(crate) fn from_ed25519_seed(kid: String, seed: &[u8]) -> Self {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).unwrap();
        Self::from_pair(kid, KeyPairInner::EdDsa(pair)).unwrap()
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

enum KeyPairInner {
    Es256(EcdsaKeyPair),
    Es384(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// The longest signature [`SigningKey`] makes: ES384's 96 bytes.
const MAX_EC_SIGNATURE_LEN: usize = 96;

/// Copies a signature aws-lc made into `out`; it always fits (64 or 96 bytes).
fn copy_into(signature: &[u8], out: &mut [u8; MAX_EC_SIGNATURE_LEN]) -> usize {
    let len = signature.len().min(MAX_EC_SIGNATURE_LEN);
    if let (Some(dst), Some(src)) = (out.get_mut(..len), signature.get(..len)) {
        dst.copy_from_slice(src);
    }
    len
}

/// Draws `N`-byte scalars from `rng` until one is a valid private key for `alg`,
/// wrapped as an RFC 5915 `ECPrivateKey` between `prefix` and `suffix`.
fn generate_ecdsa<const N: usize>(
    alg: &'static EcdsaSigningAlgorithm,
    prefix: &[u8],
    suffix: &[u8],
    rng: &mut impl CryptoRng,
) -> EcdsaKeyPair {
    let mut secret = Zeroizing::new([0u8; N]);
    for _ in 0..64 {
        rng.fill_bytes(secret.as_mut());
        let mut der = Zeroizing::new(Vec::with_capacity(prefix.len() + N + suffix.len()));
        der.extend_from_slice(prefix);
        der.extend_from_slice(secret.as_ref());
        der.extend_from_slice(suffix);
        if let Ok(pair) = EcdsaKeyPair::from_private_key_der(alg, &der) {
            return pair;
        }
    }
    panic!("the CryptoRng produced 64 invalid ECDSA scalars in a row; refusing to continue")
}

/// RFC 5915 section 3 `ECPrivateKey` for P-256 up to the private key octets:
/// SEQUENCE (49 bytes) { INTEGER 1, OCTET STRING (32 bytes) ...
const P256_DER_PREFIX: [u8; 7] = [0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
/// ... [0] { OID 1.2.840.10045.3.1.7 (prime256v1) } }.
const P256_DER_SUFFIX: [u8; 12] = [
    0xa0, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
];
/// The same for P-384: SEQUENCE (62 bytes) { INTEGER 1, OCTET STRING (48 bytes) ...
const P384_DER_PREFIX: [u8; 7] = [0x30, 0x3e, 0x02, 0x01, 0x01, 0x04, 0x30];
/// ... [0] { OID 1.3.132.0.34 (secp384r1) } }.
const P384_DER_SUFFIX: [u8; 9] = [0xa0, 0x07, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompactJws;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    #[test]
    fn rfc_8037_appendix_a_4_ed25519_signature() {
        // RFC 8037 appendix A.1 private key, appendix A.4 JWS (Ed25519 is deterministic).
        let seed = b64::decode(b"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A").unwrap();
        let key = SigningKey::from_ed25519_seed(String::new(), &seed);
        assert_eq!(
            key.public_jwk().thumbprint().to_encoded(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let token = key.sign_compact(
            &JoseHeader::new(Algorithm::EdDsa),
            b"Example of Ed25519 signing",
        );
        assert_eq!(
            token,
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
        let jws = CompactJws::parse(&token, 1024).unwrap();
        assert_eq!(jws.verify_with(&key.public_jwk()), Ok(()));
    }

    #[test]
    fn rfc_7515_appendix_a_3_es256_example_verifies() {
        let jwk = PublicJwk::from_json(&crate::jwk::test_vectors::rfc7515_es256_public()).unwrap();
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let jws = CompactJws::parse(token, 1024).unwrap();
        assert_eq!(jws.verify_with(&jwk), Ok(()));
    }

    #[test]
    fn sign_verify_round_trip_for_every_signing_algorithm() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg, "k1".to_owned(), &mut rng);
            assert_eq!(key.algorithm(), alg);
            assert_eq!(key.kid(), "k1");
            let header = JoseHeader::new(alg).with_typ("at+jwt");
            let token = key.sign_compact(&header, b"{\"sub\":\"alice\"}");
            let jws = CompactJws::parse(&token, 4096).unwrap();
            assert_eq!(jws.header().alg, alg);
            assert_eq!(jws.header().kid.as_deref(), Some("k1"));
            assert_eq!(jws.header().typ.as_deref(), Some("at+jwt"));
            assert_eq!(jws.payload(), b"{\"sub\":\"alice\"}");
            assert_eq!(jws.verify_with(&key.public_jwk()), Ok(()));
        }
    }

    #[test]
    fn generation_is_reproducible_from_the_callers_rng() {
        for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
            let a = SigningKey::generate(alg, "a".to_owned(), &mut ChaCha20Rng::seed_from_u64(9));
            let b = SigningKey::generate(alg, "a".to_owned(), &mut ChaCha20Rng::seed_from_u64(9));
            let c = SigningKey::generate(alg, "a".to_owned(), &mut ChaCha20Rng::seed_from_u64(10));
            assert_eq!(a.public_jwk(), b.public_jwk());
            assert_ne!(a.public_jwk(), c.public_jwk());
        }
    }

    #[test]
    fn tampered_tokens_and_wrong_keys_fail_rfc_7515_section_5_2() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg, "k".to_owned(), &mut rng);
            let other = SigningKey::generate(alg, "k".to_owned(), &mut rng);
            let token = key.sign_compact(&JoseHeader::new(alg), b"{\"a\":1}");
            let (head, rest) = token.split_once('.').unwrap();
            let (payload, sig) = rest.split_once('.').unwrap();

            let jws = CompactJws::parse(&token, 4096).unwrap();
            assert_eq!(
                jws.verify_with(&other.public_jwk()),
                Err(JoseError::BadSignature)
            );

            let tampered_payload = format!("{head}.{}.{sig}", b64::encode(b"{\"a\":2}"));
            let jws = CompactJws::parse(&tampered_payload, 4096).unwrap();
            assert_eq!(
                jws.verify_with(&key.public_jwk()),
                Err(JoseError::BadSignature)
            );

            let mut sig_bytes = b64::decode(sig.as_bytes()).unwrap();
            sig_bytes[10] ^= 1;
            let tampered_sig = format!("{head}.{payload}.{}", b64::encode(&sig_bytes));
            let jws = CompactJws::parse(&tampered_sig, 4096).unwrap();
            assert_eq!(
                jws.verify_with(&key.public_jwk()),
                Err(JoseError::BadSignature)
            );

            let header = String::from_utf8(b64::decode(head.as_bytes()).unwrap()).unwrap();
            let tampered_header = format!(
                "{}.{payload}.{sig}",
                b64::encode(header.replace('}', ",\"typ\":\"x\"}").as_bytes())
            );
            let jws = CompactJws::parse(&tampered_header, 4096).unwrap();
            assert_eq!(
                jws.verify_with(&key.public_jwk()),
                Err(JoseError::BadSignature)
            );
        }
    }

    #[test]
    fn header_alg_must_match_the_key_rfc_8725_section_3_1() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let ed = SigningKey::generate(Algorithm::EdDsa, "k".to_owned(), &mut rng);
        let es = SigningKey::generate(Algorithm::Es256, "k".to_owned(), &mut rng);
        let token = ed.sign_compact(&JoseHeader::new(Algorithm::Es256), b"{}");
        let jws = CompactJws::parse(&token, 4096).unwrap();
        // The key decides alg, whatever the header passed in said.
        assert_eq!(jws.header().alg, Algorithm::EdDsa);
        assert_eq!(
            jws.verify_with(&es.public_jwk()),
            Err(JoseError::AlgorithmMismatch)
        );
    }

    #[test]
    fn pkcs8_round_trip_and_refusals() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for alg in [Algorithm::Es256, Algorithm::Es384, Algorithm::EdDsa] {
            let key = SigningKey::generate(alg, "k".to_owned(), &mut rng);
            let der = key.to_pkcs8();
            let back = SigningKey::from_pkcs8(alg, "k".to_owned(), &der).unwrap();
            assert_eq!(back.public_jwk(), key.public_jwk());
            let other = match alg {
                Algorithm::EdDsa => Algorithm::Es256,
                _ => Algorithm::EdDsa,
            };
            assert_eq!(
                SigningKey::from_pkcs8(other, "k".to_owned(), &der).unwrap_err(),
                JoseError::InvalidPrivateKey
            );
        }
        assert_eq!(
            SigningKey::from_pkcs8(Algorithm::Es256, "k".to_owned(), b"junk").unwrap_err(),
            JoseError::InvalidPrivateKey
        );
        // Latchkey does not sign with RSA, whatever the document holds.
        let es = SigningKey::generate(Algorithm::Es256, "k".to_owned(), &mut rng).to_pkcs8();
        for rsa in [Algorithm::Rs256, Algorithm::Ps256] {
            assert_eq!(
                SigningKey::from_pkcs8(rsa, "k".to_owned(), &es).unwrap_err(),
                JoseError::InvalidPrivateKey
            );
        }
    }

    #[test]
    fn debug_never_shows_key_material() {
        let key = SigningKey::generate(
            Algorithm::Es256,
            "k".to_owned(),
            &mut ChaCha20Rng::seed_from_u64(5),
        );
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
    }

    #[test]
    fn public_jwk_carries_kid_alg_and_use() {
        let key = SigningKey::generate(
            Algorithm::Es256,
            "k1".to_owned(),
            &mut ChaCha20Rng::seed_from_u64(6),
        );
        let json = key.public_jwk().to_json();
        assert_eq!(json["kid"], "k1");
        assert_eq!(json["alg"], "ES256");
        assert_eq!(json["use"], "sig");
        assert_eq!(json["kty"], "EC");
        assert!(json.get("d").is_none());
        assert_eq!(PublicJwk::from_json(&json).unwrap(), key.public_jwk());
    }

    #[test]
    fn embedded_jwk_and_empty_kid_for_dpop_style_headers() {
        let key = SigningKey::generate(
            Algorithm::EdDsa,
            String::new(),
            &mut ChaCha20Rng::seed_from_u64(7),
        );
        let header = JoseHeader::new(Algorithm::EdDsa)
            .with_typ("dpop+jwt")
            .with_jwk(key.public_jwk());
        let token = key.sign_compact(&header, b"{}");
        let jws = CompactJws::parse(&token, 4096).unwrap();
        assert_eq!(jws.header().kid, None);
        let embedded = jws.header().jwk.clone().unwrap();
        assert_eq!(embedded, key.public_jwk());
        assert_eq!(jws.verify_with(&embedded), Ok(()));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::CompactJws;
    use latchkey_types::ErrorCode;
    use proptest::prelude::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    proptest! {
        #[test]
        fn any_payload_round_trips_through_sign_and_verify(payload in proptest::collection::vec(any::<u8>(), 0..512), typ in "[ -~]{0,20}", ed in any::<bool>()) {
            let alg = if ed { Algorithm::EdDsa } else { Algorithm::Es256 };
            let key = SigningKey::generate(alg, "k\"\\1".to_owned(), &mut ChaCha20Rng::seed_from_u64(8));
            let token = key.sign_compact(&JoseHeader::new(alg).with_typ(&typ), &payload);
            let jws = CompactJws::parse(&token, 4096).unwrap();
            prop_assert_eq!(jws.payload(), &payload[..]);
            prop_assert_eq!(jws.header().typ.as_deref(), Some(typ.as_str()));
            prop_assert_eq!(jws.header().kid.as_deref(), Some("k\"\\1"));
            prop_assert_eq!(jws.verify_with(&key.public_jwk()), Ok(()));
        }

        #[test]
        fn parse_never_panics_and_refusals_are_invalid_token(s in "[A-Za-z0-9_.=+/{}\" -]{0,200}") {
            if let Err(error) = CompactJws::parse(&s, 4096) {
                prop_assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidToken);
            }
        }
    }
}
