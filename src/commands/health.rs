//! `movieapp health`: a one-shot gRPC health check, for scripts and container probes.

use std::time::Duration;

use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use super::{UsageError, output};
use crate::config::Config;

/// Ask a service whether it is serving (gRPC health checking), once
///
/// Exits 0 when the answer is SERVING, 1 otherwise (NOT_SERVING, unknown service, no
/// answer in time, or nothing listening), printing the status or the reason. Works with
/// any server that implements grpc.health.v1, not only movieapp's: it replaces
/// grpc_health_probe in scripts and in a container's HEALTHCHECK. --cacert, --cert and
/// --key (or tls.* in the configuration) for TLS and mutual TLS.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp health --addr 127.0.0.1:8081      # the server as a whole
  movieapp health --addr 127.0.0.1:8081 --service MetadataService
  movieapp health --addr 127.0.0.1:8083 --service movie
  movieapp health --addr localhost:8083 --cacert certs/ca.crt
  HEALTHCHECK CMD [\"movieapp\", \"health\", \"--addr\", \"127.0.0.1:8083\"]")]
pub struct Args {
    /// The server's address (host:port)
    #[arg(long, value_name = "HOST:PORT")]
    addr: crate::config::value::HostPort,
    /// The gRPC service to ask about: its gRPC name (e.g. MovieService) or movieapp's name
    /// for it (metadata, rating, movie, auth); empty: the server as a whole
    #[arg(long, value_name = "NAME", default_value = "", value_parser = grpc_service)]
    service: String,
    /// How long to wait for the answer, connection included
    #[arg(long, value_name = "DURATION", default_value = "3s")]
    timeout: crate::config::value::Duration,
}

/// movieapp's name of a service (`movie`) as the gRPC name health checking knows it by
/// (`MovieService`); any other name as given, for servers that are not movieapp's.
fn grpc_service(name: &str) -> Result<String, std::convert::Infallible> {
    Ok(name
        .parse::<crate::service::ServiceKind>()
        .map_or_else(|_| name.to_owned(), |kind| kind.grpc_name().to_owned()))
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let tls = config.tls.client()?;
    let scheme = crate::tls::scheme(tls.as_ref());
    let timeout = args.timeout.get();
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{}", args.addr))
        .map_err(|e| UsageError(anyhow::anyhow!("invalid --addr {:?}: {e}", args.addr)))?
        .connect_timeout(timeout)
        .timeout(timeout);
    if let Some(tls) = &tls {
        endpoint = endpoint.tls_config(tls.tonic())?;
    }
    let transport = crate::client::Transport::of(tls.as_ref());
    let what = if args.service.is_empty() {
        format!("the server at {}", args.addr)
    } else {
        format!("{} at {}", args.service, args.addr)
    };
    let answer = tokio::time::timeout(timeout + Duration::from_millis(100), async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(&e, transport))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await
            .map(|r| r.into_inner().status)
            .map_err(|status| match status.code() {
                tonic::Code::NotFound => "unknown service".to_owned(),
                // The connection failed (a TLS handshake refused, a plaintext client
                // hung up on): say why and what to pass, as the other clients do.
                _ if std::error::Error::source(&status).is_some() => {
                    unreachable(&status, transport)
                }
                _ => format!("{:?}: {}", status.code(), status.message()),
            })
    })
    .await
    .unwrap_or_else(|_| Err(format!("no answer within {}", args.timeout)));
    match answer {
        Ok(status) if status == ServingStatus::Serving as i32 => {
            output::line(&format!("{what}: SERVING"))?;
            Ok(())
        }
        Ok(status) => {
            let name = ServingStatus::try_from(status).map_or_else(
                |_| format!("status {status}"),
                |s| s.as_str_name().to_owned(),
            );
            anyhow::bail!("{what}: {name}")
        }
        Err(reason) => anyhow::bail!("{what}: {reason}"),
    }
}

/// Why a connection failed, and what to do about it.
fn unreachable(
    e: &(dyn std::error::Error + 'static),
    transport: crate::client::Transport,
) -> String {
    let reason = crate::client::root_cause(e);
    format!(
        "cannot connect: {reason}; {}",
        crate::client::unreachable_hint(&reason, transport)
    )
}
