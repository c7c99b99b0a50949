//! `movieapp profile`: fetch a CPU profile from a running service.

use std::{path::PathBuf, time::Duration};

use super::output;
use crate::config::Config;

/// Take a CPU profile of a running movieapp, as pprof or a flame graph
///
/// Asks GET /debug/pprof/profile on the service's port, which samples the whole process
/// for --seconds. The server must have debug.profiling: true; while auth is off it answers
/// callers on its own machine only, and while auth is on it needs an admin token (--token,
/// MOVIEAPP_TOKEN or `movieapp login`). Read a .pb.gz with `go tool pprof FILE` (or any
/// pprof tool); open a .svg in a browser.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp profile --addr 127.0.0.1:8083 --seconds 10 -o cpu.pb.gz
  go tool pprof -top cpu.pb.gz
  movieapp profile --addr 127.0.0.1:8081 -o flame.svg         # a flame graph")]
pub struct Args {
    /// The service's address (host:port)
    #[arg(long, value_name = "HOST:PORT")]
    addr: crate::config::value::HostPort,
    /// How long to sample, 1 to 300
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    seconds: u64,
    /// Where to write it: a .svg file gets a flame graph, anything else pprof's protobuf
    /// (gzipped, e.g. cpu.pb.gz)
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
    /// Token to send [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let flamegraph = args.output.extension().is_some_and(|e| e == "svg");
    let tls = config.tls.client()?;
    let http = match &tls {
        Some(tls) => tls.http_client()?,
        None => reqwest::Client::builder().build()?,
    };
    let url = format!(
        "{}://{}{}?seconds={}{}",
        crate::tls::scheme(tls.as_ref()),
        args.addr,
        crate::profiling::PROFILE_PATH,
        args.seconds,
        if flamegraph { "&format=flamegraph" } else { "" }
    );
    let mut request = http
        .get(&url)
        .timeout(Duration::from_secs(args.seconds + 30));
    if let Some(token) = crate::auth::session::client_token(args.token.as_deref())? {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach {}: {}",
            args.addr,
            crate::client::root_cause(&e)
        )
    })?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
        let hint = if status == reqwest::StatusCode::NOT_FOUND {
            " (is debug.profiling: true set on the server?)"
        } else {
            ""
        };
        anyhow::bail!("{} answered {status}: {message}{hint}", args.addr);
    }
    crate::files::replace(&args.output, &body, false)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", args.output.display()))?;
    output::line(&format!(
        "wrote {} ({} bytes, {} s of samples{})",
        args.output.display(),
        body.len(),
        args.seconds,
        if flamegraph {
            ", flame graph"
        } else {
            ", pprof"
        }
    ))?;
    Ok(())
}
