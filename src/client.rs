//! What the CLI clients share: finding the service to talk to, connecting, and turning a
//! failed call into one line that names the problem and the value.

use std::time::Duration;

use tonic::{
    Code, Status,
    transport::{Channel, Endpoint},
};

use crate::{config::Config, server::ServiceKind};

/// How long connecting to a service may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "the {service} service's port is 0 in the configuration (a free port picked at start-up); pass --addr host:port"
    )]
    UnknownPort { service: ServiceKind },
    #[error("invalid address {addr:?}: expected host:port")]
    BadAddress { addr: String },
    #[error(
        "cannot reach the {service} service at {addr}: {reason}; start the services with `movieapp serve`, or point --addr at a running one"
    )]
    Unreachable {
        service: ServiceKind,
        addr: String,
        reason: String,
    },
    /// The service answered with an error; its message names the problem and the value.
    #[error("{}", describe(*.service, .addr, .status))]
    Call {
        service: ServiceKind,
        addr: String,
        status: Status,
    },
}

impl ClientError {
    /// The gRPC code, when the service answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Call { status, .. } => Some(status.code()),
            _ => None,
        }
    }
}

fn describe(service: ServiceKind, addr: &str, status: &Status) -> String {
    let message = status.message();
    match status.code() {
        // The service's own message already says what and which value.
        Code::NotFound | Code::InvalidArgument => message.to_owned(),
        Code::Unavailable => format!("the {service} service at {addr} is unavailable: {message}"),
        Code::DeadlineExceeded => {
            format!("the {service} service at {addr} did not answer in time: {message}")
        }
        code => format!("the {service} service at {addr} failed ({code:?}): {message}"),
    }
}

/// A connected client for one service.
pub struct Connection {
    pub service: ServiceKind,
    pub addr: String,
    pub channel: Channel,
}

impl Connection {
    /// Connects to `service` at `addr` if given, else where the configuration says it
    /// listens.
    pub async fn open(
        service: ServiceKind,
        addr: Option<&str>,
        config: &Config,
    ) -> Result<Self, ClientError> {
        let addr = match addr {
            Some(addr) => addr.to_owned(),
            None => match config.port(service) {
                0 => return Err(ClientError::UnknownPort { service }),
                port => format!("{}:{port}", config.dial_host()),
            },
        };
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|_| ClientError::BadAddress { addr: addr.clone() })?
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| ClientError::Unreachable {
                service,
                addr: addr.clone(),
                reason: root_cause(&e),
            })?;
        Ok(Self {
            service,
            addr,
            channel,
        })
    }

    /// Wraps a failed call's status with the service and address.
    pub fn failed(&self, status: Status) -> ClientError {
        ClientError::Call {
            service: self.service,
            addr: self.addr.clone(),
            status,
        }
    }
}

/// The innermost cause of an error, e.g. "Connection refused (os error 111)".
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
