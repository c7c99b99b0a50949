//! The book's integration test flow (ch. 2/5), through the CLI against a running `serve`.

use crate::support::{Server, movieapp, movieapp_env};

#[test]
fn the_books_integration_flow() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    books_flow(&server);
}

/// The flow against a running `serve`, whatever its storage.
pub fn books_flow(server: &Server) {
    let (meta, rating, movie) = (
        server.addr("metadata"),
        server.addr("rating"),
        server.addr("movie"),
    );

    // 1. Put metadata.
    movieapp(&[
        "movie",
        "put",
        "the-movie",
        "--title",
        "The Movie",
        "--description",
        "The Movie, the one and only",
        "--director",
        "Mr. D",
        "--addr",
        meta,
    ])
    .ok();

    // 2. Get it back (through the movie service, which reads the metadata service).
    let details = movieapp(&["movie", "get", "the-movie", "--addr", movie, "-o", "json"]).json();
    assert_eq!(
        details["metadata"],
        serde_json::json!({
            "id": "the-movie", "title": "The Movie",
            "description": "The Movie, the one and only", "director": "Mr. D"
        })
    );
    // 3. No rating yet: the field is absent, not 0.
    assert!(details.get("rating").is_none(), "{details}");
    let table = movieapp(&["movie", "get", "the-movie", "--addr", movie]).ok();
    assert!(table.contains("no ratings yet"), "{table}");

    let rate = |user: &str, value: &str| {
        movieapp(&[
            "rate",
            "put",
            "the-movie",
            value,
            "--user",
            user,
            "--addr",
            rating,
        ])
        .ok()
    };
    let aggregate = || {
        movieapp(&["rate", "get", "the-movie", "--addr", rating, "-o", "json"]).json()["rating"]
            .as_f64()
            .unwrap()
    };
    // 4. user0 rates 5.
    rate("user0", "5");
    assert_eq!(aggregate(), 5.0);
    // 5. user0 rates 1: replaces the 5 (the book's in-memory test would give 3.0).
    rate("user0", "1");
    assert_eq!(aggregate(), 1.0);
    // 6. user1 rates 4.
    rate("user1", "4");
    assert_eq!(aggregate(), 2.5);
    // 7. The movie details carry the aggregate.
    let details = movieapp(&["movie", "get", "the-movie", "--addr", movie, "-o", "json"]).json();
    assert_eq!(details["rating"], 2.5);
    let table = movieapp(&["movie", "get", "the-movie", "--addr", movie]).ok();
    assert!(table.contains("2.5"), "{table}");
}

#[test]
fn clients_find_services_through_the_registry_without_addr() {
    let dir = tempfile::tempdir().unwrap();
    let _server = Server::start(dir.path());
    let data_dir = dir.path().to_str().unwrap();

    // The data directory is all a client needs: the registry in it says where services are.
    let env = [("MOVIEAPP_DATA_DIR", data_dir)];
    movieapp_env(&["movie", "put", "7", "--title", "Seven"], &env).ok();
    movieapp_env(&["rate", "put", "7", "3", "--user", "u"], &env).ok();
    let details = movieapp_env(&["movie", "get", "7", "-o", "json"], &env).json();
    assert_eq!(details["rating"], 3.0);
    assert_eq!(details["metadata"]["title"], "Seven");
    let details = movieapp(&["movie", "get", "7", "-o", "json", "--data-dir", data_dir]).json();
    assert_eq!(details["metadata"]["title"], "Seven");
}

#[test]
fn a_static_registry_reaches_services_at_their_configured_ports() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let port = |service: &str| server.addr(service).rsplit(':').next().unwrap().to_owned();
    let (meta_port, movie_port) = (port("metadata"), port("movie"));

    // Environment variables...
    let env = [
        ("MOVIEAPP_REGISTRY", "static"),
        ("MOVIEAPP_METADATA_API_PORT", meta_port.as_str()),
        ("MOVIEAPP_MOVIE_API_PORT", movie_port.as_str()),
    ];
    movieapp_env(&["movie", "put", "7", "--title", "Seven"], &env).ok();
    let details = movieapp_env(&["movie", "get", "7", "-o", "json"], &env).json();
    assert_eq!(details["metadata"]["title"], "Seven");

    // ...or a config file.
    let config = dir.path().join("movieapp.yaml");
    std::fs::write(
        &config,
        format!(
            "serviceDiscovery:\n  backend: static\n  static:\n    movie: [127.0.0.1:{movie_port}]\n"
        ),
    )
    .unwrap();
    let details = movieapp(&[
        "movie",
        "get",
        "7",
        "-o",
        "json",
        "--config",
        config.to_str().unwrap(),
    ])
    .json();
    assert_eq!(details["metadata"]["title"], "Seven");
}

#[test]
fn failures_are_one_line_naming_the_value_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let run = movieapp(&["movie", "get", "42", "--addr", server.addr("movie")]);
    assert_eq!(run.code, Some(1), "{run:?}");
    // The message, then the call's trace id (its log lines carry it).
    let (message, trace) = run.stderr.trim().split_once(" (trace ").unwrap();
    assert_eq!(message, r#"error: movie "42" not found"#);
    assert!(trace.len() == 33 && trace.ends_with(')'), "{}", run.stderr);
    assert!(run.stdout.is_empty());

    let run = movieapp(&["rate", "get", "42", "--addr", server.addr("rating")]);
    assert_eq!(run.code, Some(1), "{run:?}");
    let (message, _) = run.stderr.trim().split_once(" (trace ").unwrap();
    assert_eq!(message, r#"error: ratings not found for movie "42""#);
}

#[test]
fn an_unreachable_server_names_the_address_and_how_to_start_one() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let run = movieapp(&["movie", "get", "1", "--addr", &addr]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(&addr), "{}", run.stderr);
    assert!(run.stderr.contains("movieapp serve"), "{}", run.stderr);
}

#[test]
fn a_closed_pipe_exits_quietly() {
    use std::process::{Command, Stdio};
    // `movieapp completions bash | head -1`: the reader goes away early.
    let mut child = Command::new(crate::support::BIN)
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
