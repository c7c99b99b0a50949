//! The asynchronous rating feed's log (docs/design.md §4): topics split into partitions, records
//! appended with a key, read from an offset, and offsets committed per consumer group.
//!
//! Backends: [`sqlite`] (default; `<data-dir>/broker.db`, an embedded broker needing no
//! infrastructure) and [`kafka`] (a real Kafka cluster through librdkafka).

pub mod kafka;
pub mod sqlite;

use std::{collections::BTreeMap, fmt, path::PathBuf, str::FromStr, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};

pub use crate::BoxFuture;
use crate::{
    config::value::{self, HostPort, Scalar},
    database::sqlite::SqliteError,
};

/// Partitions of a topic the embedded broker creates.
pub const DEFAULT_PARTITIONS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The broker could not be opened at all (corrupt or unusable file): exit code 2.
    #[error("cannot open the broker {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: SqliteError,
    },
    /// Inspection found no embedded broker where one was expected (a mistyped --data-dir,
    /// most likely): exit code 2, and nothing is created.
    #[error(
        "no embedded broker at {path}: nothing was published or consumed with this data directory; check --data-dir"
    )]
    Missing { path: PathBuf },
    #[error("cannot reach the broker {broker}: {reason}")]
    Unreachable { broker: String, reason: String },
    #[error("broker {broker}: {message}")]
    Backend { broker: String, message: String },
}

/// A record to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub key: String,
    pub payload: Vec<u8>,
    /// Name/value pairs beside the payload (Kafka record headers), e.g. the W3C
    /// `traceparent` of the trace that produced it.
    pub headers: Vec<(String, String)>,
}

/// A record read back, with where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub partition: u32,
    pub offset: u64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// How many records a publish put in each partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    pub per_partition: BTreeMap<u32, u64>,
}

impl PublishReport {
    pub fn add(&mut self, other: &PublishReport) {
        for (p, n) in &other.per_partition {
            *self.per_partition.entry(*p).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.per_partition.values().sum()
    }
}

/// A consumer group's position in one partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartitionLag {
    pub partition: u32,
    /// The offset the next record will get.
    pub end_offset: u64,
    /// The next offset the group will read; `None` before its first commit.
    pub committed: Option<u64>,
    pub lag: u64,
}

/// A feed log. Object safe, so the backend can be chosen at run time.
pub trait Broker: Send + Sync {
    /// Appends `records` to `topic` (created with the default partitions if new), each to
    /// the partition of its key, and waits until they are stored.
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<PublishReport, BrokerError>>;

    /// A consumer of `topic` in `group`, starting at the group's committed offsets, or at
    /// the earliest offset where it has none.
    fn consumer<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Consumer>, BrokerError>>;

    /// Answers when the broker can be reached, or fails soon (a few seconds) saying why.
    fn check(&self) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async { Ok(()) })
    }

    /// The group's lag on each partition of `topic`; none for a topic that does not exist
    /// (looking creates nothing).
    fn lag<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionLag>, BrokerError>>;

    /// Names the backend for messages, e.g. `sqlite:/var/lib/movieapp/broker.db`.
    fn describe(&self) -> String;
}

/// Reads a topic for a consumer group.
pub trait Consumer: Send {
    /// Up to `max` records, waiting up to `wait` for the first.
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Message>, BrokerError>>;

    /// Commits `(partition, next offset)` positions: records before them are done.
    fn commit<'a>(
        &'a mut self,
        positions: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<(), BrokerError>>;
}

/// A consumer of `topic` in `group` that starts where the topic ends now (for a group
/// that has no position yet): what follows the topic, not what is in it.
pub async fn consumer_at_end(
    broker: &dyn Broker,
    topic: &str,
    group: &str,
) -> Result<Box<dyn Consumer>, BrokerError> {
    let ends: Vec<(u32, u64)> = broker
        .lag(topic, group)
        .await?
        .iter()
        .map(|p| (p.partition, p.end_offset))
        .collect();
    if !ends.is_empty() {
        broker.consumer(topic, group).await?.commit(&ends).await?;
    }
    broker.consumer(topic, group).await
}

/// Lag of `group` on `topic`, summed over partitions.
pub async fn total_lag(broker: &dyn Broker, topic: &str, group: &str) -> Result<u64, BrokerError> {
    Ok(broker.lag(topic, group).await?.iter().map(|l| l.lag).sum())
}

/// The book's partitioner: FNV-1a (32 bit) of the key, read as a signed 32-bit integer,
/// absolute value, modulo the partition count. That is Sarama's hash partitioner and
/// librdkafka's `fnv1a`, so the embedded broker and Kafka put a key in the same partition.
/// A record's events share a key, so they stay in order in one partition.
pub fn partition_for(key: &str, partitions: u32) -> u32 {
    (fnv1a32(key.as_bytes()) as i32).unsigned_abs() % partitions.max(1)
}

/// The 32-bit FNV-1a hash.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in bytes {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Which broker: `--broker`, `MOVIEAPP_BROKER` or `broker.backend`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BrokerKind {
    #[default]
    Sqlite,
    /// Bootstrap servers, `host:port[,host:port]`.
    Kafka(String),
}

impl FromStr for BrokerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "sqlite" => Ok(Self::Sqlite),
            other => match other.strip_prefix("kafka://") {
                Some(servers)
                    if !servers.is_empty()
                        && servers.split(',').all(|s| HostPort::check(s).is_ok()) =>
                {
                    Ok(Self::Kafka(servers.to_owned()))
                }
                _ => Err(format!(
                    "invalid broker {other:?}: expected sqlite or kafka://host:port[,host:port]"
                )),
            },
        }
    }
}

impl fmt::Display for BrokerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite => f.write_str("sqlite"),
            Self::Kafka(servers) => write!(f, "kafka://{servers}"),
        }
    }
}

/// Everything needed to open a broker.
#[derive(Debug, Clone, Default)]
pub struct BrokerSettings {
    pub kind: BrokerKind,
    pub data_dir: PathBuf,
    /// librdkafka properties for the Kafka producer and consumers, over movieapp's defaults.
    pub kafka: KafkaProperties,
}

value::serde_via_str!(BrokerKind);

/// The `broker` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// sqlite or kafka://host:port[,host:port].
    pub backend: BrokerKind,
    pub kafka: KafkaProperties,
}

impl Settings {
    /// Checks every librdkafka property with librdkafka itself (name and value), so a typo
    /// is found at start-up, not at the first connection. The error names the key.
    pub fn check(&self) -> Result<(), String> {
        for (side, properties) in [
            ("producer", &self.kafka.producer),
            ("consumer", &self.kafka.consumer),
        ] {
            for (name, value) in properties {
                rdkafka::ClientConfig::new()
                    .set(name, &value.0)
                    .create_native_config()
                    .map_err(|e| format!("broker.kafka.{side}.{name}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// librdkafka properties (`name: value`) passed through to Kafka clients, over movieapp's
/// defaults, e.g. `producer: {compression.type: lz4}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaProperties {
    pub producer: BTreeMap<String, Scalar>,
    pub consumer: BTreeMap<String, Scalar>,
}

impl BrokerSettings {
    /// Opens the broker to look at it: an embedded broker that does not exist yet is
    /// [`BrokerError::Missing`], and none is created.
    pub async fn open_existing(&self) -> Result<Arc<dyn Broker>, BrokerError> {
        if self.kind == BrokerKind::Sqlite {
            let path = self.data_dir.join(sqlite::FILE_NAME);
            if !path.exists() {
                return Err(BrokerError::Missing { path });
            }
        }
        self.open().await
    }

    /// Opens the broker, creating an embedded one if needed.
    pub async fn open(&self) -> Result<Arc<dyn Broker>, BrokerError> {
        Ok(match &self.kind {
            BrokerKind::Sqlite => Arc::new(
                sqlite::SqliteBroker::open(
                    &self.data_dir.join(sqlite::FILE_NAME),
                    DEFAULT_PARTITIONS,
                )
                .await?,
            ),
            BrokerKind::Kafka(servers) => {
                Arc::new(kafka::KafkaBroker::new(servers, self.kafka.clone())?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn partitions_follow_sarama_and_librdkafka() {
        // "a" hashes to 0xe40c292c: negative as i32, |-468965076| % 3 = 0 (the unsigned
        // hash, 3826002220 % 3, would give 1).
        assert_eq!(partition_for("a", 3), 0);
        // i32::MIN has no positive counterpart: both clients use 2^31.
        assert_eq!((0x8000_0000u32 as i32).unsigned_abs() % 3, 2);
        for key in ["1", "2", "the-movie"] {
            assert!(partition_for(key, 3) < 3);
        }
    }

    #[test]
    fn broker_kinds_parse() {
        assert_eq!("sqlite".parse(), Ok(BrokerKind::Sqlite));
        assert_eq!(
            "kafka://127.0.0.1:9092,h2:9093".parse(),
            Ok(BrokerKind::Kafka("127.0.0.1:9092,h2:9093".into()))
        );
        for bad in ["kafka://", "kafka://host", "rabbit://x:1", ""] {
            assert!(bad.parse::<BrokerKind>().is_err(), "{bad}");
        }
    }
}
