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
    auth::keys::JwkSet,
    model::ValidationError,
    server::{
        ServiceError,
        http::{Api, error, respond},
        openapi::ApiError,
    },
};

/// The largest `POST /token` body: a name and a password fit in far less.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

pub fn api(controller: Arc<Controller>) -> Api {
    Api::new()
        .route(POST_TOKEN, post_token, __path_post_token)
        .route(JWKS, get_jwks, __path_get_jwks)
        .with_state(controller)
}

/// A user's name and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

/// A signed token (JWT, EdDSA) to send as `Authorization: Bearer …`.
#[derive(Serialize, utoipa::ToSchema)]
struct Token {
    token: String,
}

/// A token for a user, given their password. Failed logins are slowed and limited per
/// user and per address.
#[utoipa::path(post, path = POST_TOKEN.path, tag = "auth",
    request_body(content = Credentials, content_type = "application/json"),
    responses(
        (status = 200, description = "The token", body = Token),
        (status = 401, description = "Unknown user or wrong password", body = ApiError),
        (status = 415, description = "The body is not JSON", body = ApiError),
    ))]
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

/// The public keys tokens are checked with (RFC 7517).
#[utoipa::path(get, path = JWKS.path, tag = "auth",
    responses((status = 200, description = "The JWK set", body = JwkSet)))]
async fn get_jwks(State(controller): State<Arc<Controller>>) -> Response {
    respond(Ok(controller.jwks()))
}
