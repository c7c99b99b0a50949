//! How a service serves, as the configuration says: its own section (port, rate limit,
//! calls in flight), what each port accepts (`connections`) and how `serve` stops
//! (`shutdown`).

use serde::{Deserialize, Serialize};

use super::ServiceKind;
use crate::config::value::{self, Delay, Duration};

/// A service's section of the configuration (`metadata:`, `rating:`, `movie:`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    pub api: ApiSettings,
    /// Calls per second the service admits (GCRA); past it, RESOURCE_EXHAUSTED with
    /// `grpc-retry-pushback-ms`, or HTTP 429 with `Retry-After`. Off by default.
    pub rate_limit: RateLimit,
    /// Calls the service works on at once; past it, a call is refused at once with
    /// RESOURCE_EXHAUSTED (HTTP 429) instead of queueing. 0: no limit.
    pub max_concurrent_calls: u32,
}

impl Settings {
    /// Checks what the types cannot, naming the key under the service's section.
    pub fn check(&self, service: ServiceKind) -> Result<(), String> {
        let rate = self.rate_limit.rate;
        if !(rate.is_finite() && (0.0..=1e6).contains(&rate)) {
            return Err(format!(
                "{service}.rateLimit.rate {rate}: expected calls per second from 0 (no limit) to 1000000"
            ));
        }
        Ok(())
    }
}

/// A token bucket: `rate` calls per second on average, `burst` at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RateLimit {
    /// Calls per second; 0: no limit.
    pub rate: f64,
    /// Calls admitted at once after a quiet spell (at least 1 when `rate` is set).
    pub burst: u32,
    /// Also limit each caller (its IP address) to the same rate, in a table of at most
    /// 10 000 callers.
    pub per_caller: bool,
}

/// Where a service listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// `None` until the configuration is loaded, then the given port or the book's.
    #[serde(deserialize_with = "value::port")]
    pub port: Option<u16>,
}

/// The `shutdown` section of the configuration: how `serve` stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ShutdownSettings {
    /// How long an instance keeps serving after SIGTERM, not ready and deregistered, so
    /// callers' cached address lists move on before its port closes. `0s`: none.
    pub drain_delay: Delay,
    /// How long in-flight calls get to finish after SIGTERM before they are dropped.
    pub drain_timeout: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            drain_delay: Delay::from_secs(1),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// The `connections` section of the configuration: what each port accepts, so that idle
/// or greedy clients cannot use up the server (docs/design.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ConnectionSettings {
    /// Open connections per port; past it, new ones wait in the kernel's backlog.
    pub max_per_port: usize,
    /// Of those, connections still in their TLS handshake or first request head (at most
    /// `maxPerPort`); past it, new ones wait in the backlog, so slow or silent clients
    /// cannot take the slots of established ones.
    pub max_handshaking: usize,
    /// A new connection must send its first bytes within this, and complete its TLS
    /// handshake and its first request head within this of connecting, however slowly
    /// its bytes trickle in.
    pub header_read_timeout: Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: Duration,
    /// How often an HTTP/2 connection is pinged...
    pub keepalive_interval: Duration,
    /// ...and how long the answer may take before the connection is closed.
    pub keepalive_timeout: Duration,
    /// Calls in flight at once on one HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS);
    /// past it, new streams are refused.
    pub max_concurrent_streams: u32,
    /// The largest header block a request may send, in bytes.
    pub max_header_list_bytes: u32,
    /// Threads serving connections, each with its own event loop; a connection stays on
    /// the one it was given. 0: one per CPU this process may use.
    #[serde(deserialize_with = "workers")]
    pub workers: usize,
}

/// The smallest header block `connections.maxHeaderListBytes` may allow: a gRPC call with
/// a token and trace context needs about 1 KiB.
pub const MIN_HEADER_LIST_BYTES: u32 = 4096;

impl ConnectionSettings {
    /// Refuses values that would break every call while the ports still accept.
    pub fn check(&self) -> Result<(), String> {
        if self.max_concurrent_streams == 0 {
            return Err("connections.maxConcurrentStreams 0 would refuse every HTTP/2 call: expected at least 1".into());
        }
        if self.max_header_list_bytes < MIN_HEADER_LIST_BYTES {
            return Err(format!(
                "connections.maxHeaderListBytes {} is too small for a call's headers: expected at least {MIN_HEADER_LIST_BYTES}",
                self.max_header_list_bytes
            ));
        }
        if self.max_per_port == 0 {
            return Err(
                "connections.maxPerPort 0 would accept no connection: expected at least 1".into(),
            );
        }
        if self.max_handshaking == 0 {
            return Err(
                "connections.maxHandshaking 0 would complete no connection: expected at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The most connection workers `connections.workers` may ask for.
pub const MAX_WORKERS: usize = 1024;

fn workers<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    let count = usize::deserialize(deserializer)?;
    if count > MAX_WORKERS {
        return Err(serde::de::Error::custom(format!(
            "{count} workers is more than {MAX_WORKERS}; expected 0 (one per CPU) to {MAX_WORKERS}"
        )));
    }
    Ok(count)
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        use Duration;
        Self {
            max_per_port: 4096,
            max_handshaking: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(20),
            max_concurrent_streams: 256,
            max_header_list_bytes: 16 * 1024,
            workers: 0,
        }
    }
}
