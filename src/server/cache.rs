//! A read-through cache for a controller: bounded, each entry served for a short time, and
//! invalidated by the writes this process makes. A generation counter keeps a read that
//! started before an invalidation from caching its (possibly stale) result. Writes through
//! another process on the same database go unseen for at most the entry's time to live.
//!
//! Misses of one key at the same time share one read ([`SingleFlight`]): when a popular
//! entry expires, the callers that find it gone wait for one database read instead of each
//! running their own.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;

use super::error::RepositoryError;

// Tokio's clock, which tests can pause and move.
use tokio::time::Instant;

/// Entries a cache holds at most; past that an arbitrary entry makes room.
pub const CAPACITY: usize = 10_000;

/// What a read found: a value, or a failure every caller that waited on it shares.
pub type Loaded<V> = Result<V, Arc<RepositoryError>>;

pub struct ReadCache<K, V> {
    ttl: Duration,
    entries: RwLock<HashMap<K, (V, Instant)>>,
    generation: AtomicU64,
    hits: metrics::Counter,
    misses: metrics::Counter,
    counts: [AtomicU64; 2],
    /// Reads under way: the generation each began at, and what it found.
    flights: SingleFlight<K, (u64, Loaded<V>)>,
}

impl<K, V> ReadCache<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The entry for `key`: cached, else read by `load`, a read shared with every caller
    /// that misses `key` while it runs. The read runs as a task of its own, so a caller
    /// that stops waiting (its deadline passed) does not cancel it for the others. What
    /// it finds is cached unless a write invalidated `key` after it began.
    pub async fn get_or_load<F>(&self, key: &K, load: impl FnOnce() -> F) -> Loaded<V>
    where
        F: Future<Output = Result<V, RepositoryError>> + Send + 'static,
    {
        if let Some(hit) = self.get(key) {
            return Ok(hit);
        }
        let shared = self
            .flights
            .run(key.clone(), || {
                let generation = self.generation();
                let read = load();
                async move { (generation, read.await.map_err(Arc::new)) }
            })
            .await;
        let Some((generation, loaded)) = shared else {
            return Err(Arc::new(RepositoryError::Abandoned));
        };
        if let Ok(value) = &loaded {
            self.insert_unless_changed(generation, key.clone(), value.clone());
        }
        loaded
    }

    /// Entries served for `ttl`; hits and misses counted in the two metrics named.
    pub fn new(ttl: Duration, hits: &'static str, misses: &'static str) -> Self {
        Self {
            ttl,
            entries: RwLock::default(),
            generation: AtomicU64::default(),
            hits: metrics::counter!(hits),
            misses: metrics::counter!(misses),
            counts: [AtomicU64::default(), AtomicU64::default()],
            flights: SingleFlight::default(),
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
        // A read under way may predate the write: later callers start their own.
        let mut flights = self.flights.lock();
        for key in keys {
            entries.remove(key);
            flights.remove(key);
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

/// One run at a time per key: callers that ask for a key while its run is under way wait for
/// that run's result instead of starting another.
pub struct SingleFlight<K, T> {
    runs: Arc<Mutex<HashMap<K, Run<T>>>>,
    next_id: AtomicU64,
}

/// A run under way: its id (so that only it removes itself) and where its result appears.
struct Run<T> {
    id: u64,
    result: watch::Receiver<Option<T>>,
}

impl<K, T> Default for SingleFlight<K, T> {
    fn default() -> Self {
        Self {
            runs: Arc::default(),
            next_id: AtomicU64::default(),
        }
    }
}

impl<K, T> SingleFlight<K, T>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The result of the run for `key` under way, or of a new one `start` makes, which is
    /// spawned: it completes whoever stops waiting. `None` only if the run was dropped
    /// unfinished (the runtime shutting down).
    pub async fn run<F>(&self, key: K, start: impl FnOnce() -> F) -> Option<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut result = {
            let mut runs = self.lock();
            match runs.get(&key) {
                Some(run) => run.result.clone(),
                None => {
                    let (sender, result) = watch::channel(None);
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    runs.insert(
                        key.clone(),
                        Run {
                            id,
                            result: result.clone(),
                        },
                    );
                    // In the starting caller's span and trace: its trace shows the read,
                    // and the read's log lines carry its trace id.
                    let work = crate::telemetry::trace_ids::TraceIds::carry(
                        tracing::Instrument::in_current_span(start()),
                    );
                    let runs = Arc::clone(&self.runs);
                    tokio::spawn(async move {
                        let value = work.await;
                        {
                            let mut runs = runs.lock().unwrap_or_else(PoisonError::into_inner);
                            if runs.get(&key).is_some_and(|run| run.id == id) {
                                runs.remove(&key);
                            }
                        }
                        // Nobody waiting any more is fine.
                        let _ = sender.send(Some(value));
                    });
                    result
                }
            }
        };
        result.wait_for(Option::is_some).await.ok()?.clone()
    }

    /// The runs under way. Removing one makes later callers of its key start a new run;
    /// those waiting keep waiting for theirs.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Run<T>>> {
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs under way.
    #[cfg(test)]
    fn under_way(&self) -> usize {
        self.runs.lock().unwrap().len()
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

    /// A loader that counts its reads and takes `delay` to answer `value`.
    fn slow_read(
        reads: &Arc<AtomicU64>,
        delay: Duration,
        value: u32,
    ) -> impl FnOnce() -> std::pin::Pin<Box<dyn Future<Output = Result<u32, RepositoryError>> + Send>>
    {
        let reads = Arc::clone(reads);
        move || {
            reads.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(value)
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_of_one_key_share_one_read() {
        let c = Arc::new(cache(Duration::from_secs(1)));
        let reads = Arc::new(AtomicU64::new(0));
        let callers: Vec<_> = (0..16)
            .map(|_| {
                let (c, reads) = (Arc::clone(&c), Arc::clone(&reads));
                tokio::spawn(async move {
                    c.get_or_load(
                        &"hot".to_owned(),
                        slow_read(&reads, Duration::from_millis(50), 7),
                    )
                    .await
                    .unwrap()
                })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.unwrap(), 7);
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(c.flights.under_way(), 0);
        // Cached now; another key is another read.
        assert_eq!(c.get(&"hot".to_owned()), Some(7));
        c.get_or_load(&"cold".to_owned(), slow_read(&reads, Duration::ZERO, 1))
            .await
            .unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_stops_waiting_does_not_cancel_the_read_for_the_others() {
        let c = Arc::new(cache(Duration::from_secs(1)));
        let reads = Arc::new(AtomicU64::new(0));
        let key = "hot".to_owned();
        // The first caller, who starts the read, gives up after 10 ms of its 100.
        let impatient = tokio::time::timeout(
            Duration::from_millis(10),
            c.get_or_load(&key, slow_read(&reads, Duration::from_millis(100), 7)),
        );
        let patient = {
            let (c, key, reads) = (Arc::clone(&c), key.clone(), Arc::clone(&reads));
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                c.get_or_load(&key, slow_read(&reads, Duration::from_millis(100), 8))
                    .await
            })
        };
        assert!(impatient.await.is_err(), "the first caller timed out");
        assert_eq!(
            patient.await.unwrap().unwrap(),
            7,
            "the first read's answer"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(c.get(&key), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_during_a_read_makes_later_callers_read_again() {
        let c = Arc::new(cache(Duration::from_secs(1)));
        let reads = Arc::new(AtomicU64::new(0));
        let key = "k".to_owned();
        let before = {
            let (c, key, reads) = (Arc::clone(&c), key.clone(), Arc::clone(&reads));
            tokio::spawn(async move {
                c.get_or_load(&key, slow_read(&reads, Duration::from_millis(100), 1))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.invalidate([&key]); // a write, while the first read runs
        let after = c
            .get_or_load(&key, slow_read(&reads, Duration::from_millis(10), 2))
            .await
            .unwrap();
        assert_eq!(after, 2, "read after the write");
        assert_eq!(before.await.unwrap().unwrap(), 1);
        assert_eq!(reads.load(Ordering::SeqCst), 2);
        // The read that began before the write is not what stays cached.
        assert_eq!(c.get(&key), Some(2));
    }

    #[tokio::test]
    async fn a_failed_read_is_shared_and_not_cached() {
        let c = cache(Duration::from_secs(1));
        let key = "k".to_owned();
        let failed = c
            .get_or_load(&key, || async { Err(RepositoryError::NotFound) })
            .await
            .unwrap_err();
        assert!(matches!(*failed, RepositoryError::NotFound));
        assert_eq!(c.get(&key), None);
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
