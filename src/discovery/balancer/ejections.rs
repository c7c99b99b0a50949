//! Ejections as others see them: counted in metrics, logged, and reported to the registry,
//! which `movieapp registry list` shows.

use std::sync::Arc;

use crate::discovery::{Registry, outlier::Event};

pub const EJECTIONS_METRIC: &str = "movieapp_client_ejections_total";
pub const EJECTED_METRIC: &str = "movieapp_client_ejected_instances";

/// Describes the balancer's metrics to the recorder (and the retries').
pub fn describe_metrics() {
    crate::calls::retry::describe_metrics();
    metrics::describe_counter!(
        EJECTIONS_METRIC,
        "Instances ejected by outlier detection, per callee."
    );
    metrics::describe_gauge!(
        EJECTED_METRIC,
        "Instances out of rotation (ejected or being probed), per callee."
    );
}

/// Tells metrics, the log and the registry about an ejection or a return.
pub(super) struct Reporter {
    pub(super) service: String,
    pub(super) registry: Arc<dyn Registry>,
    /// Who reports, e.g. `movie (pid 4242)`.
    pub(super) reporter: String,
}

impl Reporter {
    /// Reports `event`; `ejected`: how many instances are out of rotation after it.
    pub(super) fn report(self, event: Event, ejected: usize) {
        metrics::gauge!(EJECTED_METRIC, "callee" => self.service.clone()).set(ejected as f64);
        let (addr, until) = match event {
            Event::Ejected {
                addr,
                for_,
                failures,
            } => {
                metrics::counter!(EJECTIONS_METRIC, "callee" => self.service.clone()).increment(1);
                tracing::warn!(
                    peer_service = %self.service,
                    instance = %addr,
                    failures,
                    "instance ejected for {for_:?} after repeated failures; probed before it takes calls again"
                );
                (addr, Some(std::time::SystemTime::now() + for_))
            }
            Event::Restored { addr } => {
                tracing::info!(peer_service = %self.service, instance = %addr, "ejected instance answered its probe; back in rotation");
                (addr, None)
            }
        };
        // Off the call's path; a registry that cannot be told is no reason to fail calls.
        tokio::spawn(async move {
            let told = self
                .registry
                .report_ejection(&self.service, &addr, &self.reporter, until)
                .await;
            if let Err(e) = told {
                tracing::debug!(error = %e, "cannot report an ejection to the registry");
            }
        });
    }
}
