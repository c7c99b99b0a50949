//! The lifecycle of one registered service instance: register, heartbeat, deregister.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Registry, RegistryError, instance_id};

/// A registered instance whose heartbeat runs until [`Registration::deregister`].
pub struct Registration {
    registry: Arc<dyn Registry>,
    pub instance_id: String,
    pub service: String,
    /// Whether the last heartbeat (or the registration) succeeded.
    pub healthy: Arc<AtomicBool>,
    stop: CancellationToken,
    heartbeat: JoinHandle<()>,
}

impl Registration {
    /// Registers an instance of `service` at `addr` and starts its heartbeat, which logs in
    /// the caller's span.
    pub async fn start(
        registry: Arc<dyn Registry>,
        service: &str,
        addr: &str,
        interval: Duration,
    ) -> Result<Self, RegistryError> {
        let instance_id = instance_id(service);
        registry.register(&instance_id, service, addr).await?;
        let healthy = Arc::new(AtomicBool::new(true));
        let stop = CancellationToken::new();
        let heartbeat = {
            let registry = Arc::clone(&registry);
            let healthy = Arc::clone(&healthy);
            let stopped = stop.clone();
            let (id, service, addr) = (instance_id.clone(), service.to_owned(), addr.to_owned());
            let heartbeat_loop = async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        () = stopped.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    let beat = registry.report_healthy_state(&id, &service).await;
                    healthy.store(beat.is_ok(), Ordering::Relaxed);
                    match beat {
                        Ok(()) => {}
                        // Dropped by the registry (e.g. it expired us while we were
                        // stalled): register again rather than stay invisible.
                        Err(RegistryError::NotRegistered { .. }) => {
                            match registry.register(&id, &service, &addr).await {
                                Ok(()) => healthy.store(true, Ordering::Relaxed),
                                Err(e) => {
                                    tracing::warn!(error = %e, instance = %id, "re-register failed; will retry")
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, instance = %id, "heartbeat failed; will retry");
                        }
                    }
                }
            };
            // In the caller's span: its logs say whose heartbeat it is.
            tokio::spawn(heartbeat_loop.instrument(tracing::Span::current()))
        };
        Ok(Self {
            registry,
            instance_id,
            healthy,
            service: service.to_owned(),
            stop,
            heartbeat,
        })
    }

    /// Stops the heartbeat and removes the instance from the registry.
    pub async fn deregister(self) -> Result<(), RegistryError> {
        self.stop.cancel();
        let _ = self.heartbeat.await;
        self.registry
            .deregister(&self.instance_id, &self.service)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::memory::MemoryRegistry;

    #[tokio::test]
    async fn registers_heartbeats_and_deregisters() {
        let registry = Arc::new(MemoryRegistry::new(Duration::from_millis(200)));
        let reg = Registration::start(
            registry.clone(),
            "metadata",
            "127.0.0.1:9",
            Duration::from_millis(20),
        )
        .await
        .unwrap();
        assert!(reg.instance_id.starts_with("metadata-"));
        // Well past the TTL, the heartbeat keeps it healthy.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            registry.service_addresses("metadata").await.unwrap(),
            ["127.0.0.1:9"]
        );
        reg.deregister().await.unwrap();
        assert!(
            registry
                .service_addresses("metadata")
                .await
                .unwrap()
                .is_empty()
        );
    }
}
