//! Clients that are not ours speak to the running binary: Python grpcio (the book's grpcurl
//! calls), and the standard health and reflection services.

use std::process::Command;

use crate::support::{Server, repo_root, test_tool};

/// Each service and the gRPC service its port serves.
const SERVICES: [(&str, &str); 3] = [
    ("metadata", "MetadataService"),
    ("rating", "RatingService"),
    ("movie", "MovieService"),
];

/// The Python interpreter with grpcio, set up by scripts/test.sh.
fn python() -> Option<String> {
    test_tool("GRPC_TEST_PYTHON")
}

#[test]
fn grpcurl_lists_only_what_each_port_serves() {
    let Some(grpcurl) = test_tool("GRPCURL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (service, grpc_name) in SERVICES {
        let out = Command::new(&grpcurl)
            .args(["-plaintext", server.addr(service), "list"])
            .output()
            .expect("run grpcurl");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{service}: {stdout}");
        let listed: Vec<&str> = stdout.lines().collect();
        assert_eq!(
            listed,
            [
                grpc_name,
                "grpc.health.v1.Health",
                "grpc.reflection.v1.ServerReflection",
                "grpc.reflection.v1alpha.ServerReflection",
            ],
            "{service}"
        );
    }
}

/// The book's three grpcurl calls (SPEC section 1), as written, with the real grpcurl:
/// `-plaintext` works with auth off on loopback, the default.
#[test]
fn grpcurl_makes_the_books_three_plaintext_calls() {
    let Some(grpcurl) = test_tool("GRPCURL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let metadata = r#"{"metadata":{"id":"1","title":"The Movie","director":"Mr. D"}}"#;
    let calls = [
        ("metadata", metadata, "MetadataService/PutMetadata"),
        (
            "rating",
            r#"{"record_id":"1","record_type":"movie","user_id":"alex","rating_value":5}"#,
            "RatingService/PutRating",
        ),
        (
            "rating",
            r#"{"record_id":"1","record_type":"movie"}"#,
            "RatingService/GetAggregatedRating",
        ),
        (
            "movie",
            r#"{"movie_id":"1"}"#,
            "MovieService/GetMovieDetails",
        ),
    ];
    let mut answers = Vec::new();
    for (service, body, method) in calls {
        let out = Command::new(&grpcurl)
            .args(["-plaintext", "-d", body, server.addr(service), method])
            .output()
            .expect("run grpcurl");
        assert!(out.status.success(), "{method}: {out:?}");
        answers.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap());
    }
    assert_eq!(answers[2]["ratingValue"], 5.0);
    assert_eq!(answers[3]["movieDetails"]["rating"], 5.0);
    assert_eq!(answers[3]["movieDetails"]["metadata"]["title"], "The Movie");
}

#[test]
fn python_grpcio_makes_the_books_calls() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/book_calls.py"))
        .arg(repo_root().join("proto"))
        .args([
            server.addr("metadata"),
            server.addr("rating"),
            server.addr("movie"),
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "book_calls.py failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("all book calls ok"), "{stdout}");
}

#[tokio::test]
async fn health_and_reflection_are_served_on_every_port() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    for (service, grpc_name) in SERVICES {
        let url = format!("http://{}", server.addr(service));
        let channel = tonic::transport::Endpoint::from_shared(url)
            .unwrap()
            .connect()
            .await
            .unwrap();

        let mut health = HealthClient::new(channel.clone());
        for name in ["", grpc_name] {
            let status = health
                .check(HealthCheckRequest {
                    service: name.into(),
                })
                .await
                .unwrap()
                .into_inner()
                .status;
            assert_eq!(
                status,
                ServingStatus::Serving as i32,
                "{service} health of {name:?}"
            );
        }

        let mut reflection = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .unwrap()
            .into_inner();
        let response = responses.message().await.unwrap().unwrap();
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection answer: {response:?}");
        };
        let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        names.sort();
        // Each port describes only what it serves: no other service of ours.
        let mut expected = vec![
            grpc_name,
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        expected.sort();
        assert_eq!(names, expected, "{service}");
    }
    // Stop from a blocking thread so this runtime keeps driving the client connections,
    // which must answer the server's graceful-shutdown handshake.
    let code = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
}
