//! `serve`: runs the chosen services in one process, each on its own port, over SQLite.
//!
//! Start-up opens the databases and binds every port before anything is announced, so a
//! port in use or an unusable data directory is reported at once. Each service builds its
//! own parts (`server/<service>/mod.rs`); this adds what every port has (health, reflection,
//! probes, the endpoint layer), registers the instance and serves it. Shutdown takes a
//! future (as mini-redis does), so tests and the CLI each bring their own: on it, instances
//! leave the registry, servers stop accepting and finish in-flight calls, databases close.

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::{
    net::TcpListener,
    task::{JoinHandle, JoinSet},
};
use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};
use tracing::Instrument;

use super::{
    admission::Admission,
    auth,
    endpoint::{Endpoints, ObserveLayer},
    grpc,
    health::Readiness,
    http, metadata,
    movie::{self, InProcessServices},
    parts::{Parts, Shared},
    port, rating,
    table::Table,
    workers::Workers,
};
use crate::{
    auth::{
        access::{Gate, Keys, RemoteKeys},
        keyring::{KeySource, Keyring},
        settings::{Mode, SIGNING_KEY_ENV},
        users::UserStore,
    },
    broker::BrokerError,
    config::{Config, ConfigError},
    database::mysql::{Mysql, MysqlError},
    database::sqlite::SqliteError,
    discovery::{Registry, RegistryError, balancer::Colocated, instance::Registration},
    lock::Locks,
    service::{ServiceKind, dial_addr},
    telemetry,
    uploads::FileStore,
};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot use data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} for the {service} service: {source}{hint}")]
    Bind {
        service: ServiceKind,
        addr: String,
        hint: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] SqliteError),
    #[error(transparent)]
    Database(#[from] MysqlError),
    #[error("cannot open the movie files in the data directory: {0}")]
    Uploads(#[from] crate::uploads::UploadError),
    #[error("cannot open the lock store: {0}")]
    Lock(#[from] crate::lock::LockError),
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error(transparent)]
    Registry(RegistryError),
    #[error(transparent)]
    Broker(BrokerError),
    #[error("cannot register the {service} service: {source}")]
    Register {
        service: ServiceKind,
        #[source]
        source: RegistryError,
    },
    #[error("cannot set up admission control for the {service} service: {reason}")]
    Admission {
        service: ServiceKind,
        reason: String,
    },
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The auth service's signing key cannot be read or made (the source says why, never
    /// what is in it).
    #[error("the auth service's signing key: {source}")]
    SigningKey {
        #[source]
        source: Box<crate::auth::keys::KeyError>,
    },
    #[error("cannot start the connection workers' threads: {0}")]
    Workers(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the {service} service failed: {source}")]
    Server {
        service: ServiceKind,
        #[source]
        source: tonic::transport::Error,
    },
}

impl ServeError {
    /// True for problems with the environment found at start-up (port in use, unusable data
    /// directory or database): the operator's to fix, reported with exit code 2.
    pub fn is_startup(&self) -> bool {
        matches!(
            self,
            Self::DataDir { .. }
                | Self::Config(_)
                | Self::Bind { .. }
                | Self::Storage(_)
                | Self::Uploads(_)
                | Self::Lock(_)
                | Self::Registry(RegistryError::Open { .. })
                | Self::Broker(BrokerError::Open { .. })
                | Self::SigningKey { .. }
                | Self::Tls(_)
        ) || matches!(self, Self::Database(e) if e.is_config())
    }
}

/// The order services stop in: callers before the services they call.
const SHUTDOWN_ORDER: [&[ServiceKind]; 3] = [
    &[ServiceKind::Movie],
    &[ServiceKind::Metadata, ServiceKind::Rating],
    &[ServiceKind::Auth],
];

/// A service that is up, and the address it bound.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub service: ServiceKind,
    pub addr: SocketAddr,
}

/// Runs `services` as `config` says until `shutdown` completes. `on_ready` is called once
/// every port is bound and every instance registered.
pub async fn run(
    config: &Config,
    services: &[ServiceKind],
    toggles: &Arc<crate::config::features::Toggles>,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&[Started], Option<SocketAddr>),
) -> Result<(), ServeError> {
    super::metrics::install();
    toggles.report();
    warn_of_faults(&config.faults);
    let mut services = services.to_vec();
    services.sort();
    services.dedup();
    check_faults(&config.faults).map_err(ConfigError::Invalid)?;
    let data_dir = config.resolved_data_dir()?;
    let build = crate::telemetry::build_info::BUILD;
    tracing::info!(data_dir = %data_dir.display(), version = build.version, commit = build.commit, "starting");

    let client_tls = config.tls.client()?;
    let stores = open_stores(config, &data_dir, &services, client_tls.as_ref()).await?;
    let server_tls = crate::tls::server::ServerTls::open(&config.tls)?;
    let workers = Workers::start(config.connections.workers).map_err(ServeError::Workers)?;
    tracing::info!(workers = workers.handles().len(), "connection workers");
    // Background work of the process as a whole, stopped last.
    let process_stop = CancellationToken::new();
    if let Some(tls) = &server_tls {
        tokio::spawn(Arc::clone(tls).watch(process_stop.clone()));
    }
    let mut listeners = Vec::new();
    for &service in &services {
        listeners.push((
            service,
            bind(&config.listen_host, service, config.port(service)).await?,
        ));
    }

    let registry: Arc<dyn Registry> = config
        .registry_settings()?
        .open()
        .await
        .map_err(ServeError::Registry)?;
    tracing::info!(registry = %registry.describe(), "service registry");
    let gate = gate(config, &stores, &registry, client_tls.as_ref())?;
    let broker = broker(config, &services).await?;
    if services.contains(&ServiceKind::Rating)
        && config.features.rating_change_events
        && matches!(config.database.url, crate::database::DatabaseUrl::Mysql(_))
        && config.broker.backend == crate::broker::BrokerKind::Sqlite
    {
        tracing::warn!(
            "rating changes on MySQL with the embedded broker: only the processes sharing this data directory hear each other's changes; hosts sharing the database need a shared broker (broker.backend: kafka://…) and a shared lock (lock.backend: consul)"
        );
    }
    let traces = traces(config, &data_dir).await;
    let flusher = traces.as_ref().map(|store| {
        tokio::spawn(crate::dashboard::store::run(
            Arc::clone(store),
            process_stop.clone(),
        ))
    });
    let shared = Shared {
        traces: traces.as_ref(),
        tls: client_tls.as_ref(),
        registry: &registry,
        broker: broker.as_ref(),
        calls: &config.calls,
        fallback: &config.fallback,
        toggles,
        events: &config.events,
    };
    let mut servers = JoinSet::new();
    let mut running = Vec::new();
    let mut colocated = InProcessServices::default();
    for ((service, listener), prepared) in listeners.into_iter().zip(stores) {
        let (one, server) = start(
            config,
            service,
            listener,
            prepared,
            &shared,
            &mut colocated,
            &gate,
            (&workers, server_tls.clone()),
        )
        .await?;
        servers.spawn(server);
        running.push(one);
    }
    let started: Vec<Started> = running.iter().map(|r| r.started).collect();
    let dashboard = dashboard(
        config,
        &data_dir,
        &registry,
        gate.clone(),
        client_tls.as_ref(),
    )
    .await;
    on_ready(&started, dashboard.as_ref().map(|(addr, _)| *addr));

    // Run until asked to stop, or until a server fails.
    let mut failure = None;
    tokio::select! {
        () = shutdown => tracing::info!("shutting down"),
        Some(joined) = servers.join_next() => failure = server_failure(joined),
    }
    if let Some((_, served)) = dashboard {
        served.abort();
    }
    let drained = drain(config, running, &mut servers, &mut failure).await;
    if !drained {
        tracing::warn!(timeout = ?config.shutdown.drain_timeout.get(), "in-flight calls did not finish in time; stopping anyway");
        servers.abort_all();
    }
    process_stop.cancel();
    // The last spans are written before the process ends.
    if let Some(flusher) = flusher {
        let _ = flusher.await;
    }
    workers.stop().await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The trace store in `data_dir`, recording started, unless `traces.keep` is off. A store
/// that cannot be opened is logged and done without: the services do not need it.
async fn traces(
    config: &Config,
    data_dir: &std::path::Path,
) -> Option<Arc<crate::dashboard::store::Store>> {
    let settings = config.traces.clone();
    if settings.keep == crate::telemetry::spans::Keep::Off {
        return None;
    }
    let process = crate::telemetry::process();
    let dir = data_dir.to_owned();
    let policy = settings.policy();
    let opened = tokio::task::spawn_blocking(move || {
        crate::dashboard::store::Store::open(&dir, settings, process)
    })
    .await;
    match opened {
        Ok(Ok(store)) => {
            crate::telemetry::spans::install(policy);
            Some(Arc::new(store))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "spans are not kept: the trace store cannot be opened");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "spans are not kept: opening the trace store failed");
            None
        }
    }
}

/// The web dashboard on `dashboard.port` (0: none), serving until aborted: on loopback
/// while auth is off, else on `listenHost`. A port in use is warned of and done without,
/// as a second `serve` on this machine finds the first one's.
async fn dashboard(
    config: &Config,
    data_dir: &std::path::Path,
    registry: &Arc<dyn Registry>,
    gate: Option<Arc<Gate>>,
    tls: Option<&crate::tls::ClientTls>,
) -> Option<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let port = config.dashboard.port;
    if port == 0 {
        return None;
    }
    let host = if gate.is_some() {
        config.listen_host.as_str()
    } else {
        "127.0.0.1"
    };
    let addr = format!("{host}:{port}");
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(%addr, error = %e, "the dashboard is not served here (--dashboard-port picks another port, 0 turns it off)");
            return None;
        }
    };
    let bound = listener.local_addr().ok()?;
    // A hung instance holds up one refresh for this long, not the dashboard.
    let client = reqwest::Client::builder().timeout(crate::dashboard::web::CALL_TIMEOUT);
    let client = match tls.map(crate::tls::ClientTls::rustls).transpose() {
        Ok(Some(rustls)) => client.use_preconfigured_tls(rustls).build(),
        Ok(None) => client.build(),
        Err(e) => {
            tracing::warn!(error = %e, "the dashboard is not served: no TLS client");
            return None;
        }
    };
    let client = match client {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!(error = %e, "the dashboard is not served: no HTTP client");
            return None;
        }
    };
    let locks = match tls.map(crate::tls::ClientTls::rustls).transpose() {
        Ok(rustls) => {
            let consul = config
                .registry_settings()
                .map(|r| r.consul_address)
                .unwrap_or_default();
            match config.lock.open(data_dir, &consul, rustls).await {
                Ok(locks) => Some(Arc::clone(locks.backend())),
                Err(e) => {
                    tracing::warn!(error = %e, "the dashboard shows no locks: the lock store cannot be opened");
                    None
                }
            }
        }
        Err(_) => None,
    };
    let scheme = crate::tls::scheme(tls);
    let app = Arc::new(crate::dashboard::web::Dashboard::new(
        Arc::clone(registry),
        client,
        scheme,
        locks,
        gate,
    ))
    .router();
    tracing::info!(addr = %bound, "dashboard");
    let served = tokio::spawn(tracing::Instrument::instrument(
        async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the dashboard stopped");
            }
        },
        crate::telemetry::context(crate::telemetry::PROCESS, "dashboard"),
    ));
    Some((bound, served))
}

/// Says loudly which endpoints misbehave on purpose.
fn warn_of_faults(faults: &[crate::calls::faults::Fault]) {
    for fault in faults {
        tracing::warn!(
            service = %fault.service,
            endpoint = %fault.endpoint,
            fault = %fault,
            "FAULT INJECTION IS ON: this endpoint will misbehave on purpose (faults in the configuration)"
        );
    }
}

/// The rating feed's broker, when the rating service runs here.
async fn broker(
    config: &Config,
    services: &[ServiceKind],
) -> Result<Option<Arc<dyn crate::broker::Broker>>, ServeError> {
    // The rating feed, and the change events of ratings and metadata.
    if !services.contains(&ServiceKind::Rating) && !services.contains(&ServiceKind::Metadata) {
        return Ok(None);
    }
    let broker = config.broker_settings()?.open().await;
    broker.map(Some).map_err(ServeError::Broker)
}

/// A service that runs: what stopping it needs.
struct Running {
    started: Started,
    registration: Registration,
    reporter: HealthReporter,
    /// Set when it starts draining: it reports not ready from then on.
    draining: CancellationToken,
    /// Stops its server and background work.
    stop: CancellationToken,
    /// Whether it serves, for its callers in this process.
    serving: Arc<AtomicBool>,
    /// Its background work.
    tasks: Vec<JoinHandle<()>>,
}

/// A server as it ends: its service, and its error if it failed.
type Server = std::pin::Pin<
    Box<dyn Future<Output = (ServiceKind, Result<(), tonic::transport::Error>)> + Send>,
>;

/// Starts `service` on `listener`: registers the instance, builds the service and its port
/// and returns it running, with the server to spawn. Metadata and rating become
/// `colocated` for the movie service started after them.
#[allow(clippy::too_many_arguments)]
async fn start(
    config: &Config,
    service: ServiceKind,
    listener: TcpListener,
    prepared: Prepared,
    shared: &Shared<'_>,
    colocated: &mut InProcessServices,
    gate: &Option<Arc<Gate>>,
    (workers, tls): (&Workers, Option<Arc<crate::tls::server::ServerTls>>),
) -> Result<(Running, Server), ServeError> {
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        service,
        addr: format!("{}:{}", config.listen_host, config.port(service)),
        hint: String::new(),
        source,
    })?;
    // What discovery hands out for this instance, and what this process's own callers
    // recognise as in process.
    let registered = match &config.advertise_host {
        Some(host) => host.with_port(addr.port()),
        None => dial_addr(addr).to_string(),
    };
    let registration = Registration::start(
        Arc::clone(shared.registry),
        service.name(),
        &registered,
        config.service_discovery.heartbeat_interval.get(),
    )
    .instrument(telemetry::context(service.name(), "registry"))
    .await
    .map_err(|source| ServeError::Register { service, source })?;
    let stop = CancellationToken::new();
    let draining = CancellationToken::new();
    let drain = draining.clone();
    let readiness = Readiness::default()
        .probe(move || drain.is_cancelled().then(|| "shutting down".to_owned()))
        .flag(
            Arc::clone(&registration.healthy),
            "the registry heartbeat is failing",
        );
    let (parts, local) = build(prepared, readiness, shared, colocated, &stop);
    let serving = Arc::new(AtomicBool::new(false));
    let debug = http::Debug {
        profiling: config.debug.profiling,
        loopback_only: config.auth.mode == Mode::Off,
        auth: config.auth.mode,
        traces: shared.traces.cloned(),
    };
    let table = table(service);
    let (routes, endpoints, reporter, tasks) =
        serve_port(table, parts, shared, &config.faults, debug, &serving, &stop).await?;
    // The movie service (started after these) calls them in process while they serve.
    let route = Colocated {
        addr: registered,
        serving: Arc::clone(&serving),
    };
    let local_endpoint = endpoints.in_process();
    match (local, local_endpoint) {
        (Some(Local::Metadata(controller)), Some(endpoint)) => {
            colocated.metadata = Some((in_process(controller, endpoint, gate), route));
        }
        (Some(Local::Rating(controller)), Some(endpoint)) => {
            colocated.rating = Some((in_process(controller, endpoint, gate), route));
        }
        _ => {}
    }
    let admission = Admission::new(&config.service(service))
        .map_err(|e| ServeError::Admission { service, reason: e })?;
    let observe = ObserveLayer::new(
        endpoints,
        config.calls.timeout.get(),
        admission,
        gate.clone(),
    )
    .with_max_header_bytes(config.connections.max_header_list_bytes as usize);
    let context = telemetry::context(service.name(), "server");
    context.in_scope(|| tracing::info!(%addr, instance = %registration.instance_id, "serving"));
    let listening = (listener, routes, observe);
    let server = server(
        config,
        service,
        listening,
        workers,
        tls,
        stop.clone(),
        context,
    );
    super::metrics::service_started(service.name());
    let running = Running {
        started: Started { service, addr },
        registration,
        reporter,
        draining,
        stop,
        serving,
        tasks,
    };
    Ok((running, server))
}

/// The server of `service`'s port, to spawn: it serves until `stop`.
fn server(
    config: &Config,
    service: ServiceKind,
    (listener, routes, observe): (TcpListener, port::Port, ObserveLayer),
    workers: &Workers,
    tls: Option<Arc<crate::tls::server::ServerTls>>,
    stop: CancellationToken,
    context: tracing::Span,
) -> Server {
    let (limits, handles) = (config.connections.clone(), workers.handles().to_vec());
    Box::pin(
        async move {
            let served = port::serve(
                service.name(),
                listener,
                routes,
                observe,
                limits,
                tls,
                handles,
                stop,
            );
            (service, served.await)
        }
        .instrument(context),
    )
}

/// Stops the services (docs/design.md §1), callers before the services they call (movie
/// first, while metadata and rating still answer it): each reports not ready and leaves
/// the registry, keeps serving for the drain delay so callers' cached address lists move
/// on, then stops accepting and finishes its calls; then their background work ends (the
/// ingester finishes, or abandons uncommitted, its batch). False when the drain timeout
/// ran out first.
async fn drain(
    config: &Config,
    mut running: Vec<Running>,
    servers: &mut JoinSet<(ServiceKind, Result<(), tonic::transport::Error>)>,
    failure: &mut Option<ServeError>,
) -> bool {
    let deadline = tokio::time::Instant::now() + config.shutdown.drain_timeout.get();
    let delay = config.shutdown.drain_delay.get();
    let mut background = Vec::new();
    for tier in SHUTDOWN_ORDER {
        let (leaving, staying): (Vec<Running>, Vec<Running>) = running
            .into_iter()
            .partition(|r| tier.contains(&r.started.service));
        running = staying;
        if leaving.is_empty() {
            continue;
        }
        for one in &leaving {
            one.draining.cancel();
            let service = one.started.service;
            super::metrics::service_stopping(service.name());
            one.serving.store(false, Ordering::Relaxed);
            // Probes see the instance leave before its port closes.
            set_status(
                &one.reporter,
                service.grpc_name(),
                ServingStatus::NotServing,
            )
            .await;
        }
        let mut waiting = Vec::new();
        for one in leaving {
            let service = one.started.service;
            if let Err(e) = one.registration.deregister().await {
                tracing::warn!(error = %e, %service, "deregister failed");
            }
            waiting.push((service, one.stop));
            background.extend(one.tasks);
        }
        if failure.is_none() && !delay.is_zero() {
            tracing::info!(services = ?tier, ?delay, "draining: not ready and deregistered; still serving");
            tokio::time::sleep(delay).await;
        }
        for (_, stop) in &waiting {
            stop.cancel();
        }
        let mut waiting: Vec<ServiceKind> = waiting.into_iter().map(|(s, _)| s).collect();
        let joined_all = tokio::time::timeout_at(deadline, async {
            while !waiting.is_empty() {
                let Some(joined) = servers.join_next().await else {
                    break;
                };
                if let Ok((service, _)) = &joined {
                    waiting.retain(|s| s != service);
                }
                if let Some(e) = server_failure(joined) {
                    failure.get_or_insert(e);
                }
            }
        })
        .await;
        if joined_all.is_err() {
            return false;
        }
    }
    tokio::time::timeout_at(deadline, async {
        for task in background {
            let _ = task.await;
        }
    })
    .await
    .is_ok()
}

fn server_failure(
    joined: Result<(ServiceKind, Result<(), tonic::transport::Error>), tokio::task::JoinError>,
) -> Option<ServeError> {
    match joined {
        Ok((_, Ok(()))) => None,
        Ok((service, Err(source))) => Some(ServeError::Server { service, source }),
        Err(e) => {
            tracing::error!(error = %e, "a server task ended abnormally");
            None
        }
    }
}

/// A service with its storage opened, ready to be built.
enum Prepared {
    /// Its store, and the locks its outbox relays compete for (set once opened).
    Metadata(metadata::repository::Store, Option<Locks>),
    /// Its store, and the locks its outbox relays compete for (set once opened).
    Rating(rating::repository::Store, Option<Locks>),
    /// Its files, and the locks its processor competes for.
    Movie(FileStore, Locks),
    Auth(UserStore, Arc<Keyring>),
}

/// A controller other services of the process call directly.
enum Local {
    Metadata(metadata::Local),
    Rating(rating::Local),
}

/// Each service builds its own parts from its store and what the process shares.
fn build(
    prepared: Prepared,
    readiness: Readiness,
    shared: &Shared<'_>,
    colocated: &InProcessServices,
    stop: &CancellationToken,
) -> (Parts, Option<Local>) {
    match prepared {
        Prepared::Metadata(store, locks) => {
            let (parts, local) = metadata::build(store, locks, readiness, shared, stop);
            (parts, Some(Local::Metadata(local)))
        }
        Prepared::Rating(store, locks) => {
            let (parts, local) = rating::build(store, locks, readiness, shared, stop);
            (parts, Some(Local::Rating(local)))
        }
        Prepared::Movie(files, locks) => {
            let parts = movie::build(files, locks, readiness, shared, colocated, stop);
            (parts, None)
        }
        Prepared::Auth(users, keyring) => (auth::build(users, keyring, readiness, stop), None),
    }
}

/// A service of this process for the movie service's fast path: its controller, and the
/// endpoint its table marks as called in process (whose metrics, faults and access the
/// call keeps).
fn in_process<C>(
    controller: Arc<C>,
    endpoint: Arc<super::endpoint::Endpoint>,
    gate: &Option<Arc<Gate>>,
) -> movie::gateway::InProcess<C> {
    movie::gateway::InProcess {
        controller,
        endpoint,
        gate: gate.clone(),
    }
}

/// Checks callers' tokens under `auth.mode` (none when off): with the auth service's keys
/// when it runs in this process, else with those it publishes.
fn gate(
    config: &Config,
    stores: &[Prepared],
    registry: &Arc<dyn Registry>,
    tls: Option<&crate::tls::ClientTls>,
) -> Result<Option<Arc<Gate>>, ServeError> {
    let mode = config.auth.mode;
    if mode == Mode::Off {
        return Ok(None);
    }
    let local = stores.iter().find_map(|p| match p {
        Prepared::Auth(_, keyring) => Some(Arc::clone(keyring)),
        _ => None,
    });
    let keys = match local {
        Some(keyring) => Keys::Local(keyring),
        None => {
            let http = match tls {
                Some(tls) => tls.http_client()?,
                None => reqwest::Client::builder().build().map_err(|e| {
                    crate::tls::TlsError::Invalid {
                        what: "the HTTP client".into(),
                        reason: e.to_string(),
                    }
                })?,
            };
            Keys::Remote(RemoteKeys::new(
                Arc::clone(registry),
                http,
                crate::tls::scheme(tls),
                config.auth.tokens(),
            ))
        }
    };
    tracing::info!(%mode, keys = if matches!(keys, Keys::Local(_)) { "in process" } else { "the auth service's JWK set" }, "auth is on: callers need tokens");
    Ok(Some(Arc::new(Gate::new(mode, keys))))
}

/// Opens the stores of the chosen services, before any port is bound: those on MySQL
/// first (`database.url: mysql://…`, one pool for metadata and rating, once MySQL answers
/// and their schemas are current), the movie files and locks, then the SQLite files in
/// `data_dir`, off the executor.
async fn open_stores(
    config: &Config,
    data_dir: &std::path::Path,
    services: &[ServiceKind],
    tls: Option<&crate::tls::ClientTls>,
) -> Result<Vec<Prepared>, ServeError> {
    let mut opened = BTreeMap::new();
    let wants_mysql = services
        .iter()
        .any(|s| matches!(s, ServiceKind::Metadata | ServiceKind::Rating));
    let password = std::env::var(crate::database::PASSWORD_ENV).ok();
    let mysql = config
        .database
        .mysql(password)
        .map_err(ConfigError::Invalid)?
        .filter(|_| wants_mysql);
    let on_mysql = mysql.is_some();
    if let Some(options) = mysql {
        opened.extend(open_mysql(&options, services).await?);
    }
    let tls = tls.map(crate::tls::ClientTls::rustls).transpose()?;
    let consul = &config.registry_settings()?.consul_address;
    if services.contains(&ServiceKind::Movie) {
        let files = FileStore::open(data_dir, &config.uploads).await?;
        let locks = config.lock.open(data_dir, consul, tls.clone()).await?;
        opened.insert(ServiceKind::Movie, Prepared::Movie(files, locks));
    }
    // The services sharing a database share its outboxes: one relay publishes each.
    let mut relay_locks = BTreeMap::new();
    for service in [ServiceKind::Rating, ServiceKind::Metadata] {
        if services.contains(&service) {
            let locks = config.lock.open(data_dir, consul, tls.clone()).await?;
            relay_locks.insert(service, locks);
        }
    }
    let key_source =
        KeySource::resolve(&config.auth, data_dir, std::env::var(SIGNING_KEY_ENV).ok());
    let tokens = config.auth.tokens();
    let (dir, chosen) = (data_dir.to_owned(), services.to_vec());
    let on_sqlite = tokio::task::spawn_blocking(move || {
        open_sqlite(&dir, &chosen, on_mysql, key_source, tokens)
    })
    .await
    .map_err(|e| ServeError::DataDir {
        path: data_dir.to_owned(),
        source: std::io::Error::other(e),
    })??;
    opened.extend(on_sqlite);
    for (service, prepared) in opened.iter_mut() {
        if let Prepared::Rating(_, locks) | Prepared::Metadata(_, locks) = prepared {
            *locks = relay_locks.remove(service);
        }
    }
    Ok(services
        .iter()
        .filter_map(|service| opened.remove(service))
        .collect())
}

/// The metadata and rating stores on MySQL, sharing one pool.
async fn open_mysql(
    options: &crate::database::mysql::Options,
    services: &[ServiceKind],
) -> Result<Vec<(ServiceKind, Prepared)>, ServeError> {
    tracing::info!(database = %options.url, "connecting to MySQL");
    let db = Mysql::connect(options).await?;
    let auto = options.auto_migrate;
    let mut opened = Vec::new();
    for &service in services {
        let store = match service {
            ServiceKind::Metadata => Prepared::Metadata(
                metadata::repository::Store::mysql(
                    Arc::clone(&db),
                    &metadata::repository::SCHEMA,
                    auto,
                )
                .await?,
                None,
            ),
            ServiceKind::Rating => Prepared::Rating(
                rating::repository::Store::mysql(
                    Arc::clone(&db),
                    &rating::repository::SCHEMA,
                    auto,
                )
                .await?,
                None,
            ),
            ServiceKind::Movie | ServiceKind::Auth => continue,
        };
        opened.push((service, store));
    }
    Ok(opened)
}

/// The stores in SQLite files under `dir` (created if missing): auth's always, metadata's
/// and rating's unless they are on MySQL. Blocking.
fn open_sqlite(
    dir: &std::path::Path,
    services: &[ServiceKind],
    on_mysql: bool,
    key_source: KeySource,
    tokens: crate::auth::token::TokenSettings,
) -> Result<Vec<(ServiceKind, Prepared)>, ServeError> {
    crate::files::create_private_dir(dir).map_err(|source| ServeError::DataDir {
        path: dir.to_owned(),
        source,
    })?;
    if let Some(mode) = crate::files::shared_with_others(dir) {
        tracing::warn!(data_dir = %dir.display(), mode = %format_args!("{mode:o}"), "the data directory can be read by other users (it holds password hashes and keys): chmod 700 it");
    }
    let mut opened = Vec::new();
    for &service in services {
        let store = match service {
            ServiceKind::Metadata if !on_mysql => Prepared::Metadata(
                metadata::repository::Store::sqlite(dir, &metadata::repository::SCHEMA)?,
                None,
            ),
            ServiceKind::Rating if !on_mysql => Prepared::Rating(
                rating::repository::Store::sqlite(dir, &rating::repository::SCHEMA)?,
                None,
            ),
            ServiceKind::Auth => {
                let keyring =
                    Keyring::open(key_source.clone(), tokens.clone()).map_err(|source| {
                        ServeError::SigningKey {
                            source: Box::new(source),
                        }
                    })?;
                Prepared::Auth(UserStore::open(dir)?, Arc::new(keyring))
            }
            // Opened already.
            _ => continue,
        };
        opened.push((service, store));
    }
    Ok(opened)
}

async fn bind(host: &str, service: ServiceKind, port: u16) -> Result<TcpListener, ServeError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ServeError::Bind {
            service,
            hint: match source.kind() {
                std::io::ErrorKind::AddrInUse => format!(
                    "; choose another with --{service}-port (0 picks a free one) or stop the process using it"
                ),
                _ => String::new(),
            },
            addr,
            source,
        })
}

/// A service's port, from its built `parts`: its gRPC API with health and reflection, and
/// its HTTP API with `/healthz`, `/readyz`, `/metrics` (and profiles); its endpoints as
/// `table` names them; its health reporter; and its background work, with the mirror of
/// readiness into gRPC health (and `serving`) running until `stop`.
async fn serve_port(
    table: &'static Table,
    parts: Parts,
    shared: &Shared<'_>,
    faults: &[crate::calls::faults::Fault],
    debug: http::Debug,
    serving: &Arc<AtomicBool>,
    stop: &CancellationToken,
) -> Result<(port::Port, Endpoints, HealthReporter, Vec<JoinHandle<()>>), ServeError> {
    let Parts {
        grpc,
        api,
        readiness,
        mut tasks,
    } = parts;
    let service = table.service;
    let grpc_name = service.grpc_name();
    let (grpc, reporter) = grpc::with_health_and_reflection(service, grpc)?;
    // SERVING while the process runs, whatever its dependencies: for liveness probes,
    // which must not restart a healthy process because its database is down.
    reporter
        .set_service_status(super::health::LIVENESS, ServingStatus::Serving)
        .await;
    let readiness = Arc::new(readiness);
    // Serving from the start if ready; the mirror keeps it so.
    let initial = match readiness.check().await {
        Ok(()) => ServingStatus::Serving,
        Err(_) => ServingStatus::NotServing,
    };
    set_status(&reporter, grpc_name, initial).await;
    serving.store(initial == ServingStatus::Serving, Ordering::Relaxed);
    tasks.push(tokio::spawn(
        Arc::clone(&readiness)
            .mirror(
                reporter.clone(),
                grpc_name,
                Arc::clone(serving),
                stop.clone(),
            )
            .instrument(telemetry::context(service.name(), "health")),
    ));
    let registry = Arc::clone(shared.registry);
    let (routes, http_routes) = port::combine(table, grpc, api, readiness, registry, debug);
    let http_routes: Vec<_> = http_routes.into_iter().map(|r| r.entry).collect();
    let endpoints = Endpoints::new(table, &http_routes, faults);
    Ok((routes, endpoints, reporter, tasks))
}

/// Checks that every fault names an endpoint its service serves; the message lists those
/// it does.
pub fn check_faults(faults: &[crate::calls::faults::Fault]) -> Result<(), String> {
    for (i, fault) in faults.iter().enumerate() {
        let table = table(fault.service);
        let names: Vec<String> = table
            .grpcs()
            .map(|e| e.method.to_owned())
            .chain(table.https().map(|e| e.name()))
            .collect();
        if !names.contains(&fault.endpoint) {
            return Err(format!(
                "faults[{i}].endpoint {:?} is not an endpoint of the {} service; expected one of: {}",
                fault.endpoint,
                fault.service,
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// The endpoint table of `service`.
pub fn table(service: ServiceKind) -> &'static Table {
    match service {
        ServiceKind::Metadata => &metadata::endpoints::TABLE,
        ServiceKind::Rating => &rating::endpoints::TABLE,
        ServiceKind::Movie => &movie::endpoints::TABLE,
        ServiceKind::Auth => &auth::endpoints::TABLE,
    }
}

/// Sets the health of a gRPC service name and of the server as a whole ("").
async fn set_status(reporter: &HealthReporter, grpc_name: &str, status: ServingStatus) {
    reporter.set_service_status(grpc_name, status).await;
    reporter.set_service_status("", status).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::table::Http;

    /// Each service's HTTP API, as the service builds it, over stores in `dir`.
    async fn api(service: ServiceKind, dir: &std::path::Path) -> http::Api {
        let registry: Arc<dyn Registry> =
            Arc::new(crate::discovery::memory::MemoryRegistry::default());
        let (calls, fallback) = Default::default();
        let toggles = Arc::new(crate::config::features::Toggles::new(&Default::default()));
        let events = Default::default();
        let shared = Shared {
            tls: None,
            registry: &registry,
            broker: None,
            calls: &calls,
            fallback: &fallback,
            toggles: &toggles,
            events: &events,
            traces: None,
        };
        let stop = CancellationToken::new();
        let readiness = Readiness::default();
        let config = Config::default();
        let prepared = match service {
            ServiceKind::Movie => {
                let files = FileStore::open(dir, &config.uploads).await.unwrap();
                let locks = config.lock.open(dir, "127.0.0.1:1", None).await.unwrap();
                Prepared::Movie(files, locks)
            }
            _ => {
                let key = KeySource::File {
                    path: dir.join("signing.pem"),
                    create: true,
                };
                let opened = open_sqlite(dir, &[service], false, key, config.auth.tokens());
                opened.unwrap().remove(0).1
            }
        };
        let colocated = InProcessServices::default();
        let (parts, _) = build(prepared, readiness, &shared, &colocated, &stop);
        stop.cancel();
        parts.api
    }

    /// Every gRPC method a port serves (its service's, health's and reflection's, from the
    /// compiled descriptors) and every HTTP route its router serves (profiles on) has
    /// exactly one entry in the endpoint tables, and every entry is served. A method added to
    /// the proto, or a route to a router, fails here until its entry is written.
    #[tokio::test]
    async fn every_endpoint_has_exactly_one_entry_in_its_table() {
        let dir = tempfile::tempdir().unwrap();
        let mut problems = Vec::new();
        for service in ServiceKind::ALL {
            let table = table(service);
            let served = grpc::served(service);
            let methods: Vec<(String, String)> = grpc::methods(&grpc::DESCRIPTOR_SETS)
                .into_iter()
                .filter(|(full, _)| served.contains(&full.as_str()))
                .collect();
            for (full, method) in &methods {
                let entries = table
                    .grpcs()
                    .filter(|e| e.service == full && e.method == method)
                    .count();
                if entries != 1 {
                    let file = match ServiceKind::serving(full) {
                        Some(_) => table.file,
                        None => "src/server/table.rs (COMMON_GRPC)",
                    };
                    problems.push(format!(
                        "gRPC method {full}/{method} on the {service} port has {entries} entries; it needs exactly one: add it to the table in {file}"
                    ));
                }
            }
            for entry in table.grpcs() {
                if !methods.contains(&(entry.service.to_owned(), entry.method.to_owned())) {
                    problems.push(format!(
                        "{} lists {}, which the {service} port does not serve (not in the proto?)",
                        table.file,
                        entry.path()
                    ));
                }
            }
            let registry: Arc<dyn Registry> =
                Arc::new(crate::discovery::memory::MemoryRegistry::default());
            let debug = http::Debug {
                profiling: true,
                loopback_only: true,
                ..Default::default()
            };
            let sub = dir.path().join(service.name());
            std::fs::create_dir_all(&sub).unwrap();
            let api = api(service, &sub).await;
            let readiness = Arc::new(Readiness::default());
            let (_, routes) = port::combine(
                table,
                grpc::GrpcServices::default(),
                api,
                readiness,
                registry,
                debug,
            );
            for route in &routes {
                if !route.doc.describes(&route.entry) {
                    problems.push(format!(
                        "HTTP route {} on the {service} port is documented as {:?} {}: its handler's #[utoipa::path] must name the entry's method and path",
                        route.entry.name(),
                        route.doc.methods.iter().map(crate::server::openapi::method_name).collect::<Vec<_>>(),
                        route.doc.path,
                    ));
                }
            }
            let routes: Vec<Http> = routes.into_iter().map(|r| r.entry).collect();
            let key = |r: &Http| (r.method, r.path);
            for route in &routes {
                let entries = table.https().filter(|e| key(e) == key(route)).count();
                let routed = routes.iter().filter(|r| key(r) == key(route)).count();
                if entries != 1 || routed != 1 {
                    problems.push(format!(
                        "HTTP route {} on the {service} port is routed {routed} times and has {entries} entries; it needs exactly one of each: add its entry to the table in {}",
                        route.name(),
                        table.file
                    ));
                }
            }
            for entry in table.https() {
                if !routes.iter().any(|r| key(r) == key(entry)) {
                    problems.push(format!(
                        "{} lists {}, which the {service} port does not route",
                        table.file,
                        entry.name()
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn whatever_changes_data_needs_the_writer_role() {
        use crate::auth::access::Access;
        let writes: Vec<String> = ServiceKind::ALL
            .into_iter()
            .flat_map(|s| {
                let t = table(s);
                let grpc = t.grpcs().filter(|e| e.policy.access == Access::Write);
                let http = t.https().filter(|e| e.policy.access == Access::Write);
                grpc.map(|e| e.path())
                    .chain(http.map(|e| e.name()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let expected = [
            "/MetadataService/PutMetadata",
            "/RatingService/PutRating",
            "PUT /rating",
            "/MovieService/UploadFile",
            "PUT /movie/upload",
        ];
        assert_eq!(writes, expected);
        // Every other route that is not safe (RFC 9110) is the auth service's login.
        for service in ServiceKind::ALL {
            for e in table(service).https() {
                if !matches!(e.method, "GET" | "HEAD") && e.policy.access != Access::Write {
                    assert_eq!((service, e.path), (ServiceKind::Auth, "/token"));
                }
            }
        }
    }

    #[test]
    fn each_fast_path_is_one_read_in_its_table() {
        for service in [ServiceKind::Metadata, ServiceKind::Rating] {
            let entry = table(service).in_process().expect("an in-process method");
            assert_eq!(entry.policy.access, crate::auth::access::Access::Read);
        }
        assert!(table(ServiceKind::Movie).in_process().is_none());
    }
}
