//! The rating service: one rating per user per record, aggregated as the mean over users.

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
    parts::{Parts, Shared},
};
use crate::{
    events, feed, pb::rating_service_server::RatingServiceServer, service::ServiceKind, telemetry,
};

/// How the rating service publishes its changes and hears others'.
const WIRING: crate::server::outbox::Wiring = crate::server::outbox::Wiring {
    service: ServiceKind::Rating,
    table: repository::OUTBOX,
    topic: events::RATING_CHANGES,
    lock_key: crate::lock::RELAY_KEY,
    enabled: crate::config::features::Toggles::rating_change_events,
};

/// The rating service's controller over its store, which the movie service of the same
/// process calls directly.
pub type Local = Arc<controller::Controller<repository::Store>>;

/// The rating service over `store`: its parts (with the feed ingester, when the process has
/// a broker, running until `stop`), and its controller for in-process calls.
pub fn build(
    store: repository::Store,
    locks: Option<crate::lock::Locks>,
    readiness: Readiness,
    shared: &Shared<'_>,
    stop: &CancellationToken,
) -> (Parts, Local) {
    let mut readiness = readiness.database(store.clone());
    let mut controller = controller::Controller::new(store.clone(), shared.fallback);
    // Changes are published where there is a broker to publish them to.
    let relay = match WIRING.publishing(&store, locks, shared, stop) {
        Some((events, relay)) => {
            controller = controller.with_events(events);
            Some(relay)
        }
        None => None,
    };
    let controller = Arc::new(controller);
    let ingester = shared.broker.map(|broker| {
        let feed = feed::Ingester::new(
            Arc::clone(&controller),
            Arc::clone(broker),
            feed::RATINGS_TOPIC,
            feed::RATING_GROUP,
        );
        let stats = Arc::clone(&feed.stats);
        readiness = std::mem::take(&mut readiness).probe(move || stats.problem());
        feed
    });
    let api = http::api(Arc::clone(&controller));
    let handler = super::grpc::Handler::new(Arc::clone(&controller));
    let grpc = GrpcServices::default().with(RatingServiceServer::new(handler));
    let mut parts = Parts::new(grpc, api, readiness);
    if let Some(feed) = ingester {
        let context = telemetry::context(ServiceKind::Rating.name(), "ingester");
        parts.spawn(context, feed.run(stop.clone()));
    }
    if let Some(relay) = relay {
        parts.spawn(
            telemetry::context(ServiceKind::Rating.name(), "relay"),
            relay,
        );
    }
    // Writes through other processes on the same database: their events drop what is
    // cached here at once.
    let local = Arc::clone(&controller);
    let listener = WIRING.listening(shared, stop, move |event: events::RatingChanged| {
        if let Ok(key) = crate::model::RecordKey::new(event.record_id, event.record_type) {
            local.changed_elsewhere(&key);
        }
    });
    if let Some(listener) = listener {
        parts.spawn(
            telemetry::context(ServiceKind::Rating.name(), "caches"),
            listener,
        );
    }
    (parts, controller)
}
