//! Password hashing with argon2id (RFC 9106) and the PHC string format.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_types::SecretString;
use rand_core::CryptoRng;

use crate::error::ServerError;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes `password` with argon2id (the `argon2` crate's default parameters:
/// 19 MiB, 2 passes, 1 lane, as OWASP recommends) and a fresh 128-bit salt.
pub fn hash(password: &str, rng: &mut impl CryptoRng) -> Result<String, ServerError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServerError::PasswordTooShort);
    }
    let mut salt = [0u8; 16];
    rng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| ServerError::PasswordHash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| ServerError::PasswordHash)
}

/// Whether `password` matches the PHC string `hash` (constant-time inside argon2).
pub fn verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Runs a verification of the same cost against a fixed hash, for unknown
/// user names, so that timing does not tell whether a user exists.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"latchkey-dummy-s").ok();
        salt.and_then(|salt| {
            Argon2::default()
                .hash_password(b"no user has this password", &salt)
                .ok()
                .map(|hash| hash.to_string())
        })
        .unwrap_or_default()
    });
    let _ = verify(password, hash);
}

/// A random password of 128 bits, written as 22 base64url characters.
pub fn generate(rng: &mut impl CryptoRng) -> SecretString {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    SecretString::new(Base64UrlUnpadded::encode_string(&bytes))
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let hash = hash("correct horse battery", &mut rng).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(verify("correct horse battery", &hash));
        assert!(!verify("correct horse batterx", &hash));
        assert!(!verify("correct horse battery", "not a hash"));
    }

    #[test]
    fn short_password_is_refused() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        assert!(matches!(
            hash("short", &mut rng),
            Err(ServerError::PasswordTooShort)
        ));
    }

    #[test]
    fn generated_passwords_are_long_enough() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let password = generate(&mut rng);
        assert_eq!(password.expose_secret().len(), 22);
        assert!(hash(password.expose_secret(), &mut rng).is_ok());
    }
}
