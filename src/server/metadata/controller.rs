//! Metadata business logic: a read-through cache in front of the repository (book ch. 7).

use std::future::Future;

use crate::{
    events::Source,
    model::{Metadata, MovieId, page, validate},
    server::{
        cache::ReadCache,
        error::{RepositoryError, ServiceError},
        metrics as metric_names,
        outbox::ChangeEvents,
    },
};

/// Storage the controller reads through.
pub trait Repository: Send + Sync + 'static {
    fn get(&self, id: &MovieId) -> impl Future<Output = Result<Metadata, RepositoryError>> + Send;
    /// Stores `metadata`, replacing the movie's; with `events`, writes the change's event
    /// to the outbox in the same transaction. How many events it wrote (none when nothing
    /// changed).
    fn put(
        &self,
        metadata: Metadata,
        events: Option<Source>,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
    /// Up to `limit` movies whose id sorts after `after` (byte order) and whose title
    /// starts with `title_prefix`, by id.
    fn list(
        &self,
        after: Option<String>,
        title_prefix: String,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Metadata>, RepositoryError>> + Send;
}

/// What a listing asks for: the filter, and the page (size as asked, token as given).
pub struct ListQuery {
    pub title_prefix: String,
    pub page_size: i64,
    pub page_token: String,
}

/// One page of movies, and the token of the next (`None` on the last page).
pub struct MetadataPage {
    pub movies: Vec<Metadata>,
    pub next_page_token: Option<String>,
}

/// How long an entry is served. A Put through this process invalidates at once; this bounds
/// how long a Put through another process on the same database (several metadata
/// instances sharing a data directory) can go unseen here.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

pub struct Controller<R> {
    repo: std::sync::Arc<R>,
    cache: ReadCache<MovieId, Metadata>,
    /// Publishing changes, when this process has a broker to publish them to.
    events: Option<ChangeEvents>,
}

impl<R: Repository> Controller<R> {
    pub fn new(repo: R) -> Self {
        Self {
            repo: std::sync::Arc::new(repo),
            cache: ReadCache::new(
                CACHE_TTL,
                metric_names::CACHE_HITS,
                metric_names::CACHE_MISSES,
            ),
            events: None,
        }
    }

    /// Publishes the changes it makes, while the toggle is on.
    #[must_use]
    pub fn with_events(mut self, events: ChangeEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Another process changed movie `id`: what is cached of it is stale.
    pub fn changed_elsewhere(&self, id: &MovieId) {
        self.cache.invalidate([id]);
    }

    /// The metadata of movie `id`. Concurrent misses of `id` share one read.
    pub async fn get(&self, id: &MovieId) -> Result<Metadata, ServiceError> {
        let read = || {
            let (repo, id) = (std::sync::Arc::clone(&self.repo), id.clone());
            async move { repo.get(&id).await }
        };
        self.cache.get_or_load(id, read).await.map_err(|e| {
            if matches!(*e, RepositoryError::NotFound) {
                ServiceError::NotFound(format!("movie {:?} not found", id.as_str()))
            } else {
                e.into()
            }
        })
    }

    /// A page of the movies, by id. Read from storage, not the cache: a listing is for
    /// browsing, and the cache holds single movies.
    pub async fn list(&self, query: ListQuery) -> Result<MetadataPage, ServiceError> {
        let size = page::page_size(query.page_size)?;
        // No title is longer or holds control characters: such a prefix matches nothing,
        // and is more likely a mistake than a question.
        validate::text(
            "title prefix",
            &query.title_prefix,
            validate::MAX_TITLE_BYTES,
            validate::Lines::One,
        )?;
        let filters = format!("metadata title:{}", query.title_prefix);
        let after = page::start_after(&filters, &query.page_token)?;
        // One more than asked: whether there is a next page.
        let movies = self.repo.list(after, query.title_prefix, size + 1).await?;
        let (movies, next_page_token) = page::cut(movies, size, &filters, |m| m.id().as_str());
        Ok(MetadataPage {
            movies,
            next_page_token,
        })
    }

    /// Stores (or replaces) `metadata`, which came in by `source`, and invalidates its
    /// cache entry.
    pub async fn put(&self, metadata: Metadata, source: Source) -> Result<(), ServiceError> {
        let events = match &self.events {
            Some(events) => events.gate(source)?,
            None => None,
        };
        let id = metadata.id().clone();
        let result = self.repo.put(metadata, events).await;
        if let Some(events) = &self.events {
            events.written(&result);
        }
        // Invalidate even on failure: the write may have reached the database.
        self.cache.invalidate([&id]);
        result?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{
            Arc, Mutex,
            atomic::{AtomicU64, Ordering},
        },
    };

    use super::*;
    use crate::database::sqlite::SqliteError;

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
        async fn put(&self, m: Metadata, _: Option<Source>) -> Result<u64, RepositoryError> {
            let id = m.id().as_str().to_owned();
            self.rows.lock().unwrap().insert(id, m);
            Ok(0)
        }
        async fn list(
            &self,
            after: Option<String>,
            title_prefix: String,
            limit: usize,
        ) -> Result<Vec<Metadata>, RepositoryError> {
            let rows = self.rows.lock().unwrap();
            let mut movies: Vec<Metadata> = rows
                .values()
                .filter(|m| after.as_deref().is_none_or(|a| m.id().as_str() > a))
                .filter(|m| m.title().starts_with(&title_prefix))
                .cloned()
                .collect();
            movies.sort_by(|a, b| a.id().as_str().cmp(b.id().as_str()));
            movies.truncate(limit);
            Ok(movies)
        }
    }

    fn storage_failure() -> RepositoryError {
        RepositoryError::Storage(SqliteError::Query {
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
    async fn a_listing_pages_by_id_to_the_end_and_refuses_a_token_for_other_filters() {
        let c = Controller::new(Fake::default());
        for n in 0..7 {
            let id = MovieId::new(format!("m{n}")).unwrap();
            let title = if n % 2 == 0 { "The even" } else { "Odd" };
            c.put(Metadata::new(id, title, "", "").unwrap(), Source::Grpc)
                .await
                .unwrap();
        }
        let query = |prefix: &str, size, token: &str| ListQuery {
            title_prefix: prefix.into(),
            page_size: size,
            page_token: token.into(),
        };
        let mut seen = Vec::new();
        let mut token = String::new();
        loop {
            let page = c.list(query("The", 3, &token)).await.unwrap();
            seen.extend(page.movies.iter().map(|m| m.id().to_string()));
            match page.next_page_token {
                Some(next) => token = next,
                None => break,
            }
        }
        assert_eq!(seen, ["m0", "m2", "m4", "m6"]);
        let first = c.list(query("The", 2, "")).await.unwrap();
        let token = first.next_page_token.unwrap();
        assert!(matches!(
            c.list(query("Odd", 2, &token)).await,
            Err(ServiceError::InvalidArgument(_))
        ));
        assert!(matches!(
            c.list(query("", -1, "")).await,
            Err(ServiceError::InvalidArgument(_))
        ));
        // An exact fit has no next page.
        let all = c.list(query("", 7, "")).await.unwrap();
        assert_eq!(all.movies.len(), 7);
        assert!(all.next_page_token.is_none());
    }

    #[tokio::test]
    async fn success_is_cached_and_a_put_invalidates() {
        let fake = Fake::default();
        let c = Controller::new(fake.clone());
        c.put(movie("one"), Source::Grpc).await.unwrap();
        assert_eq!(c.get(&id()).await.unwrap(), movie("one"));
        assert_eq!(c.get(&id()).await.unwrap(), movie("one"));
        assert_eq!(
            fake.gets.load(Ordering::Relaxed),
            1,
            "second get is a cache hit"
        );
        assert_eq!(c.cache.stats(), (1, 1));
        c.put(movie("two"), Source::Grpc).await.unwrap();
        assert_eq!(c.get(&id()).await.unwrap(), movie("two"));
        assert_eq!(fake.gets.load(Ordering::Relaxed), 2);
    }
}
