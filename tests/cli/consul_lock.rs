//! `movieapp lock` on Consul, against a fake agent with Consul's session and KV API and
//! JSON: sessions with a TTL and a lock-delay, `?acquire=` / `?release=`, `ModifyIndex` as
//! the fencing token.

use std::{
    collections::BTreeMap,
    path::Path as FsPath,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::put,
};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::support::{BIN, movieapp, signal, wait_with_timeout};

struct Session {
    ttl: Duration,
    lock_delay: Duration,
    renewed: Instant,
}

struct Entry {
    value: Vec<u8>,
    session: Option<String>,
    modify_index: u64,
    lock_index: u64,
    /// Consul's lock-delay: no acquire before this.
    delayed_until: Option<Instant>,
}

#[derive(Default)]
struct Agent {
    index: u64,
    next_session: u64,
    sessions: BTreeMap<String, Session>,
    kv: BTreeMap<String, Entry>,
    /// (session, key) acquisitions, in order, for the test to read.
    acquired: Vec<(String, u64)>,
}

impl Agent {
    /// Invalidates the sessions past their TTL, as Consul does: their locks are released
    /// and the keys held back for the session's lock-delay.
    fn expire(&mut self) {
        let now = Instant::now();
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| now > s.renewed + s.ttl)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let session = self.sessions.remove(&id).unwrap();
            for entry in self.kv.values_mut() {
                if entry.session.as_deref() == Some(&id) {
                    entry.session = None;
                    entry.delayed_until = Some(now + session.lock_delay);
                    self.index += 1;
                    entry.modify_index = self.index;
                }
            }
        }
    }

    fn json(&self, key: &str, e: &Entry) -> Value {
        let mut v = json!({
            "Key": key,
            "CreateIndex": 1,
            "ModifyIndex": e.modify_index,
            "LockIndex": e.lock_index,
            "Flags": 0,
            "Value": base64::engine::general_purpose::STANDARD.encode(&e.value),
        });
        if let Some(s) = &e.session {
            v["Session"] = json!(s);
        }
        v
    }
}

type Shared = Arc<Mutex<Agent>>;

fn parse_duration(text: &str) -> Duration {
    if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().unwrap())
    } else {
        Duration::from_secs(text.strip_suffix('s').unwrap().parse().unwrap())
    }
}

async fn create(State(agent): State<Shared>, Json(body): Json<Value>) -> Json<Value> {
    let mut agent = agent.lock().unwrap();
    assert_eq!(body["Behavior"], "release", "{body}");
    agent.next_session += 1;
    let id = format!("00000000-0000-0000-0000-{:012}", agent.next_session);
    let session = Session {
        ttl: parse_duration(body["TTL"].as_str().unwrap()),
        lock_delay: parse_duration(body["LockDelay"].as_str().unwrap()),
        renewed: Instant::now(),
    };
    assert!(
        session.ttl >= Duration::from_secs(10),
        "Consul's shortest TTL is 10s: {body}"
    );
    agent.sessions.insert(id.clone(), session);
    Json(json!({ "ID": id }))
}

async fn renew(State(agent): State<Shared>, Path(id): Path<String>) -> Response {
    let mut agent = agent.lock().unwrap();
    agent.expire();
    match agent.sessions.get_mut(&id) {
        Some(session) => {
            session.renewed = Instant::now();
            Json(json!([{ "ID": id, "TTL": format!("{}s", session.ttl.as_secs()) }]))
                .into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            format!("Session id '{id}' not found"),
        )
            .into_response(),
    }
}

async fn destroy(State(agent): State<Shared>, Path(id): Path<String>) -> Json<bool> {
    let mut agent = agent.lock().unwrap();
    if let Some(session) = agent.sessions.remove(&id) {
        let now = Instant::now();
        for entry in agent.kv.values_mut() {
            if entry.session.as_deref() == Some(&id) {
                entry.session = None;
                entry.delayed_until = Some(now + session.lock_delay);
            }
        }
    }
    Json(true)
}

async fn kv_put(
    State(agent): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    body: Bytes,
) -> Response {
    let mut agent = agent.lock().unwrap();
    agent.expire();
    if let Some(session) = query.get("acquire") {
        if !agent.sessions.contains_key(session) {
            return (StatusCode::INTERNAL_SERVER_ERROR, "invalid session").into_response();
        }
        let now = Instant::now();
        let free = agent.kv.get(&key).is_none_or(|e| {
            e.session.is_none() && e.delayed_until.is_none_or(|until| now >= until)
        });
        if !free {
            return Json(false).into_response();
        }
        agent.index += 1;
        let index = agent.index;
        let entry = agent.kv.entry(key.clone()).or_insert(Entry {
            value: Vec::new(),
            session: None,
            modify_index: 0,
            lock_index: 0,
            delayed_until: None,
        });
        entry.value = body.to_vec();
        entry.session = Some(session.clone());
        entry.modify_index = index;
        entry.lock_index += 1;
        entry.delayed_until = None;
        agent.acquired.push((session.clone(), index));
        return Json(true).into_response();
    }
    if let Some(session) = query.get("release") {
        agent.index += 1;
        let index = agent.index;
        let released = match agent.kv.get_mut(&key) {
            Some(e) if e.session.as_deref() == Some(session) => {
                e.session = None;
                e.modify_index = index;
                true
            }
            _ => false,
        };
        return Json(released).into_response();
    }
    (
        StatusCode::BAD_REQUEST,
        "only ?acquire and ?release are faked",
    )
        .into_response()
}

async fn kv_get(
    State(agent): State<Shared>,
    Path(key): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut agent = agent.lock().unwrap();
    agent.expire();
    let entries: Vec<Value> = if query.contains_key("recurse") {
        agent
            .kv
            .iter()
            .filter(|(k, _)| k.starts_with(&key))
            .map(|(k, e)| agent.json(k, e))
            .collect()
    } else {
        agent
            .kv
            .get(&key)
            .map(|e| agent.json(&key, e))
            .into_iter()
            .collect()
    };
    if entries.is_empty() {
        StatusCode::NOT_FOUND.into_response()
    } else {
        Json(Value::Array(entries)).into_response()
    }
}

fn agent_api(agent: &Shared) -> Router {
    Router::new()
        .route("/v1/session/create", put(create))
        .route("/v1/session/renew/{id}", put(renew))
        .route("/v1/session/destroy/{id}", put(destroy))
        .route("/v1/kv/{*key}", put(kv_put).get(kv_get))
        .with_state(Arc::clone(agent))
}

fn lock_run(dir: &FsPath, key: &str, script: &str) -> Child {
    Command::new(BIN)
        .args(["--data-dir", dir.to_str().unwrap(), "--config"])
        .arg(dir.join("consul.yaml"))
        .args(["lock", "run", key, "--", "sh", "-c", script])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child) -> (Option<i32>, String) {
    let code = wait_with_timeout(&mut child, Duration::from_secs(30));
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        use std::io::Read;
        let _ = err.read_to_string(&mut text);
    }
    (code, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_on_consul_exclude_fence_and_survive_a_paused_holder() {
    let agent: Shared = Arc::default();
    let app = agent_api(&agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("consul.yaml"),
        format!("lock:\n  backend: consul://{address}\n  ttl: 10s\n  lockDelay: 1s\n"),
    )
    .unwrap();
    let path = dir.path().to_owned();

    let result = tokio::task::spawn_blocking(move || {
        // Two holders at once take turns; each gets a larger token.
        let script = "echo \"start $MOVIEAPP_LOCK_TOKEN\" >> log; sleep 0.3; echo \"end $MOVIEAPP_LOCK_TOKEN\" >> log";
        let runs = [lock_run(&path, "locks/service/movie/processor", script), lock_run(&path, "locks/service/movie/processor", script)];
        for run in runs {
            let (code, stderr) = finish(run);
            assert_eq!(code, Some(0), "{stderr}");
        }
        let log = std::fs::read_to_string(path.join("log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 4, "{log}");
        let first: u64 = lines[0].strip_prefix("start ").unwrap().parse().unwrap();
        let second: u64 = lines[2].strip_prefix("start ").unwrap().parse().unwrap();
        assert_eq!(lines[1], format!("end {first}"), "{log}");
        assert_eq!(lines[3], format!("end {second}"), "{log}");
        assert!(second > first, "{log}");
        let status = movieapp(&["--data-dir", path.to_str().unwrap(), "--config", path.join("consul.yaml").to_str().unwrap(), "lock", "status", "-o", "json"]).json();
        assert_eq!(status[0]["key"], "locks/service/movie/processor", "{status}");
        assert_eq!(status[0]["holder"], Value::Null, "released: {status}");

        // Paused past its session's TTL: Consul invalidates the session, and the other
        // takes the key after the lock-delay; resumed, the first stops.
        let paused = lock_run(&path, "jobs/paused", "echo $$ > first.pid; exec sleep 60");
        let started = Instant::now();
        while !path.join("first.pid").exists() {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
        }
        signal(paused.id(), "STOP");
        let stopped = Instant::now();
        let waiting = lock_run(&path, "jobs/paused", "echo $MOVIEAPP_LOCK_TOKEN > second.token");
        let (code, stderr) = finish(waiting);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stopped.elapsed() >= Duration::from_secs(7), "{:?}", stopped.elapsed());
        signal(paused.id(), "CONT");
        let (code, stderr) = finish(paused);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("was lost"), "{stderr}");
    })
    .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
    // Every acquisition was a new, larger index.
    let acquired = agent.lock().unwrap().acquired.clone();
    assert_eq!(acquired.len(), 4, "{:?}", acquired.len());
    assert!(acquired.windows(2).all(|w| w[1].1 > w[0].1));
}

/// Two movie processors compete for the processor lock on Consul: the holder processes
/// files with its token; paused past its session's TTL, it is replaced; resumed, it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movie_processors_take_turns_on_consul() {
    let agent: Shared = Arc::default();
    let app = agent_api(&agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("consul.yaml");
    std::fs::write(
        &config,
        format!("lock:\n  backend: consul://{address}\n  ttl: 10s\n  lockDelay: 1s\n"),
    )
    .unwrap();
    let path = dir.path().to_owned();
    let result = tokio::task::spawn_blocking(move || {
        let start = || {
            crate::support::Server::start_with(
                &path,
                &[
                    "--services",
                    "movie",
                    "--config",
                    config.to_str().unwrap(),
                    "--log-level",
                    "movieapp::uploads=info,warn",
                ],
            )
        };
        let (first, second) = (start(), start());
        let (data_dir, config_arg) = (path.to_str().unwrap(), config.to_str().unwrap());
        let holder = || crate::support::processor_pid(data_dir, config_arg);
        crate::support::eventually(
            Duration::from_secs(10),
            "a processor holds the lock",
            || holder().is_some(),
        );
        let (held, standby) = if holder() == Some(first.pid()) {
            (first, second)
        } else {
            (second, first)
        };
        let token_of = |server: &crate::support::Server, name: &str| {
            crate::support::processed_by(server.addr("movie"), "9", name)
        };
        let upload = |server: &crate::support::Server, name: &str| {
            crate::support::upload(&path, server.addr("movie"), "9", name, name);
        };
        upload(&standby, "a.txt");
        crate::support::eventually(
            Duration::from_secs(10),
            "the holder processes a.txt",
            || token_of(&standby, "a.txt").is_some(),
        );
        let first_token = token_of(&standby, "a.txt").unwrap();

        signal(held.pid(), "STOP");
        let stopped = Instant::now();
        upload(&standby, "b.txt");
        crate::support::eventually(
            Duration::from_secs(30),
            "the standby processes b.txt",
            || token_of(&standby, "b.txt").is_some(),
        );
        assert!(
            stopped.elapsed() >= Duration::from_secs(7),
            "{:?}",
            stopped.elapsed()
        );
        assert!(token_of(&standby, "b.txt").unwrap() > first_token);
        signal(held.pid(), "CONT");
        crate::support::eventually(Duration::from_secs(10), "the old holder stops", || {
            let logs = held.logs();
            logs.contains("the lease is lost") || logs.contains("refused by fencing")
        });
    })
    .await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
