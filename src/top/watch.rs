//! Reading every registered instance each interval, and the snapshot `top` shows.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;
use tokio::time::Instant;

use super::{Figures, Reading, State, prometheus::Sample};
use crate::{
    discovery::{InstanceInfo, Registry},
    lock::{KeyStatus, LockBackend},
};

/// One instance in a snapshot.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub service: String,
    pub instance_id: String,
    pub address: String,
    /// `serving`, `not_serving`, `refused` or `unreachable`.
    pub state: &'static str,
    /// Why, when not serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Callers that have ejected it (outlier detection).
    pub ejected_by: Vec<String>,
    /// `pid@host` of the process serving it, and its version, as its metrics say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub figures: Figures,
    /// The same figures per endpoint that had calls in the interval, busiest first.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoint {
    pub endpoint: String,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A feed topic, from the metrics of the rating instances that consume it.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Feed {
    pub topic: String,
    /// Events published but not yet applied (the largest report when several instances
    /// consume it).
    pub lag_events: Option<f64>,
    pub dead_lettered: Option<f64>,
    /// Events applied per second over the interval, by every instance that consumes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied_per_sec: Option<f64>,
}

/// Calls from one service to another over the interval, as the callers count them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub calls_per_sec: f64,
    /// Share of the attempts that failed, in percent; `None` without calls.
    pub error_percent: Option<f64>,
}

/// A process's change events not yet published (`movieapp_outbox_pending`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outbox {
    pub process: String,
    pub pending: f64,
}

/// Everything `top` shows at one moment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub registry: String,
    pub interval_secs: f64,
    pub instances: Vec<Instance>,
    /// Per topic, by name.
    pub feeds: Vec<Feed>,
    /// Calls between services (movie to metadata and rating, everyone to auth), summed
    /// over the processes that make them.
    pub edges: Vec<Edge>,
    /// Per process whose outbox has a gauge.
    pub outbox: Vec<Outbox>,
    /// The lock store's keys; `None` when there is no store to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks: Option<Vec<KeyStatus>>,
    /// Why the locks could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locks_error: Option<String>,
}

impl Snapshot {
    /// The instances that did not answer at all.
    pub fn unreachable(&self) -> Vec<&str> {
        self.instances
            .iter()
            .filter(|i| i.state == "unreachable")
            .map(|i| i.instance_id.as_str())
            .collect()
    }
}

/// What was read at one moment.
struct Round {
    instances: Vec<InstanceInfo>,
    readings: Vec<Reading>,
    at: Instant,
}

/// Reads the registry's instances, and each one's `/readyz` and `/metrics`.
pub struct Watcher {
    registry: Arc<dyn Registry>,
    client: reqwest::Client,
    scheme: &'static str,
    locks: Option<Arc<dyn LockBackend>>,
    previous: Option<Round>,
}

impl Watcher {
    /// `scheme` is `http` or `https` (the client then knows the CA).
    pub fn new(
        registry: Arc<dyn Registry>,
        client: reqwest::Client,
        scheme: &'static str,
        locks: Option<Arc<dyn LockBackend>>,
    ) -> Self {
        Self {
            registry,
            client,
            scheme,
            locks,
            previous: None,
        }
    }

    /// Reads everything now; the figures are over the time since the last call (the
    /// first call's, since itself: none).
    pub async fn snapshot(&mut self) -> Result<Snapshot, crate::discovery::RegistryError> {
        let round = self.round().await?;
        let previous = self.previous.take();
        let elapsed = previous
            .as_ref()
            .map_or(Duration::ZERO, |p| round.at.duration_since(p.at));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let empty: &[Sample] = &[];
        // What an instance answered last time: its figures are the difference.
        let before = |info: &InstanceInfo| {
            previous
                .as_ref()
                .and_then(|p| {
                    let at = p
                        .instances
                        .iter()
                        .position(|i| i.instance_id == info.instance_id)?;
                    Some(&p.readings[at].samples[..])
                })
                .unwrap_or(empty)
        };
        let instances = round
            .instances
            .iter()
            .zip(&round.readings)
            .map(|(info, reading)| instance(info, reading, before(info), elapsed, now))
            .collect();
        // Each process once: its instances share one /metrics.
        let mut processes: Vec<(String, &[Sample], &[Sample])> = Vec::new();
        for (info, reading) in round.instances.iter().zip(&round.readings) {
            let Some(process) = process_of(&reading.samples) else {
                continue;
            };
            if processes.iter().any(|(p, ..)| *p == process) {
                continue;
            }
            processes.push((process, before(info), &reading.samples[..]));
        }
        let mut feeds = feeds(&round.readings);
        let edges = super::edges(&processes, elapsed);
        if !elapsed.is_zero() {
            for feed in &mut feeds {
                feed.applied_per_sec =
                    Some(super::applied_per_sec(&processes, &feed.topic, elapsed));
            }
        }
        let outbox = processes
            .iter()
            .filter_map(|(process, _, after)| {
                let pending = after
                    .iter()
                    .filter(|s| s.name == crate::events::relay::PENDING_METRIC)
                    .map(|s| s.value)
                    .reduce(f64::max)?;
                Some(Outbox {
                    process: process.clone(),
                    pending,
                })
            })
            .collect();
        let (locks, locks_error) = match &self.locks {
            None => (None, None),
            Some(store) => match store.status().await {
                Ok(keys) => (Some(keys), None),
                Err(e) => (None, Some(e.to_string())),
            },
        };
        self.previous = Some(round);
        Ok(Snapshot {
            registry: self.registry.describe(),
            interval_secs: elapsed.as_secs_f64(),
            instances,
            feeds,
            edges,
            outbox,
            locks,
            locks_error,
        })
    }

    async fn round(&self) -> Result<Round, crate::discovery::RegistryError> {
        let instances = self.registry.instances().await?;
        // The instances of one process share its /metrics: it is read from the first of
        // them (as the last round found them), the others only say whether they are ready.
        let mut process_of_addr = std::collections::HashMap::new();
        if let Some(previous) = &self.previous {
            for (info, reading) in previous.instances.iter().zip(&previous.readings) {
                if let Some(process) = process_of(&reading.samples) {
                    process_of_addr.insert(info.address.clone(), process);
                }
            }
        }
        let mut readers: Vec<(String, usize)> = Vec::new();
        let shares: Vec<Option<usize>> = instances
            .iter()
            .enumerate()
            .map(|(at, i)| {
                let process = process_of_addr.get(&i.address)?;
                match readers.iter().find(|(p, _)| p == process) {
                    Some(&(_, reader)) => Some(reader),
                    None => {
                        readers.push((process.clone(), at));
                        None
                    }
                }
            })
            .collect();
        // Every instance at once: a slow one does not hold up the others.
        let reads: Vec<_> = instances
            .iter()
            .zip(&shares)
            .map(|(i, shared)| {
                let client = self.client.clone();
                let base = format!("{}://{}", self.scheme, i.address);
                let metrics = shared.is_none();
                tokio::spawn(async move { super::read(&client, &base, metrics).await })
            })
            .collect();
        let mut readings = Vec::with_capacity(reads.len());
        for read in reads {
            readings.push(read.await.unwrap_or_else(|e| Reading {
                state: State::Unreachable(e.to_string()),
                samples: Vec::new(),
            }));
        }
        for (at, shared) in shares.iter().enumerate() {
            if let Some(reader) = *shared
                && !matches!(
                    readings[at].state,
                    State::Unreachable(_) | State::Refused(_)
                )
            {
                readings[at].samples = readings[reader].samples.clone();
            }
        }
        Ok(Round {
            instances,
            readings,
            at: Instant::now(),
        })
    }
}

fn instance(
    info: &InstanceInfo,
    reading: &Reading,
    before: &[Sample],
    elapsed: Duration,
    now: f64,
) -> Instance {
    let (state, reason) = match &reading.state {
        State::Serving => ("serving", None),
        State::NotServing(why) => ("not_serving", Some(why.clone())),
        State::Refused(status) => ("refused", Some(format!("HTTP {status}"))),
        State::Unreachable(why) => ("unreachable", Some(why.clone())),
    };
    let (figures, endpoints) = if reading.samples.is_empty() || elapsed.is_zero() {
        (Figures::default(), Vec::new())
    } else {
        let mut endpoints: Vec<Endpoint> =
            super::endpoint_figures(&info.service, before, &reading.samples, elapsed)
                .into_iter()
                .map(|(endpoint, figures)| Endpoint { endpoint, figures })
                .collect();
        // Those without calls in the interval (unused routes, the catch-alls) say nothing.
        endpoints.retain(|e| e.figures.calls_per_sec > 0.0);
        endpoints.sort_by(|a, b| {
            b.figures
                .calls_per_sec
                .total_cmp(&a.figures.calls_per_sec)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        (
            super::figures(&info.service, before, &reading.samples, elapsed, now),
            endpoints,
        )
    };
    let build = reading
        .samples
        .iter()
        .find(|s| s.name == "movieapp_build_info");
    Instance {
        service: info.service.clone(),
        instance_id: info.instance_id.clone(),
        address: info.address.clone(),
        state,
        reason,
        ejected_by: info.ejections.iter().map(|e| e.by.clone()).collect(),
        process: process_of(&reading.samples),
        version: build.and_then(|b| b.label("version")).map(str::to_owned),
        figures,
        endpoints,
    }
}

/// `pid@host` of the process whose metrics these are, as its build info says.
fn process_of(samples: &[Sample]) -> Option<String> {
    let build = samples.iter().find(|s| s.name == "movieapp_build_info")?;
    Some(format!("{}@{}", build.label("pid")?, build.label("host")?))
}

/// Each topic's lag and dead letters, as the rating instances report them.
fn feeds(readings: &[Reading]) -> Vec<Feed> {
    use std::collections::BTreeMap;
    let mut topics: BTreeMap<String, Feed> = BTreeMap::new();
    for reading in readings {
        for sample in &reading.samples {
            let lag = sample.name == crate::feed::ingester::LAG_METRIC;
            let dead = sample.name == crate::feed::ingester::DEAD_LETTERED_METRIC;
            let Some(topic) = sample.label("topic").filter(|_| lag || dead) else {
                continue;
            };
            let feed = topics.entry(topic.to_owned()).or_insert_with(|| Feed {
                topic: topic.to_owned(),
                ..Feed::default()
            });
            let slot = if lag {
                &mut feed.lag_events
            } else {
                &mut feed.dead_lettered
            };
            *slot = Some(slot.map_or(sample.value, |v| v.max(sample.value)));
        }
    }
    topics.into_values().collect()
}
