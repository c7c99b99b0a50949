//! Consul through its agent's HTTP API (docs/design.md §3), as the book's `consul` registry:
//! - register: `PUT /v1/agent/service/register` with a TTL check named after the instance;
//! - heartbeat: `PUT /v1/agent/check/pass/<instance-id>`;
//! - deregister: `PUT /v1/agent/service/deregister/<instance-id>`;
//! - discover: `GET /v1/health/service/<name>?passing`.
//!
//! Listing for `movieapp registry` also reads `GET /v1/catalog/services` and each service's
//! `GET /v1/health/service/<name>`.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{BoxFuture, InstanceInfo, Ownership, Registry, RegistryError};
use crate::config::value::HostPort;

/// The agent's address when `consul` is given without one.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";
/// How long one request to the agent may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Consul removes an instance whose check stayed critical this long.
const DEREGISTER_CRITICAL_AFTER: &str = "1m";

#[derive(Debug)]
pub struct ConsulRegistry {
    base: String,
    ttl: Duration,
    http: reqwest::Client,
    /// Registered with this process's instances, as service metadata.
    ownership: Option<Ownership>,
}

/// `PUT /v1/agent/service/register` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceRegistration<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    name: &'a str,
    address: &'a str,
    port: u16,
    check: Check<'a>,
    /// Consul's service metadata: the ownership keys ([`META_KEYS`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    meta: BTreeMap<&'static str, &'a str>,
}

/// The service-metadata keys of an instance's ownership (Consul allows letters, digits,
/// `_` and `-`).
const META_KEYS: [&str; 3] = ["accountable", "support_channel", "on_call_rotation"];

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Check<'a> {
    #[serde(rename = "CheckID")]
    check_id: &'a str,
    #[serde(rename = "TTL")]
    ttl: String,
    deregister_critical_service_after: &'a str,
}

/// One entry of `GET /v1/health/service/<name>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthEntry {
    node: Node,
    service: AgentService,
    #[serde(default)]
    checks: Vec<HealthCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Node {
    #[serde(default)]
    address: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AgentService {
    #[serde(rename = "ID")]
    id: String,
    service: String,
    #[serde(default)]
    address: String,
    port: u16,
    #[serde(default)]
    meta: Option<BTreeMap<String, String>>,
}

impl AgentService {
    /// The ownership in its metadata, if any.
    fn ownership(&self) -> Option<Ownership> {
        let meta = self.meta.as_ref()?;
        let get = |key: &str| meta.get(key).cloned().unwrap_or_default();
        Ownership {
            accountable: get(META_KEYS[0]),
            support_channel: get(META_KEYS[1]),
            on_call_rotation: get(META_KEYS[2]),
        }
        .non_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HealthCheck {
    status: String,
}

impl HealthEntry {
    /// Consul's rule: the service address, else the node's.
    fn address(&self) -> String {
        let host = if self.service.address.is_empty() {
            &self.node.address
        } else {
            &self.service.address
        };
        format!("{host}:{}", self.service.port)
    }
}

impl ConsulRegistry {
    /// `base`: the agent's URL, e.g. `http://127.0.0.1:8500`; an `https` agent is verified
    /// against `tls` (the configured CA; there are no system roots).
    pub fn new(
        base: &str,
        ttl: Duration,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, RegistryError> {
        let http = http_client(tls).map_err(|e| RegistryError::Backend {
            registry: format!("consul {base}"),
            what: "cannot build an HTTP client".to_owned(),
            source: Box::new(e),
        })?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            ttl,
            http,
            ownership: None,
        })
    }

    /// Registers `ownership` with every instance, as service metadata.
    pub fn with_ownership(mut self, ownership: Option<Ownership>) -> Self {
        self.ownership = ownership;
        self
    }

    fn failed(
        &self,
        what: &str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> RegistryError {
        RegistryError::Backend {
            registry: self.describe(),
            what: what.to_owned(),
            source: e.into(),
        }
    }

    /// Sends a request and returns the response if it succeeded (2xx).
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        send(request).await.map_err(|e| self.failed(what, e))
    }

    async fn health(
        &self,
        service: &str,
        passing: bool,
    ) -> Result<Vec<HealthEntry>, RegistryError> {
        let mut url = format!("{}/v1/health/service/{service}", self.base);
        if passing {
            url.push_str("?passing");
        }
        let what = format!("GET {url}");
        self.send(&what, self.http.get(&url))
            .await?
            .json()
            .await
            .map_err(|e| self.failed(&what, e))
    }
}

/// What a Consul agent's request came to when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    #[error("HTTP {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
}

/// Sends a request to a Consul agent; the response when it is 2xx. Shared by the registry
/// and the lock store.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, AgentError> {
    let response = request.send().await?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default().trim().to_owned();
    Err(AgentError::Status { status, body })
}

/// An HTTP client for a Consul agent, each request limited to [`REQUEST_TIMEOUT`]; an
/// `https` agent is verified against `tls` (the configured CA). Shared by the registry
/// and the lock store.
pub fn http_client(tls: Option<rustls::ClientConfig>) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest uses rustls, which needs a crypto provider before a client is built (the
    // binary installs one at start-up; this covers library users). Idempotent.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder().timeout(REQUEST_TIMEOUT);
    if let Some(tls) = tls {
        builder = builder.use_preconfigured_tls(tls);
    }
    builder.build()
}

/// Consul's duration syntax, e.g. "5s" or "1500ms".
pub fn consul_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl Registry for ConsulRegistry {
    fn register<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
        addr: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let (host, port) = HostPort::split(addr).map_err(|e| self.failed("register", e))?;
            let body = ServiceRegistration {
                id: instance_id,
                name: service,
                address: host,
                port,
                check: Check {
                    check_id: instance_id,
                    ttl: consul_duration(self.ttl),
                    deregister_critical_service_after: DEREGISTER_CRITICAL_AFTER,
                },
                meta: self
                    .ownership
                    .iter()
                    .flat_map(|o| {
                        META_KEYS
                            .into_iter()
                            .zip(o.fields().map(|(_, value)| value))
                            .filter(|(_, value)| !value.is_empty())
                    })
                    .collect(),
            };
            let url = format!("{}/v1/agent/service/register", self.base);
            self.send(&format!("PUT {url}"), self.http.put(&url).json(&body))
                .await
                .map(|_| ())
        })
    }

    fn deregister<'a>(
        &'a self,
        instance_id: &'a str,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let url = format!("{}/v1/agent/service/deregister/{instance_id}", self.base);
            self.send(&format!("PUT {url}"), self.http.put(&url))
                .await
                .map(|_| ())
        })
    }

    fn service_addresses<'a>(
        &'a self,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RegistryError>> {
        Box::pin(async move {
            Ok(self
                .health(service, true)
                .await?
                .iter()
                .map(HealthEntry::address)
                .collect())
        })
    }

    fn report_healthy_state<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        Box::pin(async move {
            let url = format!("{}/v1/agent/check/pass/{instance_id}", self.base);
            let what = format!("PUT {url}");
            let response = self
                .http
                .put(&url)
                .send()
                .await
                .map_err(|e| self.failed(&what, e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(());
            }
            let body = response.text().await.unwrap_or_default();
            // The agent forgot the check (restarted, or removed it): register again.
            if status == reqwest::StatusCode::NOT_FOUND
                || body.contains("Unknown check")
                || body.contains("does not have associated TTL")
            {
                return Err(RegistryError::NotRegistered {
                    instance_id: instance_id.to_owned(),
                    service: service.to_owned(),
                    registry: self.describe(),
                });
            }
            Err(self.failed(&what, format!("HTTP {status}: {}", body.trim())))
        })
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, RegistryError>> {
        Box::pin(async move {
            let url = format!("{}/v1/catalog/services", self.base);
            let what = format!("GET {url}");
            let services: BTreeMap<String, serde_json::Value> = self
                .send(&what, self.http.get(&url))
                .await?
                .json()
                .await
                .map_err(|e| self.failed(&what, e))?;
            let mut all = Vec::new();
            for service in services.keys().filter(|s| s.as_str() != "consul") {
                for entry in self.health(service, false).await? {
                    all.push(InstanceInfo {
                        service: entry.service.service.clone(),
                        instance_id: entry.service.id.clone(),
                        address: entry.address(),
                        healthy: entry.checks.iter().all(|c| c.status == "passing"),
                        last_heartbeat_secs: None,
                        ejections: Vec::new(),
                        ownership: entry.service.ownership(),
                    });
                }
            }
            all.sort_by(|a, b| (&a.service, &a.instance_id).cmp(&(&b.service, &b.instance_id)));
            Ok(all)
        })
    }

    fn describe(&self) -> String {
        format!("consul {}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_consuls_json() {
        let body = ServiceRegistration {
            id: "metadata-1",
            name: "metadata",
            address: "127.0.0.1",
            port: 8081,
            check: Check {
                check_id: "metadata-1",
                ttl: consul_duration(Duration::from_secs(5)),
                deregister_critical_service_after: DEREGISTER_CRITICAL_AFTER,
            },
            meta: BTreeMap::new(),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "ID": "metadata-1", "Name": "metadata", "Address": "127.0.0.1", "Port": 8081,
                "Check": {"CheckID": "metadata-1", "TTL": "5s", "DeregisterCriticalServiceAfter": "1m"}
            })
        );
        assert_eq!(consul_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn health_entries_fall_back_to_the_node_address() {
        let entries: Vec<HealthEntry> = serde_json::from_str(
            r#"[{"Node":{"Node":"n1","Address":"10.0.0.5"},
                 "Service":{"ID":"rating-1","Service":"rating","Address":"","Port":8082},
                 "Checks":[{"Status":"passing"}]},
                {"Node":{"Node":"n1","Address":"10.0.0.5"},
                 "Service":{"ID":"rating-2","Service":"rating","Address":"10.0.0.6","Port":8082},
                 "Checks":[]}]"#,
        )
        .unwrap();
        assert_eq!(entries[0].address(), "10.0.0.5:8082");
        assert_eq!(entries[1].address(), "10.0.0.6:8082");
    }
}
