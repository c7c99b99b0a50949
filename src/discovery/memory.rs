//! An in-process registry: what `serve` uses when all services run in one process, and what
//! tests use.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant, SystemTime},
};

use super::{BoxFuture, Ejection, HEALTHY_TTL, InstanceInfo, Ownership, Registry, RegistryError};

#[derive(Debug)]
struct Instance {
    addr: String,
    last_seen: Instant,
    ownership: Option<Ownership>,
}

/// service -> instance id -> instance.
type Services = HashMap<String, HashMap<String, Instance>>;

#[derive(Debug)]
pub struct MemoryRegistry {
    ttl: Duration,
    services: Mutex<Services>,
    /// (service, address, reporter) -> ejected until.
    ejections: Mutex<HashMap<(String, String, String), SystemTime>>,
    /// Registered with this process's instances.
    ownership: Option<Ownership>,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new(HEALTHY_TTL)
    }
}

impl MemoryRegistry {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            services: Mutex::new(HashMap::new()),
            ejections: Mutex::new(HashMap::new()),
            ownership: None,
        }
    }

    /// Registers `ownership` with every instance.
    pub fn with_ownership(mut self, ownership: Option<Ownership>) -> Self {
        self.ownership = ownership;
        self
    }

    fn with<T>(&self, f: impl FnOnce(&mut Services) -> T) -> T {
        f(&mut self.services.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn not_registered(&self, instance_id: &str, service: &str) -> RegistryError {
        RegistryError::NotRegistered {
            instance_id: instance_id.to_owned(),
            service: service.to_owned(),
            registry: self.describe(),
        }
    }
}

impl Registry for MemoryRegistry {
    fn register<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
        addr: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        self.with(|s| {
            s.entry(service.to_owned()).or_default().insert(
                instance_id.to_owned(),
                Instance {
                    addr: addr.to_owned(),
                    last_seen: Instant::now(),
                    ownership: self.ownership.clone(),
                },
            );
        });
        Box::pin(async { Ok(()) })
    }

    fn deregister<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        self.with(|s| {
            if let Some(instances) = s.get_mut(service) {
                instances.remove(instance_id);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn service_addresses<'a>(
        &'a self,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RegistryError>> {
        let now = Instant::now();
        let addrs = self.with(|s| {
            s.get(service)
                .map(|instances| {
                    instances
                        .values()
                        .filter(|i| now.duration_since(i.last_seen) <= self.ttl)
                        .map(|i| i.addr.clone())
                        .collect()
                })
                .unwrap_or_default()
        });
        Box::pin(async { Ok(addrs) })
    }

    fn report_healthy_state<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let found = self.with(|s| {
            s.get_mut(service)
                .and_then(|instances| instances.get_mut(instance_id))
                .map(|i| i.last_seen = Instant::now())
                .is_some()
        });
        let result = if found {
            Ok(())
        } else {
            Err(self.not_registered(instance_id, service))
        };
        Box::pin(async { result })
    }

    fn report_ejection<'a>(
        &'a self,
        service: &'a str,
        addr: &'a str,
        reporter: &'a str,
        until: Option<SystemTime>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let key = (service.to_owned(), addr.to_owned(), reporter.to_owned());
        let mut ejections = self
            .ejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let now = SystemTime::now();
        ejections.retain(|_, until| *until > now);
        match until {
            Some(until) => ejections.insert(key, until),
            None => ejections.remove(&key),
        };
        Box::pin(async { Ok(()) })
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, RegistryError>> {
        let ejected = self
            .ejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let ejections = |service: &str, addr: &str| -> Vec<Ejection> {
            let mut found: Vec<Ejection> = ejected
                .iter()
                .filter(|((s, a, _), _)| s == service && a == addr)
                .filter_map(|((_, _, by), until)| {
                    let left = until.duration_since(SystemTime::now()).ok()?;
                    Some(Ejection {
                        by: by.clone(),
                        remaining_secs: left.as_secs_f64(),
                    })
                })
                .collect();
            found.sort_by(|a, b| a.by.cmp(&b.by));
            found
        };
        let now = Instant::now();
        let mut all: Vec<InstanceInfo> = self.with(|s| {
            s.iter()
                .flat_map(|(service, instances)| {
                    instances.iter().map(move |(id, i)| {
                        let age = now.duration_since(i.last_seen);
                        InstanceInfo {
                            service: service.clone(),
                            instance_id: id.clone(),
                            address: i.addr.clone(),
                            healthy: age <= self.ttl,
                            last_heartbeat_secs: Some(age.as_secs_f64()),
                            ejections: ejections(service, &i.addr),
                            ownership: i.ownership.clone(),
                        }
                    })
                })
                .collect()
        });
        all.sort_by(|a, b| (&a.service, &a.instance_id).cmp(&(&b.service, &b.instance_id)));
        Box::pin(async { Ok(all) })
    }

    fn describe(&self) -> String {
        "memory (in-process)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn silent_instances_drop_out_after_the_ttl() {
        let r = MemoryRegistry::new(Duration::from_secs(5));
        r.register("metadata-a", "metadata", "127.0.0.1:1")
            .await
            .unwrap();
        r.register("metadata-b", "metadata", "127.0.0.1:2")
            .await
            .unwrap();
        let mut addrs = r.service_addresses("metadata").await.unwrap();
        addrs.sort();
        assert_eq!(addrs, ["127.0.0.1:1", "127.0.0.1:2"]);

        // Age an entry by hand rather than sleep past the TTL.
        r.with(|s| {
            let a = s
                .get_mut("metadata")
                .unwrap()
                .get_mut("metadata-a")
                .unwrap();
            a.last_seen -= Duration::from_secs(6);
        });
        assert_eq!(
            r.service_addresses("metadata").await.unwrap(),
            ["127.0.0.1:2"]
        );
        r.report_healthy_state("metadata-a", "metadata")
            .await
            .unwrap();
        assert_eq!(r.service_addresses("metadata").await.unwrap().len(), 2);

        let listed = r.instances().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|i| i.healthy));

        r.deregister("metadata-b", "metadata").await.unwrap();
        assert_eq!(
            r.service_addresses("metadata").await.unwrap(),
            ["127.0.0.1:1"]
        );
        assert!(r.service_addresses("rating").await.unwrap().is_empty());
        assert!(
            r.report_healthy_state("metadata-b", "metadata")
                .await
                .is_err()
        );
    }
}
