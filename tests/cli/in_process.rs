//! The in-process fast path (issue 13): when metadata and rating run in the movie
//! service's process, GetMovieDetails calls their controllers directly, with no socket,
//! while they serve; with their metrics, auth and faults as over the network; and over the
//! network once the local instance stops serving.

use std::time::{Duration, Instant};

use movieapp::pb::{self, movie_service_client::MovieServiceClient};

use crate::support::{Server, http_get, movieapp, sample};

/// The counters that tell a local call from a network one, read from the movie port (one
/// registry per process).
struct Counts {
    metadata_connections: f64,
    rating_connections: f64,
    metadata_calls: f64,
    rating_calls: f64,
}

fn counts(server: &Server) -> Counts {
    let text = http_get(server.addr("movie"), "/metrics").1;
    let get = |series: &str| sample(&text, series);
    Counts {
        metadata_connections: get(r#"movieapp_connections_accepted_total{service="metadata"}"#),
        rating_connections: get(r#"movieapp_connections_accepted_total{service="rating"}"#),
        metadata_calls: get(r#"movieapp_calls_total{service="metadata",endpoint="GetMetadata"}"#),
        rating_calls: get(
            r#"movieapp_calls_total{service="rating",endpoint="GetAggregatedRating"}"#,
        ),
    }
}

fn seed(data: &str) {
    for args in [
        &[
            "movie",
            "put",
            "1",
            "--title",
            "The Movie",
            "--director",
            "D",
        ][..],
        &["rate", "put", "1", "5", "--user", "alex"],
    ] {
        let run = movieapp(&[&["--data-dir", data], args].concat());
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    }
}

fn details(token: Option<&str>) -> tonic::Request<pb::GetMovieDetailsRequest> {
    let mut request = tonic::Request::new(pb::GetMovieDetailsRequest {
        movie_id: "1".into(),
    });
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocated_calls_make_no_socket_call_until_the_local_instance_stops_serving() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start_with(dir.path(), &["--log-level", "info"]);
    seed(&data);
    let mut movie = MovieServiceClient::new(server.channel("movie").await);

    let before = counts(&server);
    for _ in 0..20 {
        let got = movie.get_movie_details(details(None)).await.unwrap();
        assert_eq!(got.into_inner().movie_details.unwrap().rating, 5.0);
    }
    let after = counts(&server);
    // No connection to metadata or rating, yet each counted 20 calls under its own labels.
    assert_eq!(after.metadata_connections, before.metadata_connections);
    assert_eq!(after.rating_connections, before.rating_connections);
    assert_eq!(after.metadata_calls - before.metadata_calls, 20.0);
    assert_eq!(after.rating_calls - before.rating_calls, 20.0);

    // The metadata database goes missing: metadata stops serving (readiness), and the
    // movie service reaches it over the network instead (where reads fail too: the file
    // is gone; the point is the route).
    let db = dir.path().join("metadata.db");
    let moved = dir.path().join("metadata.db.moved");
    std::fs::rename(&db, &moved).unwrap();
    wait_for_readiness(&server, 503).await;
    let before = counts(&server);
    for _ in 0..5 {
        let _ = movie.get_movie_details(details(None)).await;
    }
    let after = counts(&server);
    assert!(
        after.metadata_connections > before.metadata_connections,
        "metadata was not reached over the network"
    );
    assert!(after.metadata_calls > before.metadata_calls);
    // Rating still serves, and is still called in process.
    assert_eq!(after.rating_connections, before.rating_connections);

    // Back in place: metadata serves again, and is called in process again.
    std::fs::rename(&moved, &db).unwrap();
    wait_for_readiness(&server, 200).await;
    let before = counts(&server);
    for _ in 0..5 {
        movie.get_movie_details(details(None)).await.unwrap();
    }
    let after = counts(&server);
    assert_eq!(after.metadata_connections, before.metadata_connections);
    assert_eq!(after.metadata_calls - before.metadata_calls, 5.0);
}

/// Waits until metadata's `/readyz` answers `status`, then for the readiness mirror (once
/// a second) to have seen it too.
async fn wait_for_readiness(server: &Server, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while http_get(server.addr("metadata"), "/readyz").0 != status {
        assert!(
            Instant::now() < deadline,
            "metadata's readiness is not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
}

/// The fast path keeps the callee's faults and auth: under `auth.mode: all` the caller's
/// token is judged in process too, and an injected error reaches the caller and counts
/// under the callee's endpoint, still without a socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colocated_calls_keep_faults_and_auth() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("faults.yaml");
    std::fs::write(
        &config,
        "faults:\n  - service: rating\n    endpoint: GetAggregatedRating\n    error: unavailable\n",
    )
    .unwrap();
    let server = Server::start_with_env(
        dir.path(),
        &["--config", config.to_str().unwrap()],
        &[("MOVIEAPP_AUTH_MODE", "all")],
    );
    // The start-up warning says what the fault does in words, not as a Rust value.
    let logs = server.logs();
    assert!(
        logs.contains("FAULT INJECTION IS ON") && logs.contains("fails with unavailable"),
        "{logs}"
    );
    assert!(
        !logs.contains("Some(") && !logs.contains("Fault {"),
        "{logs}"
    );
    let mut tokens = Vec::new();
    for (user, role) in [("walt", "writer"), ("rita", "reader")] {
        crate::access::add_user(&data, user, role);
        tokens.push(crate::access::login(server.addr("auth"), user).await);
    }
    let put = ["--data-dir", &data, "movie", "put", "1", "--title", "T"];
    let run = crate::support::movieapp_env(&put, &[("MOVIEAPP_TOKEN", &tokens[0])]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    let mut movie = MovieServiceClient::new(server.channel("movie").await);
    let before = counts(&server);
    let status = movie
        .get_movie_details(details(Some(&tokens[1])))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(status.message().contains("injected fault"), "{status:?}");
    let after = counts(&server);
    assert_eq!(after.rating_connections, before.rating_connections);
    assert_eq!(after.metadata_connections, before.metadata_connections);
    assert!(after.rating_calls > before.rating_calls);
    // The reader's token passed metadata's gate in process.
    assert_eq!(after.metadata_calls - before.metadata_calls, 1.0);
    let text = http_get(server.addr("movie"), "/metrics").1;
    let unavailable = sample(
        &text,
        r#"movieapp_errors_total{service="rating",endpoint="GetAggregatedRating",error="unavailable"}"#,
    );
    assert!(unavailable >= 1.0, "{unavailable}");
    let refused = r#"movieapp_errors_total{service="metadata",endpoint="GetMetadata""#;
    assert!(
        !text.contains(refused),
        "metadata refused the call:\n{text}"
    );
}
