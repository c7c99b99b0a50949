//! Metadata business logic: a read-through cache in front of the repository (book ch. 7).

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{
    model::{Metadata, MovieId},
    server::{
        error::{RepositoryError, ServiceError},
        metrics as metric_names,
    },
};

/// Storage the controller reads through.
pub trait Repository: Send + Sync + 'static {
    fn get(&self, id: &MovieId) -> impl Future<Output = Result<Metadata, RepositoryError>> + Send;
    fn put(&self, metadata: Metadata) -> impl Future<Output = Result<(), RepositoryError>> + Send;
}

/// Entries the cache holds at most; past that an arbitrary entry makes room.
const CACHE_CAPACITY: usize = 10_000;
/// How long an entry is served. A Put through this process invalidates at once; this bounds
/// how long a Put through another process on the same database (several metadata
/// instances sharing a data directory) can go unseen here.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Controller<R> {
    repo: R,
    cache: Cache,
}

impl<R: Repository> Controller<R> {
    pub fn new(repo: R) -> Self {
        Self {
            repo,
            cache: Cache::default(),
        }
    }

    /// The metadata of movie `id`.
    pub async fn get(&self, id: &MovieId) -> Result<Metadata, ServiceError> {
        if let Some(hit) = self.cache.get(id.as_str()) {
            return Ok(hit);
        }
        let generation = self.cache.generation();
        let metadata = self
            .repo
            .get(id)
            .await
            .map_err(|e| e.or_not_found(|| format!("movie {:?} not found", id.as_str())))?;
        self.cache.insert_unless_changed(generation, &metadata);
        Ok(metadata)
    }

    /// Stores (or replaces) `metadata` and invalidates its cache entry.
    pub async fn put(&self, metadata: Metadata) -> Result<(), ServiceError> {
        let id = metadata.id().clone();
        let result = self.repo.put(metadata).await;
        // Invalidate even on failure: the write may have reached the database.
        self.cache.invalidate(id.as_str());
        Ok(result?)
    }
}

/// A bounded map with a generation counter: a read that started before an invalidation does
/// not put its (possibly stale) result in the cache.
struct Cache {
    ttl: std::time::Duration,
    entries: RwLock<HashMap<String, (Metadata, std::time::Instant)>>,
    generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for Cache {
    fn default() -> Self {
        Self::with_ttl(CACHE_TTL)
    }
}

impl Cache {
    fn with_ttl(ttl: std::time::Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::default(),
            generation: AtomicU64::default(),
            hits: AtomicU64::default(),
            misses: AtomicU64::default(),
        }
    }

    fn get(&self, id: &str) -> Option<Metadata> {
        let hit = self
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .filter(|(_, cached_at)| cached_at.elapsed() < self.ttl)
            .map(|(metadata, _)| metadata.clone());
        let (counter, metric) = if hit.is_some() {
            (&self.hits, metric_names::CACHE_HITS)
        } else {
            (&self.misses, metric_names::CACHE_MISSES)
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric).increment(1);
        hit
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn insert_unless_changed(&self, generation: u64, metadata: &Metadata) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= CACHE_CAPACITY
            && let Some(victim) = entries.keys().next().cloned()
        {
            entries.remove(&victim);
        }
        entries.insert(
            metadata.id().as_str().to_owned(),
            (metadata.clone(), std::time::Instant::now()),
        );
    }

    fn invalidate(&self, id: &str) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::sqlite::StorageError;

    /// A fake repository: a map, a call counter, and an optional failure to return.
    #[derive(Default, Clone)]
    struct Fake {
        rows: Arc<Mutex<HashMap<String, Metadata>>>,
        gets: Arc<AtomicU64>,
        fail: bool,
    }

    impl Repository for Fake {
        async fn get(&self, id: &MovieId) -> Result<Metadata, RepositoryError> {
            self.gets.fetch_add(1, Ordering::Relaxed);
            if self.fail {
                return Err(storage_failure());
            }
            let rows = self.rows.lock().unwrap();
            rows.get(id.as_str())
                .cloned()
                .ok_or(RepositoryError::NotFound)
        }
        async fn put(&self, m: Metadata) -> Result<(), RepositoryError> {
            let id = m.id().as_str().to_owned();
            self.rows.lock().unwrap().insert(id, m);
            Ok(())
        }
    }

    fn storage_failure() -> RepositoryError {
        RepositoryError::Storage(StorageError::Query {
            path: "metadata.db".into(),
            source: rusqlite::Error::InvalidQuery,
        })
    }

    fn movie(title: &str) -> Metadata {
        Metadata::new(id(), title, "", "").unwrap()
    }

    fn id() -> MovieId {
        MovieId::new("id").unwrap()
    }

    #[tokio::test]
    async fn not_found_becomes_the_controllers_not_found() {
        let c = Controller::new(Fake::default());
        let err = c.get(&id()).await.unwrap_err();
        assert!(
            matches!(&err, ServiceError::NotFound(m) if m == "movie \"id\" not found"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unexpected_errors_pass_through() {
        let c = Controller::new(Fake {
            fail: true,
            ..Fake::default()
        });
        assert!(matches!(c.get(&id()).await, Err(ServiceError::Internal(_))));
    }

    #[tokio::test]
    async fn success_is_cached_and_a_put_invalidates() {
        let fake = Fake::default();
        let c = Controller::new(fake.clone());
        c.put(movie("one")).await.unwrap();
        assert_eq!(c.get(&id()).await.unwrap(), movie("one"));
        assert_eq!(c.get(&id()).await.unwrap(), movie("one"));
        assert_eq!(
            fake.gets.load(Ordering::Relaxed),
            1,
            "second get is a cache hit"
        );
        let stats = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        assert_eq!((stats(&c.cache.hits), stats(&c.cache.misses)), (1, 1));
        c.put(movie("two")).await.unwrap();
        assert_eq!(c.get(&id()).await.unwrap(), movie("two"));
        assert_eq!(fake.gets.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn entries_expire_so_other_processes_writes_are_seen() {
        let cache = Cache::with_ttl(std::time::Duration::from_millis(30));
        cache.insert_unless_changed(cache.generation(), &movie("old"));
        assert_eq!(cache.get("id"), Some(movie("old")));
        std::thread::sleep(std::time::Duration::from_millis(40));
        assert_eq!(
            cache.get("id"),
            None,
            "expired: the next read goes to the database"
        );
    }

    #[test]
    fn a_read_older_than_an_invalidation_is_not_cached() {
        let cache = Cache::default();
        let generation = cache.generation();
        cache.invalidate("id");
        cache.insert_unless_changed(generation, &movie("stale"));
        assert!(cache.get("id").is_none());
    }
}
