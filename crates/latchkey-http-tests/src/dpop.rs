//! DPoP proofs (RFC 9449 section 4.2) for the cases, signed with a fresh ES256 key.

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_jose::{Algorithm, JoseHeader, SigningKey};
use rand_core::SeedableRng;
use sha2::Digest;

/// A client's DPoP key.
pub struct DpopKey {
    key: SigningKey,
    seed: u64,
    counter: u64,
}

impl core::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DpopKey(..)")
    }
}

impl DpopKey {
    /// A key drawn from an RNG seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        Self {
            key: SigningKey::generate(Algorithm::Es256, String::new(), &mut rng),
            seed,
            counter: 0,
        }
    }

    /// The public key, as proofs embed it.
    pub fn public_jwk(&self) -> latchkey_jose::PublicJwk {
        self.key.public_jwk()
    }

    /// A proof for `method` `htu`, with `ath` when `access_token` is given,
    /// `iat` = now and a fresh `jti`.
    pub fn proof(&mut self, method: &str, htu: &str, access_token: Option<&str>) -> String {
        self.proof_with_nonce(method, htu, access_token, None)
    }

    /// [`Self::proof`] carrying the server nonce `nonce` when given (RFC 9449
    /// section 8: the `nonce` claim).
    pub fn proof_with_nonce(
        &mut self,
        method: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        self.counter = self.counter.saturating_add(1);
        let mut claims = serde_json::json!({
            "jti": format!("jti-{}-{}-{}", self.seed, self.counter, crate::now().as_secs()),
            "htm": method,
            "htu": htu,
            "iat": crate::now().as_secs(),
        });
        if let Some(token) = access_token {
            let hash = sha2::Sha256::digest(token.as_bytes());
            claims["ath"] = serde_json::Value::String(Base64UrlUnpadded::encode_string(&hash));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = serde_json::Value::String(nonce.to_owned());
        }
        let header = JoseHeader::new(Algorithm::Es256)
            .with_typ("dpop+jwt")
            .with_jwk(self.key.public_jwk());
        self.key
            .sign_compact(&header, claims.to_string().as_bytes())
    }
}
