//! Consul: `serve --registry consul://…` against a fake agent in the test that implements
//! the endpoints movieapp uses with Consul's real request and response JSON. Asserts the
//! exact requests: register with a TTL check of "5s", a check pass every second,
//! deregistration on shutdown, and that only passing instances are used.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    routing::{get, put},
};
use serde_json::{Value, json};

use crate::support::{Server, movieapp};

#[derive(Debug, Clone)]
struct Seen {
    method: &'static str,
    path: String,
    query: Option<String>,
    body: Value,
}

struct Registered {
    name: String,
    address: String,
    port: u16,
    ttl: Duration,
    last_pass: Option<Instant>,
    /// The service metadata registered with it.
    meta: Value,
}

#[derive(Default)]
struct Agent {
    seen: Vec<Seen>,
    services: BTreeMap<String, Registered>,
}

type Shared = Arc<Mutex<Agent>>;

fn record(agent: &Shared, method: &'static str, path: String, query: Option<String>, body: Value) {
    agent.lock().unwrap().seen.push(Seen {
        method,
        path,
        query,
        body,
    });
}

async fn register(State(agent): State<Shared>, Json(body): Json<Value>) -> StatusCode {
    record(
        &agent,
        "PUT",
        "/v1/agent/service/register".into(),
        None,
        body.clone(),
    );
    let ttl = body["Check"]["TTL"].as_str().unwrap_or_default();
    let ttl = Duration::from_secs(ttl.trim_end_matches('s').parse().unwrap_or(0));
    agent.lock().unwrap().services.insert(
        body["ID"].as_str().unwrap_or_default().to_owned(),
        Registered {
            name: body["Name"].as_str().unwrap_or_default().to_owned(),
            address: body["Address"].as_str().unwrap_or_default().to_owned(),
            port: body["Port"].as_u64().unwrap_or(0) as u16,
            ttl,
            last_pass: None,
            meta: body.get("Meta").cloned().unwrap_or_else(|| json!({})),
        },
    );
    StatusCode::OK
}

async fn pass(State(agent): State<Shared>, Path(id): Path<String>) -> (StatusCode, String) {
    record(
        &agent,
        "PUT",
        format!("/v1/agent/check/pass/{id}"),
        None,
        Value::Null,
    );
    match agent.lock().unwrap().services.get_mut(&id) {
        Some(service) => {
            service.last_pass = Some(Instant::now());
            (StatusCode::OK, String::new())
        }
        None => (StatusCode::NOT_FOUND, format!("Unknown check ID {id:?}")),
    }
}

async fn deregister(State(agent): State<Shared>, Path(id): Path<String>) -> StatusCode {
    record(
        &agent,
        "PUT",
        format!("/v1/agent/service/deregister/{id}"),
        None,
        Value::Null,
    );
    agent.lock().unwrap().services.remove(&id);
    StatusCode::OK
}

async fn health(
    State(agent): State<Shared>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Json<Value> {
    record(
        &agent,
        "GET",
        format!("/v1/health/service/{name}"),
        query.clone(),
        Value::Null,
    );
    let passing_only = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "passing"));
    let agent = agent.lock().unwrap();
    let entries: Vec<Value> = agent
        .services
        .iter()
        .filter(|(_, s)| s.name == name)
        .filter_map(|(id, s)| {
            let passing = s.last_pass.is_some_and(|at| at.elapsed() <= s.ttl);
            if passing_only && !passing {
                return None;
            }
            let status = if passing { "passing" } else { "critical" };
            Some(json!({
                "Node": {"ID": "1f9d6c4e", "Node": "fake-agent", "Address": "127.0.0.1",
                         "Datacenter": "dc1", "TaggedAddresses": {}, "Meta": {}},
                "Service": {"ID": id, "Service": s.name, "Tags": [], "Address": s.address,
                            "Meta": s.meta, "Port": s.port, "Weights": {"Passing": 1, "Warning": 1},
                            "EnableTagOverride": false},
                "Checks": [
                    {"Node": "fake-agent", "CheckID": "serfHealth", "Name": "Serf Health Status",
                     "Status": "passing", "ServiceID": "", "ServiceName": ""},
                    {"Node": "fake-agent", "CheckID": id, "Name": format!("Service '{}' check", s.name),
                     "Status": status, "ServiceID": id, "ServiceName": s.name, "Type": "ttl"}
                ]
            }))
        })
        .collect();
    Json(Value::Array(entries))
}

async fn catalog(State(agent): State<Shared>) -> Json<Value> {
    record(
        &agent,
        "GET",
        "/v1/catalog/services".into(),
        None,
        Value::Null,
    );
    let agent = agent.lock().unwrap();
    let mut names = serde_json::Map::new();
    names.insert("consul".into(), json!([]));
    for s in agent.services.values() {
        names.insert(s.name.clone(), json!([]));
    }
    Json(Value::Object(names))
}

/// The fake agent's HTTP API.
fn agent_api(agent: &Shared) -> Router {
    Router::new()
        .route("/v1/agent/service/register", put(register))
        .route("/v1/agent/check/pass/{id}", put(pass))
        .route("/v1/agent/service/deregister/{id}", put(deregister))
        .route("/v1/health/service/{name}", get(health))
        .route("/v1/catalog/services", get(catalog))
        .with_state(Arc::clone(agent))
}

fn seen(agent: &Shared) -> Vec<Seen> {
    agent.lock().unwrap().seen.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_speaks_consuls_agent_api() {
    let agent: Shared = Arc::default();
    let app = agent_api(&agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let consul = format!("consul://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A registered metadata instance that never passes its check, at a trap that counts
    // connections: discovery must never use it.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    let trapped = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&trapped);
    tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    agent.lock().unwrap().services.insert(
        "metadata-critical".into(),
        Registered {
            name: "metadata".into(),
            address: "127.0.0.1".into(),
            port: trap_port,
            ttl: Duration::from_secs(5),
            last_pass: None,
            meta: json!({}),
        },
    );

    let dir = tempfile::tempdir().unwrap();
    let (data_dir, registry) = (dir.path().to_owned(), consul.clone());
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with(&data_dir, &["--registry", &registry])
    })
    .await
    .unwrap();

    // Registration: one per service, Consul's JSON, a TTL check of "5s" named after the id.
    let registrations: Vec<Value> = seen(&agent)
        .into_iter()
        .filter(|s| s.path == "/v1/agent/service/register")
        .map(|s| s.body)
        .collect();
    assert_eq!(registrations.len(), 4, "{registrations:?}");
    let mut ids = Vec::new();
    for service in ["metadata", "rating", "movie", "auth"] {
        let body = registrations
            .iter()
            .find(|b| b["Name"] == service)
            .unwrap_or_else(|| panic!("{service} registered: {registrations:?}"));
        let id = body["ID"].as_str().unwrap().to_owned();
        let port: u16 = server
            .addr(service)
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(id.starts_with(&format!("{service}-")), "{id}");
        assert_eq!(
            *body,
            json!({"ID": id, "Name": service, "Address": "127.0.0.1", "Port": port,
                   "Check": {"CheckID": id, "TTL": "5s", "DeregisterCriticalServiceAfter": "1m"}})
        );
        ids.push(id);
    }

    // The system works through Consul, for the services and for the CLI.
    let registry = consul.clone();
    let details = tokio::task::spawn_blocking(move || {
        movieapp(&[
            "movie",
            "put",
            "1",
            "--title",
            "Via Consul",
            "--registry",
            &registry,
        ])
        .ok();
        movieapp(&[
            "rate",
            "put",
            "1",
            "5",
            "--user",
            "u",
            "--registry",
            &registry,
        ])
        .ok();
        movieapp(&["movie", "get", "1", "-o", "json", "--registry", &registry]).json()
    })
    .await
    .unwrap();
    assert_eq!(details["metadata"]["title"], "Via Consul");
    assert_eq!(details["rating"], 5.0);

    // Heartbeats: a check pass for every instance about every second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let requests = seen(&agent);
    for id in &ids {
        let passes = requests
            .iter()
            .filter(|s| s.method == "PUT" && s.path == format!("/v1/agent/check/pass/{id}"))
            .count();
        assert!((3..=6).contains(&passes), "{id}: {passes} passes in ~3 s");
    }
    // Discovery asked for passing instances only, and never dialled the critical one.
    let lookups: Vec<&Seen> = requests
        .iter()
        .filter(|s| s.path.starts_with("/v1/health/service/"))
        .collect();
    assert!(!lookups.is_empty());
    assert!(
        lookups
            .iter()
            .all(|s| s.query.as_deref() == Some("passing")),
        "{lookups:?}"
    );
    assert_eq!(
        trapped.load(Ordering::Relaxed),
        0,
        "the critical instance was dialled"
    );

    // `registry list` shows Consul's view, the critical instance as unhealthy.
    let registry = consul.clone();
    let listed = tokio::task::spawn_blocking(move || {
        movieapp(&["registry", "list", "-o", "json", "--registry", &registry]).json()
    })
    .await
    .unwrap();
    let instances = listed["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 5, "{listed}");
    let critical = instances
        .iter()
        .find(|i| i["instanceId"] == "metadata-critical")
        .unwrap();
    assert_eq!(critical["healthy"], false);
    assert_eq!(instances.iter().filter(|i| i["healthy"] == true).count(), 4);

    // Shutdown deregisters every instance.
    let code = tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert_eq!(code, Some(0));
    let deregistered: Vec<String> = seen(&agent)
        .into_iter()
        .filter_map(|s| {
            s.path
                .strip_prefix("/v1/agent/service/deregister/")
                .map(str::to_owned)
        })
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    let mut got = deregistered.clone();
    got.sort();
    assert_eq!(got, expected);
}

/// The fake agent behind TLS, with the certificate `movieapp certs init` made.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An `https` agent: the services verify it against `tls.ca` (there are no system roots),
/// and without it refuse to talk to it, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_agent_is_verified_against_the_configured_ca() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let certs = crate::tls::certs(dir.path());
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            crate::tls::pem_certs(&certs.join("server.crt")),
            crate::tls::pem_key(&certs.join("server.key")),
        )
        .unwrap();
    let agent: Shared = Arc::default();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("https://{}", tcp.local_addr().unwrap());
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    };
    let app = agent_api(&agent);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let data = dir.path().display().to_string();
    let mut args = vec![
        "--data-dir",
        &data,
        "--registry",
        "consul",
        "registry",
        "list",
    ];
    let listed = crate::support::movieapp_env(
        &args,
        &[("MOVIEAPP_SERVICE_DISCOVERY_CONSUL_ADDRESS", &address)],
    );
    assert_eq!(listed.code, Some(1), "{}", listed.stderr);
    assert!(listed.stderr.contains(&address), "{}", listed.stderr);
    let ca = certs.join("ca.crt").display().to_string();
    let env = [
        (
            "MOVIEAPP_SERVICE_DISCOVERY_CONSUL_ADDRESS",
            address.as_str(),
        ),
        ("MOVIEAPP_TLS_CA", ca.as_str()),
    ];
    let server = Server::start_with_env(
        dir.path(),
        &["--services", "metadata", "--registry", "consul"],
        &env,
    );
    let registered = seen(&agent)
        .into_iter()
        .any(|s| s.path == "/v1/agent/service/register");
    assert!(registered, "{:?}", seen(&agent));
    args.truncate(4);
    args.extend(["registry", "list"]);
    let listed = crate::support::movieapp_env(&args, &env).ok();
    assert!(listed.contains(server.addr("metadata")), "{listed}");
}

/// The configuration's `ownership` goes to Consul as service metadata, and comes back in
/// `registry show`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_is_registered_as_service_metadata() {
    let agent: Shared = Arc::default();
    let app = agent_api(&agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let consul = format!("consul://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("owned.yaml");
    std::fs::write(
        &config,
        "ownership:\n  accountable: movies-team\n  supportChannel: '#movies'\n  onCallRotation: movies-primary\n",
    )
    .unwrap();
    let (data_dir, registry) = (dir.path().to_owned(), consul.clone());
    let config_arg = config.to_str().unwrap().to_owned();
    let _server = tokio::task::spawn_blocking(move || {
        Server::start_with(
            &data_dir,
            &[
                "--registry",
                &registry,
                "--services",
                "metadata",
                "--config",
                &config_arg,
            ],
        )
    })
    .await
    .unwrap();
    let registration = seen(&agent)
        .into_iter()
        .find(|s| s.path == "/v1/agent/service/register")
        .unwrap()
        .body;
    assert_eq!(
        registration["Meta"],
        json!({"accountable": "movies-team", "support_channel": "#movies",
               "on_call_rotation": "movies-primary"})
    );
    let shown = tokio::task::spawn_blocking(move || {
        movieapp(&[
            "registry",
            "show",
            "metadata",
            "-o",
            "json",
            "--registry",
            &consul,
        ])
        .json()
    })
    .await
    .unwrap();
    assert_eq!(
        shown["instances"][0]["ownership"],
        json!({"accountable": "movies-team", "supportChannel": "#movies",
               "onCallRotation": "movies-primary"}),
        "{shown}"
    );
}
