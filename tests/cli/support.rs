//! Starting `movieapp serve` and running the clients against it.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

pub const BIN: &str = env!("CARGO_BIN_EXE_movieapp");

/// How long `serve` may take to announce its ports.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `movieapp serve`; stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Server {
    child: Option<Child>,
    pub addrs: HashMap<String, String>,
    /// Its stderr (logs).
    pub log: PathBuf,
    /// Lines of stdout after the announcements, e.g. nothing; kept for debugging.
    _stdout: mpsc::Receiver<String>,
}

impl Server {
    /// Starts every service on free ports with `data_dir`.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[])
    }

    /// Starts `serve` on free ports with extra arguments, and waits for its announcements.
    /// Logs go to a file of their own in `data_dir` (`--log-level warn` unless `extra` says).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(data_dir, extra, &[])
    }

    /// [`Server::start_with`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let log = data_dir.join(format!(
            "serve-{}.log",
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(data_dir).expect("create data dir");
        let log_file = std::fs::File::create(&log).expect("create log file");
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(free_ports(extra))
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("MOVIEAPP_REGISTRY")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // No drain pause: tests stop many servers. Tests of draining set their own.
            .env("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "0s")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(log_file);
        if !extra.contains(&"--log-level") {
            cmd.args(["--log-level", "warn"]);
        }
        let mut child = cmd.spawn().expect("spawn movieapp serve");
        let mut expected = if let Some(i) = extra.iter().position(|a| *a == "--services") {
            extra[i + 1].split(',').count()
        } else {
            movieapp::service::ServiceKind::ALL.len()
        };
        // A dashboard asked for announces itself last: `addrs["dashboard"]` is its URL.
        if let Some(i) = extra.iter().position(|a| *a == "--dashboard-port") {
            expected += usize::from(extra[i + 1] != "0");
        }
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        while addrs.len() < expected {
            let line = match rx.recv_timeout(START_TIMEOUT) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let logs = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!(
                        "serve did not announce its services ({e}); got {addrs:?}; logs:\n{logs}"
                    );
                }
            };
            let (service, addr) = line
                .split_once(" listening on ")
                .unwrap_or_else(|| panic!("unexpected serve output: {line:?}"));
            addrs.insert(service.to_owned(), addr.to_owned());
        }
        Self {
            child: Some(child),
            addrs,
            log,
            _stdout: rx,
        }
    }

    /// [`Server::start`] from async code: starts it on the blocking pool, so the caller's
    /// runtime keeps running meanwhile.
    pub async fn start_async(data_dir: &Path) -> Self {
        let data_dir = data_dir.to_owned();
        tokio::task::spawn_blocking(move || Self::start(&data_dir))
            .await
            .expect("start serve")
    }

    /// A connected gRPC channel to `service`.
    pub async fn channel(&self, service: &str) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr(service)))
            .expect("a valid address")
            .connect()
            .await
            .expect("connect")
    }

    /// What it has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn addr(&self, service: &str) -> &str {
        &self.addrs[service]
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn stop(self) -> Option<i32> {
        self.stop_with("TERM")
    }

    /// Kills it with SIGKILL: no shutdown, no deregistration.
    pub fn kill(self) {
        let _ = self.stop_with("KILL");
    }

    /// Sends `signal` (e.g. "INT") and returns the exit code.
    pub fn stop_with(mut self, name: &str) -> Option<i32> {
        let mut child = self.child.take().expect("running");
        signal(child.id(), name);
        wait_with_timeout(&mut child, Duration::from_secs(20))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "TERM");
            if wait_with_timeout(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait().expect("wait for serve") {
            Some(status) => return status.code(),
            None if std::time::Instant::now() > deadline => return None,
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Runs `serve` on free ports with `data_dir`, for tests of start-up failures: it exits by
/// itself (a serve that starts would block the test until its timeout).
pub fn serve_expecting_failure(data_dir: &str, extra: &[&str]) -> Run {
    let ports = free_ports(extra);
    let mut args = vec!["serve", "--data-dir", data_dir];
    args.extend(ports.iter().map(String::as_str));
    args.extend(extra);
    movieapp(&args)
}

/// `--<service>-port 0` for every service whose port `extra` does not set: `serve` on free
/// ports, so tests never collide with each other or with the book's ports.
/// Free ports for every service, and no dashboard (tests run many servers at once), unless
/// `extra` names them.
pub fn free_ports(extra: &[&str]) -> Vec<String> {
    movieapp::service::ServiceKind::ALL
        .iter()
        .map(|service| format!("--{service}-port"))
        .chain(["--dashboard-port".to_owned()])
        .filter(|flag| !extra.contains(&flag.as_str()))
        .flat_map(|flag| [flag, "0".to_owned()])
        .collect()
}

/// The result of one client command.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "command failed: {self:#?}");
        self.stdout
    }

    /// Parses stdout as JSON after asserting success.
    #[track_caller]
    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

/// Runs `movieapp` with `args` and an isolated environment.
pub fn movieapp(args: &[&str]) -> Run {
    movieapp_env(args, &[])
}

pub fn movieapp_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    movieapp_with(args, env, None)
}

/// Runs movieapp with `input` on its standard input (a pipe, not a terminal).
pub fn movieapp_stdin(args: &[&str], input: &str) -> Run {
    movieapp_with(args, &[], Some(input))
}

/// [`movieapp_stdin`] with extra environment variables.
pub fn movieapp_stdin_env(args: &[&str], input: &str, env: &[(&str, &str)]) -> Run {
    movieapp_with(args, env, Some(input))
}

fn movieapp_with(args: &[&str], env: &[(&str, &str)], input: Option<&str>) -> Run {
    use std::io::Write as _;
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("MOVIEAPP_REGISTRY")
        .env_remove("MOVIEAPP_DATA_DIR")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = match input {
        None => cmd.output().expect("run movieapp"),
        Some(input) => {
            let mut child = cmd
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run movieapp");
            let mut stdin = child.stdin.take().expect("stdin");
            // A command that exits before reading gives a broken pipe here: not our concern.
            let _ = stdin.write_all(input.as_bytes());
            drop(stdin);
            child.wait_with_output().expect("wait for movieapp")
        }
    };
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Replays rating events (JSON, in topic order within each partition) the way the rating
/// service must apply them, and checks that `rating.db` holds exactly the result: every
/// (record, user) at the value of its last put, or absent after a delete. Returns how many
/// events were replayed.
pub fn assert_ratings_match_replay<'a>(
    rating_db: &Path,
    events: impl IntoIterator<Item = &'a serde_json::Value>,
) -> usize {
    let mut expected: HashMap<(String, String), i64> = HashMap::new();
    let mut replayed = 0;
    for event in events {
        let key = (
            event["recordId"].as_str().expect("recordId").to_owned(),
            event["userId"].as_str().expect("userId").to_owned(),
        );
        if event["eventType"] == "put" {
            expected.insert(key, event["value"].as_i64().expect("value"));
        } else {
            expected.remove(&key);
        }
        replayed += 1;
    }
    let ratings = rusqlite::Connection::open(rating_db).expect("open rating.db");
    let mut stmt = ratings
        .prepare("SELECT record_id, user_id, value FROM ratings WHERE record_type = 'movie'")
        .expect("query rating.db");
    let actual: HashMap<(String, String), i64> = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .expect("read rating.db")
        .map(|row| row.expect("a rating row"))
        .collect();
    assert_eq!(actual.len(), expected.len(), "same (record, user) pairs");
    assert!(
        actual == expected,
        "every pair holds its last event's value"
    );
    replayed
}

/// A plain HTTP/1.1 GET to `addr` (host:port): the status code and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http_get_full(addr, path);
    (status, body)
}

/// A plain HTTP/1.1 PUT with no body to `addr`: the status code and the body.
pub fn http_put(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http_request(addr, "PUT", path, "");
    (status, body)
}

/// [`http_get`], with the response's header block too.
pub fn http_get_full(addr: &str, path: &str) -> (u16, String, String) {
    http_request(addr, "GET", path, "")
}

/// A plain HTTP/1.1 request without a body, with `headers` (`name: value\r\n` lines)
/// besides its own: the status code, the header block and the body.
pub fn http_request(addr: &str, method: &str, path: &str, headers: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    // A server that never answers fails the test instead of hanging it.
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("set a read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: movieapp\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_owned(), body.to_owned())
}

/// The value of the sample `series` (name and labels exactly as exposed) in a `/metrics`
/// text.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in /metrics:\n{text}"))
        .parse()
        .unwrap()
}

/// A tool or interpreter the tests use, named by the environment variable scripts/test.sh
/// sets (`GRPC_TEST_PYTHON`, `GRPCURL`, `PROMTOOL`, `HADOLINT`, `KUBECTL`, `CHROMIUM`,
/// `KUBERNETES_VALIDATE`, `MYSQL_TEST_URL`). Missing: a failure in CI, a skipped
/// test (with a line saying so) elsewhere.
pub fn test_tool(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{variable} is not set: CI must run the tests through scripts/test.sh")
        }
        _ => {
            eprintln!("skipped: {variable} is not set; run scripts/test.sh to include this test");
            None
        }
    }
}

/// Polls `check` every 50 ms for up to `within`; fails the test naming `what` if it never
/// holds.
#[track_caller]
pub fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !check() {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits up to `within` for a process to write its pid to `file`, and returns it.
#[track_caller]
pub fn pid_in(file: &Path, within: Duration) -> i32 {
    eventually(within, &format!("{} is written", file.display()), || {
        std::fs::read_to_string(file).is_ok_and(|t| t.trim().parse::<i32>().is_ok())
    });
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The pid of the movie processor holding the processor lock, from `lock status`
/// (holders are named `movie-PID@HOST`); `None` while nobody holds it.
pub fn processor_pid(data_dir: &str, config: &str) -> Option<u32> {
    let status = movieapp(&[
        "--data-dir",
        data_dir,
        "--config",
        config,
        "lock",
        "status",
        "-o",
        "json",
    ])
    .json();
    let holder = status.as_array()?.first()?["holder"].as_str()?.to_owned();
    holder
        .strip_prefix("movie-")?
        .split('@')
        .next()?
        .parse()
        .ok()
}

/// Uploads a file `name` holding `content` for `movie` through the movie service at `addr`.
pub fn upload(dir: &Path, addr: &str, movie: &str, name: &str, content: &str) {
    let file = dir.join(name);
    std::fs::write(&file, content).unwrap();
    movieapp(&[
        "movie",
        "upload",
        movie,
        file.to_str().unwrap(),
        "--addr",
        addr,
    ])
    .ok();
}

/// The fencing token `name` of `movie` was processed with, once processed.
pub fn processed_by(addr: &str, movie: &str, name: &str) -> Option<u64> {
    let files = movieapp(&["movie", "files", movie, "--addr", addr, "-o", "json"]).json();
    files
        .as_array()?
        .iter()
        .find(|f| f["filename"] == name && f["state"] == "processed")?["processedByToken"]
        .as_u64()
}

/// Connects to `addr` and sends `bytes` over and over, one byte every 100 ms, until the
/// server closes the connection (or 20 s pass); how long the connection lasted.
pub fn trickle(addr: &str, bytes: &[u8]) -> Duration {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let started = Instant::now();
    for &byte in bytes.iter().cycle() {
        if stream.write_all(&[byte]).is_err() || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}
