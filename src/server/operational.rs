//! The HTTP routes every port serves besides its service's own: `/healthz`, `/readyz`,
//! `/metrics`, `/openapi.json` (and `/debug/pprof/profile`, in [`super::http`]), each
//! documented like the service's routes.

use std::sync::{Arc, OnceLock};

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{health::Readiness, http::Api, table};

/// The routes, over `api`: `document` is filled once the port's routes are all known.
pub fn routes(api: Api, readiness: Arc<Readiness>, document: Arc<OnceLock<bytes::Bytes>>) -> Api {
    let ready = Api::new()
        .route(table::READYZ, readyz, __path_readyz)
        .with_state(readiness);
    let doc = Api::new()
        .route(table::OPENAPI, openapi_json, __path_openapi_json)
        .with_state(document);
    api.route(table::HEALTHZ, healthz, __path_healthz)
        .route(table::METRICS, metrics, __path_metrics)
        .merge(ready)
        .merge(doc)
}

/// `{"status": "ok"}`, or `{"status": "not ready", "reasons": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok`, `ready` or `not ready`.
    status: &'static str,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    reasons: Vec<String>,
}

impl Status {
    fn of(status: &'static str) -> Json<Self> {
        Json(Self {
            status,
            reasons: Vec::new(),
        })
    }
}

/// The process answers (liveness).
#[utoipa::path(get, path = table::HEALTHZ.path, tag = "operations",
    responses((status = 200, description = "The process answers: `{\"status\": \"ok\"}`", body = Status)))]
async fn healthz() -> Json<Status> {
    Status::of("ok")
}

/// The service can serve: its database answers (readiness).
#[utoipa::path(get, path = table::READYZ.path, tag = "operations",
    responses(
        (status = 200, description = "Ready: `{\"status\": \"ready\"}`", body = Status),
        (status = 503, description = "Not ready, with the reasons", body = Status),
    ))]
async fn readyz(State(readiness): State<Arc<Readiness>>) -> Response {
    match readiness.check().await {
        Ok(()) => Status::of("ready").into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Status {
                status: "not ready",
                reasons,
            }),
        )
            .into_response(),
    }
}

/// The process's metrics, in Prometheus's text format.
#[utoipa::path(get, path = table::METRICS.path, tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain", body = String)))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        super::metrics::render(),
    )
}

/// This document: the port's HTTP API as OpenAPI 3.1.
#[utoipa::path(get, path = table::OPENAPI.path, tag = "operations",
    responses((status = 200, description = "The OpenAPI document of this port",
        content_type = "application/json", body = Object)))]
async fn openapi_json(State(document): State<Arc<OnceLock<bytes::Bytes>>>) -> Response {
    match document.get() {
        Some(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        None => super::http::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the document is being built; try again",
        ),
    }
}
