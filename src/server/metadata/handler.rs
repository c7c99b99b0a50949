//! gRPC handler for `MetadataService`: wire -> domain (validating), controller, domain -> wire.

use tonic::{Request, Response, Status};

use super::controller::{Controller, ListQuery, Repository};
use crate::server::grpc::Handler;
use crate::{
    model::{Metadata, MovieId, validate},
    pb::{self, metadata_service_server::MetadataService},
};

#[tonic::async_trait]
impl<R: Repository> MetadataService for Handler<Controller<R>> {
    async fn get_metadata(
        &self,
        request: Request<pb::GetMetadataRequest>,
    ) -> Result<Response<pb::GetMetadataResponse>, Status> {
        let id = MovieId::new(request.into_inner().movie_id)?;
        let metadata = self.controller().get(&id).await?;
        Ok::<_, Status>(Response::new(pb::GetMetadataResponse {
            metadata: Some(metadata.into()),
        }))
    }

    async fn put_metadata(
        &self,
        request: Request<pb::PutMetadataRequest>,
    ) -> Result<Response<pb::PutMetadataResponse>, Status> {
        let wire = request
            .into_inner()
            .metadata
            .ok_or_else(|| validate::missing("metadata"))?;
        let metadata = Metadata::try_from(wire)?;
        self.controller()
            .put(metadata, crate::events::Source::Grpc)
            .await?;
        Ok::<_, Status>(Response::new(pb::PutMetadataResponse {}))
    }

    async fn list_metadata(
        &self,
        request: Request<pb::ListMetadataRequest>,
    ) -> Result<Response<pb::ListMetadataResponse>, Status> {
        let request = request.into_inner();
        let page = self
            .controller()
            .list(ListQuery {
                title_prefix: request.title_prefix,
                page_size: i64::from(request.page_size),
                page_token: request.page_token,
            })
            .await?;
        Ok(Response::new(pb::ListMetadataResponse {
            metadata: page.movies.into_iter().map(Into::into).collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }
}
