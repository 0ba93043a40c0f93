//! The login page's state, carried by the browser instead of the server: a
//! [`PendingAuthorization`] sealed with AES-256-GCM until the user signs in.
//!
//! Before sign-in the server keeps nothing per visitor (an anonymous `GET
//! /authorize` used to create a server-side session, and enough of them
//! evicted signed-in users). The login form instead carries
//!
//! - `request`: the pending authorization, its expiry ([`LOGIN_FORM_LIFETIME`])
//!   and the SHA-256 of the browser's random pre-login cookie, sealed under a
//!   key only the server holds. Anything changed, expired, or presented with
//!   another cookie does not open.
//! - `csrf`: a token derived from the same key and the cookie (double submit:
//!   a cross-site `POST` carries no `SameSite=Lax` cookie, and without the
//!   server's key nobody computes the token for a cookie).
//!
//! Both comparisons with the cookie are constant time.
//!
//! Keys (RFC 5869 HKDF-SHA256, NIST SP 800-38D AES-256-GCM): the [`PageKey`]
//! is derived from the server secrets file (see `secrets`), so sealed forms
//! survive a restart and open on every instance that shares the file. Each
//! seal draws a 128-bit salt from the caller's RNG and uses the key
//! HKDF-expanded from it, with a random 96-bit nonce: no key ever seals twice
//! in practice, so the SP 800-38D section 8.3 limit on random nonces under one
//! key never comes near, however many anonymous requests arrive. Layout
//! (base64url, unpadded): `1` (version), salt (16), nonce (12), ciphertext
//! and tag (16).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Prk, Salt};
use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_engine::authorize::PendingAuthorization;
use latchkey_types::{TokenDigest, UnixTime};
use rand_core::CryptoRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long a login form stays usable after `GET /authorize` showed it.
pub const LOGIN_FORM_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The largest sealed request accepted (a pending authorization comes from a
/// query of at most 32 KiB; sealed and encoded it stays below this).
pub const MAX_SEALED_LEN: usize = 48 * 1024;

const VERSION: u8 = 1;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
const AAD: &[u8] = b"latchkey sealed login request v1";
const UPSTREAM_AAD: &[u8] = b"latchkey sealed upstream sign-in v1";
const SEAL_INFO: &[u8] = b"latchkey login seal v1";
const CSRF_INFO: &[u8] = b"latchkey login csrf v1";

/// The key the login forms are sealed and their CSRF tokens derived with.
#[derive(Clone)]
pub struct PageKey(Prk);

impl fmt::Debug for PageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PageKey(..)")
    }
}

/// Why a sealed login form was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealedError {
    /// It does not open: changed, made with another key, or not sealed at all.
    #[error("the sealed request does not open")]
    Unreadable,
    /// It was sealed for another browser (another pre-login cookie).
    #[error("the sealed request belongs to another browser")]
    OtherBrowser,
    /// Its lifetime is over.
    #[error("the sealed request has expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Contents<T> {
    pending: T,
    expires_at: u64,
    browser: [u8; 32],
}

/// An upstream sign-in in progress, as its cookie carries it: the encoded
/// `latchkey_upstream::PendingUpstream` (it holds the PKCE verifier, so it is
/// zeroized on drop) and the MCP authorization request to resume afterwards.
#[derive(Serialize, Deserialize)]
pub struct UpstreamSeal {
    /// `PendingUpstream::encode`.
    pub upstream: String,
    /// The MCP client's verified authorization request.
    pub authorization: PendingAuthorization,
}

impl Drop for UpstreamSeal {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.upstream);
    }
}

impl fmt::Debug for UpstreamSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UpstreamSeal(..)")
    }
}

impl PageKey {
    /// The page key derived (HKDF-SHA256, its own label) from `secret`, 32
    /// bytes of server secret material.
    pub fn derive(secret: &[u8; 32]) -> Self {
        Self(Salt::new(HKDF_SHA256, b"latchkey pages").extract(secret))
    }

    /// A random page key, for pages built without the secrets file (tests,
    /// embedding); forms sealed with it do not survive a restart.
    pub fn generate(rng: &mut impl CryptoRng) -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(secret.as_mut());
        Self::derive(&secret)
    }

    /// Seals `pending` for the browser whose pre-login cookie is `cookie`,
    /// usable until `now` + [`LOGIN_FORM_LIFETIME`].
    pub fn seal(
        &self,
        pending: &PendingAuthorization,
        cookie: &str,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> String {
        self.seal_value(AAD, pending, cookie, now, rng)
    }

    /// Opens what [`seal`](Self::seal) made for the browser with `cookie`,
    /// while it has not expired at `now`.
    pub fn open(
        &self,
        sealed: &str,
        cookie: &str,
        now: UnixTime,
    ) -> Result<PendingAuthorization, SealedError> {
        self.open_value(AAD, sealed, cookie, now)
    }

    /// Seals an upstream sign-in in progress (`crate::upstream`) for the
    /// browser with `cookie`, usable until `now` + [`LOGIN_FORM_LIFETIME`]:
    /// under its own associated data, so a login form never opens as one,
    /// nor one as a login form.
    pub fn seal_upstream(
        &self,
        upstream: &UpstreamSeal,
        cookie: &str,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> String {
        self.seal_value(UPSTREAM_AAD, upstream, cookie, now, rng)
    }

    /// Opens what [`seal_upstream`](Self::seal_upstream) made.
    pub fn open_upstream(
        &self,
        sealed: &str,
        cookie: &str,
        now: UnixTime,
    ) -> Result<UpstreamSeal, SealedError> {
        self.open_value(UPSTREAM_AAD, sealed, cookie, now)
    }

    fn seal_value<T: Serialize>(
        &self,
        aad: &'static [u8],
        value: &T,
        cookie: &str,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> String {
        let contents = Contents {
            pending: value,
            expires_at: now.saturating_add(LOGIN_FORM_LIFETIME).as_secs(),
            browser: *TokenDigest::of(cookie.as_bytes()).as_bytes(),
        };
        let mut in_out = Zeroizing::new(
            serde_json::to_vec(&contents).expect("sealed contents are plain data that serialize"),
        );
        let mut salt = [0u8; SALT_LEN];
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut salt);
        rng.fill_bytes(&mut nonce);
        self.message_key(&salt)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *in_out,
            )
            .expect("AES-GCM seals any message below 64 GiB");
        let mut sealed = Vec::with_capacity(1 + SALT_LEN + NONCE_LEN + in_out.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&salt);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&in_out);
        Base64UrlUnpadded::encode_string(&sealed)
    }

    fn open_value<T: DeserializeOwned>(
        &self,
        aad: &'static [u8],
        sealed: &str,
        cookie: &str,
        now: UnixTime,
    ) -> Result<T, SealedError> {
        if sealed.len() > MAX_SEALED_LEN {
            return Err(SealedError::Unreadable);
        }
        let bytes = Base64UrlUnpadded::decode_vec(sealed).map_err(|_| SealedError::Unreadable)?;
        let rest = bytes
            .strip_prefix(&[VERSION])
            .ok_or(SealedError::Unreadable)?;
        let (salt, rest) = rest
            .split_at_checked(SALT_LEN)
            .ok_or(SealedError::Unreadable)?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(SealedError::Unreadable)?;
        if ciphertext.len() < TAG_LEN {
            return Err(SealedError::Unreadable);
        }
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealedError::Unreadable)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain = self
            .message_key(salt)
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| SealedError::Unreadable)?;
        let contents: Contents<T> =
            serde_json::from_slice(plain).map_err(|_| SealedError::Unreadable)?;
        let browser = TokenDigest::of(cookie.as_bytes());
        if !bool::from(browser.as_bytes().ct_eq(&contents.browser)) {
            return Err(SealedError::OtherBrowser);
        }
        if now.as_secs() >= contents.expires_at {
            return Err(SealedError::Expired);
        }
        Ok(contents.pending)
    }

    /// The login form's CSRF token for the browser with `cookie`.
    pub fn login_csrf(&self, cookie: &str) -> String {
        Base64UrlUnpadded::encode_string(self.csrf_bytes(cookie).as_ref())
    }

    /// Whether `presented` is the login CSRF token for `cookie` (constant time).
    pub fn login_csrf_matches(&self, cookie: &str, presented: &str) -> bool {
        let expected = self.csrf_bytes(cookie);
        let decoded = Zeroizing::new(Base64UrlUnpadded::decode_vec(presented).unwrap_or_default());
        decoded.len() == expected.len() && bool::from(decoded.as_slice().ct_eq(expected.as_ref()))
    }

    fn csrf_bytes(&self, cookie: &str) -> Zeroizing<[u8; 32]> {
        let browser = TokenDigest::of(cookie.as_bytes());
        let mut out = Zeroizing::new([0u8; 32]);
        self.0
            .expand(&[CSRF_INFO, browser.as_bytes()], HKDF_SHA256)
            .and_then(|okm| okm.fill(out.as_mut()))
            .expect("HKDF-SHA256 expands to 32 bytes");
        out
    }

    fn message_key(&self, salt: &[u8]) -> LessSafeKey {
        let info = [SEAL_INFO, salt];
        let okm = self
            .0
            .expand(&info, &AES_256_GCM)
            .expect("HKDF-SHA256 expands to an AES-256 key");
        LessSafeKey::new(UnboundKey::from(okm))
    }
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
    const COOKIE: &str = "q8tBKZ4y3V1z9gT2xYwVn5mH0cJ7kLpRsUeFdAiO6bN";

    fn pending() -> PendingAuthorization {
        serde_json::from_value(serde_json::json!({
            "client_id": "c1",
            "client_name": "App",
            "metadata_document": false,
            "redirect_uri": "http://127.0.0.1:4567/cb",
            "redirect_uri_sent": true,
            "redirect_host": "127.0.0.1",
            "loopback_redirect_warning": false,
            "resources": ["https://mcp.example/mcp"],
            "scope": "mcp:read",
            "offline_access": false,
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "dpop_jkt": null,
            "prompt": { "none": false, "login": false, "consent": false, "select_account": false },
            "max_age": null,
            "requested_at": 1_800_000_000,
            "unvetted_client": false,
            "refresh_token_grant": true
        }))
        .unwrap()
    }

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(5)
    }

    #[test]
    fn a_sealed_request_opens_for_its_browser_until_it_expires() {
        let key = PageKey::derive(&[7; 32]);
        let sealed = key.seal(&pending(), COOKIE, NOW, &mut rng());
        assert!(!sealed.contains("127.0.0.1"), "the contents are encrypted");
        assert_eq!(key.open(&sealed, COOKIE, NOW), Ok(pending()));
        let last = NOW.saturating_add(LOGIN_FORM_LIFETIME).as_secs() - 1;
        assert_eq!(
            key.open(&sealed, COOKIE, UnixTime::from_secs(last)),
            Ok(pending())
        );
        let end = NOW.saturating_add(LOGIN_FORM_LIFETIME);
        assert_eq!(key.open(&sealed, COOKIE, end), Err(SealedError::Expired));
        // The same key from the same secret (a restart, another instance) opens it.
        assert_eq!(
            PageKey::derive(&[7; 32]).open(&sealed, COOKIE, NOW),
            Ok(pending())
        );
    }

    #[test]
    fn a_changed_byte_another_key_or_another_cookie_does_not_open() {
        let key = PageKey::derive(&[7; 32]);
        let sealed = key.seal(&pending(), COOKIE, NOW, &mut rng());
        let bytes = Base64UrlUnpadded::decode_vec(&sealed).unwrap();
        for i in 0..bytes.len() {
            let mut changed = bytes.clone();
            changed[i] ^= 1;
            let changed = Base64UrlUnpadded::encode_string(&changed);
            assert_eq!(
                key.open(&changed, COOKIE, NOW),
                Err(SealedError::Unreadable)
            );
        }
        assert_eq!(
            PageKey::derive(&[8; 32]).open(&sealed, COOKIE, NOW),
            Err(SealedError::Unreadable)
        );
        assert_eq!(
            key.open(&sealed, "another-cookie", NOW),
            Err(SealedError::OtherBrowser)
        );
        for junk in ["", "AQ", "not base64!", &"A".repeat(MAX_SEALED_LEN + 1)] {
            assert_eq!(key.open(junk, COOKIE, NOW), Err(SealedError::Unreadable));
        }
    }

    #[test]
    fn login_csrf_is_per_browser_and_per_key() {
        let key = PageKey::derive(&[7; 32]);
        let token = key.login_csrf(COOKIE);
        assert!(key.login_csrf_matches(COOKIE, &token));
        assert!(!key.login_csrf_matches("another-cookie", &token));
        assert!(!PageKey::derive(&[8; 32]).login_csrf_matches(COOKIE, &token));
        assert!(!key.login_csrf_matches(COOKIE, ""));
        assert!(!key.login_csrf_matches(COOKIE, "forged"));
        assert_eq!(format!("{key:?}"), "PageKey(..)");
    }

    #[test]
    fn every_seal_is_fresh() {
        let key = PageKey::derive(&[7; 32]);
        let mut rng = rng();
        let first = key.seal(&pending(), COOKIE, NOW, &mut rng);
        let second = key.seal(&pending(), COOKIE, NOW, &mut rng);
        assert_ne!(first, second);
    }
}
