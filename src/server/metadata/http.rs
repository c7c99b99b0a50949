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
use crate::model::Metadata;
use crate::server::http::{Api, Params, respond};

pub fn api<R: Repository>(controller: Arc<Controller<R>>) -> Api {
    Api::new()
        .route(GET_METADATA, get_metadata::<R>)
        .route(LIST_METADATA, list_metadata::<R>)
        .with_state(controller)
}

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

/// A page of the listing as JSON: `nextPageToken` is empty on the last page.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct MetadataList {
    metadata: Vec<Metadata>,
    next_page_token: String,
}

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
