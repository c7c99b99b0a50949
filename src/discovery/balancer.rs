//! Client-side balancing: each call picks one healthy instance of a service, round-robin, over
//! one kept-open HTTP/2 connection per instance (the book dials a new connection per call).
//! A call that finds its instance unavailable (refused connection, UNAVAILABLE) is tried once
//! on another instance, and the failed instance is skipped for a while.
//!
//! The address list is cached for [`Balancer::REFRESH`], so a busy service does not ask the
//! registry on every call; dead instances in the cached list are covered by the retry.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::transport::{Channel, Endpoint};

use super::{Registry, RegistryError};

/// How long establishing a connection to an instance may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

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

/// True when a call failed because its instance did (refused connection, UNAVAILABLE, or a
/// connection reset or broken pipe mid-call, which tonic reports as UNKNOWN with a transport
/// error behind it), not because of the request. Such a call is worth one try elsewhere: the
/// services' writes are idempotent upserts, so a call that did reach the dead instance may be
/// repeated safely.
pub fn instance_failed(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable => true,
        tonic::Code::Unknown => std::error::Error::source(status)
            .is_some_and(|source| source.is::<tonic::transport::Error>()),
        _ => false,
    }
}

/// A failed balanced call.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The instance at `addr` answered (or failed to connect) with `status`.
    #[error("{addr}: {status}")]
    Status { addr: String, status: tonic::Status },
}

#[derive(Default)]
struct State {
    addrs: Arc<[String]>,
    fetched: Option<Instant>,
    channels: HashMap<String, Channel>,
    /// Instances that just failed, skipped until the time given.
    suspects: HashMap<String, Instant>,
}

/// Picks instances of one service and keeps a connection to each.
pub struct Balancer {
    service: String,
    registry: Arc<dyn Registry>,
    state: Mutex<State>,
    next: AtomicUsize,
}

impl Balancer {
    /// How long a fetched address list is used before asking the registry again.
    pub const REFRESH: Duration = Duration::from_secs(1);
    /// How long an instance that failed is skipped (while others are available).
    pub const SUSPECT_FOR: Duration = Duration::from_secs(5);

    pub fn new(service: &str, registry: Arc<dyn Registry>) -> Self {
        Self {
            service: service.to_owned(),
            registry,
            state: Mutex::new(State::default()),
            // A random start spreads one-shot clients (each CLI call is a new process).
            next: AtomicUsize::new(rand::random::<u32>() as usize),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `call` with a connection to an instance (and its address); if that instance is
    /// unavailable, once more on another.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(Channel, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let (addr, channel) = self.pick(None).await?;
        let status = match call(channel, &addr).await {
            Ok(value) => return Ok(value),
            Err(status) if instance_failed(&status) => status,
            Err(status) => return Err(CallError::Status { addr, status }),
        };
        self.suspect(&addr);
        tracing::debug!(peer_service = %self.service, instance = %addr, error = %status, "instance unavailable; retrying on another");
        match self.pick(Some(&addr)).await {
            Ok((other, channel)) => {
                call(channel, &other)
                    .await
                    .map_err(|status| CallError::Status {
                        addr: other,
                        status,
                    })
            }
            // No other instance: the first failure is the one to report.
            Err(_) => Err(CallError::Status { addr, status }),
        }
    }

    /// A connection to the next healthy instance other than `avoid`.
    pub async fn pick(&self, avoid: Option<&str>) -> Result<(String, Channel), DiscoveryError> {
        let addrs = self.addresses(avoid.is_some()).await?;
        let now = Instant::now();
        let mut state = self.state();
        state.suspects.retain(|_, until| *until > now);
        let usable: Vec<&String> = addrs
            .iter()
            .filter(|a| Some(a.as_str()) != avoid && !state.suspects.contains_key(*a))
            .collect();
        // All suspect: better to try one than to fail without trying.
        let candidates: Vec<&String> = if usable.is_empty() {
            addrs.iter().filter(|a| Some(a.as_str()) != avoid).collect()
        } else {
            usable
        };
        if candidates.is_empty() {
            return Err(DiscoveryError::NoHealthyInstance {
                service: self.service.clone(),
                registry: self.registry.describe(),
            });
        }
        let addr = candidates[self.next.fetch_add(1, Ordering::Relaxed) % candidates.len()].clone();
        if let Some(channel) = state.channels.get(&addr) {
            return Ok((addr, channel.clone()));
        }
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|source| DiscoveryError::BadAddress {
                service: self.service.clone(),
                addr: addr.clone(),
                source,
            })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        state.channels.insert(addr.clone(), channel.clone());
        Ok((addr, channel))
    }

    /// The cached address list, fetched again when older than [`Self::REFRESH`], when empty,
    /// or when `fresh` is asked for (a retry after a failure).
    async fn addresses(&self, fresh: bool) -> Result<Arc<[String]>, DiscoveryError> {
        {
            let state = self.state();
            let current = state.fetched.is_some_and(|at| at.elapsed() < Self::REFRESH);
            if current && !fresh && !state.addrs.is_empty() {
                return Ok(Arc::clone(&state.addrs));
            }
        }
        let fetched: Arc<[String]> = self.registry.service_addresses(&self.service).await?.into();
        let mut state = self.state();
        // Drop connections to instances that have left.
        state.channels.retain(|addr, _| fetched.contains(addr));
        state.addrs = Arc::clone(&fetched);
        state.fetched = Some(Instant::now());
        Ok(fetched)
    }

    fn suspect(&self, addr: &str) {
        self.state()
            .suspects
            .insert(addr.to_owned(), Instant::now() + Self::SUSPECT_FOR);
    }

    /// How many connections are open, for tests.
    pub fn connections(&self) -> usize {
        self.state().channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::memory::MemoryRegistry;

    /// A registry with metadata instances at 127.0.0.1:1 and 127.0.0.1:2.
    async fn two_instances() -> Arc<MemoryRegistry> {
        let registry = Arc::new(MemoryRegistry::default());
        for (id, addr) in [("m-1", "127.0.0.1:1"), ("m-2", "127.0.0.1:2")] {
            registry.register(id, "metadata", addr).await.unwrap();
        }
        registry
    }

    #[tokio::test]
    async fn no_instance_is_a_clear_error_and_connections_are_reused() {
        let registry = Arc::new(MemoryRegistry::default());
        let b = Balancer::new("metadata", registry.clone());
        let err = b.pick(None).await.unwrap_err();
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
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10 {
            seen.insert(b.pick(None).await.unwrap().0);
        }
        assert_eq!(seen.len(), 2, "round-robin reaches both");
        assert_eq!(b.connections(), 2, "one connection per instance");
        registry.deregister("m-1", "metadata").await.unwrap();
        // A fresh look (as on a retry) drops the departed instance's connection.
        let (addr, _) = b.pick(Some("127.0.0.1:9")).await.unwrap();
        assert_eq!(addr, "127.0.0.1:2");
        assert_eq!(
            b.connections(),
            1,
            "a departed instance's connection is dropped"
        );
    }

    #[tokio::test]
    async fn an_unavailable_instance_is_retried_on_another_and_then_skipped() {
        let b = Balancer::new("metadata", two_instances().await);
        let dead = "127.0.0.1:1";
        let attempts = Mutex::new(Vec::new());
        for _ in 0..6 {
            let served = b
                .call(|_channel, addr| {
                    attempts.lock().unwrap().push(addr.to_owned());
                    let result = if addr == dead {
                        Err(tonic::Status::unavailable("connection refused"))
                    } else {
                        Ok(addr.to_owned())
                    };
                    async move { result }
                })
                .await
                .unwrap();
            assert_eq!(served, "127.0.0.1:2");
        }
        let attempts = attempts.into_inner().unwrap();
        let on_dead = attempts.iter().filter(|a| *a == dead).count();
        assert!(
            on_dead <= 1,
            "tried once at most, then skipped: {attempts:?}"
        );
        assert_eq!(attempts.len(), 6 + on_dead);
    }

    #[test]
    fn which_failures_are_the_instances() {
        assert!(instance_failed(&tonic::Status::unavailable("refused")));
        // UNKNOWN from the server itself (no transport error behind it) is the request's.
        assert!(!instance_failed(&tonic::Status::unknown("boom")));
        assert!(!instance_failed(&tonic::Status::not_found("x")));
        assert!(!instance_failed(&tonic::Status::internal("x")));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let b = Balancer::new("metadata", two_instances().await);
        let calls = AtomicUsize::new(0);
        let result: Result<(), CallError> = b
            .call(|_, _| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err(tonic::Status::not_found("movie \"1\" not found")) }
            })
            .await;
        assert!(
            matches!(result, Err(CallError::Status { status, .. }) if status.code() == tonic::Code::NotFound)
        );
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_single_unavailable_instance_reports_its_own_failure() {
        let registry = Arc::new(MemoryRegistry::default());
        registry
            .register("m-1", "metadata", "127.0.0.1:1")
            .await
            .unwrap();
        let b = Balancer::new("metadata", registry);
        let result: Result<(), CallError> = b
            .call(|_, _| async { Err(tonic::Status::unavailable("connection refused")) })
            .await;
        match result {
            Err(CallError::Status { addr, status }) => {
                assert_eq!(addr, "127.0.0.1:1");
                assert_eq!(status.message(), "connection refused");
            }
            other => panic!("{other:?}"),
        }
    }
}
