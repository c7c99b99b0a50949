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
    model::{
        MOVIE_RECORD_TYPE, RatingValue, RecordId, RecordKey, RecordType, UserId, UserRating,
        validate,
    },
    server::{
        ServiceError,
        http::{Api, Params, respond, respond_served},
        openapi::ApiError,
    },
};

pub fn api<R: Repository>(controller: Arc<Controller<R>>) -> Api {
    Api::new()
        .route(GET_RATING, get_rating::<R>, __path_get_rating)
        .route(PUT_RATING, put_rating::<R>, __path_put_rating)
        .route(LIST_RATINGS, list_ratings::<R>, __path_list_ratings)
        .with_state(controller)
}

fn key(params: &Params) -> Result<RecordKey, ServiceError> {
    let record_type = params.optional("type").unwrap_or(MOVIE_RECORD_TYPE);
    Ok(RecordKey::new(params.required("id")?, record_type)?)
}

/// A record's aggregated rating: the mean of its ratings, as a bare JSON number.
#[utoipa::path(get, path = GET_RATING.path, tag = "rating",
    params(
        ("id" = inline(RecordId), Query, description = "The record's id (for movies, the movie id)"),
        ("type" = inline(Option<RecordType>), Query, description = "The record type; movie when absent"),
    ),
    responses(
        (status = 200, description = "The mean rating. With `x-movieapp-stale`, a fallback's last known answer",
            content_type = "application/json", body = f64),
        (status = 404, description = "The record has no ratings", body = ApiError),
    ))]
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

/// Stores a user's rating of a record (replacing theirs), and answers it.
#[utoipa::path(put, path = PUT_RATING.path, tag = "rating",
    params(
        ("id" = inline(RecordId), Query, description = "The record's id (for movies, the movie id)"),
        ("type" = inline(Option<RecordType>), Query, description = "The record type; movie when absent"),
        ("userId" = inline(UserId), Query, description = "Who rates"),
        ("value" = inline(RatingValue), Query, description = "The rating, 1 to 5"),
    ),
    responses((status = 200, description = "The rating stored", body = UserRating)))]
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
        controller
            .put_rating(rating.clone(), crate::events::Source::Http)
            .await?;
        Ok::<_, ServiceError>(rating)
    };
    respond(result.await)
}

/// A page of a record's ratings as JSON: `nextPageToken` is empty on the last page.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RatingList {
    record_id: String,
    record_type: String,
    ratings: Vec<RatingJson>,
    next_page_token: String,
}

/// One user's rating.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct RatingJson {
    user_id: String,
    value: u8,
}

/// Who rated a record and how, by user id, a page at a time.
#[utoipa::path(get, path = LIST_RATINGS.path, tag = "rating",
    params(
        ("id" = inline(RecordId), Query, description = "The record's id (for movies, the movie id)"),
        ("type" = inline(Option<RecordType>), Query, description = "The record type; movie when absent"),
        ("pageSize" = Option<i64>, Query, minimum = 0, maximum = 9223372036854775807i64,
            description = "Items per page: 0 or absent is 50, above 1000 is 1000"),
        ("pageToken" = Option<String>, Query,
            description = "The nextPageToken of the previous page; absent for the first. Opaque and tamper-evident: a token not from a previous page is refused (400)"),
    ),
    responses((status = 200, description = "A page of ratings", body = RatingList)))]
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
