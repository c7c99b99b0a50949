//! The producer side of the rating feed: reading and validating event files, generating
//! synthetic events, and publishing them keyed by record id.

use std::{path::Path, time::Instant};

use serde::Serialize;

use crate::{
    broker::{Broker, BrokerError, PublishReport, Record},
    feed::{EventType, RatingEvent},
};

/// The largest event file `produce` reads (about two million events of the book's shape).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Events per publish call (one transaction on the embedded broker).
pub const PUBLISH_BATCH: usize = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum FeedFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}: {} invalid event{}, nothing sent:\n{}", problems.len(), if problems.len() == 1 { "" } else { "s" }, problems.join("\n"))]
    Invalid { path: String, problems: Vec<String> },
    #[error("{path}: no events")]
    Empty { path: String },
}

/// Reads every event of `path` (a JSON array, as the book's file, or JSON lines) and
/// validates all of them; any problem fails the whole file, listing each bad event.
pub fn read_events(path: &Path) -> Result<Vec<RatingEvent>, FeedFileError> {
    let name = path.display().to_string();
    let text = crate::files::read_to_string_at_most(path, MAX_FILE_BYTES).map_err(|source| {
        FeedFileError::Read {
            path: name.clone(),
            source,
        }
    })?;
    parse_events(&name, &text)
}

/// As [`read_events`], from text; `name` names the source in messages.
pub fn parse_events(name: &str, text: &str) -> Result<Vec<RatingEvent>, FeedFileError> {
    let syntax = |message: String| FeedFileError::Syntax {
        path: name.to_owned(),
        message,
    };
    // Each item with how to name it in a message.
    let items: Vec<(String, serde_json::Value)> = if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| syntax(format!("not a JSON array of events: {e}")))?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("event {i}"), v))
            .collect()
    } else {
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value = serde_json::from_str(line)
                .map_err(|e| syntax(format!("line {}: not a JSON event: {e}", n + 1)))?;
            items.push((format!("event {} (line {})", items.len(), n + 1), value));
        }
        items
    };
    if items.is_empty() {
        return Err(FeedFileError::Empty {
            path: name.to_owned(),
        });
    }
    let mut events = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (at, value) in items {
        match serde_json::from_value::<RatingEvent>(value) {
            Ok(event) => match event.validate() {
                Ok(_) => events.push(event),
                Err(e) => problems.push(format!("  {at}: {e}")),
            },
            Err(e) => problems.push(format!("  {at}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(events)
    } else {
        Err(FeedFileError::Invalid {
            path: name.to_owned(),
            problems,
        })
    }
}

/// Synthetic events for load tests, the same for the same seed: users `user0..`, records
/// `1..=records`, values 1..=5, and one event in ten a delete.
pub fn generate(
    count: u64,
    seed: u64,
    users: u64,
    records: u64,
    hot_percent: u8,
) -> impl Iterator<Item = RatingEvent> {
    let mut state = seed;
    let (users, records) = (users.max(1), records.max(1));
    (0..count).map(move |_| {
        let r = splitmix64(&mut state);
        let delete = (r >> 60) == 0; // 1 in 16
        // A second draw only when asked for, so that seeds give what they always gave.
        let hot = hot_percent > 0 && splitmix64(&mut state) % 100 < u64::from(hot_percent);
        let record = if hot {
            1
        } else {
            (r & 0xffff_ffff) % records + 1
        };
        RatingEvent {
            user_id: format!("user{}", (r >> 32) % users),
            record_id: record.to_string(),
            record_type: "movie".to_owned(),
            value: (!delete).then(|| ((r >> 8) % 5 + 1) as i64),
            provider_id: "generator".to_owned(),
            event_type: if delete {
                EventType::Delete
            } else {
                EventType::Put
            },
            version: None,
        }
    })
}

/// A small, well-known generator (SplitMix64): stable across versions of everything.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a publish did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub events: u64,
    pub topic: String,
    pub broker: String,
    pub per_partition: std::collections::BTreeMap<u32, u64>,
    pub elapsed_secs: f64,
    pub events_per_sec: f64,
}

/// Publishes `events` to `topic`, keyed by record id, in batches; `progress` is told how
/// many are stored after each batch. Waits until every event is stored. When traces are
/// exported, every event carries this publish's trace context in its headers.
#[tracing::instrument(
    name = "publish rating events",
    level = "debug",
    skip_all,
    fields(otel.kind = "producer", messaging.destination.name = topic)
)]
pub async fn publish(
    broker: &dyn Broker,
    topic: &str,
    events: impl IntoIterator<Item = RatingEvent>,
    mut progress: impl FnMut(u64),
) -> Result<Summary, BrokerError> {
    let started = Instant::now();
    let mut report = PublishReport::default();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    let mut events = events.into_iter().peekable();
    let headers = crate::telemetry::propagation::current_headers();
    while events.peek().is_some() {
        batch.clear();
        batch.extend(events.by_ref().take(PUBLISH_BATCH).map(|e| Record {
            // Serializing an event cannot fail: strings and numbers only.
            payload: serde_json::to_vec(&e).unwrap_or_default(),
            key: e.record_id,
            headers: headers.clone(),
        }));
        report.add(&broker.publish(topic, &batch).await?);
        progress(report.total());
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Summary {
        events: report.total(),
        topic: topic.to_owned(),
        broker: broker.describe(),
        elapsed_secs: elapsed,
        events_per_sec: if elapsed > 0.0 {
            report.total() as f64 / elapsed
        } else {
            0.0
        },
        per_partition: report.per_partition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_and_json_lines_parse() {
        let book = include_str!("../../fixtures/ratingsdata.json");
        assert_eq!(parse_events("book", book).unwrap().len(), 2);
        let lines = "{\"userId\":\"1\",\"recordId\":\"1\",\"recordType\":\"movie\",\"value\":3,\"eventType\":\"put\"}\n\n{\"userId\":\"2\",\"recordId\":\"1\",\"recordType\":\"movie\",\"eventType\":\"delete\"}\n";
        assert_eq!(parse_events("lines", lines).unwrap().len(), 2);
    }

    #[test]
    fn every_bad_event_is_reported_with_index_field_and_reason() {
        let text = r#"[{"userId":"1","recordId":"1","recordType":"movie","value":3,"eventType":"put"},
                       {"userId":"1","recordId":"","recordType":"movie","value":3,"eventType":"put"},
                       {"userId":"1","recordId":"2","recordType":"movie","value":7,"eventType":"put"},
                       {"userId":"1","recordId":"2","recordType":"movie","value":2,"eventType":"rate"}]"#;
        let err = parse_events("bad.json", text).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("bad.json: 3 invalid events, nothing sent"),
            "{msg}"
        );
        assert!(msg.contains("event 1: invalid record id \"\""), "{msg}");
        assert!(msg.contains("event 2: invalid rating value \"7\""), "{msg}");
        assert!(msg.contains("event 3: unknown variant `rate`"), "{msg}");
        assert!(!msg.contains("event 0"), "{msg}");
        let err = parse_events("x.jsonl", "{\"userId\":\n").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(matches!(
            parse_events("e", "[]"),
            Err(FeedFileError::Empty { .. })
        ));
    }

    #[test]
    fn generated_events_are_valid_and_reproducible() {
        let a: Vec<RatingEvent> = generate(1000, 7, 10, 20, 0).collect();
        let b: Vec<RatingEvent> = generate(1000, 7, 10, 20, 0).collect();
        assert_eq!(a, b);
        assert_ne!(a, generate(1000, 8, 10, 20, 0).collect::<Vec<_>>());
        // A best seller: record 1 gets its share and more (it is also drawn uniformly).
        let hot = generate(10_000, 7, 10_000, 1000, 10)
            .filter(|e| e.record_id == "1")
            .count();
        assert!((900..1150).contains(&hot), "{hot} of 10 000 for record 1");
        assert!(a.iter().all(|e| e.validate().is_ok()));
        let deletes = a
            .iter()
            .filter(|e| e.event_type == EventType::Delete)
            .count();
        assert!((20..120).contains(&deletes), "{deletes} deletes");
        let records: std::collections::HashSet<&str> =
            a.iter().map(|e| e.record_id.as_str()).collect();
        assert_eq!(records.len(), 20);
    }
}
