//! Prometheus metrics (book chapters 13 and 14). One recorder for the process; every
//! service port serves it at `/metrics` (labels say which service). Every name carries the
//! `movieapp_` prefix, counters end in `_total`, units are in the names, and each has HELP
//! text, so `promtool check metrics` is clean. The per-endpoint ones are kept by
//! [`super::endpoint`], the one layer every call passes through. No id or user value is
//! ever a label. The process' own metrics (`process_cpu_seconds_total`, resident memory,
//! open file descriptors) keep their standard names. See docs/design.md §6.

use std::sync::OnceLock;

use metrics::Unit;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Calls per `service` and `endpoint` (gRPC method, or HTTP method and route).
pub const CALLS: &str = "movieapp_calls_total";
/// Connections accepted per `service` (port).
pub const CONNECTIONS: &str = "movieapp_connections_accepted_total";
/// Calls that succeeded, per `service` and `endpoint`.
pub const SUCCESSES: &str = "movieapp_successes_total";
/// Calls that failed, per `service`, `endpoint` and `error` (the gRPC code, snake_case).
pub const ERRORS: &str = "movieapp_errors_total";
/// How long calls took, per `service` and `endpoint`.
pub const DURATION: &str = "movieapp_request_duration_seconds";
/// Times a service started (the book's `service_started`).
pub const STARTED: &str = "movieapp_service_started_total";
/// 1 while a service is serving.
pub const UP: &str = "movieapp_service_up";
pub const CACHE_HITS: &str = "movieapp_metadata_cache_hits_total";
pub const CACHE_MISSES: &str = "movieapp_metadata_cache_misses_total";
pub const RATING_CACHE_HITS: &str = "movieapp_rating_cache_hits_total";
pub const RATING_CACHE_MISSES: &str = "movieapp_rating_cache_misses_total";
/// Calls under way, per `service`.
pub const IN_FLIGHT: &str = "movieapp_calls_in_flight";
/// 1, labelled with the build (`version`, `commit`) and the process (`pid`, `host`).
pub const BUILD_INFO: &str = "movieapp_build_info";

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

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

/// Installs the process-wide recorder and describes every metric (once; later calls do
/// nothing).
///
/// The recorder keeps each histogram sample until it folds them into buckets, which it
/// does when `/metrics` is rendered or on upkeep: a thread runs upkeep every few seconds,
/// or a `serve` that nobody scrapes would grow by every call's samples (about 2.7 MB/s
/// under load, before this thread).
pub fn install() {
    EXPORTER.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .and_then(|builder| builder.install_recorder())
            .map_err(
                |e| tracing::warn!(error = %e, "metrics are disabled: cannot install the recorder"),
            )
            .ok();
        if let Some(handle) = &handle {
            let handle = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        handle.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start metrics upkeep: memory grows until /metrics is scraped");
            }
        }
        describe();
        // Which process this is, for `movieapp top` and dashboards.
        let build = crate::telemetry::build_info::BUILD;
        metrics::gauge!(
            BUILD_INFO,
            "version" => build.version,
            "commit" => build.commit,
            "pid" => std::process::id().to_string(),
            "host" => crate::telemetry::hostname()
        )
        .set(1.0);
        let process = metrics_process::Collector::default();
        process.describe();
        Exporter { handle, process }
    });
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(CALLS, "Calls received, per service and endpoint.");
    describe_counter!(SUCCESSES, "Calls answered successfully.");
    describe_counter!(ERRORS, "Calls answered with an error, by gRPC code.");
    describe_histogram!(
        DURATION,
        Unit::Seconds,
        "Time from receiving a call to its response headers."
    );
    describe_counter!(STARTED, "Times the service started.");
    describe_gauge!(IN_FLIGHT, "Calls under way, per service.");
    describe_gauge!(
        BUILD_INFO,
        "Always 1: the build (version, commit) and the process (pid, host) serving these metrics."
    );
    describe_counter!(
        CONNECTIONS,
        "Connections accepted on the service's port (calls made in process make none)."
    );
    describe_gauge!(UP, "1 while the service is serving, 0 while stopping.");
    describe_counter!(CACHE_HITS, "Metadata reads answered from the cache.");
    describe_counter!(CACHE_MISSES, "Metadata reads that went to the database.");
    describe_counter!(
        RATING_CACHE_HITS,
        "Rating aggregates answered from the cache."
    );
    describe_counter!(
        RATING_CACHE_MISSES,
        "Rating aggregates computed from the database."
    );
    describe_counter!(
        crate::calls::fallback::FALLBACKS_METRIC,
        "Answers served stale from the last value because a dependency failed."
    );
    crate::feed::ingester::describe_metrics();
    describe_gauge!(
        crate::events::relay::PENDING_METRIC,
        "Change events in the outbox not yet published to their topic."
    );
    describe_gauge!(
        crate::config::features::ENABLED_METRIC,
        "1 while the feature toggle is on, 0 while off."
    );
    crate::discovery::balancer::describe_metrics();
}

/// The Prometheus text exposition of every metric.
pub fn render() -> String {
    match EXPORTER.get() {
        Some(Exporter {
            handle: Some(handle),
            process,
        }) => {
            process.collect();
            precise_cpu(handle.render())
        }
        _ => String::new(),
    }
}

/// The process collector's CPU counter is whole seconds (a counter holds an integer),
/// useless for the CPU a short run costs: its sample is replaced by the time from
/// getrusage, to the microsecond, as Prometheus's own process collectors report it.
fn precise_cpu(text: String) -> String {
    const SAMPLE: &str = "process_cpu_seconds_total ";
    let Some(seconds) = process_cpu_seconds() else {
        return text;
    };
    let Some(start) = text
        .match_indices(SAMPLE)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || text.as_bytes()[at - 1] == b'\n')
    else {
        return text;
    };
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    format!("{}{SAMPLE}{seconds:.6}{}", &text[..start], &text[end..])
}

/// User and system CPU time this process has used, in seconds.
pub fn process_cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given and touches nothing else.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: getrusage returned 0, so it filled the struct.
    let usage = unsafe { usage.assume_init() };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

/// The `error` label of a failure: its gRPC code in snake_case.
pub fn error_label(code: tonic::Code) -> &'static str {
    crate::codes::name(code)
}

/// Marks `service` as started and up.
pub fn service_started(service: &'static str) {
    metrics::counter!(STARTED, "service" => service).increment(1);
    metrics::gauge!(UP, "service" => service).set(1.0);
}

/// Marks `service` as no longer serving.
pub fn service_stopping(service: &'static str) {
    metrics::gauge!(UP, "service" => service).set(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_sample_is_replaced_to_the_microsecond_and_nothing_else_moves() {
        let text = "# HELP process_cpu_seconds_total CPU.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 15\nprocess_open_fds 9\n";
        let out = precise_cpu(text.to_owned());
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(lines[0], "# HELP process_cpu_seconds_total CPU.");
        assert_eq!(lines[1], "# TYPE process_cpu_seconds_total counter");
        let value = lines[2].strip_prefix("process_cpu_seconds_total ").unwrap();
        let (_, fraction) = value.split_once('.').expect("a fraction");
        assert_eq!(fraction.len(), 6, "{value}");
        let seconds: f64 = value.parse().unwrap();
        assert!(seconds > 0.0 && seconds < 15.0, "{seconds}");
        assert_eq!(lines[3], "process_open_fds 9");
        // Nothing to replace: the text is kept as it is.
        assert_eq!(precise_cpu("a 1\n".into()), "a 1\n");
    }
}
