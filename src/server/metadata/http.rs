//! HTTP/JSON for the metadata service (book ch. 2): `GET /metadata?id=`, and the listing
//! `GET /metadata/list?pageSize=&pageToken=&titlePrefix=`.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    response::Response,
};

use super::{
    controller::{Controller, ListQuery, Repository},
    endpoints::{GET_METADATA, LIST_METADATA},
};
use crate::model::{Metadata, MovieId, validate};
use crate::server::{
    http::{Api, Params, respond},
    openapi::ApiError,
};

pub fn api<R: Repository>(controller: Arc<Controller<R>>) -> Api {
    Api::new()
        .route(GET_METADATA, get_metadata::<R>, __path_get_metadata)
        .route(LIST_METADATA, list_metadata::<R>, __path_list_metadata)
        .with_state(controller)
}

/// A movie's metadata.
#[utoipa::path(get, path = GET_METADATA.path, tag = "metadata",
    params(("id" = inline(MovieId), Query, description = "The movie's id")),
    responses(
        (status = 200, description = "The movie's metadata", body = Metadata),
        (status = 404, description = "No movie has this id", body = ApiError),
    ))]
async fn get_metadata<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        controller.get(&params.movie_id()?).await
    };
    respond(result.await)
}

/// What a title prefix may be: what a title may be.
struct TitlePrefix;

impl utoipa::PartialSchema for TitlePrefix {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        validate::text_schema(
            format!(
                "The start of a title: at most {} bytes, no control characters",
                validate::MAX_TITLE_BYTES
            ),
            validate::MAX_TITLE_BYTES,
            validate::NO_CONTROL_CHARACTERS,
        )
    }
}

impl utoipa::ToSchema for TitlePrefix {}

/// A page of the listing as JSON: `nextPageToken` is empty on the last page.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct MetadataList {
    metadata: Vec<Metadata>,
    next_page_token: String,
}

/// The movies, by id, a page at a time.
#[utoipa::path(get, path = LIST_METADATA.path, tag = "metadata",
    params(
        ("pageSize" = Option<i64>, Query, minimum = 0, maximum = 9223372036854775807i64,
            description = "Items per page: 0 or absent is 50, above 1000 is 1000"),
        ("pageToken" = Option<String>, Query,
            description = "The nextPageToken of the previous page; absent for the first. Opaque and tamper-evident: a token not from a previous page is refused (400)"),
        ("titlePrefix" = inline(Option<TitlePrefix>), Query,
            description = "Only movies whose title starts with this"),
    ),
    responses((status = 200, description = "A page of movies", body = MetadataList)))]
async fn list_metadata<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        let page = controller
            .list(ListQuery {
                title_prefix: params
                    .optional("titlePrefix")
                    .unwrap_or_default()
                    .to_owned(),
                page_size: params.page_size()?,
                page_token: params.page_token(),
            })
            .await?;
        Ok(MetadataList {
            metadata: page.movies,
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    };
    respond(result.await)
}
