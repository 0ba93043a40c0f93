//! Server-side sessions for the login and consent pages: an in-memory map
//! from the SHA-256 of a 256-bit random cookie value to what the session
//! holds (the pending authorization, the signed-in user, the CSRF token).
//!
//! Sessions end after [`SESSION_LIFETIME`]; at most [`MAX_SESSIONS`] live at
//! once (the oldest go first), so unauthenticated visitors cannot exhaust
//! memory. Signing in replaces the session id (no session fixation). They do
//! not survive a restart, which only means signing in again.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use latchkey_engine::authorize::PendingAuthorization;
use latchkey_types::{SecretString, Subject, TokenDigest, UnixTime};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

/// How long a session lasts from its creation.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

/// What a session holds.
#[derive(Clone, Debug)]
pub struct Session {
    /// The authorization waiting for sign-in and consent.
    pub pending: Option<PendingAuthorization>,
    /// The signed-in user and when they signed in.
    pub user: Option<(Subject, UnixTime)>,
    /// The CSRF token every form of this session carries.
    csrf: String,
    expires_at: UnixTime,
}

impl Session {
    /// The CSRF token to put in forms.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// Whether `presented` is this session's CSRF token (constant time over digests).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let expected = TokenDigest::of(self.csrf.as_bytes());
        let presented = TokenDigest::of(presented.as_bytes());
        bool::from(expected.as_bytes().ct_eq(presented.as_bytes()))
    }
}

/// The session map.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

impl Sessions {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new session holding `pending`; returns the cookie value and the session.
    pub fn create(
        &self,
        pending: Option<PendingAuthorization>,
        user: Option<(Subject, UnixTime)>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> (SecretString, Session) {
        let id = SecretString::generate(rng, 32);
        let session = Session {
            pending,
            user,
            csrf: SecretString::generate(rng, 32).expose_secret().to_owned(),
            expires_at: now.saturating_add(SESSION_LIFETIME),
        };
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires_at > now);
        }
        while map.len() >= MAX_SESSIONS {
            let oldest = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(key, _)| *key);
            match oldest {
                Some(key) => map.remove(&key),
                None => break,
            };
        }
        map.insert(key_of(id.expose_secret()), session.clone());
        (id, session)
    }

    /// The live session with cookie value `id`.
    pub fn get(&self, id: &str, now: UnixTime) -> Option<Session> {
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key_of(id))
            .filter(|session| session.expires_at > now)
            .cloned()
    }

    /// Stores `session` under `id` again (after a change), if it still exists.
    pub fn put(&self, id: &str, session: Session) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = map.get_mut(&key_of(id)) {
            *slot = session;
        }
    }

    /// Ends the session with cookie value `id`.
    pub fn remove(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&key_of(id));
    }

    /// How many sessions are stored (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn key_of(id: &str) -> [u8; 32] {
    *TokenDigest::of(id.as_bytes()).as_bytes()
}

/// Unpadded base64url of 32 random bytes: the shape of every session id.
pub fn looks_like_session_id(value: &str) -> bool {
    value.len() == 43 && Base64UrlUnpadded::decode_vec(value).is_ok_and(|bytes| bytes.len() == 32)
}

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    #[test]
    fn ids_are_256_bit_and_sessions_expire() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let sessions = Sessions::new();
        let (id, session) = sessions.create(None, None, NOW, &mut rng);
        assert!(looks_like_session_id(id.expose_secret()));
        assert!(sessions.get(id.expose_secret(), NOW).is_some());
        let later = NOW.saturating_add(SESSION_LIFETIME);
        assert!(sessions.get(id.expose_secret(), later).is_none());
        assert!(session.csrf_matches(session.csrf()));
        assert!(!session.csrf_matches("forged"));
        assert!(!session.csrf_matches(""));
        assert_eq!(format!("{id:?}"), "SecretString(..)");
    }

    #[test]
    fn the_map_is_bounded() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let sessions = Sessions::new();
        for _ in 0..MAX_SESSIONS + 5 {
            sessions.create(None, None, NOW, &mut rng);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
    }
}
