//! `movieapp top`: every registered instance's state, calls/s, errors and latency, from
//! what each already serves (`/readyz`, `/metrics`), over each interval.

use std::{
    io::IsTerminal,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::output::{self, Format};
use crate::{
    config::Config,
    discovery::InstanceInfo,
    top::{self, Reading, State},
};

/// A view of every registered instance: state, calls/s, errors, latency
///
/// Finds the instances through the registry (as the other clients do) and reads what each
/// serves, `/readyz` and `/metrics`, twice an interval apart: calls/s, error %, p50 and p99
/// are over that interval (from counter and histogram deltas, not lifetime averages), and
/// the operator's own endpoints (health, metrics) are not counted. On a terminal the view
/// refreshes every interval until Ctrl-C; with --once, or when stdout is not a terminal,
/// one snapshot is printed after one interval, and the exit code is 1 if an instance is
/// unreachable. --cacert (or tls.ca) for TLS ports.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp top
  movieapp top --once -o json | jq '.instances[] | {service, callsPerSec}'
  movieapp top --interval 5s --once")]
pub struct Args {
    /// How often to refresh, and the interval the figures are over, e.g. 1s or 5s
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    interval: crate::config::value::Duration,
    /// Print one snapshot and exit (so it does when stdout is not a terminal)
    #[arg(long)]
    once: bool,
    /// Output format
    #[arg(long, short, value_enum, default_value_t)]
    output: Format,
}

/// One instance in `-o json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row<'a> {
    service: &'a str,
    instance_id: &'a str,
    address: &'a str,
    /// `serving`, `not_serving`, `refused` or `unreachable`.
    state: &'static str,
    /// Why, when not serving.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Callers that have ejected it (outlier detection).
    ejected_by: Vec<&'a str>,
    #[serde(flatten)]
    figures: top::Figures,
}

/// A snapshot in `-o json`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Snapshot<'a> {
    registry: String,
    interval_secs: f64,
    instances: Vec<Row<'a>>,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let registry = config.registry_settings()?.open_existing().await?;
    let tls = config.tls.client()?;
    let scheme = crate::tls::scheme(tls.as_ref());
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(2));
    if let Some(tls) = &tls {
        client = client.use_preconfigured_tls(tls.rustls()?);
    }
    let client = client.build()?;
    let interval = args.interval.get();
    let live = !args.once && std::io::stdout().is_terminal();

    // Every instance at once: a slow one does not hold up the others.
    let read_all = |instances: Vec<InstanceInfo>| {
        let client = client.clone();
        async move {
            let reads: Vec<_> = instances
                .iter()
                .map(|i| {
                    let (client, base) = (client.clone(), format!("{scheme}://{}", i.address));
                    tokio::spawn(async move { top::read(&client, &base).await })
                })
                .collect();
            let mut readings = Vec::with_capacity(reads.len());
            for read in reads {
                readings.push(read.await.unwrap_or_else(|e| Reading {
                    state: State::Unreachable(e.to_string()),
                    samples: Vec::new(),
                }));
            }
            (instances, readings, tokio::time::Instant::now())
        }
    };
    let mut previous = read_all(registry.instances().await?).await;
    loop {
        tokio::time::sleep(interval).await;
        let current = read_all(registry.instances().await?).await;
        let elapsed = current.2.duration_since(previous.2);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let rows: Vec<Row> = current
            .0
            .iter()
            .zip(&current.1)
            .map(|(instance, reading)| {
                let before = previous
                    .0
                    .iter()
                    .position(|p| p.instance_id == instance.instance_id)
                    .map_or(&[][..], |at| &previous.1[at].samples[..]);
                row(instance, reading, before, elapsed, now)
            })
            .collect();
        let snapshot = Snapshot {
            registry: registry.describe(),
            interval_secs: elapsed.as_secs_f64(),
            instances: rows,
        };
        if live {
            // Clear the screen and go home, so the view refreshes in place.
            output::line("\x1b[2J\x1b[H")?;
        }
        match args.output {
            Format::Json if live => output::line(&serde_json::to_string(&snapshot)?)?,
            Format::Json => output::json(&snapshot)?,
            Format::Table => {
                output::line(&format!(
                    "registry {} — {} instances, figures over {:.1}s",
                    snapshot.registry,
                    snapshot.instances.len(),
                    snapshot.interval_secs
                ))?;
                if !snapshot.instances.is_empty() {
                    output::table(&table(&snapshot.instances))?;
                }
            }
        }
        if !live {
            let unreachable: Vec<&str> = snapshot
                .instances
                .iter()
                .filter(|r| r.state == "unreachable")
                .map(|r| r.instance_id)
                .collect();
            if !unreachable.is_empty() {
                anyhow::bail!(
                    "{} of {} instances unreachable: {}",
                    unreachable.len(),
                    snapshot.instances.len(),
                    unreachable.join(", ")
                );
            }
            return Ok(());
        }
        previous = current;
    }
}

fn row<'a>(
    instance: &'a InstanceInfo,
    reading: &Reading,
    before: &[top::prometheus::Sample],
    elapsed: Duration,
    now: f64,
) -> Row<'a> {
    let (state, reason) = match &reading.state {
        State::Serving => ("serving", None),
        State::NotServing(why) => ("not_serving", Some(why.clone())),
        State::Refused(status) => ("refused", Some(format!("HTTP {status}"))),
        State::Unreachable(why) => ("unreachable", Some(why.clone())),
    };
    let figures = if reading.samples.is_empty() {
        top::Figures::default()
    } else {
        top::figures(&instance.service, before, &reading.samples, elapsed, now)
    };
    Row {
        service: &instance.service,
        instance_id: &instance.instance_id,
        address: &instance.address,
        state,
        reason,
        ejected_by: instance.ejections.iter().map(|e| e.by.as_str()).collect(),
        figures,
    }
}

fn table(rows: &[Row]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header([
        "service", "address", "state", "uptime", "calls/s", "err %", "p50 ms", "p99 ms", "stale/s",
        "shed/s",
    ]);
    let number = |v: f64| format!("{v:.1}");
    let maybe =
        |v: Option<f64>, digits: usize| v.map_or_else(|| "—".into(), |v| format!("{v:.digits$}"));
    for r in rows {
        // State in words, never by colour alone.
        let mut state = match &r.reason {
            Some(why) => format!("{}: {why}", r.state.replace('_', " ")),
            None => r.state.to_owned(),
        };
        if !r.ejected_by.is_empty() {
            state.push_str(&format!("; ejected by {}", r.ejected_by.join(", ")));
        }
        let f = &r.figures;
        table.add_row([
            output::cell(r.service),
            r.address.to_owned(),
            output::cell(&state),
            f.uptime_secs.map_or_else(|| "—".into(), uptime),
            number(f.calls_per_sec),
            maybe(f.error_percent, 1),
            maybe(f.p50_ms, 2),
            maybe(f.p99_ms, 2),
            number(f.fallbacks_per_sec),
            number(f.shed_per_sec),
        ]);
    }
    table
}

/// `3d4h`, `2h5m`, `7m3s`, `42s`.
fn uptime(secs: f64) -> String {
    let s = secs as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uptimes_read_as_people_write_them() {
        assert_eq!(super::uptime(42.9), "42s");
        assert_eq!(super::uptime(423.0), "7m3s");
        assert_eq!(super::uptime(7500.0), "2h5m");
        assert_eq!(super::uptime(3.0 * 86_400.0 + 4.0 * 3600.0), "3d4h");
    }
}
