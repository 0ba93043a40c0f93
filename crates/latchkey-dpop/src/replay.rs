//! Single use of DPoP proofs (RFC 9449 section 11.1).

use std::collections::{BTreeSet, HashMap};

use latchkey_types::UnixTime;
use sha2::{Digest, Sha256};

use crate::{Htu, JwkThumbprint};

/// The key under which a proof's use is recorded: a SHA-256 digest.
///
/// RFC 9449 section 11.1 says to track `jti` "in the context of the target URI"
/// and to "store only a hash" against memory exhaustion. Latchkey hashes the
/// normalized `htu`, the proof key's thumbprint and the `jti`, each length-prefixed:
/// a replay of a captured proof repeats all three, so it is caught, while a client
/// holding a different key cannot block someone else's `jti` in advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayKey([u8; 32]);

impl ReplayKey {
    /// The key for a proof with this `htu`, key thumbprint and `jti`.
    pub fn new(htu: &Htu, jkt: &JwkThumbprint, jti: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"latchkey-dpop-jti-v1");
        let jkt = jkt.to_encoded();
        for part in [htu.as_str(), jkt.as_str(), jti] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        Self(hash.finalize().into())
    }

    /// Wraps key bytes read back from a store.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes, for stores.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// What a [`ReplayCache`] found when asked to record a proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// First use: the key is now recorded until its expiry.
    Fresh,
    /// The key was already recorded and has not expired: a replay.
    Replayed,
    /// The cache cannot record the key; the proof must be refused (fail closed).
    Full,
}

/// Remembers which proofs were used until they can no longer be accepted.
///
/// `check_and_insert` must be atomic: of two concurrent calls with the same key,
/// exactly one sees [`ReplayOutcome::Fresh`]. An entry is live while
/// `now <= expires_at`; [`validate_proof`](crate::validate_proof) passes the last
/// instant at which the proof's `iat` is still inside the acceptance window, so
/// forgetting the entry afterwards is safe. A cache that cannot store an entry
/// answers [`ReplayOutcome::Full`] rather than dropping live entries, which would
/// let those proofs be replayed. A store shared between requests implements the
/// trait for a cheap handle to itself (for example `&'a Store`, with the atomicity
/// inside the store), so `&mut self` costs it nothing.
pub trait ReplayCache {
    /// Records `key` until `expires_at` unless it is already recorded and live.
    fn check_and_insert(
        &mut self,
        key: ReplayKey,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> ReplayOutcome;
}

/// Whose proofs a [`MemoryReplayCache`] entry counts against: a SHA-256
/// digest of the values that name the holder of the grant (at a resource
/// server, the access token's `client_id` and `sub`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplayPartition([u8; 32]);

impl ReplayPartition {
    /// The partition named by `parts` (each length-prefixed, so `["ab", "c"]`
    /// and `["a", "bc"]` differ).
    pub fn new(parts: &[&str]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"latchkey-dpop-partition-v1");
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        Self(hash.finalize().into())
    }
}

/// A bounded in-memory [`ReplayCache`] for one process.
///
/// It holds at most `capacity` live entries. Expired entries are evicted on each
/// call (oldest expiry first, so eviction is cheap). When every slot holds a
/// live entry, new proofs are refused with [`ReplayOutcome::Full`] until entries
/// expire: the cache fails closed instead of forgetting a proof that could then be
/// replayed. Size `capacity` for the peak rate of valid proofs times the
/// acceptance window ([`DpopConfig::max_age`](crate::DpopConfig) plus skew).
///
/// Shares: proofs recorded through [`Self::partition`] count against their
/// [`ReplayPartition`], which holds at most `share` live entries (see
/// [`Self::with_share`]); beyond that its proofs get [`ReplayOutcome::Full`]
/// while other partitions still have room. So one token holder sending proofs
/// as fast as it can fills its own share, not the whole cache: filling the
/// cache takes `capacity / share` holders doing so at once. The count of
/// partitions tracked is at most the number of live entries.
#[derive(Debug)]
pub struct MemoryReplayCache {
    capacity: usize,
    share: usize,
    entries: HashMap<ReplayKey, Option<ReplayPartition>>,
    by_expiry: BTreeSet<(UnixTime, ReplayKey)>,
    shares: HashMap<ReplayPartition, usize>,
}

impl MemoryReplayCache {
    /// An empty cache holding at most `capacity` live entries, a share as
    /// large as the whole cache.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            share: capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            shares: HashMap::new(),
        }
    }

    /// This cache with at most `share` live entries per [`ReplayPartition`].
    pub fn with_share(mut self, share: usize) -> Self {
        self.share = share;
        self
    }

    /// The largest number of live entries one partition may hold.
    pub fn share(&self) -> usize {
        self.share
    }

    /// This cache recording proofs against `partition`'s share.
    pub fn partition(&mut self, partition: ReplayPartition) -> PartitionedReplayCache<'_> {
        PartitionedReplayCache {
            cache: self,
            partition,
        }
    }

    /// How many entries are held (live or not yet evicted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn evict_expired(&mut self, now: UnixTime) {
        while let Some(&(expires_at, key)) = self.by_expiry.first() {
            if expires_at >= now {
                break;
            }
            self.by_expiry.pop_first();
            if let Some(Some(partition)) = self.entries.remove(&key)
                && let Some(count) = self.shares.get_mut(&partition)
            {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.shares.remove(&partition);
                }
            }
        }
    }

    fn insert(
        &mut self,
        key: ReplayKey,
        expires_at: UnixTime,
        now: UnixTime,
        partition: Option<ReplayPartition>,
    ) -> ReplayOutcome {
        self.evict_expired(now);
        if self.entries.contains_key(&key) {
            return ReplayOutcome::Replayed;
        }
        if self.entries.len() >= self.capacity {
            return ReplayOutcome::Full;
        }
        if let Some(partition) = partition {
            let count = self.shares.entry(partition).or_insert(0);
            if *count >= self.share {
                if *count == 0 {
                    self.shares.remove(&partition);
                }
                return ReplayOutcome::Full;
            }
            *count += 1;
        }
        self.entries.insert(key, partition);
        self.by_expiry.insert((expires_at, key));
        ReplayOutcome::Fresh
    }
}

impl ReplayCache for MemoryReplayCache {
    fn check_and_insert(
        &mut self,
        key: ReplayKey,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> ReplayOutcome {
        self.insert(key, expires_at, now, None)
    }
}

/// A [`MemoryReplayCache`] recording against one partition's share (see
/// [`MemoryReplayCache::partition`]). Replays are still detected across
/// partitions: the key alone decides whether a proof was seen.
#[derive(Debug)]
pub struct PartitionedReplayCache<'a> {
    cache: &'a mut MemoryReplayCache,
    partition: ReplayPartition,
}

impl ReplayCache for PartitionedReplayCache<'_> {
    fn check_and_insert(
        &mut self,
        key: ReplayKey,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> ReplayOutcome {
        self.cache
            .insert(key, expires_at, now, Some(self.partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> ReplayKey {
        ReplayKey::from_bytes([n; 32])
    }

    fn t(secs: u64) -> UnixTime {
        UnixTime::from_secs(secs)
    }

    #[test]
    fn rfc_9449_section_11_1_second_use_within_the_window_is_a_replay() {
        let mut cache = MemoryReplayCache::new(4);
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(100)),
            ReplayOutcome::Fresh
        );
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(120)),
            ReplayOutcome::Replayed
        );
        // Still live at the expiry instant itself.
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(160)),
            ReplayOutcome::Replayed
        );
        assert_eq!(
            cache.check_and_insert(key(2), t(160), t(120)),
            ReplayOutcome::Fresh
        );
    }

    #[test]
    fn expired_entries_are_evicted() {
        let mut cache = MemoryReplayCache::new(2);
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(100)),
            ReplayOutcome::Fresh
        );
        assert_eq!(
            cache.check_and_insert(key(2), t(170), t(100)),
            ReplayOutcome::Fresh
        );
        assert_eq!(
            cache.check_and_insert(key(3), t(200), t(161)),
            ReplayOutcome::Fresh
        );
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.check_and_insert(key(1), t(230), t(171)),
            ReplayOutcome::Fresh
        );
    }

    #[test]
    fn rfc_9449_section_11_1_full_cache_fails_closed_instead_of_forgetting() {
        let mut cache = MemoryReplayCache::new(2);
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(100)),
            ReplayOutcome::Fresh
        );
        assert_eq!(
            cache.check_and_insert(key(2), t(160), t(100)),
            ReplayOutcome::Fresh
        );
        // Full of live entries: a new proof is refused...
        assert_eq!(
            cache.check_and_insert(key(3), t(160), t(101)),
            ReplayOutcome::Full
        );
        // ...and the live entries are all still remembered.
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(101)),
            ReplayOutcome::Replayed
        );
        assert_eq!(
            cache.check_and_insert(key(2), t(160), t(101)),
            ReplayOutcome::Replayed
        );
        // Once they expire there is room again.
        assert_eq!(
            cache.check_and_insert(key(3), t(220), t(161)),
            ReplayOutcome::Fresh
        );
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let mut cache = MemoryReplayCache::new(0);
        assert!(cache.is_empty());
        assert_eq!(
            cache.check_and_insert(key(1), t(160), t(100)),
            ReplayOutcome::Full
        );
    }

    #[test]
    fn security_one_client_cannot_fill_the_dpop_replay_cache_for_everyone() {
        let mut cache = MemoryReplayCache::new(100).with_share(3);
        let flooder = ReplayPartition::new(&["client-a", "alice"]);
        let other = ReplayPartition::new(&["client-b", "bob"]);
        for n in 0..3 {
            assert_eq!(
                cache
                    .partition(flooder)
                    .check_and_insert(key(n), t(160), t(100)),
                ReplayOutcome::Fresh
            );
        }
        // The flooder's share is used up; its further proofs are refused...
        for n in 3..50 {
            assert_eq!(
                cache
                    .partition(flooder)
                    .check_and_insert(key(n), t(160), t(100)),
                ReplayOutcome::Full
            );
        }
        assert_eq!(cache.len(), 3, "refused proofs take no room");
        // ...while another holder's proofs are still recorded.
        assert_eq!(
            cache
                .partition(other)
                .check_and_insert(key(200), t(160), t(100)),
            ReplayOutcome::Fresh
        );
        // A replay is a replay whichever partition presents it.
        assert_eq!(
            cache
                .partition(other)
                .check_and_insert(key(0), t(160), t(101)),
            ReplayOutcome::Replayed
        );
        // Once the flooder's entries expire its share is free again, and no
        // empty share is left behind.
        assert_eq!(
            cache
                .partition(flooder)
                .check_and_insert(key(60), t(230), t(161)),
            ReplayOutcome::Fresh
        );
        assert_eq!(cache.shares.len(), 1);
    }

    #[test]
    fn shares_never_exceed_the_whole_cache() {
        let mut cache = MemoryReplayCache::new(4).with_share(3);
        for (n, holder) in [(1, "a"), (2, "a"), (3, "b"), (4, "b")] {
            assert_eq!(
                cache
                    .partition(ReplayPartition::new(&[holder]))
                    .check_and_insert(key(n), t(160), t(100)),
                ReplayOutcome::Fresh
            );
        }
        assert_eq!(
            cache
                .partition(ReplayPartition::new(&["c"]))
                .check_and_insert(key(5), t(160), t(100)),
            ReplayOutcome::Full
        );
        assert_ne!(
            ReplayPartition::new(&["ab", "c"]),
            ReplayPartition::new(&["a", "bc"])
        );
    }

    #[test]
    fn replay_key_binds_htu_jkt_and_jti() {
        let htu = Htu::parse("https://ex.com/token").unwrap();
        let other = Htu::parse("https://ex.com/other").unwrap();
        let jkt = JwkThumbprint::parse("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").unwrap();
        let jkt2 = JwkThumbprint::parse("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs").unwrap();
        let a = ReplayKey::new(&htu, &jkt, "jti-1");
        assert_eq!(a, ReplayKey::new(&htu, &jkt, "jti-1"));
        assert_ne!(a, ReplayKey::new(&other, &jkt, "jti-1"));
        assert_ne!(a, ReplayKey::new(&htu, &jkt2, "jti-1"));
        assert_ne!(a, ReplayKey::new(&htu, &jkt, "jti-2"));
        assert_eq!(ReplayKey::from_bytes(*a.as_bytes()), a);
    }
}
