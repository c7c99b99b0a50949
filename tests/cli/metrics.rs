//! `/metrics` after a known sequence of calls: exact counters per endpoint and error kind,
//! on gRPC and HTTP alike, and no id as a label.

use movieapp::pb::{
    GetMetadataRequest, Metadata, PutMetadataRequest,
    metadata_service_client::MetadataServiceClient,
};

use crate::support::{Server, http_get, movieapp, sample, test_tool};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_per_endpoint_and_error_kind_are_exact() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    // Without change events: the event of this test's own write would drop the cached
    // movie when it arrives, and the cache counts below would depend on when that is.
    let config = dir.path().join("quiet.yaml");
    std::fs::write(
        &config,
        "features:\n  metadataChangeEvents: false\n  ratingChangeEvents: false\n",
    )
    .unwrap();
    let dir_path = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with(&dir_path, &["--config", config.to_str().unwrap()])
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr("metadata"));
    let channel = server.channel("metadata").await;
    let mut grpc = MetadataServiceClient::new(channel);
    let get = |id: &str| GetMetadataRequest {
        movie_id: id.into(),
    };

    grpc.put_metadata(PutMetadataRequest {
        metadata: Some(Metadata {
            id: "1".into(),
            title: "T".into(),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    grpc.get_metadata(get("1")).await.unwrap(); // cache miss
    grpc.get_metadata(get("1")).await.unwrap(); // cache hit
    assert_eq!(
        grpc.get_metadata(get("secret-id"))
            .await
            .unwrap_err()
            .code(),
        tonic::Code::NotFound
    );
    assert_eq!(
        grpc.get_metadata(get("")).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{base}/metadata?id=1"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{base}/metadata"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let response = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let grpc_get = r#"{service="metadata",endpoint="GetMetadata"}"#;
    assert_eq!(
        sample(&text, &format!("movieapp_calls_total{grpc_get}")),
        4.0
    );
    assert_eq!(
        sample(&text, &format!("movieapp_successes_total{grpc_get}")),
        2.0
    );
    assert_eq!(
        sample(
            &text,
            r#"movieapp_errors_total{service="metadata",endpoint="GetMetadata",error="not_found"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"movieapp_errors_total{service="metadata",endpoint="GetMetadata",error="invalid_argument"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            &format!("movieapp_request_duration_seconds_count{grpc_get}")
        ),
        4.0
    );
    assert_eq!(
        sample(
            &text,
            r#"movieapp_calls_total{service="metadata",endpoint="PutMetadata"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"movieapp_successes_total{service="metadata",endpoint="PutMetadata"}"#
        ),
        1.0
    );
    let http_get = r#"{service="metadata",endpoint="GET /metadata"}"#;
    assert_eq!(
        sample(&text, &format!("movieapp_calls_total{http_get}")),
        2.0
    );
    assert_eq!(
        sample(&text, &format!("movieapp_successes_total{http_get}")),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            r#"movieapp_errors_total{service="metadata",endpoint="GET /metadata",error="invalid_argument"}"#
        ),
        1.0
    );
    // First read of "1" and the unknown id missed; the second read and HTTP's hit.
    assert_eq!(sample(&text, "movieapp_metadata_cache_hits_total"), 2.0);
    assert_eq!(sample(&text, "movieapp_metadata_cache_misses_total"), 2.0);
    for service in ["metadata", "rating", "movie"] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"movieapp_service_up{{service="{service}"}}"#)
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                &format!(r#"movieapp_service_started_total{{service="{service}"}}"#)
            ),
            1.0
        );
    }
    assert!(sample(&text, "process_resident_memory_bytes") > 0.0);
    assert!(sample(&text, "process_open_fds") > 0.0);
    assert!(
        text.contains(r#"movieapp_feed_lag_events{topic="ratings",group="rating"}"#),
        "{text}"
    );
    // The feed's counters are there at 0 before any event; no call is under way now;
    // which process and build this is.
    for zero in [
        r#"movieapp_feed_events_applied_total{topic="ratings"}"#,
        r#"movieapp_feed_events_dead_lettered_total{topic="ratings"}"#,
        r#"movieapp_calls_in_flight{service="metadata"}"#,
    ] {
        assert!(text.contains(&format!("{zero} 0\n")), "{zero}: {text}");
    }
    assert!(
        text.contains(&format!(r#"pid="{}""#, server.pid()))
            && text.contains("movieapp_build_info{"),
        "{text}"
    );
    // Never an id or a user value as a label.
    assert!(
        !text.contains("secret-id"),
        "an id leaked into a label:\n{text}"
    );
    // Every port serves the same metrics.
    let movie = format!("http://{}/metrics", server.addr("movie"));
    let from_movie = http.get(movie).send().await.unwrap().text().await.unwrap();
    assert!(
        from_movie.contains(&format!("movieapp_calls_total{grpc_get} 4")),
        "{from_movie}"
    );
    drop(server);
}

/// Every family has HELP text and movieapp's prefix (the process' own keep their standard
/// names), and `promtool check metrics` finds nothing to fix.
#[test]
fn metrics_follow_prometheus_conventions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let metadata = server.addr("metadata");
    // A success, a hit and a miss, and an error, so every kind of series is there.
    let put = ["movie", "put", "1", "--title", "T", "--addr", metadata];
    assert_eq!(movieapp(&put).code, Some(0));
    for id in ["1", "1", "2"] {
        let _ = movieapp(&["movie", "get", id, "--addr", server.addr("movie")]);
    }
    let (status, text) = http_get(metadata, "/metrics");
    assert_eq!(status, 200);
    let mut families = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            families += 1;
            let name = rest.split(' ').next().unwrap();
            assert!(
                name.starts_with("movieapp_") || name.starts_with("process_"),
                "{name} lacks the movieapp_ prefix"
            );
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "{name} has no HELP text"
            );
        }
    }
    assert!(families >= 10, "{text}");
    let Some(promtool) = test_tool("PROMTOOL") else {
        return;
    };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}"
    );
}

/// Histogram samples are folded into their buckets by a thread of their own, not only when
/// `/metrics` is scraped: without it, a `serve` nobody scrapes grew by every call's samples.
#[test]
fn histogram_samples_are_folded_without_scrapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "metadata"]);
    let threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", server.pid()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(
        threads.iter().any(|name| name == "metrics-upkeep"),
        "{threads:?}"
    );
}
