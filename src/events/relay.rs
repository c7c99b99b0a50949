//! The outbox relay: publishes unsent outbox rows, in commit order, to their topic, then
//! marks them sent; removes sent rows after the retention. A broker that cannot be reached
//! leaves the rows where they are (writes go on; `movieapp_outbox_pending` grows) and is
//! tried again, so every change is published once it is back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Outbox, now_ms};
use crate::broker::{Broker, Record};

/// The gauge of unsent outbox rows.
pub const PENDING_METRIC: &str = "movieapp_outbox_pending";

/// Rows published at once.
const BATCH: usize = 500;
/// How often an idle relay looks anyway: a write through another process sharing the
/// database rings no bell here, and its event should not wait long (issue 28 aims at
/// another process serving a write within 50 ms, p99).
const IDLE: Duration = Duration::from_millis(20);
/// After a batch that was not full, how long the relay lets rows gather before the next:
/// under a stream of writes, one batch (a read, a publish, an update) then carries many
/// rows rather than one each; a lone write is still published at once.
const LINGER: Duration = Duration::from_millis(5);
/// The longest wait between attempts while the broker is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the unsent rows are counted.
const COUNT_EVERY: Duration = Duration::from_secs(1);
/// How often sent rows past the retention are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

/// The `events.outbox` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OutboxSettings {
    /// Sent rows are kept this long, then removed.
    pub retention: crate::config::value::Duration,
    /// Past this many unsent rows (the broker down for long), writes that would add one
    /// are refused (UNAVAILABLE, HTTP 503) rather than let the outbox grow without bound.
    pub max_pending: u64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            retention: crate::config::value::Duration::from_secs(3600),
            max_pending: 1_000_000,
        }
    }
}

/// What writers and the relay share: how many rows are unsent (kept by the relay, added to
/// by writers), and the bell writers ring after a commit that added some.
#[derive(Debug, Default)]
pub struct Backlog {
    pending: AtomicU64,
    wake: Notify,
}

impl Backlog {
    /// Rows unsent, as last counted plus those added since.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// A writer committed `n` rows: the relay is told at once.
    pub fn added(&self, n: u64) {
        if n > 0 {
            let now = self
                .pending
                .fetch_add(n, Ordering::Relaxed)
                .saturating_add(n);
            metrics::gauge!(PENDING_METRIC).set(now as f64);
            self.wake.notify_one();
        }
    }

    /// The relay published `n` rows.
    fn sent(&self, n: u64) {
        let before = self
            .pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(n))
            })
            .unwrap_or(0);
        metrics::gauge!(PENDING_METRIC).set(before.saturating_sub(n) as f64);
    }

    /// The rows counted in the outbox: the gauge and the writers' limit follow the count.
    fn counted(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
        metrics::gauge!(PENDING_METRIC).set(n as f64);
    }
}

/// A relay: the outbox it publishes, where to, and what writers share with it.
pub struct Relay<O> {
    pub outbox: Arc<O>,
    pub broker: Arc<dyn Broker>,
    pub topic: &'static str,
    /// The lock its relays compete for.
    pub lock_key: &'static str,
    pub settings: OutboxSettings,
    pub backlog: Arc<Backlog>,
}

/// Runs the relay while holding its lock, until `stop`: the processes
/// sharing a database share its outbox, and one publishes it at a time (the others wait
/// for the lock, and take over when its holder stops or loses it).
pub async fn run_holding<O: Outbox>(
    relay: Relay<O>,
    locks: crate::lock::Locks,
    holder: String,
    stop: CancellationToken,
) {
    let Relay {
        ref outbox,
        ref backlog,
        ..
    } = relay;
    // Whether or not this process publishes, its writers must know how full the outbox
    // is: they refuse writes past its limit.
    let counting = async {
        loop {
            if let Ok(n) = outbox.pending().await {
                backlog.counted(n);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(COUNT_EVERY) => {}
            }
        }
    };
    let publishing = async {
        loop {
            let held = match locks.acquire(relay.lock_key, &holder, None, &stop).await {
                Ok(Some(held)) => held,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: cannot take the lock; trying again");
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            tracing::debug!(token = held.token(), "outbox relay: holding the lock");
            let lost = held.lost();
            let working = stop.child_token();
            tokio::select! {
                () = run(&relay, working.clone()) => {}
                () = lost.cancelled() => {
                    working.cancel();
                    tracing::warn!("outbox relay: the lease is lost; another process may publish now");
                    continue;
                }
            }
            if stop.is_cancelled() {
                if let Err(e) = held.release().await {
                    tracing::warn!(error = %e, "outbox relay: cannot release the lock");
                }
                return;
            }
        }
    };
    tokio::join!(counting, publishing);
}

/// Runs `relay` until `stop`.
pub async fn run<O: Outbox>(relay: &Relay<O>, stop: CancellationToken) {
    let Relay {
        outbox,
        broker,
        topic,
        settings,
        backlog,
        ..
    } = relay;
    let topic: &str = topic;
    let mut backoff = Duration::from_millis(50);
    let mut last_warning: Option<Instant> = None;
    let mut last_prune = Instant::now();
    if let Ok(n) = outbox.pending().await {
        backlog.counted(n);
    }
    loop {
        if stop.is_cancelled() {
            return;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            let before = now_ms().saturating_sub(
                i64::try_from(settings.retention.get().as_millis()).unwrap_or(i64::MAX),
            );
            if let Err(e) = outbox.prune(before).await {
                tracing::warn!(error = %e, "could not remove sent outbox rows");
            }
        }
        let published = relay_once(outbox.as_ref(), broker.as_ref(), topic).await;
        match published {
            // Nothing unsent: wait for a writer's bell (the counting loop keeps the gauge).
            Ok(0) => {
                backoff = Duration::from_millis(50);
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = backlog.wake.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                }
            }
            Ok(n) => {
                // Between counts, the gauge follows what is sent (and writers add).
                backlog.sent(n as u64);
                backoff = Duration::from_millis(50);
                if n < BATCH {
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(LINGER) => {}
                    }
                }
            }
            Err(e) => {
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_warning = Some(Instant::now());
                    tracing::warn!(error = %e, topic, broker = %broker.describe(), "cannot publish change events; they stay in the outbox and are published when the broker is back");
                }
                if let Ok(n) = outbox.pending().await {
                    backlog.counted(n);
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Publishes one batch of unsent rows and marks them sent: how many.
async fn relay_once<O: Outbox>(
    outbox: &O,
    broker: &dyn Broker,
    topic: &str,
) -> Result<usize, String> {
    let rows = outbox.unsent(BATCH).await.map_err(|e| e.to_string())?;
    let Some(last) = rows.last().map(|r| r.seq) else {
        return Ok(0);
    };
    let records: Vec<Record> = rows
        .into_iter()
        .map(|row| Record {
            key: row.key,
            payload: row.payload.into_bytes(),
            headers: Vec::new(),
        })
        .collect();
    broker
        .publish(topic, &records)
        .await
        .map_err(|e| e.to_string())?;
    // Published but not marked (a crash here) is published again: at least once.
    outbox
        .mark_sent(last, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    Ok(records.len())
}
