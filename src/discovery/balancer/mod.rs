//! Client-side balancing: each call picks one healthy instance of a service, round-robin, over
//! one kept-open HTTP/2 connection per instance (the book dials a new connection per call).
//! A call is retried on other instances as [`crate::calls::retry`] says; the balancer tells
//! it which instances are there and how each attempt went.
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

use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{
    DiscoveryError, Registry,
    outlier::{AllEjected, Outliers},
};
use crate::calls::{
    CallSettings,
    retry::{CallError, Instances, Retries},
    settings::CALL_TIMEOUT,
};

mod ejections;

use ejections::Reporter;
pub use ejections::{EJECTED_METRIC, EJECTIONS_METRIC, describe_metrics};

/// How long establishing a connection to an instance may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
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
    /// How calls are retried, with the callee's retry budget.
    retries: Retries,
    /// Who reports ejections to the registry, e.g. `movie (pid 4242)`.
    reporter: String,
    /// TLS to the instances, when they speak it.
    tls: Option<crate::tls::ClientTls>,
    /// An instance of the callee in this process, called directly while it serves.
    colocated: Option<Colocated>,
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
        Self {
            state: Arc::new(Mutex::new(State {
                addrs: Arc::from([]),
                fetched: None,
                channels: HashMap::new(),
                outliers: Outliers::new(settings.outlier_detection.clone()),
            })),
            retries: Retries::new(service, settings),
            service: service.to_owned(),
            registry,
            // A random start spreads one-shot clients (each CLI call is a new process).
            next: AtomicUsize::new(rand::random::<u32>() as usize),
            reporter: format!("pid {}", std::process::id()),
            tls: None,
            colocated: None,
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

    /// Whether a call would go to the instance in this process first: there is one, it
    /// serves, and it is in rotation.
    pub fn prefers_colocated(&self) -> bool {
        self.colocated
            .as_ref()
            .is_some_and(|c| c.serving() && self.in_rotation(&c.addr))
    }

    /// Whether `addr` is neither ejected nor just failed.
    fn in_rotation(&self, addr: &str) -> bool {
        let state = self.state();
        state.outliers.usable(addr) && !state.outliers.skipped(addr, tokio::time::Instant::now())
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

    /// Calls `call` with a connection to an instance (and its address), retrying as
    /// [`crate::calls::retry`] says. The call's future runs with the attempt's deadline
    /// ([`crate::calls::deadline::current`]); [`crate::calls::deadline::bound`] puts it on
    /// the request.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut(Channel, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let instances = Picking {
            balancer: self,
            local: false,
        };
        self.retries
            .run(&instances, |via, addr| match via {
                Via::Network(channel) => tokio_util::either::Either::Left(call(channel, addr)),
                // Not offered: `local: false` never picks the local instance.
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
        let instances = Picking {
            balancer: self,
            local: true,
        };
        self.retries.run(&instances, call).await
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
                if self.in_rotation(&c.addr) {
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
            let ejected = state.outliers.ejected();
            (event.map(|e| (e, ejected)), !(known && alternative))
        };
        if let Some((event, ejected)) = event {
            self.reporter().report(event, ejected);
        }
        spend
    }

    /// Probes an ejected instance with a gRPC health check, in the background.
    fn probe(&self, addr: String, channel: Channel) {
        let state = Arc::clone(&self.state);
        let timeout = self.retries.settings().per_try_timeout.get();
        let reporter = self.reporter();
        tokio::spawn(async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            let healthy = matches!(
                tokio::time::timeout(timeout, HealthClient::new(channel).check(request)).await,
                Ok(Ok(answer)) if answer.get_ref().status == ServingStatus::Serving as i32
            );
            let (event, ejected) = {
                let mut state = lock(&state);
                let event = state
                    .outliers
                    .probed(&addr, healthy, tokio::time::Instant::now());
                (event, state.outliers.ejected())
            };
            if let Some(event) = event {
                reporter.report(event, ejected);
            }
        });
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            service: self.service.clone(),
            registry: Arc::clone(&self.registry),
            reporter: self.reporter.clone(),
        }
    }

    /// How many connections are open, for tests.
    pub fn connections(&self) -> usize {
        self.state().channels.len()
    }
}

/// The balancer's instances as a call's retries see them: `local` when the in-process
/// instance may be picked.
struct Picking<'a> {
    balancer: &'a Balancer,
    local: bool,
}

impl Instances for Picking<'_> {
    type Route = Via;

    fn pick(
        &self,
        avoid: &[String],
    ) -> impl Future<Output = Result<(String, Via), DiscoveryError>> + Send {
        self.balancer.pick_via(self.local, avoid)
    }

    fn answered(&self, addr: &str) {
        self.balancer.state().outliers.succeeded(addr);
    }

    fn failed(&self, addr: &str) -> bool {
        self.balancer.instance_failed(addr)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
