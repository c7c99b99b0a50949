//! The asynchronous rating feed on the embedded broker: produce, ingest, dead letters,
//! durability across a SIGKILL.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use movieapp::{
    broker::{Broker, Record, sqlite::SqliteBroker},
    feed::{DLQ_TOPIC, RATINGS_TOPIC},
};
use rusqlite::Connection;
use serde_json::Value;

use crate::support::{BIN, Server, assert_ratings_match_replay, movieapp, repo_root};

fn status(data_dir: &str) -> Value {
    movieapp(&["feed", "status", "-o", "json", "--data-dir", data_dir]).json()
}

/// Waits until the rating service has applied everything in the topic.
pub fn wait_for_no_lag(data_dir: &str, within: Duration) -> Value {
    let started = Instant::now();
    loop {
        let now = status(data_dir);
        let end: u64 = now["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["endOffset"].as_u64().unwrap())
            .sum();
        if now["lag"] == 0 && end > 0 {
            return now;
        }
        assert!(started.elapsed() < within, "lag did not reach 0: {now}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rating(data_dir: &str, record: &str) -> f64 {
    movieapp(&["rate", "get", record, "-o", "json", "--data-dir", data_dir]).json()["rating"]
        .as_f64()
        .unwrap()
}

#[test]
fn the_books_walkthrough_produce_then_rate_get() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let _server = Server::start(dir.path());
    // `movieapp produce` with no arguments, from the repository: the book's file.
    let out = std::process::Command::new(BIN)
        .args(["produce", "--data-dir", data_dir])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.starts_with("sent 2 events to topic \"ratings\""),
        "{summary}"
    );

    let done = wait_for_no_lag(data_dir, Duration::from_secs(20));
    assert_eq!(done["deadLetters"], 0);
    assert_eq!(rating(data_dir, "1"), 5.0);
    assert_eq!(rating(data_dir, "2"), 4.0);
}

#[test]
fn a_bad_file_names_every_bad_event_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"userId":"1","recordId":"1","recordType":"movie","value":3,"eventType":"put"}"#,
            r#"{"userId":"1","recordId":"1","recordType":"movie","value":0,"eventType":"put"}"#,
            r#"{"userId":"","recordId":"1","recordType":"movie","value":3,"eventType":"put"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let run = movieapp(&[
        "produce",
        "--file",
        file.to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains("2 invalid events, nothing sent"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("event 1 (line 2): invalid rating value \"0\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("event 2 (line 3): invalid user id \"\""),
        "{}",
        run.stderr
    );
    // Nothing sent: the broker was not even created, and looking does not create it.
    assert!(!dir.path().join("broker.db").exists());
    let look = movieapp(&["feed", "status", "--data-dir", data_dir]);
    assert_eq!(look.code, Some(2), "{look:?}");
    assert!(look.stderr.contains("broker.db"), "{}", look.stderr);
    assert!(!dir.path().join("broker.db").exists());

    let missing = movieapp(&[
        "produce",
        "--file",
        "/nonexistent/events.json",
        "--data-dir",
        data_dir,
    ]);
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("/nonexistent/events.json"),
        "{}",
        missing.stderr
    );
    let usage = movieapp(&["produce", "--seed", "3", "--data-dir", data_dir]);
    assert_eq!(usage.code, Some(2), "--seed needs --generate: {usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_message_is_dead_lettered_and_the_feed_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // Valid, malformed, invalid, valid: all on record 9's partition, in this order.
    let event = |user: &str, value: u8| {
        format!(
            r#"{{"userId":"{user}","recordId":"9","recordType":"movie","value":{value},"eventType":"put"}}"#
        )
    };
    let records = [
        event("a", 2),
        "{not json".to_owned(),
        event("b", 9),
        event("c", 4),
    ]
    .map(|payload| Record {
        key: "9".into(),
        payload: payload.into_bytes(),
        headers: Vec::new(),
    });
    let broker = SqliteBroker::open(&dir.path().join("broker.db"), 3)
        .await
        .unwrap();
    broker.publish(RATINGS_TOPIC, &records).await.unwrap();

    let server = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || Server::start(&dir)
    })
    .await
    .unwrap();
    let done = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || {
            let done = wait_for_no_lag(&data_dir, Duration::from_secs(20));
            (done, rating(&data_dir, "9"))
        }
    })
    .await
    .unwrap();
    assert_eq!(done.0["deadLetters"], 2, "{}", done.0);
    assert_eq!(done.1, 3.0, "a (2) and c (4) applied around the poison");

    let mut dlq = broker.consumer(DLQ_TOPIC, "test").await.unwrap();
    let letters = dlq.poll(10, Duration::ZERO).await.unwrap();
    let reasons: Vec<Value> = letters
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).unwrap())
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        reasons[0]["reason"]
            .as_str()
            .unwrap()
            .contains("undecodable"),
        "{reasons:?}"
    );
    assert_eq!(reasons[0]["payload"], "{not json");
    assert_eq!(reasons[0]["offset"], 1);
    assert!(
        reasons[1]["reason"]
            .as_str()
            .unwrap()
            .contains("invalid rating value \"9\""),
        "{reasons:?}"
    );
    drop(server);
}

/// Sum of the committed offsets of the rating group, read straight from the file.
fn committed(broker_db: &Path) -> u64 {
    let Ok(c) = Connection::open(broker_db) else {
        return 0;
    };
    c.query_row(
        "SELECT COALESCE(SUM(next_seq), 0) FROM group_offsets WHERE grp = 'rating' AND topic = 'ratings'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |v| v as u64)
}

#[test]
fn ingestion_survives_sigkill_and_ends_at_each_keys_last_event() {
    const EVENTS: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let broker_db = dir.path().join("broker.db");

    // Fill the topic first, so the kill lands in the middle of ingestion.
    movieapp(&[
        "produce",
        "--generate",
        &EVENTS.to_string(),
        "--seed",
        "42",
        "--users",
        "50",
        "--records",
        "200",
        "--data-dir",
        data_dir,
    ])
    .ok();

    let server = Server::start(dir.path());
    let started = Instant::now();
    loop {
        let done = committed(&broker_db);
        if done > 0 && done < EVENTS {
            break;
        }
        assert!(
            done < EVENTS,
            "ingestion finished before the kill could land; make it longer"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ingestion never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    server.kill();
    let at_kill = committed(&broker_db);
    assert!(at_kill < EVENTS, "killed mid-ingestion: {at_kill}");

    let _server = Server::start(dir.path());
    wait_for_no_lag(data_dir, Duration::from_secs(120));

    // Independent recomputation: replay the topic as stored, partition by partition.
    let broker = Connection::open(&broker_db).unwrap();
    let mut stmt = broker
        .prepare("SELECT payload FROM messages WHERE topic = 'ratings' ORDER BY partition, seq")
        .unwrap();
    let events: Vec<Value> = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|payload| serde_json::from_slice(&payload.unwrap()).unwrap())
        .collect();
    let replayed = assert_ratings_match_replay(&dir.path().join("rating.db"), &events);
    assert_eq!(replayed as u64, EVENTS);
}
