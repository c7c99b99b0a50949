//! Prometheus metrics (book chapters 13 and 14, on every endpoint). One recorder for the
//! process; every service port serves it at `/metrics` (labels say which service).
//!
//! Per endpoint (gRPC method or HTTP route), labelled `service` and `endpoint`:
//! `calls_total`, `successes_total`, `errors_total{error="not_found|invalid_argument|…"}`
//! and the histogram `request_duration_seconds`. Per service: `service_started` (a counter,
//! the book's) and `service_up` (1 while serving). Also `metadata_cache_hits_total`,
//! `metadata_cache_misses_total`, `feed_events_applied_total`,
//! `feed_events_dead_lettered_total`, `feed_lag` and the process' own (resident memory,
//! open file descriptors, CPU seconds). No id or user value is ever a label.

use std::{future::Future, sync::OnceLock, time::Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::ServiceError;

/// Latency buckets, in seconds: 100 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

struct Exporter {
    handle: Option<PrometheusHandle>,
    process: metrics_process::Collector,
}

static EXPORTER: OnceLock<Exporter> = OnceLock::new();

/// Installs the process-wide recorder (once; later calls do nothing).
pub fn install() {
    EXPORTER.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(
                |e| tracing::warn!(error = %e, "metrics are disabled: cannot install the recorder"),
            )
            .ok();
        let process = metrics_process::Collector::default();
        process.describe();
        Exporter { handle, process }
    });
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    match EXPORTER.get() {
        Some(Exporter {
            handle: Some(handle),
            process,
        }) => {
            process.collect();
            handle.render()
        }
        _ => String::new(),
    }
}

/// The `error` label of a failure.
pub trait ErrorLabel {
    fn error_label(&self) -> &'static str;
}

impl ErrorLabel for ServiceError {
    fn error_label(&self) -> &'static str {
        match self {
            ServiceError::InvalidArgument(_) => "invalid_argument",
            ServiceError::NotFound(_) => "not_found",
            ServiceError::Unavailable(_) => "unavailable",
            ServiceError::DeadlineExceeded(_) => "deadline_exceeded",
            ServiceError::Internal(_) => "internal",
        }
    }
}

impl ErrorLabel for tonic::Status {
    fn error_label(&self) -> &'static str {
        use tonic::Code;
        match self.code() {
            Code::InvalidArgument => "invalid_argument",
            Code::NotFound => "not_found",
            Code::Unavailable => "unavailable",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::Unauthenticated => "unauthenticated",
            Code::ResourceExhausted => "resource_exhausted",
            _ => "internal",
        }
    }
}

/// Runs one call of `endpoint` of `service`, counting it and timing it.
pub async fn track<T, E: ErrorLabel>(
    service: &'static str,
    endpoint: &'static str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let result = call.await;
    let labels = [("service", service), ("endpoint", endpoint)];
    metrics::counter!("calls_total", &labels).increment(1);
    match &result {
        Ok(_) => metrics::counter!("successes_total", &labels).increment(1),
        Err(e) => metrics::counter!(
            "errors_total",
            "service" => service,
            "endpoint" => endpoint,
            "error" => e.error_label()
        )
        .increment(1),
    }
    metrics::histogram!("request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    result
}

/// Marks `service` as started and up (`service_started`, `service_up`).
pub fn service_started(service: &'static str) {
    metrics::counter!("service_started", "service" => service).increment(1);
    metrics::gauge!("service_up", "service" => service).set(1.0);
}

/// Marks `service` as no longer serving.
pub fn service_stopping(service: &'static str) {
    metrics::gauge!("service_up", "service" => service).set(0.0);
}
