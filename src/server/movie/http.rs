//! HTTP/JSON for the movie service (book ch. 2): `GET /movie?id=` answers
//! `{"rating": 4.5, "metadata": {...}}`, without `rating` when the movie has none.
//! `PUT /movie/upload?id=&filename=` streams the body into a movie's file (book ch. 16),
//! and `GET /movie/files?id=` lists a movie's files.

use std::sync::Arc;

use axum::{
    body::Body,
    extract::{RawQuery, State},
    response::Response,
};
use tokio_stream::StreamExt;

use super::{
    controller::{Controller, MetadataGateway, RatingGateway},
    endpoints::{GET_MOVIE, LIST_FILES, UPLOAD},
};
use crate::{
    model::validate::ValidationError,
    server::{
        ServiceError,
        http::{Api, Params, respond, respond_served},
    },
    uploads::{FileName, FileStore, StoredFile},
};

pub fn api<M: MetadataGateway, R: RatingGateway>(
    controller: Arc<Controller<M, R>>,
    files: FileStore,
) -> Api {
    let movies = Api::new()
        .route(GET_MOVIE, get_movie::<M, R>)
        .with_state(controller);
    let files = Api::new()
        .route(UPLOAD, upload)
        .route(LIST_FILES, list)
        .with_state(files);
    movies.merge(files)
}

/// Streams the body into the file; a body that breaks off stores nothing.
async fn upload(State(files): State<FileStore>, RawQuery(query): RawQuery, body: Body) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        let movie = params.movie_id()?;
        let name = FileName::new(params.required("filename")?)?;
        let mut upload = files.begin(movie, name).await?;
        let mut chunks = body.into_data_stream();
        while let Some(chunk) = files.next_within_idle(chunks.next()).await? {
            let chunk = chunk.map_err(|e| {
                ServiceError::InvalidArgument(ValidationError::new(
                    "body",
                    "",
                    format!("could not be read to its end: {e}"),
                ))
            })?;
            upload.write(&chunk).await?;
        }
        Ok::<StoredFile, ServiceError>(upload.finish().await?)
    };
    respond(result.await)
}

async fn list(State(files): State<FileStore>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let movie = Params::parse(query)?.movie_id()?;
        Ok::<_, ServiceError>(files.list(&movie).await?)
    };
    respond(result.await)
}

async fn get_movie<M: MetadataGateway, R: RatingGateway>(
    State(controller): State<Arc<Controller<M, R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        controller.get(&params.movie_id()?).await
    };
    respond_served(result.await)
}
