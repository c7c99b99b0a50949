//! `movieapp bench-load`: a load generator built in, like ghz.

use std::{
    io::IsTerminal,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::{UsageError, output};
use crate::{
    auth::session,
    config::Config,
    loadgen::{self, Bound, Call, Plan, Report, request},
    pb::{
        self, metadata_service_client::MetadataServiceClient,
        rating_service_client::RatingServiceClient,
    },
    service::ServiceKind,
};

/// Load-test a service: one call, repeated, with latency percentiles
///
/// Closed loop by default: -c connections, each with --streams calls in flight, each
/// sending its next call when the last one answered. With --rate, open loop: calls are
/// sent at that rate whatever the server does, and each call's latency is counted from when
/// it was meant to be sent, so a stall shows as the wait it caused (coordinated omission
/// corrected). Latencies go into an HdrHistogram.
///
/// The result: calls/s, p50/p90/p99/p99.9/max latency, errors by gRPC code, and, when the
/// target serves /metrics, the server's CPU time per call (process_cpu_seconds_total before
/// and after; the whole process, so every service it runs). Only loopback targets unless
/// --allow-remote: a load test is not something to point at someone else's server by
/// mistake. The token (--token, MOVIEAPP_TOKEN or `movieapp login`'s) and --cacert are
/// used as by the other clients.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp bench-load --seed --addr 127.0.0.1:8083 \\
    --call MovieService/GetMovieDetails -d '{\"movie_id\":\"1\"}'
  movieapp bench-load --addr 127.0.0.1:8081 \\
    --call MetadataService/GetMetadata -d '{\"movie_id\":\"1\"}' -c 1 --streams 64
  movieapp bench-load --addr 127.0.0.1:8083 \\
    --call MovieService/GetMovieDetails -d '{\"movie_id\":\"1\"}' \\
    --rate 2000 --duration 30s
  movieapp bench-load --addr 127.0.0.1:8083 --http 'GET /movie?id=1' \\
    -n 10000 -o json
  movieapp bench-load --addr 127.0.0.1:8082 --call RatingService/PutRating \\
    -d '{\"recordId\":\"{n}\",\"recordType\":\"movie\",\"userId\":\"u\",\"ratingValue\":5}'")]
pub struct Args {
    /// The service's address (host:port)
    #[arg(long, value_name = "HOST:PORT")]
    addr: crate::config::value::HostPort,
    /// The gRPC method to call, Service/Method (e.g. MovieService/GetMovieDetails)
    #[arg(
        long,
        value_name = "METHOD",
        required_unless_present = "http",
        conflicts_with = "http"
    )]
    call: Option<String>,
    /// The request, as JSON (the proto3 JSON mapping)
    #[arg(short = 'd', long = "data", value_name = "JSON", default_value = "{}")]
    data: String,
    /// An HTTP request instead: METHOD and path, e.g. 'GET /movie?id=1'
    #[arg(long, value_name = "REQUEST")]
    http: Option<String>,
    /// How many different requests to send, cycling: `{n}` in the request (--data or
    /// --http) becomes 0, 1, … N-1 in successive calls [default with {n}: 100000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    vary: Option<u64>,
    /// Connections
    #[arg(short = 'c', long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: u32,
    /// Calls in flight on each connection (closed loop)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000), conflicts_with = "rate")]
    streams: u32,
    /// Calls per second, open loop
    #[arg(long, value_name = "PER_SECOND", value_parser = rate)]
    rate: Option<f64>,
    /// How long to run, e.g. 10s or 2m
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        conflicts_with = "calls"
    )]
    duration: crate::config::value::Duration,
    /// Stop after this many calls instead
    #[arg(short = 'n', long = "calls", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    calls: Option<u64>,
    /// How long one call may take
    #[arg(long, value_name = "DURATION", default_value = "5s")]
    timeout: crate::config::value::Duration,
    /// First put movie 1 (metadata and two ratings) through the services the registry
    /// knows, so GetMovieDetails, GetMetadata and GetAggregatedRating of "1" have an answer
    #[arg(long)]
    seed: bool,
    /// Allow a target that is not on this machine
    #[arg(long)]
    allow_remote: bool,
    /// Token to send [env: MOVIEAPP_TOKEN; default: the one `movieapp login` kept]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t)]
    output: output::Format,
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if r.is_finite() && (0.1..=1_000_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "invalid rate {text:?}: expected calls per second from 0.1 to 1000000"
        )),
    }
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let usage = |e: String| anyhow::Error::from(UsageError(anyhow::anyhow!(e)));
    let vary = args.vary.map(|n| n as usize);
    let call = match (&args.call, &args.http) {
        (Some(method), _) => {
            Call::Grpc(request::grpc(method, &args.data, vary).map_err(|e| usage(e.to_string()))?)
        }
        (None, Some(http)) => {
            Call::Http(request::http(http, vary).map_err(|e| usage(e.to_string()))?)
        }
        (None, None) => return Err(usage("give --call METHOD or --http REQUEST".into())),
    };
    check_target(args.addr.as_str(), args.allow_remote).await?;
    let token = session::client_token(args.token.as_deref())?;
    let tls = config.tls.client()?;
    if args.seed {
        seed(&config, token.as_deref()).await?;
    }
    let plan = Plan {
        call,
        target: args.addr.to_string(),
        tls: tls.clone(),
        token,
        connections: args.connections as usize,
        streams: args.streams as usize,
        rate: args.rate,
        bound: match args.calls {
            Some(n) => Bound::Calls(n),
            None => Bound::Duration(args.duration.get()),
        },
        timeout: args.timeout.get(),
    };
    let metrics = match &tls {
        Some(tls) => tls.http_client()?,
        None => reqwest::Client::new(),
    };
    let base = format!("{}://{}", crate::tls::scheme(tls.as_ref()), args.addr);
    let cpu_before = loadgen::server_cpu_seconds(&metrics, &base).await;
    let done = Arc::new(AtomicU64::new(0));
    let progress = progress(&plan, Arc::clone(&done));
    let result = loadgen::run(&plan, done).await;
    if let Some((bar, ticker)) = progress {
        ticker.abort();
        bar.finish_and_clear();
    }
    let mut report = result?;
    let cpu_after = loadgen::server_cpu_seconds(&metrics, &base).await;
    report.server_cpu = cpu_before.zip(cpu_after).map(|(b, a)| (a - b).max(0.0));
    match args.output {
        output::Format::Json => output::json(&Summary::of(&report))?,
        output::Format::Table => output::table(&table(&report))?,
    }
    if report.ok == 0 {
        anyhow::bail!(
            "no call succeeded ({}); check the method, the request and the token",
            errors_text(&report)
        );
    }
    Ok(())
}

/// Refuses a target off this machine unless allowed, and names it when it does not resolve.
async fn check_target(addr: &str, allow_remote: bool) -> anyhow::Result<()> {
    let usage = |e: String| anyhow::Error::from(UsageError(anyhow::anyhow!(e)));
    let resolved: Vec<_> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| usage(format!("cannot resolve --addr {addr:?}: {e}")))?
        .collect();
    let remote = resolved.is_empty() || resolved.iter().any(|a| !a.ip().is_loopback());
    if remote && !allow_remote {
        return Err(usage(format!(
            "refusing to load-test {addr}: it is not this machine; pass --allow-remote if you mean it"
        )));
    }
    Ok(())
}

/// Puts movie 1 and two ratings through the services the registry knows.
async fn seed(config: &Config, token: Option<&str>) -> anyhow::Result<()> {
    let metadata = crate::client::Target::open(ServiceKind::Metadata, None, config)
        .await?
        .with_token(token)?;
    let put = pb::PutMetadataRequest {
        metadata: Some(pb::Metadata {
            id: "1".into(),
            title: "The Movie".into(),
            description: "The Movie, the one and only".into(),
            director: "Mr. D".into(),
        }),
    };
    metadata
        .call(|channel, _| {
            let request = metadata.request(put.clone());
            async move {
                MetadataServiceClient::new(channel)
                    .put_metadata(request)
                    .await
            }
        })
        .await?;
    let rating = crate::client::Target::open(ServiceKind::Rating, None, config)
        .await?
        .with_token(token)?;
    for (user, value) in [("alex", 5), ("sam", 4)] {
        let put = pb::PutRatingRequest {
            user_id: user.into(),
            record_id: "1".into(),
            record_type: "movie".into(),
            rating_value: value,
        };
        rating
            .call(|channel, _| {
                let request = rating.request(put.clone());
                async move { RatingServiceClient::new(channel).put_rating(request).await }
            })
            .await?;
    }
    Ok(())
}

/// A progress bar on a terminal, moved on by a ticker until aborted.
fn progress(
    plan: &Plan,
    done: Arc<AtomicU64>,
) -> Option<(ProgressBar, tokio::task::JoinHandle<()>)> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let (bar, by_time) = match plan.bound {
        Bound::Calls(n) => (ProgressBar::new(n), false),
        Bound::Duration(d) => (ProgressBar::new(d.as_millis() as u64), true),
    };
    let template = if by_time {
        "{spinner} {elapsed_precise} [{bar:30}] {msg}"
    } else {
        "{spinner} {elapsed_precise} [{bar:30}] {pos}/{len} calls {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    let ticker_bar = bar.clone();
    let started = std::time::Instant::now();
    let ticker = tokio::spawn(async move {
        loop {
            let calls = done.load(std::sync::atomic::Ordering::Relaxed);
            if by_time {
                ticker_bar.set_position(started.elapsed().as_millis() as u64);
                ticker_bar.set_message(format!("{calls} calls"));
            } else {
                ticker_bar.set_position(calls);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some((bar, ticker))
}

fn errors_text(report: &Report) -> String {
    if report.errors.is_empty() {
        return "none".into();
    }
    report
        .errors
        .iter()
        .map(|(code, n)| format!("{code}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `--output json` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    call: String,
    calls: u64,
    ok: u64,
    errors: std::collections::BTreeMap<String, u64>,
    seconds: f64,
    calls_per_second: f64,
    latency_ms: Latency,
    /// `null` when the target serves no /metrics.
    server_cpu_us_per_call: Option<f64>,
}

#[derive(Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p999: f64,
    max: f64,
}

impl Summary {
    fn of(r: &Report) -> Self {
        Self {
            call: r.call.clone(),
            calls: r.calls(),
            ok: r.ok,
            errors: r.errors.clone(),
            seconds: r.elapsed.as_secs_f64(),
            calls_per_second: r.calls_per_second(),
            latency_ms: Latency {
                p50: r.latency_ms(0.5),
                p90: r.latency_ms(0.9),
                p99: r.latency_ms(0.99),
                p999: r.latency_ms(0.999),
                max: r.latency.max() as f64 / 1000.0,
            },
            server_cpu_us_per_call: r.server_cpu_per_call_us(),
        }
    }
}

fn table(r: &Report) -> Table {
    let s = Summary::of(r);
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    let mut row = |name: &str, value: String| {
        table.add_row(vec![
            Cell::new(name),
            Cell::new(value).set_alignment(CellAlignment::Right),
        ]);
    };
    row("call", s.call.clone());
    row("calls", format!("{} in {:.1}s", s.calls, s.seconds));
    row("calls/s", format!("{:.0}", s.calls_per_second));
    for (name, ms) in [
        ("p50", s.latency_ms.p50),
        ("p90", s.latency_ms.p90),
        ("p99", s.latency_ms.p99),
        ("p99.9", s.latency_ms.p999),
        ("max", s.latency_ms.max),
    ] {
        row(name, format!("{ms:.3} ms"));
    }
    row("errors", errors_text(r));
    row(
        "server CPU/call",
        s.server_cpu_us_per_call
            .map_or_else(|| "- (no /metrics)".into(), |us| format!("{us:.1} µs")),
    );
    table
}
