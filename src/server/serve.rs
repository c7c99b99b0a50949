//! `serve`: runs the chosen services in one process, each on its own port, over SQLite.
//!
//! Start-up opens the databases and binds every port before anything is announced, so a
//! port in use or an unusable data directory is reported at once. Shutdown takes a future
//! (as mini-redis does), so tests and the CLI each bring their own: on it, instances leave
//! the registry, servers stop accepting and finish in-flight calls, databases close.

use std::{
    collections::BTreeMap,
    future::Future,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
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
    grpc::{self, GrpcServices},
    health::Readiness,
    http, metadata, movie, port, rating,
    table::Table,
    workers::Workers,
};
use crate::{
    auth::{
        access::{Gate, Keys, RemoteKeys},
        keyring::{KeySource, Keyring},
        settings::Mode,
        token::TokenSettings,
        users::UserStore,
    },
    broker::{Broker, BrokerError, BrokerSettings},
    calls::CallSettings,
    calls::faults::Fault,
    database::{
        Storage,
        mysql::{Mysql, MysqlError},
    },
    discovery::{
        Registry, RegistryError, RegistrySettings,
        balancer::{Balancer, Colocated},
        instance::Registration,
    },
    feed,
    lock::Locks,
    pb::{
        auth_service_server::AuthServiceServer, metadata_service_server::MetadataServiceServer,
        movie_service_server::MovieServiceServer, rating_service_server::RatingServiceServer,
    },
    service::{ConnectionSettings, ServiceKind, dial_addr},
    sqlite::StorageError,
    telemetry,
    uploads::FileStore,
};

/// What to run, where.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub services: Vec<ServiceKind>,
    /// The address to listen on, e.g. `127.0.0.1` or `0.0.0.0`.
    pub host: String,
    /// The host registered in discovery; `None`: the bound address.
    pub advertise_host: Option<crate::config::value::Host>,
    /// The port of each service; 0 (or none) picks a free one.
    pub ports: BTreeMap<ServiceKind, u16>,
    /// Each service's section of the configuration.
    pub settings: BTreeMap<ServiceKind, crate::service::Settings>,
    pub data_dir: PathBuf,
    /// Where instances register and find each other.
    pub registry: RegistrySettings,
    /// How often each instance heartbeats.
    pub heartbeat_interval: Duration,
    /// The rating feed the rating service consumes.
    pub broker: BrokerSettings,
    /// How long in-flight calls get to finish after a shutdown signal.
    pub drain_timeout: Duration,
    /// How long an instance keeps serving, not ready and deregistered, after a shutdown
    /// signal, so callers' cached address lists move on first.
    pub drain_delay: Duration,
    /// What each port accepts.
    pub connections: ConnectionSettings,
    /// Faults to inject, for drills.
    pub faults: Vec<Fault>,
    /// How the movie service calls metadata and rating, and the default deadline of
    /// every call served.
    pub calls: CallSettings,
    /// Stale answers when a dependency fails.
    pub fallback: crate::calls::fallback::FallbackSettings,
    /// Which calls need a token.
    pub auth_mode: Mode,
    /// How tokens are issued and checked.
    pub tokens: TokenSettings,
    /// The auth service's signing key.
    pub signing_key: KeySource,
    /// TLS on the ports, and for the services' calls to each other.
    pub tls: crate::tls::Settings,
    /// MySQL for metadata and ratings; `None`: SQLite files in `data_dir`.
    pub database: Option<crate::database::mysql::Options>,
    /// The lock the movie processors compete for.
    pub lock: crate::lock::settings::Settings,
    /// Movie files.
    pub uploads: crate::uploads::Settings,
    /// Debug endpoints (profiles).
    pub debug: crate::profiling::Settings,
}

impl ServeConfig {
    pub fn port(&self, service: ServiceKind) -> u16 {
        self.ports.get(&service).copied().unwrap_or(0)
    }

    /// The configuration section of `service` (rate limit, calls in flight).
    pub fn service_settings(&self, service: ServiceKind) -> crate::service::Settings {
        self.settings.get(&service).cloned().unwrap_or_default()
    }
}

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
    Storage(#[from] StorageError),
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

/// Runs the services until `shutdown` completes. `on_ready` is called once every port is
/// bound and every instance registered.
pub async fn run(
    config: ServeConfig,
    shutdown: impl Future<Output = ()>,
    on_ready: impl FnOnce(&[Started]),
) -> Result<(), ServeError> {
    super::metrics::install();
    for fault in &config.faults {
        tracing::warn!(
            service = %fault.service,
            endpoint = %fault.endpoint,
            ?fault,
            "FAULT INJECTION IS ON: this endpoint will misbehave on purpose (faults in the configuration)"
        );
    }
    let mut services = config.services.clone();
    services.sort();
    services.dedup();

    let client_tls = config.tls.client()?;
    let stores = open_stores(&config, &services, client_tls.as_ref()).await?;
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
            bind(&config.host, service, config.port(service)).await?,
        ));
    }

    let registry: Arc<dyn Registry> = config.registry.open().await.map_err(ServeError::Registry)?;
    tracing::info!(registry = %registry.describe(), "service registry");
    let gate = gate(&config, &stores, &registry, client_tls.as_ref())?;
    let broker = if services.contains(&ServiceKind::Rating) {
        Some(config.broker.open().await.map_err(ServeError::Broker)?)
    } else {
        None
    };
    // Per service, set when it starts draining: it reports not ready from then on.
    let mut draining = BTreeMap::new();
    // Each service stops on its own token, in dependency order.
    let mut stops = BTreeMap::new();
    let mut servers = JoinSet::new();
    let mut started = Vec::new();
    let mut registrations = BTreeMap::new();
    let mut reporters = BTreeMap::new();
    let mut background = Vec::new();
    let mut colocated = InProcessServices::default();
    // Per service, whether it serves, for its callers in this process.
    let mut servings = BTreeMap::new();
    for ((service, listener), prepared) in listeners.into_iter().zip(stores) {
        let addr = listener.local_addr().map_err(|source| ServeError::Bind {
            service,
            addr: format!("{}:{}", config.host, config.port(service)),
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
            Arc::clone(&registry),
            service.name(),
            &registered,
            config.heartbeat_interval,
        )
        .instrument(telemetry::context(service.name(), "registry"))
        .await
        .map_err(|source| ServeError::Register { service, source })?;
        let stop = CancellationToken::new();
        stops.insert(service, stop.clone());
        let drain = CancellationToken::new();
        draining.insert(service, drain.clone());
        let shared = Shared {
            tls: client_tls.as_ref(),
            registry: &registry,
            broker: broker.as_ref(),
            faults: &config.faults,
            calls: &config.calls,
            fallback: &config.fallback,
            debug: http::Debug {
                profiling: config.debug.profiling,
                loopback_only: config.auth_mode == Mode::Off,
            },
        };
        let serving = Arc::new(AtomicBool::new(false));
        servings.insert(service, Arc::clone(&serving));
        let Built {
            routes,
            endpoints,
            reporter,
            tasks,
            controller,
        } = routes(
            prepared,
            &shared,
            &colocated,
            Arc::clone(&registration.healthy),
            &drain,
            Arc::clone(&serving),
            stop.clone(),
        )
        .await?;
        background.extend(tasks);
        // The movie service (set up after these) calls them in process while they serve.
        let route = Colocated {
            addr: registered,
            serving: Arc::clone(&serving),
        };
        match controller {
            Some(Controller::Metadata(controller)) => {
                colocated.metadata = in_process(controller, &endpoints, &gate, route);
            }
            Some(Controller::Rating(controller)) => {
                colocated.rating = in_process(controller, &endpoints, &gate, route);
            }
            None => {}
        }
        let stopped = stop.clone();
        let handles = workers.handles().to_vec();
        let limits = config.connections.clone();
        let tls = server_tls.clone();
        let admission = Admission::new(&config.service_settings(service))
            .map_err(|e| ServeError::Admission { service, reason: e })?;
        let observe = ObserveLayer::new(
            endpoints,
            config.calls.timeout.get(),
            admission,
            gate.clone(),
        );
        let context = telemetry::context(service.name(), "server");
        context.in_scope(|| tracing::info!(%addr, instance = %registration.instance_id, "serving"));
        servers.spawn(
            async move {
                let result = port::serve(
                    service.name(),
                    listener,
                    routes,
                    observe,
                    limits,
                    tls,
                    handles,
                    stopped,
                )
                .await;
                (service, result)
            }
            .instrument(context),
        );
        registrations.insert(service, registration);
        reporters.insert(service, reporter);
        started.push(Started { service, addr });
        super::metrics::service_started(service.name());
    }
    on_ready(&started);

    // Run until asked to stop, or until a server fails.
    let mut failure = None;
    tokio::select! {
        () = shutdown => tracing::info!("shutting down"),
        Some(joined) = servers.join_next() => failure = server_failure(joined),
    }

    // Draining (docs/design.md §1), callers before the services they call (movie first,
    // while metadata and rating still answer it): each service reports not ready and
    // leaves the registry, keeps serving for the drain delay so callers' cached address
    // lists move on, then stops accepting and finishes its calls.
    let deadline = tokio::time::Instant::now() + config.drain_timeout;
    let mut timed_out = false;
    for tier in SHUTDOWN_ORDER {
        let tier: Vec<ServiceKind> = tier
            .iter()
            .copied()
            .filter(|s| stops.contains_key(s))
            .collect();
        if tier.is_empty() {
            continue;
        }
        for service in &tier {
            if let Some(drain) = draining.get(service) {
                drain.cancel();
            }
            super::metrics::service_stopping(service.name());
            if let Some(registration) = registrations.remove(service)
                && let Err(e) = registration.deregister().await
            {
                tracing::warn!(error = %e, %service, "deregister failed");
            }
            if let Some(serving) = servings.get(service) {
                serving.store(false, std::sync::atomic::Ordering::Relaxed);
            }
            if let Some(reporter) = reporters.get(service) {
                // Probes see the instance leave before its port closes.
                set_status(reporter, service.grpc_name(), ServingStatus::NotServing).await;
            }
        }
        if failure.is_none() && !config.drain_delay.is_zero() {
            tracing::info!(services = ?tier, delay = ?config.drain_delay, "draining: not ready and deregistered; still serving");
            tokio::time::sleep(config.drain_delay).await;
        }
        for service in &tier {
            if let Some(stop) = stops.get(service) {
                stop.cancel();
            }
        }
        let mut waiting = tier;
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
            timed_out = true;
            break;
        }
    }
    // The ingester finishes (or abandons, uncommitted) its batch; health mirrors stop.
    let drained = if timed_out {
        Err(())
    } else {
        tokio::time::timeout_at(deadline, async {
            for task in background {
                let _ = task.await;
            }
        })
        .await
        .map_err(drop)
    };
    if drained.is_err() {
        tracing::warn!(timeout = ?config.drain_timeout, "in-flight calls did not finish in time; stopping anyway");
        servers.abort_all();
    }
    process_stop.cancel();
    workers.stop().await;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
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

/// A service with its storage opened, ready to be given routes.
enum Prepared {
    Metadata(metadata::repository::Store),
    Rating(rating::repository::Store),
    /// Its files, and the locks its processor competes for.
    Movie(FileStore, Locks),
    Auth(UserStore, Arc<Keyring>),
}

impl Prepared {
    fn service(&self) -> ServiceKind {
        match self {
            Self::Metadata(_) => ServiceKind::Metadata,
            Self::Rating(_) => ServiceKind::Rating,
            Self::Movie(..) => ServiceKind::Movie,
            Self::Auth(..) => ServiceKind::Auth,
        }
    }
}

/// Checks callers' tokens under `auth.mode` (none when off): with the auth service's keys
/// when it runs in this process, else with those it publishes.
fn gate(
    config: &ServeConfig,
    stores: &[Prepared],
    registry: &Arc<dyn Registry>,
    tls: Option<&crate::tls::ClientTls>,
) -> Result<Option<Arc<Gate>>, ServeError> {
    if config.auth_mode == Mode::Off {
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
                config.tokens.clone(),
            ))
        }
    };
    tracing::info!(mode = %config.auth_mode, keys = if matches!(keys, Keys::Local(_)) { "in process" } else { "the auth service's JWK set" }, "auth is on: callers need tokens");
    Ok(Some(Arc::new(Gate::new(config.auth_mode, keys))))
}

/// Creates the data directory and opens the databases of the chosen services, off the
/// executor, before any port is bound. With `database.url: mysql://…`, metadata and
/// rating share one pool, once MySQL answers and their schemas are current.
async fn open_stores(
    config: &ServeConfig,
    services: &[ServiceKind],
    tls: Option<&crate::tls::ClientTls>,
) -> Result<Vec<Prepared>, ServeError> {
    let mut opened = BTreeMap::new();
    // The stores on MySQL first: once it answers, with their schemas current.
    let wants_mysql = services
        .iter()
        .any(|s| matches!(s, ServiceKind::Metadata | ServiceKind::Rating));
    let on_mysql = config.database.is_some() && wants_mysql;
    if let Some(options) = config.database.as_ref().filter(|_| wants_mysql) {
        tracing::info!(database = %options.url, "connecting to MySQL");
        let db = Mysql::connect(options).await?;
        let auto = options.auto_migrate;
        for service in services {
            let store = match service {
                ServiceKind::Metadata => Prepared::Metadata(
                    metadata::repository::Store::mysql(
                        Arc::clone(&db),
                        &metadata::repository::SCHEMA,
                        auto,
                    )
                    .await?,
                ),
                ServiceKind::Rating => Prepared::Rating(
                    rating::repository::Store::mysql(
                        Arc::clone(&db),
                        &rating::repository::SCHEMA,
                        auto,
                    )
                    .await?,
                ),
                ServiceKind::Movie | ServiceKind::Auth => continue,
            };
            opened.insert(*service, store);
        }
    }
    if services.contains(&ServiceKind::Movie) {
        let files = FileStore::open(&config.data_dir, config.uploads.max_bytes).await?;
        let tls = tls.map(crate::tls::ClientTls::rustls).transpose()?;
        let locks = config
            .lock
            .open(&config.data_dir, &config.registry.consul_address, tls)
            .await?;
        opened.insert(ServiceKind::Movie, Prepared::Movie(files, locks));
    }
    // Then the SQLite files, off the executor.
    let data_dir = &config.data_dir;
    let dir = data_dir.to_owned();
    let chosen = services.to_vec();
    let key_source = config.signing_key.clone();
    let tokens = config.tokens.clone();
    let on_sqlite = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|source| ServeError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let open = |service: &ServiceKind| -> Result<Option<Prepared>, ServeError> {
            Ok(Some(match service {
                ServiceKind::Metadata if !on_mysql => Prepared::Metadata(
                    metadata::repository::Store::sqlite(&dir, &metadata::repository::SCHEMA)?,
                ),
                ServiceKind::Rating if !on_mysql => Prepared::Rating(
                    rating::repository::Store::sqlite(&dir, &rating::repository::SCHEMA)?,
                ),
                ServiceKind::Auth => Prepared::Auth(
                    UserStore::open(&dir)?,
                    Arc::new(Keyring::open(key_source.clone(), tokens.clone()).map_err(
                        |source| ServeError::SigningKey {
                            source: Box::new(source),
                        },
                    )?),
                ),
                // Opened above.
                _ => return Ok(None),
            }))
        };
        chosen
            .iter()
            .filter_map(|service| open(service).map(|s| s.map(|s| (*service, s))).transpose())
            .collect::<Result<Vec<_>, ServeError>>()
    })
    .await
    .map_err(|e| ServeError::DataDir {
        path: data_dir.to_owned(),
        source: std::io::Error::other(e),
    })??;
    opened.extend(on_sqlite);
    Ok(services
        .iter()
        .filter_map(|service| opened.remove(service))
        .collect())
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

/// What every service of the process shares.
#[derive(Clone, Copy)]
struct Shared<'a> {
    /// TLS for calls to other services.
    tls: Option<&'a crate::tls::ClientTls>,
    registry: &'a Arc<dyn Registry>,
    broker: Option<&'a Arc<dyn Broker>>,
    faults: &'a [Fault],
    calls: &'a CallSettings,
    fallback: &'a crate::calls::fallback::FallbackSettings,
    /// The debug endpoints each port serves.
    debug: http::Debug,
}

/// The metadata and rating services of this process, for the movie service's in-process
/// fast path: each with the route its balancer prefers while it serves.
#[derive(Default)]
struct InProcessServices {
    metadata: Option<(movie::gateway::LocalMetadata, Colocated)>,
    rating: Option<(movie::gateway::LocalRating, Colocated)>,
}

/// A service of this process for the movie service's fast path: its controller, the
/// endpoint its table marks as called in process (whose metrics, faults and access the
/// call keeps), and the route its callers' balancers prefer while it serves.
fn in_process<C>(
    controller: Arc<C>,
    endpoints: &Endpoints,
    gate: &Option<Arc<Gate>>,
    route: Colocated,
) -> Option<(movie::gateway::InProcess<C>, Colocated)> {
    let endpoint = endpoints.in_process()?;
    let local = movie::gateway::InProcess {
        controller,
        endpoint,
        gate: gate.clone(),
    };
    Some((local, route))
}

/// A controller other services of the process call directly.
enum Controller {
    Metadata(Arc<metadata::controller::Controller<metadata::repository::Store>>),
    Rating(Arc<rating::controller::Controller<rating::repository::Store>>),
}

/// What [`routes`] sets up for a service.
struct Built {
    routes: port::Port,
    endpoints: Endpoints,
    reporter: HealthReporter,
    /// Running until `stop`.
    tasks: Vec<JoinHandle<()>>,
    controller: Option<Controller>,
}

/// A service's routes: its gRPC API with health and reflection, and its HTTP API with
/// `/healthz` and `/readyz`, on one port. Also the tasks running until `stop`: the mirror
/// of readiness into gRPC health (and `serving`), and for rating the feed ingester.
async fn routes(
    prepared: Prepared,
    shared: &Shared<'_>,
    colocated: &InProcessServices,
    heartbeat: Arc<AtomicBool>,
    draining: &CancellationToken,
    serving: Arc<AtomicBool>,
    stop: CancellationToken,
) -> Result<Built, ServeError> {
    let Shared {
        tls,
        registry,
        broker,
        faults,
        calls,
        fallback,
        debug,
    } = *shared;
    let mut tasks = Vec::new();
    let draining = draining.clone();
    let readiness = Readiness::default()
        .probe(move || draining.is_cancelled().then(|| "shutting down".to_owned()))
        .flag(heartbeat, "the registry heartbeat is failing");
    let service = prepared.service();
    let mut local = None;
    let (grpc, api, readiness) = match prepared {
        Prepared::Metadata(repo) => {
            let readiness = readiness.database(repo.storage());
            let controller = Arc::new(metadata::controller::Controller::new(repo));
            local = Some(Controller::Metadata(Arc::clone(&controller)));
            let api = metadata::http::api(Arc::clone(&controller));
            let handler = metadata::handler::Handler::new(controller);
            let grpc = GrpcServices::default().with(MetadataServiceServer::new(handler));
            (grpc, api, readiness)
        }
        Prepared::Rating(repo) => {
            let mut readiness = readiness.database(repo.storage());
            let controller = Arc::new(rating::controller::Controller::new(repo, fallback));
            local = Some(Controller::Rating(Arc::clone(&controller)));
            if let Some(broker) = broker {
                let feed = feed::Ingester::new(
                    Arc::clone(&controller),
                    Arc::clone(broker),
                    feed::RATINGS_TOPIC,
                    feed::RATING_GROUP,
                );
                let stats = Arc::clone(&feed.stats);
                readiness = readiness.probe(move || stats.problem());
                tasks.push(tokio::spawn(
                    feed.run(stop.clone())
                        .instrument(telemetry::context(service.name(), "ingester")),
                ));
            }
            let api = rating::http::api(Arc::clone(&controller));
            let handler = rating::handler::Handler::new(controller);
            let grpc = GrpcServices::default().with(RatingServiceServer::new(handler));
            (grpc, api, readiness)
        }
        Prepared::Movie(files, locks) => {
            tasks.push(tokio::spawn(
                crate::uploads::processor::run(
                    locks,
                    files.clone(),
                    crate::lock::default_holder("movie"),
                    stop.clone(),
                )
                .instrument(telemetry::context(service.name(), "processor")),
            ));
            let balancer = |service: ServiceKind, route: Option<&Colocated>| {
                Balancer::with_settings(service.name(), Arc::clone(registry), calls.clone())
                    .reporting_as(ServiceKind::Movie.name())
                    .with_tls(tls.cloned())
                    .with_colocated(route.cloned())
            };
            let (metadata, rating) = (colocated.metadata.as_ref(), colocated.rating.as_ref());
            let controller = Arc::new(movie::controller::Controller::new(
                movie::gateway::MetadataClient::new(
                    balancer(ServiceKind::Metadata, metadata.map(|(_, route)| route)),
                    metadata.map(|(local, _)| local.clone()),
                ),
                movie::gateway::RatingClient::new(
                    balancer(ServiceKind::Rating, rating.map(|(_, route)| route)),
                    rating.map(|(local, _)| local.clone()),
                ),
                fallback,
            ));
            let api = movie::http::api(Arc::clone(&controller), files.clone());
            let handler = movie::handler::Handler::new(controller, files);
            let grpc = GrpcServices::default().with(MovieServiceServer::new(handler));
            (grpc, api, readiness)
        }
        Prepared::Auth(users, keyring) => {
            let readiness = readiness.database(Storage::Sqlite(users.database()));
            tasks.push(tokio::spawn(
                Arc::clone(&keyring)
                    .watch(stop.clone())
                    .instrument(telemetry::context(service.name(), "keys")),
            ));
            let controller = Arc::new(auth::controller::Controller::new(users, keyring));
            let api = auth::http::api(Arc::clone(&controller));
            let grpc = GrpcServices::default().with(AuthServiceServer::new(
                auth::handler::Handler::new(controller),
            ));
            (grpc, api, readiness)
        }
    };
    let table = table(service);
    let grpc_name = service.grpc_name();
    let (grpc, reporter) = grpc::with_health_and_reflection(service, grpc)?;
    // SERVING while the process runs, whatever its dependencies: for liveness probes,
    // which must not restart a healthy process because its database is down.
    reporter
        .set_service_status(crate::server::health::LIVENESS, ServingStatus::Serving)
        .await;
    let readiness = Arc::new(readiness);
    // Serving from the start if ready; the mirror keeps it so.
    let initial = match readiness.check().await {
        Ok(()) => ServingStatus::Serving,
        Err(_) => ServingStatus::NotServing,
    };
    set_status(&reporter, grpc_name, initial).await;
    serving.store(
        initial == ServingStatus::Serving,
        std::sync::atomic::Ordering::Relaxed,
    );
    tasks.push(tokio::spawn(
        Arc::clone(&readiness)
            .mirror(reporter.clone(), grpc_name, serving, stop)
            .instrument(telemetry::context(service.name(), "health")),
    ));
    let (routes, http_routes) =
        port::combine(table, grpc, api, readiness, Arc::clone(registry), debug);
    let endpoints = Endpoints::new(table, &http_routes, faults);
    Ok(Built {
        routes,
        endpoints,
        reporter,
        tasks,
        controller: local,
    })
}

/// The endpoint table of `service`.
fn table(service: ServiceKind) -> &'static Table {
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

    /// Each service's HTTP API, as `serve` builds it, over stores in `dir`.
    async fn api(service: ServiceKind, dir: &std::path::Path) -> http::Api {
        let fallback = crate::calls::fallback::FallbackSettings::default();
        match service {
            ServiceKind::Metadata => {
                let repo = metadata::repository::Store::sqlite(dir, &metadata::repository::SCHEMA);
                let controller = metadata::controller::Controller::new(repo.unwrap());
                metadata::http::api(Arc::new(controller))
            }
            ServiceKind::Rating => {
                let repo = rating::repository::Store::sqlite(dir, &rating::repository::SCHEMA);
                let controller = rating::controller::Controller::new(repo.unwrap(), &fallback);
                rating::http::api(Arc::new(controller))
            }
            ServiceKind::Movie => {
                let registry: Arc<dyn Registry> =
                    Arc::new(crate::discovery::memory::MemoryRegistry::default());
                let balancer = |s: ServiceKind| Balancer::new(s.name(), Arc::clone(&registry));
                let controller = movie::controller::Controller::new(
                    movie::gateway::MetadataClient::new(balancer(ServiceKind::Metadata), None),
                    movie::gateway::RatingClient::new(balancer(ServiceKind::Rating), None),
                    &fallback,
                );
                let files = FileStore::open(dir, 1024).await.unwrap();
                movie::http::api(Arc::new(controller), files)
            }
            ServiceKind::Auth => {
                let tokens = TokenSettings {
                    issuer: "movieapp".into(),
                    audience: "movieapp".into(),
                    ttl: Duration::from_secs(60),
                };
                let key = KeySource::File {
                    path: dir.join("signing.pem"),
                    create: true,
                };
                let keyring = Arc::new(Keyring::open(key, tokens).unwrap());
                let users = UserStore::open(dir).unwrap();
                auth::http::api(Arc::new(auth::controller::Controller::new(users, keyring)))
            }
        }
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
            };
            let sub = dir.path().join(service.name());
            std::fs::create_dir_all(&sub).unwrap();
            let api = api(service, &sub).await;
            let readiness = Arc::new(Readiness::default());
            let (_, routes) = port::combine(
                table,
                GrpcServices::default(),
                api,
                readiness,
                registry,
                debug,
            );
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
