//! gRPC handler for `MovieService`.

use std::sync::Arc;

use tonic::{Request, Response, Status, Streaming};

use super::controller::{Controller, MetadataGateway, RatingGateway};
use crate::{
    model::MovieId,
    pb::{self, movie_service_server::MovieService},
    server::{ServiceError, grpc},
    uploads::{FileName, FileStore, StoredFile},
};

pub struct Handler<M, R> {
    controller: Arc<Controller<M, R>>,
    files: FileStore,
}

impl<M, R> Handler<M, R> {
    pub fn new(controller: Arc<Controller<M, R>>, files: FileStore) -> Self {
        Self { controller, files }
    }

    /// The next message of an upload, unless it stalls (`uploads.idleTimeout`).
    async fn next(
        &self,
        stream: &mut Streaming<pb::UploadRequest>,
    ) -> Result<Option<pb::UploadRequest>, Status> {
        let next = self.files.next_within_idle(stream.message());
        next.await.map_err(ServiceError::from)?
    }
}

impl From<StoredFile> for pb::MovieFile {
    fn from(f: StoredFile) -> Self {
        Self {
            filename: f.filename,
            size: f.size,
            sha256: f.sha256,
            state: f.state.as_str().to_owned(),
            content_type: f.content_type,
            processed_by_token: f.processed_by_token,
            uploaded_at_ms: f.uploaded_at_ms,
        }
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

    /// The first message names the movie and the file; later ones may repeat the name,
    /// not change it. A stream that breaks off stores nothing.
    async fn upload_file(
        &self,
        request: Request<Streaming<pb::UploadRequest>>,
    ) -> Result<Response<pb::UploadResponse>, Status> {
        let mut stream = request.into_inner();
        let first = self.next(&mut stream).await?.ok_or_else(|| {
            Status::invalid_argument(
                "empty upload: the first message must carry movie_id and filename",
            )
        })?;
        let movie_id = first.movie_id.clone();
        let movie = MovieId::new(first.movie_id)?;
        let name = FileName::new(first.filename)?;
        let mut upload = self
            .files
            .begin(movie, name.clone())
            .await
            .map_err(ServiceError::from)?;
        upload
            .write(&first.chunk)
            .await
            .map_err(ServiceError::from)?;
        while let Some(message) = self.next(&mut stream).await? {
            for (field, later, first) in [
                ("filename", &message.filename, name.as_str()),
                ("movie_id", &message.movie_id, movie_id.as_str()),
            ] {
                if !later.is_empty() && later != first {
                    return Err(Status::invalid_argument(format!(
                        "{field} {later:?} in a later message differs from {first:?} in the first: one upload is one file"
                    )));
                }
            }
            upload
                .write(&message.chunk)
                .await
                .map_err(ServiceError::from)?;
        }
        let stored = upload.finish().await.map_err(ServiceError::from)?;
        Ok(Response::new(pb::UploadResponse {
            message: format!(
                "stored {:?} for movie {:?}: {} bytes",
                stored.filename, stored.movie_id, stored.size
            ),
            sha256: stored.sha256,
            size: stored.size,
        }))
    }

    async fn list_files(
        &self,
        request: Request<pb::ListFilesRequest>,
    ) -> Result<Response<pb::ListFilesResponse>, Status> {
        let movie = MovieId::new(request.into_inner().movie_id)?;
        let files = self.files.list(&movie).await.map_err(ServiceError::from)?;
        Ok(Response::new(pb::ListFilesResponse {
            files: files.into_iter().map(Into::into).collect(),
        }))
    }
}
