//! W3C trace context (`traceparent`, `tracestate`) in and out of gRPC metadata, HTTP
//! headers and feed records. Everything here does nothing unless traces are exported.

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector},
    trace::{SpanContext, TraceContextExt},
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::exporting;

/// Makes `span` continue the trace whose context the caller sent in `headers`, if any.
pub fn continue_trace(span: &Span, headers: &http::HeaderMap) {
    if !exporting() {
        return;
    }
    let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers)));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The trace and span ids of `span` (exported traces only); `None` if it has none.
pub fn ids_of(span: &Span) -> Option<super::trace_ids::TraceIds> {
    let cx = span.context();
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then(|| super::trace_ids::TraceIds {
        trace: u128::from_be_bytes(span_context.trace_id().to_bytes()),
        span: u64::from_be_bytes(span_context.span_id().to_bytes()),
    })
}

/// Adds the current span's trace context to an outgoing gRPC request; when traces are not
/// exported, the trace id of the call being served ([`super::trace_ids`]), so the callee's
/// log lines carry it too.
pub fn inject<T>(request: &mut tonic::Request<T>) {
    if !exporting() {
        if let Some(ids) = super::trace_ids::TraceIds::current()
            && let Ok(value) = ids.header().parse()
        {
            request
                .metadata_mut()
                .insert(super::trace_ids::TRACEPARENT, value);
        }
        return;
    }
    let cx = Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| {
        p.inject_context(&cx, &mut Metadata(request.metadata_mut()))
    });
}

/// The current span's trace context as record headers; empty when not exporting.
pub fn current_headers() -> Vec<(String, String)> {
    let mut headers = Vec::new();
    if exporting() {
        let cx = Span::current().context();
        opentelemetry::global::get_text_map_propagator(|p| {
            p.inject_context(&cx, &mut NewHeaders(&mut headers))
        });
    }
    headers
}

/// The trace context a record's headers carry, if any.
pub fn from_headers(headers: &[(String, String)]) -> Option<SpanContext> {
    if !exporting() || headers.is_empty() {
        return None;
    }
    let cx: Context =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&RecordHeaders(headers)));
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Metadata<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for Metadata<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct RecordHeaders<'a>(&'a [(String, String)]);

impl Extractor for RecordHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct NewHeaders<'a>(&'a mut Vec<(String, String)>);

impl Injector for NewHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}
