//! What the CLI clients share: finding the service through the registry (or `--addr`),
//! calling it with the same balancing and retry the services use, and turning a failure into
//! one line that names the problem and the value.

pub mod upload;

use std::{future::Future, sync::Arc};

use tonic::{Code, Status, transport::Channel};

use crate::{
    calls::retry::{CallError, instance_failed},
    config::{Config, ConfigError},
    discovery::{
        DiscoveryError, Registry, RegistryError, balancer::Balancer, static_list::StaticRegistry,
    },
    service::ServiceKind,
    telemetry::trace_ids::{self, TraceIds},
};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid --addr {addr:?}: expected host:port")]
    BadAddress { addr: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "no healthy instance of \"{service}\" in registry {registry}; start the services with `movieapp serve`, or pass --addr host:port"
    )]
    NoInstance {
        service: ServiceKind,
        registry: String,
    },
    #[error(
        "cannot reach the {service} service at {addr}: {reason}; {}",
        unreachable_hint(reason, *transport)
    )]
    Unreachable {
        service: ServiceKind,
        addr: String,
        reason: String,
        transport: Transport,
    },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    Session(#[from] crate::auth::session::SessionError),
    /// Every instance is out of rotation (outlier detection).
    #[error(transparent)]
    Ejected(DiscoveryError),
    /// The service answered with an error; its message names the problem and the value,
    /// and ends with the call's trace id (its log lines carry it too).
    #[error("{}{}", describe(*.service, .addr, .status), trace_of(.status))]
    Call {
        service: ServiceKind,
        addr: String,
        status: Status,
    },
}

impl ClientError {
    /// True for mistakes in how the client was called (exit code 2).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::BadAddress { .. }
                | Self::Config(_)
                | Self::Registry(RegistryError::Open { .. })
                | Self::Tls(_)
        )
    }
}

/// ` (trace …)`: the trace id the server answered with, if it did.
fn trace_of(status: &Status) -> String {
    status
        .metadata()
        .get(trace_ids::TRACERESPONSE)
        .and_then(|v| trace_ids::parse(v.as_bytes()))
        .map(|ids| format!(" (trace {})", ids.trace_id()))
        .unwrap_or_default()
}

fn describe(service: ServiceKind, addr: &str, status: &Status) -> String {
    let message = status.message();
    match status.code() {
        // The service's own message already says what and which value.
        Code::NotFound | Code::InvalidArgument | Code::PermissionDenied => message.to_owned(),
        Code::Unauthenticated if message.contains("token expired") => {
            crate::auth::session::SessionError::Expired.to_string()
        }
        Code::Unauthenticated => message.to_owned(),
        Code::Unavailable => format!("the {service} service at {addr} is unavailable: {message}"),
        Code::DeadlineExceeded => {
            format!("the {service} service at {addr} did not answer in time: {message}")
        }
        code => format!("the {service} service at {addr} failed ({code:?}): {message}"),
    }
}

/// A service to call: found through the registry, or at a fixed `--addr`.
pub struct Target {
    service: ServiceKind,
    balancer: Balancer,
    /// Sent as `authorization: Bearer …` with every call.
    token: Option<tonic::metadata::AsciiMetadataValue>,
    /// How calls are made: plaintext, TLS, or TLS with a client certificate.
    transport: Transport,
    /// The trace its calls are made in, sent as `traceparent`: the services answer and
    /// log under it.
    trace: TraceIds,
    /// Print the trace id of each call that succeeds (failures always say it).
    verbose: bool,
}

impl Target {
    /// Resolves `service` at `addr` if given, else through the configured registry.
    pub async fn open(
        service: ServiceKind,
        addr: Option<&crate::config::value::HostPort>,
        config: &Config,
    ) -> Result<Self, ClientError> {
        let registry: Arc<dyn Registry> = match addr {
            Some(addr) => Arc::new(StaticRegistry::new(vec![(
                service.name().to_owned(),
                vec![addr.to_string()],
            )])),
            // Looking up creates nothing: no registry yet means no instance yet.
            None => match config.registry_settings()?.open_existing().await {
                Ok(registry) => registry,
                Err(RegistryError::Missing { path }) => {
                    return Err(ClientError::NoInstance {
                        service,
                        registry: format!("sqlite:{}", path.display()),
                    });
                }
                Err(e) => return Err(e.into()),
            },
        };
        let tls = config.tls.client()?;
        Ok(Self {
            service,
            transport: Transport::of(tls.as_ref()),
            balancer: Balancer::with_settings(service.name(), registry, config.calls.clone())
                .with_tls(tls),
            token: None,
            trace: TraceIds::new(None),
            verbose: false,
        })
    }

    /// Prints the trace id of each call that succeeds, on stderr.
    pub fn verbose(mut self, verbose: bool) -> Self {
        self.verbose = verbose;
        self
    }

    /// Sends `token` with every call (`None`: none).
    pub fn with_token(mut self, token: Option<&str>) -> Result<Self, ClientError> {
        self.token = token
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .map_err(|_| {
                ClientError::Config(ConfigError::Invalid(
                    "the token holds characters a header cannot carry: expected a JWT".into(),
                ))
            })?;
        Ok(self)
    }

    /// A request for an attempt of a call: it carries the attempt's deadline as
    /// `grpc-timeout`, so the server gives up when the client does, and the token.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        crate::calls::deadline::bound(&mut request);
        if let Some(token) = &self.token {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        if let Ok(value) = self.trace.header().parse() {
            request.metadata_mut().insert(trace_ids::TRACEPARENT, value);
        }
        request
    }

    /// Calls the service (retrying once on another instance if one is unavailable).
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: FnMut(Channel, &str) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let answer = self.balancer.call(call).await.map_err(|e| self.failed(e))?;
        if self.verbose {
            use std::io::Write;
            // A closed stderr is no reason to fail a call that succeeded.
            let _ = writeln!(
                std::io::stderr(),
                "{} answered (trace {})",
                self.service,
                self.trace.trace_id()
            );
        }
        Ok(answer)
    }

    fn failed(&self, e: CallError) -> ClientError {
        let service = self.service;
        match e {
            CallError::Discovery(DiscoveryError::NoHealthyInstance { registry, .. }) => {
                ClientError::NoInstance { service, registry }
            }
            CallError::Discovery(DiscoveryError::Registry(e)) => ClientError::Registry(e),
            CallError::Discovery(DiscoveryError::BadAddress { addr, .. }) => {
                ClientError::BadAddress { addr }
            }
            CallError::Discovery(e @ DiscoveryError::AllEjected { .. }) => ClientError::Ejected(e),
            // A transport error behind it: the server was not reached, or went away (or
            // hung up on a plaintext client: a TLS port does).
            CallError::Status { addr, status }
                if (instance_failed(&status) || self.transport == Transport::Plaintext)
                    && std::error::Error::source(&status).is_some() =>
            {
                ClientError::Unreachable {
                    service,
                    addr,
                    reason: root_cause(&status),
                    transport: self.transport,
                }
            }
            CallError::Status { addr, status } => ClientError::Call {
                service,
                addr,
                status,
            },
        }
    }
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
/// How a client spoke to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Plaintext,
    /// TLS without a client certificate.
    Tls,
    /// TLS with a client certificate.
    MutualTls,
}

impl Transport {
    /// How a client with `tls` (none: plaintext) speaks.
    pub fn of(tls: Option<&crate::tls::ClientTls>) -> Self {
        match tls {
            None => Self::Plaintext,
            Some(tls) if tls.has_identity() => Self::MutualTls,
            Some(_) => Self::Tls,
        }
    }
}

/// What to do about a connection that failed for `reason` (its root cause): the TLS
/// setting to change when the handshake says which, else where to find a server, with the
/// TLS settings that could explain it.
pub fn unreachable_hint(reason: &str, transport: Transport) -> &'static str {
    if reason.contains("CertificateRequired") {
        "the server asks for a client certificate (mutual TLS): pass --cert and --key, or set tls.clientCert and tls.clientKey"
    } else if reason.contains("UnknownIssuer") || reason.contains("invalid peer certificate") {
        "the server's certificate is not signed by the CA given: pass the CA that signed it with --cacert, or set tls.ca"
    } else if reason.contains("speaks TLS only") {
        "pass --cacert with the CA that signed the server's certificate, or set tls.ca"
    } else {
        match transport {
            Transport::Plaintext => {
                "start the services with `movieapp serve`, or point --addr at a running one (if it speaks TLS, pass --cacert or set tls.ca)"
            }
            // Under TLS 1.3 a server that wants a client certificate may only hang up
            // after the handshake, so its alert is not always what the client reads.
            Transport::Tls => {
                "start the services with `movieapp serve`, or point --addr at a running one (if the server asks for client certificates, mutual TLS, pass --cert and --key)"
            }
            Transport::MutualTls => {
                "start the services with `movieapp serve`, or point --addr at a running one"
            }
        }
    }
}

pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
