//! `movieapp serve`: run the services.

use super::{UsageError, output};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, Override, features::Toggles, reload::Reloader};
use crate::{auth::settings::Mode, server::serve, service::ServiceKind};

/// Run the metadata, rating, movie and auth services in this process, data in SQLite
///
/// Each service listens on its own port (the book's 8081 to 8084 by default) and serves
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
    /// Host (name or address) other hosts reach this one at, registered in service
    /// discovery, e.g. the pod IP [config: advertiseHost; env: MOVIEAPP_ADVERTISE_HOST;
    /// default: the --host address, or loopback when that is 0.0.0.0]
    #[arg(long, value_name = "HOST")]
    advertise_host: Option<String>,
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
    /// Port of the auth service, 0 for a free one [config: auth.api.port; env:
    /// MOVIEAPP_AUTH_API_PORT; default: 8084]
    #[arg(long, value_name = "PORT")]
    auth_port: Option<u16>,
    /// Port of the web dashboard, 0 to turn it off; on loopback unless auth is on
    /// [config: dashboard.port; env: MOVIEAPP_DASHBOARD_PORT; default: 8085]
    #[arg(long, value_name = "PORT")]
    dashboard_port: Option<u16>,
    /// Listen on a non-loopback --host with auth.mode off, where anyone who reaches the
    /// ports may change any movie or rating (without it, serve refuses to start)
    #[arg(long)]
    insecure: bool,
}

impl Args {
    /// The `service.name` of this process's traces: the service, when it runs one.
    pub fn trace_service_name(&self) -> String {
        match self.services.as_slice() {
            [one] => one.name().to_owned(),
            _ => crate::telemetry::PROCESS.to_owned(),
        }
    }

    /// The configuration keys these flags set.
    pub fn overrides(&self) -> Vec<Override> {
        let ports = [
            ("metadata.api.port", "--metadata-port", self.metadata_port),
            ("rating.api.port", "--rating-port", self.rating_port),
            ("movie.api.port", "--movie-port", self.movie_port),
            ("auth.api.port", "--auth-port", self.auth_port),
            ("dashboard.port", "--dashboard-port", self.dashboard_port),
        ];
        let host = self.host.as_ref().map(|host| Override {
            path: "listenHost",
            value: host.clone(),
            flag: "--host",
        });
        let advertise = self.advertise_host.as_ref().map(|host| Override {
            path: "advertiseHost",
            value: host.clone(),
            flag: "--advertise-host",
        });
        let ports = ports.into_iter().filter_map(|(path, flag, port)| {
            Some(Override {
                path,
                value: port?.to_string(),
                flag,
            })
        });
        host.into_iter().chain(advertise).chain(ports).collect()
    }
}

pub async fn run(args: Args, config: Config, global: &super::GlobalArgs) -> anyhow::Result<()> {
    if config.auth.mode == Mode::Off && !args.insecure && !is_loopback(&config.listen_host) {
        return Err(UsageError(anyhow::anyhow!(
            "refusing to listen on {} with auth.mode off, where anyone who reaches a port can change any movie or rating: set auth.mode to writes or all (MOVIEAPP_AUTH_MODE), listen on 127.0.0.1, or pass --insecure",
            config.listen_host
        ))
        .into());
    }
    if config.auth.mode == Mode::Off && !is_loopback(&config.listen_host) {
        tracing::warn!(host = %config.listen_host, "--insecure: listening beyond this machine with auth off; anyone who reaches a port can change any movie or rating");
    }
    let mut announce_failed = None;
    let stop = super::signals::stop_requested()
        .map_err(|e| anyhow::anyhow!("cannot listen for SIGINT and SIGTERM: {e}"))?;
    // Feature toggles change while it runs: on SIGHUP, and when the file changes.
    let toggles = Arc::new(Toggles::new(&config.features));
    let mut flags = global.overrides();
    flags.extend(args.overrides());
    let reloader = Arc::new(Reloader::new(
        global.config.clone(),
        flags,
        config.clone(),
        Arc::clone(&toggles),
    ));
    let watching = CancellationToken::new();
    let watch = tokio::spawn(tracing::Instrument::instrument(
        reloader.watch(watching.clone()),
        crate::telemetry::context(crate::telemetry::PROCESS, "config"),
    ));
    let served = serve::run(
        &config,
        &args.services,
        &toggles,
        stop,
        |started, dashboard| {
            // Scripts and tests read these lines to learn the ports.
            let lines = started
                .iter()
                .map(|s| format!("{} listening on {}", s.service, s.addr))
                .chain(dashboard.map(|addr| format!("dashboard listening on http://{addr}/")));
            for line in lines {
                if let Err(e) = output::line(&line) {
                    announce_failed.get_or_insert(e);
                }
            }
        },
    )
    .await;
    watching.cancel();
    let _ = watch.await;
    served?;
    // A closed stdout must not stop the services, but is worth a log line.
    if let Some(e) = announce_failed {
        tracing::warn!(error = %e, "could not print the listening addresses");
    }
    Ok(())
}

/// Whether a listen host is reachable from this machine only.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts() {
        for host in ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"] {
            assert!(super::is_loopback(host), "{host}");
        }
        for host in ["0.0.0.0", "::", "[::]", "10.0.0.1", "example.com"] {
            assert!(!super::is_loopback(host), "{host}");
        }
    }
}
