//! Who the services are: their names, the book's ports, the gRPC services they serve, and
//! the address a client dials. A leaf: configuration, clients, commands and the servers all
//! import it, and it imports nothing of theirs. How a service serves (its section of the
//! configuration, connections, shutdown) is [`settings`]. See docs/design.md §1.

pub mod settings;

pub use settings::{ApiSettings, ConnectionSettings, RateLimit, Settings, ShutdownSettings};

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
