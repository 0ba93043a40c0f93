//! [`TokenCache`]: accepted tokens remembered by the SHA-256 of the token,
//! bounded in size and in time. Used for validated JWTs and for
//! introspection results.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use latchkey_types::{TokenDigest, UnixTime};

/// At most `capacity` entries, each kept until the earlier of the time given
/// when it was stored (the token's `exp`) and `ttl` after it was stored. The
/// token itself is never kept, only its digest. When full, expired entries
/// are purged first, then the entry that would expire soonest is evicted.
pub(crate) struct TokenCache<V> {
    capacity: usize,
    ttl: Option<Duration>,
    entries: HashMap<TokenDigest, Entry<V>>,
    /// `(until, sequence)` of every entry: expired ones are at the front.
    by_expiry: BTreeMap<(UnixTime, u64), TokenDigest>,
    sequence: u64,
}

struct Entry<V> {
    until: UnixTime,
    sequence: u64,
    value: V,
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` entries (`0`: nothing is kept), each
    /// for at most `ttl` when given.
    pub(crate) fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Self {
            capacity,
            ttl,
            entries: HashMap::new(),
            by_expiry: BTreeMap::new(),
            sequence: 0,
        }
    }

    /// The value stored for `digest`, unless it expired before `now`.
    pub(crate) fn get(&self, digest: &TokenDigest, now: UnixTime) -> Option<V> {
        let entry = self.entries.get(digest)?;
        (now < entry.until).then(|| entry.value.clone())
    }

    /// Keeps `value` for `digest` until `exp`, and at most the TTL after
    /// `now`. An entry that would already be expired is not stored.
    pub(crate) fn insert(&mut self, digest: TokenDigest, exp: UnixTime, value: V, now: UnixTime) {
        let until = match self.ttl {
            Some(ttl) => exp.min(now.saturating_add(ttl)),
            None => exp,
        };
        if self.capacity == 0 || until <= now {
            return;
        }
        self.remove(&digest);
        self.purge(now);
        while self.entries.len() >= self.capacity {
            let Some((_, evicted)) = self.by_expiry.pop_first() else {
                break;
            };
            self.entries.remove(&evicted);
        }
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        self.by_expiry.insert((until, sequence), digest);
        self.entries.insert(
            digest,
            Entry {
                until,
                sequence,
                value,
            },
        );
    }

    /// Drops every entry expired at `now`.
    pub(crate) fn purge(&mut self, now: UnixTime) {
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let digest = entry.remove();
            self.entries.remove(&digest);
        }
    }

    /// How many entries are held, expired ones not yet purged included.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    fn remove(&mut self, digest: &TokenDigest) {
        if let Some(old) = self.entries.remove(digest) {
            self.by_expiry.remove(&(old.until, old.sequence));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> UnixTime {
        UnixTime::from_secs(1_800_000_000 + secs)
    }

    fn key(token: &str) -> TokenDigest {
        TokenDigest::of(token.as_bytes())
    }

    #[test]
    fn an_entry_lives_until_exp_and_never_past_the_ttl() {
        let mut cache = TokenCache::new(10, Some(Duration::from_secs(60)));
        cache.insert(key("a"), at(30), 1, at(0));
        cache.insert(key("b"), at(300), 2, at(0));
        assert_eq!(cache.get(&key("a"), at(29)), Some(1));
        assert_eq!(cache.get(&key("a"), at(30)), None, "never past exp");
        assert_eq!(cache.get(&key("b"), at(59)), Some(2));
        assert_eq!(cache.get(&key("b"), at(60)), None, "never past the ttl");
    }

    #[test]
    fn without_a_ttl_only_exp_bounds_an_entry() {
        let mut cache = TokenCache::new(10, None);
        cache.insert(key("a"), at(3600), 1, at(0));
        assert_eq!(cache.get(&key("a"), at(3599)), Some(1));
        assert_eq!(cache.get(&key("a"), at(3600)), None);
    }

    #[test]
    fn a_zero_capacity_or_ttl_keeps_nothing() {
        let mut none = TokenCache::new(0, None);
        none.insert(key("a"), at(60), 1, at(0));
        assert_eq!(none.get(&key("a"), at(0)), None);
        let mut zero_ttl = TokenCache::new(10, Some(Duration::ZERO));
        zero_ttl.insert(key("a"), at(60), 1, at(0));
        assert_eq!(zero_ttl.get(&key("a"), at(0)), None);
        assert_eq!(zero_ttl.len(), 0);
    }

    #[test]
    fn a_full_cache_purges_expired_entries_then_evicts_the_soonest_to_expire() {
        let mut cache = TokenCache::new(2, None);
        cache.insert(key("a"), at(10), 1, at(0));
        cache.insert(key("b"), at(100), 2, at(0));
        // At 20, "a" is expired: it is purged and "b" stays.
        cache.insert(key("c"), at(200), 3, at(20));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key("b"), at(20)), Some(2));
        // Nothing expired: "b" (exp 100) goes before "c" (exp 200).
        cache.insert(key("d"), at(300), 4, at(30));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&key("b"), at(30)), None);
        assert_eq!(cache.get(&key("c"), at(30)), Some(3));
        assert_eq!(cache.get(&key("d"), at(30)), Some(4));
    }

    #[test]
    fn the_purge_drops_expired_entries_and_their_index() {
        let mut cache = TokenCache::new(10, None);
        for (i, token) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(key(token), at(10 * (i as u64 + 1)), i, at(0));
        }
        cache.purge(at(20));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.by_expiry.len(), 1);
        assert_eq!(cache.get(&key("c"), at(20)), Some(2));
    }

    #[test]
    fn storing_a_token_again_replaces_its_entry() {
        let mut cache = TokenCache::new(10, None);
        cache.insert(key("a"), at(10), 1, at(0));
        cache.insert(key("a"), at(20), 2, at(0));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.by_expiry.len(), 1);
        assert_eq!(cache.get(&key("a"), at(15)), Some(2));
    }
}
