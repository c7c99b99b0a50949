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
    assert_eq!(
        movie_row["process"],
        format!("{}@{}", server.pid(), movieapp::telemetry::hostname())
    );
    assert_eq!(movie_row["version"], env!("CARGO_PKG_VERSION"));
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

/// The live view under a real terminal (tmux): it lists the instances of two processes that
/// share a registry, its calls/s move under load, a killed process's instances show as
/// unreachable within two intervals, and `q` exits 0 with the terminal restored.
#[test]
fn the_live_view_follows_the_instances_and_restores_the_terminal_on_q() {
    let Some(tmux) = crate::support::test_tool("TMUX_BIN") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let metadata = Server::start_with(dir.path(), &["--services", "metadata"]);
    let rest = Server::start_with(dir.path(), &["--services", "rating,movie"]);
    movieapp(&["--data-dir", &data, "movie", "put", "1", "--title", "T"]).ok();
    let socket = format!("movieapp-test-{}", std::process::id());
    let tmux_cmd = |args: &[&str]| {
        Command::new(&tmux)
            .args(["-L", &socket])
            .args(args)
            .output()
            .unwrap()
    };
    let script = format!(
        "NO_COLOR=1 MOVIEAPP_DATA_DIR='{data}' '{BIN}' top --interval 500ms; echo TOP-EXIT=$?; sleep 60"
    );
    let started = tmux_cmd(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "160",
        "-y",
        "40",
        &script,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen = || {
        String::from_utf8_lossy(&tmux_cmd(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    };
    let (metadata_addr, movie_addr) = (
        metadata.addr("metadata").to_owned(),
        rest.addr("movie").to_owned(),
    );
    crate::support::eventually(Duration::from_secs(15), "both processes' instances", || {
        let s = screen();
        s.contains(&metadata_addr) && s.contains(&movie_addr) && s.contains("serving")
    });

    // Under load, the movie row's calls/s moves.
    let mut load = Command::new(BIN)
        .args([
            "bench-load",
            "--addr",
            &movie_addr,
            "--http",
            "GET /movie?id=1",
        ])
        .args(["--rate", "200", "--duration", "4s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    crate::support::eventually(Duration::from_secs(4), "movie's calls/s above 50", || {
        screen()
            .lines()
            .filter(|l| l.contains(&movie_addr))
            .any(|l| {
                l.split(|c: char| c.is_whitespace() || c == '│' || c == '┆')
                    .filter_map(|w| w.parse::<f64>().ok())
                    .any(|v| v > 50.0)
            })
    });
    let _ = load.wait();

    // A killed process: its instance is unreachable within two intervals (and a margin).
    metadata.kill();
    crate::support::eventually(Duration::from_secs(3), "metadata unreachable", || {
        screen()
            .lines()
            .any(|l| l.contains(&metadata_addr) && l.contains("unreachable"))
    });

    // q: exit 0, and the shell's screen is back (the view's title is gone).
    tmux_cmd(&["send-keys", "-t", "top", "q"]);
    crate::support::eventually(Duration::from_secs(5), "top exits 0", || {
        screen().contains("TOP-EXIT=0")
    });
    let after = screen();
    assert!(
        !after.contains("movieapp top —"),
        "the alternate screen is left: {after}"
    );
    tmux_cmd(&["kill-server"]);
    drop(rest);
}

/// Calls under way show as in flight, and no longer once their caller gives up.
#[test]
fn calls_under_way_show_in_flight_until_their_caller_gives_up() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let config = dir.path().join("hang.yaml");
    std::fs::write(
        &config,
        "faults:\n  - service: metadata\n    endpoint: GetMetadata\n    hang: true\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let server = Server::start_with(dir.path(), &["--services", "metadata", "--config", &config]);
    let metadata = server.addr("metadata").to_owned();
    let in_flight = || {
        let run = movieapp(&[
            "--data-dir",
            &data,
            "top",
            "--once",
            "--interval",
            "300ms",
            "-o",
            "json",
        ]);
        let snapshot: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        snapshot["instances"][0]["inFlight"].as_f64()
    };
    assert_eq!(in_flight(), Some(0.0));
    // Two calls that hang until their 3 s deadline.
    let callers: Vec<_> = (0..2)
        .map(|_| {
            let metadata = metadata.clone();
            std::thread::spawn(move || {
                Command::new(BIN)
                    .args([
                        "bench-load",
                        "--addr",
                        &metadata,
                        "--call",
                        "MetadataService/GetMetadata",
                    ])
                    .args(["-d", r#"{"movie_id":"1"}"#, "-n", "1", "--timeout", "3s"])
                    .output()
                    .unwrap()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(in_flight(), Some(2.0));
    for caller in callers {
        caller.join().unwrap();
    }
    crate::support::eventually(Duration::from_secs(5), "no call in flight", || {
        in_flight() == Some(0.0)
    });
}
