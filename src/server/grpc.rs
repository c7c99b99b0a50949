//! Hosting one service on its own port, with gRPC health and server reflection beside it.

use std::future::Future;

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
    let log_request = move |request: http::Request<tonic::body::Body>| {
        tracing::debug!(target: REQUEST_LOG, service, path = request.uri().path(), "request");
        request
    };
    // Builder-level TCP settings do not apply to a custom incoming; set them here. Without
    // NODELAY, small response frames wait for delayed ACKs (~40 ms p99 between services).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        // HTTP/1.1 too: the port also serves the HTTP/JSON API (curl speaks HTTP/1.1).
        .accept_http1(true)
        .layer(tower::util::MapRequestLayer::new(log_request))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
