//! Client-side balancing: each call picks one healthy instance of a service, round-robin, over
//! one kept-open HTTP/2 connection per instance (the book dials a new connection per call).
//!
//! Retries as gRFC A6 defines them ([`CallSettings`]): a call whose instance failed
//! (refused connection, UNAVAILABLE, no answer within the per-try timeout) or that was
//! pushed back (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`) is tried again, on
//! another instance when there is one, after a backoff with full jitter; never past the
//! call's deadline ([`crate::deadline`]); and only while the callee's retry budget (a token
//! bucket) allows, so a dependency that is down is not hammered. Failures of an instance
//! already known to be failing, while another is sound, do not spend the budget. A retry never goes back to
//! an instance that already failed the call. Each attempt runs with its own deadline, which
//! the request carries as `grpc-timeout` ([`bound`]).
//!
//! Instances that keep failing are ejected ([`super::outlier`], Envoy's model): out of
//! rotation for a while, probed with a health check before they come back. When every
//! instance is ejected, calls fail at once with UNAVAILABLE saying so. Ejections are
//! counted in metrics, logged, and reported to the registry, which `movieapp registry list`
//! shows.
//!
//! The address list is cached for [`Balancer::REFRESH`], so a busy service does not ask the
//! registry on every call; dead instances in the cached list are covered by the retries.

use std::{
    collections::HashMap,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{
    Registry, RegistryError,
    outlier::{AllEjected, Event, OutlierSettings, Outliers},
};
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
pub const EJECTIONS_METRIC: &str = "movieapp_client_ejections_total";
pub const EJECTED_METRIC: &str = "movieapp_client_ejected_instances";

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
    metrics::describe_counter!(
        EJECTIONS_METRIC,
        "Instances ejected by outlier detection, per callee."
    );
    metrics::describe_gauge!(
        EJECTED_METRIC,
        "Instances out of rotation (ejected or being probed), per callee."
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
    /// When an instance is taken out of rotation, and for how long.
    pub outlier_detection: OutlierSettings,
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
            outlier_detection: OutlierSettings::default(),
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
        self.outlier_detection.check()
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

/// True when a call failed because its instance did (refused connection, UNAVAILABLE, or a
/// connection reset or broken pipe mid-call, which tonic reports as UNKNOWN with a transport
/// error behind it), not because of the request. Such a call is worth one try elsewhere: the
/// services' writes are idempotent upserts, so a call that did reach the dead instance may be
/// repeated safely.
pub fn instance_failed(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable => true,
        // A transport error under it: the connection broke (for CANCELLED, it closed under
        // the call, as when the instance is killed). Not the server's answer.
        tonic::Code::Unknown | tonic::Code::Cancelled => std::error::Error::source(status)
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

struct State {
    addrs: Arc<[String]>,
    fetched: Option<Instant>,
    channels: HashMap<String, Channel>,
    outliers: Outliers,
}

/// Picks instances of one service and keeps a connection to each.
pub struct Balancer {
    service: String,
    registry: Arc<dyn Registry>,
    state: Arc<Mutex<State>>,
    next: AtomicUsize,
    settings: CallSettings,
    budget: Mutex<Budget>,
    /// Who reports ejections to the registry, e.g. `movie (pid 4242)`.
    reporter: String,
    /// TLS to the instances, when they speak it.
    tls: Option<crate::tls::ClientTls>,
    /// An instance of the callee in this process, called directly while it serves.
    colocated: Option<Colocated>,
    /// The attempts counter of this callee, looked up on the first call (after the
    /// recorder is installed) rather than on every attempt.
    attempts: std::sync::OnceLock<metrics::Counter>,
}

/// An instance of the callee that runs in the caller's process: the address it registered,
/// and whether it is serving (ready, not draining).
#[derive(Debug, Clone)]
pub struct Colocated {
    pub addr: String,
    pub serving: Arc<std::sync::atomic::AtomicBool>,
}

impl Colocated {
    fn serving(&self) -> bool {
        self.serving.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// How an attempt reaches the instance picked for it.
pub enum Via {
    /// In this process: call its controller, no socket (see [`Colocated`]).
    Local,
    /// Over its kept-open connection.
    Network(Channel),
}

impl Balancer {
    /// How long a fetched address list is used before asking the registry again.
    pub const REFRESH: Duration = Duration::from_secs(1);

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
            state: Arc::new(Mutex::new(State {
                addrs: Arc::from([]),
                fetched: None,
                channels: HashMap::new(),
                outliers: Outliers::new(settings.outlier_detection.clone()),
            })),
            settings,
            service: service.to_owned(),
            registry,
            // A random start spreads one-shot clients (each CLI call is a new process).
            next: AtomicUsize::new(rand::random::<u32>() as usize),
            reporter: format!("pid {}", std::process::id()),
            tls: None,
            colocated: None,
            attempts: std::sync::OnceLock::new(),
        }
    }

    /// Prefers `colocated`, an instance in this process, while it serves: the caller's
    /// [`Self::call_via`] gets [`Via::Local`] for it. Otherwise, and for retries after it
    /// failed, the network as usual.
    #[must_use]
    pub fn with_colocated(mut self, colocated: Option<Colocated>) -> Self {
        self.colocated = colocated;
        self
    }

    /// Calls the instances over TLS, verifying them (and presenting a client certificate)
    /// as `tls` says.
    #[must_use]
    pub fn with_tls(mut self, tls: Option<crate::tls::ClientTls>) -> Self {
        self.tls = tls;
        self
    }

    /// Names the caller in the ejections it reports, e.g. `movie`.
    #[must_use]
    pub fn reporting_as(mut self, caller: &str) -> Self {
        self.reporter = format!("{caller} (pid {})", std::process::id());
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn attempts(&self) -> &metrics::Counter {
        self.attempts
            .get_or_init(|| metrics::counter!(ATTEMPTS_METRIC, "callee" => self.service.clone()))
    }

    /// Calls `call` with a connection to an instance (and its address), retrying as the
    /// module documentation says. The call's future runs with the attempt's deadline
    /// ([`crate::deadline::current`]); [`bound`] puts it on the request.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(Channel, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.call_inner(false, |via, addr| match via {
            Via::Network(channel) => tokio_util::either::Either::Left(call(channel, addr)),
            // Not offered: `call_inner(false, …)` never picks the local instance.
            Via::Local => tokio_util::either::Either::Right(std::future::ready(Err(
                tonic::Status::internal("no in-process route"),
            ))),
        })
        .await
    }

    /// [`Self::call`], with the in-process instance (if any) preferred: `call` gets
    /// [`Via::Local`] for it and must call its controller directly.
    pub async fn call_via<T, F, Fut>(&self, call: F) -> Result<T, CallError>
    where
        F: FnMut(Via, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        self.call_inner(true, call).await
    }

    async fn call_inner<T, F, Fut>(&self, local: bool, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(Via, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let now = tokio::time::Instant::now();
        let deadline = crate::deadline::current()
            .unwrap_or(now + self.settings.timeout.get())
            .min(now + CALL_TIMEOUT);
        let attempts = self.settings.max_attempts.clamp(1, MAX_ATTEMPTS_CAP);
        let callee = &self.service;
        let mut failed: Option<(String, tonic::Status)> = None;
        // Instances that failed this call: a retry goes elsewhere.
        let mut tried: Vec<String> = Vec::new();
        for attempt in 1..=attempts {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let (addr, via) = match self.pick_via(local, &tried).await {
                Ok(picked) => picked,
                // Nowhere to try: the failure so far is the one to report.
                Err(e) => match failed {
                    Some(_) => break,
                    None => return Err(e.into()),
                },
            };
            self.attempts().increment(1);
            if attempt > 1 {
                metrics::counter!(RETRIES_METRIC, "callee" => callee.clone()).increment(1);
            }
            let try_deadline =
                deadline.min(tokio::time::Instant::now() + self.settings.per_try_timeout.get());
            let answered = tokio::time::timeout_at(
                try_deadline,
                crate::deadline::within(try_deadline, call(via, &addr)),
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
                    self.state().outliers.succeeded(&addr);
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
            let instance_down = timed_out || instance_failed(&status);
            let mut spend = true;
            if instance_down {
                spend = self.instance_failed(&addr);
            } else {
                // The instance answered: whatever the answer, it is alive.
                self.state().outliers.succeeded(&addr);
            }
            let pushback = pushback(&status);
            let retryable = instance_down
                || (status.code() == tonic::Code::ResourceExhausted && pushback.is_some());
            if !retryable {
                return Err(CallError::Status { addr, status });
            }
            if spend {
                self.budget().failed();
            }
            tracing::debug!(peer_service = %callee, instance = %addr, error = %status, attempt, "attempt failed");
            tried.push(addr.clone());
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

    fn budget(&self) -> MutexGuard<'_, Budget> {
        self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The instance for an attempt: the one in this process when `local` allows, it serves
    /// and is in rotation, without a socket or a registry lookup; else [`Self::pick`], which
    /// avoids a local instance that does not serve unless nothing else is there.
    async fn pick_via(
        &self,
        local: bool,
        avoid: &[String],
    ) -> Result<(String, Via), DiscoveryError> {
        let colocated = self.colocated.as_ref().filter(|_| local);
        if let Some(c) = colocated
            && !avoid.contains(&c.addr)
        {
            if c.serving() {
                let now = tokio::time::Instant::now();
                let state = self.state();
                if state.outliers.usable(&c.addr) && !state.outliers.skipped(&c.addr, now) {
                    return Ok((c.addr.clone(), Via::Local));
                }
            } else {
                let mut elsewhere = avoid.to_vec();
                elsewhere.push(c.addr.clone());
                if let Ok((addr, channel)) = self.pick(&elsewhere).await {
                    return Ok((addr, Via::Network(channel)));
                }
            }
        }
        let (addr, channel) = self.pick(avoid).await?;
        Ok((addr, Via::Network(channel)))
    }

    /// A connection to the next instance in rotation other than those in `avoid`.
    pub async fn pick(&self, avoid: &[String]) -> Result<(String, Channel), DiscoveryError> {
        let addrs = self.addresses(!avoid.is_empty()).await?;
        let now = tokio::time::Instant::now();
        let mut state = self.state();
        for addr in state.outliers.due_probes(&addrs, now) {
            let channel = self.channel(&mut state, &addr)?;
            self.probe(addr, channel);
        }
        let in_rotation: Vec<&String> = addrs
            .iter()
            .filter(|a| !avoid.contains(a) && state.outliers.usable(a))
            .collect();
        // Instances that just failed only when there is nothing else.
        let fresh: Vec<&String> = in_rotation
            .iter()
            .copied()
            .filter(|a| !state.outliers.skipped(a, now))
            .collect();
        let candidates = if fresh.is_empty() { in_rotation } else { fresh };
        if candidates.is_empty() {
            if let Some(AllEjected { instances, next }) = state.outliers.all_ejected(&addrs, now) {
                return Err(DiscoveryError::AllEjected {
                    service: self.service.clone(),
                    instances,
                    next_secs: next.as_secs_f64().max(1.0),
                });
            }
            return Err(DiscoveryError::NoHealthyInstance {
                service: self.service.clone(),
                registry: self.registry.describe(),
            });
        }
        let addr = candidates[self.next.fetch_add(1, Ordering::Relaxed) % candidates.len()].clone();
        let channel = self.channel(&mut state, &addr)?;
        Ok((addr, channel))
    }

    /// The kept-open connection to `addr`, made on first use.
    fn channel(&self, state: &mut State, addr: &str) -> Result<Channel, DiscoveryError> {
        if let Some(channel) = state.channels.get(addr) {
            return Ok(channel.clone());
        }
        let bad_address = |source| DiscoveryError::BadAddress {
            service: self.service.clone(),
            addr: addr.to_owned(),
            source,
        };
        let scheme = crate::tls::scheme(self.tls.as_ref());
        let mut endpoint =
            Endpoint::from_shared(format!("{scheme}://{addr}")).map_err(bad_address)?;
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.tonic()).map_err(bad_address)?;
        }
        let channel = endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .tcp_nodelay(true)
            .connect_lazy();
        state.channels.insert(addr.to_owned(), channel.clone());
        Ok(channel)
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
        // Forget instances that have left.
        state.channels.retain(|addr, _| fetched.contains(addr));
        state.outliers.retain(&fetched);
        state.addrs = Arc::clone(&fetched);
        state.fetched = Some(Instant::now());
        Ok(fetched)
    }

    /// Counts a failure of the instance at `addr` against it. Returns whether the failure
    /// spends the retry budget: not when the instance was already known to be failing and
    /// another is in good standing. The budget guards the callee as a whole; the calls
    /// that were under way on a hung instance when it hung each fail in turn, and retrying
    /// them on a sound instance multiplies no load on anything that is down.
    fn instance_failed(&self, addr: &str) -> bool {
        let now = tokio::time::Instant::now();
        let (event, spend) = {
            let mut state = self.state();
            let state = &mut *state;
            let outliers = &state.outliers;
            let known = outliers.skipped(addr, now) || !outliers.usable(addr);
            let alternative = state
                .addrs
                .iter()
                .any(|a| a != addr && outliers.usable(a) && !outliers.skipped(a, now));
            let instances = state.addrs.len().max(1);
            let event = state.outliers.failed(addr, instances, now);
            (event, !(known && alternative))
        };
        if let Some(event) = event {
            self.report(event);
        }
        spend
    }

    /// Probes an ejected instance with a gRPC health check, in the background.
    fn probe(&self, addr: String, channel: Channel) {
        let state = Arc::clone(&self.state);
        let timeout = self.settings.per_try_timeout.get();
        let reporter = self.reporter();
        tokio::spawn(async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            let healthy = matches!(
                tokio::time::timeout(timeout, HealthClient::new(channel).check(request)).await,
                Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32
            );
            let event = lock(&state)
                .outliers
                .probed(&addr, healthy, tokio::time::Instant::now());
            if let Some(event) = event {
                reporter.report(event);
            }
        });
    }

    fn report(&self, event: Event) {
        self.reporter().report(event);
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            service: self.service.clone(),
            registry: Arc::clone(&self.registry),
            reporter: self.reporter.clone(),
            state: Arc::clone(&self.state),
        }
    }

    /// How many connections are open, for tests.
    pub fn connections(&self) -> usize {
        self.state().channels.len()
    }
}

/// Tells metrics, the log and the registry about an ejection or a return.
struct Reporter {
    service: String,
    registry: Arc<dyn Registry>,
    reporter: String,
    state: Arc<Mutex<State>>,
}

impl Reporter {
    fn report(self, event: Event) {
        let ejected = lock(&self.state).outliers.ejected();
        metrics::gauge!(EJECTED_METRIC, "callee" => self.service.clone()).set(ejected as f64);
        let (addr, until) = match event {
            Event::Ejected {
                addr,
                for_,
                failures,
            } => {
                metrics::counter!(EJECTIONS_METRIC, "callee" => self.service.clone()).increment(1);
                tracing::warn!(
                    peer_service = %self.service,
                    instance = %addr,
                    failures,
                    "instance ejected for {for_:?} after repeated failures; probed before it takes calls again"
                );
                (addr, Some(std::time::SystemTime::now() + for_))
            }
            Event::Restored { addr } => {
                tracing::info!(peer_service = %self.service, instance = %addr, "ejected instance answered its probe; back in rotation");
                (addr, None)
            }
        };
        // Off the call's path; a registry that cannot be told is no reason to fail calls.
        tokio::spawn(async move {
            let told = self
                .registry
                .report_ejection(&self.service, &addr, &self.reporter, until)
                .await;
            if let Err(e) = told {
                tracing::debug!(error = %e, "cannot report an ejection to the registry");
            }
        });
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
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
        let err = b.pick(&[]).await.unwrap_err();
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
            seen.insert(b.pick(&[]).await.unwrap().0);
        }
        assert_eq!(seen.len(), 2, "round-robin reaches both");
        assert_eq!(b.connections(), 2, "one connection per instance");
        registry.deregister("m-1", "metadata").await.unwrap();
        // A fresh look (as on a retry) drops the departed instance's connection.
        let (addr, _) = b.pick(&["127.0.0.1:9".to_owned()]).await.unwrap();
        assert_eq!(addr, "127.0.0.1:2");
        assert_eq!(
            b.connections(),
            1,
            "a departed instance's connection is dropped"
        );
    }

    #[tokio::test]
    async fn an_unavailable_instance_is_retried_on_another_then_skipped() {
        let b = Balancer::new("metadata", two_instances().await);
        let dead = "127.0.0.1:1";
        let attempts = Mutex::new(Vec::new());
        for _ in 0..20 {
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
            "tried once at most, then skipped while the other serves: {attempts:?}"
        );
        assert_eq!(attempts.len(), 20 + on_dead);
    }

    #[tokio::test]
    async fn calls_caught_on_a_hung_instance_retry_elsewhere_without_spending_the_budget() {
        let b = Arc::new(Balancer::with_settings(
            "metadata",
            two_instances().await,
            CallSettings {
                retry_budget: RetryBudget {
                    max_tokens: 4.0,
                    token_ratio: 0.1,
                },
                ..CallSettings::default()
            },
        ));
        let hung = "127.0.0.1:1";
        // Ten calls at once; those that land on the hung instance all fail a moment later,
        // after the first of them has marked it.
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let b = Arc::clone(&b);
            calls.spawn(async move {
                b.call(|_, addr| {
                    let on_hung = addr == hung;
                    let addr = addr.to_owned();
                    async move {
                        if on_hung {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            Err(tonic::Status::unavailable("no answer"))
                        } else {
                            Ok(addr)
                        }
                    }
                })
                .await
            });
        }
        let answers = calls.join_all().await;
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(addr) if addr == "127.0.0.1:2")),
            "{answers:?}"
        );
    }

    #[tokio::test]
    async fn with_every_instance_ejected_calls_fail_at_once_saying_so() {
        let registry = Arc::new(MemoryRegistry::default());
        registry
            .register("m-1", "metadata", "127.0.0.1:1")
            .await
            .unwrap();
        let b = Balancer::with_settings(
            "metadata",
            registry,
            CallSettings {
                max_attempts: 1,
                ..CallSettings::default()
            },
        );
        let calls = AtomicUsize::new(0);
        let call = || {
            b.call(|_, _| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Err::<(), _>(tonic::Status::unavailable("connection refused")) }
            })
        };
        for _ in 0..5 {
            assert!(matches!(call().await, Err(CallError::Status { .. })));
        }
        let err = call().await.unwrap_err();
        assert!(
            matches!(
                &err,
                CallError::Discovery(DiscoveryError::AllEjected { instances: 1, .. })
            ),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(
                r#"every instance of "metadata" (1) is ejected after repeated failures"#
            ),
            "{err}"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 5, "no attempt once ejected");
    }

    #[tokio::test]
    async fn an_ejected_instance_comes_back_once_it_answers_its_health_probe() {
        // A real gRPC health service on loopback stands for the instance.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (_reporter, health) = tonic_health::server::health_reporter();
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        let registry = Arc::new(MemoryRegistry::default());
        registry.register("m-1", "metadata", &addr).await.unwrap();
        let b = Balancer::new("metadata", registry.clone()).reporting_as("movie");
        let fail = || b.call(|_, _| async { Err::<(), _>(tonic::Status::unavailable("down")) });
        for _ in 0..5 {
            assert!(matches!(fail().await, Err(CallError::Status { .. })));
        }
        assert!(matches!(
            fail().await,
            Err(CallError::Discovery(DiscoveryError::AllEjected { .. }))
        ));
        tokio::time::sleep(Duration::from_millis(50)).await; // the report is sent aside
        let listed = registry.instances().await.unwrap();
        assert_eq!(listed[0].ejections.len(), 1, "reported to the registry");
        assert!(listed[0].ejections[0].by.starts_with("movie (pid "));
        // With every instance out, it is probed within a second; SERVING brings it back.
        let back = async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(answer) = b
                    .call(|_, addr| std::future::ready(Ok(addr.to_owned())))
                    .await
                {
                    return answer;
                }
            }
        };
        let answer = tokio::time::timeout(Duration::from_secs(10), back)
            .await
            .expect("restored after its probe");
        assert_eq!(answer, addr);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(registry.instances().await.unwrap()[0].ejections.is_empty());
    }

    #[test]
    fn which_failures_are_the_instances() {
        assert!(instance_failed(&tonic::Status::unavailable("refused")));
        // UNKNOWN from the server itself (no transport error behind it) is the request's.
        assert!(!instance_failed(&tonic::Status::unknown("boom")));
        // So is CANCELLED said by the server; only a connection closing under the call (a
        // transport error behind it, as when an instance is killed) is the instance's.
        assert!(!instance_failed(&tonic::Status::cancelled("x")));
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
