//! The rating feed on a real Kafka-compatible broker: tansu (crates.io), started fresh for
//! each test on a free port, with in-memory storage. scripts/test.sh installs tansu and runs
//! this target (`cargo test --test kafka`).
//!
//! Two bugs of tansu 0.6.0 shape these tests:
//! - it reports a partition's high watermark as 1 + the last batch's base offset, so the
//!   tests do not trust reported lag: a fresh broker starts every partition at offset 0,
//!   and ingestion is complete when the committed offsets reach the per-partition counts
//!   `produce` reported;
//! - a fetch from an offset inside a record batch returns the next batch, skipping the rest
//!   of that one, so resuming from a committed offset loses records. The tests therefore
//!   configure the producer (a `broker.kafka.producer` property, as an operator would) to
//!   send one record per batch. Real Kafka needs neither.

#[path = "../cli/support.rs"]
#[allow(dead_code)]
mod support;

#[path = "../cli/crash_writes.rs"]
mod crash_writes;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{Server, assert_ratings_match_replay, movieapp_env, repo_root};

/// A tansu broker on a free port; killed when dropped.
struct Tansu {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Tansu {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    /// A tansu on `port`.
    fn start_on(port: u16) -> Option<Self> {
        let bin = match std::env::var("TANSU") {
            Ok(bin) => bin,
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("TANSU is not set: CI must run the tests through scripts/test.sh")
            }
            Err(_) => {
                eprintln!(
                    "skipped: TANSU is not set; run scripts/test.sh to include the Kafka tests"
                );
                return None;
            }
        };
        let listener = format!("tcp://127.0.0.1:{port}");
        // An empty directory: tansu reads any .env in its working directory.
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new(&bin)
            .args([
                "broker",
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {bin}: {e}"));
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "tansu did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Self {
            child,
            url: format!("kafka://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    fn bootstrap(&self) -> &str {
        self.url.trim_start_matches("kafka://")
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Configuration for talking to tansu: one record per batch (see the module docs).
const TANSU_CONFIG: &str = "broker:\n  kafka:\n    producer:\n      batch.num.messages: 1\n";

/// Writes the tansu configuration into `dir`, returning its path.
fn tansu_config(dir: &std::path::Path) -> String {
    let path = dir.join("tansu.yaml");
    std::fs::write(&path, TANSU_CONFIG).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs a client command on `data_dir` with the broker (and the tansu configuration there).
fn run(data_dir: &str, broker: &str, args: &[&str]) -> support::Run {
    let config = tansu_config(std::path::Path::new(data_dir));
    movieapp_env(
        args,
        &[
            ("MOVIEAPP_DATA_DIR", data_dir),
            ("MOVIEAPP_BROKER", broker),
            ("MOVIEAPP_CONFIG", &config),
        ],
    )
}

/// Per-partition counts from `produce -o json`.
fn produced(summary: &Value) -> BTreeMap<u64, u64> {
    summary["perPartition"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, n)| (p.parse().unwrap(), n.as_u64().unwrap()))
        .collect()
}

/// The rating group's committed offsets per partition, from `feed status`.
fn committed(data_dir: &str, broker: &str) -> BTreeMap<u64, u64> {
    let status = run(data_dir, broker, &["feed", "status", "-o", "json"]).json();
    status["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| Some((p["partition"].as_u64()?, p["committed"].as_u64()?)))
        .collect()
}

fn wait_until_applied(
    data_dir: &str,
    broker: &str,
    expected: &BTreeMap<u64, u64>,
    within: Duration,
) {
    let started = Instant::now();
    loop {
        let now = committed(data_dir, broker);
        if expected.iter().all(|(p, n)| now.get(p) == Some(n)) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "not applied: committed {now:?}, produced {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Reads a topic with kafka-python (scripts/test.sh sets GRPC_TEST_PYTHON to its venv),
/// until 5 s pass without a record.
fn read_topic(bootstrap: &str, topic: &str) -> Vec<Value> {
    read_topic_idle(bootstrap, topic, Duration::from_secs(5))
}

/// Reads a topic with kafka-python, until `idle` passes without a record.
fn read_topic_idle(bootstrap: &str, topic: &str, idle: Duration) -> Vec<Value> {
    let python = std::env::var("GRPC_TEST_PYTHON").expect("GRPC_TEST_PYTHON: run scripts/test.sh");
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/read_topic.py"))
        .args([bootstrap, topic, &idle.as_millis().to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "read_topic.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn rating(data_dir: &str, broker: &str, record: &str) -> f64 {
    run(data_dir, broker, &["rate", "get", record, "-o", "json"]).json()["rating"]
        .as_f64()
        .unwrap()
}

#[test]
fn the_books_walkthrough_on_kafka_published_as_the_books_json() {
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let _server = Server::start_with(
        dir.path(),
        &[
            "--broker",
            &kafka.url,
            "--config",
            &tansu_config(dir.path()),
        ],
    );

    let out = Command::new(support::BIN)
        .args([
            "produce",
            "-o",
            "json",
            "--broker",
            &kafka.url,
            "--data-dir",
            data_dir,
        ])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["events"], 2);
    wait_until_applied(
        data_dir,
        &kafka.url,
        &produced(&summary),
        Duration::from_secs(60),
    );
    assert_eq!(rating(data_dir, &kafka.url, "1"), 5.0);
    assert_eq!(rating(data_dir, &kafka.url, "2"), 4.0);

    // An independent client reads back exactly the book's events, keyed by record id.
    let book: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("fixtures/ratingsdata.json")).unwrap(),
    )
    .unwrap();
    let mut records = read_topic(kafka.bootstrap(), "ratings");
    records.sort_by_key(|r| r["value"].as_str().unwrap().to_owned());
    assert_eq!(records.len(), 2, "{records:?}");
    for (record, event) in records.iter().zip(&book) {
        let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
        assert_eq!(&value, event);
        assert_eq!(record["key"], event["recordId"]);
    }
}

#[test]
fn kafka_and_the_embedded_broker_partition_alike() {
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let args = ["produce", "--generate", "3000", "--seed", "5", "-o", "json"];
    let on_kafka = run(data_dir, &kafka.url, &args).json();
    let embedded = run(data_dir, "sqlite", &args).json();
    assert_eq!(on_kafka["perPartition"], embedded["perPartition"]);
}

#[test]
fn ingestion_on_kafka_survives_sigkill_and_ends_at_each_keys_last_event() {
    const EVENTS: &str = "100000";
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let summary = run(
        data_dir,
        &kafka.url,
        &[
            "produce",
            "--generate",
            EVENTS,
            "--seed",
            "11",
            "--users",
            "50",
            "--records",
            "200",
            "-o",
            "json",
        ],
    )
    .json();
    let expected_offsets = produced(&summary);

    let server = Server::start_with(
        dir.path(),
        &[
            "--broker",
            &kafka.url,
            "--config",
            &tansu_config(dir.path()),
        ],
    );
    let started = Instant::now();
    loop {
        let done: u64 = committed(data_dir, &kafka.url).values().sum();
        if done > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "ingestion never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let at_kill: u64 = committed(data_dir, &kafka.url).values().sum();
    assert!(
        at_kill < 100_000,
        "killed mid-ingestion: {at_kill} committed"
    );
    // The killed consumer stays a member of the group until its session times out (6 s).
    // A new member joining while it is there triggers a rebalance that tansu 0.6.0 can
    // leave half done, the new member getting only some partitions for good (the broker bug
    // of nisshi-io/nisshi#625; Kafka rebalances). Waiting out the session keeps this test
    // about our ingester: nothing lost or applied twice across a SIGKILL.
    std::thread::sleep(Duration::from_secs(8));

    let _server = Server::start_with(
        dir.path(),
        &[
            "--broker",
            &kafka.url,
            "--config",
            &tansu_config(dir.path()),
        ],
    );
    wait_until_applied(
        data_dir,
        &kafka.url,
        &expected_offsets,
        Duration::from_secs(180),
    );

    // Independent recomputation from the topic as an independent client reads it.
    let mut records = read_topic(kafka.bootstrap(), "ratings");
    assert_eq!(records.len(), 100_000);
    records.sort_by_key(|r| (r["partition"].as_u64(), r["offset"].as_u64()));
    let events: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(r["value"].as_str().unwrap()).unwrap())
        .collect();
    assert_ratings_match_replay(&PathBuf::from(data_dir).join("rating.db"), &events);
}

#[test]
fn record_headers_round_trip_on_kafka_and_the_embedded_broker() {
    use movieapp::broker::{BrokerKind, BrokerSettings, Record};
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let record = Record {
        key: "1".into(),
        payload: b"{}".to_vec(),
        headers: vec![(
            "traceparent".into(),
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        )],
    };
    for kind in [
        BrokerKind::Kafka(kafka.bootstrap().to_owned()),
        BrokerKind::Sqlite,
    ] {
        runtime.block_on(async {
            let broker = BrokerSettings {
                kind: kind.clone(),
                data_dir: dir.path().to_owned(),
                kafka: Default::default(),
            }
            .open()
            .await
            .unwrap();
            broker
                .publish("headers", std::slice::from_ref(&record))
                .await
                .unwrap();
            let mut consumer = broker.consumer("headers", "test").await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(30);
            let received = loop {
                let polled = consumer.poll(10, Duration::from_millis(500)).await.unwrap();
                if let Some(m) = polled.into_iter().next() {
                    break m;
                }
                assert!(Instant::now() < deadline, "{kind}: nothing to read back");
            };
            assert_eq!(received.headers, record.headers, "{kind}");
            assert_eq!(received.payload, record.payload, "{kind}");
        });
    }
}

/// `movieapp_outbox_pending` of the serve whose rating service is at `addr`.
fn outbox_pending(addr: &str) -> f64 {
    support::sample(
        &support::http_get(addr, "/metrics").1,
        "movieapp_outbox_pending",
    )
}

#[test]
fn rating_changes_reach_kafka_for_kafka_python_and_wait_out_an_outage() {
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--broker",
            &kafka.url,
            "--config",
            &tansu_config(dir.path()),
        ],
    );
    let rating_addr = server.addr("rating").to_owned();
    let url = kafka.url.clone();
    let put = |user: &str, value: &str| {
        let run = run(data_dir, &url, &["rate", "put", "1", value, "--user", user]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    };
    put("ann", "5");
    put("bob", "3");
    put("ann", "4");
    support::eventually(Duration::from_secs(30), "the outbox is published", || {
        outbox_pending(&rating_addr) == 0.0
    });
    // An independent client reads the events, keyed by record id, as the docs describe.
    let read = |kafka: &Tansu| -> Vec<Value> {
        let mut records = read_topic(kafka.bootstrap(), "rating-changes");
        records.sort_by_key(|r| (r["partition"].as_u64(), r["offset"].as_u64()));
        records
            .iter()
            .map(|r| {
                assert_eq!(r["key"], "1", "{r}");
                serde_json::from_str(r["value"].as_str().unwrap()).unwrap()
            })
            .collect()
    };
    let events = read(&kafka);
    let seen: Vec<(&str, i64, &str)> = events
        .iter()
        .map(|e| {
            (
                e["userId"].as_str().unwrap(),
                e["aggregate"]["count"].as_i64().unwrap(),
                e["source"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("ann", 1, "grpc"), ("bob", 2, "grpc"), ("ann", 2, "grpc")]
    );
    assert_eq!(events[2]["previousValue"], 5);
    assert_eq!(events[2]["aggregate"]["mean"], 3.5);

    // The broker stops answering (stopped, not killed: tansu keeps topics in memory):
    // writes still succeed, and wait in the outbox.
    support::signal(kafka.child.id(), "STOP");
    put("cat", "2");
    put("dan", "1");
    support::eventually(Duration::from_secs(30), "two events wait", || {
        outbox_pending(&rating_addr) == 2.0
    });
    // It answers again: both are published, after the others, in order.
    support::signal(kafka.child.id(), "CONT");
    support::eventually(Duration::from_secs(60), "the outbox drains", || {
        outbox_pending(&rating_addr) == 0.0
    });
    let users: Vec<String> = read(&kafka)
        .iter()
        .map(|e| e["userId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, ["ann", "bob", "ann", "cat", "dan"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_reaches_kafka_through_three_sigkills_in_order_per_record() {
    let Some(kafka) = Tansu::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    // tansu's configuration, and a short lease: a killed relay's lock is free again within
    // a second.
    let config = dir.path().join("crash.yaml");
    std::fs::write(&config, format!("{TANSU_CONFIG}lock:\n  ttl: 1s\n")).unwrap();
    let config = config.to_str().unwrap().to_owned();
    let start = {
        let (dir, url, config) = (dir.path().to_owned(), kafka.url.clone(), config.clone());
        move || Server::start_with(&dir, &["--broker", &url, "--config", &config])
    };
    let written = crash_writes::write_through_kills(start, 100_000, 3).await;
    let rating_addr = written.server.addr("rating").to_owned();
    tokio::task::spawn_blocking(move || {
        support::eventually(Duration::from_secs(300), "the outbox is published", || {
            outbox_pending(&rating_addr) == 0.0
        });
        // kafka-python reads it all; a record's events are in one partition, in order. On
        // tansu it sometimes stops early (seen: 42 of 101 thousand, the rest there on the
        // next read): a read that misses some is made again.
        let mut events: Vec<Value> = Vec::new();
        for _ in 0..8 {
            let mut records =
                read_topic_idle(kafka.bootstrap(), "rating-changes", Duration::from_secs(10));
            records.sort_by_key(|r| (r["partition"].as_u64(), r["offset"].as_u64()));
            // What was read, per partition: (records, first offset, last offset).
            let mut read: BTreeMap<u64, (u64, u64, u64)> = BTreeMap::new();
            for r in &records {
                let (p, o) = (r["partition"].as_u64(), r["offset"].as_u64());
                let (p, o) = (p.unwrap_or_default(), o.unwrap_or_default());
                let e = read.entry(p).or_insert((0, o, o));
                *e = (e.0 + 1, e.1.min(o), e.2.max(o));
            }
            eprintln!("kafka-python read {} records: {read:?}", records.len());
            events = records
                .iter()
                .map(|r| {
                    let event: Value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
                    assert_eq!(r["key"], event["recordId"], "keyed by record id: {r}");
                    event
                })
                .collect();
            let found: std::collections::HashSet<usize> =
                events.iter().map(crash_writes::write_of).collect();
            if written.acked.is_subset(&found) {
                break;
            }
        }
        crash_writes::check_published(&events, &written);
        assert_eq!(written.server.stop(), Some(0));
    })
    .await
    .unwrap();
}
