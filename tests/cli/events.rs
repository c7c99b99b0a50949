//! Change events (issue 28): every accepted rating change that changes something reaches
//! the `rating-changes` topic once written, with the record's aggregate after it and where
//! it came in; `movieapp feed tail` follows the topic; with the toggle off nothing is
//! written.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use movieapp::pb::{PutRatingRequest, rating_service_client::RatingServiceClient};
use serde_json::Value;

use crate::{
    crash_writes,
    support::{BIN, Server, http_get, movieapp, sample},
};

/// `movieapp feed tail rating-changes` in the background: its JSON lines as they come.
struct Tail {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Tail {
    fn start(data: &str, from_beginning: bool) -> Self {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "--data-dir",
            data,
            "feed",
            "tail",
            "rating-changes",
            "-o",
            "json",
        ]);
        if from_beginning {
            cmd.arg("--from-beginning");
        }
        Self::spawn(cmd)
    }

    /// Runs `cmd`, a `feed tail`, reading its lines.
    fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The next `n` events, each within 10 s.
    fn next(&self, n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                let line = self
                    .lines
                    .recv_timeout(Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("event {i} of {n}: {e}"));
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
            })
            .collect()
    }

    /// Whatever comes within `wait`.
    fn more(&self, wait: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            lines.push(line);
        }
        lines
    }

    /// Ctrl-C: it exits 0.
    fn interrupt(mut self) {
        crate::support::signal(self.child.id(), "INT");
        let code = crate::support::wait_with_timeout(&mut self.child, Duration::from_secs(10));
        assert_eq!(code, Some(0), "feed tail exits 0 on Ctrl-C");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_reaches_rating_changes_once_with_its_aggregate_and_source() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start_async(dir.path()).await;
    let mut rating = RatingServiceClient::new(server.channel("rating").await);
    let put = |user: &str, value: i32| PutRatingRequest {
        user_id: user.into(),
        record_id: "1".into(),
        record_type: "movie".into(),
        rating_value: value,
    };
    rating.put_rating(put("ann", 5)).await.unwrap();
    // The same value again changes nothing, and publishes nothing.
    rating.put_rating(put("ann", 5)).await.unwrap();
    let rating_addr = server.addr("rating").to_owned();
    let http = tokio::task::spawn_blocking(move || {
        crate::support::http_put(&rating_addr, "/rating?id=1&userId=bob&value=2")
    })
    .await
    .unwrap();
    assert_eq!(http.0, 200, "{}", http.1);
    rating.put_rating(put("ann", 4)).await.unwrap();
    // Through the feed: a put, and a delete of bob's rating.
    let events = dir.path().join("events.json");
    std::fs::write(
        &events,
        r#"[{"userId":"cat","recordId":"1","recordType":"movie","value":3,"eventType":"put"},
            {"userId":"bob","recordId":"1","recordType":"movie","eventType":"delete"}]"#,
    )
    .unwrap();
    let data2 = data.clone();
    tokio::task::spawn_blocking(move || {
        let run = movieapp(&[
            "--data-dir",
            &data2,
            "produce",
            "--file",
            events.to_str().unwrap(),
        ]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let tail = Tail::start(&data2, true);
        let got = tail.next(5);
        let summary: Vec<(String, Value, Value, String, i64, i64)> = got
            .iter()
            .map(|e| {
                (
                    e["userId"].as_str().unwrap().to_owned(),
                    e["value"].clone(),
                    e["previousValue"].clone(),
                    e["source"].as_str().unwrap().to_owned(),
                    e["aggregate"]["count"].as_i64().unwrap(),
                    e["aggregate"]["sum"].as_i64().unwrap(),
                )
            })
            .collect();
        use serde_json::json;
        assert_eq!(
            summary,
            [
                ("ann".into(), json!(5), Value::Null, "grpc".into(), 1, 5),
                ("bob".into(), json!(2), Value::Null, "http".into(), 2, 7),
                ("ann".into(), json!(4), json!(5), "grpc".into(), 2, 6),
                ("cat".into(), json!(3), Value::Null, "feed".into(), 3, 9),
                ("bob".into(), Value::Null, json!(2), "feed".into(), 2, 7),
            ]
        );
        for e in &got {
            assert_eq!(e["recordId"], "1");
            assert_eq!(e["recordType"], "movie");
            let id = e["eventId"].as_str().unwrap();
            assert!(
                id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
                "{e}"
            );
            let at = e["changedAt"].as_str().unwrap();
            assert!(at.starts_with("20") && at.ends_with('Z'), "{e}");
            let mean = e["aggregate"]["mean"].as_f64().unwrap();
            let (count, sum) = (
                e["aggregate"]["count"].as_f64().unwrap(),
                e["aggregate"]["sum"].as_f64().unwrap(),
            );
            assert!((mean - sum / count).abs() < 1e-9, "{e}");
        }
        let ids: std::collections::HashSet<&str> =
            got.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 5);
        assert!(tail.more(Duration::from_millis(700)).is_empty());
        tail.interrupt();
    })
    .await
    .unwrap();

    // A tail from the end sees only what comes after it.
    let data2 = data.clone();
    let tail = tokio::task::spawn_blocking(move || {
        let tail = Tail::start(&data2, false);
        std::thread::sleep(Duration::from_millis(1500));
        tail
    })
    .await
    .unwrap();
    rating.put_rating(put("dan", 1)).await.unwrap();
    let metrics_addr = server.addr("rating").to_owned();
    tokio::task::spawn_blocking(move || {
        let got = tail.next(1);
        assert_eq!(got[0]["userId"], "dan");
        tail.interrupt();
        let metrics = http_get(&metrics_addr, "/metrics").1;
        assert_eq!(sample(&metrics, "movieapp_outbox_pending"), 0.0);
        assert_eq!(
            sample(
                &metrics,
                "movieapp_feature_enabled{feature=\"ratingChangeEvents\"}"
            ),
            1.0
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_toggle_off_no_change_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("off.yaml");
    std::fs::write(&config, "features:\n  ratingChangeEvents: false\n").unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let mut rating = RatingServiceClient::new(server.channel("rating").await);
    rating
        .put_rating(PutRatingRequest {
            user_id: "ann".into(),
            record_id: "1".into(),
            record_type: "movie".into(),
            rating_value: 5,
        })
        .await
        .unwrap();
    let addr = server.addr("rating").to_owned();
    tokio::task::spawn_blocking(move || {
        let metrics = http_get(&addr, "/metrics").1;
        assert_eq!(
            sample(
                &metrics,
                "movieapp_feature_enabled{feature=\"ratingChangeEvents\"}"
            ),
            0.0
        );
        // The write is stored; the topic has nothing (the relay runs, and found no row).
        let tail = Tail::start(&data, true);
        assert_eq!(tail.more(Duration::from_millis(1500)), Vec::<String>::new());
        tail.interrupt();
        let run = movieapp(&["--data-dir", &data, "rate", "get", "1"]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn toggling_events_in_a_running_serve_by_editing_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("serve.yaml");
    let write = |text: &str| std::fs::write(&config, text).unwrap();
    write("features:\n  ratingChangeEvents: true\n");
    let server = Server::start_with(
        dir.path(),
        &["--config", config.to_str().unwrap(), "--log-level", "info"],
    );
    let mut rating = RatingServiceClient::new(server.channel("rating").await);
    let tail = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || Tail::start(&data, true))
            .await
            .unwrap()
    };
    let put = |user: &str| PutRatingRequest {
        user_id: user.into(),
        record_id: "1".into(),
        record_type: "movie".into(),
        rating_value: 3,
    };
    // Waits until the serve log has `count` lines containing `needle`.
    let logged = |needle: &'static str, count: usize| {
        crate::support::eventually(Duration::from_secs(10), needle, || {
            server.logs().matches(needle).count() >= count
        });
    };

    rating.put_rating(put("on-1")).await.unwrap();
    // Off, by editing the file: the watch notices.
    write("features:\n  ratingChangeEvents: false\n");
    logged("feature toggled", 1);
    rating.put_rating(put("off-1")).await.unwrap();
    // A file that does not load changes nothing.
    write("features:\n  ratingChangeEvents: maybe\n");
    logged("the configuration cannot be reloaded", 1);
    rating.put_rating(put("off-2")).await.unwrap();
    // On again, told by SIGHUP; a key that needs a restart is named.
    write("features:\n  ratingChangeEvents: true\ncalls:\n  maxAttempts: 4\n");
    crate::support::signal(server.pid(), "HUP");
    logged("feature toggled", 2);
    logged("takes effect only after a restart", 1);
    assert!(
        server.logs().contains("calls.maxAttempts"),
        "{}",
        server.logs()
    );
    rating.put_rating(put("on-2")).await.unwrap();

    let logs = server.logs();
    tokio::task::spawn_blocking(move || {
        let users: Vec<String> = tail
            .next(2)
            .iter()
            .map(|e| e["userId"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(users, ["on-1", "on-2"]);
        assert!(tail.more(Duration::from_millis(700)).is_empty());
        tail.interrupt();
        // Each change logged once, with its old and new value.
        let toggled: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("feature toggled"))
            .collect();
        assert_eq!(toggled.len(), 2, "{logs}");
        assert!(
            toggled[0].contains("old=true") && toggled[0].contains("new=false"),
            "{logs}"
        );
    })
    .await
    .unwrap();
}

/// How long after each of `rounds` writes through `a` the rating service of `b` serves
/// the new value, in milliseconds, sorted.
pub async fn staleness(a: &Server, b: &Server, rounds: usize) -> Vec<u128> {
    use movieapp::pb::GetAggregatedRatingRequest;
    let mut writer = RatingServiceClient::new(a.channel("rating").await);
    let mut reader = RatingServiceClient::new(b.channel("rating").await);
    let read = GetAggregatedRatingRequest {
        record_id: "shared".into(),
        record_type: "movie".into(),
    };
    let mut delays = Vec::new();
    for round in 0..rounds {
        let value = (round % 5 + 1) as i32;
        // B reads, and caches, the value before the write.
        let before = reader.get_aggregated_rating(read.clone()).await;
        let _ = before;
        let started = std::time::Instant::now();
        writer
            .put_rating(PutRatingRequest {
                user_id: "ann".into(),
                record_id: "shared".into(),
                record_type: "movie".into(),
                rating_value: value,
            })
            .await
            .unwrap();
        loop {
            let seen = reader
                .get_aggregated_rating(read.clone())
                .await
                .map(|r| r.into_inner().rating_value);
            if seen.is_ok_and(|v| v == f64::from(value)) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(3),
                "round {round}: B never saw {value}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        delays.push(started.elapsed().as_millis());
        // The next round starts from a value B has cached.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    delays.sort_unstable();
    delays
}

#[tokio::test(flavor = "multi_thread")]
async fn another_process_on_the_same_database_sees_a_write_at_once_with_events_on() {
    // Two processes on one data directory: one rating database, one broker.
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_async(dir.path()).await;
    let b = Server::start_async(dir.path()).await;
    let delays = staleness(&a, &b, 20).await;
    eprintln!("events on: {delays:?} ms");
    // Well under the caches' 1 s TTL: the event dropped B's cached value.
    assert!(delays[delays.len() - 2] < 500, "{delays:?}");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("off.yaml");
    std::fs::write(&config, "features:\n  ratingChangeEvents: false\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let a = Server::start_with(dir.path(), &args);
    let b = Server::start_with(dir.path(), &args);
    let delays = staleness(&a, &b, 4).await;
    eprintln!("events off: {delays:?} ms");
    // Still within the TTL.
    assert!(delays.iter().all(|d| *d <= 1_500), "{delays:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_write_is_published_through_three_sigkills_in_order_per_record() {
    use std::collections::HashSet;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    // A short lease: a killed relay's lock is free again within a second.
    let config = dir.path().join("short-lease.yaml");
    std::fs::write(&config, "lock:\n  ttl: 1s\n").unwrap();
    let config = config.to_str().unwrap().to_owned();
    let start = {
        let (dir, config) = (dir.path().to_owned(), config.clone());
        move || Server::start_with(&dir, &["--config", &config])
    };
    let written = crash_writes::write_through_kills(start, 100_000, 3).await;
    tokio::task::spawn_blocking(move || {
        // Read the topic from its start until every acknowledged write is there.
        let tail = Tail::start(&data, true);
        let mut found = HashSet::new();
        let mut events: Vec<Value> = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        while !written.acked.is_subset(&found) {
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {} acknowledged writes published",
                written.acked.intersection(&found).count(),
                written.acked.len()
            );
            for line in tail.more(Duration::from_millis(500)) {
                let event: Value = serde_json::from_str(&line).unwrap();
                found.insert(crash_writes::write_of(&event));
                events.push(event);
            }
        }
        tail.interrupt();
        crash_writes::check_published(&events, &written);
        assert_eq!(written.server.stop(), Some(0));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_changes_are_published_and_another_process_hears_them() {
    use movieapp::pb::{
        GetMetadataRequest, Metadata, PutMetadataRequest,
        metadata_service_client::MetadataServiceClient,
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let a = Server::start_async(dir.path()).await;
    let b = Server::start_async(dir.path()).await;
    let mut writer = MetadataServiceClient::new(a.channel("metadata").await);
    let mut reader = MetadataServiceClient::new(b.channel("metadata").await);
    let put = |title: &str| PutMetadataRequest {
        metadata: Some(Metadata {
            id: "m1".into(),
            title: title.into(),
            description: String::new(),
            director: "D".into(),
        }),
    };
    let title = |reader: &mut MetadataServiceClient<_>| {
        let mut reader = reader.clone();
        async move {
            reader
                .get_metadata(GetMetadataRequest {
                    movie_id: "m1".into(),
                })
                .await
                .map(|r| r.into_inner().metadata.unwrap().title)
        }
    };
    writer.put_metadata(put("First")).await.unwrap();
    // The same again changes nothing and publishes nothing.
    writer.put_metadata(put("First")).await.unwrap();
    // B reads, and caches, the first title; A changes it; B serves the new one at once.
    assert_eq!(title(&mut reader).await.unwrap(), "First");
    let started = std::time::Instant::now();
    writer.put_metadata(put("Second")).await.unwrap();
    while title(&mut reader).await.unwrap() != "Second" {
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "B kept its cached title"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(BIN);
        cmd.args(["--data-dir", &data, "feed", "tail", "metadata-changes"])
            .args(["--from-beginning", "-o", "json"]);
        let tail = Tail::spawn(cmd);
        let got = tail.next(2);
        assert_eq!(got[0]["movieId"], "m1");
        assert_eq!(got[0]["title"], "First");
        assert_eq!(got[0]["previous"], Value::Null);
        assert_eq!(got[1]["title"], "Second");
        assert_eq!(got[1]["previous"]["title"], "First");
        assert_eq!(got[1]["source"], "grpc");
        assert!(tail.more(Duration::from_millis(700)).is_empty());
        tail.interrupt();
    })
    .await
    .unwrap();
}
