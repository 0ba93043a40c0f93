//! Brute-force protection for password sign-in: failed attempts are counted
//! per user name and per client address, and too many of either within a
//! window lock that name or that address out for a while, twice as long with
//! each further lockout.
//!
//! OAuth 2.1 section 7.7 requires the authorization server to prevent the
//! guessing of resource owner passwords, and to protect credentials meant for
//! people "by other means" than the 128 bits of entropy generated tokens have.
//! The rules here follow the usual advice for login forms:
//!
//! - **Two independent counters.** Per user name, so that one account cannot
//!   be guessed slowly from many addresses; per client address, so that one
//!   address cannot try a common password against many accounts (password
//!   spraying). IPv6 addresses count per /64, the block one customer usually
//!   holds; IPv4-mapped IPv6 addresses count as the IPv4 address.
//! - **Lockouts that grow.** [`LoginPolicy::max_failures_per_user`] (or
//!   `_per_address`) failures within [`LoginPolicy::window`] lock the key for
//!   one window; each further lockout doubles, up to
//!   [`LoginPolicy::max_lockout`]. A key's lockout history is forgotten once it
//!   stays quiet for `max_lockout` after its last lockout ends.
//! - **Checked before any work.** [`LoginLimiter::begin`] answers for a locked
//!   key before the user is looked up and before argon2 runs, so the limit
//!   also bounds the CPU an attacker can spend.
//! - **The same for every name.** Unknown user names are counted and locked
//!   exactly like existing ones, so a lockout says nothing about whether an
//!   account exists.
//! - **Success clears the name only.** A successful sign-in forgets the user
//!   name's failures but only refunds its own attempt on the address:
//!   otherwise an attacker holding one account of their own could clear their
//!   address between guesses.
//! - **Attempts in flight count.** An attempt counts when it begins and is
//!   refunded only when it succeeds, so a burst of parallel requests cannot
//!   all slip under the limit while the first ones are still being verified.
//! - **Bounded memory.** Each table keeps at most [`LoginPolicy::max_tracked`]
//!   keys. When a new key arrives at a full table, records past their expiry
//!   go first, then those that would be forgotten soonest, so lockouts outlive
//!   plain counters. User names are kept as SHA-256 digests: 32 bytes each,
//!   whatever was typed.
//!
//! The limiter never reads the clock: every call takes `now`, the caller's
//! reading for the request. State lives in memory: a restart forgets it, and
//! several server instances each count on their own.
//!
//! A per-user lockout lets anyone who knows a user name keep that person from
//! signing in anew (sessions already open are unaffected) for as long as they
//! keep failing on purpose; that is the usual price of per-account limits.
//!
//! ```
//! use std::time::Duration;
//! use latchkey_server::login_limit::{LoginLimiter, LoginPolicy};
//! use latchkey_types::UnixTime;
//!
//! let policy = LoginPolicy { max_failures_per_user: 2, ..LoginPolicy::default() };
//! let limiter = LoginLimiter::new(policy);
//! let now = UnixTime::from_secs(1_800_000_000);
//! let address = Some("192.0.2.7".parse()?);
//! for _ in 0..2 {
//!     let attempt = limiter.begin("alice", address, now).expect("not locked yet");
//!     // ... the password was wrong:
//!     limiter.failed(attempt, now);
//! }
//! let blocked = limiter.begin("alice", address, now).expect_err("locked");
//! assert_eq!(blocked.retry_after(), policy.window);
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use latchkey_types::UnixTime;
use sha2::{Digest, Sha256};

/// Failed sign-ins per user name, within one window, before a lockout.
pub const DEFAULT_MAX_FAILURES_PER_USER: u32 = 5;
/// Failed sign-ins per client address, within one window, before a lockout.
pub const DEFAULT_MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// The counting window, and the length of a first lockout: 15 minutes.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// The longest lockout: 1 hour.
pub const DEFAULT_MAX_LOCKOUT: Duration = Duration::from_secs(60 * 60);
/// The most user names, and the most addresses, tracked at once.
pub const DEFAULT_MAX_TRACKED: usize = 10_000;
/// The `X-Forwarded-For` walk the limits share with the rate limits (in
/// `latchkey-http`, where it has a fuzz target).
pub use latchkey_http::{MAX_FORWARDED_HOPS, TrustedProxies};

/// The limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Failed sign-ins per user name within [`window`](Self::window) that
    /// start a lockout of that name.
    pub max_failures_per_user: u32,
    /// Failed sign-ins per client address within [`window`](Self::window)
    /// that start a lockout of that address.
    pub max_failures_per_address: u32,
    /// How long failures are counted from the first one, and how long a
    /// first lockout lasts.
    pub window: Duration,
    /// The longest a lockout lasts, however often it repeats.
    pub max_lockout: Duration,
    /// The most keys each table (user names, addresses) holds.
    pub max_tracked: usize,
}

impl Default for LoginPolicy {
    /// See the `DEFAULT_*` constants.
    fn default() -> Self {
        Self {
            max_failures_per_user: DEFAULT_MAX_FAILURES_PER_USER,
            max_failures_per_address: DEFAULT_MAX_FAILURES_PER_ADDRESS,
            window: DEFAULT_WINDOW,
            max_lockout: DEFAULT_MAX_LOCKOUT,
            max_tracked: DEFAULT_MAX_TRACKED,
        }
    }
}

impl LoginPolicy {
    /// How long the `strikes`-th lockout of a key lasts: one window, doubled
    /// for each earlier lockout, at most `max_lockout`, at least one second.
    pub fn lockout(&self, strikes: u32) -> Duration {
        let doublings = strikes.saturating_sub(1).min(31);
        let factor = 1u32 << doublings;
        self.window
            .checked_mul(factor)
            .map_or(self.max_lockout, |lockout| lockout.min(self.max_lockout))
            .max(Duration::from_secs(1))
    }
}

/// A refusal: the user name or the address is locked out for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked {
    retry_after: Duration,
}

impl Blocked {
    /// How long until an attempt may be made again (at least one second).
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// [`retry_after`](Self::retry_after) in whole seconds, for the
    /// `Retry-After` header (RFC 9110 section 10.2.3).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }

    fn new(retry_after: Duration) -> Self {
        Self {
            retry_after: retry_after.max(Duration::from_secs(1)),
        }
    }

    fn longer(self, other: Option<Self>) -> Self {
        match other {
            Some(other) if other.retry_after > self.retry_after => other,
            _ => self,
        }
    }
}

/// One sign-in attempt in progress, counted against its user name and its
/// address until it is reported with [`LoginLimiter::succeeded`],
/// [`LoginLimiter::failed`] or [`LoginLimiter::abandon`]. Dropping it leaves
/// it counted as a failure.
#[derive(Debug)]
#[must_use = "report how the attempt ended"]
pub struct Attempt {
    user: UserKey,
    address: AddressKey,
}

/// The failure counters of one server.
#[derive(Debug)]
pub struct LoginLimiter {
    policy: LoginPolicy,
    users: Mutex<Table<UserKey>>,
    addresses: Mutex<Table<AddressKey>>,
}

impl LoginLimiter {
    /// Empty counters under `policy`.
    pub fn new(policy: LoginPolicy) -> Self {
        Self {
            policy,
            users: Mutex::new(Table::new(policy.max_failures_per_user)),
            addresses: Mutex::new(Table::new(policy.max_failures_per_address)),
        }
    }

    /// The limits in force.
    pub fn policy(&self) -> &LoginPolicy {
        &self.policy
    }

    /// Starts an attempt to sign in as `username` from `address` (`None`
    /// when the client's address is unknown: all such attempts share one
    /// counter). Refused when either is locked out, or when attempts already
    /// in flight use up what is left of either's allowance; nothing is
    /// counted then.
    pub fn begin(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: UnixTime,
    ) -> Result<Attempt, Blocked> {
        let user = user_key(username);
        let address = address_key(address);
        let mut users = lock(&self.users);
        let mut addresses = lock(&self.addresses);
        let user_blocked = users.blocked(&user, now, &self.policy);
        let address_blocked = addresses.blocked(&address, now, &self.policy);
        if let Some(blocked) = user_blocked {
            return Err(blocked.longer(address_blocked));
        }
        if let Some(blocked) = address_blocked {
            return Err(blocked);
        }
        users.reserve(user, now, &self.policy);
        addresses.reserve(address, now, &self.policy);
        Ok(Attempt { user, address })
    }

    /// The attempt succeeded: the user name's failures are forgotten and the
    /// attempt is refunded to the address (whose other failures stay).
    pub fn succeeded(&self, attempt: Attempt) {
        let mut users = lock(&self.users);
        let mut addresses = lock(&self.addresses);
        users.forget(&attempt.user);
        addresses.refund(&attempt.address);
    }

    /// The attempt failed (wrong password or unknown user name). Returns the
    /// lockout it started, if it was the last failure allowed for its user
    /// name or its address.
    pub fn failed(&self, attempt: Attempt, now: UnixTime) -> Option<Blocked> {
        let mut users = lock(&self.users);
        let mut addresses = lock(&self.addresses);
        let user = users.fail(attempt.user, now, &self.policy);
        let address = addresses.fail(attempt.address, now, &self.policy);
        match user {
            Some(blocked) => Some(blocked.longer(address)),
            None => address,
        }
    }

    /// The attempt could not be decided (the user store failed): it is
    /// refunded to both counters.
    pub fn abandon(&self, attempt: Attempt) {
        let mut users = lock(&self.users);
        let mut addresses = lock(&self.addresses);
        users.refund(&attempt.user);
        addresses.refund(&attempt.address);
    }

    /// How many user names and how many addresses are tracked (expired
    /// records included until they are purged).
    pub fn tracked(&self) -> (usize, usize) {
        (lock(&self.users).len(), lock(&self.addresses).len())
    }
}

type UserKey = [u8; 32];

/// What an address counts as: an IPv4 address, an IPv6 /64, or "unknown".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(Ipv4Addr),
    V6Prefix(u64),
    Unknown,
}

fn user_key(username: &str) -> UserKey {
    Sha256::digest(username.as_bytes()).into()
}

fn address_key(address: Option<IpAddr>) -> AddressKey {
    match address.map(|address| address.to_canonical()) {
        Some(IpAddr::V4(v4)) => AddressKey::V4(v4),
        Some(IpAddr::V6(v6)) => {
            let [a, b, c, d, e, f, g, h, ..] = v6.octets();
            AddressKey::V6Prefix(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
        }
        None => AddressKey::Unknown,
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What is known about one key.
#[derive(Clone, Copy, Debug)]
struct Record {
    /// Failures, and attempts in flight, since `window_start`.
    failures: u32,
    window_start: UnixTime,
    /// Lockouts so far: the exponent of the next lockout's length.
    strikes: u32,
    /// Locked while `now < locked_until`.
    locked_until: UnixTime,
}

impl Record {
    fn new(now: UnixTime) -> Self {
        Self {
            failures: 0,
            window_start: now,
            strikes: 0,
            locked_until: UnixTime::EPOCH,
        }
    }

    fn window_end(&self, policy: &LoginPolicy) -> UnixTime {
        self.window_start.saturating_add(policy.window)
    }

    /// When the record no longer matters: its window is over, its lockout is
    /// over, and (after a lockout) `max_lockout` has passed quietly.
    fn forget_at(&self, policy: &LoginPolicy) -> UnixTime {
        let window_end = self.window_end(policy);
        if self.strikes == 0 {
            return window_end.max(self.locked_until);
        }
        window_end.max(self.locked_until.saturating_add(policy.max_lockout))
    }
}

/// The records of one kind of key.
#[derive(Debug)]
struct Table<K> {
    records: HashMap<K, Record>,
    max_failures: u32,
}

impl<K: Copy + Eq + Hash> Table<K> {
    fn new(max_failures: u32) -> Self {
        Self {
            records: HashMap::new(),
            max_failures: max_failures.max(1),
        }
    }

    fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether `key` may not start an attempt now, and for how long.
    fn blocked(&mut self, key: &K, now: UnixTime, policy: &LoginPolicy) -> Option<Blocked> {
        let record = *self.records.get(key)?;
        if record.forget_at(policy) <= now {
            self.records.remove(key);
            return None;
        }
        if record.locked_until > now {
            return record.locked_until.duration_since(now).map(Blocked::new);
        }
        let window_end = record.window_end(policy);
        if record.failures >= self.max_failures && window_end > now {
            // Only attempts still in flight can fill the allowance without a
            // lockout; they decide it shortly, or it ends with the window.
            return window_end.duration_since(now).map(Blocked::new);
        }
        None
    }

    /// Counts an attempt for `key`.
    fn reserve(&mut self, key: K, now: UnixTime, policy: &LoginPolicy) {
        if !self.records.contains_key(&key) {
            self.make_room(now, policy);
        }
        let record = self.records.entry(key).or_insert_with(|| Record::new(now));
        if record.window_end(policy) <= now {
            record.failures = 0;
            record.window_start = now;
        }
        record.failures = record.failures.saturating_add(1);
    }

    /// Settles a counted attempt as a failure; starts a lockout when the
    /// allowance is used up.
    fn fail(&mut self, key: K, now: UnixTime, policy: &LoginPolicy) -> Option<Blocked> {
        if !self.records.contains_key(&key) {
            // Evicted while the attempt was in flight: count it again.
            self.reserve(key, now, policy);
        }
        let max_failures = self.max_failures;
        let record = self.records.get_mut(&key)?;
        if record.failures < max_failures {
            return None;
        }
        record.strikes = record.strikes.saturating_add(1);
        let lockout = policy.lockout(record.strikes);
        record.locked_until = now.saturating_add(lockout);
        record.failures = 0;
        record.window_start = now;
        Some(Blocked::new(lockout))
    }

    fn refund(&mut self, key: &K) {
        if let Some(record) = self.records.get_mut(key) {
            record.failures = record.failures.saturating_sub(1);
        }
    }

    fn forget(&mut self, key: &K) {
        self.records.remove(key);
    }

    /// Makes room for one more key: drops what is past its expiry, then, if
    /// still full, what would be forgotten soonest.
    fn make_room(&mut self, now: UnixTime, policy: &LoginPolicy) {
        let max = policy.max_tracked.max(1);
        if self.records.len() < max {
            return;
        }
        self.records
            .retain(|_, record| record.forget_at(policy) > now);
        while self.records.len() >= max {
            let soonest = self
                .records
                .iter()
                .min_by_key(|(_, record)| record.forget_at(policy))
                .map(|(key, _)| *key);
            match soonest {
                Some(key) => self.records.remove(&key),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
    const WINDOW: Duration = Duration::from_secs(60);

    fn policy() -> LoginPolicy {
        LoginPolicy {
            max_failures_per_user: 3,
            max_failures_per_address: 5,
            window: WINDOW,
            max_lockout: Duration::from_secs(400),
            max_tracked: 100,
        }
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn at(secs: u64) -> UnixTime {
        NOW.saturating_add(Duration::from_secs(secs))
    }

    /// One failed attempt; the lockout it started, if any.
    fn fail(
        limiter: &LoginLimiter,
        user: &str,
        address: Option<IpAddr>,
        now: UnixTime,
    ) -> Option<Blocked> {
        let attempt = limiter.begin(user, address, now).unwrap();
        limiter.failed(attempt, now)
    }

    fn retry_after(
        limiter: &LoginLimiter,
        user: &str,
        address: Option<IpAddr>,
        now: UnixTime,
    ) -> Option<u64> {
        match limiter.begin(user, address, now) {
            Ok(attempt) => {
                limiter.abandon(attempt);
                None
            }
            Err(blocked) => Some(blocked.retry_after_secs()),
        }
    }

    #[test]
    fn oauth_2_1_section_7_7_the_last_allowed_failure_locks_the_user_for_one_window() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        assert_eq!(fail(&limiter, "alice", a, at(1)), None);
        let locked = fail(&limiter, "alice", a, at(2)).unwrap();
        assert_eq!(locked.retry_after(), WINDOW);
        assert_eq!(retry_after(&limiter, "alice", a, at(2)), Some(60));
        assert_eq!(retry_after(&limiter, "alice", a, at(61)), Some(1));
        assert_eq!(retry_after(&limiter, "alice", a, at(62)), None);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        assert_eq!(fail(&limiter, "alice", a, at(30)), None);
        // The window started at NOW: at 60 it is over and counting starts again.
        assert_eq!(fail(&limiter, "alice", a, at(60)), None);
        assert_eq!(fail(&limiter, "alice", a, at(61)), None);
        assert!(fail(&limiter, "alice", a, at(62)).is_some());
    }

    #[test]
    fn each_further_lockout_doubles_up_to_the_maximum() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        let mut now = NOW;
        let mut lockouts = Vec::new();
        for _ in 0..5 {
            fail(&limiter, "alice", a, now);
            fail(&limiter, "alice", a, now);
            let blocked = fail(&limiter, "alice", a, now).unwrap();
            lockouts.push(blocked.retry_after_secs());
            assert_eq!(
                retry_after(&limiter, "alice", a, now),
                Some(blocked.retry_after_secs())
            );
            now = now.saturating_add(blocked.retry_after());
            assert_eq!(retry_after(&limiter, "alice", a, now), None);
        }
        assert_eq!(lockouts, [60, 120, 240, 400, 400]);
        assert_eq!(policy().lockout(40), Duration::from_secs(400));
        assert_eq!(policy().lockout(u32::MAX), Duration::from_secs(400));
    }

    #[test]
    fn lockout_history_is_forgotten_after_a_quiet_max_lockout() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        for _ in 0..3 {
            fail(&limiter, "alice", a, NOW);
        }
        // The lockout ends at 60; 400 s of quiet after it, the record goes.
        let later = at(60 + 400);
        fail(&limiter, "alice", a, later);
        fail(&limiter, "alice", a, later);
        assert_eq!(
            fail(&limiter, "alice", a, later).map(|b| b.retry_after_secs()),
            Some(60),
            "a first lockout again, not a doubled one"
        );
        // Within the quiet period the history counts: the next one doubles.
        let limiter = LoginLimiter::new(policy());
        for _ in 0..3 {
            fail(&limiter, "alice", a, NOW);
        }
        let soon = at(60 + 399);
        fail(&limiter, "alice", a, soon);
        fail(&limiter, "alice", a, soon);
        assert_eq!(
            fail(&limiter, "alice", a, soon).map(|b| b.retry_after_secs()),
            Some(120)
        );
    }

    #[test]
    fn success_resets_the_user_name_but_not_the_address() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        fail(&limiter, "alice", a, NOW);
        fail(&limiter, "alice", a, NOW);
        let attempt = limiter.begin("alice", a, NOW).unwrap();
        limiter.succeeded(attempt);
        // The user name starts afresh: two more failures do not lock it.
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        // But the address has seen four failures; the fifth locks it, for
        // every user name, although alice has only two.
        let locked = fail(&limiter, "mallory", a, NOW).unwrap();
        assert_eq!(locked.retry_after(), WINDOW);
        assert_eq!(retry_after(&limiter, "bob", a, NOW), Some(60));
    }

    #[test]
    fn a_locked_user_name_is_locked_from_every_address_and_no_other_name_is() {
        let limiter = LoginLimiter::new(policy());
        let (a, b) = (ip("192.0.2.1"), ip("198.51.100.2"));
        for _ in 0..3 {
            fail(&limiter, "alice", a, NOW);
        }
        assert_eq!(retry_after(&limiter, "alice", a, NOW), Some(60));
        assert_eq!(retry_after(&limiter, "alice", b, NOW), Some(60));
        assert_eq!(retry_after(&limiter, "alice", None, NOW), Some(60));
        assert_eq!(retry_after(&limiter, "bob", a, NOW), None);
        assert_eq!(retry_after(&limiter, "bob", b, NOW), None);
        assert_eq!(
            retry_after(&limiter, "Alice", a, NOW),
            None,
            "names are exact"
        );
    }

    #[test]
    fn a_locked_address_is_locked_for_every_name_and_no_other_address_is() {
        let limiter = LoginLimiter::new(policy());
        let (a, b) = (ip("192.0.2.1"), ip("198.51.100.2"));
        // Password spraying: one failure each for five names.
        for name in ["u1", "u2", "u3", "u4"] {
            assert_eq!(fail(&limiter, name, a, NOW), None);
        }
        assert!(fail(&limiter, "u5", a, NOW).is_some());
        assert_eq!(retry_after(&limiter, "u6", a, NOW), Some(60));
        assert_eq!(retry_after(&limiter, "u6", b, NOW), None);
        assert_eq!(retry_after(&limiter, "u1", b, NOW), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = LoginLimiter::new(policy());
        for (i, address) in [
            "2001:db8:1:2::1",
            "2001:db8:1:2::2",
            "2001:db8:1:2:ffff::3",
            "2001:db8:1:2:aaaa:bbbb:cccc:dddd",
            "2001:db8:1:2::5",
        ]
        .into_iter()
        .enumerate()
        {
            let blocked = fail(&limiter, &format!("u{i}"), ip(address), NOW);
            assert_eq!(blocked.is_some(), i == 4);
        }
        assert_eq!(
            retry_after(&limiter, "x", ip("2001:db8:1:2::9"), NOW),
            Some(60)
        );
        assert_eq!(retry_after(&limiter, "x", ip("2001:db8:1:3::1"), NOW), None);

        let limiter = LoginLimiter::new(policy());
        for i in 0..5 {
            fail(&limiter, &format!("u{i}"), ip("::ffff:192.0.2.9"), NOW);
        }
        assert_eq!(retry_after(&limiter, "x", ip("192.0.2.9"), NOW), Some(60));
    }

    #[test]
    fn unknown_addresses_share_one_counter() {
        let limiter = LoginLimiter::new(policy());
        for i in 0..5 {
            fail(&limiter, &format!("u{i}"), None, NOW);
        }
        assert_eq!(retry_after(&limiter, "x", None, NOW), Some(60));
        assert_eq!(retry_after(&limiter, "x", ip("192.0.2.1"), NOW), None);
    }

    #[test]
    fn attempts_in_flight_count_so_a_burst_cannot_exceed_the_allowance() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        let in_flight: Vec<Attempt> = (0..3)
            .map(|_| limiter.begin("alice", a, NOW).unwrap())
            .collect();
        // A fourth parallel attempt is refused until the first ones settle.
        let refused = limiter.begin("alice", a, NOW).unwrap_err();
        assert_eq!(refused.retry_after(), WINDOW);
        let mut lockouts = 0;
        for attempt in in_flight {
            lockouts += usize::from(limiter.failed(attempt, NOW).is_some());
        }
        assert_eq!(lockouts, 1, "one lockout, not one per settled attempt");
        assert_eq!(retry_after(&limiter, "alice", a, NOW), Some(60));
    }

    #[test]
    fn an_abandoned_attempt_is_refunded() {
        let limiter = LoginLimiter::new(policy());
        let a = ip("192.0.2.1");
        for _ in 0..10 {
            let attempt = limiter.begin("alice", a, NOW).unwrap();
            limiter.abandon(attempt);
        }
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        assert_eq!(fail(&limiter, "alice", a, NOW), None);
        assert!(fail(&limiter, "alice", a, NOW).is_some());
    }

    #[test]
    fn memory_is_bounded_and_lockouts_outlive_plain_counters() {
        let limiter = LoginLimiter::new(LoginPolicy {
            max_tracked: 8,
            max_failures_per_address: 1_000_000,
            ..policy()
        });
        for _ in 0..3 {
            fail(&limiter, "victim", ip("192.0.2.1"), NOW);
        }
        for i in 0..1_000u32 {
            let address = IpAddr::V4(Ipv4Addr::from_bits(0x0a00_0000 | i));
            fail(&limiter, &format!("name-{i}"), Some(address), at(1));
        }
        assert_eq!(limiter.tracked(), (8, 8));
        assert_eq!(
            retry_after(&limiter, "victim", ip("198.51.100.1"), at(1)),
            Some(59),
            "a flood of new names does not evict a lockout"
        );
        // Expired records make room first.
        let later = at(10_000);
        fail(&limiter, "fresh", ip("192.0.2.200"), later);
        assert_eq!(limiter.tracked(), (1, 1));
    }
}
