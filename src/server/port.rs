//! One port: what it serves (gRPC by content type, to the port's gRPC services found by
//! path; everything else to its HTTP routes, health, readiness, metrics and profiles), and
//! serving it on a listener over the connection workers.

use std::{
    convert::Infallible,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use axum::{
    Router,
    body::Body,
    extract::DefaultBodyLimit,
    http::{Request, StatusCode, header},
    response::Response,
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;
use tonic::{codegen::BoxFuture, transport::Server};
use tower::ServiceExt;

use super::{
    conn::Acceptor,
    endpoint::ObserveLayer,
    grpc::{ContentKind, GrpcServices, content_kind},
    health::Readiness,
    http::{Api, Debug, MAX_BODY_BYTES, MAX_QUERY_BYTES, Route, error, profile},
    openapi, operational,
    table::{self, Table},
    traces::traces,
};
use crate::{
    discovery::Registry,
    model::validate::Shown,
    service::{ConnectionSettings, ServiceKind},
};

/// How many times `connections.maxHeaderListBytes` HTTP/2 itself lets a header block
/// reach before it stops storing it (past twice that, it ends the connection).
const H2_HEADER_LIST_FACTOR: u32 = 8;

/// The port's routes: gRPC by content type, then the service's HTTP API, health and
/// readiness; with size limits on query strings and bodies. Also returns every HTTP route,
/// to name the endpoints.
pub fn combine(
    table: &'static Table,
    grpc: GrpcServices,
    api: Api,
    readiness: Arc<Readiness>,
    registry: Arc<dyn Registry>,
    debug: Debug,
) -> (Port, Vec<Route>) {
    let api = api.merge(
        Api::new()
            .route(table::TRACES, traces, super::traces::__path_traces)
            .with_state((debug.loopback_only, debug.traces.clone())),
    );
    let api = api.merge(
        Api::new()
            .route(table::LOGS, super::logs::logs, super::logs::__path_logs)
            .with_state(debug.loopback_only),
    );
    let api = if debug.profiling {
        api.merge(
            Api::new()
                .route(table::PROFILE, profile, super::http::__path_profile)
                .with_state(debug.loopback_only),
        )
    } else {
        api
    };
    let document = Arc::new(OnceLock::new());
    let api = operational::routes(api, readiness, Arc::clone(&document));
    let (router, routes) = api.into_parts();
    let doc = openapi::document(
        table.service,
        routes.iter().map(|r| (&r.entry, &r.doc)),
        debug.auth,
    );
    match serde_json::to_vec(&doc) {
        Ok(json) => {
            let _ = document.set(bytes::Bytes::from(json));
        }
        Err(e) => tracing::error!(error = %e, "the OpenAPI document could not be written"),
    }
    let http = router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(axum::middleware::from_fn(json_errors))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    let port = Port(Arc::new(PortRoutes {
        service: table.service,
        grpc,
        served: table.grpcs().map(table::Grpc::path).collect(),
        http,
        registry,
    }));
    (port, routes)
}

/// What a port serves: calls with a gRPC content type go to its gRPC services (its own,
/// health, reflection), found by path; all others to its HTTP routes.
#[derive(Clone)]
pub struct Port(Arc<PortRoutes>);

struct PortRoutes {
    service: ServiceKind,
    grpc: GrpcServices,
    /// The paths of every gRPC method served; others are UNIMPLEMENTED, with a hint.
    served: Vec<String>,
    http: Router,
    registry: Arc<dyn Registry>,
}

type GrpcBody = tonic::body::Body;

impl tower::Service<Request<GrpcBody>> for Port {
    type Response = Response<GrpcBody>;
    type Error = Infallible;
    type Future = BoxFuture<Response<GrpcBody>, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<GrpcBody>) -> Self::Future {
        let routes = &self.0;
        let answer = |response: Response| -> Self::Future {
            Box::pin(std::future::ready(Ok(response.map(GrpcBody::new))))
        };
        match content_kind(request.headers()) {
            ContentKind::Grpc => {
                let path = request.uri().path();
                if routes.served.iter().any(|p| p == path)
                    && let Some(service) = routes.grpc.find(path)
                {
                    return service.call(request);
                }
                let routes = Arc::clone(routes);
                Box::pin(async move {
                    let response = unimplemented(
                        routes.service,
                        routes.registry.as_ref(),
                        request.uri().path(),
                    )
                    .await;
                    Ok(response.map(GrpcBody::new))
                })
            }
            ContentKind::UnsupportedGrpc => answer(error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported gRPC encoding: this server speaks application/grpc (protobuf)",
            )),
            ContentKind::Http
                if request
                    .uri()
                    .query()
                    .is_some_and(|q| q.len() > MAX_QUERY_BYTES) =>
            {
                answer(error(
                    StatusCode::URI_TOO_LONG,
                    &format!("query string longer than {MAX_QUERY_BYTES} bytes"),
                ))
            }
            ContentKind::Http => {
                let call = routes.http.clone().oneshot(request.map(Body::new));
                Box::pin(async move {
                    let Ok(response) = call.await;
                    Ok(response.map(GrpcBody::new))
                })
            }
        }
    }
}

/// A gRPC method this port does not serve: UNIMPLEMENTED naming it and, when it is one of
/// ours, the service (and, if the registry knows one, an address) that serves it.
async fn unimplemented(service: ServiceKind, registry: &dyn Registry, path: &str) -> Response {
    let shown = Shown::of(path);
    let grpc_service = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let message = match ServiceKind::serving(grpc_service) {
        Some(other) if other != service => {
            let at = registry
                .service_addresses(other.name())
                .await
                .ok()
                .and_then(|addrs| addrs.into_iter().next())
                .map(|addr| format!(", e.g. at {addr}"))
                .unwrap_or_default();
            format!(
                "method {shown} is not served on this port (the {service} service); the {other} service serves it{at}"
            )
        }
        _ => format!(
            "unknown method {shown}: this port serves {}, grpc.health.v1.Health and server reflection",
            service.grpc_name()
        ),
    };
    tonic::Status::unimplemented(message).into_http()
}

/// axum answers a method a route does not take with an empty 405, and a body over the
/// limit with a plain-text 413; give them the JSON error every other failure has. axum adds
/// the `Allow` header after this layer.
async fn json_errors(request: Request<Body>, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !json {
        // axum's body limit answers in plain text.
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body larger than {MAX_BODY_BYTES} bytes"),
        );
    }
    if response.status() != StatusCode::METHOD_NOT_ALLOWED {
        return response;
    }
    let mut answer = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!(
            "method {method} is not allowed on this endpoint; the Allow header lists those it answers"
        ),
    );
    if let Some(allow) = response.headers().get(header::ALLOW) {
        answer.headers_mut().insert(header::ALLOW, allow.clone());
    }
    answer
}

/// Serves `port` on `listener` until `shutdown` is cancelled, then stops accepting and
/// lets in-flight calls finish. The port's connections are spread over `workers`
/// ([`super::workers`]), each serving its own; every call passes through `observe`;
/// connections are bounded as `limits` says ([`super::conn`]).
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    port: Port,
    observe: ObserveLayer,
    limits: ConnectionSettings,
    tls: Option<std::sync::Arc<crate::tls::server::ServerTls>>,
    workers: Vec<tokio::runtime::Handle>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let (acceptor, lanes) = Acceptor::new(service, listener, &limits, tls, workers.len());
    let mut servers = JoinSet::new();
    for (lane, worker) in lanes.into_iter().zip(&workers) {
        let server = Server::builder()
            // HTTP/1.1 too: the port also serves the HTTP/JSON API (curl speaks HTTP/1.1).
            .accept_http1(true)
            .http2_keepalive_interval(Some(limits.keepalive_interval.get()))
            .http2_keepalive_timeout(Some(limits.keepalive_timeout.get()))
            .max_concurrent_streams(limits.max_concurrent_streams)
            // A block over the limit but under HTTP/2's own bound reaches the endpoint
            // layer, which refuses that call alone with a status the caller reads
            // (RESOURCE_EXHAUSTED, 431). h2 answers a block over its bound with a bare
            // 431, and one over twice it with a GOAWAY that ends every call on the
            // connection; its bound is set well above ours so that only a block many
            // times the limit (8×: 128 KiB by default) goes that far, while the memory
            // one connection's half-received block may hold stays bounded.
            .http2_max_header_list_size(
                limits
                    .max_header_list_bytes
                    .saturating_mul(H2_HEADER_LIST_FACTOR),
            )
            .layer(observe.clone())
            .serve_with_incoming_shutdown(port.clone(), lane, shutdown.clone().cancelled_owned());
        servers.spawn_on(server, worker);
    }
    let mut result = Ok(());
    tokio::select! {
        // Stopping drops the lanes' senders: each server finishes its connections.
        () = shutdown.cancelled() => {}
        () = acceptor.run() => {}
        Some(joined) = servers.join_next() => result = failed(joined),
    }
    // A failed server stops the others: the port is down.
    if result.is_err() {
        shutdown.cancel();
    }
    while let Some(joined) = servers.join_next().await {
        if result.is_ok() {
            result = failed(joined);
        }
    }
    result
}

/// A worker's server as it ended: its error, if it failed (a panic is logged: its
/// connections are gone, the others serve on).
fn failed(
    joined: Result<Result<(), tonic::transport::Error>, tokio::task::JoinError>,
) -> Result<(), tonic::transport::Error> {
    match joined {
        Ok(result) => result,
        Err(e) => {
            tracing::error!(error = %e, "a connection worker's server ended abnormally");
            Ok(())
        }
    }
}
