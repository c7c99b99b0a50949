//! What each endpoint of a port is: declared once per service, in its endpoint table beside
//! its handlers (`server/<service>/endpoints.rs`), and here for what every port serves
//! besides (health, reflection, probes, metrics, profiles).
//!
//! For every gRPC method and HTTP route a table gives its [`Policy`]: who may call it, whether
//! admission control applies, whether it may run long, whether other services of the process
//! call it directly. The endpoint layer ([`super::endpoint`]), the auth gate, the HTTP router
//! ([`super::http::Api`] takes routes only as [`Http`] entries) and the in-process fast path
//! read the tables and nothing else. An endpoint with no entry is refused, never served with
//! a default.

use crate::{auth::access::Access, service::ServiceKind};

/// How an endpoint is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What a caller needs when auth is on.
    pub access: Access,
    /// Admission control (`rateLimit`, `maxConcurrentCalls`) applies: the service's own
    /// API, not probes, scrapes, reflection or profiles, which must get through.
    pub limited: bool,
    /// It may run for long (streams, profiles): without a caller's deadline, it gets the
    /// long deadline rather than `calls.timeout`.
    pub long_running: bool,
    /// Other services of this process call it directly, without a socket (the movie
    /// service's fast path to metadata and rating).
    pub in_process: bool,
}

impl Policy {
    /// Reads the service's data: a token under `auth.mode: all`.
    pub const READ: Self = Self::api(Access::Read);
    /// Changes it: the writer role under `writes` and `all`.
    pub const WRITE: Self = Self::api(Access::Write);
    /// Part of a service's API that anyone may call (getting a token).
    pub const OPEN: Self = Self::api(Access::Open);
    /// Probes, scrapes, health and reflection: open, and never refused for load.
    pub const OPERATIONAL: Self = Self {
        access: Access::Open,
        limited: false,
        long_running: false,
        in_process: false,
    };
    /// Operating the process (profiles): admins only whenever auth is on.
    pub const ADMIN: Self = Self {
        access: Access::Admin,
        limited: false,
        long_running: true,
        in_process: false,
    };

    const fn api(access: Access) -> Self {
        Self {
            access,
            limited: true,
            long_running: false,
            in_process: false,
        }
    }

    /// The same, running long.
    pub const fn long_running(self) -> Self {
        Self {
            long_running: true,
            ..self
        }
    }

    /// The same, called in process by the process's other services.
    pub const fn in_process(self) -> Self {
        Self {
            in_process: true,
            ..self
        }
    }
}

/// A gRPC method of the port's services: `service` as in paths (`MetadataService`,
/// `grpc.health.v1.Health`), `method` as in the proto.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grpc {
    pub service: &'static str,
    pub method: &'static str,
    pub policy: Policy,
}

impl Grpc {
    /// `method` of `service`'s own gRPC API.
    pub const fn of(service: ServiceKind, method: &'static str, policy: Policy) -> Self {
        Self {
            service: service.grpc_name(),
            method,
            policy,
        }
    }

    /// Its path: `/MetadataService/GetMetadata`.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }
}

/// An HTTP route: `method` (`GET`) and `path` (`/metadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http {
    pub method: &'static str,
    pub path: &'static str,
    pub policy: Policy,
}

impl Http {
    /// `GET path`.
    pub const fn get(path: &'static str, policy: Policy) -> Self {
        Self {
            method: "GET",
            path,
            policy,
        }
    }

    /// `PUT path`.
    pub const fn put(path: &'static str, policy: Policy) -> Self {
        Self {
            method: "PUT",
            path,
            policy,
        }
    }

    /// `POST path`.
    pub const fn post(path: &'static str, policy: Policy) -> Self {
        Self {
            method: "POST",
            path,
            policy,
        }
    }

    /// Its endpoint name: `GET /metadata`.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// A service's endpoint table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub service: ServiceKind,
    /// Where it is written, for messages that say where an entry goes.
    pub file: &'static str,
    pub grpc: &'static [Grpc],
    pub http: &'static [Http],
}

const HEALTH: &str = "grpc.health.v1.Health";
const REFLECTION: &str = "grpc.reflection.v1.ServerReflection";
const REFLECTION_ALPHA: &str = "grpc.reflection.v1alpha.ServerReflection";

/// `GET /healthz`: the process answers.
pub const HEALTHZ: Http = Http::get("/healthz", Policy::OPERATIONAL);
/// `GET /readyz`: the service can serve.
pub const READYZ: Http = Http::get("/readyz", Policy::OPERATIONAL);
/// `GET /metrics`: Prometheus.
pub const METRICS: Http = Http::get("/metrics", Policy::OPERATIONAL);
/// `GET /openapi.json`: the port's HTTP API as OpenAPI 3.1.
pub const OPENAPI: Http = Http::get("/openapi.json", Policy::OPERATIONAL);
/// `GET /debug/pprof/profile`: a CPU profile, when `debug.profiling` is on.
pub const PROFILE: Http = Http::get(crate::profiling::PROFILE_PATH, Policy::ADMIN);
/// `GET /debug/traces`: the spans this process kept.
pub const TRACES: Http = Http::get("/debug/traces", Policy::ADMIN);
/// `GET /debug/logs`: the log lines this process kept.
pub const LOGS: Http = Http::get("/debug/logs", Policy::ADMIN);

const fn common_grpc(service: &'static str, method: &'static str) -> Grpc {
    Grpc {
        service,
        method,
        policy: Policy::OPERATIONAL,
    }
}

/// The gRPC methods every port serves besides its service's own.
pub const COMMON_GRPC: &[Grpc] = &[
    common_grpc(HEALTH, "Check"),
    common_grpc(HEALTH, "Watch"),
    common_grpc(REFLECTION, "ServerReflectionInfo"),
    common_grpc(REFLECTION_ALPHA, "ServerReflectionInfo"),
];

/// The HTTP routes every port serves besides its service's own.
pub const COMMON_HTTP: &[Http] = &[HEALTHZ, READYZ, METRICS, OPENAPI, PROFILE, TRACES, LOGS];

impl Table {
    /// The entry of the gRPC method `method` of `service` on this service's port.
    pub fn grpc(&self, service: &str, method: &str) -> Option<&'static Grpc> {
        self.grpcs()
            .find(|e| e.service == service && e.method == method)
    }

    /// The entry of the HTTP route `method` `path` on this service's port.
    pub fn http(&self, method: &str, path: &str) -> Option<&'static Http> {
        self.https().find(|e| e.method == method && e.path == path)
    }

    /// Every gRPC method of the port: the service's, then [`COMMON_GRPC`].
    pub fn grpcs(&self) -> impl Iterator<Item = &'static Grpc> + use<> {
        let own = self.grpc;
        own.iter().chain(COMMON_GRPC)
    }

    /// Every HTTP route of the port: the service's, then [`COMMON_HTTP`].
    pub fn https(&self) -> impl Iterator<Item = &'static Http> + use<> {
        let own = self.http;
        own.iter().chain(COMMON_HTTP)
    }

    /// The gRPC method other services of the process call directly, if any.
    pub fn in_process(&self) -> Option<&'static Grpc> {
        self.grpc.iter().find(|e| e.policy.in_process)
    }
}
