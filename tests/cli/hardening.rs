//! Defects found by trying to break movieapp (the hardening issue), each checked against
//! the real binary: what a careless or hostile input gets, and that nothing is lost or
//! rewritten on the way.

use std::{
    io::{Read, Write},
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use movieapp::pb::{
    GetMetadataRequest, Metadata, PutMetadataRequest,
    metadata_service_client::MetadataServiceClient,
};

use crate::support::{BIN, Server, http_get, movieapp, serve_expecting_failure, wait_with_timeout};

/// A raw HTTP/1.1 request: the status, the headers (lowercase names) and the body.
fn http(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: movieapp\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[test]
fn query_values_are_decoded_strictly_and_never_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "rating"]);
    let addr = server.addr("rating");
    for (query, names) in [
        ("id=%ff&userId=u&value=3", "query parameter id"),
        ("id=%fe&userId=u&value=2", "query parameter id"),
        ("id=1&userId=%ff&value=2", "query parameter userId"),
        ("id=1&type=%c3&userId=u&value=2", "query parameter type"),
        ("id=%zz&userId=u&value=2", "query parameter id"),
        ("id=%&userId=u&value=2", "query parameter id"),
        ("id=1&id=2&userId=u&value=2", "query parameter id"),
        ("id=1&userId=u&value=+3", "rating value"),
        ("id=1&userId=u&value=03", "rating value"),
        ("id=1&userId=u&value=%203", "rating value"),
    ] {
        let (status, _, body) = http(addr, "PUT", &format!("/rating?{query}"), &[]);
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(names), "{query}: {body}");
        assert!(body.starts_with("{\"error\""), "{query}: {body}");
    }
    // Nothing was stored under the replacement character, or anywhere.
    assert_eq!(http_get(addr, "/rating?id=%ef%bf%bd").0, 404);
    assert_eq!(http_get(addr, "/rating?id=1").0, 404);
    // The CLI takes exactly the digits 1 to 5 too.
    for sloppy in ["+3", "03", " 3"] {
        let run = movieapp(&["rate", "put", "1", sloppy, "--user", "u", "--addr", addr]);
        assert_eq!(run.code, Some(2), "{sloppy}: {run:?}");
    }
}

#[test]
fn http_errors_have_json_bodies_and_content_types_are_read_as_media_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "rating"]);
    let addr = server.addr("rating");
    for method in ["POST", "DELETE", "PATCH"] {
        let (status, head, body) = http(addr, method, "/rating?id=1", &[]);
        assert_eq!(status, 405, "{method}");
        assert!(head.contains("allow: get,head,put"), "{method}: {head}");
        assert!(body.contains("\"error\""), "{method}: {body}");
    }
    let long = format!("/rating?id={}", "x".repeat(9 * 1024));
    let (status, _, body) = http(addr, "GET", &long, &[]);
    assert_eq!(status, 414);
    assert!(body.contains("\"error\""), "{body}");
    for content_type in [
        "application/grpc+json",
        "application/grpc-web",
        "application/grpcx",
    ] {
        let (status, _, body) = http(
            addr,
            "POST",
            "/RatingService/GetAggregatedRating",
            &[("content-type", content_type)],
        );
        assert_eq!(status, 415, "{content_type}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_errors_name_what_is_wrong() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_async(dir.path()).await;
    let rating = server.channel("rating").await;

    // A service this port does not serve: named, with who serves it.
    let mut wrong_port = MetadataServiceClient::new(rating.clone());
    let status = wrong_port
        .get_metadata(GetMetadataRequest {
            movie_id: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let metadata_addr = server.addr("metadata");
    assert!(
        status.message().contains("the metadata service serves it")
            && status.message().contains(metadata_addr),
        "{}",
        status.message()
    );
    // A method nobody serves.
    let mut grpc = tonic::client::Grpc::new(rating);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, (), _>(
            tonic::Request::new(()),
            "/Nope/Nope".parse().unwrap(),
            tonic_prost::ProstCodec::<(), ()>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    assert!(
        status.message().contains("unknown method"),
        "{}",
        status.message()
    );

    // Too large a message: RESOURCE_EXHAUSTED, counted in the metrics under that code.
    let mut metadata = MetadataServiceClient::new(server.channel("metadata").await)
        .max_encoding_message_size(64 << 20);
    let status = metadata
        .put_metadata(PutMetadataRequest {
            metadata: Some(Metadata {
                id: "1".into(),
                title: "t".repeat(5 << 20),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    // Control characters where they make no sense.
    for (title, description) in [
        ("\u{1b}[31mred", ""),
        ("a\0b", ""),
        ("two\nlines", ""),
        ("t", "\u{1b}[2J"),
    ] {
        let status = metadata
            .put_metadata(PutMetadataRequest {
                metadata: Some(Metadata {
                    id: "1".into(),
                    title: title.into(),
                    description: description.into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{title:?}");
    }
    // Newlines and tabs are fine in a description.
    metadata
        .put_metadata(PutMetadataRequest {
            metadata: Some(Metadata {
                id: "1".into(),
                title: "T".into(),
                description: "line one\n\tline two".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    let metrics = reqwest::get(format!("http://{metadata_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            r#"movieapp_errors_total{service="metadata",endpoint="PutMetadata",error="resource_exhausted"} 1"#
        ),
        "{metrics}"
    );
    drop(server);
}

#[test]
fn output_problems_and_odd_arguments_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let (metadata, rating, movie) = (
        server.addr("metadata"),
        server.addr("rating"),
        server.addr("movie"),
    );
    movieapp(&["movie", "put", "1", "--title", "T", "--addr", metadata]).ok();
    for (user, value) in [("a", "3"), ("b", "3"), ("c", "2")] {
        movieapp(&["rate", "put", "1", value, "--user", user, "--addr", rating]).ok();
    }
    // One rating format in every table; full precision in JSON.
    assert!(
        movieapp(&["movie", "get", "1", "--addr", movie])
            .ok()
            .contains("2.67")
    );
    let table = movieapp(&["rate", "get", "1", "--addr", rating]).ok();
    assert!(
        table.contains("2.67") && !table.contains("2.666"),
        "{table}"
    );
    let json = movieapp(&["rate", "get", "1", "--addr", rating, "--output", "json"]).json();
    assert!((json["rating"].as_f64().unwrap() - 8.0 / 3.0).abs() < 1e-12);

    // A value with a newline is shown escaped: the error line stays one line.
    let run = movieapp(&["rate", "get", "a\nb", "--addr", rating]);
    assert_eq!(run.code, Some(2));
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.contains(r"a\nb"), "{}", run.stderr);

    // stdout closed: exit 1 saying so, not success with the output lost.
    let mut closed = Command::new(BIN);
    closed
        .args(["movie", "get", "1", "--addr", movie])
        .stderr(Stdio::piped());
    // SAFETY: close(2) is async-signal-safe; it closes the child's own stdout.
    unsafe {
        closed.pre_exec(|| {
            libc::close(1);
            Ok(())
        });
    }
    let out = closed.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stdout"));
    // stdout full: exit 1 naming stdout.
    let out = Command::new(BIN)
        .args(["movie", "get", "1", "--addr", movie])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot write the output to stdout"));
}

#[test]
fn unbounded_local_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for args in [
        &["produce", "--file", "/dev/zero", "--data-dir", data][..],
        &["bench-serialize", "--value-file", "/dev/zero"],
    ] {
        let started = Instant::now();
        let run = movieapp(args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert!(run.stderr.contains("larger than"), "{}", run.stderr);
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    assert!(!dir.path().join("broker.db").exists(), "nothing was sent");
}

#[test]
fn mistakes_in_how_it_is_started_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // A data directory that is a file, or a dangling symbolic link.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    for path in [&file, &dangling] {
        let run = serve_expecting_failure(path.to_str().unwrap(), &[]);
        assert_eq!(run.code, Some(2), "{run:?}");
        assert!(run.stderr.contains("is not a directory"), "{}", run.stderr);
    }
    // A log level that is neither a level nor target=level.
    let run = serve_expecting_failure(data, &["--log-level", "verbose"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("verbose"), "{}", run.stderr);
    // An empty data directory in a file; a Consul address that is not one; a librdkafka
    // property that does not exist: exit 2 naming the file and key.
    for (yaml, key) in [
        ("dataDir: \"\"\n", "dataDir"),
        (
            "serviceDiscovery:\n  consul:\n    address: \"::::\"\n",
            "serviceDiscovery.consul.address",
        ),
        (
            "broker:\n  kafka:\n    producer:\n      no.such.thing: 1\n",
            "broker.kafka.producer.no.such.thing",
        ),
    ] {
        let config = dir.path().join("bad.yaml");
        std::fs::write(&config, yaml).unwrap();
        let run = serve_expecting_failure(data, &["--config", config.to_str().unwrap()]);
        assert_eq!(run.code, Some(2), "{yaml}: {run:?}");
        assert!(
            run.stderr.contains("bad.yaml") && run.stderr.contains(key),
            "{}",
            run.stderr
        );
    }
    // Durations in hours.
    let config = dir.path().join("hours.yaml");
    std::fs::write(&config, "shutdown:\n  drainTimeout: 1h\n").unwrap();
    assert_eq!(
        movieapp(&["config", "check", config.to_str().unwrap()]).code,
        Some(0)
    );
}

#[test]
fn inspecting_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexistent_zz");
    let run = movieapp(&["registry", "list", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stderr.contains("nonexistent_zz"), "{}", run.stderr);
    let run = movieapp(&["feed", "status", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{run:?}");
    // A client looking for a service creates no registry either.
    let run = movieapp(&["movie", "get", "1", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        !missing.exists(),
        "inspection created {}",
        missing.display()
    );
}

#[test]
fn a_kafka_cluster_that_is_down_fails_fast_and_makes_serve_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for args in [
        &["feed", "status", "--broker", "kafka://127.0.0.1:1"][..],
        &[
            "produce",
            "--broker",
            "kafka://127.0.0.1:1",
            "--data-dir",
            data,
        ],
    ] {
        let started = Instant::now();
        let run = movieapp(args);
        assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{}", run.stderr);
        assert!(lines[0].contains("kafka://127.0.0.1:1"), "{}", run.stderr);
    }
    let server = Server::start_with(
        dir.path(),
        &["--services", "rating", "--broker", "kafka://127.0.0.1:1"],
    );
    let addr = server.addr("rating").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let reasons = loop {
        let (status, body) = http_get(&addr, "/readyz");
        // Ready while it first tries to join; not ready once that fails (in seconds).
        if status == 503 && body.contains("cannot reach") {
            break body;
        }
        assert!(Instant::now() < deadline, "still ready: {status} {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(reasons.contains("kafka://127.0.0.1:1"), "{reasons}");
    let started = Instant::now();
    assert_eq!(server.stop(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_corrupt_database_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rating.db");
    {
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE ratings (record_id TEXT, record_type TEXT, user_id TEXT, value INTEGER,
               PRIMARY KEY (record_id, record_type, user_id));
             PRAGMA user_version = 1;",
        )
        .unwrap();
        let tx = db.unchecked_transaction().unwrap();
        for i in 0..5000 {
            tx.execute(
                "INSERT INTO ratings VALUES (?1, 'movie', 'user', 3)",
                [format!("record-{i}")],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    // Garbage over some pages past the first.
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(3 * 4096)).unwrap();
    file.write_all(&[0xa5; 3 * 4096]).unwrap();
    drop(file);
    let run = serve_expecting_failure(dir.path().to_str().unwrap(), &["--services", "rating"]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("rating.db") && run.stderr.contains("is corrupt"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_one_line_error_of_a_long_running_command_is_written_once() {
    // `serve` refusing to start writes one error line, whatever the log format.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        wait_with_timeout(&mut child, Duration::from_secs(20)),
        Some(2)
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
}
