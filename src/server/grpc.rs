//! Hosting one service on its own port, with gRPC health and server reflection beside it.

use std::{convert::Infallible, sync::Arc};

use prost::Message;

use http::{Request, Response};
use tonic::{body::Body, codegen::BoxFuture, server::NamedService};
use tonic_health::server::HealthReporter;
use tonic_reflection::pb::{v1, v1alpha};

use crate::service::ServiceKind;

pub use crate::pb::FILE_DESCRIPTOR_SET;

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

/// `(full service name, method)` of every method in the descriptor sets.
pub fn methods(descriptor_sets: &[&[u8]]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for bytes in descriptor_sets {
        // These are compiled in (ours by build.rs, the others by their crates): a set that
        // does not decode is a build defect, and contributes no endpoint names.
        let Ok(set) = prost_types::FileDescriptorSet::decode(*bytes) else {
            continue;
        };
        for file in set.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let name = service.name.unwrap_or_default();
                let full = if package.is_empty() {
                    name
                } else {
                    format!("{package}.{name}")
                };
                for method in service.method {
                    found.push((full.clone(), method.name.unwrap_or_default()));
                }
            }
        }
    }
    found
}

/// A service's gRPC handler: its controller, behind the generated trait the service
/// implements for it (`server/<service>/handler.rs`), which translates the wire to the
/// domain and back.
pub struct Handler<C> {
    controller: Arc<C>,
}

impl<C> Handler<C> {
    pub fn new(controller: Arc<C>) -> Self {
        Self { controller }
    }

    pub fn controller(&self) -> &C {
        &self.controller
    }
}

/// One of tonic's generated servers, called by reference: cloning one costs a reference
/// count, and its future is boxed already.
pub trait Callable: Send + Sync {
    fn call(&self, request: Request<Body>) -> BoxFuture<Response<Body>, Infallible>;
}

impl<S> Callable for S
where
    S: tower::Service<
            Request<Body>,
            Response = Response<Body>,
            Error = Infallible,
            Future = BoxFuture<Response<Body>, Infallible>,
        > + Clone
        + Send
        + Sync,
{
    fn call(&self, request: Request<Body>) -> BoxFuture<Response<Body>, Infallible> {
        // Generated servers are always ready.
        tower::Service::call(&mut self.clone(), request)
    }
}

/// The gRPC services of a port, found by the first segment of a call's path
/// (`/package.Service/Method`) without a router's pattern matching.
#[derive(Clone, Default)]
pub struct GrpcServices {
    services: Vec<(&'static str, Arc<dyn Callable>)>,
}

impl GrpcServices {
    /// The services so far and `service`.
    pub fn with<S: Callable + NamedService + 'static>(mut self, service: S) -> Self {
        self.services.push((S::NAME, Arc::new(service)));
        self
    }

    /// The service a call's path (`/package.Service/Method`) names, if this is one of them.
    pub fn find(&self, path: &str) -> Option<&dyn Callable> {
        let name = path.strip_prefix('/')?.split_once('/')?.0;
        self.services
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, service)| service.as_ref())
    }
}

impl std::fmt::Debug for GrpcServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.services.iter().map(|(name, _)| name))
            .finish()
    }
}

/// Adds `grpc.health.v1.Health` and server reflection (v1 and v1alpha, so old and new
/// grpcurl both list services) to `services`. Reflection describes only what this port
/// serves.
pub fn with_health_and_reflection(
    service: ServiceKind,
    services: GrpcServices,
) -> Result<(GrpcServices, HealthReporter), tonic_reflection::server::Error> {
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
    let services = services.with(health).with(v1).with(v1alpha);
    Ok((services, reporter))
}

/// tonic answers a message over the size limit with OUT_OF_RANGE; the gRPC spec says
/// RESOURCE_EXHAUSTED. None of our handlers answers OUT_OF_RANGE, so every one is that.
pub fn too_large_is_resource_exhausted(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == b"11")
    {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
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

/// Marks a fallback answer stale: its age in the response metadata.
pub fn mark_stale<T>(response: &mut tonic::Response<T>, age: Option<String>) {
    if let Some(age) = age.and_then(|a| a.parse().ok()) {
        response
            .metadata_mut()
            .insert(crate::calls::fallback::STALE_HEADER, age);
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
