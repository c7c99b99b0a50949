//! A fixed registry: addresses from configuration, always considered healthy. Registering,
//! heartbeats and deregistering are accepted and change nothing.

use super::{BoxFuture, InstanceInfo, Registry, RegistryError};

#[derive(Debug)]
pub struct StaticRegistry {
    services: Vec<(String, Vec<String>)>,
}

impl StaticRegistry {
    /// `services`: each service's addresses (`host:port`).
    pub fn new(services: Vec<(String, Vec<String>)>) -> Self {
        Self { services }
    }

    fn addresses(&self, service: &str) -> Vec<String> {
        self.services
            .iter()
            .find(|(name, _)| name == service)
            .map(|(_, addrs)| addrs.clone())
            .unwrap_or_default()
    }
}

impl Registry for StaticRegistry {
    fn register<'a>(
        &'a self,
        _instance_id: &'a str,
        _service: &'a str,
        _addr: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }

    fn deregister<'a>(
        &'a self,
        _instance_id: &'a str,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }

    fn service_addresses<'a>(
        &'a self,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RegistryError>> {
        let addrs = self.addresses(service);
        Box::pin(async { Ok(addrs) })
    }

    fn report_healthy_state<'a>(
        &'a self,
        _instance_id: &'a str,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async { Ok(()) })
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, RegistryError>> {
        let mut all: Vec<InstanceInfo> = self
            .services
            .iter()
            .flat_map(|(service, addrs)| {
                addrs.iter().enumerate().map(move |(i, addr)| InstanceInfo {
                    service: service.clone(),
                    instance_id: format!("{service}-static-{i}"),
                    address: addr.clone(),
                    healthy: true,
                    last_heartbeat_secs: None,
                    ejections: Vec::new(),
                    ownership: None,
                })
            })
            .collect();
        all.sort_by(|a, b| (&a.service, &a.instance_id).cmp(&(&b.service, &b.instance_id)));
        Box::pin(async { Ok(all) })
    }

    fn describe(&self) -> String {
        "static (addresses from configuration)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_what_it_was_given() {
        let r = StaticRegistry::new(vec![(
            "metadata".into(),
            vec!["10.0.0.1:8081".into(), "10.0.0.2:8081".into()],
        )]);
        r.register("x", "metadata", "127.0.0.1:1").await.unwrap();
        assert_eq!(
            r.service_addresses("metadata").await.unwrap(),
            ["10.0.0.1:8081", "10.0.0.2:8081"]
        );
        assert!(r.service_addresses("rating").await.unwrap().is_empty());
        assert_eq!(r.instances().await.unwrap().len(), 2);
    }
}
