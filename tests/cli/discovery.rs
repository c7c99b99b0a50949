//! Service discovery across processes: several `serve` processes on one host form one system
//! through the registry file in their data directory.

use std::time::{Duration, Instant};

use movieapp::pb::{GetMovieDetailsRequest, movie_service_client::MovieServiceClient};
use serde_json::Value;

use crate::support::{BIN, Server, movieapp, serve_expecting_failure};

/// `registry list --output json` for `data_dir`.
fn listing(data_dir: &str) -> Value {
    movieapp(&["registry", "list", "-o", "json", "--data-dir", data_dir]).json()
}

fn healthy(listing: &Value, service: &str) -> usize {
    listing["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["service"] == service && i["healthy"] == true)
        .count()
}

const REQUEST_LOG: &str = "movieapp::requests=debug,warn";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_form_one_system_spread_calls_and_survive_a_killed_instance() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let metadata_a = Server::start_with(
        dir.path(),
        &["--services", "metadata", "--log-level", REQUEST_LOG],
    );
    let metadata_b = Server::start_with(
        dir.path(),
        &["--services", "metadata", "--log-level", REQUEST_LOG],
    );
    let rest = Server::start_with(dir.path(), &["--services", "rating,movie"]);
    assert_eq!(healthy(&listing(&data_dir), "metadata"), 2);

    // The clients find every service through the registry: no --addr.
    movieapp(&[
        "movie",
        "put",
        "1",
        "--title",
        "The Movie",
        "--data-dir",
        &data_dir,
    ])
    .ok();
    movieapp(&[
        "rate",
        "put",
        "1",
        "4",
        "--user",
        "u",
        "--data-dir",
        &data_dir,
    ])
    .ok();

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", rest.addr("movie")))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = MovieServiceClient::new(channel);
    let request = || GetMovieDetailsRequest {
        movie_id: "1".into(),
    };
    for _ in 0..20 {
        client.clone().get_movie_details(request()).await.unwrap();
    }
    // The movie service spread its metadata calls across both instances.
    let served = |s: &Server| s.logs().matches("/MetadataService/GetMetadata").count();
    let (a, b) = (served(&metadata_a), served(&metadata_b));
    assert_eq!(
        a + b,
        20,
        "every GetMetadata reached one instance: {a} + {b}"
    );
    assert!(a > 0 && b > 0, "both instances served calls: {a} and {b}");

    // A client loop runs while one metadata instance is killed: every call succeeds.
    let looping = {
        let client = client.clone();
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_secs(3);
            let mut calls = 0;
            while Instant::now() < until {
                let details = client.clone().get_movie_details(request()).await?;
                assert_eq!(details.into_inner().movie_details.unwrap().rating, 4.0);
                calls += 1;
            }
            Ok::<_, tonic::Status>(calls)
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::spawn_blocking(move || metadata_a.kill())
        .await
        .unwrap();
    let killed = Instant::now();
    let calls = match looping.await.unwrap() {
        Ok(calls) => calls,
        Err(status) => panic!(
            "a call in the loop failed: {status:?}\nmovie service logs:\n{}",
            rest.logs()
        ),
    };
    assert!(calls > 20, "the loop ran: {calls} calls");

    // The CLI's own calls fail over too.
    for i in 0..4 {
        let id = format!("after-{i}");
        movieapp(&["movie", "put", &id, "--title", "T", "--data-dir", &data_dir]).ok();
    }

    // Within 6 s the registry shows one healthy metadata instance.
    loop {
        let now = listing(&data_dir);
        if healthy(&now, "metadata") == 1 {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(6), "still {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(metadata_b);
}

#[test]
fn a_graceful_stop_leaves_the_registry_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = Server::start(dir.path());
    let before = listing(data_dir);
    for service in ["metadata", "rating", "movie"] {
        assert_eq!(healthy(&before, service), 1, "{before}");
    }
    assert_eq!(server.stop(), Some(0));
    let after = listing(data_dir);
    assert_eq!(after["instances"], serde_json::json!([]), "{after}");
}

#[test]
fn registry_show_and_deregister() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let _rest = Server::start_with(dir.path(), &["--services", "rating,movie"]);
    let metadata = Server::start_with(dir.path(), &["--services", "metadata"]);
    let show = || {
        movieapp(&[
            "registry",
            "show",
            "metadata",
            "-o",
            "json",
            "--data-dir",
            data_dir,
        ])
        .json()
    };
    let shown = show();
    let instances = shown["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{shown}");
    let id = instances[0]["instanceId"].as_str().unwrap().to_owned();
    assert!(id.starts_with("metadata-"), "{id}");
    assert_eq!(instances[0]["address"], metadata.addr("metadata"));

    let table = movieapp(&["registry", "list", "--data-dir", data_dir]).ok();
    for needle in [id.as_str(), "healthy", "rating", "movie", "registry.db"] {
        assert!(table.contains(needle), "{needle} in {table}");
    }

    // An operator cleans up after a killed instance.
    metadata.kill();
    let out = movieapp(&["registry", "deregister", &id, "--data-dir", data_dir]).ok();
    assert!(out.contains(&id), "{out}");
    let shown = show();
    assert_eq!(shown["instances"], serde_json::json!([]));
    let again = movieapp(&["registry", "deregister", &id, "--data-dir", data_dir]);
    assert_eq!(again.code, Some(1), "{again:?}");
    assert!(
        again.stderr.contains("is not registered"),
        "{}",
        again.stderr
    );

    // A service with no instance left is an empty list; a name no service has is a
    // mistake, answered with the names there are.
    let typo = movieapp(&["registry", "show", "metdata", "--data-dir", data_dir]);
    assert_eq!(typo.code, Some(1), "{typo:?}");
    for needle in ["\"metdata\"", "metadata, rating, movie, auth"] {
        assert!(typo.stderr.contains(needle), "{needle}: {}", typo.stderr);
    }
}

#[test]
fn registry_watch_refreshes_until_interrupted() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let _server = Server::start(dir.path());
    let mut watch = std::process::Command::new(BIN)
        .args([
            "registry",
            "watch",
            "--interval",
            "200ms",
            "-o",
            "json",
            "--data-dir",
        ])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    for _ in 0..3 {
        let line = lines.next().unwrap().unwrap();
        let doc: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(doc["instances"].as_array().unwrap().len(), 4, "{doc}");
    }
    crate::support::signal(watch.id(), "INT");
    let code = crate::support::wait_with_timeout(&mut watch, Duration::from_secs(10));
    if code.is_none() {
        let _ = watch.kill();
    }
    assert_eq!(code, Some(0), "watch stops on SIGINT");
}

#[test]
fn a_corrupt_or_unusable_registry_file_is_named_with_exit_2() {
    for (case, make) in [
        (
            "corrupt",
            (|p: &std::path::Path| std::fs::write(p, vec![b'x'; 8192]).unwrap())
                as fn(&std::path::Path),
        ),
        ("a directory", |p: &std::path::Path| {
            std::fs::create_dir(p).unwrap()
        }),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("registry.db");
        make(&file);
        let data_dir = dir.path().to_str().unwrap();
        for args in [
            vec!["serve"],
            vec!["registry", "list", "--data-dir", data_dir],
            vec!["movie", "get", "1", "--data-dir", data_dir],
        ] {
            let run = if args == ["serve"] {
                serve_expecting_failure(data_dir, &[])
            } else {
                movieapp(&args)
            };
            assert_eq!(run.code, Some(2), "{case}: {args:?}: {run:#?}");
            let error = run
                .stderr
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or_default();
            assert!(
                error.contains(file.to_str().unwrap()),
                "{case}: {args:?}: {}",
                run.stderr
            );
        }
    }
}

#[test]
fn no_running_service_is_a_clear_unavailable_message() {
    let dir = tempfile::tempdir().unwrap();
    let run = movieapp(&[
        "movie",
        "get",
        "1",
        "--data-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr
            .contains("no healthy instance of \"movie\" in registry sqlite:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("movieapp serve"), "{}", run.stderr);
}

#[test]
fn a_put_through_one_metadata_instance_is_seen_through_another() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_with(dir.path(), &["--services", "metadata"]);
    let b = Server::start_with(dir.path(), &["--services", "metadata"]);
    let title = |server: &Server| {
        let (status, body) = crate::support::http_get(server.addr("metadata"), "/metadata?id=7");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["title"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    movieapp(&[
        "movie",
        "put",
        "7",
        "--title",
        "first",
        "--addr",
        a.addr("metadata"),
    ])
    .ok();
    assert_eq!(title(&b), "first", "b reads it, and caches it");
    movieapp(&[
        "movie",
        "put",
        "7",
        "--title",
        "second",
        "--addr",
        a.addr("metadata"),
    ])
    .ok();
    assert_eq!(title(&a), "second", "a invalidated its own cache at once");
    // b's cached copy expires within a second.
    let started = Instant::now();
    while title(&b) != "second" {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "b still serves the old title"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--advertise-host` is what discovery hands out (a pod IP or host name on a real
/// network); the movie service still recognises its co-located services by it.
#[test]
fn instances_register_the_advertised_host() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let server = Server::start_with(dir.path(), &["--advertise-host", "localhost"]);
    let instances = listing(data_dir)["instances"].as_array().unwrap().clone();
    assert_eq!(instances.len(), 4, "{instances:?}");
    for instance in &instances {
        let addr = instance["address"].as_str().unwrap();
        let port = server
            .addr(instance["service"].as_str().unwrap())
            .rsplit(':')
            .next()
            .unwrap();
        assert_eq!(addr, format!("localhost:{port}"));
    }
    // Clients found through the registry reach it at that name.
    movieapp(&["movie", "put", "1", "--title", "T", "--data-dir", data_dir]).ok();
    let accepted = || {
        let (_, metrics) = crate::support::http_get(server.addr("metadata"), "/metrics");
        crate::support::sample(
            &metrics,
            "movieapp_connections_accepted_total{service=\"metadata\"}",
        )
    };
    let before = accepted();
    let details = movieapp(&["movie", "get", "1", "--data-dir", data_dir, "-o", "json"]).json();
    assert_eq!(details["metadata"]["title"], "T");
    // The movie service called metadata in process: the only new connection to metadata's
    // port is the one reading /metrics.
    assert_eq!(accepted() - before, 1.0);

    let run = serve_expecting_failure(data_dir, &["--advertise-host", "host:80"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("--advertise-host"), "{}", run.stderr);
    assert!(run.stderr.contains("without a port"), "{}", run.stderr);
}

/// The configuration's `ownership` (book chapter 16) is registered with each instance and
/// shown by `registry show`; an instance without one shows none.
#[test]
fn registry_show_gives_each_instances_ownership() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let config = dir.path().join("owned.yaml");
    std::fs::write(
        &config,
        "ownership:\n  accountable: movies-team\n  supportChannel: '#movies'\n  onCallRotation: movies-primary\n",
    )
    .unwrap();
    let _owned = Server::start_with(
        dir.path(),
        &[
            "--services",
            "metadata",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let _unowned = Server::start_with(dir.path(), &["--services", "rating"]);
    let shown = movieapp(&[
        "registry",
        "show",
        "metadata",
        "-o",
        "json",
        "--data-dir",
        data_dir,
    ])
    .json();
    assert_eq!(
        shown["instances"][0]["ownership"],
        serde_json::json!({"accountable": "movies-team", "supportChannel": "#movies",
                           "onCallRotation": "movies-primary"})
    );
    let rating = movieapp(&[
        "registry",
        "show",
        "rating",
        "-o",
        "json",
        "--data-dir",
        data_dir,
    ])
    .json();
    assert!(
        rating["instances"][0].get("ownership").is_none(),
        "{rating}"
    );
    let table = movieapp(&["registry", "list", "--data-dir", data_dir]).ok();
    assert!(table.contains("accountable: movies-team"), "{table}");
    assert!(table.contains("on call: movies-primary"), "{table}");
    // Values are checked like every other key.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "ownership:\n  accountable: \"a\\u0007b\"\n").unwrap();
    let run = movieapp(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("ownership.accountable"),
        "{}",
        run.stderr
    );
}
