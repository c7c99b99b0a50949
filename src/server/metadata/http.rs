//! HTTP/JSON for the metadata service (book ch. 2): `GET /metadata?id=`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Json, Router,
    extract::{Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
    routing::get,
};

use super::controller::{Controller, Repository};
use crate::{
    model::validate,
    server::{ServiceError, http::Params},
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
    let result = async {
        let params = Params::parse(query)?;
        let id = params.required("id")?;
        validate::id("movie id", id)?;
        controller.get(id).await
    }
    .await;
    match result {
        Ok(metadata) => Json(metadata).into_response(),
        Err(e) => ServiceError::into_response(e),
    }
}
