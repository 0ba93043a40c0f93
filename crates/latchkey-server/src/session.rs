//! Server-side sessions of signed-in users: an in-memory map from the
//! SHA-256 of a 256-bit random cookie value to the user, the CSRF token of
//! the session's forms, and the authorization requests waiting for consent.
//!
//! Only a successful sign-in creates a session (sign-in is rate limited and
//! costs an argon2 verification); before it, the login form carries its
//! state sealed (see [`crate::sealed`]), so anonymous visitors add nothing
//! here. Signing in always creates a new session id (no session fixation).
//!
//! Bounds: a session ends [`SESSION_LIFETIME`] after sign-in; at most
//! [`MAX_SESSIONS_PER_ADDRESS`] live per client address (an IPv4 address, or
//! an IPv6 /64), the address's oldest going first; at most [`MAX_SESSIONS`]
//! live in all, expired ones purged first, then the oldest. Sessions do not
//! survive a restart, which only means signing in again.
//!
//! Each waiting authorization request has its own 256-bit random id (the
//! consent page's URL and form carry it), bound to its session: an id from
//! another session finds nothing. A session holds at most
//! [`MAX_PENDING_PER_SESSION`] of them, each for at most [`PENDING_LIFETIME`].
//! Once a consent page has been shown for a request, nothing replaces it: a
//! new request takes the place of the oldest one never shown, or is refused
//! when every slot holds a shown one. A consent decision takes only a request
//! whose page was shown, once.
//!
//! Memory: a waiting request is what the authorization endpoint accepted from
//! a query of at most 32 KiB, so a session holds at most
//! [`MAX_PENDING_PER_SESSION`] × 32 KiB, one address at most
//! [`MAX_SESSIONS_PER_ADDRESS`] times that (16 MiB), and the whole map at
//! most [`MAX_SESSIONS`] times that; filling it takes a valid account and
//! signing in from many addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use latchkey_engine::authorize::PendingAuthorization;
use latchkey_types::{SecretString, Subject, TokenDigest, UnixTime};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;

/// How long a session lasts from sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// The most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;
/// The most sessions kept at once for one client address (IPv6: one /64).
pub const MAX_SESSIONS_PER_ADDRESS: usize = 64;
/// The most authorization requests one session keeps waiting for consent.
pub const MAX_PENDING_PER_SESSION: usize = 8;
/// How long an authorization request waits for consent (at most until the
/// session ends).
pub const PENDING_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The signed-in user of a session, and its forms' CSRF token.
#[derive(Clone, Debug)]
pub struct SignedIn {
    /// Who signed in.
    pub subject: Subject,
    /// When they signed in.
    pub auth_time: UnixTime,
    /// Who they are at the identity provider they signed in through; `None`
    /// for a password sign-in.
    pub upstream: Option<UpstreamProfile>,
    csrf: String,
}

/// What the consent page shows of a person signed in through an identity
/// provider (issue 10: provider, name, email).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamProfile {
    /// The provider's display name.
    pub provider: String,
    /// The person's name, when the provider gave one.
    pub name: Option<String>,
    /// The person's email address, when the provider gave one.
    pub email: Option<String>,
}

impl SignedIn {
    /// A signed-in user with the CSRF token `csrf`, for page tests.
    #[cfg(test)]
    pub(crate) fn for_tests(subject: &str, csrf: &str, upstream: Option<UpstreamProfile>) -> Self {
        Self {
            subject: Subject::parse(subject).unwrap_or_else(|_| Subject::parse("x").unwrap()),
            auth_time: UnixTime::from_secs(1_800_000_000),
            upstream,
            csrf: csrf.to_owned(),
        }
    }

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

/// Why a waiting authorization request could not be added or taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PendingError {
    /// The session does not exist (any more).
    #[error("no such session")]
    NoSession,
    /// Every slot of the session holds a request whose page was shown.
    #[error("too many authorization requests are waiting in this session")]
    Full,
    /// This session holds no live request with that id.
    #[error("no such authorization request in this session")]
    Unknown,
    /// The request exists, but no consent page was shown for it.
    #[error("no consent page was shown for this authorization request")]
    NotShown,
}

/// The session map.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
    per_address: usize,
    /// Orders sessions that expire in the same second by creation.
    created: AtomicU64,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::with_address_cap(MAX_SESSIONS_PER_ADDRESS)
    }
}

#[derive(Debug)]
struct Session {
    user: SignedIn,
    address: Option<IpAddr>,
    expires_at: UnixTime,
    created: u64,
    pending: Vec<Pending>,
}

#[derive(Debug)]
struct Pending {
    id: [u8; 32],
    authorization: PendingAuthorization,
    shown: bool,
    expires_at: UnixTime,
}

impl Sessions {
    /// An empty map, with at most [`MAX_SESSIONS_PER_ADDRESS`] sessions per address.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty map with at most `per_address` sessions (at least one) per address.
    pub fn with_address_cap(per_address: usize) -> Self {
        Self {
            map: Mutex::default(),
            per_address: per_address.clamp(1, MAX_SESSIONS),
            created: AtomicU64::new(0),
        }
    }

    /// A new session for `subject`, signed in at `now` from `address`;
    /// returns the cookie value. Makes room first: expired sessions go, then
    /// the oldest of the same address beyond its cap,
    /// then the oldest of all beyond [`MAX_SESSIONS`].
    pub fn sign_in(
        &self,
        subject: Subject,
        address: Option<IpAddr>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> SecretString {
        self.sign_in_with(subject, None, address, now, rng)
    }

    /// [`sign_in`](Self::sign_in) for a person who signed in through an
    /// identity provider, with what the consent page shows of them.
    pub fn sign_in_with(
        &self,
        subject: Subject,
        upstream: Option<UpstreamProfile>,
        address: Option<IpAddr>,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> SecretString {
        let id = SecretString::generate(rng, 32);
        let address = address.map(address_bucket);
        let session = Session {
            user: SignedIn {
                subject,
                auth_time: now,
                upstream,
                csrf: SecretString::generate(rng, 32).expose_secret().to_owned(),
            },
            address,
            expires_at: now.saturating_add(SESSION_LIFETIME),
            created: self.created.fetch_add(1, Ordering::Relaxed),
            pending: Vec::new(),
        };
        let mut map = self.lock();
        let same_address = |s: &Session| address.is_some() && s.address == address;
        if map.len() >= MAX_SESSIONS
            || map.values().filter(|s| same_address(s)).count() >= self.per_address
        {
            map.retain(|_, s| s.expires_at > now);
        }
        while map.values().filter(|s| same_address(s)).count() >= self.per_address {
            let Some(oldest) = oldest(&map, same_address) else {
                break;
            };
            map.remove(&oldest);
        }
        while map.len() >= MAX_SESSIONS {
            let Some(oldest) = oldest(&map, |_| true) else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(key_of(id.expose_secret()), session);
        id
    }

    /// The signed-in user of the live session with cookie value `id`.
    pub fn signed_in(&self, id: &str, now: UnixTime) -> Option<SignedIn> {
        let map = self.lock();
        map.get(&key_of(id))
            .filter(|session| session.expires_at > now)
            .map(|session| session.user.clone())
    }

    /// Keeps `authorization` waiting for consent in the session `id`; returns
    /// its new request id. Never replaces a request whose page was shown.
    pub fn add_pending(
        &self,
        id: &str,
        authorization: PendingAuthorization,
        now: UnixTime,
        rng: &mut impl CryptoRng,
    ) -> Result<SecretString, PendingError> {
        let mut map = self.lock();
        let session = live(&mut map, id, now)?;
        session.pending.retain(|p| p.expires_at > now);
        if session.pending.len() >= MAX_PENDING_PER_SESSION {
            let unshown = session.pending.iter().position(|p| !p.shown);
            match unshown {
                // The oldest never shown: no page refers to it.
                Some(index) => {
                    session.pending.remove(index);
                }
                None => return Err(PendingError::Full),
            }
        }
        let request_id = SecretString::generate(rng, 32);
        session.pending.push(Pending {
            id: key_of(request_id.expose_secret()),
            authorization,
            shown: false,
            expires_at: now.saturating_add(PENDING_LIFETIME).min(session.expires_at),
        });
        Ok(request_id)
    }

    /// The request `request_id` of session `id` and its signed-in user, for
    /// the consent page; from now on it counts as shown.
    pub fn show(
        &self,
        id: &str,
        request_id: &str,
        now: UnixTime,
    ) -> Result<(PendingAuthorization, SignedIn), PendingError> {
        let mut map = self.lock();
        let session = live(&mut map, id, now)?;
        let index = find(&session.pending, request_id, now)?;
        let pending = session
            .pending
            .get_mut(index)
            .ok_or(PendingError::Unknown)?;
        pending.shown = true;
        Ok((pending.authorization.clone(), session.user.clone()))
    }

    /// Takes the request `request_id` out of session `id`, once, for a
    /// consent decision; only a request whose page was shown. A request not
    /// shown yet stays where it is.
    pub fn take_shown(
        &self,
        id: &str,
        request_id: &str,
        now: UnixTime,
    ) -> Result<(PendingAuthorization, SignedIn), PendingError> {
        let mut map = self.lock();
        let session = live(&mut map, id, now)?;
        let index = find(&session.pending, request_id, now)?;
        if !session.pending.get(index).is_some_and(|p| p.shown) {
            return Err(PendingError::NotShown);
        }
        let pending = session.pending.remove(index);
        Ok((pending.authorization, session.user.clone()))
    }

    /// How many requests session `id` keeps waiting (expired ones included
    /// until the next change).
    pub fn pending_len(&self, id: &str) -> usize {
        self.lock()
            .get(&key_of(id))
            .map_or(0, |session| session.pending.len())
    }

    /// Ends the session with cookie value `id`.
    pub fn remove(&self, id: &str) {
        self.lock().remove(&key_of(id));
    }

    /// How many sessions are stored (expired ones included until purged).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn live<'a>(
    map: &'a mut HashMap<[u8; 32], Session>,
    id: &str,
    now: UnixTime,
) -> Result<&'a mut Session, PendingError> {
    map.get_mut(&key_of(id))
        .filter(|session| session.expires_at > now)
        .ok_or(PendingError::NoSession)
}

/// The index of the live request `request_id` (compared in constant time).
fn find(pending: &[Pending], request_id: &str, now: UnixTime) -> Result<usize, PendingError> {
    let wanted = key_of(request_id);
    pending
        .iter()
        .position(|p| bool::from(p.id.ct_eq(&wanted)) && p.expires_at > now)
        .ok_or(PendingError::Unknown)
}

fn oldest(map: &HashMap<[u8; 32], Session>, among: impl Fn(&Session) -> bool) -> Option<[u8; 32]> {
    map.iter()
        .filter(|(_, s)| among(s))
        .min_by_key(|(_, s)| (s.expires_at, s.created))
        .map(|(key, _)| *key)
}

/// The unit the per-address cap counts: an IPv4 address, or the /64 of an
/// IPv6 address (one subscriber usually holds a whole /64).
fn address_bucket(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

fn key_of(id: &str) -> [u8; 32] {
    *TokenDigest::of(id.as_bytes()).as_bytes()
}

/// Unpadded base64url of 32 random bytes: the shape of every session id,
/// pre-login cookie and request id.
pub use latchkey_http::looks_like_session_id;

#[cfg(test)]
mod tests {
    use rand_core::SeedableRng;

    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

    fn demo() -> Subject {
        Subject::parse("demo").unwrap()
    }

    fn pending(state: &str) -> PendingAuthorization {
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
            "state": state,
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

    #[test]
    fn ids_are_256_bit_and_sessions_expire() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let sessions = Sessions::new();
        let id = sessions.sign_in(demo(), None, NOW, &mut rng);
        assert!(looks_like_session_id(id.expose_secret()));
        let user = sessions.signed_in(id.expose_secret(), NOW).unwrap();
        assert_eq!(user.subject, demo());
        assert_eq!(user.auth_time, NOW);
        let later = NOW.saturating_add(SESSION_LIFETIME);
        assert!(sessions.signed_in(id.expose_secret(), later).is_none());
        assert!(user.csrf_matches(user.csrf()));
        assert!(!user.csrf_matches("forged"));
        assert!(!user.csrf_matches(""));
        assert_eq!(format!("{id:?}"), "SecretString(..)");
    }

    #[test]
    fn the_map_is_bounded() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        let sessions = Sessions::new();
        for i in 0..MAX_SESSIONS + 5 {
            let address = IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]);
            sessions.sign_in(demo(), Some(address), NOW, &mut rng);
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
    }

    #[test]
    fn one_address_keeps_at_most_its_share_and_loses_its_own_oldest() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let sessions = Sessions::new();
        let victim = sessions.sign_in(demo(), Some([192, 0, 2, 1].into()), NOW, &mut rng);
        let flooder: IpAddr = "2001:db8::1".parse().unwrap();
        let first = sessions.sign_in(demo(), Some(flooder), NOW, &mut rng);
        for i in 0..MAX_SESSIONS_PER_ADDRESS * 3 {
            // Any address in the same /64 counts as the same one.
            let address = IpAddr::V6(
                (u128::from_be_bytes([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
                    | i as u128)
                    .into(),
            );
            sessions.sign_in(
                demo(),
                Some(address),
                NOW.saturating_add(Duration::from_secs(1)),
                &mut rng,
            );
        }
        assert_eq!(sessions.len(), 1 + MAX_SESSIONS_PER_ADDRESS);
        assert!(sessions.signed_in(victim.expose_secret(), NOW).is_some());
        assert!(sessions.signed_in(first.expose_secret(), NOW).is_none());
    }

    #[test]
    fn a_shown_request_is_never_replaced_and_is_taken_once() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let sessions = Sessions::new();
        let id = sessions.sign_in(demo(), None, NOW, &mut rng);
        let id = id.expose_secret();
        let shown = sessions
            .add_pending(id, pending("x"), NOW, &mut rng)
            .unwrap();
        sessions.show(id, shown.expose_secret(), NOW).unwrap();
        // Fill the other slots with requests never shown, then add more.
        for i in 0..MAX_PENDING_PER_SESSION * 2 {
            sessions
                .add_pending(id, pending(&format!("a{i}")), NOW, &mut rng)
                .unwrap();
        }
        assert_eq!(sessions.pending_len(id), MAX_PENDING_PER_SESSION);
        let (taken, user) = sessions.take_shown(id, shown.expose_secret(), NOW).unwrap();
        assert_eq!(taken.state(), Some("x"));
        assert_eq!(user.subject, demo());
        assert_eq!(
            sessions
                .take_shown(id, shown.expose_secret(), NOW)
                .unwrap_err(),
            PendingError::Unknown
        );
    }

    #[test]
    fn a_session_full_of_shown_requests_refuses_a_new_one() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let sessions = Sessions::new();
        let id = sessions.sign_in(demo(), None, NOW, &mut rng);
        let id = id.expose_secret();
        for i in 0..MAX_PENDING_PER_SESSION {
            let request = sessions
                .add_pending(id, pending(&format!("s{i}")), NOW, &mut rng)
                .unwrap();
            sessions.show(id, request.expose_secret(), NOW).unwrap();
        }
        assert_eq!(
            sessions
                .add_pending(id, pending("new"), NOW, &mut rng)
                .unwrap_err(),
            PendingError::Full
        );
        // Once they expire there is room again.
        let later = NOW.saturating_add(PENDING_LIFETIME);
        assert!(
            sessions
                .add_pending(id, pending("new"), later, &mut rng)
                .is_ok()
        );
    }

    #[test]
    fn a_request_is_bound_to_its_session_and_taken_only_once_shown() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
        let sessions = Sessions::new();
        let mine = sessions.sign_in(demo(), None, NOW, &mut rng);
        let other = sessions.sign_in(demo(), None, NOW, &mut rng);
        let request = sessions
            .add_pending(mine.expose_secret(), pending("x"), NOW, &mut rng)
            .unwrap();
        let request = request.expose_secret();
        assert_eq!(
            sessions
                .show(other.expose_secret(), request, NOW)
                .unwrap_err(),
            PendingError::Unknown
        );
        assert_eq!(
            sessions
                .take_shown(mine.expose_secret(), request, NOW)
                .unwrap_err(),
            PendingError::NotShown
        );
        sessions.show(mine.expose_secret(), request, NOW).unwrap();
        assert_eq!(
            sessions
                .take_shown(other.expose_secret(), request, NOW)
                .unwrap_err(),
            PendingError::Unknown
        );
        assert!(
            sessions
                .take_shown(mine.expose_secret(), request, NOW)
                .is_ok()
        );
    }
}
