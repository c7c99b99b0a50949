//! HTTP/JSON for the rating service (book ch. 2): `GET /rating?id=&type=` answers the
//! aggregated rating as a JSON number, as the book's does; `PUT
//! /rating?id=&type=&userId=&value=` stores a rating and answers it. `type` defaults to
//! `movie`. `GET /rating/list?id=&type=&pageSize=&pageToken=` lists who rated a record.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    response::Response,
};

use super::{
    controller::{Controller, Repository},
    endpoints::{GET_RATING, LIST_RATINGS, PUT_RATING},
};
use crate::{
    model::{MOVIE_RECORD_TYPE, RatingValue, RecordKey, UserId, UserRating, validate},
    server::{
        ServiceError,
        http::{Api, Params, respond, respond_served},
    },
};

pub fn api<R: Repository>(controller: Arc<Controller<R>>) -> Api {
    Api::new()
        .route(GET_RATING, get_rating::<R>)
        .route(PUT_RATING, put_rating::<R>)
        .route(LIST_RATINGS, list_ratings::<R>)
        .with_state(controller)
}

fn key(params: &Params) -> Result<RecordKey, ServiceError> {
    let record_type = params.optional("type").unwrap_or(MOVIE_RECORD_TYPE);
    Ok(RecordKey::new(params.required("id")?, record_type)?)
}

async fn get_rating<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        let key = key(&params)?;
        controller.aggregated_rating(&key).await
    };
    respond_served(result.await.map(|aggregate| aggregate.map(|a| a.mean)))
}

async fn put_rating<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        let key = key(&params)?;
        let value = validate::rating_value_text(params.required("value")?)?;
        let rating = UserRating::new(
            key,
            UserId::new(params.required("userId")?)?,
            RatingValue::new(i64::from(value))?,
        );
        controller.put_rating(rating.clone()).await?;
        Ok::<_, ServiceError>(rating)
    };
    respond(result.await)
}

/// A page of a record's ratings as JSON: `nextPageToken` is empty on the last page.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RatingList {
    record_id: String,
    record_type: String,
    ratings: Vec<RatingJson>,
    next_page_token: String,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct RatingJson {
    user_id: String,
    value: u8,
}

async fn list_ratings<R: Repository>(
    State(controller): State<Arc<Controller<R>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let result = async {
        let params = Params::parse(query)?;
        let key = key(&params)?;
        let page = controller
            .list_ratings(&key, params.page_size()?, &params.page_token())
            .await?;
        Ok::<_, ServiceError>(RatingList {
            record_id: key.record_id().to_owned(),
            record_type: key.record_type().to_owned(),
            ratings: page
                .ratings
                .iter()
                .map(|r| RatingJson {
                    user_id: r.user_id().to_string(),
                    value: r.value().get(),
                })
                .collect(),
            next_page_token: page.next_page_token.unwrap_or_default(),
        })
    };
    respond(result.await)
}
