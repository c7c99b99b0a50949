//! The `lock` section of the configuration, and opening the store it names.

use std::{fmt, path::Path, str::FromStr, sync::Arc};

use serde::{Deserialize, Serialize};

use super::{LockBackend, LockError, Locks, memory::MemoryLocks, sqlite::SqliteLocks};
use crate::config::value::{self, Delay, Duration};

/// The `lock` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// sqlite (`<dataDir>/locks.db`), memory (one process), consul (the agent of
    /// serviceDiscovery.consul.address) or consul://host:port.
    pub backend: LockKind,
    /// How long a lease lasts unless renewed; holders renew at a third of it.
    pub ttl: Duration,
    /// How long a key whose lease expired unreleased stays locked (Consul's default: 15s).
    pub lock_delay: Delay,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            backend: LockKind::Sqlite,
            ttl: Duration::from_secs(10),
            lock_delay: Delay::from_secs(15),
        }
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), String> {
        if self.ttl.get() < std::time::Duration::from_millis(300) {
            return Err(format!(
                "lock.ttl: {} is too short to renew in time: expected at least 300ms",
                self.ttl
            ));
        }
        if matches!(self.backend, LockKind::Consul(_)) && self.ttl.get() < super::consul::MIN_TTL {
            return Err(format!(
                "lock.ttl: {} is shorter than Consul's shortest session TTL: expected at least 10s with backend consul",
                self.ttl
            ));
        }
        Ok(())
    }

    /// The locks this section describes: the store is opened (created) now.
    /// `consul_address` is serviceDiscovery.consul.address, for `backend: consul`.
    pub async fn open(
        &self,
        data_dir: &Path,
        consul_address: &str,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Locks, LockError> {
        let delay = self.lock_delay.get();
        let backend: Arc<dyn LockBackend> = match &self.backend {
            LockKind::Sqlite => {
                Arc::new(SqliteLocks::open(&data_dir.join(super::sqlite::FILE_NAME), delay).await?)
            }
            LockKind::Memory => Arc::new(MemoryLocks::new(delay)),
            LockKind::Consul(address) => Arc::new(super::consul::ConsulLocks::new(
                address.as_deref().unwrap_or(consul_address),
                delay,
                tls,
            )?),
        };
        Ok(Locks::new(backend, self.ttl.get()))
    }
}

/// Which lock store: `lock.backend`, `MOVIEAPP_LOCK_BACKEND`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LockKind {
    #[default]
    Sqlite,
    Memory,
    /// The agent's base URL; `None`: serviceDiscovery.consul.address.
    Consul(Option<String>),
}

impl FromStr for LockKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "sqlite" => Ok(Self::Sqlite),
            "memory" => Ok(Self::Memory),
            "consul" => Ok(Self::Consul(None)),
            other => match other.strip_prefix("consul://") {
                Some(addr) if value::HostPort::check(addr).is_ok() => {
                    Ok(Self::Consul(Some(format!("http://{addr}"))))
                }
                _ => Err(format!(
                    "invalid lock backend {other:?}: expected sqlite, memory, consul or consul://host:port"
                )),
            },
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Memory => f.write_str("memory"),
            Self::Consul(None) => f.write_str("consul"),
            Self::Consul(Some(url)) => write!(f, "consul://{}", url.trim_start_matches("http://")),
        }
    }
}

value::serde_via_str!(LockKind);
