//! HTTP/JSON for the auth service: `POST /token` with `{"username": …, "password": …}`
//! answers `{"token": …}`; `GET /.well-known/jwks.json` answers the public keys.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header::CONTENT_TYPE},
    response::Response,
};
use serde::{Deserialize, Serialize};

use super::{
    controller::Controller,
    endpoints::{JWKS, POST_TOKEN},
};
use crate::{
    model::ValidationError,
    server::{
        ServiceError,
        http::{Api, error, respond},
    },
};

/// The largest `POST /token` body: a name and a password fit in far less.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

pub fn api(controller: Arc<Controller>) -> Api {
    Api::new()
        .route(POST_TOKEN, post_token)
        .route(JWKS, get_jwks)
        .with_state(controller)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct Token {
    token: String,
}

async fn post_token(
    State(controller): State<Arc<Controller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /token takes a JSON body (Content-Type: application/json): {\"username\": …, \"password\": …}",
        );
    }
    if body.len() > MAX_BODY_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the body is {} bytes; expected at most {MAX_BODY_BYTES}",
                body.len()
            ),
        );
    }
    let result = async {
        // The body is never quoted back: it holds a password.
        let credentials: Credentials = serde_json::from_slice(&body).map_err(|_| {
            ServiceError::InvalidArgument(ValidationError {
                field: "body",
                value: None,
                expected: "must be a JSON object {\"username\": …, \"password\": …}".to_owned(),
            })
        })?;
        let token = controller
            .get_token(&credentials.username, credentials.password)
            .await?;
        Ok::<_, ServiceError>(Token { token })
    };
    respond(result.await)
}

async fn get_jwks(State(controller): State<Arc<Controller>>) -> Response {
    respond(Ok(controller.jwks()))
}
