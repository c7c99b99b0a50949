//! Every call's trace id, whether or not traces are exported (W3C Trace Context): each
//! answer carries it in `traceresponse` (level 2), every log line written while serving the
//! call carries it as `trace_id`, and calls made on its behalf send it on in `traceparent`,
//! so one `grep` finds a call's lines across services and processes. When the caller sent
//! `traceparent`, the trace is the caller's.
//!
//! When traces are exported the ids are those of the call's OpenTelemetry span; otherwise
//! they are drawn here, which costs a random number and no span.

use std::{fmt, future::Future};

/// The response header (and gRPC metadata key) that carries the call's trace context.
pub const TRACERESPONSE: &str = "traceresponse";
/// The request header (and gRPC metadata key) that carries the caller's.
pub const TRACEPARENT: &str = "traceparent";

/// A call's place in a trace: the trace, and the call's own span in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceIds {
    pub trace: u128,
    pub span: u64,
}

tokio::task_local! {
    /// The ids of the call being served by this task.
    static CURRENT: TraceIds;
}

impl TraceIds {
    /// A span of the trace `trace`, or of a new trace.
    pub fn new(trace: Option<u128>) -> Self {
        Self {
            trace: trace.unwrap_or_else(|| nonzero(rand::random())),
            span: nonzero(rand::random()),
        }
    }

    /// A new span in the trace of the caller's `traceparent`, if it sent a valid one, else
    /// in a new trace.
    pub fn from_traceparent(value: Option<&[u8]>) -> Self {
        Self::new(value.and_then(|v| parse(v).map(|ids| ids.trace)))
    }

    /// `00-<trace id>-<span id>-01`: the value of `traceparent` and `traceresponse`.
    pub fn header(&self) -> String {
        String::from_utf8_lossy(&self.header_bytes()).into_owned()
    }

    /// [`Self::header`] as bytes, written digit by digit: every call answers with one, and
    /// the formatter costs several times as much.
    pub fn header_bytes(&self) -> [u8; 55] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = *b"00-00000000000000000000000000000000-0000000000000000-01";
        for (i, digit) in out[3..35].iter_mut().enumerate() {
            *digit = HEX[((self.trace >> (124 - 4 * i)) & 0xf) as usize];
        }
        for (i, digit) in out[36..52].iter_mut().enumerate() {
            *digit = HEX[((self.span >> (60 - 4 * i)) & 0xf) as usize];
        }
        out
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id(&self) -> TraceId {
        TraceId(self.trace)
    }

    /// Runs `work` as the call these ids name: its log lines carry the trace id, and calls
    /// it makes send it on.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(self, work).await
    }

    /// `work`, to be spawned, still as part of the call this task is serving (if any).
    pub fn carry<F: Future>(work: F) -> impl Future<Output = F::Output> {
        let ids = Self::current();
        async move {
            match ids {
                Some(ids) => ids.scope(work).await,
                None => work.await,
            }
        }
    }

    /// The ids of the call this task is serving, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(|ids| *ids).ok()
    }
}

/// A trace id, shown as W3C writes it: 32 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceId(pub u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

fn nonzero<T: Default + PartialEq + From<u8>>(n: T) -> T {
    if n == T::default() { T::from(1) } else { n }
}

/// The ids of a `traceparent` or `traceresponse` value (version 00, or a later version's
/// first four fields, as the spec asks); `None` if it is not one. All-zero ids are invalid.
pub fn parse(value: &[u8]) -> Option<TraceIds> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let mut fields = text.split('-');
    let version = fields.next()?;
    let (trace, span, flags) = (fields.next()?, fields.next()?, fields.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    if version == "00" && fields.next().is_some() {
        return None;
    }
    let trace = u128::from_str_radix(trace, 16).ok()?;
    let span = u64::from_str_radix(span, 16).ok()?;
    (trace != 0 && span != 0).then_some(TraceIds { trace, span })
}

/// A log-line formatter that adds ` trace_id=…` to the lines written while serving a call,
/// around tracing-subscriber's own text format.
pub struct WithTraceId {
    plain: tracing_subscriber::fmt::format::Format,
    colored: tracing_subscriber::fmt::format::Format,
}

impl WithTraceId {
    pub fn new() -> Self {
        let format = tracing_subscriber::fmt::format::Format::default();
        Self {
            colored: format.clone().with_ansi(true),
            plain: format.with_ansi(false),
        }
    }
}

impl Default for WithTraceId {
    fn default() -> Self {
        Self::new()
    }
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for WithTraceId
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let format = match writer.has_ansi_escapes() {
            true => &self.colored,
            false => &self.plain,
        };
        let Some(ids) = TraceIds::current() else {
            return format.format_event(ctx, writer, event);
        };
        // The line, then the id before its end.
        let mut line = String::new();
        format.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(writer, "{line} trace_id={}", ids.trace_id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_read_strictly_and_written_as_w3c_says() {
        let ids = parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(ids.trace, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(ids.span, 0x00f067aa0ba902b7);
        assert_eq!(
            ids.header(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        let max = TraceIds {
            trace: u128::MAX,
            span: 1,
        };
        assert_eq!(max.header(), format!("00-{:032x}-{:016x}-01", u128::MAX, 1));
        assert_eq!(
            ids.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        // A later version may add fields.
        assert!(parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_some());
        for bad in [
            "",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
        let continued = TraceIds::from_traceparent(Some(
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ));
        assert_eq!(continued.trace, 0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_ne!(continued.span, 0x00f067aa0ba902b7);
        let fresh = TraceIds::from_traceparent(Some(b"garbage"));
        assert_ne!(fresh.trace, 0);
        assert_ne!(fresh, TraceIds::from_traceparent(None));
    }

    #[tokio::test]
    async fn the_ids_hold_within_their_scope_only() {
        assert_eq!(TraceIds::current(), None);
        let ids = TraceIds::new(None);
        let inside = ids.scope(async { TraceIds::current() }).await;
        assert_eq!(inside, Some(ids));
        assert_eq!(TraceIds::current(), None);
    }
}
