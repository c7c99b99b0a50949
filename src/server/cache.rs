//! A read-through cache for a controller: bounded, each entry served for a short time, and
//! invalidated by the writes this process makes. A generation counter keeps a read that
//! started before an invalidation from caching its (possibly stale) result. Writes through
//! another process on the same database go unseen for at most the entry's time to live.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

// Tokio's clock, which tests can pause and move.
use tokio::time::Instant;

/// Entries a cache holds at most; past that an arbitrary entry makes room.
pub const CAPACITY: usize = 10_000;

pub struct ReadCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
    hits: metrics::Counter,
    misses: metrics::Counter,
    counts: [AtomicU64; 2],
}

impl<K: Hash + Eq + Clone, V: Clone> ReadCache<K, V> {
    /// Entries served for `ttl`; hits and misses counted in the two metrics named.
    pub fn new(ttl: Duration, hits: &'static str, misses: &'static str) -> Self {
        Self {
            ttl,
            entries: RwLock::default(),
            generation: AtomicU64::default(),
            hits: metrics::counter!(hits),
            misses: metrics::counter!(misses),
            counts: [AtomicU64::default(), AtomicU64::default()],
        }
    }

    /// The entry for `key`, if cached and fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let hit = self
            .entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .filter(|(_, cached_at)| cached_at.elapsed() < self.ttl)
            .map(|(value, _)| value.clone());
        let (counter, count) = match hit {
            Some(_) => (&self.hits, &self.counts[0]),
            None => (&self.misses, &self.counts[1]),
        };
        counter.increment(1);
        count.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Taken before reading the database, for [`Self::insert_unless_changed`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Caches what a read found, unless something was invalidated since it began.
    pub fn insert_unless_changed(&self, generation: u64, key: K, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CAPACITY
            && !entries.contains_key(&key)
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
        entries.insert(key, (value, Instant::now()));
    }

    /// Forgets `keys` (a write changed them), and any read under way.
    pub fn invalidate<'a>(&self, keys: impl IntoIterator<Item = &'a K>)
    where
        K: 'a,
    {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        for key in keys {
            entries.remove(key);
        }
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.counts[0].load(Ordering::Relaxed),
            self.counts[1].load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(ttl: Duration) -> ReadCache<String, u32> {
        ReadCache::new(ttl, "test_hits", "test_misses")
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_and_count() {
        let c = cache(Duration::from_millis(30));
        c.insert_unless_changed(c.generation(), "a".into(), 1);
        tokio::time::advance(Duration::from_millis(29)).await;
        assert_eq!(c.get(&"a".into()), Some(1));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert_eq!(c.get(&"a".into()), None);
        assert_eq!(c.stats(), (1, 1));
    }

    #[test]
    fn a_read_that_began_before_an_invalidation_is_not_cached() {
        let c = cache(Duration::from_secs(60));
        let generation = c.generation();
        c.invalidate([&"a".to_owned()]);
        c.insert_unless_changed(generation, "a".into(), 1);
        assert_eq!(c.get(&"a".into()), None);
        c.insert_unless_changed(c.generation(), "a".into(), 2);
        assert_eq!(c.get(&"a".into()), Some(2));
    }

    #[test]
    fn it_stays_bounded() {
        let c = cache(Duration::from_secs(60));
        for i in 0..(CAPACITY + 10) {
            c.insert_unless_changed(c.generation(), i.to_string(), 0);
        }
        assert_eq!(c.entries.read().unwrap().len(), CAPACITY);
    }
}
