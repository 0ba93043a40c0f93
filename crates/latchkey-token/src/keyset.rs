//! The authorization server's signing keys and their rotation.

use latchkey_jose::{Algorithm, JoseHeader, Jwks, SigningKey};

use crate::TokenError;
use crate::claims::AccessTokenClaims;

/// The `typ` of every access token issued (RFC 9068 section 2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The authorization server's signing keys: exactly one active key that signs, and
/// older keys that stay published (so tokens they signed still verify) until
/// retired.
///
/// Rotation: [`rotate`](Self::rotate) in a new key, publish the new
/// [`jwks`](Self::jwks), and once the longest access-token lifetime (plus
/// leeway) has passed since the rotation, [`retire`](Self::retire) the old key.
#[derive(Debug)]
pub struct KeySet {
    /// The active key is the last one.
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// The most keys a set holds at once (the published JWK Set limit).
    pub const MAX_KEYS: usize = Jwks::MAX_KEYS;

    /// A set whose only key, `active`, signs; its key id must not be empty, since
    /// resource servers find keys by `kid` (RFC 7515 section 4.1.4).
    pub fn new(active: SigningKey) -> Result<Self, TokenError> {
        if active.kid().is_empty() {
            return Err(TokenError::EmptyKeyId);
        }
        Ok(Self { keys: vec![active] })
    }

    /// Makes `key` the active signing key; the previous keys keep verifying.
    /// Refused when its key id is empty or already in the set.
    pub fn rotate(&mut self, key: SigningKey) -> Result<(), TokenError> {
        if key.kid().is_empty() {
            return Err(TokenError::EmptyKeyId);
        }
        if self.keys.iter().any(|k| k.kid() == key.kid()) {
            return Err(TokenError::DuplicateKeyId);
        }
        if self.keys.len() >= Self::MAX_KEYS {
            return Err(TokenError::TooManyKeys);
        }
        self.keys.push(key);
        Ok(())
    }

    /// Removes the inactive key `kid`: tokens it signed stop verifying once
    /// resource servers load the new JWK Set. The active key cannot be retired.
    pub fn retire(&mut self, kid: &str) -> Result<SigningKey, TokenError> {
        if self.active().kid() == kid {
            return Err(TokenError::RetiringActiveKey);
        }
        let index = self
            .keys
            .iter()
            .position(|k| k.kid() == kid)
            .ok_or(TokenError::KeyNotFound)?;
        Ok(self.keys.remove(index))
    }

    /// The key that signs new tokens.
    pub fn active(&self) -> &SigningKey {
        self.keys
            .last()
            .expect("a KeySet is created with one key and never loses its active key")
    }

    /// The public keys to publish at `jwks_uri`, active key first (RFC 7517 section 5).
    pub fn jwks(&self) -> Jwks {
        let keys = self.keys.iter().rev().map(SigningKey::public_jwk).collect();
        Jwks::new(keys).expect("key ids are unique and non-empty and the count is bounded")
    }

    /// The algorithms the keys sign with, for a resource server's allowlist.
    pub fn algorithms(&self) -> Vec<Algorithm> {
        let mut algorithms: Vec<Algorithm> = Vec::with_capacity(2);
        for key in &self.keys {
            if !algorithms.contains(&key.algorithm()) {
                algorithms.push(key.algorithm());
            }
        }
        algorithms
    }

    /// Signs `claims` with the active key into a JWT access token with
    /// `typ: at+jwt` and the key's `kid` (RFC 9068 section 2.1).
    pub fn issue(&self, claims: &AccessTokenClaims) -> String {
        let key = self.active();
        let header = JoseHeader::new(key.algorithm()).with_typ(ACCESS_TOKEN_TYPE);
        key.sign_compact(&header, &claims.to_json())
    }
}
