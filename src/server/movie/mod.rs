//! The movie service: a movie's metadata together with its aggregated rating, fetched from
//! the metadata and rating services through discovery.

pub mod controller;
pub mod endpoints;
pub mod gateway;
pub mod handler;
pub mod http;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{
    grpc::GrpcServices,
    health::Readiness,
    parts::{Parts, Shared},
};
use crate::{
    discovery::balancer::{Balancer, Colocated},
    lock::Locks,
    pb::movie_service_server::MovieServiceServer,
    service::ServiceKind,
    telemetry,
    uploads::FileStore,
};

/// The metadata and rating services of this process, for the fast path: each with the
/// route its balancer prefers while it serves.
#[derive(Default)]
pub struct InProcessServices {
    pub metadata: Option<(gateway::LocalMetadata, Colocated)>,
    pub rating: Option<(gateway::LocalRating, Colocated)>,
}

/// The movie service: its parts, calling metadata and rating through discovery (in process
/// while `colocated` ones serve), with the file processor running until `stop`.
pub fn build(
    files: FileStore,
    locks: Locks,
    readiness: Readiness,
    shared: &Shared<'_>,
    colocated: &InProcessServices,
    stop: &CancellationToken,
) -> Parts {
    let balancer = |service: ServiceKind, route: Option<&Colocated>| {
        Balancer::with_settings(
            service.name(),
            Arc::clone(shared.registry),
            shared.calls.clone(),
        )
        .reporting_as(ServiceKind::Movie.name())
        .with_tls(shared.tls.cloned())
        .with_colocated(route.cloned())
    };
    let (metadata, rating) = (colocated.metadata.as_ref(), colocated.rating.as_ref());
    let controller = Arc::new(controller::Controller::new(
        gateway::MetadataClient::new(
            balancer(ServiceKind::Metadata, metadata.map(|(_, route)| route)),
            metadata.map(|(local, _)| local.clone()),
        ),
        gateway::RatingClient::new(
            balancer(ServiceKind::Rating, rating.map(|(_, route)| route)),
            rating.map(|(local, _)| local.clone()),
        ),
        shared.fallback,
    ));
    let processor = crate::uploads::processor::run(
        locks,
        files.clone(),
        crate::lock::default_holder(ServiceKind::Movie.name()),
        stop.clone(),
    );
    // A movie whose metadata changed has no last value to fall back on any more; heard
    // where the process has a broker (it runs metadata or rating too).
    let local = Arc::clone(&controller);
    let listener = super::metadata::WIRING.listening(
        shared,
        stop,
        move |event: crate::events::MetadataChanged| {
            if let Ok(id) = crate::model::MovieId::new(event.movie_id) {
                local.metadata_changed(&id);
            }
        },
    );
    let api = http::api(Arc::clone(&controller), files.clone());
    let handler = handler::Handler::new(controller, files);
    let grpc = GrpcServices::default().with(MovieServiceServer::new(handler));
    let mut parts = Parts::new(grpc, api, readiness);
    parts.spawn(
        telemetry::context(ServiceKind::Movie.name(), "processor"),
        processor,
    );
    if let Some(listener) = listener {
        parts.spawn(
            telemetry::context(ServiceKind::Movie.name(), "fallbacks"),
            listener,
        );
    }
    parts
}
