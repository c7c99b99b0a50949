//! `movieapp top --once`: one snapshot of every registered instance, for scripts.

use std::{process::Command, time::Duration};

use crate::support::{BIN, Server, movieapp};

#[test]
fn a_snapshot_shows_each_instances_rates_and_unreachable_ones_fail_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start(dir.path());
    movieapp(&["--data-dir", &data, "movie", "put", "1", "--title", "T"]).ok();
    let movie = server.addr("movie").to_owned();
    // A known load: 100 calls/s for 5 s, open loop.
    let mut load = Command::new(BIN)
        .args(["bench-load", "--addr", &movie, "--http", "GET /movie?id=1"])
        .args(["--rate", "100", "--duration", "5s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let snapshot = movieapp(&[
        "--data-dir",
        &data,
        "top",
        "--once",
        "--interval",
        "2s",
        "-o",
        "json",
    ])
    .json();
    let _ = load.wait();
    let instances = snapshot["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4, "{snapshot}");
    let of = |service: &str| {
        instances
            .iter()
            .find(|i| i["service"] == service)
            .unwrap_or_else(|| panic!("{service} in {snapshot}"))
    };
    let movie_row = of("movie");
    assert_eq!(movie_row["state"], "serving");
    let rate = movie_row["callsPerSec"].as_f64().unwrap();
    assert!((70.0..=130.0).contains(&rate), "movie calls/s {rate}");
    assert_eq!(movie_row["errorPercent"], 0.0);
    let (p50, p99) = (
        movie_row["p50Ms"].as_f64().unwrap(),
        movie_row["p99Ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p99 >= p50, "{movie_row}");
    assert!(movie_row["uptimeSecs"].as_f64().unwrap() >= 0.0);
    // Each call reads the movie's metadata once (then the cache): metadata is counted
    // apart, and top's own scrapes are not counted anywhere.
    assert!(
        of("auth")["callsPerSec"].as_f64().unwrap() < 1.0,
        "{snapshot}"
    );

    // The table names the state in words.
    let table = movieapp(&["--data-dir", &data, "top", "--once", "--interval", "500ms"]).ok();
    assert!(
        table.contains("serving") && table.contains("calls/s"),
        "{table}"
    );

    // A killed process: its instances stay registered until their TTL, unreachable, and
    // the snapshot exits 1 naming them.
    server.kill();
    let run = movieapp(&[
        "--data-dir",
        &data,
        "top",
        "--once",
        "--interval",
        "200ms",
        "-o",
        "json",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("unreachable"), "{}", run.stderr);
    let snapshot: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        snapshot["instances"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "unreachable"),
        "{snapshot}"
    );
}
