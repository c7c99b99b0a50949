//! HTTP/JSON for the metadata service (book ch. 2): `GET /metadata?id=`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
    routing::get,
};

use super::SERVICE_NAME;
use super::controller::{Controller, Repository};
use crate::server::{
    http::{Params, respond},
    metrics,
};

pub fn router<R: Repository>(controller: Arc<Controller<R>>) -> axum::Router {
    Router::new()
        .route("/metadata", get(get_metadata::<R>))
        .with_state(controller)
}

async fn get_metadata<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let result = metrics::track(SERVICE_NAME, "GET /metadata", async {
        let params = Params::parse(query)?;
        controller.get(params.movie_id()?).await
    })
    .await;
    respond(result)
}
