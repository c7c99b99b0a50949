//! HTTP/JSON for the rating service (book ch. 2): `GET /rating?id=&type=` answers the
//! aggregated rating as a JSON number, as the book's does; `PUT
//! /rating?id=&type=&userId=&value=` stores a rating and answers it. `type` defaults to
//! `movie`.

use std::{collections::HashMap, sync::Arc};

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    response::Response,
    routing::get,
};

use super::{
    SERVICE_NAME,
    controller::{Controller, Repository},
};
use crate::{
    model::{MOVIE_RECORD_TYPE, RatingValue, RecordKey, UserRating, validate},
    server::{
        ServiceError,
        http::{Params, respond},
        metrics,
    },
};

pub fn router<R: Repository>(controller: Arc<Controller<R>>) -> axum::Router {
    Router::new()
        .route("/rating", get(get_rating::<R>).put(put_rating::<R>))
        .with_state(controller)
}

fn key(params: &Params) -> Result<RecordKey, ServiceError> {
    let record_type = params.optional("type").unwrap_or(MOVIE_RECORD_TYPE);
    Ok(RecordKey::new(params.required("id")?, record_type)?)
}

async fn get_rating<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let result = metrics::track(SERVICE_NAME, "GET /rating", async {
        let params = Params::parse(query)?;
        let key = key(&params)?;
        controller.aggregated_rating(&key).await
    })
    .await;
    respond(result.map(|aggregate| aggregate.mean))
}

async fn put_rating<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let result = metrics::track(SERVICE_NAME, "PUT /rating", async {
        let params = Params::parse(query)?;
        let key = key(&params)?;
        let value = validate::rating_value_text(params.required("value")?)?;
        let rating = UserRating::new(
            key,
            params.required("userId")?,
            RatingValue::new(i64::from(value))?,
        )?;
        controller.put_rating(rating.clone()).await?;
        Ok::<_, ServiceError>(rating)
    })
    .await;
    respond(result)
}
