//! The one layer every call to a port passes through: it names the endpoint from the
//! request (the gRPC method, or the HTTP method and route), opens the request span, counts
//! the call and times it. The endpoints a port knows come from what the port serves: the
//! gRPC methods from the services' descriptors, the HTTP routes from the router that serves
//! them ([`super::http::Api`]), so a new route cannot go unnamed. Anything else is
//! `unknown` (gRPC) or `METHOD other` (HTTP): never a caller's own text.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use http::{Method, Request, Response};
use metrics::{Counter, Histogram};
use tracing::Instrument;

use super::admission::{Admission, Refused};
use super::{
    grpc, metrics as names,
    table::{Http, Policy, Table},
};
use crate::{
    auth::access::{Denied, Gate},
    calls::faults::{Fault, Injected},
    service::ServiceKind,
    telemetry::{
        spans::{self, Kind},
        trace_ids::{self, TraceIds},
    },
};

/// Where each request is logged, at debug level: `--log-level movieapp::requests=debug`.
pub const REQUEST_LOG: &str = "movieapp::requests";

/// One named endpoint with its metric handles, registered once.
#[derive(Debug)]
pub struct Endpoint {
    service: &'static str,
    /// The `endpoint` label: `GetMetadata`, `GET /metadata`.
    name: Arc<str>,
    /// The trace span's name: `MetadataService/GetMetadata`, `GET /metadata`.
    span_name: Arc<str>,
    /// The same, as kept spans name it.
    trace_name: &'static str,
    grpc: bool,
    calls: Counter,
    successes: Counter,
    /// Calls of its service's API under way (one gauge per service, shared by its
    /// endpoints; probes and scrapes are not counted).
    in_flight: metrics::Gauge,
    /// Registered on first use: an empty histogram is many lines of zeros per scrape.
    duration: OnceLock<Histogram>,
    /// The span log lines of its calls are written in when traces are not exported: made
    /// once, since its fields never change and formatting them anew costs every call.
    log_span: OnceLock<tracing::Span>,
    /// The same for calls served in process.
    local_log_span: OnceLock<tracing::Span>,
    /// Faults configured for drills on this endpoint.
    faults: Vec<Fault>,
    /// Its entry's policy; `None`: it has no entry in the endpoint table, and is refused.
    policy: Option<Policy>,
}

/// Counts a call as under way until it is dropped: when it is answered, or when its caller
/// goes away and the call with it.
struct InFlight<'a>(&'a metrics::Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a metrics::Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// The deadline of a long-running call whose caller set none.
const LONG_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The policy of an endpoint that is not one (an unknown path): open, never limited, and
/// answered by the port's fallback (UNIMPLEMENTED, 404).
const UNKNOWN: Policy = Policy::OPERATIONAL;

impl Endpoint {
    fn new(
        service: ServiceKind,
        name: String,
        span_name: String,
        grpc: bool,
        policy: Option<Policy>,
    ) -> Self {
        let labels = [
            ("service", service.name().to_owned()),
            ("endpoint", name.clone()),
        ];
        Self {
            service: service.name(),
            calls: metrics::counter!(names::CALLS, &labels),
            successes: metrics::counter!(names::SUCCESSES, &labels),
            in_flight: metrics::gauge!(names::IN_FLIGHT, "service" => service.name()),
            duration: OnceLock::new(),
            log_span: OnceLock::new(),
            local_log_span: OnceLock::new(),
            faults: Vec::new(),
            policy,
            name: name.into(),
            trace_name: spans::intern(&span_name),
            span_name: span_name.into(),
            grpc,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why a call of it is refused without being served: it has no entry in its service's
    /// endpoint table.
    fn unlisted(&self) -> Option<tonic::Status> {
        match self.policy {
            Some(_) => None,
            None => Some(tonic::Status::unimplemented(format!(
                "{} is not served: it has no entry in the {} service's endpoint table",
                self.span_name, self.service
            ))),
        }
    }

    /// The fault this call gets, if any is configured and drawn.
    fn draw_fault(&self) -> Option<Injected> {
        self.faults.iter().find_map(Fault::draw)
    }

    fn record(&self, started: Instant, code: tonic::Code) {
        self.calls.increment(1);
        if code == tonic::Code::Ok {
            self.successes.increment(1);
        } else {
            metrics::counter!(
                names::ERRORS,
                "service" => self.service,
                "endpoint" => self.name.to_string(),
                "error" => names::error_label(code)
            )
            .increment(1);
        }
        self.duration
            .get_or_init(|| {
                metrics::histogram!(
                    names::DURATION,
                    "service" => self.service,
                    "endpoint" => self.name.to_string()
                )
            })
            .record(started.elapsed().as_secs_f64());
    }

    /// Keeps the finished call as a span for the dashboard (when spans are recorded).
    fn finished(&self, ids: TraceIds, parent: u64, started: Instant, code: tonic::Code) {
        // The services' own calls: not probes, scrapes, or the dashboard's own questions.
        if !self.policy.is_some_and(|p| p.limited) {
            return;
        }
        let kind = if self.grpc { Kind::Grpc } else { Kind::Http };
        spans::record(
            ids,
            parent,
            (self.service, self.trace_name, kind),
            started.elapsed(),
            code,
        );
    }

    /// The span a request is served in: it gives its log lines `service`, `endpoint` and
    /// `component` and, when traces are exported, is the server span, continuing the
    /// caller's trace (one per call). Otherwise one span per endpoint serves every call.
    /// At error level, so it exists whatever the log level.
    fn span(&self, headers: &http::HeaderMap) -> tracing::Span {
        let component = if self.grpc { "grpc" } else { "http" };
        if crate::telemetry::exporting() {
            let span = tracing::error_span!(
                parent: None,
                "request",
                service = self.service,
                endpoint = &*self.name,
                component,
                otel.name = &*self.span_name,
                otel.kind = "server",
                rpc.system = self.grpc.then_some("grpc"),
            );
            crate::telemetry::propagation::continue_trace(&span, headers);
            span
        } else {
            self.log_span_of(&self.log_span, component)
        }
    }

    /// The span made once in `cell` that every call's log lines are written in when
    /// traces are not exported (its fields never change).
    fn log_span_of(
        &self,
        cell: &OnceLock<tracing::Span>,
        component: &'static str,
    ) -> tracing::Span {
        cell.get_or_init(|| {
            tracing::error_span!(
                parent: None,
                "request",
                service = self.service,
                endpoint = &*self.name,
                component,
            )
        })
        .clone()
    }
}

impl Endpoint {
    /// Serves a call made inside this process (the in-process fast path) as this endpoint
    /// serves one from the network, minus the socket and protobuf: the caller's token is
    /// judged by `gate` as it would be here, configured faults are drawn, and the call has
    /// a span of its own and is counted and timed under this endpoint's labels. `work` is
    /// the controller's call; it runs within the caller's deadline.
    pub async fn serve_local<T>(
        &self,
        gate: Option<&Gate>,
        work: impl Future<Output = Result<T, super::ServiceError>>,
    ) -> Result<T, tonic::Status> {
        let started = Instant::now();
        let span = self.local_span();
        let budget = crate::calls::deadline::current().map(|d| {
            d.saturating_duration_since(tokio::time::Instant::now())
                .as_millis() as u64
        });
        tracing::debug!(
            target: REQUEST_LOG,
            parent: &span,
            path = %format_args!("/{}", self.span_name),
            deadline_ms = budget,
            "request"
        );
        let result = async {
            let _in_flight = self
                .policy
                .is_some_and(|p| p.limited)
                .then(|| InFlight::enter(&self.in_flight));
            if let Some(refused) = self.unlisted() {
                return Err(refused);
            }
            if let Some(gate) = gate
                && let Some(role) = gate.needs(self.policy.unwrap_or(UNKNOWN).access)
            {
                gate.check_forwarded(&self.name, role)
                    .map_err(|denied| denied_status(&denied))?;
            }
            if let Some(fault) = self.draw_fault()
                && let Some(status) = fault.play().await
            {
                return Err(status);
            }
            work.await.map_err(tonic::Status::from)
        }
        .instrument(span)
        .await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(status) => status.code(),
        };
        self.record(started, code);
        // A span of its own in the caller's trace, the caller's span its parent.
        if let Some(caller) = TraceIds::current() {
            spans::record(
                TraceIds::new(Some(caller.trace)),
                caller.span,
                (self.service, self.trace_name, Kind::Local),
                started.elapsed(),
                code,
            );
        }
        result
    }

    /// The span of a call served in process: when traces are exported, a child of the
    /// caller's; otherwise one for every call, as for [`Self::span`].
    fn local_span(&self) -> tracing::Span {
        if crate::telemetry::exporting() {
            tracing::error_span!(
                "request",
                service = self.service,
                endpoint = &*self.name,
                component = "local",
                otel.name = &*self.span_name,
                otel.kind = "server",
            )
        } else {
            self.log_span_of(&self.local_log_span, "local")
        }
    }
}

/// Every endpoint one port answers.
#[derive(Debug)]
pub struct Endpoints {
    /// By gRPC path, `/MetadataService/GetMetadata`.
    grpc: Vec<(String, Arc<Endpoint>)>,
    /// By HTTP method and route.
    http: Vec<(&'static str, &'static str, Arc<Endpoint>)>,
    unknown_grpc: Arc<Endpoint>,
    /// `METHOD other`, for the standard methods, then `OTHER other`.
    other_http: Vec<(Method, Arc<Endpoint>)>,
}

/// The HTTP methods that get a label of their own on unknown routes.
const METHODS: [Method; 7] = [
    Method::GET,
    Method::PUT,
    Method::POST,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
];

impl Endpoints {
    /// The endpoints of a port serving `table`'s service: every method of the gRPC services
    /// it serves (from the compiled descriptors) and the HTTP `routes` its router serves,
    /// each with its entry's policy, or refused when it has none; `faults` of the service
    /// go to the endpoints they name.
    pub fn new(table: &'static Table, routes: &[Http], faults: &[Fault]) -> Self {
        let service = table.service;
        let faulty = |mut endpoint: Endpoint| {
            endpoint.faults = faults
                .iter()
                .filter(|f| f.service == service && *f.endpoint == *endpoint.name)
                .cloned()
                .collect();
            Arc::new(endpoint)
        };
        let unlisted = |name: &str| {
            tracing::error!(%service, endpoint = name, file = table.file, "endpoint has no entry in the endpoint table: refusing its calls");
        };
        let served = grpc::served(service);
        let mut grpc = Vec::new();
        for (full_name, method) in grpc::methods(&grpc::DESCRIPTOR_SETS) {
            if served.contains(&full_name.as_str()) {
                let path = format!("/{full_name}/{method}");
                let span_name = format!("{full_name}/{method}");
                let policy = table.grpc(&full_name, &method).map(|e| e.policy);
                if policy.is_none() {
                    unlisted(&span_name);
                }
                let endpoint = Endpoint::new(service, method, span_name, true, policy);
                grpc.push((path, faulty(endpoint)));
            }
        }
        let http = routes
            .iter()
            .map(|route| {
                let name = route.name();
                let policy = table.http(route.method, route.path).map(|e| e.policy);
                if policy.is_none() {
                    unlisted(&name);
                }
                let endpoint = Endpoint::new(service, name.clone(), name, false, policy);
                (route.method, route.path, faulty(endpoint))
            })
            .collect();
        let other = |method: &str| {
            let name = format!("{method} other");
            Arc::new(Endpoint::new(
                service,
                name.clone(),
                name,
                false,
                Some(UNKNOWN),
            ))
        };
        let mut other_http: Vec<_> = METHODS
            .iter()
            .map(|m| (m.clone(), other(m.as_str())))
            .collect();
        other_http.push((Method::CONNECT, other("OTHER")));
        Self {
            grpc,
            http,
            unknown_grpc: Arc::new(Endpoint::new(
                service,
                "unknown".into(),
                "unknown".into(),
                true,
                Some(UNKNOWN),
            )),
            other_http,
        }
    }

    /// The endpoint a request is for.
    pub fn of<B>(&self, request: &Request<B>) -> &Arc<Endpoint> {
        let path = request.uri().path();
        if grpc::content_kind(request.headers()) != grpc::ContentKind::Http {
            return self
                .grpc
                .iter()
                .find(|(p, _)| p == path)
                .map_or(&self.unknown_grpc, |(_, e)| e);
        }
        let method = request.method();
        if let Some((_, _, e)) = self
            .http
            .iter()
            .find(|(m, p, _)| *m == method.as_str() && *p == path)
        {
            return e;
        }
        self.other_http
            .iter()
            .find(|(m, _)| m == method)
            .or(self.other_http.last())
            .map_or(&self.unknown_grpc, |(_, e)| e)
    }

    /// The endpoint that other services of the process call directly, if the table marks
    /// one.
    pub fn in_process(&self) -> Option<Arc<Endpoint>> {
        self.grpc
            .iter()
            .find(|(_, e)| e.policy.is_some_and(|p| p.in_process))
            .map(|(_, e)| Arc::clone(e))
    }

    /// Every endpoint name.
    #[cfg(test)]
    fn names(&self) -> Vec<&str> {
        let grpc = self.grpc.iter().map(|(_, e)| e.name());
        let http = self.http.iter().map(|(_, _, e)| e.name());
        grpc.chain(http).collect()
    }
}

/// The outcome of a response as a gRPC code: `grpc-status` for gRPC (tonic puts errors in
/// the headers of a trailers-only response), the HTTP status otherwise.
fn outcome<B>(grpc: bool, response: &Response<B>) -> tonic::Code {
    if grpc {
        return crate::codes::of_headers(response.headers()).unwrap_or(tonic::Code::Ok);
    }
    crate::codes::of_http(response.status())
}

/// Adds [`Observe`] around a port's service.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    endpoints: Arc<Endpoints>,
    default_deadline: Duration,
    admission: Arc<Admission>,
    gate: Option<Arc<Gate>>,
    max_header_bytes: usize,
}

impl ObserveLayer {
    /// `default_deadline`: for calls whose caller sent no `grpc-timeout`; `admission`:
    /// which calls of the service's API are taken on; `gate`: checks callers' tokens, when
    /// auth is on.
    pub fn new(
        endpoints: Endpoints,
        default_deadline: Duration,
        admission: Admission,
        gate: Option<Arc<Gate>>,
    ) -> Self {
        Self {
            endpoints: Arc::new(endpoints),
            default_deadline,
            admission: Arc::new(admission),
            gate,
            max_header_bytes: usize::MAX,
        }
    }

    /// Refuses a call whose headers take more than `bytes` (counted as HTTP/2 does: name,
    /// value and 32 a field), whatever its HTTP version: RESOURCE_EXHAUSTED, HTTP 431.
    #[must_use]
    pub fn with_max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes;
        self
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            endpoints: Arc::clone(&self.endpoints),
            default_deadline: self.default_deadline,
            admission: Arc::clone(&self.admission),
            gate: self.gate.clone(),
            max_header_bytes: self.max_header_bytes,
        }
    }
}

/// Names, traces, counts and times every call; see the module documentation.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    endpoints: Arc<Endpoints>,
    default_deadline: Duration,
    admission: Arc<Admission>,
    gate: Option<Arc<Gate>>,
    max_header_bytes: usize,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

type Body = tonic::body::Body;

impl<S, B> tower::Service<Request<B>> for Observe<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let started = Instant::now();
        let endpoint = Arc::clone(self.endpoints.of(&request));
        let span = endpoint.span(request.headers());
        let ids = call_ids(&span, request.headers());
        let parent = caller_span(request.headers(), ids);
        let Some(policy) = endpoint.policy else {
            let response = stamped(endpoint.refuse_unlisted(started), ids);
            return Box::pin(async move { Ok(response) });
        };
        let header_bytes = header_list_bytes(request.headers());
        if header_bytes > self.max_header_bytes {
            endpoint.record(started, tonic::Code::ResourceExhausted);
            endpoint.finished(ids, parent, started, tonic::Code::ResourceExhausted);
            let message = format!(
                "request headers of {header_bytes} bytes are over the limit of {} (connections.maxHeaderListBytes)",
                self.max_header_bytes
            );
            let mut response =
                error_response(endpoint.grpc, tonic::Code::ResourceExhausted, &message);
            if !endpoint.grpc {
                *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            }
            let response = stamped(response, ids);
            return Box::pin(async move { Ok(response) });
        }
        let budget = budget(request.headers(), policy, self.default_deadline);
        let deadline = tokio::time::Instant::now() + budget;
        tracing::debug!(
            target: REQUEST_LOG,
            parent: &span,
            path = request.uri().path(),
            deadline_ms = budget.as_millis() as u64,
            trace_id = %ids.trace_id(),
            "request"
        );
        let permit = match self.admit(&request, policy) {
            Ok(permit) => permit,
            Err(refused) => {
                let response = stamped(refused_response(endpoint.grpc, refused), ids);
                endpoint.record(started, tonic::Code::ResourceExhausted);
                endpoint.finished(ids, parent, started, tonic::Code::ResourceExhausted);
                return Box::pin(async move { Ok(response) });
            }
        };
        // A call that needs a token: its header's value, checked once under way.
        let guarded = self.gate.as_ref().and_then(|gate| {
            let role = gate.needs(policy.access)?;
            let mut headers = request
                .headers()
                .get_all(http::header::AUTHORIZATION)
                .iter();
            let header = headers.next().map(|v| v.as_bytes().to_vec());
            let header = if headers.next().is_some() {
                Err(())
            } else {
                Ok(header)
            };
            Some((Arc::clone(gate), role, header))
        });
        let injected = endpoint.draw_fault();
        let future = span.in_scope(|| self.inner.call(request));
        let call = async move {
            // The service's own calls, not probes, scrapes or reflection.
            let _in_flight = policy.limited.then(|| InFlight::enter(&endpoint.in_flight));
            let token = match guarded {
                None => None,
                Some(guard) => match endpoint.authorize(guard, started).await {
                    Ok(caller) => Some(caller),
                    Err(response) => return Ok(stamped(response, ids)),
                },
            };
            let call = async {
                match injected {
                    None => future.await,
                    Some(fault) => inject(fault, endpoint.grpc, future).await,
                }
            };
            let call = crate::auth::access::as_caller(token, call);
            let result = match tokio::time::timeout_at(
                deadline,
                crate::calls::deadline::within(deadline, call),
            )
            .await
            {
                Ok(result) => result,
                // Past the deadline the work is dropped, and the caller told so.
                Err(_) => Ok(error_response(
                    endpoint.grpc,
                    tonic::Code::DeadlineExceeded,
                    &format!("deadline exceeded after {budget:?}"),
                )),
            };
            let mut result = result;
            if endpoint.grpc
                && let Ok(response) = &mut result
            {
                super::grpc::too_large_is_resource_exhausted(response);
            }
            let code = match &result {
                Ok(response) => outcome(endpoint.grpc, response),
                Err(_) => tonic::Code::Internal,
            };
            endpoint.record(started, code);
            endpoint.finished(ids, parent, started, code);
            drop(permit);
            result.map(|response| stamped(response, ids))
        };
        Box::pin(ids.scope(call.instrument(span)))
    }
}

/// The trace ids of a call: its exported span's, else the caller's trace (`traceparent`)
/// or a new one.
fn call_ids(span: &tracing::Span, headers: &http::HeaderMap) -> TraceIds {
    if crate::telemetry::exporting()
        && let Some(ids) = crate::telemetry::propagation::ids_of(span)
    {
        return ids;
    }
    TraceIds::from_traceparent(headers.get(trace_ids::TRACEPARENT).map(|v| v.as_bytes()))
}

/// The caller's span, from its `traceparent` (0: none, or another trace's), when spans are
/// recorded.
fn caller_span(headers: &http::HeaderMap, ids: TraceIds) -> u64 {
    if !spans::recording() {
        return 0;
    }
    headers
        .get(trace_ids::TRACEPARENT)
        .and_then(|v| trace_ids::parse(v.as_bytes()))
        .filter(|caller| caller.trace == ids.trace)
        .map_or(0, |caller| caller.span)
}

/// `response` with the call's `traceresponse`.
fn stamped(mut response: Response<Body>, ids: TraceIds) -> Response<Body> {
    static NAME: http::HeaderName = http::HeaderName::from_static(trace_ids::TRACERESPONSE);
    if let Ok(value) = http::HeaderValue::from_bytes(&ids.header_bytes()) {
        response.headers_mut().insert(NAME.clone(), value);
    }
    response
}

impl<S> Observe<S> {
    /// Takes the call on, or refuses it for load: only for what admission control limits.
    fn admit<B>(&self, request: &Request<B>, policy: Policy) -> Result<Option<Permit>, Refused> {
        if !policy.limited {
            return Ok(None);
        }
        let caller = request
            .extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .and_then(|info| info.remote_addr)
            .map(|addr| addr.ip());
        self.admission.admit(caller)
    }
}

/// A permit for a call in flight.
type Permit = tokio::sync::OwnedSemaphorePermit;

/// What checking a call's token needs: the gate, the role, and the header's value (`Err`
/// when the request has more than one).
type Guard = (Arc<Gate>, crate::auth::Role, Result<Option<Vec<u8>>, ()>);

impl Endpoint {
    /// The answer to a call of an endpoint without an entry in its table, counted.
    fn refuse_unlisted(&self, started: Instant) -> Response<Body> {
        let refused = self
            .unlisted()
            .unwrap_or_else(|| tonic::Status::unimplemented(""));
        self.record(started, refused.code());
        match self.grpc {
            true => refused.into_http(),
            false => error_response(false, tonic::Code::NotFound, refused.message()),
        }
    }

    /// Checks the call's token; a refusal is answered here, and counted.
    async fn authorize(
        &self,
        (gate, role, header): Guard,
        started: Instant,
    ) -> Result<crate::auth::access::Caller, Response<Body>> {
        let checked = match header {
            Ok(header) => gate.check(&self.name, role, header.as_deref()).await,
            Err(()) => Err(Denied::Ambiguous(
                "more than one authorization header: send one token".to_owned(),
            )),
        };
        checked.map_err(|denied| {
            let response = denied_response(self.grpc, &denied);
            self.record(started, outcome(self.grpc, &response));
            tracing::debug!(target: REQUEST_LOG, reason = %denied, "refused");
            response
        })
    }
}

/// A header block's size as HTTP/2 counts it (RFC 9113 §6.5.2): each field's name and
/// value, and 32 bytes.
fn header_list_bytes(headers: &http::HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 32)
        .sum()
}

/// The deadline of a call: the caller's (gRPC, or HTTP with the same header), else the
/// default, or the long one for what may run long.
fn budget(headers: &http::HeaderMap, policy: Policy, default: Duration) -> Duration {
    headers
        .get("grpc-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(crate::calls::deadline::parse_grpc_timeout)
        .unwrap_or(match policy.long_running {
            true => LONG_DEADLINE,
            false => default,
        })
}

/// Runs a call with a fault drawn for it: a hang, a delay, then an error or the call.
async fn inject<F, E>(fault: Injected, grpc: bool, call: F) -> Result<Response<Body>, E>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    match fault.play().await {
        None => call.await,
        Some(status) => Ok(error_response(grpc, status.code(), status.message())),
    }
}

/// The answer to a call not taken on: RESOURCE_EXHAUSTED (HTTP 429), with when to come
/// back for a rate limit (`grpc-retry-pushback-ms`, `Retry-After`).
fn refused_response(grpc: bool, refused: Refused) -> Response<Body> {
    let (message, retry_after) = match refused {
        Refused::RateLimited { retry_after } => (
            format!("rate limited: try again in {} ms", retry_after.as_millis()),
            Some(retry_after),
        ),
        Refused::Overloaded => (
            "overloaded: too many calls in flight; try again later".to_owned(),
            None,
        ),
    };
    let mut response = error_response(grpc, tonic::Code::ResourceExhausted, &message);
    if let Some(wait) = retry_after {
        let (name, value) = if grpc {
            (
                "grpc-retry-pushback-ms",
                wait.as_millis().max(1).to_string(),
            )
        } else {
            (
                "retry-after",
                wait.as_secs_f64().ceil().max(1.0).to_string(),
            )
        };
        if let Ok(value) = http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The status of a call refused for its token.
fn denied_status(denied: &Denied) -> tonic::Status {
    let code = match denied {
        Denied::Unauthenticated(_) | Denied::Ambiguous(_) => tonic::Code::Unauthenticated,
        Denied::Forbidden(_) => tonic::Code::PermissionDenied,
        Denied::Unavailable(_) => tonic::Code::Unavailable,
    };
    tonic::Status::new(code, denied.to_string())
}

/// The answer to a call refused for its token: UNAUTHENTICATED (HTTP 401 with
/// `WWW-Authenticate: Bearer`), PERMISSION_DENIED (403), or UNAVAILABLE when the keys to
/// check it with cannot be had.
fn denied_response(grpc: bool, denied: &Denied) -> Response<Body> {
    if grpc {
        return denied_status(denied).into_http();
    }
    let (code, challenge) = match denied {
        Denied::Unauthenticated(_) if denied.invalid_token() => (
            tonic::Code::Unauthenticated,
            Some(r#"Bearer realm="movieapp", error="invalid_token""#),
        ),
        Denied::Unauthenticated(_) => (
            tonic::Code::Unauthenticated,
            Some(r#"Bearer realm="movieapp""#),
        ),
        Denied::Forbidden(_) => (
            tonic::Code::PermissionDenied,
            Some(r#"Bearer realm="movieapp", error="insufficient_scope""#),
        ),
        Denied::Unavailable(_) => (tonic::Code::Unavailable, None),
        Denied::Ambiguous(_) => (
            tonic::Code::InvalidArgument,
            Some(r#"Bearer realm="movieapp", error="invalid_request""#),
        ),
    };
    let mut response = error_response(false, code, &denied.to_string());
    if let Some(challenge) = challenge {
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static(challenge),
        );
    }
    response
}

/// An error answer made here rather than by a handler: a gRPC status, or the HTTP status
/// of `code` with the JSON error body.
fn error_response(grpc: bool, code: tonic::Code, message: &str) -> Response<Body> {
    if grpc {
        return tonic::Status::new(code, message).into_http();
    }
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = Response::new(Body::new(axum::body::Body::from(body)));
    *response.status_mut() = crate::codes::http_status(code);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The movie service's table without UploadFile and `GET /movie/files`: as if they had
    /// been added to the service and forgotten in the table.
    static FORGETFUL: Table = Table {
        service: ServiceKind::Movie,
        file: "test",
        grpc: &[crate::server::table::Grpc {
            service: "MovieService",
            method: "GetMovieDetails",
            policy: Policy::READ,
        }],
        http: &[MOVIE],
    };

    const MOVIE: Http = Http {
        method: "GET",
        path: "/movie",
        policy: Policy::READ,
    };

    const FILES: Http = Http {
        method: "GET",
        path: "/movie/files",
        policy: Policy::READ,
    };

    fn endpoints() -> Endpoints {
        Endpoints::new(&FORGETFUL, &[MOVIE, FILES], &[])
    }

    fn request(method: Method, path: &str, content_type: Option<&str>) -> Request<()> {
        let mut r = Request::builder().method(method).uri(path);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.body(()).unwrap()
    }

    #[test]
    fn endpoints_are_from_a_closed_set() {
        let e = endpoints();
        let grpc = Some("application/grpc");
        let name = |r: Request<()>| e.of(&r).name().to_owned();
        assert_eq!(
            name(request(Method::POST, "/MovieService/GetMovieDetails", grpc)),
            "GetMovieDetails"
        );
        assert_eq!(
            name(request(Method::POST, "/grpc.health.v1.Health/Check", grpc)),
            "Check"
        );
        assert_eq!(
            name(request(Method::POST, "/MetadataService/GetMetadata", grpc)),
            "unknown",
            "not served on this port"
        );
        assert_eq!(name(request(Method::POST, "/Evil/Method", grpc)), "unknown");
        assert_eq!(name(request(Method::GET, "/movie", None)), "GET /movie");
        assert_eq!(name(request(Method::PUT, "/users/alex", None)), "PUT other");
        let custom = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(name(request(custom, "/movie", None)), "OTHER other");
    }

    #[test]
    fn every_method_of_the_proto_is_known() {
        let endpoints = endpoints();
        let names = endpoints.names();
        for expected in [
            "GetMovieDetails",
            "UploadFile",
            "Check",
            "Watch",
            "GET /movie",
        ] {
            assert!(names.contains(&expected), "{expected}: {names:?}");
        }
    }

    #[test]
    fn an_endpoint_without_an_entry_is_refused_not_served_as_a_read() {
        let e = endpoints();
        let of = |r: Request<()>| Arc::clone(e.of(&r));
        let grpc = Some("application/grpc");
        let listed = of(request(Method::POST, "/MovieService/GetMovieDetails", grpc));
        assert!(listed.unlisted().is_none());
        let upload = of(request(Method::POST, "/MovieService/UploadFile", grpc));
        let refused = upload.unlisted().expect("no entry: refused");
        assert_eq!(refused.code(), tonic::Code::Unimplemented);
        assert!(
            refused.message().contains("MovieService/UploadFile")
                && refused.message().contains("endpoint table"),
            "{}",
            refused.message()
        );
        let files = of(request(Method::GET, "/movie/files", None));
        assert!(files.unlisted().is_some(), "an HTTP route without an entry");
        // Health and reflection come from the common entries.
        let check = of(request(Method::POST, "/grpc.health.v1.Health/Check", grpc));
        assert!(check.unlisted().is_none());
    }

    #[tokio::test]
    async fn the_layer_answers_unlisted_endpoints_without_calling_the_service() {
        use tower::{Layer, Service, ServiceExt};
        let called = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&called);
        let inner = tower::service_fn(move |_: Request<()>| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async { Ok::<_, std::convert::Infallible>(Response::new(Body::default())) }
        });
        let admission = Admission::new(&crate::service::Settings::default()).unwrap();
        let layer = ObserveLayer::new(endpoints(), Duration::from_secs(1), admission, None);
        let mut service = layer.layer(inner);
        let grpc = Some("application/grpc");
        let upload = request(Method::POST, "/MovieService/UploadFile", grpc);
        let answer = service.ready().await.unwrap().call(upload).await.unwrap();
        assert_eq!(
            crate::codes::of_headers(answer.headers()),
            Some(tonic::Code::Unimplemented)
        );
        let files = request(Method::GET, "/movie/files", None);
        let answer = service.ready().await.unwrap().call(files).await.unwrap();
        assert_eq!(answer.status(), http::StatusCode::NOT_FOUND);
        assert_eq!(called.load(std::sync::atomic::Ordering::Relaxed), 0);
        let details = request(Method::POST, "/MovieService/GetMovieDetails", grpc);
        service.ready().await.unwrap().call(details).await.unwrap();
        assert_eq!(called.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
