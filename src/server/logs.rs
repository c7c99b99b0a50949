//! `GET /debug/logs` on every port (issue 31): the recent log lines this process kept
//! (`telemetry::logs`), for the dashboard's logs page and a trace's lines. The same access
//! as the trace store's route.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::{
    http::{Params, error, refuse_remote},
    traces::{limit, parse_trace_id},
};
use crate::telemetry::logs::{self, Filter, Level};

/// The most lines one answer lists.
pub const MAX_LIMIT: usize = 5_000;
/// How many an answer lists unless asked.
const DEFAULT_LIMIT: usize = 200;

/// What `/debug/logs` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lines {
    /// The process that answers (`pid@host`).
    pub process: String,
    /// The lines, oldest first: each as `--log-format json` writes it, with `seq`, its
    /// place in this process's log.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<serde_json::Value>,
}

/// The newest log lines that match the filters.
#[utoipa::path(get, path = super::table::LOGS.path, tag = "operations",
    params(
        ("level" = Option<String>, Query, pattern = "^(error|warn|info|debug|trace)$",
            description = "This level and the more severe: error, warn, info, debug or trace"),
        ("service" = Option<String>, Query, description = "Only this service's lines (movieapp: the process's own)"),
        ("trace" = Option<String>, Query, pattern = "^[0-9a-fA-F]{32}$",
            description = "Only the lines of this trace (32 hex digits)"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 5000, description = "The most lines listed, the newest (default 200)"),
    ),
    responses(
        (status = 200, description = "The lines", body = Lines),
        (status = 400, description = "A parameter is not valid", body = super::openapi::ApiError),
        (status = 403, description = "Auth is off and the caller is not on this machine", body = super::openapi::ApiError),
    ))]
pub async fn logs(State(loopback_only): State<bool>, request: Request<Body>) -> Response {
    if let Some(refused) = refuse_remote(loopback_only, &request, "logs") {
        return refused;
    }
    let params = match Params::parse(request.uri().query().map(str::to_owned)) {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    match filter(&params) {
        Ok(filter) => Json(Lines {
            process: crate::telemetry::process(),
            lines: logs::recent(&filter),
        })
        .into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
    }
}

fn filter(params: &Params) -> Result<Filter, String> {
    let level = match params.optional("level") {
        None => None,
        Some(text) => Some(Level::parse(text).ok_or_else(|| {
            format!(
                "invalid query parameter level {text:?}: expected error, warn, info, debug or trace"
            )
        })?),
    };
    let trace_id = match params.optional("trace") {
        None => None,
        Some(text) => Some(format!("{:032x}", parse_trace_id(text)?)),
    };
    Ok(Filter {
        level,
        service: params.optional("service").map(str::to_owned),
        trace_id,
        limit: limit(params, DEFAULT_LIMIT, MAX_LIMIT)?,
    })
}
