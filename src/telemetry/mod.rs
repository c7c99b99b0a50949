//! Logs and traces, set up once per process.
//!
//! Logs go to stderr (stdout is for command output): text for people, or JSON lines
//! (`--log-format json`) for log pipelines. Every line carries `service` (`metadata`,
//! `rating`, `movie`, or `movieapp` for the process as a whole) and, where they apply,
//! `component` and `endpoint`. They come from spans: a request span per call (see
//! `server::grpc`) and a [`context`] span around each background task.
//!
//! Every call has a trace id ([`trace_ids`]): on its answer (`traceresponse`), on its log
//! lines (`trace_id`), and sent on with the calls it makes.
//!
//! Traces go to an OTLP/gRPC collector when one is configured (`telemetry.otlp.endpoint`
//! or `OTEL_EXPORTER_OTLP_ENDPOINT`); otherwise nothing is exported and no trace context is
//! read or written. [`propagation`] carries W3C trace context across gRPC calls and feed
//! events.

pub mod build_info;
mod export;
pub mod logs;
pub mod propagation;
pub mod spans;
pub mod trace_ids;

use std::{
    io::IsTerminal,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde::{Deserialize, Serialize};
use tracing::{Level, Metadata, Span};
use tracing_subscriber::{
    EnvFilter, Layer, Registry, filter::filter_fn, fmt::time::SystemTime, layer::SubscriberExt,
    util::SubscriberInitExt,
};

/// How log lines are written: `text` for people, `json` for log pipelines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The `log` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// The `telemetry` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub otlp: OtlpSettings,
}

/// Where traces go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpSettings {
    /// An OTLP/gRPC collector, `http://host:port`; none (or empty): no traces are exported.
    #[serde(deserialize_with = "otlp_endpoint")]
    pub endpoint: Option<String>,
}

/// The standard OpenTelemetry variable naming the OTLP endpoint, used when
/// `telemetry.otlp.endpoint` is not set.
pub const OTEL_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

fn otlp_endpoint<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<crate::config::value::Scalar>::deserialize(d)? {
        None => Ok(None),
        Some(text) => check_otlp_endpoint(&text.0).map_err(serde::de::Error::custom),
    }
}

/// An OTLP/gRPC collector address, `http://host:port` (empty: none).
pub fn check_otlp_endpoint(v: &str) -> Result<Option<String>, String> {
    let v = v.trim().trim_end_matches('/');
    if v.is_empty() {
        return Ok(None);
    }
    let expected = || {
        format!(
            "invalid OTLP endpoint {v:?}: expected http://host:port of an OTLP/gRPC collector, e.g. http://127.0.0.1:4317"
        )
    };
    if v.starts_with("https://") {
        return Err(format!(
            "invalid OTLP endpoint {v:?}: https is not supported; send to a local collector over http://host:port"
        ));
    }
    let rest = v.strip_prefix("http://").ok_or_else(expected)?;
    crate::config::value::HostPort::check(rest).map_err(|_| expected())?;
    Ok(Some(v.to_owned()))
}

/// Target of the spans that only give log lines their context (`service`, `component`).
/// They live as long as a task and are never exported as trace spans.
pub const CONTEXT: &str = "movieapp::context";

/// The value of `service` on lines about the whole process rather than one service.
pub const PROCESS: &str = "movieapp";

/// How long one export to the collector may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// What to set up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// `--log-level`: a level or filter; `None` falls back to `RUST_LOG`, then the default.
    pub level: Option<String>,
    pub default_level: &'static str,
    pub format: LogFormat,
    /// An OTLP/gRPC collector, `http://host:port`; `None` exports nothing.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` traces are reported under, unless `OTEL_SERVICE_NAME` is set.
    pub service_name: String,
    /// Keep the recent log lines in memory too ([`logs`]), for `/debug/logs`.
    pub keep_logs: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "invalid {origin} {level:?}: {reason}; expected error, warn, info, debug, trace or a filter such as movieapp=debug"
    )]
    Level {
        origin: &'static str,
        level: String,
        reason: String,
    },
    #[error("cannot set up trace export to {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

static EXPORTING: AtomicBool = AtomicBool::new(false);

/// This host's name (`/proc/sys/kernel/hostname`), or `localhost` when it cannot be read:
/// who holds a lock, which process `movieapp top` shows.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// This process as the dashboard names it: `pid@host`.
pub fn process() -> String {
    format!("{}@{}", std::process::id(), hostname())
}

/// True when traces are exported, so trace context is worth reading and writing.
pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Lets a repeated complaint through once per period: the first time, then again only when
/// the period has passed (the rest go to debug). For failures that retry every second.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    period: Duration,
    last: Option<std::time::Instant>,
}

impl Throttle {
    /// Once a minute.
    pub const fn per_minute() -> Self {
        Self {
            period: Duration::from_secs(60),
            last: None,
        }
    }

    /// True when this complaint is to be logged loudly (and counts as logged now).
    pub fn ready(&mut self) -> bool {
        if self.last.is_some_and(|at| at.elapsed() < self.period) {
            return false;
        }
        self.last = Some(std::time::Instant::now());
        true
    }

    /// Forgets the last complaint: the next one is logged loudly.
    pub fn reset(&mut self) {
        self.last = None;
    }
}

/// Checks a level or filter before tracing-subscriber reads it: each comma-separated part
/// is a level, or `target=level`. A bare word that is not a level (`verbose`) would be read
/// as a target at the most verbose level; it is a mistake, not a filter.
fn check_filter(filter: &str) -> Result<(), String> {
    let level = |s: &str| {
        s.trim()
            .parse::<tracing_subscriber::filter::LevelFilter>()
            .is_ok()
    };
    for part in filter.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.rsplit_once('=') {
            Some((target, lvl)) if !target.trim().is_empty() && level(lvl) => {}
            Some(_) => return Err(format!("{part:?} is not target=level")),
            None if level(part) => {}
            None => return Err(format!("{part:?} is not a level")),
        }
    }
    Ok(())
}

/// Keeps the trace pipeline; [`Telemetry::shutdown`] sends what is buffered.
#[must_use = "call shutdown() before exiting, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes buffered spans to the collector and stops exporting.
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            // The flush blocks on exports that run on this runtime: not on a worker thread.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Installs the process's subscriber: the log layer and, with an endpoint, the trace
/// exporter. Must run inside the Tokio runtime (the exporter's channel lives there). A
/// second call (tests calling into commands) keeps the first subscriber.
pub fn init(settings: &Setup) -> Result<Telemetry, TelemetryError> {
    let from_env = std::env::var(EnvFilter::DEFAULT_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty());
    let parse = |origin: &'static str, level: &str| {
        check_filter(level)
            .and_then(|()| EnvFilter::try_new(level).map_err(|e| e.to_string()))
            .map_err(|reason| TelemetryError::Level {
                origin,
                level: level.to_owned(),
                reason,
            })
    };
    let filter_again = || match (&settings.level, &from_env) {
        (Some(level), _) => parse("--log-level", level),
        (None, Some(level)) => parse(EnvFilter::DEFAULT_ENV, level),
        (None, None) => Ok(EnvFilter::new(settings.default_level)),
    };
    let filter = filter_again()?;
    // The lines kept in memory for /debug/logs: the same filter, as JSON.
    if settings.keep_logs {
        logs::install();
    }
    let (installed, provider) = match &settings.otlp_endpoint {
        // Logs only: the filter applies to the whole subscriber, so disabled spans and
        // events cost nothing at all.
        None => {
            let installed = tracing_subscriber::registry()
                .with(log_layer(settings.format))
                .with(settings.keep_logs.then(|| json_layer(logs::MakeLineWriter)))
                .with(filter)
                .try_init();
            (installed, None)
        }
        // Logs and traces: each has its own filter, as traces want spans the log omits.
        Some(endpoint) => {
            let provider = export::provider(endpoint, &settings.service_name, EXPORT_TIMEOUT)
                .map_err(|reason| TelemetryError::Exporter {
                    endpoint: endpoint.clone(),
                    reason,
                })?;
            let traces = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("movieapp"))
                .with_location(false)
                // Per poll or per span, these cost a clock read, a context switch-over or an
                // allocation, and say little here: parents come from the span tree.
                .with_tracked_inactivity(false)
                .with_threads(false)
                .with_target(false)
                .with_context_activation(false)
                .with_filter(filter_fn(exported));
            let kept = match settings.keep_logs {
                true => Some(json_layer(logs::MakeLineWriter).with_filter(filter_again()?)),
                false => None,
            };
            let installed = tracing_subscriber::registry()
                .with(log_layer(settings.format).with_filter(filter))
                .with(traces)
                .with(kept)
                .try_init();
            (installed, Some(provider))
        }
    };
    if installed.is_err() {
        return Ok(Telemetry { provider });
    }
    if let Some(endpoint) = &settings.otlp_endpoint {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        EXPORTING.store(true, Ordering::Relaxed);
        tracing::debug!(collector = %endpoint, "exporting traces");
    }
    Ok(Telemetry { provider })
}

fn log_layer(format: LogFormat) -> Box<dyn Layer<Registry> + Send + Sync> {
    match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .event_format(trace_ids::WithTraceId::new())
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => json_layer(std::io::stderr).boxed(),
    }
}

/// One JSON object per line: time, level, target, message, the event's fields and those of
/// every span it is in, flattened. A line outside any span (a library's own thread, say) is
/// about the process: `service` is [`PROCESS`].
fn json_layer<S, W>(writer: W) -> json_subscriber::JsonLayer<S, W>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let mut layer = json_subscriber::JsonLayer::new(writer);
    layer
        .with_timer("timestamp", SystemTime)
        .with_level("level")
        .with_target("target")
        .with_flattened_event()
        .with_top_level_flattened_span_list()
        .with_opentelemetry_ids(true);
    layer.add_multiple_dynamic_fields(|event, context, fields| {
        if context.event_scope(event).is_none() {
            let _ = fields.write_field("service", PROCESS);
        }
        if let Some(ids) = trace_ids::TraceIds::current() {
            let _ = fields.write_field("trace_id", ids.trace_id().to_string());
        }
    });
    layer
}

/// What becomes part of a trace: movieapp's spans (not the [`CONTEXT`] ones) down to debug
/// level, and warnings and errors as span events.
fn exported(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target().starts_with("movieapp")
            && meta.target() != CONTEXT
            && *meta.level() <= Level::DEBUG
    } else {
        *meta.level() <= Level::WARN
    }
}

/// A span that gives the log lines of a long-running task their `service` and `component`.
/// At error level, so it exists whatever the log level.
pub fn context(service: &str, component: &'static str) -> Span {
    tracing::error_span!(target: CONTEXT, parent: None, "task", service, component)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[test]
    fn a_throttle_lets_one_through_per_period() {
        let mut t = Throttle::per_minute();
        assert!(t.ready());
        assert!(!t.ready());
        t.reset();
        assert!(t.ready());
    }

    #[test]
    fn filters_are_levels_or_target_level() {
        for good in [
            "info",
            "WARN",
            "debug,movieapp::requests=debug",
            "movieapp=trace",
            "off",
        ] {
            assert!(check_filter(good).is_ok(), "{good}");
        }
        for bad in [
            "verbose",
            "info,loud",
            "movieapp=loudest",
            "=info",
            "movieapp::requests",
        ] {
            assert!(check_filter(bad).is_err(), "{bad}");
        }
    }

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut buffer) = self.0.lock() {
                buffer.extend_from_slice(bytes);
            }
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl MakeWriter<'_> for Captured {
        type Writer = Self;

        fn make_writer(&self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn every_json_line_has_exactly_one_service() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(json_layer(captured.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!("outside any span");
            context("rating", "ingester").in_scope(|| {
                let request = tracing::error_span!("request", endpoint = "GetMovieDetails");
                request.in_scope(|| tracing::warn!(instance = "x", "inside"));
            });
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in &lines {
            assert_eq!(line.matches("\"service\"").count(), 1, "{line}");
        }
        let outside: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(outside["service"], PROCESS);
        let inside: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(inside["service"], "rating");
        assert_eq!(inside["component"], "ingester");
        assert_eq!(inside["endpoint"], "GetMovieDetails");
        assert_eq!(inside["instance"], "x");
    }
}
