//! `movieapp top`: every registered instance's state, calls/s, errors and latency, from
//! what each already serves (`/readyz`, `/metrics`), over each interval.

use std::{io::IsTerminal, time::Duration};

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};

use super::output::{self, Format};
use crate::{
    config::Config,
    top::{
        view,
        watch::{Instance, Watcher},
    },
};

/// A live view of every registered instance: state, calls/s, errors, latency
///
/// Finds the instances through the registry (as the other clients do) and reads what each
/// serves, `/readyz` and `/metrics`, every interval: calls/s, error %, p50 and p99 are over
/// that interval (from counter and histogram deltas, not lifetime averages), and the
/// operator's own endpoints (health, metrics) are not counted. The footer shows the rating
/// feed's lag and dead letters and the locks held.
///
/// On a terminal: a live view. Keys: ↑↓ or j/k to move, Enter for the instance's
/// endpoints (Esc: back), s to change the sort column, / to filter by service or address,
/// q or Ctrl-C to quit. NO_COLOR turns colours off; states are always in words.
///
/// With --once, or when stdout is not a terminal: one snapshot after one interval (-o json
/// for scripts), exit 1 if an instance is unreachable. --cacert (or tls.ca) for TLS ports.
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

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let registry = config.registry_settings()?.open_existing().await?;
    let tls = config.tls.client()?;
    let scheme = crate::tls::scheme(tls.as_ref());
    let mut client = reqwest::Client::builder().timeout(Duration::from_secs(2));
    if let Some(tls) = &tls {
        client = client.use_preconfigured_tls(tls.rustls()?);
    }
    let mut watcher = Watcher::new(registry, client.build()?, scheme, locks(&config).await);
    let interval = args.interval.get();
    if !args.once && std::io::stdout().is_terminal() {
        let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        return crate::top::view::run(watcher, interval, color).await;
    }
    watcher.snapshot().await?;
    tokio::time::sleep(interval).await;
    let snapshot = watcher.snapshot().await?;
    match args.output {
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
    let unreachable = snapshot.unreachable();
    if !unreachable.is_empty() {
        anyhow::bail!(
            "{} of {} instances unreachable: {}",
            unreachable.len(),
            snapshot.instances.len(),
            unreachable.join(", ")
        );
    }
    Ok(())
}

/// The lock store, when there is one to read: reading must not create one.
async fn locks(config: &Config) -> Option<std::sync::Arc<dyn crate::lock::LockBackend>> {
    if config.lock.backend == crate::lock::settings::LockKind::Sqlite {
        let file = config
            .resolved_data_dir()
            .ok()?
            .join(crate::lock::sqlite::FILE_NAME);
        if !file.exists() {
            return None;
        }
    }
    let locks = super::lock::open(config).await.ok()?;
    Some(std::sync::Arc::clone(locks.backend()))
}

fn table(rows: &[Instance]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(view::COLUMNS);
    for r in rows {
        table.add_row(view::cells(r).iter().map(|c| output::cell(c)));
    }
    table
}
