//! Service discovery (docs/design.md §3): the book's registry interface, its backends, the
//! lifecycle of a registered instance, and client-side balancing across instances.
//!
//! Backends: [`sqlite`] (default; `<data-dir>/registry.db`, shared by every movieapp process
//! on the host), [`memory`] (one process, tests), [`static_list`] (addresses from config)
//! and [`consul`] (the Consul agent's HTTP API).

pub mod balancer;
pub mod consul;
pub mod instance;
pub mod memory;
pub mod outlier;
pub mod sqlite;
pub mod static_list;

use std::{collections::BTreeMap, fmt, path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    config::value::{self, HostPort, HttpAddress},
    database::sqlite::SqliteError,
    service::ServiceKind,
};

/// How often a registered instance reports that it is healthy (book: 1 s).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// How long an instance may stay silent before it is no longer returned (book: TTL "5s").
pub const HEALTHY_TTL: Duration = Duration::from_secs(5);

pub use crate::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("instance {instance_id:?} of {service:?} is not registered in {registry}")]
    NotRegistered {
        instance_id: String,
        service: String,
        registry: String,
    },
    /// The registry could not be opened at all (corrupt or unusable file): an environment
    /// problem for the operator, reported with exit code 2.
    #[error("cannot open the service registry {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: SqliteError,
    },
    /// Inspection found no registry where one was expected (a mistyped --data-dir, most
    /// likely): reported with exit code 2, and nothing is created.
    #[error(
        "no service registry at {path}: no movieapp has run with this data directory; check --data-dir"
    )]
    Missing { path: PathBuf },
    /// The backend failed at `what`; the source says how.
    #[error("registry {registry}: {what}")]
    Backend {
        registry: String,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

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
    /// Every instance failed repeatedly and is out of rotation until it answers a probe.
    #[error(
        "every instance of {service:?} ({instances}) is ejected after repeated failures; the next is probed within {next_secs:.0}s"
    )]
    AllEjected {
        service: String,
        instances: usize,
        next_secs: f64,
    },
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// One registered instance, as `movieapp registry` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceInfo {
    pub service: String,
    pub instance_id: String,
    pub address: String,
    pub healthy: bool,
    /// Seconds since the last heartbeat, where the backend knows it.
    pub last_heartbeat_secs: Option<f64>,
    /// Callers that have this instance ejected (outlier detection), where the backend
    /// keeps reports.
    pub ejections: Vec<Ejection>,
    /// Who answers for it, when its configuration says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ownership: Option<Ownership>,
}

/// Who answers for a service (book chapter 16): the `ownership` section of the
/// configuration, registered with each instance and shown by `movieapp registry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Ownership {
    /// The team or person accountable, e.g. "movies-team".
    pub accountable: String,
    /// Where to ask for help, e.g. "#movies" or a mailing list.
    pub support_channel: String,
    /// Who is paged, e.g. a rotation's name or URL.
    pub on_call_rotation: String,
}

/// The longest value an ownership key may have (Consul's service metadata allows 512).
const MAX_OWNERSHIP_CHARS: usize = 256;

impl Ownership {
    pub fn is_empty(&self) -> bool {
        self.accountable.is_empty()
            && self.support_channel.is_empty()
            && self.on_call_rotation.is_empty()
    }

    /// `None` when nothing is set.
    pub fn non_empty(&self) -> Option<Self> {
        (!self.is_empty()).then(|| self.clone())
    }

    pub fn check(&self) -> Result<(), String> {
        for (key, value) in self.fields() {
            if value.chars().count() > MAX_OWNERSHIP_CHARS || value.chars().any(char::is_control) {
                return Err(format!(
                    "ownership.{key}: {value:?} is invalid: expected at most {MAX_OWNERSHIP_CHARS} characters, no control characters"
                ));
            }
        }
        Ok(())
    }

    /// `(configuration key, value)` of each field.
    pub fn fields(&self) -> [(&'static str, &str); 3] {
        [
            ("accountable", &self.accountable),
            ("supportChannel", &self.support_channel),
            ("onCallRotation", &self.on_call_rotation),
        ]
    }
}

/// A caller's report that it took an instance out of rotation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ejection {
    /// Who ejected it, e.g. `movie (pid 4242)`.
    pub by: String,
    /// Seconds until it is probed again.
    pub remaining_secs: f64,
}

/// The book's registry interface, plus a listing for inspection. Object safe, so the
/// backend can be chosen at run time.
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

    /// Records a heartbeat. `NotRegistered` when the registry no longer knows the instance.
    fn report_healthy_state<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>>;

    /// Records that `reporter` ejected the instance of `service` at `addr` until `until`,
    /// or (`None`) took it back. Only for inspection; backends that cannot keep it ignore
    /// it.
    fn report_ejection<'a>(
        &'a self,
        service: &'a str,
        addr: &'a str,
        reporter: &'a str,
        until: Option<std::time::SystemTime>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let _ = (service, addr, reporter, until);
        Box::pin(async { Ok(()) })
    }

    /// Every known instance of every service, healthy or not, sorted by service then id.
    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, RegistryError>>;

    /// Names the backend for messages, e.g. `sqlite:/var/lib/movieapp/registry.db`.
    fn describe(&self) -> String;
}

/// The instance with this id in any registry, if registered (used by `registry
/// deregister`).
pub async fn find(
    registry: &dyn Registry,
    instance_id: &str,
) -> Result<Option<InstanceInfo>, RegistryError> {
    Ok(registry
        .instances()
        .await?
        .into_iter()
        .find(|i| i.instance_id == instance_id))
}

/// A new instance id, `<service>-<random>` (docs/design.md §3).
pub fn instance_id(service: &str) -> String {
    format!("{service}-{:016x}", rand::random::<u64>())
}

/// Which registry to use: `--registry`, `MOVIEAPP_REGISTRY` or `serviceDiscovery.backend`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RegistryKind {
    #[default]
    Sqlite,
    Memory,
    Static,
    /// The agent's base URL, e.g. `http://127.0.0.1:8500`; `None`: from configuration.
    Consul(Option<String>),
}

impl FromStr for RegistryKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "sqlite" => Ok(Self::Sqlite),
            "memory" => Ok(Self::Memory),
            "static" => Ok(Self::Static),
            "consul" => Ok(Self::Consul(None)),
            other => match other.strip_prefix("consul://") {
                Some(addr) if !addr.is_empty() && !addr.contains('/') => {
                    Ok(Self::Consul(Some(format!("http://{addr}"))))
                }
                _ => Err(format!(
                    "invalid registry {other:?}: expected sqlite, memory, static or consul://host:port"
                )),
            },
        }
    }
}

impl fmt::Display for RegistryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Memory => f.write_str("memory"),
            Self::Static => f.write_str("static"),
            Self::Consul(None) => f.write_str("consul"),
            Self::Consul(Some(url)) => write!(
                f,
                "consul://{}",
                url.trim_start_matches("http://")
                    .trim_start_matches("https://")
            ),
        }
    }
}

value::serde_via_str!(RegistryKind);

/// The `serviceDiscovery` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// sqlite, memory, static, consul or consul://host:port.
    pub backend: RegistryKind,
    /// How often each instance heartbeats.
    pub heartbeat_interval: value::Duration,
    /// How long a silent instance stays healthy.
    pub ttl: value::Duration,
    pub consul: ConsulSettings,
    /// Addresses for `backend: static`, per service; a service left out is reached on this
    /// host at its configured port.
    #[serde(rename = "static")]
    pub static_addresses: BTreeMap<ServiceKind, Vec<HostPort>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            backend: RegistryKind::default(),
            heartbeat_interval: HEARTBEAT_INTERVAL.into(),
            ttl: HEALTHY_TTL.into(),
            consul: ConsulSettings::default(),
            static_addresses: BTreeMap::new(),
        }
    }
}

/// The Consul agent, for `backend: consul`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsulSettings {
    pub address: HttpAddress,
}

impl Default for ConsulSettings {
    fn default() -> Self {
        Self {
            address: consul::DEFAULT_ADDRESS
                .parse()
                .unwrap_or_else(|_| unreachable!("the default Consul address is valid")),
        }
    }
}

/// Everything needed to open a registry.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    pub kind: RegistryKind,
    pub data_dir: PathBuf,
    pub ttl: Duration,
    /// The Consul agent's URL when the kind names none.
    pub consul_address: String,
    /// `service -> addresses` for the static backend.
    pub static_addresses: Vec<(String, Vec<String>)>,
    /// TLS to an `https` Consul agent: verified against `tls.ca`, presenting
    /// `tls.clientCert` when set (read only when Consul is the backend).
    pub tls: crate::tls::Settings,
    /// Registered with every instance this process registers.
    pub ownership: Ownership,
}

impl RegistrySettings {
    /// Opens the chosen backend to look at it: an embedded registry that does not exist
    /// yet is [`RegistryError::Missing`], and none is created.
    pub async fn open_existing(&self) -> Result<Arc<dyn Registry>, RegistryError> {
        if self.kind == RegistryKind::Sqlite {
            let path = self.data_dir.join(sqlite::FILE_NAME);
            if !path.exists() {
                return Err(RegistryError::Missing { path });
            }
        }
        self.open().await
    }

    /// Opens the chosen backend, creating an embedded registry if needed.
    pub async fn open(&self) -> Result<Arc<dyn Registry>, RegistryError> {
        Ok(match &self.kind {
            RegistryKind::Sqlite => Arc::new(
                sqlite::SqliteRegistry::open(&self.data_dir.join(sqlite::FILE_NAME), self.ttl)
                    .await?
                    .with_ownership(self.ownership.non_empty()),
            ),
            RegistryKind::Memory => Arc::new(
                memory::MemoryRegistry::new(self.ttl).with_ownership(self.ownership.non_empty()),
            ),
            RegistryKind::Static => Arc::new(static_list::StaticRegistry::new(
                self.static_addresses.clone(),
            )),
            RegistryKind::Consul(url) => {
                let base = url.as_deref().unwrap_or(&self.consul_address);
                let tls_failed = |e: crate::tls::TlsError| RegistryError::Backend {
                    registry: format!("consul {base}"),
                    what: "cannot set up TLS".to_owned(),
                    source: Box::new(e),
                };
                let tls = match self.tls.client().map_err(tls_failed)? {
                    Some(tls) => Some(tls.rustls().map_err(tls_failed)?),
                    None => None,
                };
                Arc::new(
                    consul::ConsulRegistry::new(base, self.ttl, tls)?
                        .with_ownership(self.ownership.non_empty()),
                )
            }
        })
    }
}

/// How long ago `then_ms` (Unix milliseconds) was, in seconds.
fn age_secs(then_ms: i64) -> f64 {
    (crate::database::sqlite::now_ms() - then_ms).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_kinds_parse_and_print() {
        assert_eq!("sqlite".parse(), Ok(RegistryKind::Sqlite));
        assert_eq!("memory".parse(), Ok(RegistryKind::Memory));
        assert_eq!("static".parse(), Ok(RegistryKind::Static));
        let consul: RegistryKind = "consul://127.0.0.1:8500".parse().unwrap();
        assert_eq!(
            consul,
            RegistryKind::Consul(Some("http://127.0.0.1:8500".into()))
        );
        assert_eq!("consul".parse(), Ok(RegistryKind::Consul(None)));
        assert_eq!(consul.to_string(), "consul://127.0.0.1:8500");
        for bad in ["", "etcd", "consul://", "consul://a/b"] {
            let err = bad.parse::<RegistryKind>().unwrap_err();
            assert!(
                err.contains("expected sqlite, memory, static or consul://host:port"),
                "{err}"
            );
        }
    }
}
