//! Hosting one service on its own port, with gRPC health and server reflection beside it.

use std::{borrow::Cow, future::Future};

use tokio::net::TcpListener;
use tonic::{
    service::Routes,
    transport::{Server, server::TcpIncoming},
};
use tonic_health::server::HealthReporter;

/// The descriptor set of `proto/movie.proto`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("movie_descriptor");

/// Adds `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so old and new
/// grpcurl both list services) to `routes`.
pub fn with_health_and_reflection(
    routes: Routes,
) -> Result<(Routes, HealthReporter), tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let routes = routes
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha);
    Ok((routes, reporter))
}

/// Where each request is logged, at debug level: `--log-level movieapp::requests=debug`.
pub const REQUEST_LOG: &str = "movieapp::requests";

/// Serves `routes` for `service` on `listener` until `shutdown` completes, then stops
/// accepting and lets in-flight calls finish.
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    // Builder-level TCP settings do not apply to a custom incoming; set them here. Without
    // NODELAY, small response frames wait for delayed ACKs (~40 ms p99 between services).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        // HTTP/1.1 too: the port also serves the HTTP/JSON API (curl speaks HTTP/1.1).
        .accept_http1(true)
        .trace_fn(move |request| request_span(service, request))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// The span a request is served in: it gives its log lines `service`, `endpoint` and
/// `component` (grpc or http) and, when traces are exported, is the server span,
/// continuing the caller's trace. At error level, so it exists whatever the log level.
fn request_span(service: &'static str, request: &http::Request<()>) -> tracing::Span {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let path = request.uri().path();
    let (endpoint, component) = if grpc {
        (Cow::Borrowed(grpc_method(path)), "grpc")
    } else {
        (Cow::Owned(http_endpoint(request.method(), path)), "http")
    };
    // Two call sites: the trace fields exist only when traces are exported, so the
    // common case formats three fields.
    let span = if crate::telemetry::exporting() {
        let span = tracing::error_span!(
            parent: None,
            "request",
            service,
            endpoint = endpoint.as_ref(),
            component,
            // `MovieService/GetMovieDetails`, `GET /movie`; never a caller's own path.
            otel.name = match endpoint.as_ref() {
                "unknown" => "unknown",
                _ if grpc => path.trim_start_matches('/'),
                other => other,
            },
            otel.kind = "server",
            rpc.system = grpc.then_some("grpc"),
        );
        crate::telemetry::propagation::continue_trace(&span, request.headers());
        span
    } else {
        tracing::error_span!(
            parent: None,
            "request",
            service,
            endpoint = endpoint.as_ref(),
            component,
        )
    };
    tracing::debug!(target: REQUEST_LOG, parent: &span, path, "request");
    span
}

/// The method of a gRPC path this server knows (`/MovieService/GetMovieDetails` ->
/// `GetMovieDetails`); anything else is `unknown`, so a label never takes a caller's text.
fn grpc_method(path: &str) -> &str {
    use tonic_reflection::pb::{v1, v1alpha};
    const SERVICES: &[&str] = &[
        crate::pb::metadata_service_server::SERVICE_NAME,
        crate::pb::rating_service_server::SERVICE_NAME,
        crate::pb::movie_service_server::SERVICE_NAME,
        tonic_health::pb::health_server::SERVICE_NAME,
        v1::server_reflection_server::SERVICE_NAME,
        v1alpha::server_reflection_server::SERVICE_NAME,
    ];
    match path.trim_start_matches('/').split_once('/') {
        Some((service, method))
            if SERVICES.contains(&service)
                && !method.is_empty()
                && method.len() <= 64
                && method.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            method
        }
        _ => "unknown",
    }
}

/// `GET /movie` for the routes every port serves; anything else is `METHOD other`.
fn http_endpoint(method: &http::Method, path: &str) -> String {
    const ROUTES: &[&str] = &[
        "/metadata",
        "/rating",
        "/movie",
        "/healthz",
        "/readyz",
        "/metrics",
    ];
    let path = if ROUTES.contains(&path) {
        path
    } else {
        "other"
    };
    format!("{method} {path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_from_a_closed_set() {
        assert_eq!(
            grpc_method("/MovieService/GetMovieDetails"),
            "GetMovieDetails"
        );
        assert_eq!(grpc_method("/grpc.health.v1.Health/Check"), "Check");
        assert_eq!(grpc_method("/Evil/Method"), "unknown");
        assert_eq!(grpc_method("/MovieService/"), "unknown");
        assert_eq!(grpc_method("/MovieService/a b"), "unknown");
        assert_eq!(http_endpoint(&http::Method::GET, "/movie"), "GET /movie");
        assert_eq!(
            http_endpoint(&http::Method::PUT, "/users/alex"),
            "PUT other"
        );
    }
}
