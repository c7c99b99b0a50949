//! The HTTP/JSON side of every service port (the book's chapter-2 API): the one mapping of
//! service errors onto HTTP, strict query parameters, the router that takes routes as
//! endpoint-table entries, and the profile route. [`super::port`] puts it beside gRPC.

use std::collections::HashMap;

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{Method, Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{MethodFilter, on},
};
use serde_json::json;

use super::{
    ServiceError,
    openapi::{ApiError, Binary, Documented},
    table::Http,
};
use crate::model::{MovieId, validate};

/// Longest query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 128 * 1024;

/// The one mapping of service errors onto HTTP (docs/design.md §1), with a JSON body.
impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = match &self {
            ServiceError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            ServiceError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ServiceError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ServiceError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::TooManyAttempts { retry_after, .. } => {
                let mut response = error(StatusCode::TOO_MANY_REQUESTS, &self.to_string());
                let secs = retry_after.as_secs().max(1).to_string();
                if let Ok(value) = axum::http::HeaderValue::from_str(&secs) {
                    response
                        .headers_mut()
                        .insert(axum::http::header::RETRY_AFTER, value);
                }
                return response;
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        };
        error(status, &self.to_string())
    }
}

/// The JSON of a successful result, or the error's status and `{"error": ...}`.
pub fn respond<T: serde::Serialize>(result: Result<T, ServiceError>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Like [`respond`], with the stale mark on a fallback answer.
pub fn respond_served<T: serde::Serialize>(
    result: Result<crate::calls::fallback::Served<T>, ServiceError>,
) -> Response {
    match result {
        Ok(served) => {
            let stale = served.stale_header();
            let mut response = Json(served.value).into_response();
            if let Some(age) = stale.and_then(|a| axum::http::HeaderValue::from_str(&a).ok()) {
                response
                    .headers_mut()
                    .insert(crate::calls::fallback::STALE_HEADER, age);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

/// `{"error": message}` with `status`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// A request's query parameters, decoded strictly: malformed percent-encoding, invalid
/// UTF-8 and a parameter given twice are each a 400 naming the parameter, never a value
/// silently rewritten.
pub struct Params(HashMap<String, String>);

/// The field name of a query parameter in messages.
fn param_field(name: &str) -> &'static str {
    match name {
        "id" => "query parameter id",
        "type" => "query parameter type",
        "userId" => "query parameter userId",
        "value" => "query parameter value",
        "filename" => "query parameter filename",
        "pageSize" => "query parameter pageSize",
        "pageToken" => "query parameter pageToken",
        "titlePrefix" => "query parameter titlePrefix",
        _ => "query parameter",
    }
}

impl Params {
    /// Parses the raw query string (`RawQuery`).
    pub fn parse(query: Option<String>) -> Result<Self, ServiceError> {
        let mut params = HashMap::new();
        let query = query.unwrap_or_default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(raw_name).map_err(|expected| {
                validate::ValidationError::new("query parameter name", raw_name, expected)
            })?;
            let field = param_field(&name);
            let value = decode(raw_value)
                .map_err(|expected| validate::ValidationError::new(field, raw_value, expected))?;
            if params.insert(name.clone(), value).is_some() {
                return Err(validate::ValidationError::new(
                    field,
                    &name,
                    "is given more than once; give it once",
                )
                .into());
            }
        }
        Ok(Self(params))
    }

    /// A required parameter; missing is a validation error naming it.
    pub fn required(&self, name: &'static str) -> Result<&str, ServiceError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| validate::missing(param_field(name)).into())
    }

    /// The `id` parameter, as a movie id.
    pub fn movie_id(&self) -> Result<MovieId, ServiceError> {
        Ok(MovieId::new(self.required("id")?)?)
    }

    pub fn optional(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `pageSize` as given (0 when absent); the listing applies its default and maximum.
    pub fn page_size(&self) -> Result<i64, ServiceError> {
        match self.optional("pageSize") {
            None => Ok(0),
            Some(text) => text.parse().map_err(|_| {
                validate::ValidationError::new(
                    param_field("pageSize"),
                    text,
                    "expected a whole number of items",
                )
                .into()
            }),
        }
    }

    /// `pageToken` as given (empty when absent: the first page).
    pub fn page_token(&self) -> String {
        self.optional("pageToken").unwrap_or_default().to_owned()
    }
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte;
/// the result must be UTF-8.
fn decode(raw: &str) -> Result<String, &'static str> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                match rest {
                    [hi, lo, tail @ ..] if hex(*hi).is_some() && hex(*lo).is_some() => {
                        let (hi, lo) = (hex(*hi).unwrap_or(0), hex(*lo).unwrap_or(0));
                        bytes.push((hi * 16 + lo) as u8);
                        rest = tail;
                    }
                    _ => {
                        return Err(
                            "has a malformed percent-encoding; expected %XX with two hex digits",
                        );
                    }
                }
            }
            b => bytes.push(b),
        }
    }
    String::from_utf8(bytes).map_err(|_| "is not valid UTF-8 once percent-decoded")
}

/// A service's HTTP routes, each added with its entry in the endpoint table
/// ([`super::table`]) and its handler's `#[utoipa::path]`, and recorded, so each is a named
/// endpoint ([`super::endpoint`]) and documented ([`super::openapi`]).
pub struct Api<S = ()> {
    router: Router<S>,
    routes: Vec<Route>,
}

/// A route served: its endpoint-table entry and what its handler documents.
#[derive(Clone)]
pub struct Route {
    pub entry: Http,
    pub doc: Documented,
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// Serves the route of `entry` with `handler`, documented by `doc` (the handler's
    /// `__path_<fn>`, made by `#[utoipa::path]`).
    pub fn route<H, T, P>(mut self, entry: Http, handler: H, doc: P) -> Self
    where
        H: axum::handler::Handler<T, S>,
        T: 'static,
        P: utoipa::Path + utoipa::__dev::SchemaReferences,
    {
        // The tables name standard methods only; an unknown one serves nothing.
        let filter = Method::from_bytes(entry.method.as_bytes())
            .ok()
            .and_then(|m| MethodFilter::try_from(m).ok());
        if let Some(filter) = filter {
            self.router = self.router.route(entry.path, on(filter, handler));
            self.routes.push(Route {
                entry,
                doc: Documented::of(doc),
            });
        }
        self
    }

    /// Gives the handlers their state.
    pub fn with_state(self, state: S) -> Api {
        Api {
            router: self.router.with_state(state),
            routes: self.routes,
        }
    }
}

impl Api {
    /// The router, and the routes it serves.
    pub fn into_parts(self) -> (Router, Vec<Route>) {
        (self.router, self.routes)
    }

    /// Both sets of routes, on one port.
    pub fn merge(mut self, other: Api) -> Api {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }
}

impl<S: Clone + Send + Sync + 'static> Default for Api<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// The debug endpoints a port serves, and how its document describes access.
#[derive(Debug, Clone, Default)]
pub struct Debug {
    /// The auth mode: which routes the OpenAPI document marks as needing a token.
    pub auth: crate::auth::settings::Mode,
    /// `GET /debug/pprof/profile` (`debug.profiling`).
    pub profiling: bool,
    /// Answer only callers on this machine (auth is off, so no token can say who calls).
    pub loopback_only: bool,
    /// `GET /debug/traces`: the trace store (`None` with `traces.keep: off`).
    pub traces: Option<std::sync::Arc<crate::dashboard::store::Store>>,
}

/// Whether `request` came from this machine (a loopback address).
pub fn from_this_machine<B>(request: &Request<B>) -> bool {
    request
        .extensions()
        .get::<tonic::transport::server::TcpConnectInfo>()
        .and_then(|info| info.remote_addr)
        .is_some_and(|p| p.ip().is_loopback())
}

/// The answer to a caller not on this machine while auth is off (no token can say who
/// calls), if that is who calls.
pub fn refuse_remote(loopback_only: bool, request: &Request<Body>, what: &str) -> Option<Response> {
    (loopback_only && !from_this_machine(request)).then(|| {
        error(
            StatusCode::FORBIDDEN,
            &format!("{what} are served to callers on this machine only while auth is off"),
        )
    })
}

/// A CPU profile of the whole process, taken over `seconds` (`debug.profiling`).
#[utoipa::path(get, path = super::table::PROFILE.path, tag = "operations",
    params(
        ("seconds" = Option<u64>, Query, minimum = 1, maximum = 60,
            description = "How long to profile, in seconds (default 30)"),
        ("format" = Option<String>, Query, description = "pprof (the default) or flamegraph"),
    ),
    responses(
        (status = 200, description = "The profile: pprof protobuf, or an SVG flame graph",
            content((Binary = "application/octet-stream"), (String = "image/svg+xml"))),
        (status = 400, description = "A parameter is not valid", body = ApiError),
        (status = 403, description = "Auth is off and the caller is not on this machine", body = ApiError),
        (status = 409, description = "A profile is already being taken", body = ApiError),
    ))]
pub async fn profile(State(loopback_only): State<bool>, request: Request<Body>) -> Response {
    if let Some(refused) = refuse_remote(loopback_only, &request, "profiles") {
        return refused;
    }
    let params = match Params::parse(request.uri().query().map(str::to_owned)) {
        Ok(params) => params,
        Err(e) => return e.into_response(),
    };
    let seconds = match params.optional("seconds") {
        None => crate::profiling::DEFAULT_SECONDS,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=crate::profiling::MAX_SECONDS).contains(&n) => n,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "invalid query parameter seconds {text:?}: expected a whole number from 1 to {}",
                        crate::profiling::MAX_SECONDS
                    ),
                );
            }
        },
    };
    let (format, content_type) = match params.optional("format") {
        None | Some("pprof" | "proto") => {
            (crate::profiling::Format::Pprof, "application/octet-stream")
        }
        Some("flamegraph" | "svg") => (crate::profiling::Format::Flamegraph, "image/svg+xml"),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("invalid query parameter format {other:?}: expected pprof or flamegraph"),
            );
        }
    };
    match crate::profiling::take(std::time::Duration::from_secs(seconds), format).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e @ crate::profiling::ProfileError::Busy) => {
            error(StatusCode::CONFLICT, &e.to_string())
        }
        Err(e) => {
            tracing::error!(error = %e, "profile failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str) -> Result<Params, String> {
        Params::parse(Some(query.to_owned())).map_err(|e| e.to_string())
    }

    #[test]
    fn queries_decode_strictly() {
        let p = parse("id=a%20b&type=movie&userId=x+y&value=5").unwrap();
        assert_eq!(p.required("id").unwrap(), "a b");
        assert_eq!(p.optional("userId"), Some("x y"));
        assert_eq!(parse("id=%C3%A9").unwrap().required("id").unwrap(), "é");
        for (query, needle) in [
            (
                "id=%ff",
                "invalid query parameter id \"%ff\": is not valid UTF-8",
            ),
            ("userId=%fe", "query parameter userId"),
            ("id=%zz", "malformed percent-encoding"),
            ("id=%", "malformed percent-encoding"),
            ("id=%4", "malformed percent-encoding"),
            ("id=1&id=2", "given more than once"),
        ] {
            let err = parse(query).err().unwrap_or_default();
            assert!(err.contains(needle), "{query}: {err}");
        }
        assert!(parse("").unwrap().optional("id").is_none());
    }
}
