//! Reliability (book chapter 11) on real processes: many processes starting at once on a
//! fresh data directory all start.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::{BIN, free_ports, signal, wait_with_timeout};

/// Starts `serve` on free ports in `data_dir`; true when it announced every service.
fn starts(data_dir: &std::path::Path) -> Result<std::process::Child, String> {
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(free_ports(&[]))
        .args(["--log-level", "error", "--data-dir"])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .env_remove("MOVIEAPP_REGISTRY")
        .env("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "0s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let services = movieapp::service::ServiceKind::ALL.len();
    let announced = BufReader::new(stdout)
        .lines()
        .take(services)
        .filter(|l| l.as_ref().is_ok_and(|l| l.contains(" listening on ")))
        .count();
    if announced == services {
        return Ok(child);
    }
    let _ = child.kill();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn eight_processes_started_at_once_on_a_fresh_directory_all_start() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        let results: Vec<Result<std::process::Child, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        starts(dir.path())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        let mut failures = Vec::new();
        let mut running = Vec::new();
        for result in results {
            match result {
                Ok(child) => {
                    signal(child.id(), "TERM");
                    running.push(child);
                }
                Err(e) => failures.push(e),
            }
        }
        for mut child in running {
            if wait_with_timeout(&mut child, Duration::from_secs(20)).is_none() {
                let _ = child.kill();
            }
        }
        assert!(failures.is_empty(), "round {round}: {failures:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_fails_no_call_started_before_it() {
    use std::{
        sync::{
            Arc, Mutex,
            atomic::{AtomicBool, Ordering},
        },
        time::Instant,
    };

    use movieapp::pb::{GetMovieDetailsRequest, movie_service_client::MovieServiceClient};

    let dir = tempfile::tempdir().unwrap();
    // The movie service holds each call a second before calling metadata and rating (an
    // injected fault), so calls are in flight when the signal comes.
    let config = dir.path().join("slow.yaml");
    std::fs::write(
        &config,
        "faults:\n  - service: movie\n    endpoint: GetMovieDetails\n    delay: 1s\n",
    )
    .unwrap();
    let data = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        // The default drain pause, as operators get it.
        crate::support::Server::start_with_env(
            &data,
            &["--config", config.to_str().unwrap()],
            &[("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "1s")],
        )
    })
    .await
    .unwrap();
    let (metadata, rating) = (
        server.addr("metadata").to_owned(),
        server.addr("rating").to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        crate::support::movieapp(&["movie", "put", "1", "--title", "T", "--addr", &metadata]).ok();
        crate::support::movieapp(&["rate", "put", "1", "4", "--user", "u", "--addr", &rating]).ok();
    })
    .await
    .unwrap();
    let channel = server.channel("movie").await;
    let stop = Arc::new(AtomicBool::new(false));
    // When each call started, and how it ended.
    type Calls = Mutex<Vec<(Instant, Result<(), tonic::Status>)>>;
    let calls: Arc<Calls> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..16 {
        let (channel, stop, calls) = (channel.clone(), Arc::clone(&stop), Arc::clone(&calls));
        workers.push(tokio::spawn(async move {
            let mut client = MovieServiceClient::new(channel);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = client
                    .get_movie_details(GetMovieDetailsRequest {
                        movie_id: "1".into(),
                    })
                    .await
                    .map(drop);
                let failed = result.is_err();
                calls.lock().unwrap().push((started, result));
                if failed {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let signalled = Instant::now();
    let code = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(code, Some(0));
    let calls = calls.lock().unwrap();
    let before: Vec<_> = calls
        .iter()
        .filter(|(started, _)| *started < signalled)
        .collect();
    assert!(
        before.len() > 20,
        "only {} calls before the signal",
        before.len()
    );
    let failed: Vec<_> = before
        .iter()
        .filter_map(|(_, r)| r.as_ref().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        before.len(),
        failed.first()
    );
}

/// A config file in `dir` with `yaml`.
fn config(dir: &std::path::Path, name: &str, yaml: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, yaml).unwrap();
    path.to_str().unwrap().to_owned()
}

/// `serve` with the configuration `yaml` (and `extra` arguments), started from async code.
async fn serve_with(yaml: &str, extra: &[&str]) -> (tempfile::TempDir, crate::support::Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "movieapp.yaml", yaml);
    let data = dir.path().to_owned();
    let mut args: Vec<String> = vec!["--config".into(), config];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let server = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        crate::support::Server::start_with(&data, &args)
    })
    .await
    .unwrap();
    (dir, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_hold_end_to_end() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    use movieapp::pb::{GetMetadataRequest, metadata_service_client::MetadataServiceClient};
    use std::time::Instant;

    let (_dir, server) = serve_with(
        "faults:\n  - service: metadata\n    endpoint: GetMetadata\n    delay: 2s\n  - service: metadata\n    endpoint: GET /metadata\n    delay: 2s\n",
        &["--log-format", "json", "--log-level", "warn,movieapp::requests=debug"],
    )
    .await;

    // A 200 ms deadline against a 2 s delay: DEADLINE_EXCEEDED at about 200 ms, from the
    // server. (Over HTTP, which takes the same header: a gRPC client enforces its deadline
    // itself too, and would cancel first.)
    let http = reqwest::Client::new();
    let get = |addr: &str, path: &str, budget: &str| {
        http.get(format!("http://{addr}{path}"))
            .header("grpc-timeout", budget.to_owned())
            .send()
    };
    let started = Instant::now();
    let response = get(server.addr("metadata"), "/metadata?id=1", "200m")
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert!(response.text().await.unwrap().contains("deadline exceeded"));
    // Over gRPC the caller gets its deadline at about the same time.
    let mut metadata = MetadataServiceClient::new(server.channel("metadata").await);
    let mut request = tonic::Request::new(GetMetadataRequest {
        movie_id: "1".into(),
    });
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = metadata.get_metadata(request).await.unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        ),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(1500));

    // The movie service passes what is left downstream: the callee sees a smaller budget.
    let response = get(server.addr("movie"), "/movie?id=1", "800m")
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 504, "{body}");
    let logs = server.logs();
    let budget_of = |endpoint: &str| -> Vec<u64> {
        logs.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["endpoint"] == endpoint)
            .filter_map(|l| l["deadline_ms"].as_u64())
            .collect()
    };
    assert_eq!(budget_of("GET /movie"), [800], "{logs}");
    // The first GetMetadata is the direct call above (200 ms); the movie service's calls
    // come after, each with less than the 800 ms it was given.
    let metadata_budgets = budget_of("GetMetadata");
    assert!(metadata_budgets.len() >= 2, "{logs}");
    assert!(
        metadata_budgets[1..].iter().all(|b| *b < 800),
        "{metadata_budgets:?}"
    );
    drop(server);
}

/// The per-try timeout of the steady-load tests, and what a call may take beyond it.
const PER_TRY: Duration = Duration::from_millis(300);
const MARGIN: Duration = Duration::from_millis(1200);

/// Two metadata instances behind a movie service, under a steady stream of
/// GetMovieDetails calls (over HTTP, one after another) while `disrupt` does something to
/// them. Every call must succeed, none taking longer than one per-try timeout and a margin.
/// No answer may be a stale fallback either. `disrupt` gets the data directory, the
/// configuration file and both instances, and returns the instances to keep running.
fn two_instances_under_load(
    disrupt: impl FnOnce(
        &std::path::Path,
        &str,
        crate::support::Server,
        crate::support::Server,
    ) -> Vec<crate::support::Server>,
) {
    use crate::support::{Server, http_get_full, movieapp};
    use std::{
        sync::{
            Arc,
            atomic::{AtomicBool, Ordering},
        },
        time::Instant,
    };

    let dir = tempfile::tempdir().unwrap();
    let calls = config(dir.path(), "calls.yaml", "calls:\n  perTryTimeout: 300ms\n");
    // Draining as in production: not ready and deregistered for a second before stopping.
    let drain = [("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "1s")];
    let metadata = || {
        Server::start_with_env(
            dir.path(),
            &["--services", "metadata", "--config", &calls],
            &drain,
        )
    };
    let (a, b) = (metadata(), metadata());
    let front = Server::start_with(
        dir.path(),
        &["--services", "rating,movie", "--config", &calls],
    );
    movieapp(&[
        "movie",
        "put",
        "1",
        "--title",
        "T",
        "--addr",
        a.addr("metadata"),
    ])
    .ok();
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (movie, stop) = (front.addr("movie").to_owned(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut calls = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, head, body) = http_get_full(&movie, "/movie?id=1");
                let stale = head.to_ascii_lowercase().contains("movieapp-stale-seconds");
                let status = if stale { 0 } else { status };
                calls.push((status, body, started.elapsed()));
            }
            calls
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let _running = disrupt(dir.path(), &calls, a, b);
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let calls = load.join().unwrap();
    let failed: Vec<_> = calls.iter().filter(|(status, ..)| *status != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed (status 0: a stale fallback), e.g. {:?}",
        failed.len(),
        calls.len(),
        failed[0]
    );
    let slowest = calls.iter().map(|(.., took)| *took).max().unwrap();
    assert!(
        slowest < PER_TRY + MARGIN,
        "a call took {slowest:?} with a per-try timeout of {PER_TRY:?}"
    );
    assert!(calls.len() > 10, "only {} calls", calls.len());
}

#[test]
fn a_hung_instance_costs_one_per_try_timeout() {
    two_instances_under_load(|_, _, a, b| {
        // Stopped, not dead: its port still accepts connections, and nothing answers.
        signal(a.pid(), "STOP");
        std::thread::sleep(Duration::from_secs(2));
        signal(a.pid(), "CONT");
        vec![a, b]
    });
}

#[test]
fn a_killed_instance_costs_no_call() {
    two_instances_under_load(|_, _, a, b| {
        a.kill();
        std::thread::sleep(Duration::from_secs(2));
        vec![b]
    });
}

#[test]
fn a_rolling_restart_costs_no_call() {
    two_instances_under_load(|dir, calls, a, b| {
        let mut replacements = Vec::new();
        for old in [a, b] {
            assert_eq!(old.stop(), Some(0));
            // The replacement registers on a new port; the balancer finds it there.
            replacements.push(crate::support::Server::start_with(
                dir,
                &["--services", "metadata", "--config", calls],
            ));
            std::thread::sleep(Duration::from_millis(1500));
        }
        replacements
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_admit_the_burst_and_say_when_to_come_back() {
    use movieapp::pb::{GetAggregatedRatingRequest, rating_service_client::RatingServiceClient};

    let _ = rustls::crypto::ring::default_provider().install_default();
    // Burst 5, then one call every 2 s: a burst of 8 gets exactly 5 in.
    let (_dir, server) = serve_with(
        "rating:\n  rateLimit:\n    rate: 0.5\n    burst: 5\n",
        &["--services", "rating"],
    )
    .await;
    let mut client = RatingServiceClient::new(server.channel("rating").await);
    let request = || GetAggregatedRatingRequest {
        record_id: "1".into(),
        record_type: "movie".into(),
    };
    let (mut admitted, mut refused) = (0, Vec::new());
    for _ in 0..8 {
        match client.get_aggregated_rating(request()).await {
            // NOT_FOUND is an admitted call: nobody rated the record.
            Err(s) if s.code() == tonic::Code::ResourceExhausted => refused.push(s),
            _ => admitted += 1,
        }
    }
    assert_eq!((admitted, refused.len()), (5, 3));
    let pushbacks: Vec<u64> = refused
        .iter()
        .map(|status| {
            let value = status.metadata().get("grpc-retry-pushback-ms").unwrap();
            value.to_str().unwrap().parse().unwrap()
        })
        .collect();
    for pushback in &pushbacks {
        assert!(*pushback > 0 && *pushback <= 2_000, "{pushback}");
    }
    // Over HTTP: 429 with Retry-After; health and metrics are never limited.
    let base = format!("http://{}", server.addr("rating"));
    let http = reqwest::Client::new();
    let response = http
        .get(format!("{base}/rating?id=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    for path in ["/healthz", "/readyz", "/metrics"] {
        let status = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_ne!(status, 429, "{path}");
    }
    // A client that waits as told gets in.
    let wait = pushbacks[0];
    tokio::time::sleep(Duration::from_millis(wait.min(10_000) + 100)).await;
    let status = client.get_aggregated_rating(request()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_the_concurrency_limit_are_refused_at_once() {
    use movieapp::pb::{GetAggregatedRatingRequest, rating_service_client::RatingServiceClient};
    use std::time::Instant;

    let (_dir, server) = serve_with(
        "rating:\n  maxConcurrentCalls: 2\nfaults:\n  - service: rating\n    endpoint: GetAggregatedRating\n    delay: 1s\n",
        &["--services", "rating"],
    )
    .await;
    let channel = server.channel("rating").await;
    let mut calls = Vec::new();
    for _ in 0..6 {
        let mut client = RatingServiceClient::new(channel.clone());
        calls.push(tokio::spawn(async move {
            let started = Instant::now();
            let result = client
                .get_aggregated_rating(GetAggregatedRatingRequest {
                    record_id: "1".into(),
                    record_type: "movie".into(),
                })
                .await;
            (result.map(drop).map_err(|s| s.code()), started.elapsed())
        }));
    }
    let mut shed = 0;
    for call in calls {
        let (result, took) = call.await.unwrap();
        if result == Err(tonic::Code::ResourceExhausted) {
            shed += 1;
            assert!(took < Duration::from_millis(800), "shed after {took:?}");
        } else {
            assert_eq!(result.unwrap_err(), tonic::Code::NotFound);
        }
    }
    assert_eq!(shed, 4);
    drop(server);
}

#[test]
fn two_dead_instances_of_three_cost_no_call() {
    use crate::support::{Server, http_get, movieapp};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let a = Server::start_with(dir.path(), &["--services", "metadata"]);
    let b = Server::start_with(dir.path(), &["--services", "metadata"]);
    let _c = Server::start_with(dir.path(), &["--services", "metadata"]);
    let front = Server::start_with(dir.path(), &["--services", "rating,movie"]);
    movieapp(&["--data-dir", data, "movie", "put", "1", "--title", "T"]).ok();
    // Both die within a second; their registry entries stay until the TTL passes.
    a.kill();
    b.kill();
    for i in 0..20 {
        let title = format!("T{i}");
        let run = movieapp(&["--data-dir", data, "movie", "put", "1", "--title", &title]);
        assert_eq!(run.code, Some(0), "CLI call {i}: {}", run.stderr);
        let (status, body) = http_get(front.addr("movie"), "/movie?id=1");
        assert_eq!(status, 200, "movie service call {i}: {body}");
    }
}

#[test]
fn a_dependency_that_is_down_gets_no_more_than_the_retry_budget_then_fails_fast() {
    use crate::support::{Server, http_get, movieapp, sample};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // Two metadata instances that are up (healthy, registered) but fail every GetMetadata.
    let down = config(
        dir.path(),
        "down.yaml",
        "faults:\n  - service: metadata\n    endpoint: GetMetadata\n    error: unavailable\n",
    );
    let a = Server::start_with(dir.path(), &["--services", "metadata", "--config", &down]);
    let b = Server::start_with(dir.path(), &["--services", "metadata", "--config", &down]);
    let front_config = config(
        dir.path(),
        "front.yaml",
        "calls:\n  outlierDetection:\n    maxEjectionPercent: 100\n",
    );
    let front = Server::start_with(
        dir.path(),
        &["--services", "rating,movie", "--config", &front_config],
    );
    let movie = front.addr("movie").to_owned();
    let received = || -> f64 {
        [&a, &b]
            .iter()
            .map(|s| {
                let (_, text) = http_get(s.addr("metadata"), "/metrics");
                sample(
                    &text,
                    r#"movieapp_calls_total{service="metadata",endpoint="GetMetadata"}"#,
                )
            })
            .sum()
    };
    let calls = 40;
    let mut answers = Vec::new();
    for _ in 0..calls {
        answers.push(http_get(&movie, "/movie?id=1"));
    }
    assert!(
        answers.iter().all(|(status, _)| *status == 503),
        "{answers:?}"
    );
    // Without a budget, 3 attempts per call: 120. With it, retries stop once half the
    // bucket (10 tokens) is spent, and both instances are ejected after 5 failures each;
    // the early probes (one a second while all are out) may each let one attempt through.
    let attempts = received();
    assert!(
        attempts <= 10.0 + 5.0 + 4.0,
        "the instances received {attempts} attempts for {calls} calls"
    );
    // Once every instance is out, calls fail at once, without an attempt, and say why.
    let (_, last) = answers.last().unwrap();
    assert!(
        last.contains(r#"every instance of \"metadata\" (2) is ejected after repeated failures"#),
        "{last}"
    );
    let (_, metrics) = http_get(&movie, "/metrics");
    assert!(
        sample(
            &metrics,
            r#"movieapp_client_ejections_total{callee="metadata"}"#
        ) >= 2.0,
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            r#"movieapp_client_retries_throttled_total{callee="metadata"}"#
        ) >= 1.0
    );
    // `registry list` shows who ejected them.
    let listing = movieapp(&["--data-dir", data, "registry", "list", "-o", "json"]).json();
    let ejected: Vec<&serde_json::Value> = listing["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["service"] == "metadata")
        .flat_map(|i| i["ejections"].as_array().unwrap())
        .collect();
    assert_eq!(ejected.len(), 2, "{listing}");
    assert!(
        ejected
            .iter()
            .all(|e| e["by"].as_str().unwrap().starts_with("movie (pid ")),
        "{listing}"
    );
    let table = movieapp(&["--data-dir", data, "registry", "list"]).ok();
    assert!(table.contains("ejected by movie (pid"), "{table}");
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `GET http://{addr}{path}`: the status, the stale mark and the body.
async fn get_marked(addr: &str, path: &str) -> (u16, Option<String>, String) {
    let response = http()
        .get(format!("http://{addr}{path}"))
        .send()
        .await
        .unwrap();
    let stale = response
        .headers()
        .get("movieapp-stale-seconds")
        .map(|v| v.to_str().unwrap().to_owned());
    (
        response.status().as_u16(),
        stale,
        response.text().await.unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_rating_database_serves_the_last_aggregate_marked_stale() {
    use movieapp::pb::{GetAggregatedRatingRequest, rating_service_client::RatingServiceClient};

    let (dir, server) = serve_with("", &["--services", "rating"]).await;
    let rating = server.addr("rating").to_owned();
    for (id, value) in [("1", "4"), ("2", "2")] {
        let put = http()
            .put(format!(
                "http://{rating}/rating?id={id}&userId=u&value={value}"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
    }
    assert_eq!(
        get_marked(&rating, "/rating?id=1").await,
        (200, None, "4.0".to_owned())
    );
    // The drill: the table the reads need is gone (as if the file were damaged).
    let db = rusqlite::Connection::open(dir.path().join("rating.db")).unwrap();
    db.execute_batch(
        "ALTER TABLE ratings RENAME TO ratings_away;
         ALTER TABLE rating_aggregates RENAME TO aggregates_away;",
    )
    .unwrap();
    // Aggregates are cached for a second: after that, reads go to the database.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Read before: served from the last value, marked stale; over gRPC too.
    let (status, stale, body) = get_marked(&rating, "/rating?id=1").await;
    assert_eq!((status, body.as_str()), (200, "4.0"));
    assert!(stale.is_some_and(|age| age.parse::<u64>().is_ok()));
    let mut client = RatingServiceClient::new(server.channel("rating").await);
    let answer = client
        .get_aggregated_rating(GetAggregatedRatingRequest {
            record_id: "1".into(),
            record_type: "movie".into(),
        })
        .await
        .unwrap();
    assert!(answer.metadata().get("movieapp-stale-seconds").is_some());
    assert_eq!(answer.get_ref().rating_value, 4.0);
    // Never read: an error, not a made-up value.
    let (status, stale, body) = get_marked(&rating, "/rating?id=2").await;
    assert_eq!((status, stale), (500, None), "{body}");
    let (_, _, metrics) = get_marked(&rating, "/metrics").await;
    assert!(
        metrics.contains(r#"movieapp_fallbacks_total{service="rating",dependency="database"} 2"#),
        "{metrics}"
    );
    assert!(
        server
            .logs()
            .contains("answering from the last value served")
    );
    // Repaired: fresh answers again.
    db.execute_batch(
        "ALTER TABLE ratings_away RENAME TO ratings;
         ALTER TABLE aggregates_away RENAME TO rating_aggregates;",
    )
    .unwrap();
    assert_eq!(
        get_marked(&rating, "/rating?id=1").await,
        (200, None, "4.0".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metadata_down_the_movie_service_serves_the_last_metadata_marked_stale() {
    use crate::support::Server;
    use movieapp::pb::{GetMovieDetailsRequest, movie_service_client::MovieServiceClient};

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let (metadata, front) = tokio::task::spawn_blocking(move || {
        let metadata = Server::start_with(&data, &["--services", "metadata"]);
        let front = Server::start_with(&data, &["--services", "rating,movie"]);
        (metadata, front)
    })
    .await
    .unwrap();
    let data = dir.path().to_str().unwrap();
    for id in ["1", "2"] {
        crate::support::movieapp(&["--data-dir", data, "movie", "put", id, "--title", "T"]).ok();
    }
    let movie = front.addr("movie").to_owned();
    let (status, stale, fresh) = get_marked(&movie, "/movie?id=1").await;
    assert_eq!((status, stale), (200, None), "{fresh}");
    // The only metadata instance dies; its registry entry stays until the TTL passes.
    metadata.kill();
    let (status, stale, body) = get_marked(&movie, "/movie?id=1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, fresh, "the last metadata served");
    assert!(stale.is_some());
    let mut client = MovieServiceClient::new(front.channel("movie").await);
    let answer = client
        .get_movie_details(GetMovieDetailsRequest {
            movie_id: "1".into(),
        })
        .await
        .unwrap();
    assert!(answer.metadata().get("movieapp-stale-seconds").is_some());
    // The CLI says so on stderr, and still prints the answer.
    let got = crate::support::movieapp(&["movie", "get", "1", "--addr", &movie, "-o", "json"]);
    assert_eq!(got.code, Some(0), "{}", got.stderr);
    assert!(
        got.stderr.contains("stale") && got.stderr.contains("s old"),
        "{}",
        got.stderr
    );
    assert!(got.stdout.contains("\"T\""), "{}", got.stdout);
    // Never served: the failure stands.
    let (status, stale, body) = get_marked(&movie, "/movie?id=2").await;
    assert_eq!((status, stale), (503, None), "{body}");
}
