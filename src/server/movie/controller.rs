//! Movie business logic: fetch metadata and rating concurrently and combine them.

use std::future::Future;

use crate::{
    model::{Metadata, MovieDetails, MovieId, RecordKey},
    server::error::ServiceError,
};

/// Reaches the metadata service.
pub trait MetadataGateway: Send + Sync + 'static {
    fn get(&self, id: &MovieId) -> impl Future<Output = Result<Metadata, ServiceError>> + Send;
}

/// Reaches the rating service.
pub trait RatingGateway: Send + Sync + 'static {
    /// The mean rating of `key`; `NotFound` when nobody rated it.
    fn aggregated_rating(
        &self,
        key: &RecordKey,
    ) -> impl Future<Output = Result<f64, ServiceError>> + Send;
}

pub struct Controller<M, R> {
    metadata: M,
    rating: R,
}

impl<M: MetadataGateway, R: RatingGateway> Controller<M, R> {
    pub fn new(metadata: M, rating: R) -> Self {
        Self { metadata, rating }
    }

    /// Details of movie `id`. Missing metadata is `NotFound`; a missing rating gives
    /// details without one; any other failure is an error (the book's controller inverts
    /// this check and silently drops real rating errors).
    pub async fn get(&self, id: &MovieId) -> Result<MovieDetails, ServiceError> {
        let key = RecordKey::movie(id.clone());
        let (metadata, rating) =
            tokio::join!(self.metadata.get(id), self.rating.aggregated_rating(&key));
        let metadata = metadata?;
        let rating = match rating {
            Ok(value) => Some(value),
            Err(ServiceError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        Ok(MovieDetails { rating, metadata })
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
        async fn aggregated_rating(&self, _key: &RecordKey) -> Result<f64, ServiceError> {
            tokio::time::sleep(self.delay).await;
            (self.answer)()
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
        let c = Controller::new(fake(not_found), fake(|| Ok(4.0)));
        assert!(matches!(c.get(&id()).await, Err(ServiceError::NotFound(_))));
    }

    #[tokio::test]
    async fn metadata_errors_pass_through() {
        let c = Controller::new(fake(unavailable), fake(|| Ok(4.0)));
        assert!(matches!(
            c.get(&id()).await,
            Err(ServiceError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn missing_rating_gives_details_without_rating() {
        let c = Controller::new(fake(movie), fake(not_found));
        let details = c.get(&id()).await.unwrap();
        assert_eq!(details.rating, None);
        assert_eq!(details.metadata.title(), "The Movie");
    }

    #[tokio::test]
    async fn other_rating_errors_are_errors_not_dropped() {
        let c = Controller::new(fake(movie), fake(unavailable));
        assert!(matches!(
            c.get(&id()).await,
            Err(ServiceError::Unavailable(_))
        ));
    }

    #[tokio::test]
    async fn success_combines_both() {
        let c = Controller::new(fake(movie), fake(|| Ok(2.5)));
        assert_eq!(c.get(&id()).await.unwrap().rating, Some(2.5));
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
