//! Locks on Consul: a session with a TTL and a lock-delay, renewed at a third of the TTL;
//! `PUT /v1/kv/<key>?acquire=<session>`; the key's `ModifyIndex` after acquiring as the
//! fencing token (Consul's Raft index: it only grows).
//!
//! - acquire: `PUT /v1/session/create` (`TTL`, `LockDelay`, `Behavior: release`), then
//!   `PUT /v1/kv/<key>?acquire=<session>` with the holder as the value, then
//!   `GET /v1/kv/<key>` for the token; a refused acquire destroys its session;
//! - renew: `PUT /v1/session/renew/<session>` (404: the session is gone, the lease lost);
//! - release: `PUT /v1/kv/<key>?release=<session>`, then `PUT /v1/session/destroy/<session>`;
//! - status: `GET /v1/kv/locks?recurse`.
//!
//! Consul invalidates a session up to twice its TTL after its last renewal, and enforces
//! the lock-delay itself; the holder counts the TTL once, so it stops first.

use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use super::{BoxFuture, KeyStatus, Lease, LockBackend, LockError, now_ms};
use crate::discovery::consul::{AgentError, consul_duration, http_client, send};

/// Consul's shortest session TTL.
pub const MIN_TTL: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct ConsulLocks {
    base: String,
    delay: Duration,
    http: reqwest::Client,
}

/// One entry of `GET /v1/kv/<key>`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KvEntry {
    key: String,
    modify_index: u64,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

impl KvEntry {
    fn holder(&self) -> String {
        self.value
            .as_deref()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionCreated {
    #[serde(rename = "ID")]
    id: String,
}

impl ConsulLocks {
    /// `base`: the agent's URL, e.g. `http://127.0.0.1:8500`.
    pub fn new(
        base: &str,
        delay: Duration,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, LockError> {
        let base = base.trim_end_matches('/').to_owned();
        let http = http_client(tls).map_err(|e| LockError::Backend {
            store: format!("consul {base}"),
            what: "cannot build an HTTP client".to_owned(),
            source: Box::new(e),
        })?;
        Ok(Self { base, delay, http })
    }

    fn failed(
        &self,
        what: &str,
        e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LockError {
        LockError::Backend {
            store: format!("consul {}", self.base),
            what: what.to_owned(),
            source: e.into(),
        }
    }

    /// Sends a request; the response when it is 2xx, `None` when it is 404.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<reqwest::Response>, LockError> {
        match send(request).await {
            Ok(response) => Ok(Some(response)),
            Err(AgentError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
                Ok(None)
            }
            Err(e) => Err(self.failed(what, e)),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, LockError> {
        match self.send(what, request).await? {
            Some(response) => response
                .json()
                .await
                .map(Some)
                .map_err(|e| self.failed(what, e)),
            None => Ok(None),
        }
    }

    async fn entry(&self, key: &str) -> Result<Option<KvEntry>, LockError> {
        let url = format!("{}/v1/kv/{key}", self.base);
        let entries: Option<Vec<KvEntry>> = self
            .json(&format!("GET {url}"), self.http.get(&url))
            .await?;
        Ok(entries.and_then(|mut e| e.pop()))
    }

    async fn destroy(&self, session: &str) -> Result<(), LockError> {
        let url = format!("{}/v1/session/destroy/{session}", self.base);
        self.send(&format!("PUT {url}"), self.http.put(&url))
            .await
            .map(drop)
    }
}

impl LockBackend for ConsulLocks {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Result<Lease, String>, LockError>> {
        Box::pin(async move {
            let url = format!("{}/v1/session/create", self.base);
            let body = serde_json::json!({
                "Name": format!("movieapp lock {key}"),
                "TTL": consul_duration(ttl.max(MIN_TTL)),
                "LockDelay": consul_duration(self.delay),
                "Behavior": "release",
            });
            let what = format!("PUT {url}");
            let created: SessionCreated = self
                .json(&what, self.http.put(&url).json(&body))
                .await?
                .ok_or_else(|| self.failed(&what, "HTTP 404"))?;
            let session = created.id;
            let started = now_ms();
            let url = format!("{}/v1/kv/{key}?acquire={session}", self.base);
            let what = format!("PUT {url}");
            let acquired: Result<Option<bool>, LockError> = self
                .json(&what, self.http.put(&url).body(holder.to_owned()))
                .await;
            let acquired = match acquired {
                Ok(acquired) => acquired.unwrap_or(false),
                Err(e) => {
                    let _ = self.destroy(&session).await;
                    return Err(e);
                }
            };
            if !acquired {
                let _ = self.destroy(&session).await;
                let in_the_way = match self.entry(key).await? {
                    Some(entry) if entry.session.is_some() => {
                        format!("{} (token {})", entry.holder(), entry.modify_index)
                    }
                    _ => {
                        "nobody: a lease expired unreleased, and Consul's lock-delay keeps the key"
                            .to_owned()
                    }
                };
                return Ok(Err(in_the_way));
            }
            let entry = self
                .entry(key)
                .await?
                .filter(|e| e.session.as_deref() == Some(session.as_str()))
                .ok_or_else(|| LockError::Lost {
                    key: key.to_owned(),
                })?;
            Ok(Ok(Lease {
                key: key.to_owned(),
                holder: holder.to_owned(),
                token: entry.modify_index,
                expires_at_ms: started
                    .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
                session,
            }))
        })
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease, LockError>> {
        Box::pin(async move {
            let started = now_ms();
            let url = format!("{}/v1/session/renew/{}", self.base, lease.session);
            match self
                .send(&format!("PUT {url}"), self.http.put(&url))
                .await?
            {
                Some(_) => Ok(Lease {
                    expires_at_ms: started
                        .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
                    ..lease.clone()
                }),
                None => Err(LockError::Lost {
                    key: lease.key.clone(),
                }),
            }
        })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let url = format!(
                "{}/v1/kv/{}?release={}",
                self.base, lease.key, lease.session
            );
            self.send(&format!("PUT {url}"), self.http.put(&url))
                .await?;
            self.destroy(&lease.session).await
        })
    }

    fn status(&self) -> BoxFuture<'_, Result<Vec<KeyStatus>, LockError>> {
        Box::pin(async move {
            let url = format!("{}/v1/kv/locks?recurse", self.base);
            let entries: Vec<KvEntry> = self
                .json(&format!("GET {url}"), self.http.get(&url))
                .await?
                .unwrap_or_default();
            Ok(entries
                .into_iter()
                .map(|entry| KeyStatus {
                    holder: entry.session.is_some().then(|| entry.holder()),
                    key: entry.key,
                    token: entry.modify_index,
                    expires_at_ms: None,
                    delayed_until_ms: None,
                })
                .collect())
        })
    }
}
