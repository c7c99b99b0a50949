//! Who the services are: their names, the book's ports, and the gRPC services they serve.
//! A leaf module: configuration, clients, commands and the servers all import it, and it
//! imports nothing of theirs. See docs/design.md §1.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
};

use serde::{Deserialize, Serialize};

use crate::pb;

/// One of the services `serve` can run.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Metadata,
    Rating,
    Movie,
    Auth,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 4] = [Self::Metadata, Self::Rating, Self::Movie, Self::Auth];

    /// The name it registers under and callers discover (docs/design.md §3).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Metadata => "metadata",
            Self::Rating => "rating",
            Self::Movie => "movie",
            Self::Auth => "auth",
        }
    }

    /// The book's port.
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Metadata => 8081,
            Self::Rating => 8082,
            Self::Movie => 8083,
            Self::Auth => 8084,
        }
    }

    /// The gRPC service it serves, as in method paths (`/MetadataService/GetMetadata`).
    pub const fn grpc_name(self) -> &'static str {
        match self {
            Self::Metadata => pb::metadata_service_server::SERVICE_NAME,
            Self::Rating => pb::rating_service_server::SERVICE_NAME,
            Self::Movie => pb::movie_service_server::SERVICE_NAME,
            Self::Auth => pb::auth_service_server::SERVICE_NAME,
        }
    }

    /// The service that serves the gRPC service `grpc_name`, if any of ours does.
    pub fn serving(grpc_name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.grpc_name() == grpc_name)
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown service {s:?}: expected metadata, rating, movie or auth")
            })
    }
}

/// The address a client on this machine dials to reach a server listening on `ip`: a
/// wildcard address is reached over loopback of the same family.
pub fn dial_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// [`dial_ip`] for a configured listen host (an address or a name; IPv6 in brackets).
pub fn dial_host(listen_host: &str) -> String {
    let bare = listen_host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => match dial_ip(ip) {
            IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        },
        Err(_) => listen_host.to_owned(),
    }
}

/// [`dial_ip`] for a bound socket: what this instance registers.
pub fn dial_addr(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(dial_ip(addr.ip()), addr.port())
}

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
    #[serde(deserialize_with = "crate::config::value::port")]
    pub port: Option<u16>,
}

/// The `shutdown` section of the configuration: how `serve` stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct ShutdownSettings {
    /// How long an instance keeps serving after SIGTERM, not ready and deregistered, so
    /// callers' cached address lists move on before its port closes. `0s`: none.
    pub drain_delay: crate::config::value::Delay,
    /// How long in-flight calls get to finish after SIGTERM before they are dropped.
    pub drain_timeout: crate::config::value::Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            drain_delay: crate::config::value::Delay::from_secs(1),
            drain_timeout: crate::config::value::Duration::from_secs(10),
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
    /// A new connection must send its first bytes within this.
    pub header_read_timeout: crate::config::value::Duration,
    /// A connection that sends nothing for this long is closed.
    pub idle_timeout: crate::config::value::Duration,
    /// How often an HTTP/2 connection is pinged...
    pub keepalive_interval: crate::config::value::Duration,
    /// ...and how long the answer may take before the connection is closed.
    pub keepalive_timeout: crate::config::value::Duration,
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
        use crate::config::value::Duration;
        Self {
            max_per_port: 4096,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ports_and_grpc_services() {
        assert_eq!(
            ServiceKind::ALL.map(ServiceKind::default_port),
            [8081, 8082, 8083, 8084]
        );
        assert_eq!(ServiceKind::Auth.grpc_name(), "AuthService");
        assert_eq!(ServiceKind::Rating.grpc_name(), "RatingService");
        assert_eq!(
            ServiceKind::serving("MovieService"),
            Some(ServiceKind::Movie)
        );
        assert_eq!(ServiceKind::serving("Nope"), None);
        assert_eq!("rating".parse(), Ok(ServiceKind::Rating));
        assert!("ratings".parse::<ServiceKind>().is_err());
    }

    #[test]
    fn wildcard_hosts_are_dialled_over_loopback() {
        assert_eq!(dial_host("0.0.0.0"), "127.0.0.1");
        assert_eq!(dial_host("::"), "[::1]");
        assert_eq!(dial_host("[::]"), "[::1]");
        assert_eq!(dial_host("10.0.0.1"), "10.0.0.1");
        assert_eq!(dial_host("db.local"), "db.local");
        let bound: SocketAddr = "[::]:8081".parse().unwrap();
        assert_eq!(dial_addr(bound).to_string(), "[::1]:8081");
        let bound: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(dial_addr(bound).to_string(), "127.0.0.1:8081");
    }
}
