//! Client-side balancing: each call picks one healthy instance of a service, round-robin, over
//! one kept-open HTTP/2 connection per instance (the book dials a new connection per call).
//!
//! Retries as gRFC A6 defines them ([`CallSettings`]): a call whose instance failed
//! (refused connection, UNAVAILABLE, no answer within the per-try timeout) or that was
//! pushed back (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`) is tried again, on
//! another instance when there is one, after a backoff with full jitter; never past the
//! call's deadline ([`crate::deadline`]); and only while the callee's retry budget (a token
//! bucket) allows, so a dependency that is down is not hammered. The failed instance is
//! skipped for a while. Each attempt runs with its own deadline, which the request carries
//! as `grpc-timeout` ([`bound`]).
//!
//! The address list is cached for [`Balancer::REFRESH`], so a busy service does not ask the
//! registry on every call; dead instances in the cached list are covered by the retries.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};

use super::{Registry, RegistryError};
use crate::config::value;

/// How long establishing a connection to an instance may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take, whatever else is configured.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per call at most, whatever is configured (gRFC A6).
pub const MAX_ATTEMPTS_CAP: u32 = 5;
/// What an attempt's `grpc-timeout` leaves out of the time remaining, for the answer to
/// travel back.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(5);

pub const ATTEMPTS_METRIC: &str = "movieapp_client_attempts_total";
pub const RETRIES_METRIC: &str = "movieapp_client_retries_total";
pub const THROTTLED_METRIC: &str = "movieapp_client_retries_throttled_total";

/// Describes the balancer's metrics to the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        ATTEMPTS_METRIC,
        "Attempts of calls to another service, per callee."
    );
    metrics::describe_counter!(RETRIES_METRIC, "Attempts that were retries, per callee.");
    metrics::describe_counter!(
        THROTTLED_METRIC,
        "Retries not made because the callee's retry budget was spent."
    );
}

/// The `calls` section of the configuration: how a service (or a CLI client) calls
/// another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CallSettings {
    /// The deadline of a call whose caller set none (`grpc-timeout`); servers apply it to
    /// the calls they serve too.
    pub timeout: value::Duration,
    /// Each attempt's own limit: a hung instance costs this much, then the call moves on.
    pub per_try_timeout: value::Duration,
    /// Attempts per call, the first included (at most 5).
    pub max_attempts: u32,
    /// The first retry waits up to this (full jitter), doubling up to `maxBackoff`.
    pub initial_backoff: value::Duration,
    pub max_backoff: value::Duration,
    /// Retry throttling per callee (gRFC A6): a bucket of `maxTokens`; a failure takes one,
    /// a success gives back `tokenRatio`; retries stop while half or less is left.
    pub retry_budget: RetryBudget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RetryBudget {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }
    }
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            timeout: value::Duration::from_secs(5),
            per_try_timeout: value::Duration::from_secs(1),
            max_attempts: 3,
            initial_backoff: std::time::Duration::from_millis(25).into(),
            max_backoff: std::time::Duration::from_millis(500).into(),
            retry_budget: RetryBudget::default(),
        }
    }
}

impl CallSettings {
    /// Checks what the types cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_ATTEMPTS_CAP).contains(&self.max_attempts) {
            return Err(format!(
                "calls.maxAttempts {}: expected 1 to {MAX_ATTEMPTS_CAP}",
                self.max_attempts
            ));
        }
        let b = &self.retry_budget;
        if !(b.max_tokens >= 1.0 && b.token_ratio > 0.0 && b.token_ratio <= b.max_tokens) {
            return Err(
                "calls.retryBudget: expected maxTokens of at least 1 and tokenRatio above 0"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Sets `grpc-timeout` on an outgoing request to the time left in the current attempt (or
/// call), less a margin for the answer.
pub fn bound<T>(request: &mut tonic::Request<T>) {
    if let Some(deadline) = crate::deadline::current() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        request.set_timeout(
            left.saturating_sub(DEADLINE_MARGIN)
                .max(Duration::from_millis(1)),
        );
    }
}

/// The token bucket of gRFC A6's retry throttling.
struct Budget {
    tokens: f64,
    max: f64,
    ratio: f64,
}

impl Budget {
    fn failed(&mut self) {
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    fn succeeded(&mut self) {
        self.tokens = (self.tokens + self.ratio).min(self.max);
    }

    fn allows_retry(&self) -> bool {
        self.tokens > self.max / 2.0
    }
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

/// What the server said about retrying: `None` when it said nothing; `Some(None)` for "do
/// not retry" (a negative or unreadable value); `Some(Some(wait))` otherwise.
fn pushback(status: &tonic::Status) -> Option<Option<Duration>> {
    let value = status.metadata().get("grpc-retry-pushback-ms")?;
    Some(
        value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis),
    )
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
    settings: CallSettings,
    budget: Mutex<Budget>,
}

impl Balancer {
    /// How long a fetched address list is used before asking the registry again.
    pub const REFRESH: Duration = Duration::from_secs(1);
    /// How long an instance that failed is skipped (while others are available).
    pub const SUSPECT_FOR: Duration = Duration::from_secs(5);

    pub fn new(service: &str, registry: Arc<dyn Registry>) -> Self {
        Self::with_settings(service, registry, CallSettings::default())
    }

    pub fn with_settings(
        service: &str,
        registry: Arc<dyn Registry>,
        settings: CallSettings,
    ) -> Self {
        let b = &settings.retry_budget;
        Self {
            budget: Mutex::new(Budget {
                tokens: b.max_tokens,
                max: b.max_tokens,
                ratio: b.token_ratio,
            }),
            settings,
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

    /// Calls `call` with a connection to an instance (and its address), retrying as the
    /// module documentation says. The call's future runs with the attempt's deadline
    /// ([`crate::deadline::current`]); [`bound`] puts it on the request.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(Channel, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let now = tokio::time::Instant::now();
        let deadline = crate::deadline::current()
            .unwrap_or(now + self.settings.timeout.get())
            .min(now + CALL_TIMEOUT);
        let attempts = self.settings.max_attempts.clamp(1, MAX_ATTEMPTS_CAP);
        let callee = self.service.clone();
        let mut failed: Option<(String, tonic::Status)> = None;
        for attempt in 1..=attempts {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let avoid = failed.as_ref().map(|(addr, _)| addr.as_str());
            let (addr, channel) = match self.pick(avoid).await {
                Ok(picked) => picked,
                // Nowhere to try: the failure so far is the one to report.
                Err(e) => match failed {
                    Some(_) => break,
                    None => return Err(e.into()),
                },
            };
            metrics::counter!(ATTEMPTS_METRIC, "callee" => callee.clone()).increment(1);
            if attempt > 1 {
                metrics::counter!(RETRIES_METRIC, "callee" => callee.clone()).increment(1);
            }
            let try_deadline =
                deadline.min(tokio::time::Instant::now() + self.settings.per_try_timeout.get());
            let answered = tokio::time::timeout_at(
                try_deadline,
                crate::deadline::within(try_deadline, call(channel, &addr)),
            )
            .await;
            // tonic enforces the request's own timeout too, answering CANCELLED: that is
            // this attempt running out of time.
            let expired = |status: &tonic::Status| {
                status.code() == tonic::Code::Cancelled
                    && tokio::time::Instant::now() + 2 * DEADLINE_MARGIN >= try_deadline
            };
            let timed_out = match &answered {
                Err(_) => true,
                Ok(Err(status)) => expired(status),
                Ok(Ok(_)) => false,
            };
            let status = match answered {
                Ok(Ok(value)) => {
                    self.budget().succeeded();
                    return Ok(value);
                }
                Ok(Err(status)) if timed_out => tonic::Status::deadline_exceeded(format!(
                    "no answer in time: {}",
                    status.message()
                )),
                Ok(Err(status)) => status,
                Err(_elapsed) => tonic::Status::deadline_exceeded(format!(
                    "no answer within {:?}",
                    self.settings.per_try_timeout.get()
                )),
            };
            let pushback = pushback(&status);
            let retryable = timed_out
                || instance_failed(&status)
                || (status.code() == tonic::Code::ResourceExhausted && pushback.is_some());
            if !retryable {
                return Err(CallError::Status { addr, status });
            }
            if timed_out || instance_failed(&status) {
                self.suspect(&addr);
            }
            self.budget().failed();
            tracing::debug!(peer_service = %callee, instance = %addr, error = %status, attempt, "attempt failed");
            failed = Some((addr, status));
            if attempt == attempts || pushback == Some(None) {
                break;
            }
            if !self.budget().allows_retry() {
                metrics::counter!(THROTTLED_METRIC, "callee" => callee.clone()).increment(1);
                break;
            }
            let wait = match pushback {
                Some(Some(ms)) => ms,
                _ => self.backoff(attempt),
            };
            if tokio::time::Instant::now() + wait >= deadline {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        match failed {
            Some((addr, status)) => Err(CallError::Status { addr, status }),
            None => Err(CallError::Status {
                addr: self.service.clone(),
                status: tonic::Status::deadline_exceeded("the call's deadline passed"),
            }),
        }
    }

    /// The pause before retry `attempt` + 1: full jitter over an exponential ceiling.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .settings
            .initial_backoff
            .get()
            .saturating_mul(1 << (attempt - 1).min(16))
            .min(self.settings.max_backoff.get());
        ceiling.mul_f64(rand::random::<f64>())
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
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
