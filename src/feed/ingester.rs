//! The consumer of the rating feed (book ch. 6), which the rating service runs beside gRPC
//! (the book's first version blocked start-up instead).
//!
//! Each round: poll a batch, decode and validate every event, apply the valid ones in one
//! transaction, send the others to the dead-letter topic with the reason, and only then
//! commit the offsets. Rounds overlap: while a batch is applied, the offsets of the one
//! before are committed and the next one is read. A crash before the commit redelivers the
//! batch, which is harmless: a put sets and a delete removes (at-least-once, idempotent). A
//! failed apply is retried, never skipped; a bad event never stalls the feed.

use std::{
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use opentelemetry::{
    Context,
    trace::{SpanContext, TraceContextExt},
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{DLQ_TOPIC, RatingEvent};
use crate::{
    broker::{Broker, BrokerError, Consumer, Message, Record, total_lag},
    model::RatingChange,
    telemetry::{Throttle, propagation},
};

/// Rating events applied from the feed.
pub const APPLIED_METRIC: &str = "movieapp_feed_events_applied_total";
/// Rating events sent to the dead-letter topic.
pub const DEAD_LETTERED_METRIC: &str = "movieapp_feed_events_dead_lettered_total";
/// Events in the feed not yet applied by the consumer group.
pub const LAG_METRIC: &str = "movieapp_feed_lag_events";

/// Describes the feed's metrics to the recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(APPLIED_METRIC, "Rating events applied from the feed.");
    metrics::describe_counter!(
        DEAD_LETTERED_METRIC,
        "Rating events sent to the dead-letter topic."
    );
    metrics::describe_gauge!(
        LAG_METRIC,
        "Events in the feed not yet applied by the consumer group."
    );
}

/// Where the ingester applies changes: the rating service.
pub trait Apply: Send + Sync + 'static {
    type Error: std::fmt::Display;

    /// Applies a batch of changes in order, all or none. Idempotent: a redelivered batch
    /// changes nothing.
    fn apply(
        &self,
        changes: Arc<[RatingChange]>,
    ) -> impl std::future::Future<Output = Result<(), Self::Error>> + Send;
}

/// Events applied per transaction at most.
pub const BATCH: usize = 5_000;
/// How long a poll waits for new events.
const POLL_WAIT: Duration = Duration::from_millis(200);
/// How long to wait before retrying after a failure.
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// Links a batch's span keeps to the traces of its events, at most.
const MAX_LINKS: usize = 128;
/// How often an idle ingester checks that its broker answers, and reports the lag.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How often progress is logged while events flow.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Counters the ingester keeps, for logs and status, and what keeps it from consuming.
#[derive(Debug)]
pub struct IngestStats {
    pub applied: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Why the feed is not being consumed right now; `None` while it is.
    problem: Mutex<Option<String>>,
}

impl Default for IngestStats {
    fn default() -> Self {
        Self {
            applied: AtomicU64::default(),
            dead_lettered: AtomicU64::default(),
            // Ready while it starts and joins: a failure to join says so (in seconds).
            problem: Mutex::new(None),
        }
    }
}

impl IngestStats {
    /// Why the feed is not being consumed right now (for readiness); `None` while it is.
    pub fn problem(&self) -> Option<String> {
        self.problem
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_problem(&self, problem: Option<String>) {
        *self.problem.lock().unwrap_or_else(PoisonError::into_inner) = problem;
    }
}

/// A streak of failures, logged at warn once a minute, the rest at debug, and its end at
/// info: a broker that is down does not flood the log.
struct Trouble {
    since: Option<Instant>,
    warnings: Throttle,
}

impl Default for Trouble {
    fn default() -> Self {
        Self {
            since: None,
            warnings: Throttle::per_minute(),
        }
    }
}

impl Trouble {
    fn failed(&mut self, why: &str) {
        self.since.get_or_insert_with(Instant::now);
        if self.warnings.ready() {
            tracing::warn!("{why}; retrying");
        } else {
            tracing::debug!("{why}; retrying");
        }
    }

    fn recovered(&mut self, what: &str) {
        if let Some(since) = self.since.take() {
            tracing::info!(after = ?since.elapsed(), "{what} again");
        }
        self.warnings.reset();
    }
}

/// A dead letter: the message that could not be applied, and why.
#[derive(Debug, Serialize)]
struct DeadLetter<'a> {
    reason: &'a str,
    topic: &'a str,
    partition: u32,
    offset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    /// The original payload, as text (invalid UTF-8 replaced).
    payload: String,
}

pub struct Ingester<A> {
    target: Arc<A>,
    broker: Arc<dyn Broker>,
    topic: String,
    group: String,
    pub stats: Arc<IngestStats>,
}

impl<A: Apply> Ingester<A> {
    pub fn new(target: Arc<A>, broker: Arc<dyn Broker>, topic: &str, group: &str) -> Self {
        Self {
            target,
            broker,
            topic: topic.to_owned(),
            group: group.to_owned(),
            stats: Arc::default(),
        }
    }

    /// Consumes until `stop` turns true. Failures are logged and retried; it returns only
    /// when asked to stop. `stats.running` is true for as long as it runs.
    pub async fn run(self, stop: CancellationToken) {
        let broker = self.broker.describe();
        tracing::info!(topic = %self.topic, group = %self.group, %broker, "consuming the rating feed");
        // The topic's counters exist from the start, at 0: "none yet" is not "not reported".
        metrics::counter!(APPLIED_METRIC, "topic" => self.topic.clone()).increment(0);
        metrics::counter!(DEAD_LETTERED_METRIC, "topic" => self.topic.clone()).increment(0);
        let mut trouble = Trouble::default();
        let Some(mut consumer) = self.join(&stop, &mut trouble).await else {
            return self.stopped();
        };
        trouble.recovered("joined the rating feed");
        self.stats.set_problem(None);
        self.report_lag().await;
        let mut last_report = Instant::now();
        let mut last_check = Instant::now();
        let mut applied_since = 0u64;
        // Positions of the batch applied last, committed while the next one is applied.
        let mut uncommitted: Option<Vec<(u32, u64)>> = None;
        // The batch read while the last one was applied, if any.
        let mut prefetched = None;
        loop {
            let polled = match prefetched.take() {
                Some(polled) => polled,
                None => match self.next_batch(consumer.as_mut(), POLL_WAIT, &stop).await {
                    Some(polled) => polled,
                    None => break,
                },
            };
            let batch = match polled {
                Ok(batch) => batch,
                Err(e) => {
                    self.failed(&mut trouble, format!("cannot read the rating feed: {e}"));
                    if stopped_within(&stop, RETRY_AFTER).await {
                        break;
                    }
                    continue;
                }
            };
            if batch.messages.is_empty() {
                if let Some(positions) = uncommitted.take() {
                    commit(consumer.as_mut(), &positions).await;
                }
                if last_check.elapsed() >= CHECK_EVERY {
                    last_check = Instant::now();
                    if !self.check(&stop, &mut trouble).await {
                        break;
                    }
                }
                continue;
            }
            trouble.recovered("reading the rating feed");
            self.stats.set_problem(None);
            // Pipelined: while this batch is applied, the one before is committed and the
            // next one read and decoded (without waiting: when the feed is drained, this
            // batch is committed at once, above).
            let span = batch_span(&self.topic, &batch.messages);
            let apply = self.ingest(&batch, &stop).instrument(span);
            let previous = uncommitted.take();
            let next = async {
                if let Some(positions) = previous {
                    commit(consumer.as_mut(), &positions).await;
                }
                self.next_batch(consumer.as_mut(), Duration::ZERO, &stop)
                    .await
            };
            let (applied, next) = tokio::join!(apply, next);
            let Some(applied) = applied else {
                // Stopped before this batch was applied: it will be redelivered.
                break;
            };
            applied_since += applied;
            uncommitted = Some(next_positions(&batch.messages));
            let Some(next) = next else {
                break;
            };
            prefetched = Some(next);
            if last_report.elapsed() >= PROGRESS_EVERY {
                self.report_lag().await;
                let rate = applied_since as f64 / last_report.elapsed().as_secs_f64();
                tracing::info!(
                    applied = self.stats.applied.load(Ordering::Relaxed),
                    dead_lettered = self.stats.dead_lettered.load(Ordering::Relaxed),
                    events_per_sec = rate as u64,
                    "ingesting"
                );
                last_report = Instant::now();
                applied_since = 0;
            }
        }
        // What was applied is committed on the way out, so a restart does not redo it.
        if let Some(positions) = uncommitted {
            let _ = tokio::time::timeout(RETRY_AFTER, commit(consumer.as_mut(), &positions)).await;
        }
        self.stopped();
    }

    /// Joins the group, retrying until it can; `None` when stopped first.
    async fn join(
        &self,
        stop: &CancellationToken,
        trouble: &mut Trouble,
    ) -> Option<Box<dyn crate::broker::Consumer>> {
        loop {
            // Checking first answers "unreachable" in seconds; joining may wait longer.
            let join = async {
                self.broker.check().await?;
                self.broker.consumer(&self.topic, &self.group).await
            };
            let joined = tokio::select! {
                joined = join => joined,
                () = stop.cancelled() => return None,
            };
            match joined {
                Ok(consumer) => return Some(consumer),
                Err(e) => {
                    self.failed(trouble, format!("cannot join the rating feed: {e}"));
                    if stopped_within(stop, RETRY_AFTER).await {
                        return None;
                    }
                }
            }
        }
    }

    /// While idle: is the broker still there? (A consumer of a cluster that is down just
    /// sees no records.) False when stopped meanwhile.
    async fn check(&self, stop: &CancellationToken, trouble: &mut Trouble) -> bool {
        let checked = tokio::select! {
            checked = self.broker.check() => checked,
            () = stop.cancelled() => return false,
        };
        match checked {
            Ok(()) => {
                trouble.recovered("reading the rating feed");
                self.stats.set_problem(None);
                tokio::select! {
                    () = self.report_lag() => true,
                    () = stop.cancelled() => false,
                }
            }
            Err(e) => {
                let why = format!("the rating feed's broker is unavailable: {e}");
                self.failed(trouble, why);
                true
            }
        }
    }

    /// A failure, logged as `trouble` says and shown by readiness.
    fn failed(&self, trouble: &mut Trouble, why: String) {
        trouble.failed(&why);
        self.stats.set_problem(Some(why));
    }

    fn stopped(&self) {
        self.stats
            .set_problem(Some("the rating feed ingester has stopped".to_owned()));
        tracing::info!("stopped");
    }

    /// Publishes the group's lag as the `feed_lag` gauge.
    async fn report_lag(&self) {
        match total_lag(self.broker.as_ref(), &self.topic, &self.group).await {
            Ok(lag) => metrics::gauge!(LAG_METRIC, "topic" => self.topic.clone(), "group" => self.group.clone())
                .set(lag as f64),
            Err(e) => tracing::debug!(error = %e, "cannot read the lag"),
        }
    }

    /// The next batch, read and decoded; `None` if stopped first.
    async fn next_batch(
        &self,
        consumer: &mut dyn Consumer,
        wait: Duration,
        stop: &CancellationToken,
    ) -> Option<Result<Batch, BrokerError>> {
        let polled = poll_or_stop(consumer, wait, stop).await?;
        Some(polled.map(|messages| self.decode(messages)))
    }

    /// Decodes a polled batch: the valid events as changes, the others as dead letters.
    fn decode(&self, messages: Vec<Message>) -> Batch {
        let mut changes = Vec::with_capacity(messages.len());
        let mut dead = Vec::new();
        for m in &messages {
            match RatingEvent::decode(&m.payload) {
                Ok(change) => changes.push(change),
                Err(reason) => {
                    tracing::warn!(partition = m.partition, offset = m.offset, %reason, "dead-lettering an event");
                    dead.push(self.dead_letter(m, &reason));
                }
            }
        }
        Batch {
            messages,
            changes: changes.into(),
            dead,
        }
    }

    /// Applies one decoded batch: the valid events to the rating service, the others to
    /// the dead-letter topic. `None` when stopped before finishing (the batch will be
    /// redelivered). The caller commits its positions afterwards.
    async fn ingest(&self, batch: &Batch, stop: &CancellationToken) -> Option<u64> {
        let Batch { changes, dead, .. } = batch;
        let applied = changes.len() as u64;
        if !changes.is_empty() {
            self.until_done(stop, "apply", || self.target.apply(Arc::clone(changes)))
                .await?;
        }
        if !dead.is_empty() {
            self.until_done(stop, "dead-letter", || self.broker.publish(DLQ_TOPIC, dead))
                .await?;
        }
        self.stats.applied.fetch_add(applied, Ordering::Relaxed);
        self.stats
            .dead_lettered
            .fetch_add(dead.len() as u64, Ordering::Relaxed);
        metrics::counter!(APPLIED_METRIC, "topic" => self.topic.clone()).increment(applied);
        metrics::counter!(DEAD_LETTERED_METRIC, "topic" => self.topic.clone())
            .increment(dead.len() as u64);
        Some(applied)
    }

    /// Runs `op` until it succeeds; `None` if asked to stop first.
    async fn until_done<T, E, F, Fut>(
        &self,
        stop: &CancellationToken,
        what: &str,
        mut op: F,
    ) -> Option<T>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut trouble = Trouble::default();
        loop {
            match op().await {
                Ok(value) => {
                    trouble.recovered(what);
                    return Some(value);
                }
                Err(e) => {
                    trouble.failed(&format!("{what} failed, so the batch waits: {e}"));
                    if stopped_within(stop, RETRY_AFTER).await {
                        return None;
                    }
                }
            }
        }
    }

    fn dead_letter(&self, m: &Message, reason: &str) -> Record {
        let letter = DeadLetter {
            reason,
            topic: &self.topic,
            partition: m.partition,
            offset: m.offset,
            key: m.key.as_deref(),
            payload: String::from_utf8_lossy(&m.payload).into_owned(),
        };
        Record {
            key: m.key.clone().unwrap_or_default(),
            // Serializing this struct cannot fail: strings and numbers only.
            payload: serde_json::to_vec(&letter).unwrap_or_default(),
            headers: m.headers.clone(),
        }
    }
}

/// The span a batch is applied in, tied to the traces its events came from: their trace
/// when they all share one, otherwise a link to each (up to [`MAX_LINKS`]).
fn batch_span(topic: &str, messages: &[Message]) -> tracing::Span {
    let span = tracing::debug_span!(
        "apply rating events",
        events = messages.len(),
        otel.kind = "consumer",
        messaging.destination.name = topic,
    );
    let mut contexts: Vec<SpanContext> = Vec::new();
    for m in messages {
        if let Some(cx) = propagation::from_headers(&m.headers)
            && !contexts.contains(&cx)
        {
            contexts.push(cx);
        }
    }
    match contexts.as_slice() {
        [] => {}
        [one] => {
            let _ = span.set_parent(Context::new().with_remote_span_context(one.clone()));
        }
        many => {
            for cx in many.iter().take(MAX_LINKS) {
                span.add_link(cx.clone());
            }
        }
    }
    span
}

/// The offset after the last message of each partition in the batch.
fn next_positions(messages: &[Message]) -> Vec<(u32, u64)> {
    let mut positions: Vec<(u32, u64)> = Vec::new();
    for m in messages {
        match positions.iter_mut().find(|(p, _)| *p == m.partition) {
            Some((_, next)) => *next = (*next).max(m.offset + 1),
            None => positions.push((m.partition, m.offset + 1)),
        }
    }
    positions
}

/// A polled batch, decoded.
struct Batch {
    messages: Vec<Message>,
    changes: Arc<[RatingChange]>,
    /// The records that could not be applied, as sent to the dead-letter topic.
    dead: Vec<Record>,
}

/// A poll, or `None` if `stop` is cancelled first.
async fn poll_or_stop(
    consumer: &mut dyn Consumer,
    wait: Duration,
    stop: &CancellationToken,
) -> Option<Result<Vec<Message>, BrokerError>> {
    tokio::select! {
        polled = consumer.poll(BATCH, wait) => Some(polled),
        () = stop.cancelled() => None,
    }
}

/// Commits applied positions. A failure is not fatal: the next commit covers these
/// offsets, and a crash before it redelivers them (applying is idempotent).
async fn commit(consumer: &mut dyn Consumer, positions: &[(u32, u64)]) {
    if let Err(e) = consumer.commit(positions).await {
        tracing::warn!(error = %e, "offset commit failed");
    }
}

/// Waits `delay`; true if `stop` was cancelled meanwhile.
async fn stopped_within(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(delay) => stop.is_cancelled(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_past_the_last_offset_per_partition() {
        let m = |partition, offset| Message {
            partition,
            offset,
            key: None,
            payload: Vec::new(),
            headers: Vec::new(),
        };
        let mut positions = next_positions(&[m(0, 4), m(1, 9), m(0, 5), m(2, 0)]);
        positions.sort();
        assert_eq!(positions, [(0, 6), (1, 10), (2, 1)]);
    }
}
