//! The OTLP/gRPC trace exporter.
//!
//! OpenTelemetry's batch processor exports from its own thread, outside any Tokio runtime,
//! but the gRPC exporter needs one: [`OnRuntime`] runs each export on the process's runtime.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SdkTracerProvider, SpanData, SpanExporter},
};

/// A failed export is logged at most this often.
const WARN_EVERY_SECS: u64 = 60;

/// A tracer provider that batches spans and sends them to `endpoint`.
pub fn provider(
    endpoint: &str,
    service_name: &str,
    timeout: Duration,
) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| "trace export needs the Tokio runtime".to_owned())?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service_name.to_owned());
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(OnRuntime {
            inner: Arc::new(exporter),
            runtime,
            endpoint: endpoint.to_owned(),
            last_warning: AtomicU64::new(0),
        })
        .build())
}

#[derive(Debug)]
struct OnRuntime {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Handle,
    endpoint: String,
    /// When a failed export was last logged, in seconds since the epoch.
    last_warning: AtomicU64,
}

impl OnRuntime {
    /// Logs a failed export, but not more than once a minute: a collector that is down
    /// must not flood the log.
    fn warn(&self, error: &OTelSdkError) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.last_warning.load(Ordering::Relaxed);
        if now >= last + WARN_EVERY_SECS
            && self
                .last_warning
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let _context = super::context(super::PROCESS, "traces").entered();
            tracing::warn!(collector = %self.endpoint, %error, "cannot export traces; spans are being dropped");
        }
    }
}

impl SpanExporter for OnRuntime {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let inner = Arc::clone(&self.inner);
        let result = match self
            .runtime
            .spawn(async move { inner.export(batch).await })
            .await
        {
            Ok(result) => result,
            Err(e) => Err(OTelSdkError::InternalFailure(e.to_string())),
        };
        if let Err(e) = &result {
            self.warn(e);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}
