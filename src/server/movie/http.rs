//! HTTP/JSON for the movie service (book ch. 2): `GET /movie?id=` answers
//! `{"rating": 4.5, "metadata": {...}}`, without `rating` when the movie has none.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    http::Method,
    response::Response,
};

use super::controller::{Controller, MetadataGateway, RatingGateway};
use crate::server::http::{Api, Params, respond_served};

pub fn api<M: MetadataGateway, R: RatingGateway>(controller: Arc<Controller<M, R>>) -> Api {
    Api::new()
        .route(Method::GET, "/movie", get_movie::<M, R>)
        .with_state(controller)
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
