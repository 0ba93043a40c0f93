//! Server-provided nonces (RFC 9449 sections 8 and 9).

use core::fmt;
use core::time::Duration;

use aws_lc_rs::hmac;
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_types::UnixTime;
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::DpopError;

/// The HMAC key nonces are derived from. `Debug` shows only the type name.
///
/// Use one key per server: RFC 9449 section 9 says nonces are accepted only by
/// the server that issued them, so the authorization server and each resource
/// server get their own key.
#[derive(Clone)]
pub struct NonceKey(hmac::Key);

impl NonceKey {
    /// The shortest key accepted, in bytes (the HMAC-SHA256 output length).
    pub const MIN_LEN: usize = 32;

    /// A key from secret bytes (read from configuration); at least [`Self::MIN_LEN`].
    pub fn new(secret: &[u8]) -> Result<Self, DpopError> {
        if secret.len() < Self::MIN_LEN {
            return Err(DpopError::NonceKeyTooShort);
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, secret)))
    }

    /// A fresh random key of 32 bytes from the caller's RNG.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = Zeroizing::new([0u8; Self::MIN_LEN]);
        rng.fill_bytes(secret.as_mut());
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret.as_ref()))
    }
}

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// A nonce to send in the `DPoP-Nonce` response header (RFC 9449 section 8.1:
/// `1*NQCHAR`; ours are 32 base64url characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpopNonce(String);

impl DpopNonce {
    /// The nonce as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DpopNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`DpopNonces::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// Issued by this server in the current or the previous slot.
    Valid,
    /// Issued by this server, but before the previous slot.
    Stale,
    /// Not a nonce this server issued (forged, from another server, or malformed).
    Invalid,
}

/// Stateless nonces: `base64url(slot || HMAC-SHA256(key, label || slot)[..16])`.
///
/// Time is cut into slots of [`slot_length`](Self::slot_length); a nonce names
/// its slot (big-endian `u64`) and carries a 128-bit truncated HMAC tag over it,
/// so the server keeps no state and nonces are unpredictable without the key
/// (RFC 9449 section 8: "Nonce values MUST be unpredictable"). A nonce is
/// accepted in the slot it was issued in and the next one, so a client that got
/// one just before a slot boundary is not refused at once (section 8.2 rotation),
/// and a proof's lifetime is bounded by the server's clock whatever the client's
/// clock says (section 11.1). Tags are compared in constant time.
///
/// All clients in a slot get the same nonce; that is allowed (section 11.1: "it
/// is acceptable for clients to use the same nonce multiple times"), since `jti`
/// tracking still stops replay.
#[derive(Clone, Debug)]
pub struct DpopNonces {
    key: NonceKey,
    slot_secs: u64,
}

impl DpopNonces {
    /// The slot length used by [`DpopNonces::new`]: five minutes.
    pub const DEFAULT_SLOT: Duration = Duration::from_secs(300);

    const LABEL: &'static [u8] = b"latchkey-dpop-nonce-v1";
    const TAG_LEN: usize = 16;
    const RAW_LEN: usize = 8 + Self::TAG_LEN;
    /// Length of an encoded nonce: 24 bytes as unpadded base64url.
    const ENCODED_LEN: usize = 32;

    /// Nonces from `key` with [`Self::DEFAULT_SLOT`].
    pub fn new(key: NonceKey) -> Self {
        Self {
            key,
            slot_secs: Self::DEFAULT_SLOT.as_secs(),
        }
    }

    /// Nonces from `key` with slots of `slot` (whole seconds, at least one).
    pub fn with_slot_length(key: NonceKey, slot: Duration) -> Self {
        Self {
            key,
            slot_secs: slot.as_secs().max(1),
        }
    }

    /// The slot length.
    pub fn slot_length(&self) -> Duration {
        Duration::from_secs(self.slot_secs)
    }

    /// The nonce for the slot `now` falls in.
    pub fn issue(&self, now: UnixTime) -> DpopNonce {
        let slot = self.slot_of(now);
        let mut raw = [0u8; Self::RAW_LEN];
        let (slot_bytes, tag_bytes) = raw.split_at_mut(8);
        slot_bytes.copy_from_slice(&slot.to_be_bytes());
        tag_bytes.copy_from_slice(&self.tag(slot));
        DpopNonce(Base64UrlUnpadded::encode_string(&raw))
    }

    /// Whether `nonce` is one this server issued recently.
    pub fn check(&self, nonce: &str, now: UnixTime) -> NonceCheck {
        if nonce.len() != Self::ENCODED_LEN {
            return NonceCheck::Invalid;
        }
        let mut raw = [0u8; Self::RAW_LEN];
        let Ok(decoded) = Base64UrlUnpadded::decode(nonce, &mut raw) else {
            return NonceCheck::Invalid;
        };
        let (slot_bytes, tag_bytes) = decoded.split_at(8.min(decoded.len()));
        let Ok(slot_bytes) = <[u8; 8]>::try_from(slot_bytes) else {
            return NonceCheck::Invalid;
        };
        let slot = u64::from_be_bytes(slot_bytes);
        if !bool::from(self.tag(slot).as_slice().ct_eq(tag_bytes)) {
            return NonceCheck::Invalid;
        }
        let current = self.slot_of(now);
        if slot == current || Some(slot) == current.checked_sub(1) {
            NonceCheck::Valid
        } else if slot < current {
            NonceCheck::Stale
        } else {
            // A genuine tag for a slot in the future: only possible if the
            // server's clock went backwards. Refuse it like a forgery.
            NonceCheck::Invalid
        }
    }

    fn slot_of(&self, now: UnixTime) -> u64 {
        now.as_secs() / self.slot_secs
    }

    /// `HMAC-SHA256(key, label || slot)` truncated to 128 bits.
    fn tag(&self, slot: u64) -> [u8; Self::TAG_LEN] {
        let mut ctx = hmac::Context::with_key(&self.key.0);
        ctx.update(Self::LABEL);
        ctx.update(&slot.to_be_bytes());
        let full = ctx.sign();
        let mut tag = [0u8; Self::TAG_LEN];
        for (out, byte) in tag.iter_mut().zip(full.as_ref()) {
            *out = *byte;
        }
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    fn nonces() -> DpopNonces {
        DpopNonces::with_slot_length(NonceKey::new(&[7u8; 32]).unwrap(), Duration::from_secs(60))
    }

    #[test]
    fn rfc_9449_section_8_fresh_nonce_is_valid_and_nqchar() {
        let nonces = nonces();
        let now = UnixTime::from_secs(1_700_000_030);
        let nonce = nonces.issue(now);
        assert_eq!(nonce.as_str().len(), 32);
        // Section 8.1: nonce = 1*NQCHAR.
        assert!(
            nonce
                .as_str()
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        );
        assert_eq!(nonces.check(nonce.as_str(), now), NonceCheck::Valid);
        assert_eq!(nonce, nonces.issue(UnixTime::from_secs(1_700_000_039)));
    }

    #[test]
    fn rfc_9449_section_8_2_previous_slot_is_still_valid() {
        let nonces = nonces();
        let issued = UnixTime::from_secs(1_700_000_039);
        let nonce = nonces.issue(issued);
        let next_slot = UnixTime::from_secs(1_700_000_041);
        assert_ne!(nonces.issue(next_slot), nonce);
        assert_eq!(nonces.check(nonce.as_str(), next_slot), NonceCheck::Valid);
    }

    #[test]
    fn rfc_9449_section_8_older_nonce_is_stale() {
        let nonces = nonces();
        let nonce = nonces.issue(UnixTime::from_secs(1_700_000_039));
        let later = UnixTime::from_secs(1_700_000_039 + 121);
        assert_eq!(nonces.check(nonce.as_str(), later), NonceCheck::Stale);
    }

    #[test]
    fn rfc_9449_section_8_forged_or_foreign_nonce_is_invalid() {
        let nonces = nonces();
        let now = UnixTime::from_secs(1_700_000_030);
        let nonce = nonces.issue(now);
        // One character changed.
        let mut forged = nonce.as_str().to_owned();
        let last = if forged.ends_with('A') { "B" } else { "A" };
        forged.replace_range(31.., last);
        assert_eq!(nonces.check(&forged, now), NonceCheck::Invalid);
        // Issued by a server with another key (section 9).
        let other = DpopNonces::with_slot_length(
            NonceKey::new(&[8u8; 32]).unwrap(),
            Duration::from_secs(60),
        );
        assert_eq!(
            nonces.check(other.issue(now).as_str(), now),
            NonceCheck::Invalid
        );
        // A genuine nonce for a future slot.
        let future = nonces.issue(UnixTime::from_secs(1_700_000_300));
        assert_eq!(nonces.check(future.as_str(), now), NonceCheck::Invalid);
        for junk in [
            "",
            "eyJ7S_zG.eyJH0-Z.HX4w-7v",
            &"A".repeat(32),
            &"!".repeat(32),
            &"A".repeat(33),
        ] {
            assert_eq!(nonces.check(junk, now), NonceCheck::Invalid, "{junk:?}");
        }
    }

    #[test]
    fn key_is_redacted_and_must_be_long_enough() {
        assert_eq!(
            NonceKey::new(&[1u8; 31]).map(|_| ()),
            Err(DpopError::NonceKeyTooShort)
        );
        let key = NonceKey::generate(&mut ChaCha20Rng::seed_from_u64(1));
        assert_eq!(format!("{key:?}"), "NonceKey(..)");
        assert!(!format!("{:?}", DpopNonces::new(key)).contains("07"));
    }
}
