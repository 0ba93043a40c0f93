//! Private signing keys encrypted at rest under a key-encryption key.
//!
//! A stored signing key is its PKCS#8 document sealed with AES-256-GCM
//! (NIST SP 800-38D) under a 256-bit [`KeyWrapKey`] that lives outside the
//! database (the server keeps it in its secrets file). The key id and the
//! algorithm are the additional authenticated data, so a sealed key cannot be
//! moved to another `kid` or read as another algorithm without failing to
//! open. Layout: the four bytes `LKW1`, a 96-bit nonce drawn from the caller's
//! RNG (random nonces under one key stay far below the 2^32 messages SP
//! 800-38D section 8.3 allows), then the ciphertext and its 128-bit tag.
//!
//! A copy of the database alone (a backup, a stolen file) then holds no usable
//! signing key. Documents written before sealing existed are plain PKCS#8;
//! [`is_sealed`] tells them apart, since DER never starts with `LKW1`.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{Algorithm, JoseError};

/// The first bytes of a sealed key.
const MAGIC: &[u8; 4] = b"LKW1";

/// The AES-256-GCM key that seals private signing keys at rest.
pub struct KeyWrapKey(LessSafeKey);

impl core::fmt::Debug for KeyWrapKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KeyWrapKey(..)")
    }
}

impl KeyWrapKey {
    /// The key-encryption key from its 32 bytes.
    pub fn new(bytes: &[u8; 32]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .expect("AES-256-GCM takes a 32-byte key, which the type guarantees");
        Self(LessSafeKey::new(key))
    }

    /// Seals `pkcs8`, the private key `kid` of `alg`, with a fresh nonce.
    pub fn seal(
        &self,
        kid: &str,
        alg: Algorithm,
        pkcs8: &[u8],
        rng: &mut impl CryptoRng,
    ) -> Zeroizing<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut in_out = Zeroizing::new(pkcs8.to_vec());
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(kid, alg).as_slice()),
                &mut *in_out,
            )
            .expect("AES-GCM seals any message below 64 GiB");
        let mut sealed = Zeroizing::new(Vec::with_capacity(MAGIC.len() + NONCE_LEN + in_out.len()));
        sealed.extend_from_slice(MAGIC);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        sealed
    }

    /// Opens a document [`seal`](Self::seal) made for the same `kid` and
    /// `alg`; anything else (another key, another kid or algorithm, a changed
    /// byte) is [`JoseError::InvalidPrivateKey`].
    pub fn open(
        &self,
        kid: &str,
        alg: Algorithm,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        let rest = sealed
            .strip_prefix(MAGIC.as_slice())
            .ok_or(JoseError::InvalidPrivateKey)?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(JoseError::InvalidPrivateKey)?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| JoseError::InvalidPrivateKey)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .0
            .open_in_place(nonce, Aad::from(aad(kid, alg).as_slice()), &mut in_out)
            .map_err(|_| JoseError::InvalidPrivateKey)?
            .len();
        in_out.truncate(plain_len);
        Ok(in_out)
    }
}

/// Whether a stored key document is sealed (else it is plain PKCS#8).
pub fn is_sealed(document: &[u8]) -> bool {
    document.starts_with(MAGIC)
}

/// `alg`, a zero byte, `kid`: neither can contain a zero byte.
fn aad(kid: &str, alg: Algorithm) -> Vec<u8> {
    let mut aad = Vec::with_capacity(alg.as_str().len() + 1 + kid.len());
    aad.extend_from_slice(alg.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(kid.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::SigningKey;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn a_sealed_key_opens_to_the_same_pkcs8_and_signs() {
        let mut rng = rng();
        let key = SigningKey::generate(Algorithm::Es256, "k1".to_owned(), &mut rng);
        let wrap = KeyWrapKey::new(&[3; 32]);
        let pkcs8 = key.to_pkcs8();
        let sealed = wrap.seal("k1", Algorithm::Es256, &pkcs8, &mut rng);
        assert!(is_sealed(&sealed));
        assert!(
            !is_sealed(&pkcs8),
            "DER starts with a SEQUENCE tag, never LKW1"
        );
        assert!(
            sealed.windows(pkcs8.len()).all(|w| w != pkcs8.as_slice()),
            "the private key must not appear in the sealed document"
        );
        let opened = wrap.open("k1", Algorithm::Es256, &sealed).unwrap();
        assert_eq!(*opened, *pkcs8);
        SigningKey::from_pkcs8(Algorithm::Es256, "k1".to_owned(), &opened).unwrap();
        // A fresh nonce every time.
        let again = wrap.seal("k1", Algorithm::Es256, &pkcs8, &mut rng);
        assert_ne!(*again, *sealed);
    }

    #[test]
    fn another_key_kid_algorithm_or_byte_does_not_open() {
        let mut rng = rng();
        let key = SigningKey::generate(Algorithm::EdDsa, "k1".to_owned(), &mut rng);
        let wrap = KeyWrapKey::new(&[3; 32]);
        let sealed = wrap.seal("k1", Algorithm::EdDsa, &key.to_pkcs8(), &mut rng);
        let refused = |result: Result<Zeroizing<Vec<u8>>, JoseError>| {
            assert_eq!(result.unwrap_err(), JoseError::InvalidPrivateKey);
        };
        refused(KeyWrapKey::new(&[4; 32]).open("k1", Algorithm::EdDsa, &sealed));
        refused(wrap.open("k2", Algorithm::EdDsa, &sealed));
        refused(wrap.open("k1", Algorithm::Es256, &sealed));
        for i in 0..sealed.len() {
            let mut changed = sealed.to_vec();
            changed[i] ^= 1;
            refused(wrap.open("k1", Algorithm::EdDsa, &changed));
        }
        refused(wrap.open("k1", Algorithm::EdDsa, &sealed[..10]));
        refused(wrap.open("k1", Algorithm::EdDsa, b""));
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        assert_eq!(format!("{:?}", KeyWrapKey::new(&[9; 32])), "KeyWrapKey(..)");
    }
}
