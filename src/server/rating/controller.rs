//! Rating business logic: aggregates read through a short-lived cache, which this
//! process's writes (PutRating, the rating feed) invalidate at once.

use std::future::Future;

use crate::{
    calls::fallback::{FallbackSettings, LastKnown, Served},
    events::Source,
    model::{RatingChange, RecordKey, UserRating, page},
    server::{
        cache::ReadCache,
        error::{RepositoryError, ServiceError},
        metrics as metric_names,
        outbox::ChangeEvents,
    },
};

/// How long an aggregate is served from the cache. Writes through this process invalidate
/// at once; this bounds how long a write through another process on the same database goes
/// unseen here, as for metadata.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// The mean rating of a record over its users, and how many users rated it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aggregate {
    pub mean: f64,
    pub count: u64,
}

impl Aggregate {
    /// The aggregate of a stored count and sum: `None` when there is none, or no rating.
    pub fn of(count_and_sum: Option<(i64, i64)>) -> Option<Self> {
        let (count, sum) = count_and_sum?;
        let count = u64::try_from(count).ok().filter(|&c| c > 0)?;
        #[allow(clippy::cast_precision_loss)]
        Some(Self {
            mean: sum as f64 / count as f64,
            count,
        })
    }
}

/// Storage the controller uses.
pub trait Repository: Send + Sync + 'static {
    /// `NotFound` when the record has no ratings.
    fn aggregate(
        &self,
        key: &RecordKey,
    ) -> impl Future<Output = Result<Aggregate, RepositoryError>> + Send;
    /// Stores the rating, replacing the same user's earlier rating of the record; with
    /// `events`, writes the change's event to the outbox in the same transaction. How many
    /// events it wrote (none when nothing changed).
    fn put(
        &self,
        rating: UserRating,
        events: Option<Source>,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
    /// Applies puts and deletes in order, all or none, with their events as for
    /// [`Self::put`].
    fn apply(
        &self,
        changes: std::sync::Arc<[RatingChange]>,
        events: Option<Source>,
    ) -> impl Future<Output = Result<u64, RepositoryError>> + Send;
    /// Up to `limit` ratings of `key` by users whose id sorts after `after` (byte order), by
    /// user id.
    fn list(
        &self,
        key: &RecordKey,
        after: Option<String>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<UserRating>, RepositoryError>> + Send;
}

/// One page of a record's ratings, and the token of the next (`None` on the last page).
pub struct RatingsPage {
    pub ratings: Vec<UserRating>,
    pub next_page_token: Option<String>,
}

pub struct Controller<R> {
    repo: std::sync::Arc<R>,
    cache: ReadCache<RecordKey, Aggregate>,
    /// The aggregates last served, for when the database cannot be read.
    last_known: LastKnown<RecordKey, Aggregate>,
    /// Publishing changes, when this process has a broker to publish them to.
    events: Option<ChangeEvents>,
}

impl<R: Repository> Controller<R> {
    pub fn new(repo: R, fallback: &FallbackSettings) -> Self {
        Self::with_cache_ttl(repo, fallback, CACHE_TTL)
    }

    /// [`Self::new`] with aggregates cached for `ttl` (zero: not cached).
    pub fn with_cache_ttl(repo: R, fallback: &FallbackSettings, ttl: std::time::Duration) -> Self {
        Self {
            repo: std::sync::Arc::new(repo),
            cache: ReadCache::new(
                ttl,
                metric_names::RATING_CACHE_HITS,
                metric_names::RATING_CACHE_MISSES,
            ),
            last_known: LastKnown::new(fallback, "rating", "database"),
            events: None,
        }
    }

    /// Publishes the changes it makes, while the toggle is on.
    #[must_use]
    pub fn with_events(mut self, events: ChangeEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Another process changed `key`'s ratings: what is cached of it is stale.
    pub fn changed_elsewhere(&self, key: &RecordKey) {
        self.cache.invalidate([key]);
        self.last_known.forget(key);
    }

    /// Whether a write from `source` writes its events: `None` when events are off; an
    /// error when the outbox is full.
    fn events_for(&self, source: Source) -> Result<Option<Source>, ServiceError> {
        match &self.events {
            Some(events) => events.gate(source),
            None => Ok(None),
        }
    }

    /// The relay was told of `written` new outbox rows.
    fn published(&self, written: &Result<u64, RepositoryError>) {
        if let Some(events) = &self.events {
            events.written(written);
        }
    }

    /// The mean rating of `key`; `NotFound` when nobody rated it. When the database cannot
    /// be read, the last aggregate served for `key`, marked stale (the book's graceful
    /// degradation); an error if there is none.
    pub async fn aggregated_rating(
        &self,
        key: &RecordKey,
    ) -> Result<Served<Aggregate>, ServiceError> {
        // Concurrent misses of `key` share one read; what it finds is remembered for
        // fallbacks.
        let read = || {
            let (repo, key) = (std::sync::Arc::clone(&self.repo), key.clone());
            async move { repo.aggregate(&key).await }
        };
        match self.cache.get_or_load(key, read).await {
            Ok(aggregate) => {
                self.last_known.remember(key, &aggregate);
                Ok(Served::fresh(aggregate))
            }
            Err(e) if matches!(*e, RepositoryError::NotFound) => {
                self.last_known.forget(key);
                Err(ServiceError::NotFound(format!(
                    "ratings not found for {key}"
                )))
            }
            Err(e) => match self.last_known.recall(key, &e) {
                Some(stale) => Ok(stale),
                None => Err(e.into()),
            },
        }
    }

    /// A page of who rated `key` and how, by user id (`page_size` and `page_token` as the
    /// request gave them).
    pub async fn list_ratings(
        &self,
        key: &RecordKey,
        page_size: i64,
        page_token: &str,
    ) -> Result<RatingsPage, ServiceError> {
        let size = page::page_size(page_size)?;
        let filters = format!(
            "ratings {}:{}\0{}",
            key.record_type().len(),
            key.record_type(),
            key.record_id()
        );
        let after = page::start_after(&filters, page_token)?;
        let ratings = self.repo.list(key, after, size + 1).await?;
        let (ratings, next_page_token) =
            page::cut(ratings, size, &filters, |r| r.user_id().as_str());
        Ok(RatingsPage {
            ratings,
            next_page_token,
        })
    }

    /// Stores `rating`, which came in by `source`.
    pub async fn put_rating(&self, rating: UserRating, source: Source) -> Result<(), ServiceError> {
        let events = self.events_for(source)?;
        let key = rating.key().clone();
        let result = self.repo.put(rating, events).await;
        self.published(&result);
        // Invalidated even on failure: the write may have reached the database.
        self.cache.invalidate([&key]);
        result?;
        Ok(())
    }
}

/// The rating feed's ingester applies its batches here: in order, in one transaction.
/// Idempotent: a put sets, a delete removes, so a redelivered batch changes nothing.
impl<R: Repository> crate::feed::Apply for Controller<R> {
    type Error = ServiceError;

    async fn apply(&self, changes: std::sync::Arc<[RatingChange]>) -> Result<(), ServiceError> {
        let events = self.events_for(Source::Feed)?;
        let result = self
            .repo
            .apply(std::sync::Arc::clone(&changes), events)
            .await;
        self.published(&result);
        self.cache
            .invalidate(changes.iter().map(|change| change.target().0));
        result?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{
        collections::HashMap,
        sync::{Arc, Mutex},
    };

    use super::*;
    use crate::{
        database::sqlite::SqliteError,
        feed::Apply,
        model::{RatingValue, UserId},
    };

    type Rows = HashMap<(RecordKey, String), u8>;

    /// A fake repository with the same upsert semantics as the SQL primary key.
    #[derive(Default, Clone)]
    struct Fake {
        rows: Arc<Mutex<Rows>>,
        fail: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Repository for Fake {
        async fn aggregate(&self, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(RepositoryError::Storage(SqliteError::Query {
                    path: "rating.db".into(),
                    source: rusqlite::Error::InvalidQuery,
                }));
            }
            let rows = self.rows.lock().unwrap();
            let values: Vec<f64> = rows
                .iter()
                .filter(|((k, _), _)| k == key)
                .map(|(_, v)| f64::from(*v))
                .collect();
            if values.is_empty() {
                return Err(RepositoryError::NotFound);
            }
            Ok(Aggregate {
                mean: values.iter().sum::<f64>() / values.len() as f64,
                count: values.len() as u64,
            })
        }
        async fn put(&self, r: UserRating, _: Option<Source>) -> Result<u64, RepositoryError> {
            self.rows
                .lock()
                .unwrap()
                .insert((r.key().clone(), r.user_id().to_string()), r.value().get());
            Ok(0)
        }
        async fn apply(
            &self,
            changes: Arc<[RatingChange]>,
            _: Option<Source>,
        ) -> Result<u64, RepositoryError> {
            let mut rows = self.rows.lock().unwrap();
            for change in changes.iter() {
                match change {
                    RatingChange::Put(r) => {
                        rows.insert((r.key().clone(), r.user_id().to_string()), r.value().get());
                    }
                    RatingChange::Delete { key, user_id } => {
                        rows.remove(&(key.clone(), user_id.to_string()));
                    }
                }
            }
            Ok(0)
        }
        async fn list(
            &self,
            key: &RecordKey,
            after: Option<String>,
            limit: usize,
        ) -> Result<Vec<UserRating>, RepositoryError> {
            let rows = self.rows.lock().unwrap();
            let mut found: Vec<UserRating> = rows
                .iter()
                .filter(|((k, user), _)| {
                    k == key && after.as_deref().is_none_or(|a| user.as_str() > a)
                })
                .map(|((k, user), value)| {
                    UserRating::new(
                        k.clone(),
                        UserId::new(user.clone()).unwrap(),
                        RatingValue::new(i64::from(*value)).unwrap(),
                    )
                })
                .collect();
            found.sort_by(|a, b| a.user_id().as_str().cmp(b.user_id().as_str()));
            found.truncate(limit);
            Ok(found)
        }
    }

    #[tokio::test]
    async fn a_records_ratings_page_by_user_and_a_token_holds_to_its_record() {
        let c = Controller::new(Fake::default(), &FallbackSettings::default());
        for n in 0..5 {
            let user = UserId::new(format!("u{n}")).unwrap();
            c.put_rating(
                UserRating::new(key(), user, RatingValue::new(n % 5 + 1).unwrap()),
                Source::Grpc,
            )
            .await
            .unwrap();
        }
        let other = RecordKey::new("2", "movie").unwrap();
        let user = UserId::new("x").unwrap();
        c.put_rating(
            UserRating::new(other.clone(), user, RatingValue::new(1).unwrap()),
            Source::Grpc,
        )
        .await
        .unwrap();
        let first = c.list_ratings(&key(), 2, "").await.unwrap();
        let users: Vec<&str> = first.ratings.iter().map(|r| r.user_id().as_str()).collect();
        assert_eq!(users, ["u0", "u1"]);
        let token = first.next_page_token.unwrap();
        let second = c.list_ratings(&key(), 2, &token).await.unwrap();
        assert_eq!(second.ratings[0].user_id().as_str(), "u2");
        assert!(matches!(
            c.list_ratings(&other, 2, &token).await,
            Err(ServiceError::InvalidArgument(_))
        ));
        let last = c.list_ratings(&key(), 0, "").await.unwrap();
        assert_eq!(last.ratings.len(), 5);
        assert!(last.next_page_token.is_none());
    }

    fn key() -> RecordKey {
        RecordKey::new("1", "movie").unwrap()
    }

    #[tokio::test]
    async fn not_found_becomes_the_controllers_not_found() {
        let c = Controller::new(Fake::default(), &FallbackSettings::default());
        let err = c.aggregated_rating(&key()).await.unwrap_err();
        assert!(
            matches!(&err, ServiceError::NotFound(m) if m == "ratings not found for movie \"1\""),
            "{err}"
        );
    }

    #[tokio::test]
    async fn unexpected_errors_pass_through() {
        let fake = Fake::default();
        fake.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let c = Controller::new(fake, &FallbackSettings::default());
        assert!(matches!(
            c.aggregated_rating(&key()).await,
            Err(ServiceError::Internal(_))
        ));
    }

    #[tokio::test]
    async fn an_unreadable_database_serves_the_last_aggregate_marked_stale() {
        let fake = Fake::default();
        // Not cached, so the second read goes to the (failing) database.
        let c = Controller::with_cache_ttl(
            fake.clone(),
            &FallbackSettings::default(),
            std::time::Duration::ZERO,
        );
        let user = UserId::new("u").unwrap();
        c.put_rating(
            UserRating::new(key(), user, RatingValue::new(4).unwrap()),
            Source::Grpc,
        )
        .await
        .unwrap();
        let fresh = c.aggregated_rating(&key()).await.unwrap();
        assert_eq!((fresh.value.mean, fresh.stale), (4.0, None));
        fake.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let stale = c.aggregated_rating(&key()).await.unwrap();
        assert_eq!(stale.value.mean, 4.0);
        assert!(stale.stale.is_some(), "marked stale");
        // Never served: still an error, never a made-up value.
        let other = RecordKey::new("2", "movie").unwrap();
        assert!(matches!(
            c.aggregated_rating(&other).await,
            Err(ServiceError::Internal(_))
        ));
    }

    #[tokio::test]
    async fn aggregates_are_cached_until_a_write_through_this_process() {
        let fake = Fake::default();
        let c = Controller::new(fake.clone(), &FallbackSettings::default());
        let rate = |user: &str, value: i64| {
            UserRating::new(
                key(),
                UserId::new(user).unwrap(),
                RatingValue::new(value).unwrap(),
            )
        };
        c.put_rating(rate("a", 4), Source::Grpc).await.unwrap();
        assert_eq!(c.aggregated_rating(&key()).await.unwrap().value.mean, 4.0);
        // Cached: a change behind the controller's back is not seen yet...
        fake.rows.lock().unwrap().insert((key(), "b".into()), 2);
        assert_eq!(c.aggregated_rating(&key()).await.unwrap().value.mean, 4.0);
        assert_eq!(c.cache.stats(), (1, 1));
        // ...a write through the controller, or a feed batch, invalidates at once.
        c.put_rating(rate("c", 3), Source::Grpc).await.unwrap();
        assert_eq!(c.aggregated_rating(&key()).await.unwrap().value.mean, 3.0);
        c.apply(vec![RatingChange::Put(rate("d", 5))].into())
            .await
            .unwrap();
        assert_eq!(c.aggregated_rating(&key()).await.unwrap().value.mean, 3.5);
    }

    #[tokio::test]
    async fn applied_changes_put_and_delete_in_order() {
        let c = Controller::new(Fake::default(), &FallbackSettings::default());
        let user = |name: &str| UserId::new(name).unwrap();
        let put = |name: &str, v| {
            RatingChange::Put(UserRating::new(
                key(),
                user(name),
                RatingValue::new(v).unwrap(),
            ))
        };
        let delete = |name: &str| RatingChange::Delete {
            key: key(),
            user_id: user(name),
        };
        c.apply(vec![put("a", 5), put("b", 1), put("a", 3), delete("b")].into())
            .await
            .unwrap();
        assert_eq!(c.aggregated_rating(&key()).await.unwrap().value.mean, 3.0);
        c.apply(vec![delete("a")].into()).await.unwrap();
        assert!(matches!(
            c.aggregated_rating(&key()).await,
            Err(ServiceError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn success_is_the_mean_over_users() {
        let c = Controller::new(Fake::default(), &FallbackSettings::default());
        for (user, value) in [("user0", 5), ("user0", 1), ("user1", 4)] {
            let user = UserId::new(user).unwrap();
            let rating = UserRating::new(key(), user, RatingValue::new(value).unwrap());
            c.put_rating(rating, Source::Grpc).await.unwrap();
        }
        let agg = c.aggregated_rating(&key()).await.unwrap().value;
        assert_eq!(
            agg,
            Aggregate {
                mean: 2.5,
                count: 2
            }
        );
    }
}
