//! HTTP/JSON for the movie service (book ch. 2): `GET /movie?id=` answers
//! `{"rating": 4.5, "metadata": {...}}`, without `rating` when the movie has none.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
    routing::get,
};

use super::SERVICE_NAME;
use super::controller::{Controller, MetadataGateway, RatingGateway};
use crate::server::{
    http::{Params, respond},
    metrics,
};

pub fn router<M: MetadataGateway, R: RatingGateway>(
    controller: Arc<Controller<M, R>>,
) -> axum::Router {
    Router::new()
        .route("/movie", get(get_movie::<M, R>))
        .with_state(controller)
}

async fn get_movie<M: MetadataGateway, R: RatingGateway>(
    State(controller): State<Arc<Controller<M, R>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let result = metrics::track(SERVICE_NAME, "GET /movie", async {
        let params = Params::parse(query)?;
        controller.get(params.movie_id()?).await
    })
    .await;
    respond(result)
}
