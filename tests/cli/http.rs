//! The HTTP/JSON API (the book's chapter 2) on the services' own ports, beside gRPC:
//! status codes and JSON bodies for success, not found and invalid input; health and
//! readiness, agreeing with gRPC health.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, movieapp};

async fn call(method: reqwest::Method, url: String) -> (u16, Value) {
    // reqwest uses rustls; its crypto provider is chosen once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::Client::new()
        .request(method, &url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let json =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url}: not JSON ({e}): {body}"));
    (status, json)
}

async fn get(url: String) -> (u16, Value) {
    call(reqwest::Method::GET, url).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_books_http_api_answers_json_with_the_mapped_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_async(dir.path()).await;
    let [metadata, rating, movie] =
        ["metadata", "rating", "movie"].map(|s| format!("http://{}", server.addr(s)));
    let metadata_addr = server.addr("metadata").to_owned();
    tokio::task::spawn_blocking(move || {
        movieapp(&[
            "movie",
            "put",
            "1",
            "--title",
            "The Movie",
            "--director",
            "Mr. D",
            "--addr",
            &metadata_addr,
        ])
        .ok();
    })
    .await
    .unwrap();

    // metadata
    let (status, body) = get(format!("{metadata}/metadata?id=1")).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"id": "1", "title": "The Movie", "description": "", "director": "Mr. D"})
    );
    assert_eq!(
        get(format!("{metadata}/metadata?id=42")).await,
        (404, json!({"error": "movie \"42\" not found"}))
    );
    assert_eq!(
        get(format!("{metadata}/metadata")).await,
        (400, json!({"error": "query parameter id is required"}))
    );
    let (status, body) = get(format!("{metadata}/metadata?id={}", "x".repeat(256))).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("at most 255 bytes"),
        "{body}"
    );

    // movie, before any rating: details without `rating`.
    assert_eq!(
        get(format!("{movie}/movie?id=1")).await,
        (
            200,
            json!({"metadata": {"id": "1", "title": "The Movie", "description": "", "director": "Mr. D"}})
        )
    );

    // rating
    let put = |query: &str| call(reqwest::Method::PUT, format!("{rating}/rating?{query}"));
    let (status, body) = put("id=1&type=movie&userId=alex&value=5").await;
    assert_eq!(
        (status, &body),
        (
            200,
            &json!({"recordId": "1", "recordType": "movie", "userId": "alex", "value": 5})
        )
    );
    assert_eq!(
        put("id=1&userId=sam&value=4").await.0,
        200,
        "type defaults to movie"
    );
    let (status, body) = put("id=1&type=movie&userId=alex&value=6").await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("invalid rating value \"6\""),
        "{body}"
    );
    let (status, body) = put("id=1&type=movie&userId=alex&value=abc").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        put("id=1&type=movie&value=3").await,
        (400, json!({"error": "query parameter userId is required"}))
    );
    assert_eq!(
        get(format!("{rating}/rating?id=1&type=movie")).await,
        (200, json!(4.5))
    );
    assert_eq!(
        get(format!("{rating}/rating?id=7&type=movie")).await,
        (404, json!({"error": "ratings not found for movie \"7\""}))
    );

    // movie, rated.
    let (status, body) = get(format!("{movie}/movie?id=1")).await;
    assert_eq!((status, &body["rating"]), (200, &json!(4.5)));
    assert_eq!(
        get(format!("{movie}/movie?id=2")).await,
        (404, json!({"error": "movie \"2\" not found"}))
    );

    // Every port: health, readiness, unknown paths, size limits.
    for base in [&metadata, &rating, &movie] {
        assert_eq!(
            get(format!("{base}/healthz")).await,
            (200, json!({"status": "ok"}))
        );
        assert_eq!(
            get(format!("{base}/readyz")).await,
            (200, json!({"status": "ready"}))
        );
        assert_eq!(
            get(format!("{base}/no-such-thing")).await,
            (404, json!({"error": "no such endpoint"}))
        );
        let (status, _) = get(format!("{base}/healthz?pad={}", "p".repeat(9000))).await;
        assert_eq!(status, 414);
    }
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_on_http_and_grpc() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_async(dir.path()).await;
    let base = format!("http://{}", server.addr("metadata"));
    let channel = server.channel("metadata").await;
    let health = HealthClient::new(channel);
    let grpc_status = |mut health: HealthClient<tonic::transport::Channel>| async move {
        health
            .check(HealthCheckRequest {
                service: "MetadataService".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status
    };

    let db = dir.path().join("metadata.db");
    let away = dir.path().join("metadata.db.away");
    std::fs::rename(&db, &away).unwrap();
    let (status, body) = get(format!("{base}/readyz")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "not ready");
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap()
            .contains("metadata.db is missing"),
        "{body}"
    );
    // gRPC health agrees within its refresh.
    let until = Instant::now() + Duration::from_secs(5);
    while grpc_status(health.clone()).await != ServingStatus::NotServing as i32 {
        assert!(Instant::now() < until, "gRPC health still serving");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    std::fs::rename(&away, &db).unwrap();
    assert_eq!(
        get(format!("{base}/readyz")).await,
        (200, json!({"status": "ready"}))
    );
    let until = Instant::now() + Duration::from_secs(5);
    while grpc_status(health.clone()).await != ServingStatus::Serving as i32 {
        assert!(Instant::now() < until, "gRPC health not serving again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}
