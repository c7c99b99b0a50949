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
    model::{MovieDetails, MovieId, validate::ValidationError},
    server::{
        ServiceError,
        http::{Api, Params, respond, respond_served},
        openapi::{ApiError, Binary},
    },
    uploads::{FileName, FileStore, StoredFile},
};

pub fn api<M: MetadataGateway, R: RatingGateway>(
    controller: Arc<Controller<M, R>>,
    files: FileStore,
) -> Api {
    let movies = Api::new()
        .route(GET_MOVIE, get_movie::<M, R>, __path_get_movie)
        .with_state(controller);
    let files = Api::new()
        .route(UPLOAD, upload, __path_upload)
        .route(LIST_FILES, list, __path_list)
        .with_state(files);
    movies.merge(files)
}

/// Streams the body into the movie's file (replacing it); a body that breaks off, or
/// stalls for `uploads.idleTimeout`, stores nothing.
#[utoipa::path(put, path = UPLOAD.path, tag = "movie",
    params(
        ("id" = inline(MovieId), Query, description = "The movie's id"),
        ("filename" = inline(FileName), Query, description = "The file's name"),
    ),
    request_body(content = Option<Binary>, content_type = "application/octet-stream",
        description = "The file's bytes, at most uploads.maxBytes; none stores an empty file"),
    responses((status = 200, description = "The file stored", body = StoredFile)))]
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

/// A movie's files.
#[utoipa::path(get, path = LIST_FILES.path, tag = "movie",
    params(("id" = inline(MovieId), Query, description = "The movie's id")),
    responses((status = 200, description = "The movie's files, by name", body = Vec<StoredFile>)))]
async fn list(State(files): State<FileStore>, RawQuery(query): RawQuery) -> Response {
    let result = async {
        let movie = Params::parse(query)?.movie_id()?;
        Ok::<_, ServiceError>(files.list(&movie).await?)
    };
    respond(result.await)
}

/// A movie's metadata with its aggregated rating (book ch. 2), from the metadata and
/// rating services.
#[utoipa::path(get, path = GET_MOVIE.path, tag = "movie",
    params(("id" = inline(MovieId), Query, description = "The movie's id")),
    responses(
        (status = 200, description = "The movie, without `rating` when it has none. With `x-movieapp-stale`, a fallback's last known answer",
            body = MovieDetails),
        (status = 404, description = "No movie has this id", body = ApiError),
    ))]
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
