//! `movieapp bench-load` against a running `serve`: closed and open loop, gRPC and HTTP,
//! the report's figures, and the refusals.

use crate::support::{Server, movieapp};

fn bench(data: &str, args: &[&str]) -> crate::support::Run {
    movieapp(&[&["--data-dir", data, "bench-load"], args].concat())
}

#[test]
fn bench_load_reports_calls_latency_errors_and_server_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start(dir.path());
    let movie = server.addr("movie");

    // Closed loop, seeded first: every call answered.
    let got = bench(
        data,
        &[
            "--seed",
            "--addr",
            movie,
            "--call",
            "MovieService/GetMovieDetails",
            "-d",
            r#"{"movie_id":"1"}"#,
            "-n",
            "300",
            "-c",
            "4",
            "--streams",
            "2",
            "-o",
            "json",
        ],
    )
    .json();
    assert_eq!(
        (got["calls"].as_u64(), got["ok"].as_u64()),
        (Some(300), Some(300)),
        "{got}"
    );
    assert_eq!(got["errors"], serde_json::json!({}));
    let latency = &got["latencyMs"];
    let p = |k: &str| latency[k].as_f64().unwrap();
    assert!(
        p("p50") > 0.0 && p("p50") <= p("p99") && p("p99") <= p("max"),
        "{got}"
    );
    assert!(got["serverCpuUsPerCall"].as_f64().is_some(), "{got}");
    assert!(got["callsPerSecond"].as_f64().unwrap() > 0.0);

    // Open loop at a fixed rate: the number of calls follows the rate, not the server.
    let got = bench(
        data,
        &[
            "--addr",
            movie,
            "--call",
            "MovieService/GetMovieDetails",
            "-d",
            r#"{"movieId":"1"}"#,
            "--rate",
            "200",
            "--duration",
            "1s",
            "-o",
            "json",
        ],
    )
    .json();
    let calls = got["calls"].as_u64().unwrap();
    assert!((195..=201).contains(&calls), "{got}");
    assert_eq!(got["ok"].as_u64(), Some(calls));

    // HTTP, and a table.
    let table = bench(
        data,
        &["--addr", movie, "--http", "GET /movie?id=1", "-n", "50"],
    )
    .ok();
    for row in [
        "GET /movie?id=1",
        "50 in",
        "p99.9",
        "server CPU/call",
        "none",
    ] {
        assert!(table.contains(row), "{row}: {table}");
    }

    // Every call failing: counted by code, and exit 1.
    let failed = bench(
        data,
        &[
            "--addr",
            movie,
            "--call",
            "MovieService/GetMovieDetails",
            "-d",
            r#"{"movie_id":"2"}"#,
            "-n",
            "5",
        ],
    );
    assert_eq!(failed.code, Some(1), "{}", failed.stderr);
    assert!(
        failed.stderr.contains("no call succeeded (not_found: 5)"),
        "{}",
        failed.stderr
    );
    assert!(failed.stdout.contains("not_found: 5"), "{}", failed.stdout);
}

#[test]
fn numbered_requests_write_different_ratings_over_grpc_and_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start(dir.path());
    let rating = server.addr("rating");
    // 30 PutRating calls over 3 connections: records 0 … 9, three times each.
    let got = bench(
        data,
        &[
            "--addr",
            rating,
            "--call",
            "RatingService/PutRating",
            "-d",
            r#"{"record_id":"{n}","record_type":"movie","user_id":"u{n}","rating_value":4}"#,
            "--vary",
            "10",
            "-n",
            "30",
            "-c",
            "3",
            "-o",
            "json",
        ],
    )
    .json();
    assert_eq!(got["ok"].as_u64(), Some(30), "{got}");
    // Then 10 HTTP writes of records 10 … 19, with the default numbering.
    let got = bench(
        data,
        &[
            "--addr",
            rating,
            "--http",
            "PUT /rating?id=1{n}&type=movie&userId=v&value=2",
            "-n",
            "10",
            "-o",
            "json",
        ],
    )
    .json();
    assert_eq!(got["ok"].as_u64(), Some(10), "{got}");
    let listed = movieapp(&["--data-dir", data, "rate", "get", "9", "-o", "json"]).json();
    assert_eq!(listed["rating"].as_f64(), Some(4.0), "{listed}");
    let listed = movieapp(&["--data-dir", data, "rate", "get", "19", "-o", "json"]).json();
    assert_eq!(listed["rating"].as_f64(), Some(2.0), "{listed}");
    let missing = movieapp(&["--data-dir", data, "rate", "get", "20"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
}

#[test]
fn bench_load_refuses_what_it_cannot_or_should_not_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, said) in [
        (
            vec![
                "--addr",
                "10.255.255.1:8083",
                "--call",
                "MovieService/GetMovieDetails",
            ],
            "is not this machine; pass --allow-remote",
        ),
        (
            vec!["--addr", "127.0.0.1:1", "--call", "MovieService/Nope"],
            "unknown method \"MovieService/Nope\"",
        ),
        (
            vec![
                "--addr",
                "127.0.0.1:1",
                "--call",
                "MovieService/GetMovieDetails",
                "-d",
                r#"{"film":1}"#,
            ],
            "GetMovieDetailsRequest",
        ),
        (
            vec!["--addr", "127.0.0.1:1", "--http", "/movie"],
            "expected METHOD /path",
        ),
        (vec!["--addr", "127.0.0.1:1"], "--call"),
        (
            vec![
                "--addr",
                "127.0.0.1:1",
                "--call",
                "MovieService/GetMovieDetails",
                "-d",
                r#"{"movie_id":"1"}"#,
                "--vary",
                "10",
            ],
            "--vary 10: the request has no {n} to number",
        ),
        (
            vec![
                "--addr",
                "127.0.0.1:1",
                "--call",
                "MovieService/GetMovieDetails",
                "--rate",
                "0",
            ],
            "invalid rate",
        ),
    ] {
        let run = bench(data, &args);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(said), "{args:?}: {}", run.stderr);
    }
    // Nothing listening: a runtime failure naming the address.
    let run = bench(
        data,
        &[
            "--addr",
            "127.0.0.1:1",
            "--call",
            "MovieService/GetMovieDetails",
            "-n",
            "1",
        ],
    );
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("cannot connect to 127.0.0.1:1"),
        "{}",
        run.stderr
    );
}
