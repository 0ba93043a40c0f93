use core::fmt;

use base64ct::{Base64UrlUnpadded, Encoding};
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A secret string: a client secret, code, token, verifier or key.
///
/// It zeroizes its memory on drop, has no `Display`, `Serialize`, `PartialEq`
/// or `Hash`, and its `Debug` shows only the type name. Read it through
/// [`expose_secret`](Self::expose_secret); compare it through [`digest`](Self::digest)
/// (hash first, then compare in constant time, STYLE.md section 5).
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// The fewest random bytes [`generate`](Self::generate) accepts: 256 bits,
    /// above the 128 bits RFC 6749 section 10.10 requires and as RFC 9700
    /// section 4.5.3 / OAuth 2.1 section 7.5.2 recommend for codes and tokens.
    pub const MIN_RANDOM_BYTES: usize = 32;

    /// Wraps a secret that already exists (read from a request, a file).
    pub fn new(secret: String) -> Self {
        Self(Zeroizing::new(secret))
    }

    /// Draws `bytes` random bytes from `rng` (at least [`Self::MIN_RANDOM_BYTES`],
    /// raised to it if smaller) and encodes them as unpadded base64url, so the
    /// secret is URL-safe and fits `*VSCHAR` everywhere OAuth carries it.
    pub fn generate(rng: &mut impl CryptoRng, bytes: usize) -> Self {
        let mut raw = Zeroizing::new(vec![0u8; bytes.max(Self::MIN_RANDOM_BYTES)]);
        rng.fill_bytes(&mut raw);
        Self::new(Base64UrlUnpadded::encode_string(&raw))
    }

    /// The secret itself. Every call site is a place a secret leaves its box.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest under which this secret is stored and looked up.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(self.0.as_bytes())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(..)")
    }
}

/// The SHA-256 digest of a secret: what stores keep instead of the secret.
///
/// Equality is constant-time ([`subtle::ConstantTimeEq`]), so a lookup that
/// compares digests leaks nothing about how many bytes matched. `Debug` shows
/// only the first four bytes, enough to correlate log lines and useless to
/// recover anything.
#[derive(Clone, Copy, Eq)]
pub struct TokenDigest([u8; 32]);

impl TokenDigest {
    /// Hashes `secret` with SHA-256.
    pub fn of(secret: &[u8]) -> Self {
        Self(Sha256::digest(secret).into())
    }

    /// Wraps digest bytes read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `secret` hashes to this digest, compared in constant time.
    pub fn matches(&self, secret: &[u8]) -> bool {
        *self == Self::of(secret)
    }
}

impl PartialEq for TokenDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl core::hash::Hash for TokenDigest {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, ..] = self.0;
        write!(f, "TokenDigest({a:02x}{b:02x}{c:02x}{d:02x}..)")
    }
}

/// Declares a named secret type on top of [`SecretString`].
///
/// The type gets `new`, `generate` (256 bits from the caller's RNG),
/// `expose_secret`, `digest` and a `Debug` that prints only its name; nothing
/// else, so it cannot be cloned, printed, serialized or compared by accident.
///
/// ```
/// latchkey_types::secret_type! {
///     /// A refresh token (RFC 6749 section 1.5).
///     pub struct RefreshToken;
/// }
/// let token = RefreshToken::new("abc".to_owned());
/// assert_eq!(format!("{token:?}"), "RefreshToken(..)");
/// assert!(token.digest().matches(b"abc"));
/// ```
#[macro_export]
macro_rules! secret_type {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        $vis struct $name($crate::SecretString);

        impl $name {
            /// Wraps a secret value received from a peer or read from configuration.
            $vis fn new(secret: ::std::string::String) -> Self {
                Self($crate::SecretString::new(secret))
            }

            /// Generates a fresh value of 256 random bits from the caller's RNG.
            $vis fn generate(rng: &mut impl $crate::rand_core::CryptoRng) -> Self {
                Self($crate::SecretString::generate(rng, $crate::SecretString::MIN_RANDOM_BYTES))
            }

            /// The secret itself.
            $vis fn expose_secret(&self) -> &str {
                self.0.expose_secret()
            }

            /// The SHA-256 digest under which the value is stored.
            $vis fn digest(&self) -> $crate::TokenDigest {
                self.0.digest()
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    crate::secret_type! {
        /// A test secret.
        struct TestToken;
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = SecretString::new("hunter2".to_owned());
        assert_eq!(format!("{secret:?}"), "SecretString(..)");
        let token = TestToken::new("hunter2".to_owned());
        assert_eq!(format!("{token:?}"), "TestToken(..)");
        assert_eq!(token.expose_secret(), "hunter2");
        assert!(token.digest().matches(b"hunter2"));
    }

    #[test]
    fn generated_secrets_carry_256_bits_and_are_url_safe() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let a = SecretString::generate(&mut rng, 8);
        let b = SecretString::generate(&mut rng, 32);
        // 32 bytes as unpadded base64url is 43 characters, even when fewer were asked for.
        assert_eq!(a.expose_secret().len(), 43);
        assert_eq!(b.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(TestToken::generate(&mut rng).expose_secret().len(), 43);
    }

    #[test]
    fn digest_is_sha_256_and_compares_by_value() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        let expected = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ];
        let digest = SecretString::new("abc".to_owned()).digest();
        assert_eq!(digest.as_bytes(), &expected);
        assert_eq!(digest, TokenDigest::from_bytes(expected));
        assert!(digest.matches(b"abc"));
        assert!(!digest.matches(b"abd"));
        assert_eq!(format!("{digest:?}"), "TokenDigest(ba7816bf..)");
    }
}
