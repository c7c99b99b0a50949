//! Movie business logic: fetch metadata and rating concurrently and combine them.

use std::future::Future;

use crate::{
    calls::fallback::{FallbackSettings, LastKnown, Served},
    model::{Metadata, MovieDetails, MovieId, RecordKey},
    server::error::ServiceError,
};

/// Reaches the metadata service.
pub trait MetadataGateway: Send + Sync + 'static {
    fn get(&self, id: &MovieId) -> impl Future<Output = Result<Metadata, ServiceError>> + Send;
}

/// Reaches the rating service.
pub trait RatingGateway: Send + Sync + 'static {
    /// The mean rating of `key`, marked stale when the rating service said so; `NotFound`
    /// when nobody rated it.
    fn aggregated_rating(
        &self,
        key: &RecordKey,
    ) -> impl Future<Output = Result<Served<f64>, ServiceError>> + Send;
}

pub struct Controller<M, R> {
    metadata: M,
    rating: R,
    /// The metadata last served, for when the metadata service is unavailable.
    last_known: LastKnown<MovieId, Metadata>,
}

impl<M: MetadataGateway, R: RatingGateway> Controller<M, R> {
    pub fn new(metadata: M, rating: R, fallback: &FallbackSettings) -> Self {
        Self {
            metadata,
            rating,
            last_known: LastKnown::new(fallback, "movie", "metadata"),
        }
    }

    /// Movie `id`'s metadata changed: the last served is no answer to fall back on.
    pub fn metadata_changed(&self, id: &MovieId) {
        self.last_known.forget(id);
    }

    /// Details of movie `id`. Missing metadata is `NotFound`; a missing rating gives
    /// details without one; any other failure is an error (the book's controller inverts
    /// this check and silently drops real rating errors). When the metadata service is
    /// unavailable after retries, the metadata last served for `id` stands in, and the
    /// details are marked stale; as they are when the rating was.
    pub async fn get(&self, id: &MovieId) -> Result<Served<MovieDetails>, ServiceError> {
        let key = RecordKey::movie(id.clone());
        let (metadata, rating) =
            tokio::join!(self.metadata.get(id), self.rating.aggregated_rating(&key));
        let metadata = match metadata {
            Ok(metadata) => {
                self.last_known.remember(id, &metadata);
                Served::fresh(metadata)
            }
            Err(e @ (ServiceError::Unavailable(_) | ServiceError::DeadlineExceeded(_))) => {
                self.last_known.recall(id, &e).ok_or(e)?
            }
            Err(e) => {
                if matches!(e, ServiceError::NotFound(_)) {
                    self.last_known.forget(id);
                }
                return Err(e);
            }
        };
        let rating = match rating {
            Ok(served) => Some(served),
            Err(ServiceError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let stale = metadata
            .stale
            .into_iter()
            .chain(rating.as_ref().and_then(|r| r.stale))
            .max();
        Ok(Served {
            value: MovieDetails {
                rating: rating.map(|r| r.value),
                metadata: metadata.value,
            },
            stale,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A fake gateway answering with a fixed result after an optional delay.
    struct Fake<T> {
        answer: fn() -> Result<T, ServiceError>,
        delay: Duration,
    }

    fn fake<T>(answer: fn() -> Result<T, ServiceError>) -> Fake<T> {
        Fake {
            answer,
            delay: Duration::ZERO,
        }
    }

    impl MetadataGateway for Fake<Metadata> {
        async fn get(&self, _id: &MovieId) -> Result<Metadata, ServiceError> {
            tokio::time::sleep(self.delay).await;
            (self.answer)()
        }
    }

    impl RatingGateway for Fake<f64> {
        async fn aggregated_rating(&self, _key: &RecordKey) -> Result<Served<f64>, ServiceError> {
            tokio::time::sleep(self.delay).await;
            (self.answer)().map(Served::fresh)
        }
    }

    fn movie() -> Result<Metadata, ServiceError> {
        Ok(Metadata::new(id(), "The Movie", "", "").unwrap())
    }

    fn id() -> MovieId {
        MovieId::new("1").unwrap()
    }

    fn not_found<T>() -> Result<T, ServiceError> {
        Err(ServiceError::NotFound("not found".into()))
    }

    fn unavailable<T>() -> Result<T, ServiceError> {
        Err(ServiceError::Unavailable("down".into()))
    }

    #[tokio::test]
    async fn metadata_not_found_is_not_found() {
        let c = Controller::new(
            fake(not_found),
            fake(|| Ok(4.0)),
            &FallbackSettings::default(),
        );
        assert!(matches!(c.get(&id()).await, Err(ServiceError::NotFound(_))));
    }

    #[tokio::test]
    async fn metadata_errors_pass_through() {
        let c = Controller::new(
            fake(unavailable),
            fake(|| Ok(4.0)),
            &FallbackSettings::default(),
        );
        assert!(matches!(
            c.get(&id()).await,
            Err(ServiceError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn missing_rating_gives_details_without_rating() {
        let c = Controller::new(fake(movie), fake(not_found), &FallbackSettings::default());
        let details = c.get(&id()).await.unwrap().value;
        assert_eq!(details.rating, None);
        assert_eq!(details.metadata.title(), "The Movie");
    }

    #[tokio::test]
    async fn other_rating_errors_are_errors_not_dropped() {
        let c = Controller::new(fake(movie), fake(unavailable), &FallbackSettings::default());
        assert!(matches!(
            c.get(&id()).await,
            Err(ServiceError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn success_combines_both() {
        let c = Controller::new(fake(movie), fake(|| Ok(2.5)), &FallbackSettings::default());
        assert_eq!(c.get(&id()).await.unwrap().value.rating, Some(2.5));
    }

    /// Metadata that can be switched off.
    #[derive(Default)]
    struct Switchable {
        down: std::sync::atomic::AtomicBool,
    }

    impl MetadataGateway for std::sync::Arc<Switchable> {
        async fn get(&self, id: &MovieId) -> Result<Metadata, ServiceError> {
            if self.down.load(std::sync::atomic::Ordering::Relaxed) {
                return unavailable();
            }
            Ok(Metadata::new(id.clone(), "The Movie", "", "").unwrap())
        }
    }

    #[tokio::test]
    async fn unavailable_metadata_falls_back_to_the_last_served_marked_stale() {
        let metadata = std::sync::Arc::new(Switchable::default());
        let c = Controller::new(
            std::sync::Arc::clone(&metadata),
            fake(|| Ok(2.5)),
            &FallbackSettings::default(),
        );
        let fresh = c.get(&id()).await.unwrap();
        assert_eq!(fresh.stale, None);
        metadata
            .down
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let stale = c.get(&id()).await.unwrap();
        assert!(stale.stale.is_some());
        assert_eq!(stale.value, fresh.value);
        // A movie never served: the error stands.
        let other = MovieId::new("2").unwrap();
        assert!(matches!(
            c.get(&other).await,
            Err(ServiceError::Unavailable(_))
        ));
        // Its metadata changed (an event): the last served is no answer any more.
        c.metadata_changed(&id());
        assert!(matches!(
            c.get(&id()).await,
            Err(ServiceError::Unavailable(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn both_are_fetched_concurrently() {
        let delay = Duration::from_secs(1);
        let c = Controller::new(
            Fake {
                answer: movie,
                delay,
            },
            Fake {
                answer: || Ok(3.0),
                delay,
            },
            &FallbackSettings::default(),
        );
        let start = tokio::time::Instant::now();
        c.get(&id()).await.unwrap();
        assert_eq!(
            start.elapsed(),
            delay,
            "sequential calls would take twice as long"
        );
    }
}
