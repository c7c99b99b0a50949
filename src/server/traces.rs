//! `GET /debug/traces` on every port (issue 31): the spans this process kept (the trace
//! store, `traces.*`), for the dashboard, which assembles a trace from every instance's.
//! The same access as the CPU profile: callers on this machine while auth is off, an admin
//! token while it is on.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{Request, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;

use super::http::{Params, error, refuse_remote};
use crate::dashboard::store::{Filter, Span, Store};

/// The most spans one answer lists.
pub const MAX_LIMIT: usize = 1_000;
/// How many a listing answers unless asked.
const DEFAULT_LIMIT: usize = 100;

/// What `/debug/traces` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Spans {
    /// The process that answers (`pid@host`).
    pub process: String,
    /// The spans asked for: a trace's in start order, else the newest first.
    #[schema(value_type = Vec<Object>)]
    pub spans: Vec<Span>,
}

/// What the route needs: whether only this machine may ask, and the store (`None` with
/// `traces.keep: off`).
pub type TracesState = (bool, Option<Arc<Store>>);

/// The spans of one trace (`trace=`), or the newest that match the filters.
#[utoipa::path(get, path = super::table::TRACES.path, tag = "operations",
    params(
        ("trace" = Option<String>, Query, pattern = "^[0-9a-fA-F]{32}$",
            description = "A trace id (32 hex digits): that trace's spans, in start order"),
        ("service" = Option<String>, Query, description = "Only this service's spans"),
        ("name" = Option<String>, Query, description = "Only this endpoint's, e.g. MovieService/GetMovieDetails"),
        ("status" = Option<String>, Query, description = "ok, error (any other), or a status by name (not_found…)"),
        ("minMs" = Option<f64>, Query, minimum = 0, maximum = 86400000, description = "Only spans at least this long, in milliseconds"),
        ("roots" = Option<bool>, Query, description = "Only spans that started their trace"),
        ("limit" = Option<u64>, Query, minimum = 1, maximum = 1000, description = "The most spans listed (default 100)"),
    ),
    responses(
        (status = 200, description = "The spans", body = Spans),
        (status = 403, description = "Auth is off and the caller is not on this machine", body = super::openapi::ApiError),
        (status = 404, description = "This process keeps no spans (traces.keep: off)", body = super::openapi::ApiError),
    ))]
pub async fn traces(
    State((loopback_only, store)): State<TracesState>,
    request: Request<Body>,
) -> Response {
    if let Some(refused) = refuse_remote(loopback_only, &request, "traces") {
        return refused;
    }
    let Some(store) = store else {
        return error(
            StatusCode::NOT_FOUND,
            "this process keeps no spans (traces.keep: off)",
        );
    };
    let params = match Params::parse(request.uri().query().map(str::to_owned)) {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    // Every parameter is checked, whichever are used.
    let filter = match filter(&params) {
        Ok(filter) => filter,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let answer = match params.optional("trace").map(parse_trace_id) {
        Some(Ok(trace)) => store.trace(trace).await,
        Some(Err(message)) => return error(StatusCode::BAD_REQUEST, &message),
        None => store.recent(&filter).await,
    };
    match answer {
        Ok(spans) => Json(Spans {
            process: store.process().to_owned(),
            spans,
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the trace store");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

/// The `limit` parameter: `default` when absent, else 1 to `max`.
pub fn limit(params: &Params, default: usize, max: usize) -> Result<usize, String> {
    match params.optional("limit") {
        None => Ok(default),
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "invalid query parameter limit {n:?}: expected a whole number from 1 to {max}"
            )),
        },
    }
}

/// A trace id as `traceparent` writes it: 32 hex digits (all 0, invalid in a header,
/// names no trace kept: an empty answer).
pub fn parse_trace_id(text: &str) -> Result<u128, String> {
    match u128::from_str_radix(text, 16) {
        Ok(id) if text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(id),
        _ => Err(format!(
            "invalid query parameter trace {text:?}: expected a trace id of 32 hex digits"
        )),
    }
}

fn filter(params: &Params) -> Result<Filter, String> {
    let text = |name: &str| params.optional(name).map(str::to_owned);
    let min_duration = match params.optional("minMs") {
        None => None,
        Some(ms) => match ms.parse::<f64>() {
            Ok(ms) if ms.is_finite() && (0.0..=86_400_000.0).contains(&ms) => {
                Some(Duration::from_secs_f64(ms / 1000.0))
            }
            _ => {
                return Err(format!(
                    "invalid query parameter minMs {ms:?}: expected milliseconds from 0 to 86400000"
                ));
            }
        },
    };
    let roots_only = match params.optional("roots") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(format!(
                "invalid query parameter roots {other:?}: expected true or false"
            ));
        }
    };
    let limit = limit(params, DEFAULT_LIMIT, MAX_LIMIT)?;
    Ok(Filter {
        service: text("service"),
        name: text("name"),
        status: text("status"),
        min_duration,
        roots_only,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_32_hex_digits() {
        assert_eq!(
            parse_trace_id("4bf92f3577b34da6a3ce929d0e0e4736"),
            Ok(0x4bf92f3577b34da6a3ce929d0e0e4736)
        );
        assert_eq!(parse_trace_id(&"0".repeat(32)), Ok(0));
        for bad in [
            "",
            "4bf9",
            "zz".repeat(16).as_str(),
            "+bf92f3577b34da6a3ce929d0e0e4736",
        ] {
            let err = parse_trace_id(bad).unwrap_err();
            assert!(err.contains("32 hex digits"), "{bad}: {err}");
        }
    }
}
