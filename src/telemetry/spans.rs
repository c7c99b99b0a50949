//! Finished calls as spans, kept for the dashboard (issue 31): every call a service answers,
//! over the network or in process, becomes one [`Finished`] span (its trace, its own id,
//! its caller's span, service, endpoint, start, duration, status), taken into a buffer
//! here and written to the trace store in batches by its flusher (`dashboard::store`).
//!
//! Recording is a lock and a push: what is kept is decided first ([`Keep`]), and nothing is
//! recorded until [`install`] is called (`serve` does, unless `traces.keep` is `off`).

use std::{
    cell::OnceCell,
    sync::{
        Arc, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use super::trace_ids::TraceIds;

/// Which finished calls are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Keep {
    /// None: nothing is recorded.
    Off,
    /// Every call.
    #[default]
    All,
    /// Calls that failed, or took at least `traces.slow`.
    ErrorsAndSlow,
    /// A share of the traces (`traces.ratio`), the same ones in every process: whether a
    /// trace is kept follows from its id.
    Ratio,
}

/// What [`install`] keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub keep: Keep,
    /// With [`Keep::Ratio`]: the share of traces kept, 0 to 1.
    pub ratio: f64,
    /// With [`Keep::ErrorsAndSlow`]: a call this long or longer is kept.
    pub slow: Duration,
}

impl Policy {
    fn keeps(&self, trace: u128, elapsed: Duration, code: tonic::Code) -> bool {
        match self.keep {
            Keep::Off => false,
            Keep::All => true,
            Keep::ErrorsAndSlow => code != tonic::Code::Ok || elapsed >= self.slow,
            // The trace id's low half is random: its share of the range is the odds.
            Keep::Ratio => (trace as u64 as f64) < self.ratio * u64::MAX as f64,
        }
    }
}

/// How a call came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Grpc = 0,
    Http = 1,
    /// From another service of the same process, without the network.
    Local = 2,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
            Self::Local => "local",
        }
    }

    pub fn of(n: u8) -> Option<Self> {
        match n {
            0 => Some(Self::Grpc),
            1 => Some(Self::Http),
            2 => Some(Self::Local),
            _ => None,
        }
    }
}

/// One finished call.
#[derive(Debug, Clone)]
pub struct Finished {
    pub trace: u128,
    pub span: u64,
    /// The caller's span; 0 when the call started its trace.
    pub parent: u64,
    pub service: &'static str,
    /// `MetadataService/GetMetadata`, `GET /metadata` ([`intern`]ed).
    pub name: &'static str,
    pub kind: Kind,
    /// Microseconds since the Unix epoch.
    pub start_us: i64,
    pub duration_us: u64,
    pub code: tonic::Code,
}

/// `name` with a static lifetime, made once per distinct name: a span then names its
/// endpoint without an allocation or a reference count shared by every thread.
pub fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<std::collections::HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match names.get(name) {
        Some(known) => known,
        None => {
            let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
            names.insert(leaked);
            leaked
        }
    }
}

/// Past this many spans waiting for the flusher in one thread's buffer (it is stuck: a full
/// disk, say), new ones are dropped and counted rather than kept in memory without bound.
const MAX_WAITING: usize = 200_000;

/// A thread's buffer holding this many spans wakes the flusher before its second is up: a
/// busy process writes smaller batches more often rather than hold a second of spans (and
/// their encoding) in memory.
pub const FLUSH_AT: usize = 8_192;

static FILLED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Returns once a thread's buffer reached [`FLUSH_AT`] since the last time.
pub async fn filled() {
    FILLED.notified().await;
}

/// The spans one thread recorded since the flusher last took them. Each thread pushes to
/// its own, so recording takes a lock no other thread wants (but the flusher's, once a
/// second), and the buffer keeps its capacity from one second to the next.
type Buffer = Arc<Mutex<Vec<Finished>>>;

struct Recorder {
    policy: Policy,
    /// Every thread's buffer; a buffer whose thread ended is dropped once emptied.
    buffers: Mutex<Vec<Buffer>>,
    dropped: AtomicU64,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

thread_local! {
    static BUFFER: OnceCell<Buffer> = const { OnceCell::new() };
}

/// Starts recording finished calls under `policy` (once per process; later calls, and
/// [`Keep::Off`], change nothing). Whether recording is on afterwards.
pub fn install(policy: Policy) -> bool {
    if policy.keep != Keep::Off {
        let _ = RECORDER.set(Recorder {
            policy,
            buffers: Mutex::new(Vec::new()),
            dropped: AtomicU64::new(0),
        });
    }
    RECORDER.get().is_some()
}

/// Whether finished calls are being recorded.
pub fn recording() -> bool {
    RECORDER.get().is_some()
}

/// Records a call of `service`'s `name` that `ids` identify, if it is kept: `parent` is its
/// caller's span (0: none), `elapsed` how long it took.
pub fn record(
    ids: TraceIds,
    parent: u64,
    (service, name, kind): (&'static str, &'static str, Kind),
    elapsed: Duration,
    code: tonic::Code,
) {
    let Some(recorder) = RECORDER.get() else {
        return;
    };
    if !recorder.policy.keeps(ids.trace, elapsed, code) {
        return;
    }
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let duration_us = elapsed.as_micros() as u64;
    let span = Finished {
        trace: ids.trace,
        span: ids.span,
        parent,
        service,
        name,
        kind,
        start_us: now_us.saturating_sub(duration_us as i64),
        duration_us,
        code,
    };
    let pushed = BUFFER.try_with(|cell| {
        let buffer = cell.get_or_init(|| {
            let buffer = Buffer::default();
            recorder
                .buffers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Arc::clone(&buffer));
            buffer
        });
        let mut waiting = buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if waiting.len() < MAX_WAITING {
            waiting.push(span);
            if waiting.len() == FLUSH_AT {
                FILLED.notify_one();
            }
            true
        } else {
            false
        }
    });
    if pushed != Ok(true) {
        recorder.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// The spans recorded since the last call, oldest first, and how many were dropped since
/// the last call because too many waited.
pub fn take() -> (Vec<Finished>, u64) {
    let Some(recorder) = RECORDER.get() else {
        return (Vec::new(), 0);
    };
    let mut buffers = recorder
        .buffers
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut spans = Vec::new();
    for buffer in buffers.iter() {
        let mut waiting = buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if spans.is_empty() {
            // The buffer keeps a capacity of what it held: next second is like this one.
            let capacity = waiting.capacity();
            spans = std::mem::replace(&mut *waiting, Vec::with_capacity(capacity));
        } else {
            spans.append(&mut waiting);
        }
    }
    // A thread that ended left its buffer here alone, now empty.
    buffers.retain(|b| Arc::strong_count(b) > 1);
    drop(buffers);
    spans.sort_by_key(|s| s.start_us);
    (spans, recorder.dropped.swap(0, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_policy_keeps() {
        let policy = |keep| Policy {
            keep,
            ratio: 0.25,
            slow: Duration::from_millis(100),
        };
        let fast = Duration::from_millis(1);
        let slow = Duration::from_millis(100);
        assert!(policy(Keep::All).keeps(1, fast, tonic::Code::Ok));
        assert!(!policy(Keep::Off).keeps(1, slow, tonic::Code::Internal));
        let errors = policy(Keep::ErrorsAndSlow);
        assert!(!errors.keeps(1, fast, tonic::Code::Ok));
        assert!(errors.keeps(1, slow, tonic::Code::Ok));
        assert!(errors.keeps(1, fast, tonic::Code::NotFound));
        // A quarter of random trace ids, give or take.
        let ratio = policy(Keep::Ratio);
        let kept = (0..10_000)
            .filter(|_| ratio.keeps(rand::random(), fast, tonic::Code::Ok))
            .count();
        assert!((2_000..3_000).contains(&kept), "{kept}");
        // The same trace, the same answer.
        let trace = rand::random();
        let first = ratio.keeps(trace, fast, tonic::Code::Ok);
        assert!((0..10).all(|_| ratio.keeps(trace, slow, tonic::Code::Ok) == first));
    }

    #[tokio::test]
    async fn each_threads_spans_are_taken_together_in_start_order_and_a_full_buffer_says_so() {
        assert!(install(Policy {
            keep: Keep::All,
            ratio: 1.0,
            slow: Duration::ZERO,
        }));
        // Other tests may record too: only this test's spans are counted.
        let name = intern("Test/EachThreadsSpans");
        let ours = |spans: Vec<Finished>| -> Vec<Finished> {
            spans.into_iter().filter(|s| s.name == name).collect()
        };
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..1_000u64 {
                        let ids = TraceIds {
                            trace: u128::from(t * 10_000 + i + 1),
                            span: t * 10_000 + i + 1,
                        };
                        let took = Duration::from_micros(1 + (i * 7 + t) % 50);
                        record(
                            ids,
                            0,
                            ("metadata", name, Kind::Grpc),
                            took,
                            tonic::Code::Ok,
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (spans, dropped) = take();
        assert!(spans.windows(2).all(|w| w[0].start_us <= w[1].start_us));
        assert_eq!((ours(spans).len(), dropped), (3_000, 0));
        // The threads ended: their buffers are gone once emptied, and nothing is left.
        assert_eq!(ours(take().0).len(), 0);
        // A buffer reaching FLUSH_AT wakes the flusher.
        let waiting = tokio::spawn(filled());
        for i in 0..FLUSH_AT as u64 {
            let ids = TraceIds {
                trace: 1,
                span: i + 1,
            };
            record(
                ids,
                0,
                ("metadata", name, Kind::Grpc),
                Duration::ZERO,
                tonic::Code::Ok,
            );
        }
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .unwrap();
        assert_eq!(ours(take().0).len(), FLUSH_AT);
    }

    #[test]
    fn a_name_is_interned_once() {
        let a = intern("MetadataService/GetMetadata");
        let b = intern(&String::from("MetadataService/GetMetadata"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "MetadataService/GetMetadata");
    }
}
