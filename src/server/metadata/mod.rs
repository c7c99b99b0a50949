//! The metadata service: stores and returns movies' metadata.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;
pub mod repository;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{
    grpc::GrpcServices,
    health::Readiness,
    outbox::Wiring,
    parts::{Parts, Shared},
};
use crate::{
    config::features::Toggles,
    events::{self, MetadataChanged},
    pb::metadata_service_server::MetadataServiceServer,
    service::ServiceKind,
    telemetry,
};

/// The metadata service's controller over its store, which the movie service of the same
/// process calls directly.
pub type Local = Arc<controller::Controller<repository::Store>>;

/// How the metadata service publishes its changes and hears others'.
pub const WIRING: Wiring = Wiring {
    service: ServiceKind::Metadata,
    table: repository::OUTBOX,
    topic: events::METADATA_CHANGES,
    lock_key: crate::lock::METADATA_RELAY_KEY,
    enabled: Toggles::metadata_change_events,
};

/// The metadata service over `store`: its parts (with its change events' relay and the
/// follower that keeps its cache fresh, where the process has a broker), and its controller
/// for in-process calls.
pub fn build(
    store: repository::Store,
    locks: Option<crate::lock::Locks>,
    readiness: Readiness,
    shared: &Shared<'_>,
    stop: &CancellationToken,
) -> (Parts, Local) {
    let readiness = readiness.database(store.clone());
    let mut controller = controller::Controller::new(store.clone());
    let relay = match WIRING.publishing(&store, locks, shared, stop) {
        Some((events, relay)) => {
            controller = controller.with_events(events);
            Some(relay)
        }
        None => None,
    };
    let controller = Arc::new(controller);
    let api = http::api(Arc::clone(&controller));
    let handler = super::grpc::Handler::new(Arc::clone(&controller));
    let grpc = GrpcServices::default().with(MetadataServiceServer::new(handler));
    let mut parts = Parts::new(grpc, api, readiness);
    let name = ServiceKind::Metadata.name();
    if let Some(relay) = relay {
        parts.spawn(telemetry::context(name, "relay"), relay);
    }
    let local = Arc::clone(&controller);
    let listener = WIRING.listening(shared, stop, move |event: MetadataChanged| {
        if let Ok(id) = crate::model::MovieId::new(event.movie_id) {
            local.changed_elsewhere(&id);
        }
    });
    if let Some(listener) = listener {
        parts.spawn(telemetry::context(name, "caches"), listener);
    }
    (parts, controller)
}
