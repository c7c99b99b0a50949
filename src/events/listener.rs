//! Following a change topic to keep this process's caches fresh: each event names a record
//! whose cached values another process's write made stale, and they are dropped at once,
//! not when their TTL runs out.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, consumer_at_end};

/// The most events read at once.
const BATCH: usize = 1_000;
/// How long a poll waits for the first event.
const WAIT: Duration = Duration::from_millis(500);
/// After a poll that brought some events but not a full batch, how long more gather
/// before the next: under a stream of writes, one read then carries many events rather
/// than one each; an event after a quiet spell is still handled at once.
const LINGER: Duration = Duration::from_millis(5);

/// Follows `topic` from its end, in a consumer group of this process's own (`group`),
/// handing each change to `changed`, until `stop`. A broker that fails is tried again; the
/// caches' TTL bounds staleness meanwhile.
pub async fn follow<E: serde::de::DeserializeOwned>(
    broker: std::sync::Arc<dyn Broker>,
    topic: &'static str,
    group: String,
    stop: CancellationToken,
    changed: impl Fn(E) + Send + Sync + 'static,
) {
    let mut last_warning: Option<Instant> = None;
    let mut warn = |e: &dyn std::fmt::Display| {
        if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            last_warning = Some(Instant::now());
            tracing::warn!(error = %e, topic, "cannot follow change events: cached values last until their TTL meanwhile");
        }
    };
    loop {
        let mut consumer = tokio::select! {
            () = stop.cancelled() => return,
            consumer = consumer_at_end(broker.as_ref(), topic, &group) => match consumer {
                Ok(consumer) => consumer,
                Err(e) => {
                    warn(&e);
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        loop {
            let polled = tokio::select! {
                () = stop.cancelled() => return,
                polled = consumer.poll(BATCH, WAIT) => polled,
            };
            match polled {
                Ok(messages) => {
                    let full = messages.len() >= BATCH;
                    let some = !messages.is_empty();
                    for message in messages {
                        // Not ours to judge: an event that does not parse names nothing.
                        if let Ok(event) = serde_json::from_slice::<E>(&message.payload) {
                            changed(event);
                        }
                    }
                    if some && !full {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = tokio::time::sleep(LINGER) => {}
                        }
                    }
                }
                Err(e) => {
                    warn(&e);
                    break;
                }
            }
        }
    }
}
