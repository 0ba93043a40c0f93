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
///
/// A hash that is no PHC string (such as [`NO_PASSWORD`], kept for people who
/// sign in through an identity provider) never matches, after a verification
/// of the usual cost, so that timing does not tell such users apart.
pub fn verify(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        verify_dummy(password);
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// The password hash stored for a user who signs in only through an
/// identity provider: no password matches it.
pub const NO_PASSWORD: &str = "!upstream";

/// Runs a verification of the same cost against a fixed hash, for unknown
/// user names, so that timing does not tell whether a user exists. The fixed
/// hash uses the parameters [`hash`] uses today.
pub fn verify_dummy(password: &str) {
    let _ = verify(password, dummy_hash());
}

/// Computes the fixed hash [`verify_dummy`] checks against, if not done yet,
/// so that the first unknown user name after a start costs no more than the
/// others. Call it once while starting.
pub fn prepare_dummy() {
    let _ = dummy_hash();
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::encode_b64(b"latchkey-dummy-s").ok();
        salt.and_then(|salt| {
            Argon2::default()
                .hash_password(b"no user has this password", &salt)
                .ok()
                .map(|hash| hash.to_string())
        })
        .unwrap_or_default()
    })
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
    fn the_dummy_hash_costs_what_a_user_hash_costs() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let user = hash("correct horse battery", &mut rng).unwrap();
        let user = PasswordHash::new(&user).unwrap();
        let dummy = PasswordHash::new(dummy_hash()).unwrap();
        // Same algorithm, version and parameters (memory, passes, lanes), so
        // an unknown user name takes as long as a wrong password.
        assert_eq!(dummy.algorithm, user.algorithm);
        assert_eq!(dummy.version, user.version);
        assert_eq!(dummy.params, user.params);
        assert_eq!(
            dummy.hash.map(|output| output.len()),
            user.hash.map(|output| output.len())
        );
        assert!(!verify("correct horse battery", dummy_hash()));
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
