//! A load generator, like ghz (`movieapp bench-load`): one call repeated against one
//! address, closed-loop (connections × streams, each sending its next call when the last
//! answered) or open-loop (a fixed rate, latency measured from when each call was meant to
//! be sent, so a stalled server shows as the wait it caused: coordinated omission
//! corrected). Latencies go into an HdrHistogram; errors are counted by gRPC code.

mod grpc;
pub mod request;

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use hdrhistogram::Histogram;
use tokio::time::Instant;

use request::HttpCall;
pub use request::{Call, RequestError};

/// The largest latency recorded, in µs (an hour); longer ones count as this.
const MAX_MICROS: u64 = 3_600_000_000;
/// Calls in flight at once in an open-loop run, past which sending waits (and the wait
/// counts in the latency).
const OPEN_LOOP_IN_FLIGHT: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    Duration(Duration),
    Calls(u64),
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub call: Call,
    /// `host:port`.
    pub target: String,
    pub tls: Option<crate::tls::ClientTls>,
    /// Sent as `authorization: Bearer …`.
    pub token: Option<String>,
    pub connections: usize,
    /// Calls in flight on each connection (closed loop).
    pub streams: usize,
    /// Calls per second (open loop); `None`: closed loop.
    pub rate: Option<f64>,
    pub bound: Bound,
    /// How long one call may take.
    pub timeout: Duration,
}

/// What a run measured.
#[derive(Debug)]
pub struct Report {
    pub call: String,
    pub ok: u64,
    /// Failed calls by gRPC code (snake_case, as in the metrics), HTTP statuses mapped as
    /// the error table does.
    pub errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Latency in µs, of every call.
    pub latency: Histogram<u64>,
    /// The target's CPU seconds over the run, when it serves `/metrics`.
    pub server_cpu: Option<f64>,
}

impl Report {
    pub fn calls(&self) -> u64 {
        self.ok + self.errors.values().sum::<u64>()
    }

    pub fn calls_per_second(&self) -> f64 {
        self.calls() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q`, in ms.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The target's CPU time per call, in µs.
    pub fn server_cpu_per_call_us(&self) -> Option<f64> {
        let calls = self.calls();
        self.server_cpu
            .filter(|_| calls > 0)
            .map(|s| s * 1e6 / calls as f64)
    }
}

/// Outcomes, kept per worker and merged at the end.
struct Stats {
    ok: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
}

impl Stats {
    fn new() -> Self {
        Self {
            ok: 0,
            errors: BTreeMap::new(),
            // Three significant figures from 1 µs to an hour: a fixed, small table.
            latency: Histogram::new_with_bounds(1, MAX_MICROS, 3)
                .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!())),
        }
    }

    fn record(&mut self, took: Duration, outcome: Result<(), tonic::Code>) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(MAX_MICROS);
        self.latency.saturating_record(micros.clamp(1, MAX_MICROS));
        match outcome {
            Ok(()) => self.ok += 1,
            Err(code) => {
                *self
                    .errors
                    .entry(crate::codes::name(code).to_owned())
                    .or_default() += 1
            }
        }
    }

    fn merge(&mut self, other: Stats) {
        self.ok += other.ok;
        for (code, n) in other.errors {
            *self.errors.entry(code).or_default() += n;
        }
        // Same bounds: adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }
}

/// One connection's way of sending the call.
#[derive(Clone)]
enum Sender {
    Grpc(grpc::Connection),
    Http {
        client: reqwest::Client,
        /// `http://host:port`, to which each call adds its path.
        base: String,
        call: HttpCall,
        token: Option<String>,
    },
}

impl Sender {
    async fn send(&mut self) -> Result<(), tonic::Code> {
        match self {
            Self::Grpc(connection) => connection.call().await,
            Self::Http {
                client,
                base,
                call,
                token,
            } => {
                let url = format!("{base}{}", call.next_path());
                let mut request = client.request(call.method.clone(), url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.map_err(|e| {
                    if e.is_timeout() {
                        tonic::Code::DeadlineExceeded
                    } else {
                        tonic::Code::Unavailable
                    }
                })?;
                let status = response.status();
                // The body is read, so the connection is reused.
                let _ = response.bytes().await;
                match crate::codes::of_http(status) {
                    tonic::Code::Ok => Ok(()),
                    code => Err(code),
                }
            }
        }
    }
}

/// Opens the plan's connections: each is made now, so a wrong address fails at once.
async fn connect(plan: &Plan) -> Result<Vec<Sender>, LoadError> {
    let scheme = crate::tls::scheme(plan.tls.as_ref());
    let failed = |reason: String| LoadError::Connect {
        target: plan.target.clone(),
        reason,
    };
    let mut senders = Vec::with_capacity(plan.connections);
    for _ in 0..plan.connections {
        let sender = match &plan.call {
            Call::Grpc(call) => {
                let options = grpc::Options {
                    target: &plan.target,
                    tls: plan.tls.as_ref(),
                    token: plan.token.as_deref(),
                    timeout: plan.timeout,
                };
                Sender::Grpc(
                    grpc::Connection::open(call, &options)
                        .await
                        .map_err(failed)?,
                )
            }
            Call::Http(call) => {
                let mut builder = reqwest::Client::builder()
                    .timeout(plan.timeout)
                    .pool_max_idle_per_host(plan.streams.max(1));
                if let Some(tls) = &plan.tls {
                    builder = builder.use_preconfigured_tls(tls.rustls()?);
                }
                Sender::Http {
                    client: builder.build().map_err(|e| failed(e.to_string()))?,
                    base: format!("{scheme}://{}", plan.target),
                    call: call.clone(),
                    token: plan.token.clone(),
                }
            }
        };
        senders.push(sender);
    }
    Ok(senders)
}

/// Runs `plan`; `done` counts the calls answered so far, for a progress display.
pub async fn run(plan: &Plan, done: Arc<AtomicU64>) -> Result<Report, LoadError> {
    let senders = connect(plan).await?;
    let started = Instant::now();
    let end = match plan.bound {
        Bound::Duration(d) => Some(started + d),
        Bound::Calls(_) => None,
    };
    let limit = match plan.bound {
        Bound::Calls(n) => n,
        Bound::Duration(_) => u64::MAX,
    };
    let stats = match plan.rate {
        None => closed_loop(plan, &senders, end, limit, &done).await,
        Some(rate) => open_loop(&senders, rate, started, end, limit, &done).await,
    };
    Ok(Report {
        call: plan.call.name().to_owned(),
        ok: stats.ok,
        errors: stats.errors,
        elapsed: started.elapsed(),
        latency: stats.latency,
        server_cpu: None,
    })
}

/// `connections × streams` workers, each sending its next call when the last answered.
async fn closed_loop(
    plan: &Plan,
    senders: &[Sender],
    end: Option<Instant>,
    limit: u64,
    done: &Arc<AtomicU64>,
) -> Stats {
    let issued = Arc::new(AtomicU64::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for sender in senders {
        for _ in 0..plan.streams.max(1) {
            let (mut sender, issued, done) =
                (sender.clone(), Arc::clone(&issued), Arc::clone(done));
            workers.spawn(async move {
                let mut stats = Stats::new();
                while issued.fetch_add(1, Ordering::Relaxed) < limit
                    && end.is_none_or(|end| Instant::now() < end)
                {
                    let sent = Instant::now();
                    let outcome = sender.send().await;
                    stats.record(sent.elapsed(), outcome);
                    done.fetch_add(1, Ordering::Relaxed);
                }
                stats
            });
        }
    }
    let mut total = Stats::new();
    while let Some(joined) = workers.join_next().await {
        if let Ok(stats) = joined {
            total.merge(stats);
        }
    }
    total
}

/// Calls sent at `rate` per second, on the connections in turn, each timed from when it
/// was meant to be sent.
async fn open_loop(
    senders: &[Sender],
    rate: f64,
    started: Instant,
    end: Option<Instant>,
    limit: u64,
    done: &Arc<AtomicU64>,
) -> Stats {
    let stats = Arc::new(Mutex::new(Stats::new()));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(OPEN_LOOP_IN_FLIGHT));
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut calls = tokio::task::JoinSet::new();
    let mut k: u64 = 0;
    while k < limit {
        let intended = started + interval.mul_f64(k as f64);
        if end.is_some_and(|end| intended >= end) {
            break;
        }
        tokio::time::sleep_until(intended).await;
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            break;
        };
        let mut sender = senders[(k % senders.len() as u64) as usize].clone();
        let (stats, done) = (Arc::clone(&stats), Arc::clone(done));
        calls.spawn(async move {
            let outcome = sender.send().await;
            stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .record(intended.elapsed(), outcome);
            done.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
        // Reap finished calls as we go, so the set stays small.
        while calls.try_join_next().is_some() {}
        k += 1;
    }
    while calls.join_next().await.is_some() {}
    let mut stats = stats.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::replace(&mut *stats, Stats::new())
}

/// The CPU seconds the process serving `base` (`http://host:port`) has used, from its
/// `/metrics`; `None` when it serves none.
pub async fn server_cpu_seconds(client: &reqwest::Client, base: &str) -> Option<f64> {
    let text = client
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?
        .error_for_status()
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("process_cpu_seconds_total "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_merge_counts_and_latencies() {
        let mut a = Stats::new();
        a.record(Duration::from_millis(1), Ok(()));
        a.record(Duration::from_millis(3), Err(tonic::Code::Unavailable));
        let mut b = Stats::new();
        b.record(Duration::from_millis(2), Ok(()));
        b.record(Duration::from_secs(7200), Err(tonic::Code::Unavailable));
        a.merge(b);
        assert_eq!(a.ok, 2);
        assert_eq!(a.errors["unavailable"], 2);
        assert_eq!(a.latency.len(), 4);
        assert!(
            a.latency.max() >= MAX_MICROS - MAX_MICROS / 1000,
            "clamped to an hour"
        );
        let report = Report {
            call: "x".into(),
            ok: a.ok,
            errors: a.errors,
            elapsed: Duration::from_secs(2),
            latency: a.latency,
            server_cpu: Some(0.004),
        };
        assert_eq!(report.calls(), 4);
        assert_eq!(report.calls_per_second(), 2.0);
        assert_eq!(report.server_cpu_per_call_us(), Some(1000.0));
    }
}
