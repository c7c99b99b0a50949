//! A real Kafka cluster through librdkafka (`rdkafka`, bundled librdkafka).
//!
//! Producer: keyed by record id, partitioned with librdkafka's `fnv1a` partitioner, which
//! is the same FNV-1a-32 modulo the partition count as [`super::partition_for`]; every
//! publish waits for delivery, bounded by `message.timeout.ms`. Consumer: group `rating`,
//! `auto.offset.reset=earliest`, `enable.auto.commit=false`; offsets are committed
//! explicitly after the apply. Topics that do not exist are created with
//! [`super::DEFAULT_PARTITIONS`] partitions.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use rdkafka::{
    ClientConfig, ClientContext, Message as _, Offset, TopicPartitionList,
    admin::{AdminClient, AdminOptions, NewTopic, TopicReplication},
    config::RDKafkaLogLevel,
    consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, StreamConsumer},
    error::{KafkaError, RDKafkaErrorCode},
    message::{Header, Headers as _, OwnedHeaders},
    producer::{FutureProducer, FutureRecord, Producer as _},
};

use crate::telemetry::Throttle;

use super::{
    BoxFuture, Broker, BrokerError, Consumer, DEFAULT_PARTITIONS, KafkaProperties, Message,
    PartitionLag, PublishReport, Record,
};

/// How long a record may take to be delivered before publish fails.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long metadata, watermark and offset requests may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Records in flight per publish round (librdkafka's queue holds 100 000 by default).
const IN_FLIGHT: usize = 20_000;
/// How long [`Broker::check`] waits for the cluster to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// What every librdkafka client of one broker reports to: its log lines go to debug, and
/// its errors (a cluster that is down reports one a second) are logged once at info, then
/// at debug until a minute has passed. The last error explains later failures.
#[derive(Clone)]
pub struct Quiet {
    broker: String,
    /// The last error, and when errors were last logged loudly.
    last: Arc<Mutex<(Option<String>, Throttle)>>,
}

impl Quiet {
    fn new(broker: String) -> Self {
        Self {
            broker,
            last: Arc::new(Mutex::new((None, Throttle::per_minute()))),
        }
    }

    /// The last error librdkafka reported, if any.
    fn last_error(&self) -> Option<String> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }
}

impl ClientContext for Quiet {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        tracing::debug!(target: "librdkafka", broker = %self.broker, fac, "{message}");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // "All broker connections are down" only sums up the errors before it.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            tracing::debug!(target: "librdkafka", broker = %self.broker, "{error}: {reason}");
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        last.0 = Some(reason.to_owned());
        if last.1.ready() {
            tracing::info!(broker = %self.broker, error = %error, "Kafka: {reason}");
        } else {
            tracing::debug!(target: "librdkafka", broker = %self.broker, "{error}: {reason}");
        }
    }
}

impl ConsumerContext for Quiet {}

pub struct KafkaBroker {
    servers: String,
    properties: KafkaProperties,
    context: Quiet,
    producer: FutureProducer<Quiet>,
    admin: AdminClient<Quiet>,
    /// Topics known to exist.
    known: Mutex<HashSet<String>>,
}

impl KafkaBroker {
    /// `servers`: bootstrap servers, `host:port[,host:port]`; `properties` go over the
    /// defaults. Connects lazily.
    pub fn new(servers: &str, properties: KafkaProperties) -> Result<Self, BrokerError> {
        let failed = |e: KafkaError| BrokerError::Backend {
            broker: format!("kafka://{servers}"),
            message: e.to_string(),
        };
        let context = Quiet::new(format!("kafka://{servers}"));
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", servers)
            .set("partitioner", "fnv1a")
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .set("linger.ms", "5");
        for (name, value) in &properties.producer {
            config.set(name, &value.0);
        }
        let producer = config
            .create_with_context(context.clone())
            .map_err(failed)?;
        let admin = ClientConfig::new()
            .set("bootstrap.servers", servers)
            .create_with_context(context.clone())
            .map_err(failed)?;
        Ok(Self {
            servers: servers.to_owned(),
            properties,
            context,
            producer,
            admin,
            known: Mutex::new(HashSet::new()),
        })
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> BrokerError {
        // A timeout says little; librdkafka's last error says why (connection refused…).
        let message = match self.context.last_error() {
            Some(why) => format!("{what}: {e} ({why})"),
            None => format!("{what}: {e}"),
        };
        BrokerError::Backend {
            broker: self.describe(),
            message,
        }
    }

    /// Makes sure `topic` exists, creating it if needed.
    async fn ensure_topic(&self, topic: &str) -> Result<(), BrokerError> {
        if self
            .known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(topic)
        {
            return Ok(());
        }
        let new = NewTopic::new(topic, DEFAULT_PARTITIONS as i32, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
        let results = self
            .admin
            .create_topics([&new], &options)
            .await
            .map_err(|e| self.failed(&format!("create topic {topic:?}"), e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(self.failed(&format!("create topic {name:?}"), code));
                }
            }
        }
        self.known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(topic.to_owned());
        Ok(())
    }

    /// A consumer in `group` that subscribes to nothing, for offsets and watermarks.
    fn inspector(&self, group: &str) -> Result<BaseConsumer<Quiet>, BrokerError> {
        ClientConfig::new()
            .set("bootstrap.servers", &self.servers)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create_with_context(self.context.clone())
            .map_err(|e| self.failed("create consumer", e))
    }
}

impl Broker for KafkaBroker {
    fn publish<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<PublishReport, BrokerError>> {
        Box::pin(async move {
            self.ensure_topic(topic).await?;
            let mut report = PublishReport::default();
            for chunk in records.chunks(IN_FLIGHT) {
                let mut deliveries = Vec::with_capacity(chunk.len());
                for record in chunk {
                    let mut message = FutureRecord::to(topic)
                        .key(record.key.as_bytes())
                        .payload(&record.payload);
                    if !record.headers.is_empty() {
                        message = message.headers(record.headers.iter().fold(
                            OwnedHeaders::new_with_capacity(record.headers.len()),
                            |headers, (key, value)| {
                                headers.insert(Header {
                                    key,
                                    value: Some(value),
                                })
                            },
                        ));
                    }
                    let delivery = self
                        .producer
                        .send_result(message)
                        .map_err(|(e, _)| self.failed("publish", e))?;
                    deliveries.push(delivery);
                }
                for delivery in deliveries {
                    match delivery.await {
                        Ok(Ok(delivered)) => {
                            *report
                                .per_partition
                                .entry(delivered.partition as u32)
                                .or_default() += 1;
                        }
                        Ok(Err((e, _))) => return Err(self.failed("delivery", e)),
                        Err(_) => return Err(self.failed("delivery", "the producer went away")),
                    }
                }
            }
            Ok(report)
        })
    }

    fn consumer<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn Consumer>, BrokerError>> {
        Box::pin(async move {
            self.ensure_topic(topic).await?;
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", &self.servers)
                .set("group.id", group)
                .set("auto.offset.reset", "earliest")
                .set("enable.partition.eof", "false")
                // A killed instance leaves the group after 6 s (librdkafka's default is
                // 45 s), so a restarted one resumes the feed quickly.
                .set("session.timeout.ms", "6000")
                .set("heartbeat.interval.ms", "2000");
            for (name, value) in &self.properties.consumer {
                config.set(name, &value.0);
            }
            // Offsets are committed after the apply, never automatically: not overridable.
            config.set("enable.auto.commit", "false");
            let consumer: StreamConsumer<Quiet> = config
                .create_with_context(self.context.clone())
                .map_err(|e| self.failed("create consumer", e))?;
            consumer
                .subscribe(&[topic])
                .map_err(|e| self.failed(&format!("subscribe to {topic:?}"), e))?;
            Ok(Box::new(KafkaConsumer {
                consumer: Arc::new(consumer),
                topic: topic.to_owned(),
                describe: self.describe(),
            }) as Box<dyn Consumer>)
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), BrokerError>> {
        Box::pin(async move {
            // The producer's client, already connected (no new client, no group); the
            // request blocks, so it runs on the blocking pool.
            let producer = self.producer.clone();
            let answered = tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, CHECK_TIMEOUT)
                    .map(drop)
            })
            .await;
            let unreachable = |e: &dyn std::fmt::Display| BrokerError::Unreachable {
                broker: self.describe(),
                reason: self.context.last_error().unwrap_or_else(|| e.to_string()),
            };
            match answered {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(unreachable(&e)),
                Err(e) => Err(unreachable(&e)),
            }
        })
    }

    fn lag<'a>(
        &'a self,
        topic: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PartitionLag>, BrokerError>> {
        Box::pin(async move {
            let inspector = self.inspector(group)?;
            let (topic, describe) = (topic.to_owned(), self.describe());
            // librdkafka's calls here block: keep them off the executor.
            let lag = tokio::task::spawn_blocking(move || -> Result<Vec<PartitionLag>, String> {
                let metadata = inspector
                    .fetch_metadata(Some(&topic), REQUEST_TIMEOUT)
                    .map_err(|e| format!("metadata of {topic:?}: {e}"))?;
                let partitions: Vec<i32> = metadata
                    .topics()
                    .iter()
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect();
                let mut list = TopicPartitionList::new();
                for p in &partitions {
                    list.add_partition(&topic, *p);
                }
                let committed = inspector
                    .committed_offsets(list, REQUEST_TIMEOUT)
                    .map_err(|e| format!("committed offsets of {topic:?}: {e}"))?;
                let mut lag = Vec::with_capacity(partitions.len());
                for p in partitions {
                    let (_, high) = inspector
                        .fetch_watermarks(&topic, p, REQUEST_TIMEOUT)
                        .map_err(|e| format!("watermarks of {topic:?}/{p}: {e}"))?;
                    let committed =
                        committed
                            .find_partition(&topic, p)
                            .and_then(|e| match e.offset() {
                                Offset::Offset(o) if o >= 0 => Some(o as u64),
                                _ => None,
                            });
                    let end = high.max(0) as u64;
                    lag.push(PartitionLag {
                        partition: p as u32,
                        end_offset: end,
                        committed,
                        lag: end.saturating_sub(committed.unwrap_or(0)),
                    });
                }
                lag.sort_by_key(|l| l.partition);
                Ok(lag)
            })
            .await;
            match lag {
                Ok(Ok(lag)) => Ok(lag),
                Ok(Err(message)) => Err(BrokerError::Backend {
                    broker: describe,
                    message,
                }),
                Err(e) => Err(BrokerError::Backend {
                    broker: describe,
                    message: e.to_string(),
                }),
            }
        })
    }

    fn describe(&self) -> String {
        format!("kafka://{}", self.servers)
    }
}

struct KafkaConsumer {
    consumer: Arc<StreamConsumer<Quiet>>,
    topic: String,
    describe: String,
}

impl KafkaConsumer {
    fn failed(&self, what: &str, e: impl std::fmt::Display) -> BrokerError {
        BrokerError::Backend {
            broker: self.describe.clone(),
            message: format!("{what}: {e}"),
        }
    }

    fn owned(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
        Message {
            partition: m.partition() as u32,
            offset: m.offset() as u64,
            key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: m.payload().unwrap_or_default().to_vec(),
            headers: m
                .headers()
                .map(|headers| {
                    headers
                        .iter()
                        .filter_map(|h| {
                            Some((
                                h.key.to_owned(),
                                std::str::from_utf8(h.value?).ok()?.to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

impl Consumer for KafkaConsumer {
    fn poll(
        &mut self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Message>, BrokerError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            // Wait up to `wait` for the first record, then take what is already there.
            let mut timeout = wait;
            while out.len() < max.max(1) {
                match tokio::time::timeout(timeout, self.consumer.recv()).await {
                    Ok(Ok(m)) => out.push(Self::owned(&m)),
                    Ok(Err(e)) => {
                        if out.is_empty() {
                            return Err(self.failed("consume", e));
                        }
                        break;
                    }
                    Err(_elapsed) => break,
                }
                timeout = Duration::from_millis(1);
            }
            Ok(out)
        })
    }

    fn commit<'a>(
        &'a mut self,
        positions: &'a [(u32, u64)],
    ) -> BoxFuture<'a, Result<(), BrokerError>> {
        Box::pin(async move {
            let mut list = TopicPartitionList::new();
            for (partition, next) in positions {
                list.add_partition_offset(
                    &self.topic,
                    *partition as i32,
                    Offset::Offset(*next as i64),
                )
                .map_err(|e| self.failed("commit", e))?;
            }
            let consumer = Arc::clone(&self.consumer);
            // A synchronous commit blocks: keep it off the executor.
            match tokio::task::spawn_blocking(move || consumer.commit(&list, CommitMode::Sync))
                .await
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(self.failed("commit", e)),
                Err(e) => Err(self.failed("commit", e)),
            }
        })
    }
}
