//! What each service of `serve` is made of ([`Parts`]), built by the service itself
//! (`server/<service>/mod.rs`), and what the services of one process share to build them
//! ([`Shared`]). `serve` adds what every port has: health, reflection, probes, metrics and
//! the endpoint layer.

use std::sync::Arc;

use tokio::task::JoinHandle;

use super::{grpc::GrpcServices, health::Readiness, http::Api};
use crate::{
    broker::Broker,
    calls::{CallSettings, fallback::FallbackSettings},
    config::features::Toggles,
    discovery::Registry,
    tls::ClientTls,
};

/// What the services of one process share.
#[derive(Clone, Copy)]
pub struct Shared<'a> {
    /// TLS for calls to other services.
    pub tls: Option<&'a ClientTls>,
    pub registry: &'a Arc<dyn Registry>,
    /// The rating feed, when the rating service runs here.
    pub broker: Option<&'a Arc<dyn Broker>>,
    /// How calls to other services are made.
    pub calls: &'a CallSettings,
    /// Stale answers when a dependency fails.
    pub fallback: &'a FallbackSettings,
    /// The feature toggles' live values.
    pub toggles: &'a Arc<Toggles>,
    /// Change events: the outbox and its relay.
    pub events: &'a crate::events::Settings,
    /// The spans this process keeps, for `/debug/traces`.
    pub traces: Option<&'a Arc<crate::dashboard::store::Store>>,
}

/// A service, built: its gRPC service, its HTTP API, what it needs to be ready, and its
/// background work, which runs until its stop token is cancelled.
pub struct Parts {
    pub grpc: GrpcServices,
    pub api: Api,
    pub readiness: Readiness,
    pub tasks: Vec<JoinHandle<()>>,
}

impl Parts {
    pub fn new(grpc: GrpcServices, api: Api, readiness: Readiness) -> Self {
        Self {
            grpc,
            api,
            readiness,
            tasks: Vec::new(),
        }
    }

    /// Runs `task` in the background, within `context`'s span, until the service stops.
    pub fn spawn(
        &mut self,
        context: tracing::Span,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        use tracing::Instrument;
        self.tasks.push(tokio::spawn(task.instrument(context)));
    }
}
