//! `movieapp serve`: run the services.

use super::{UsageError, output};
use crate::config::Config;
use crate::{
    server::serve::{self, ServeConfig},
    service::ServiceKind,
};

/// Run the metadata, rating and movie services in this process, data in SQLite
///
/// Each service listens on its own port (the book's 8081, 8082, 8083 by default) and serves
/// gRPC with health checking and server reflection, so `grpcurl -plaintext localhost:8082
/// list` works. Prints one line per service with the address it bound. SIGINT or SIGTERM
/// stops it gracefully: in-flight calls finish, then it exits 0.
///
/// Every port also serves the HTTP/JSON API, /healthz, /readyz and Prometheus /metrics.
/// Logs go to stderr (--log-format json for a log pipeline). OpenTelemetry traces are sent
/// over OTLP/gRPC when a collector is configured: OTEL_EXPORTER_OTLP_ENDPOINT=http://host:4317
/// or telemetry.otlp.endpoint in the config.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Services to run, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = ServiceKind::ALL)]
    services: Vec<ServiceKind>,
    /// Address to listen on (0.0.0.0 for all interfaces) [config: listenHost; env:
    /// MOVIEAPP_LISTEN_HOST; default: 127.0.0.1]
    #[arg(long, value_name = "HOST")]
    host: Option<String>,
    /// Port of the metadata service, 0 for a free one [config: metadata.api.port; env:
    /// MOVIEAPP_METADATA_API_PORT; default: 8081]
    #[arg(long, value_name = "PORT")]
    metadata_port: Option<u16>,
    /// Port of the rating service, 0 for a free one [config: rating.api.port; env:
    /// MOVIEAPP_RATING_API_PORT; default: 8082]
    #[arg(long, value_name = "PORT")]
    rating_port: Option<u16>,
    /// Port of the movie service, 0 for a free one [config: movie.api.port; env:
    /// MOVIEAPP_MOVIE_API_PORT; default: 8083]
    #[arg(long, value_name = "PORT")]
    movie_port: Option<u16>,
}

impl Args {
    /// The `service.name` of this process's traces: the service, when it runs one.
    pub fn trace_service_name(&self) -> String {
        match self.services.as_slice() {
            [one] => one.name().to_owned(),
            _ => crate::telemetry::PROCESS.to_owned(),
        }
    }
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let host = args.host.unwrap_or_else(|| config.listen_host.clone());
    if host.trim().is_empty() {
        return Err(UsageError(anyhow::anyhow!(
            "invalid --host \"\": expected an address such as 127.0.0.1"
        ))
        .into());
    }
    let serve_config = ServeConfig {
        services: args.services,
        host,
        metadata_port: args.metadata_port.unwrap_or(config.metadata_port),
        rating_port: args.rating_port.unwrap_or(config.rating_port),
        movie_port: args.movie_port.unwrap_or(config.movie_port),
        data_dir: config.resolved_data_dir()?,
        registry: config.registry_settings()?,
        heartbeat_interval: config.heartbeat_interval,
        broker: config.broker_settings()?,
    };
    tracing::info!(data_dir = %serve_config.data_dir.display(), "starting");
    let mut announce_failed = None;
    let stop = super::signals::stop_requested()
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGINT and SIGTERM: {e}"))?;
    serve::run(serve_config, stop, |started| {
        for s in started {
            // Scripts and tests read these lines to learn the ports.
            if let Err(e) = output::line(&format!("{} listening on {}", s.service, s.addr)) {
                announce_failed.get_or_insert(e);
            }
        }
    })
    .await?;
    // A closed stdout must not stop the services, but is worth a log line.
    if let Some(e) = announce_failed {
        tracing::warn!(error = %e, "could not print the listening addresses");
    }
    Ok(())
}
