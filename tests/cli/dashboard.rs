//! The web dashboard (issue 31), in a real browser: Debian's chromium driven by playwright
//! (`tests/python/dashboard.py`), against `serve` on loopback.

use std::{
    path::Path,
    process::{Command, Output},
    time::Duration,
};

use crate::{
    access::{add_user, login},
    support::{Server, http_get, movieapp, test_tool},
    trace_ids::trace_in,
};

/// Python with playwright, and chromium; `None` (the test is skipped) outside scripts/test.sh.
fn browser_tools() -> Option<(String, String)> {
    Some((test_tool("GRPC_TEST_PYTHON")?, test_tool("CHROMIUM")?))
}

/// A free port for a dashboard (bound, then let go).
fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

/// Runs one step of the browser script; its stdout, or the test fails with its stderr.
fn browser(python: &str, chromium: &str, step: &str, url: &str, args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/dashboard.py");
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(python)
        .arg(script)
        .args([step, url])
        .args(args)
        .env("CHROMIUM", chromium)
        .output()
        .expect("run the browser script");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    );
    assert!(status.success(), "{step}: {stderr}\n{stdout}");
    stdout
}

/// The dashboard's URL in `server`'s announcements.
fn dashboard_url(server: &Server) -> String {
    server.addr("dashboard").to_owned()
}

fn run(data: &str, args: &[&str]) -> String {
    let run = movieapp(&[&["--data-dir", data], args].concat());
    assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    run.stderr
}

#[test]
fn the_dashboard_shows_services_traces_and_unreachable_instances_and_keeps_traces_across_a_restart()
{
    let Some((python, chromium)) = browser_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let port = free_port();
    let server = Server::start_with(dir.path(), &["--dashboard-port", &port]);
    let url = dashboard_url(&server);
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    // A second metadata instance, in a process of its own, to be killed.
    let second = Server::start_with(dir.path(), &["--services", "metadata"]);

    run(data, &["movie", "put", "1", "--title", "The Movie"]);
    run(data, &["rate", "put", "1", "5", "--user", "ann"]);
    let said = run(data, &["movie", "get", "1", "-v"]);
    let trace = trace_in(&said, "movie answered (trace ");

    // A movie service in a third process calls metadata and rating over the network: the
    // dashboard puts the trace together from both processes.
    let movie_alone = Server::start_with(dir.path(), &["--services", "movie"]);
    let said = run(
        data,
        &[
            "movie",
            "get",
            "1",
            "-v",
            "--addr",
            movie_alone.addr("movie"),
        ],
    );
    let crossed = trace_in(&said, "movie answered (trace ");
    let api = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut spans = Vec::new();
    crate::support::eventually(
        Duration::from_secs(5),
        "the trace from two processes",
        || {
            let (status, body) = http_get(&api, &format!("/api/trace/{crossed}"));
            assert_eq!(status, 200, "{body}");
            let found: serde_json::Value = serde_json::from_str(&body).unwrap();
            spans = found["spans"].as_array().unwrap().clone();
            spans.len() >= 3
        },
    );
    let movie_span = spans
        .iter()
        .find(|s| s["name"] == "MovieService/GetMovieDetails")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    for callee in [
        "MetadataService/GetMetadata",
        "RatingService/GetAggregatedRating",
    ] {
        let child = spans
            .iter()
            .find(|s| s["name"] == callee)
            .unwrap_or_else(|| panic!("no {callee} in {spans:#?}"));
        assert_eq!(child["parentSpanId"], movie_span["spanId"], "{spans:#?}");
        assert_eq!(child["kind"], "grpc", "over the network: {child}");
        assert_ne!(child["process"], movie_span["process"], "{spans:#?}");
    }
    drop(movie_alone);

    let shown = browser(&python, &chromium, "overview", &url, &[]);
    assert!(shown.contains("\"movie\""), "{shown}");
    // The picture in the README: the trace's waterfall, taken by this test.
    let picture = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/dashboard.png");
    let waterfall = browser(
        &python,
        &chromium,
        "trace",
        &url,
        &["MovieService/GetMovieDetails", picture.to_str().unwrap()],
    );
    assert!(waterfall.contains(&trace[..16]) || waterfall.contains("GetAggregatedRating"));
    browser(&python, &chromium, "keys", &url, &[]);

    // The second metadata instance, killed: unreachable within two refreshes.
    let registered = movieapp(&[
        "--data-dir",
        data,
        "registry",
        "show",
        "metadata",
        "-o",
        "json",
    ])
    .json();
    let killed = registered["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["address"] == second.addr("metadata"))
        .and_then(|i| i["instanceId"].as_str())
        .unwrap_or_else(|| panic!("no second metadata instance in {registered}"))
        .to_owned();
    second.kill();
    let took = browser(&python, &chromium, "unreachable", &url, &[&killed]);
    let seconds: serde_json::Value = serde_json::from_str(took.trim()).unwrap();
    assert!(
        seconds["seconds"].as_f64().unwrap() <= 2.5,
        "unreachable shown after {took}"
    );

    // Restarted: the earlier trace is still listed.
    drop(server);
    let server = Server::start_with(dir.path(), &["--dashboard-port", &port]);
    browser(
        &python,
        &chromium,
        "listed",
        &dashboard_url(&server),
        &[&trace],
    );

    // The routes behind the page answer JSON and check what they are given.
    let addr = dashboard_url(&server)
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let (status, body) = http_get(&addr, &format!("/api/trace/{trace}"));
    assert_eq!(status, 200, "{body}");
    let found: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(found["spans"].as_array().unwrap().len() >= 3, "{found}");
    for (path, expected) in [
        ("/api/trace/xyz", "32 hex digits"),
        ("/api/traces?colour=red", "unknown query parameter"),
        ("/api/state?history=maybe", "expected 1 or 0"),
        ("/nowhere", "the dashboard is at /"),
    ] {
        let (status, body) = http_get(&addr, path);
        assert!(
            (400..500).contains(&status) && body.contains(expected),
            "{path}: {status} {body}"
        );
    }
}

#[test]
fn with_auth_on_the_dashboard_asks_for_an_admin_token() {
    let Some((python, chromium)) = browser_tools() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let port = free_port();
    let server = Server::start_with_env(
        dir.path(),
        &["--dashboard-port", &port],
        &[("MOVIEAPP_AUTH_MODE", "all")],
    );
    add_user(data, "rita", "reader");
    add_user(data, "ada", "admin");
    let auth = server.addr("auth").to_owned();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (reader, admin) =
        runtime.block_on(async { (login(&auth, "rita").await, login(&auth, "ada").await) });
    let url = dashboard_url(&server);
    browser(&python, &chromium, "auth", &url, &[&reader, &admin]);
    // The token is in no log line.
    std::thread::sleep(Duration::from_millis(200));
    let logs = server.logs();
    assert!(!logs.contains(&admin) && !logs.contains(&reader), "{logs}");
}
