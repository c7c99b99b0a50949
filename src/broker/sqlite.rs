//! The embedded broker: an append-only log in `<data-dir>/broker.db` with partitions,
//! offsets and committed consumer-group offsets. Producers and consumers in different
//! processes share it through SQLite's WAL.

use std::{collections::HashMap, path::Path, sync::Arc, time::Duration};

use rusqlite::{OptionalExtension, params};

use super::{
    BoxFuture, Broker, BrokerError, Consumer, Message, PartitionLag, PublishReport, Record,
    partition_for,
};
use crate::database::sqlite::{Database, SqliteError, now_ms};

/// The broker's file name in the data directory.
pub const FILE_NAME: &str = "broker.db";
/// How often an idle consumer looks for new records: another process's record is seen within
/// this (the change events' invalidation, issue 28, aims at p99 ≤ 50 ms).
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// The offset the next record of a partition gets: `(topic, partition)`.
const END_OFFSET: &str =
    "SELECT COALESCE(MAX(seq) + 1, 0) FROM messages WHERE topic = ?1 AND partition = ?2";
/// A consumer group's committed position in a partition: `(group, topic, partition)`.
const COMMITTED_OFFSET: &str =
    "SELECT next_seq FROM group_offsets WHERE grp = ?1 AND topic = ?2 AND partition = ?3";

/// Schema history; append only.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE topics (name TEXT PRIMARY KEY, partitions INTEGER NOT NULL);
    CREATE TABLE messages (
        topic TEXT NOT NULL, partition INTEGER NOT NULL, seq INTEGER NOT NULL,
        key TEXT, payload BLOB NOT NULL, timestamp_ms INTEGER NOT NULL,
        PRIMARY KEY (topic, partition, seq)) WITHOUT ROWID;
    CREATE TABLE group_offsets (
        grp TEXT NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,
        next_seq INTEGER NOT NULL,
        PRIMARY KEY (grp, topic, partition)) WITHOUT ROWID;",
    // Record headers as a JSON array of [name, value] pairs; NULL when there are none.
    "ALTER TABLE messages ADD COLUMN headers TEXT;",
];

pub struct SqliteBroker {
    db: Arc<Database>,
    partitions: u32,
}

impl SqliteBroker {
    /// Opens (creating if needed) the broker file; new topics get `partitions` partitions.
    pub async fn open(path: &Path, partitions: u32) -> Result<Self, BrokerError> {
        let db = Database::open_in_background(path, MIGRATIONS)
            .await
            .map_err(|source| BrokerError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            db: Arc::new(db),
            partitions: partitions.max(1),
        })
    }

    fn failed(&self, e: SqliteError) -> BrokerError {
        BrokerError::Backend {
            broker: self.describe(),
            message: e.to_string(),
        }
    }

    /// The topic's partition count, creating the topic if it is new.
    async fn partitions_of(&self, topic: &str) -> Result<u32, BrokerError> {
        let (topic, default) = (topic.to_owned(), self.partitions);
        self.db
            .write(move |c| ensure_topic(c, &topic, default))
            .await
            .map_err(|e| self.failed(e))
    }
}

fn ensure_topic(c: &rusqlite::Connection, topic: &str, default: u32) -> rusqlite::Result<u32> {
    c.execute(
        "INSERT OR IGNORE INTO topics (name, partitions) VALUES (?1, ?2)",
        params![topic, default],
    )?;
    c.query_row(
        "SELECT partitions FROM topics WHERE name = ?1",
        params![topic],
        |r| r.get(0),
    )
}

fn encode_headers(headers: &[(String, String)]) -> Option<String> {
    if headers.is_empty() {
        None
    } else {
        serde_json::to_string(headers).ok()
    }
}

/// Headers as stored; unreadable ones are dropped rather than holding up the record.
fn decode_headers(stored: Option<String>) -> Vec<(String, String)> {
    stored
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

impl Broker for SqliteBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<PublishReport, BrokerError>> {
        let (topic_owned, default) = (topic.to_owned(), self.partitions);
        let records = records.to_vec();
        Box::pin(async move {
            self.db
                .write(move |c| {
                    let tx = c.transaction()?;
                    let partitions = ensure_topic(&tx, &topic_owned, default)?;
                    let mut next: HashMap<u32, u64> = HashMap::new();
                    let mut report = PublishReport::default();
                    {
                        let mut end = tx.prepare_cached(
                            END_OFFSET,
                        )?;
                        let mut insert = tx.prepare_cached(
                            "INSERT INTO messages (topic, partition, seq, key, payload, timestamp_ms, headers)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?;
                        let now = now_ms();
                        for record in &records {
                            let partition = partition_for(&record.key, partitions);
                            let offset = match next.get(&partition) {
                                Some(o) => *o,
                                None => end.query_row(params![topic_owned, partition], |r| {
                                    r.get::<_, i64>(0).map(|v| v as u64)
                                })?,
                            };
                            insert.execute(params![
                                topic_owned,
                                partition,
                                offset as i64,
                                record.key,
                                record.payload,
                                now,
                                encode_headers(&record.headers),
                            ])?;
                            next.insert(partition, offset + 1);
                            *report.per_partition.entry(partition).or_default() += 1;
                        }
                    }
                    tx.commit()?;
                    Ok(report)
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn consumer<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Consumer>, BrokerError>> {
        Box::pin(async move {
            let partitions = self.partitions_of(topic).await?;
            let (t, g) = (topic.to_owned(), group.to_owned());
            let committed: Vec<u64> = self
                .db
                .read(move |c| {
                    let mut stmt = c.prepare_cached(COMMITTED_OFFSET)?;
                    (0..partitions)
                        .map(|p| {
                            stmt.query_row(params![g, t, p], |r| r.get::<_, i64>(0))
                                .optional()
                                .map(|o| o.map_or(0, |v| v as u64))
                        })
                        .collect()
                })
                .await
                .map_err(|e| self.failed(e))?;
            Ok(Box::new(SqliteConsumer {
                db: Arc::clone(&self.db),
                describe: self.describe(),
                topic: topic.to_owned(),
                group: group.to_owned(),
                positions: committed,
                next_partition: 0,
            }) as Box<dyn Consumer>)
        })
    }

    fn lag<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionLag>, BrokerError>> {
        Box::pin(async move {
            let (t, g) = (topic.to_owned(), group.to_owned());
            self.db
                .read(move |c| {
                    let partitions: u32 = c
                        .query_row(
                            "SELECT partitions FROM topics WHERE name = ?1",
                            params![t],
                            |r| r.get(0),
                        )
                        .optional()?
                        .unwrap_or(0);
                    let mut end = c.prepare_cached(END_OFFSET)?;
                    let mut committed = c.prepare_cached(COMMITTED_OFFSET)?;
                    (0..partitions)
                        .map(|p| {
                            let end_offset =
                                end.query_row(params![t, p], |r| r.get::<_, i64>(0))? as u64;
                            let committed = committed
                                .query_row(params![g, t, p], |r| r.get::<_, i64>(0))
                                .optional()?
                                .map(|v| v as u64);
                            Ok(PartitionLag {
                                partition: p,
                                end_offset,
                                committed,
                                lag: end_offset.saturating_sub(committed.unwrap_or(0)),
                            })
                        })
                        .collect()
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.db.path().display())
    }
}

struct SqliteConsumer {
    db: Arc<Database>,
    describe: String,
    topic: String,
    group: String,
    /// The next offset to read, per partition.
    positions: Vec<u64>,
    /// Where the next poll starts, so no partition starves.
    next_partition: usize,
}

impl SqliteConsumer {
    fn failed(&self, e: SqliteError) -> BrokerError {
        BrokerError::Backend {
            broker: self.describe.clone(),
            message: e.to_string(),
        }
    }

    async fn fetch(&mut self, max: usize) -> Result<Vec<Message>, BrokerError> {
        let partitions = self.positions.len();
        let start = self.next_partition % partitions.max(1);
        self.next_partition = self.next_partition.wrapping_add(1);
        let order: Vec<(u32, u64)> = (0..partitions)
            .map(|i| (start + i) % partitions)
            .map(|p| (p as u32, self.positions[p]))
            .collect();
        let topic = self.topic.clone();
        let messages = self
            .db
            .read(move |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT seq, key, payload, headers FROM messages
                     WHERE topic = ?1 AND partition = ?2 AND seq >= ?3 ORDER BY seq LIMIT ?4",
                )?;
                let mut out = Vec::new();
                for (partition, from) in order {
                    let room = max.saturating_sub(out.len());
                    if room == 0 {
                        break;
                    }
                    let rows =
                        stmt.query_map(params![topic, partition, from as i64, room as i64], |r| {
                            Ok(Message {
                                partition,
                                offset: r.get::<_, i64>(0)? as u64,
                                key: r.get(1)?,
                                payload: r.get(2)?,
                                headers: decode_headers(r.get(3)?),
                            })
                        })?;
                    for row in rows {
                        out.push(row?);
                    }
                }
                Ok(out)
            })
            .await
            .map_err(|e| self.failed(e))?;
        for m in &messages {
            let p = m.partition as usize;
            self.positions[p] = self.positions[p].max(m.offset + 1);
        }
        Ok(messages)
    }
}

impl Consumer for SqliteConsumer {
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Message>, BrokerError>> {
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                let messages = self.fetch(max.max(1)).await?;
                let now = tokio::time::Instant::now();
                if !messages.is_empty() || now >= deadline {
                    return Ok(messages);
                }
                tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
            }
        })
    }

    fn commit<'a>(
        &'a mut self,
        positions: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        let (group, topic) = (self.group.clone(), self.topic.clone());
        let positions = positions.to_vec();
        Box::pin(async move {
            self.db
                .write(move |c| {
                    let tx = c.transaction()?;
                    {
                        let mut upsert = tx.prepare_cached(
                            "INSERT INTO group_offsets (grp, topic, partition, next_seq) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (grp, topic, partition) DO UPDATE SET next_seq = excluded.next_seq",
                        )?;
                        for (partition, next) in &positions {
                            upsert.execute(params![group, topic, partition, *next as i64])?;
                        }
                    }
                    tx.commit()
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, payload: &str) -> Record {
        Record {
            headers: Vec::new(),
            key: key.into(),
            payload: payload.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn publish_consume_commit_and_resume() {
        let dir = tempfile::tempdir().unwrap();
        let broker = SqliteBroker::open(&dir.path().join(FILE_NAME), 3)
            .await
            .unwrap();
        let records: Vec<Record> = (0..30)
            .map(|i| record(&format!("r{}", i % 5), &format!("m{i}")))
            .collect();
        let report = broker.publish("t", &records).await.unwrap();
        assert_eq!(report.total(), 30);

        let mut consumer = broker.consumer("t", "g").await.unwrap();
        let first = consumer.poll(10, Duration::ZERO).await.unwrap();
        assert_eq!(first.len(), 10);
        // Within a partition, offsets are consecutive from 0 and a key's order is kept.
        let mut seen = Vec::new();
        loop {
            let batch = consumer.poll(7, Duration::ZERO).await.unwrap();
            if batch.is_empty() {
                break;
            }
            seen.extend(batch);
        }
        seen.extend(first.clone());
        assert_eq!(seen.len(), 30);
        for key in ["r0", "r1", "r2", "r3", "r4"] {
            let mut of_key: Vec<&Message> = seen
                .iter()
                .filter(|m| m.key.as_deref() == Some(key))
                .collect();
            of_key.sort_by_key(|m| m.offset);
            let partitions: std::collections::HashSet<u32> =
                of_key.iter().map(|m| m.partition).collect();
            assert_eq!(partitions.len(), 1, "{key} stays in one partition");
            let payloads: Vec<u32> = of_key
                .iter()
                .map(|m| String::from_utf8_lossy(&m.payload)[1..].parse().unwrap())
                .collect();
            assert!(
                payloads.windows(2).all(|w| w[0] < w[1]),
                "{key} in order: {payloads:?}"
            );
        }

        // Nothing committed yet: the whole topic is lag; a new consumer starts at the beginning.
        let lag = crate::broker::total_lag(&broker, "t", "g").await.unwrap();
        assert_eq!(lag, 30);
        let mut again = broker.consumer("t", "g").await.unwrap();
        assert_eq!(again.poll(100, Duration::ZERO).await.unwrap().len(), 30);

        // Commit what the first batch covered: a new consumer resumes after it.
        let mut positions: HashMap<u32, u64> = HashMap::new();
        for m in &first {
            let e = positions.entry(m.partition).or_default();
            *e = (*e).max(m.offset + 1);
        }
        let positions: Vec<(u32, u64)> = positions.into_iter().collect();
        consumer.commit(&positions).await.unwrap();
        let lag = crate::broker::total_lag(&broker, "t", "g").await.unwrap();
        assert_eq!(lag, 20);
        let mut resumed = broker.consumer("t", "g").await.unwrap();
        assert_eq!(resumed.poll(100, Duration::ZERO).await.unwrap().len(), 20);
        // Another group is independent.
        let mut other = broker.consumer("t", "other").await.unwrap();
        assert_eq!(other.poll(100, Duration::ZERO).await.unwrap().len(), 30);
    }

    #[tokio::test]
    async fn an_idle_poll_waits_then_returns_empty() {
        let dir = tempfile::tempdir().unwrap();
        let broker = SqliteBroker::open(&dir.path().join(FILE_NAME), 3)
            .await
            .unwrap();
        let mut consumer = broker.consumer("t", "g").await.unwrap();
        let started = std::time::Instant::now();
        assert!(
            consumer
                .poll(10, Duration::from_millis(120))
                .await
                .unwrap()
                .is_empty()
        );
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
