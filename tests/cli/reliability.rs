//! Reliability (book chapter 11) on real processes: many processes starting at once on a
//! fresh data directory all start.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use crate::support::{BIN, signal, wait_with_timeout};

/// Starts `serve` on free ports in `data_dir`; true when it announced all three services.
fn starts(data_dir: &std::path::Path) -> Result<std::process::Child, String> {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--metadata-port",
            "0",
            "--rating-port",
            "0",
            "--movie-port",
            "0",
        ])
        .args(["--log-level", "error", "--data-dir"])
        .arg(data_dir)
        .env_remove("RUST_LOG")
        .env_remove("MOVIEAPP_REGISTRY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let announced = BufReader::new(stdout)
        .lines()
        .take(3)
        .filter(|l| l.as_ref().is_ok_and(|l| l.contains(" listening on ")))
        .count();
    if announced == 3 {
        return Ok(child);
    }
    let _ = child.kill();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Err(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn eight_processes_started_at_once_on_a_fresh_directory_all_start() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        let results: Vec<Result<std::process::Child, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        starts(dir.path())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        let mut failures = Vec::new();
        for result in results {
            match result {
                Ok(mut child) => {
                    signal(child.id(), "TERM");
                    if wait_with_timeout(&mut child, Duration::from_secs(20)).is_none() {
                        let _ = child.kill();
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        assert!(failures.is_empty(), "round {round}: {failures:?}");
    }
}
