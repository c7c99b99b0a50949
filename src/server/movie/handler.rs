//! gRPC handler for `MovieService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::controller::{Controller, MetadataGateway, RatingGateway};
use crate::{
    model::MovieId,
    pb::{self, movie_service_server::MovieService},
    server::grpc,
};

pub struct Handler<M, R> {
    controller: Arc<Controller<M, R>>,
}

impl<M, R> Handler<M, R> {
    pub fn new(controller: Arc<Controller<M, R>>) -> Self {
        Self { controller }
    }
}

#[tonic::async_trait]
impl<M: MetadataGateway, R: RatingGateway> MovieService for Handler<M, R> {
    async fn get_movie_details(
        &self,
        request: Request<pb::GetMovieDetailsRequest>,
    ) -> Result<Response<pb::GetMovieDetailsResponse>, Status> {
        let id = MovieId::new(request.into_inner().movie_id)?;
        let details = self.controller.get(&id).await?;
        let stale = details.stale_header();
        let mut response = Response::new(pb::GetMovieDetailsResponse {
            movie_details: Some(details.value.into()),
        });
        grpc::mark_stale(&mut response, stale);
        Ok::<_, Status>(response)
    }
}
