//! gRPC handler for `RatingService`.

use tonic::{Request, Response, Status};

use super::controller::{Controller, Repository};
use crate::server::grpc::Handler;
use crate::{
    model::{RatingValue, RecordKey, UserId, UserRating},
    pb::{self, rating_service_server::RatingService},
    server::grpc,
};

#[tonic::async_trait]
impl<R: Repository> RatingService for Handler<Controller<R>> {
    async fn get_aggregated_rating(
        &self,
        request: Request<pb::GetAggregatedRatingRequest>,
    ) -> Result<Response<pb::GetAggregatedRatingResponse>, Status> {
        let req = request.into_inner();
        let key = RecordKey::new(req.record_id, req.record_type)?;
        let aggregate = self.controller().aggregated_rating(&key).await?;
        let stale = aggregate.stale_header();
        let mut response = Response::new(pb::GetAggregatedRatingResponse {
            rating_value: aggregate.value.mean,
        });
        grpc::mark_stale(&mut response, stale);
        Ok::<_, Status>(response)
    }

    async fn put_rating(
        &self,
        request: Request<pb::PutRatingRequest>,
    ) -> Result<Response<pb::PutRatingResponse>, Status> {
        let req = request.into_inner();
        let key = RecordKey::new(req.record_id, req.record_type)?;
        let value = RatingValue::new(i64::from(req.rating_value))?;
        let rating = UserRating::new(key, UserId::new(req.user_id)?, value);
        self.controller()
            .put_rating(rating, crate::events::Source::Grpc)
            .await?;
        Ok::<_, Status>(Response::new(pb::PutRatingResponse {}))
    }

    async fn list_ratings(
        &self,
        request: Request<pb::ListRatingsRequest>,
    ) -> Result<Response<pb::ListRatingsResponse>, Status> {
        let req = request.into_inner();
        let key = RecordKey::new(req.record_id, req.record_type)?;
        let page = self
            .controller()
            .list_ratings(&key, i64::from(req.page_size), &req.page_token)
            .await?;
        Ok(Response::new(pb::ListRatingsResponse {
            ratings: page
                .ratings
                .iter()
                .map(|r| pb::UserRating {
                    user_id: r.user_id().to_string(),
                    value: i32::from(r.value().get()),
                })
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
