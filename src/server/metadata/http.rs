//! HTTP/JSON for the metadata service (book ch. 2): `GET /metadata?id=`.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    response::Response,
};

use super::{
    controller::{Controller, Repository},
    endpoints::GET_METADATA,
};
use crate::server::http::{Api, Params, respond};

pub fn api<R: Repository>(controller: Arc<Controller<R>>) -> Api {
    Api::new()
        .route(GET_METADATA, get_metadata::<R>)
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
