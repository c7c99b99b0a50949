//! `movieapp lock`: holders never overlap, a paused holder loses its lease and its command,
//! a killed holder's key comes free after the lease and the lock-delay, and tokens grow.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{BIN, eventually, movieapp, pid_in, signal, wait_with_timeout};

/// A configuration with short leases: TTL 1s, lock-delay 1s.
fn short_leases(dir: &Path) -> String {
    let config = dir.join("locks.yaml");
    std::fs::write(&config, "lock:\n  ttl: 1s\n  lockDelay: 1s\n").unwrap();
    config.to_str().unwrap().to_owned()
}

/// `lock run KEY -- sh -c SCRIPT` in the background.
fn lock_run(dir: &Path, config: &str, key: &str, script: &str) -> Child {
    Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap(), "--config", config])
        .args(["lock", "run", key, "--", "sh", "-c", script])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn status(dir: &Path, config: &str) -> serde_json::Value {
    movieapp(&[
        "--data-dir",
        dir.to_str().unwrap(),
        "--config",
        config,
        "lock",
        "status",
        "-o",
        "json",
    ])
    .json()
}

/// Whether process `pid` has ended: gone, or a zombie waiting for a parent that is not
/// ours to reap it.
fn ended(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only asks whether the process exists.
    if unsafe { libc::kill(pid, 0) } == -1 {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
        .unwrap_or(true)
}

/// `lock run KEY` of a worker under a shell, as in `sh -c 'worker; echo done'`, once it
/// holds the lock: `lock run` and the worker's pid.
fn holder_with_worker(dir: &Path, config: &str, key: &str) -> (Child, i32) {
    let run = lock_run(dir, config, key, "sleep 30 & echo $! > first.pid; wait");
    (run, pid_in(&dir.join("first.pid"), Duration::from_secs(10)))
}

fn stderr_of(mut child: Child) -> (Option<i32>, String) {
    let code = wait_with_timeout(&mut child, Duration::from_secs(20));
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut text);
    }
    (code, text)
}

#[test]
fn holders_never_overlap_tokens_grow_and_the_exit_code_passes_through() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_leases(dir.path());
    // Each holder writes its token when it starts and when it ends, with a pause between.
    let script = "echo \"start $MOVIEAPP_LOCK_TOKEN\" >> log; sleep 0.2; echo \"end $MOVIEAPP_LOCK_TOKEN\" >> log";
    let runs: Vec<_> = (0..5)
        .map(|_| lock_run(dir.path(), &config, "jobs/serial", script))
        .collect();
    for run in runs {
        let (code, stderr) = stderr_of(run);
        assert_eq!(code, Some(0), "{stderr}");
    }
    let log = std::fs::read_to_string(dir.path().join("log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 10, "{log}");
    let mut last = 0;
    for pair in lines.chunks(2) {
        // Every start is followed by its own end: no two holders at once.
        let token: u64 = pair[0].strip_prefix("start ").unwrap().parse().unwrap();
        assert_eq!(pair[1], format!("end {token}"), "{log}");
        assert!(token > last, "{log}");
        last = token;
    }
    let shown = status(dir.path(), &config);
    assert_eq!(shown[0]["key"], "jobs/serial");
    assert_eq!(shown[0]["token"], 5);
    assert_eq!(shown[0]["holder"], serde_json::Value::Null);

    let (code, _) = stderr_of(lock_run(dir.path(), &config, "jobs/serial", "exit 7"));
    assert_eq!(code, Some(7));
}

#[test]
fn a_paused_holder_loses_its_lease_and_its_command_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_leases(dir.path());
    let (first, first_child) = holder_with_worker(dir.path(), &config, "jobs/paused");
    let second = lock_run(
        dir.path(),
        &config,
        "jobs/paused",
        "echo $MOVIEAPP_LOCK_TOKEN > second.token",
    );
    // Paused past its TTL: the key is free only once the lease and the lock-delay are over.
    signal(first.id(), "STOP");
    let paused = Instant::now();
    eventually(Duration::from_secs(10), "the second takes over", || {
        dir.path().join("second.token").exists()
    });
    assert!(
        paused.elapsed() >= Duration::from_millis(1500),
        "taken over after {:?}, before the lease (1s) and the lock-delay (1s) ran out",
        paused.elapsed()
    );
    let (code, stderr) = stderr_of(second);
    assert_eq!(code, Some(0), "{stderr}");
    let token: u64 = std::fs::read_to_string(dir.path().join("second.token"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(token, 2);

    // Resumed, the first learns that its lease is gone, kills its command and fails.
    signal(first.id(), "CONT");
    let (code, stderr) = stderr_of(first);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("was lost"), "{stderr}");
    eventually(
        Duration::from_secs(5),
        "the first's command is gone",
        || ended(first_child),
    );
}

/// SIGINT reaches the command as SIGINT, and its exit code comes back; a command that is
/// not found exits 127, as in a shell; what a command leaves running in its group is
/// killed before the lock is released.
#[test]
fn signals_pass_on_as_they_came_and_nothing_outlives_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_leases(dir.path());
    let run = lock_run(
        dir.path(),
        &config,
        "jobs/signals",
        "trap 'echo INT > got; exit 3' INT; trap 'echo TERM > got; exit 4' TERM; \
         echo $$ > shell.pid; while :; do sleep 0.1; done",
    );
    pid_in(&dir.path().join("shell.pid"), Duration::from_secs(10));
    signal(run.id(), "INT");
    let (code, stderr) = stderr_of(run);
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("got"))
            .unwrap()
            .trim(),
        "INT"
    );

    let missing = movieapp(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--config",
        &config,
        "lock",
        "run",
        "jobs/signals",
        "--",
        "no-such-command-here",
    ]);
    assert_eq!(missing.code, Some(127), "{}", missing.stderr);
    assert!(
        missing.stderr.contains("no-such-command-here"),
        "{}",
        missing.stderr
    );

    let left = lock_run(
        dir.path(),
        &config,
        "jobs/signals",
        "sleep 30 & echo $! > left.pid",
    );
    let (code, stderr) = stderr_of(left);
    assert_eq!(code, Some(0), "{stderr}");
    let orphan = pid_in(&dir.path().join("left.pid"), Duration::from_secs(10));
    eventually(Duration::from_secs(5), "the leftover is gone", || {
        ended(orphan)
    });
}

#[test]
fn a_killed_holders_key_comes_free_and_its_command_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = short_leases(dir.path());
    let (mut first, first_child) = holder_with_worker(dir.path(), &config, "jobs/killed");
    let killed = Instant::now();
    first.kill().unwrap();
    let _ = first.wait();
    eventually(
        Duration::from_secs(5),
        "the first's command is gone",
        || ended(first_child),
    );
    // Held by nobody live, yet blocked until the lease (renewed a third of a TTL ago at
    // most) and the lock-delay are over.
    let run = movieapp(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--config",
        &config,
        "lock",
        "run",
        "jobs/killed",
        "--timeout",
        "10s",
        "--",
        "true",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        killed.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        killed.elapsed()
    );

    // Bad input is a usage error, naming what was expected.
    let bad = movieapp(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "lock",
        "run",
        "a/../b",
        "--",
        "true",
    ]);
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("path segments"), "{}", bad.stderr);
}
