//! Hosting one service on its own port, with gRPC health and server reflection beside it.

use std::future::Future;

use tokio::net::TcpListener;
use tonic::{service::Routes, transport::Server};
use tonic_health::server::HealthReporter;
use tonic_reflection::pb::{v1, v1alpha};

use super::{conn::Incoming, endpoint::ObserveLayer};
use crate::service::{ConnectionSettings, ServiceKind};

/// The descriptor set of `proto/movie.proto`, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("movie_descriptor");

/// The gRPC services every port serves besides its own.
const COMMON_SERVICES: [&str; 3] = [
    tonic_health::pb::health_server::SERVICE_NAME,
    v1::server_reflection_server::SERVICE_NAME,
    v1alpha::server_reflection_server::SERVICE_NAME,
];

/// Every gRPC service a port serving `service` answers: its own, health and reflection.
pub fn served(service: ServiceKind) -> [&'static str; 4] {
    let [health, v1, v1alpha] = COMMON_SERVICES;
    [service.grpc_name(), health, v1, v1alpha]
}

/// The descriptor sets that describe [`served`] services.
pub const DESCRIPTOR_SETS: [&[u8]; 4] = [
    FILE_DESCRIPTOR_SET,
    tonic_health::pb::FILE_DESCRIPTOR_SET,
    v1::FILE_DESCRIPTOR_SET,
    v1alpha::FILE_DESCRIPTOR_SET,
];

/// Adds `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so old and new
/// grpcurl both list services) to `routes`. Reflection describes only what this port serves.
pub fn with_health_and_reflection(
    service: ServiceKind,
    routes: Routes,
) -> Result<(Routes, HealthReporter), tonic_reflection::server::Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let builder = || {
        served(service).into_iter().fold(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
            |builder, name| builder.with_service_name(name),
        )
    };
    let v1 = builder().build_v1()?;
    let v1alpha = builder().build_v1alpha()?;
    let routes = routes
        .add_service(health)
        .add_service(v1)
        .add_service(v1alpha);
    Ok((routes, reporter))
}

/// What a request's content type asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentKind {
    /// `application/grpc` or `application/grpc+proto`.
    Grpc,
    /// Another gRPC encoding (`+json`, `-web`, …), which this server does not speak.
    UnsupportedGrpc,
    /// Anything else: the HTTP/JSON API.
    Http,
}

/// Reads the content type, case-insensitively and ignoring parameters, as media types are
/// compared (RFC 9110 section 8.3.1).
pub fn content_kind(headers: &http::HeaderMap) -> ContentKind {
    let Some(value) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return ContentKind::Http;
    };
    let media = value.split(';').next().unwrap_or("").trim();
    // Compared in place: this runs on every request.
    let is = |name: &str| media.eq_ignore_ascii_case(name);
    let prefix = "application/grpc";
    if is(prefix) || is("application/grpc+proto") {
        ContentKind::Grpc
    } else if media
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    {
        ContentKind::UnsupportedGrpc
    } else {
        ContentKind::Http
    }
}

/// Serves `routes` on `listener` until `shutdown` completes, then stops accepting and lets
/// in-flight calls finish. Every call passes through `observe`;
/// connections are bounded as `limits` says ([`super::conn`]).
pub async fn serve(
    service: &'static str,
    listener: TcpListener,
    routes: Routes,
    observe: ObserveLayer,
    limits: ConnectionSettings,
    tls: Option<std::sync::Arc<crate::tls::server::ServerTls>>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let builder = Server::builder()
        // HTTP/1.1 too: the port also serves the HTTP/JSON API (curl speaks HTTP/1.1).
        .accept_http1(true)
        .http2_keepalive_interval(Some(limits.keepalive_interval.get()))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout.get()))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_max_header_list_size(limits.max_header_list_bytes);
    let incoming = Incoming::new(service, listener, limits, tls);
    builder
        .layer(observe)
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Marks a fallback answer stale: its age in the response metadata.
pub fn mark_stale<T>(response: &mut tonic::Response<T>, age: Option<String>) {
    if let Some(age) = age.and_then(|a| a.parse().ok()) {
        response
            .metadata_mut()
            .insert(crate::fallback::STALE_HEADER, age);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(content_type: &str) -> ContentKind {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, content_type.parse().unwrap());
        content_kind(&headers)
    }

    #[test]
    fn media_types_are_compared_case_insensitively() {
        assert_eq!(kind("application/grpc"), ContentKind::Grpc);
        assert_eq!(kind("Application/GRPC"), ContentKind::Grpc);
        assert_eq!(kind("application/grpc+proto"), ContentKind::Grpc);
        assert_eq!(kind("application/grpc+json"), ContentKind::UnsupportedGrpc);
        assert_eq!(kind("application/grpc-web"), ContentKind::UnsupportedGrpc);
        assert_eq!(kind("application/grpcx"), ContentKind::UnsupportedGrpc);
        assert_eq!(kind("application/json"), ContentKind::Http);
        assert_eq!(content_kind(&http::HeaderMap::new()), ContentKind::Http);
    }
}
