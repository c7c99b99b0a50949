//! Client-side balancing: each call picks one healthy instance of a service, round-robin, and
//! reuses one HTTP/2 connection per instance (the book dials a new connection per call).

use std::{
    collections::HashMap,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tonic::transport::{Channel, Endpoint};

use super::{Registry, RegistryError};

/// How long establishing a connection to an instance may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("no healthy instance of {service:?} in registry {registry}")]
    NoHealthyInstance { service: String, registry: String },
    #[error("instance of {service:?} has an invalid address {addr:?}: {source}")]
    BadAddress {
        service: String,
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Picks instances of one service and keeps a connection to each.
pub struct Balancer {
    service: String,
    registry: Arc<dyn Registry>,
    channels: RwLock<HashMap<String, Channel>>,
    next: AtomicUsize,
}

impl Balancer {
    pub fn new(service: &str, registry: Arc<dyn Registry>) -> Self {
        Self {
            service: service.to_owned(),
            registry,
            channels: RwLock::new(HashMap::new()),
            next: AtomicUsize::new(0),
        }
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// A connection to the next healthy instance.
    pub async fn pick(&self) -> Result<Channel, DiscoveryError> {
        let addrs = self.registry.service_addresses(&self.service).await?;
        if addrs.is_empty() {
            return Err(DiscoveryError::NoHealthyInstance {
                service: self.service.clone(),
                registry: self.registry.describe(),
            });
        }
        let addr = &addrs[self.next.fetch_add(1, Ordering::Relaxed) % addrs.len()];
        {
            let channels = self.read_channels();
            // Same count and a hit: nothing to add or prune on this call.
            if channels.len() == addrs.len()
                && let Some(channel) = channels.get(addr)
            {
                return Ok(channel.clone());
            }
        }
        self.connect(addr, &addrs)
    }

    fn connect(&self, addr: &str, live: &[String]) -> Result<Channel, DiscoveryError> {
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|source| DiscoveryError::BadAddress {
                service: self.service.clone(),
                addr: addr.to_owned(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        let mut channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Drop connections to instances that have left.
        channels.retain(|known, _| live.iter().any(|a| a == known));
        Ok(channels
            .entry(addr.to_owned())
            .or_insert_with(|| endpoint.connect_lazy())
            .clone())
    }

    fn read_channels(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Channel>> {
        self.channels.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many connections are open, for tests.
    pub fn connections(&self) -> usize {
        self.read_channels().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::memory::MemoryRegistry;

    #[tokio::test]
    async fn no_instance_is_a_clear_error_and_connections_are_reused() {
        let registry = Arc::new(MemoryRegistry::default());
        let b = Balancer::new("metadata", registry.clone());
        let err = b.pick().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"no healthy instance of "metadata" in registry memory (in-process)"#
        );
        registry
            .register("m-1", "metadata", "127.0.0.1:1")
            .await
            .unwrap();
        registry
            .register("m-2", "metadata", "127.0.0.1:2")
            .await
            .unwrap();
        for _ in 0..10 {
            b.pick().await.unwrap();
        }
        assert_eq!(b.connections(), 2, "one connection per instance");
        registry.deregister("m-1", "metadata").await.unwrap();
        b.pick().await.unwrap();
        assert_eq!(
            b.connections(),
            1,
            "a departed instance's connection is dropped"
        );
    }
}
