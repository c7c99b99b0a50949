//! Service discovery (SPEC section 3): the book's registry interface, its backends, the
//! lifecycle of a registered instance, and client-side balancing across instances.
//!
//! Today `serve` uses the in-process [`memory`] backend, filled with the addresses it bound.
//! Shared backends (sqlite, static, consul) plug in behind the same [`Registry`] trait.

pub mod balancer;
pub mod instance;
pub mod memory;

use std::{future::Future, pin::Pin, time::Duration};

/// How often a registered instance reports that it is healthy (book: 1 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How long an instance may stay silent before it is no longer returned (book: TTL "5s").
pub const HEALTHY_TTL: Duration = Duration::from_secs(5);

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("instance {instance_id:?} of {service:?} is not registered in {registry}")]
    NotRegistered {
        instance_id: String,
        service: String,
        registry: String,
    },
    #[error("registry {registry}: {message}")]
    Backend { registry: String, message: String },
}

/// The book's registry interface. Object safe, so the backend can be chosen at run time.
pub trait Registry: Send + Sync {
    /// Adds an instance of `service` reachable at `addr` (`host:port`).
    fn register<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
        addr: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;

    /// Removes an instance.
    fn deregister<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;

    /// The addresses of the instances of `service` that reported healthy within the TTL.
    /// May be empty; callers turn that into a clear UNAVAILABLE.
    fn service_addresses<'a>(
        &'a self,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RegistryError>>;

    /// Records a heartbeat of an instance.
    fn report_healthy_state<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;

    /// Names the backend for messages, e.g. `memory (in-process)`.
    fn describe(&self) -> String;
}

/// A new instance id, `<service>-<random>` (SPEC section 3).
pub fn instance_id(service: &str) -> String {
    format!("{service}-{:016x}", rand::random::<u64>())
}
