//! Retries as gRFC A6 defines them: a call whose instance failed (refused connection,
//! UNAVAILABLE, no answer within the per-try timeout) or that was pushed back
//! (RESOURCE_EXHAUSTED with `grpc-retry-pushback-ms`) is tried again, on another instance
//! when there is one, after a backoff with full jitter; never past the call's deadline
//! ([`super::deadline`]); and only while the callee's retry budget (a token bucket) allows,
//! so a dependency that is down is not hammered. Failures of an instance already known to be
//! failing, while another is sound, do not spend the budget (the [`Instances`] say which). A
//! retry never goes back to an instance that already failed the call. Each attempt runs with
//! its own deadline, which the request carries as `grpc-timeout`.

use std::{
    future::Future,
    sync::{Mutex, MutexGuard, OnceLock, PoisonError},
    time::Duration,
};

use super::{
    deadline,
    settings::{CALL_TIMEOUT, CallSettings, MAX_ATTEMPTS_CAP},
};
use crate::discovery::DiscoveryError;

pub const ATTEMPTS_METRIC: &str = "movieapp_client_attempts_total";
pub const RETRIES_METRIC: &str = "movieapp_client_retries_total";
pub const FAILURES_METRIC: &str = "movieapp_client_failed_attempts_total";
pub const THROTTLED_METRIC: &str = "movieapp_client_retries_throttled_total";

/// Describes the retry metrics to the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        ATTEMPTS_METRIC,
        "Attempts of calls to another service, per callee."
    );
    metrics::describe_counter!(RETRIES_METRIC, "Attempts that were retries, per callee.");
    metrics::describe_counter!(
        FAILURES_METRIC,
        "Attempts that failed (any answer but OK, or none), per callee."
    );
    metrics::describe_counter!(
        THROTTLED_METRIC,
        "Retries not made because the callee's retry budget was spent."
    );
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

/// The instances of a callee that a call is retried over: the balancer's, in production.
pub trait Instances {
    /// How an attempt reaches the instance picked for it.
    type Route;

    /// The instance for the next attempt, other than those in `avoid` (they failed this
    /// call).
    fn pick(
        &self,
        avoid: &[String],
    ) -> impl Future<Output = Result<(String, Self::Route), DiscoveryError>> + Send;

    /// The instance at `addr` answered: whatever the answer, it is alive.
    fn answered(&self, addr: &str);

    /// The instance at `addr` failed the attempt. Returns whether the failure spends the
    /// retry budget.
    fn failed(&self, addr: &str) -> bool;
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

/// The retry policy of calls to one callee, with its retry budget.
pub struct Retries {
    callee: String,
    settings: CallSettings,
    budget: Mutex<Budget>,
    /// The attempts counter of this callee, looked up on the first call (after the
    /// recorder is installed) rather than on every attempt.
    attempts: OnceLock<metrics::Counter>,
}

impl Retries {
    pub fn new(callee: &str, settings: CallSettings) -> Self {
        let b = &settings.retry_budget;
        Self {
            budget: Mutex::new(Budget {
                tokens: b.max_tokens,
                max: b.max_tokens,
                ratio: b.token_ratio,
            }),
            callee: callee.to_owned(),
            settings,
            attempts: OnceLock::new(),
        }
    }

    pub fn settings(&self) -> &CallSettings {
        &self.settings
    }

    fn attempts(&self) -> &metrics::Counter {
        self.attempts
            .get_or_init(|| metrics::counter!(ATTEMPTS_METRIC, "callee" => self.callee.clone()))
    }

    /// Calls `call` on instances picked from `instances`, retrying as the module
    /// documentation says. Each attempt's future runs with the attempt's deadline
    /// ([`deadline::current`]); [`deadline::bound`] puts it on a request.
    pub async fn run<T, I, F, Fut>(&self, instances: &I, mut call: F) -> Result<T, CallError>
    where
        I: Instances,
        F: FnMut(I::Route, &str) -> Fut,
        Fut: Future<Output = Result<T, tonic::Status>>,
    {
        let now = tokio::time::Instant::now();
        let deadline = deadline::current()
            .unwrap_or(now + self.settings.timeout.get())
            .min(now + CALL_TIMEOUT);
        let attempts = self.settings.max_attempts.clamp(1, MAX_ATTEMPTS_CAP);
        let callee = &self.callee;
        let mut failed: Option<(String, tonic::Status)> = None;
        // Instances that failed this call: a retry goes elsewhere.
        let mut tried: Vec<String> = Vec::new();
        for attempt in 1..=attempts {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let (addr, route) = match instances.pick(&tried).await {
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
            let (status, timed_out) = match self.attempt(deadline, call(route, &addr)).await {
                Ok(value) => {
                    self.budget().succeeded();
                    instances.answered(&addr);
                    return Ok(value);
                }
                Err(failure) => {
                    metrics::counter!(FAILURES_METRIC, "callee" => callee.clone()).increment(1);
                    failure
                }
            };
            let instance_down = timed_out || instance_failed(&status);
            let mut spend = true;
            if instance_down {
                spend = instances.failed(&addr);
            } else {
                // The instance answered: whatever the answer, it is alive.
                instances.answered(&addr);
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
            if attempt == attempts {
                break;
            }
            match self.pause(attempt, pushback, deadline) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => break,
            }
        }
        match failed {
            Some((addr, status)) => Err(CallError::Status { addr, status }),
            None => Err(CallError::Status {
                addr: self.callee.clone(),
                status: tonic::Status::deadline_exceeded("the call's deadline passed"),
            }),
        }
    }

    /// One attempt, within its own deadline (the call's, or the per-try timeout if sooner):
    /// its value, or its failure and whether it ran out of time.
    async fn attempt<T>(
        &self,
        call_deadline: tokio::time::Instant,
        call: impl Future<Output = Result<T, tonic::Status>>,
    ) -> Result<T, (tonic::Status, bool)> {
        let per_try = self.settings.per_try_timeout.get();
        let try_deadline = call_deadline.min(tokio::time::Instant::now() + per_try);
        let answered =
            tokio::time::timeout_at(try_deadline, deadline::within(try_deadline, call)).await;
        match answered {
            Ok(Ok(value)) => Ok(value),
            // tonic enforces the request's own timeout too, answering CANCELLED: that is
            // this attempt running out of time.
            Ok(Err(status))
                if status.code() == tonic::Code::Cancelled
                    && tokio::time::Instant::now() + 2 * deadline::DEADLINE_MARGIN
                        >= try_deadline =>
            {
                let message = format!("no answer in time: {}", status.message());
                Err((tonic::Status::deadline_exceeded(message), true))
            }
            Ok(Err(status)) => Err((status, false)),
            Err(_elapsed) => {
                let message = format!("no answer within {per_try:?}");
                Err((tonic::Status::deadline_exceeded(message), true))
            }
        }
    }

    /// How long to wait before retry `attempt` + 1, or `None` when no retry is to be made:
    /// the server said not to, the budget is spent, or the call's deadline would pass.
    fn pause(
        &self,
        attempt: u32,
        pushback: Option<Option<Duration>>,
        deadline: tokio::time::Instant,
    ) -> Option<Duration> {
        if pushback == Some(None) {
            return None;
        }
        if !self.budget().allows_retry() {
            metrics::counter!(THROTTLED_METRIC, "callee" => self.callee.clone()).increment(1);
            return None;
        }
        let wait = match pushback {
            Some(Some(wait)) => wait,
            _ => self.backoff(attempt),
        };
        (tokio::time::Instant::now() + wait < deadline).then_some(wait)
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
