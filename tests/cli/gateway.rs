//! The movie service's calls to metadata and rating over the network (issue 27, item 5):
//! identical calls under way at the same time share one, never across tokens, and a caller
//! with more time left does not inherit the timeout of the caller whose call it joined.

use std::{path::Path, time::Duration};

use movieapp::pb::{self, movie_service_client::MovieServiceClient};

use crate::{
    access::{add_user, login},
    support::{Server, http_get, movieapp_env, sample},
};

/// GetMetadata answers after 300 ms, so that concurrent callers overlap for certain.
fn slow_metadata(dir: &Path) -> String {
    let config = dir.join("slow.yaml");
    std::fs::write(
        &config,
        "faults:\n  - service: metadata\n    endpoint: GetMetadata\n    delay: 300ms\n",
    )
    .unwrap();
    config.to_str().unwrap().to_owned()
}

/// GetMetadata calls the metadata service has answered so far.
fn metadata_calls(backend: &Server) -> f64 {
    let text = http_get(backend.addr("metadata"), "/metrics").1;
    sample(
        &text,
        r#"movieapp_calls_total{service="metadata",endpoint="GetMetadata"}"#,
    )
}

fn details(token: Option<&str>, timeout: Duration) -> tonic::Request<pb::GetMovieDetailsRequest> {
    let mut request = tonic::Request::new(pb::GetMovieDetailsRequest {
        movie_id: "1".into(),
    });
    request.set_timeout(timeout);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn seed(data: &str, token: Option<&str>) {
    let env: Vec<(&str, &str)> = token.map(|t| ("MOVIEAPP_TOKEN", t)).into_iter().collect();
    for args in [
        &["movie", "put", "1", "--title", "Shared"][..],
        &["rate", "put", "1", "5", "--user", "alex"],
    ] {
        let run = movieapp_env(&[&["--data-dir", data], args].concat(), &env);
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_calls_share_one_and_never_across_tokens() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = slow_metadata(dir.path());
    let auth = Server::start_with(dir.path(), &["--services", "auth"]);
    let all = [("MOVIEAPP_AUTH_MODE", "all")];
    let backend = Server::start_with_env(
        dir.path(),
        &["--services", "metadata,rating", "--config", &config],
        &all,
    );
    let movie = Server::start_with_env(dir.path(), &["--services", "movie"], &all);
    for (user, role) in [("walt", "writer"), ("rita", "reader"), ("rob", "reader")] {
        add_user(&data, user, role);
    }
    let writer = login(auth.addr("auth"), "walt").await;
    let readers = [
        login(auth.addr("auth"), "rita").await,
        login(auth.addr("auth"), "rob").await,
    ];
    seed(&data, Some(&writer));

    let client = MovieServiceClient::new(movie.channel("movie").await);
    let before = metadata_calls(&backend);
    // Ten callers with each reader's token, all at once.
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let mut client = client.clone();
            let request = details(Some(&readers[i % 2]), Duration::from_secs(10));
            tokio::spawn(async move { client.get_movie_details(request).await })
        })
        .collect();
    for call in calls {
        let details = call
            .await
            .unwrap()
            .unwrap()
            .into_inner()
            .movie_details
            .unwrap();
        assert_eq!(details.metadata.unwrap().title, "Shared");
        assert_eq!(details.rating, 5.0);
    }
    let shared = metadata_calls(&backend) - before;
    // One call per token (two), not one per caller (twenty); a straggler may make its own.
    assert!(
        (2.0..=4.0).contains(&shared),
        "20 concurrent calls with 2 tokens made {shared} GetMetadata calls"
    );

    // A token the callee refuses is refused for its caller alone.
    let mut one = client.clone();
    let refused = one
        .get_movie_details(details(Some("not-a-token"), Duration::from_secs(5)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_with_more_time_does_not_inherit_a_shorter_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = slow_metadata(dir.path());
    let backend = Server::start_with(
        dir.path(),
        &["--services", "metadata,rating", "--config", &config],
    );
    let movie = Server::start_with(dir.path(), &["--services", "movie"]);
    seed(&data, None);

    let client = MovieServiceClient::new(movie.channel("movie").await);
    let before = metadata_calls(&backend);
    let mut hurried = client.clone();
    let first = tokio::spawn(async move {
        hurried
            .get_movie_details(details(None, Duration::from_millis(150)))
            .await
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let mut patient = client.clone();
    let second = patient
        .get_movie_details(details(None, Duration::from_secs(5)))
        .await;
    let first = first.await.unwrap();
    // The hurried caller runs out of time (its client may say so first: CANCELLED).
    let code = first.unwrap_err().code();
    assert!(
        matches!(code, tonic::Code::DeadlineExceeded | tonic::Code::Cancelled),
        "{code:?}"
    );
    let details = second.unwrap().into_inner().movie_details.unwrap();
    assert_eq!(details.metadata.unwrap().title, "Shared");
    // It joined the hurried caller's call, saw it time out, and made its own (the first
    // is counted only when the callee saw its deadline pass before the caller hung up).
    let calls = metadata_calls(&backend) - before;
    assert!((1.0..=2.0).contains(&calls), "{calls}");
}
