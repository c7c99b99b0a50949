//! `movieapp registry`: the window onto service discovery.

use std::{io::IsTerminal, sync::Arc};

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::output;
use crate::config::Config;
use crate::{
    discovery::{InstanceInfo, Registry, find},
    model::validate,
    service::ServiceKind,
};

/// See which service instances are registered, where, and whether they are healthy
///
/// Reads the registry `serve` uses: by default <data-dir>/registry.db, so with no flags it
/// shows the instances of every `movieapp serve` started with no flags on this host. Use
/// --registry consul://host:port for a Consul agent.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Every instance of every service: address, health, age of the last heartbeat
    List {
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// The instances of one service
    Show {
        /// Service name: metadata, rating, movie, auth, or another name registered
        #[arg(value_parser = service_name)]
        service: String,
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// Show the list, refreshed until Ctrl-C
    Watch {
        /// How often to refresh, e.g. 500ms or 2s
        #[arg(long, default_value = "1s")]
        interval: crate::config::value::Duration,
        /// Output format (json: one document per line per refresh)
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// Remove an instance, e.g. one that was killed. A live instance registers itself
    /// again at its next heartbeat.
    Deregister {
        /// Instance id, as `registry list` shows it (e.g. metadata-1a2b3c4d5e6f7a8b)
        #[arg(value_parser = instance_id)]
        instance_id: String,
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
}

fn service_name(value: &str) -> Result<String, validate::ValidationError> {
    validate::id("service name", value)
}

fn instance_id(value: &str) -> Result<String, validate::ValidationError> {
    validate::id("instance id", value)
}

/// What `--output json` prints for list and show.
#[derive(Serialize)]
struct Listing<'a> {
    registry: String,
    instances: &'a [InstanceInfo],
}

#[derive(Debug, thiserror::Error)]
#[error("instance {instance_id:?} is not registered in registry {registry}")]
pub struct UnknownInstance {
    instance_id: String,
    registry: String,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let registry: Arc<dyn Registry> = config.registry_settings()?.open_existing().await?;
    match args.command {
        RegistryCommand::List { output } => show(registry.as_ref(), None, output, false).await,
        RegistryCommand::Show { service, output } => {
            show(registry.as_ref(), Some(&service), output, false).await
        }
        RegistryCommand::Watch { interval, output } => {
            let stop = super::signals::stop_requested()
                .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C: {e}"))?;
            tokio::pin!(stop);
            let mut tick = tokio::time::interval(interval.get());
            loop {
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    _ = tick.tick() => show(registry.as_ref(), None, output, true).await?,
                }
            }
        }
        RegistryCommand::Deregister {
            instance_id,
            output,
        } => {
            let instance = find(registry.as_ref(), &instance_id)
                .await?
                .ok_or_else(|| UnknownInstance {
                    instance_id: instance_id.clone(),
                    registry: registry.describe(),
                })?;
            registry
                .deregister(&instance.instance_id, &instance.service)
                .await?;
            match output {
                output::Format::Json => output::json(&instance),
                output::Format::Table => Ok(output::line(&format!(
                    "deregistered {} ({} at {})",
                    instance.instance_id, instance.service, instance.address
                ))?),
            }
        }
    }
}

/// Prints the instances (of `service`, or all). `refresh`: one of a series (watch).
async fn show(
    registry: &dyn Registry,
    service: Option<&str>,
    format: output::Format,
    refresh: bool,
) -> anyhow::Result<()> {
    let mut instances = registry.instances().await?;
    if let Some(service) = service {
        let known = known_services(&instances);
        if !known.iter().any(|k| k == service) {
            // A typo, not an empty service: say so, and which names there are.
            anyhow::bail!(
                "no service {service:?} in registry {}: expected one of {}",
                registry.describe(),
                known.join(", ")
            );
        }
        instances.retain(|i| i.service == service);
    }
    let listing = Listing {
        registry: registry.describe(),
        instances: &instances,
    };
    match format {
        output::Format::Json if refresh => output::line(&serde_json::to_string(&listing)?)?,
        output::Format::Json => output::json(&listing)?,
        output::Format::Table => {
            if refresh && std::io::stdout().is_terminal() {
                // Clear the screen and go home, so the view refreshes in place.
                output::line("\x1b[2J\x1b[H")?;
            }
            let healthy = instances.iter().filter(|i| i.healthy).count();
            output::line(&format!(
                "registry {} — {} instance{}, {healthy} healthy",
                listing.registry,
                instances.len(),
                if instances.len() == 1 { "" } else { "s" },
            ))?;
            if !instances.is_empty() {
                output::table(&table(&instances))?;
            }
        }
    }
    Ok(())
}

/// movieapp's services, then any other name registered.
fn known_services(instances: &[InstanceInfo]) -> Vec<String> {
    let mut known: Vec<String> = ServiceKind::ALL
        .iter()
        .map(|k| k.name().to_owned())
        .collect();
    for i in instances {
        if !known.contains(&i.service) {
            known.push(i.service.clone());
        }
    }
    known
}

fn table(instances: &[InstanceInfo]) -> Table {
    let mut table = Table::new();
    // Ownership (book chapter 16) when any instance says who answers for it.
    let owned = instances.iter().any(|i| i.ownership.is_some());
    let mut header = vec!["service", "instance", "address", "health", "last heartbeat"];
    if owned {
        header.push("ownership");
    }
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    for i in instances {
        let mut row = vec![
            i.service.clone(),
            i.instance_id.clone(),
            i.address.clone(),
            health(i),
            i.last_heartbeat_secs.map_or_else(|| "—".to_owned(), ago),
        ];
        if owned {
            row.push(ownership(i));
        }
        table.add_row(row);
    }
    table
}

/// "accountable: …", "support: …" and "on call: …", one per line, for those set.
fn ownership(i: &InstanceInfo) -> String {
    let Some(o) = &i.ownership else {
        return "—".to_owned();
    };
    [
        ("accountable", &o.accountable),
        ("support", &o.support_channel),
        ("on call", &o.on_call_rotation),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .map(|(label, value)| format!("{label}: {}", output::cell(value)))
    .collect::<Vec<_>>()
    .join("\n")
}

/// "healthy", or "unhealthy", with the callers that have it ejected.
fn health(i: &InstanceInfo) -> String {
    let mut health = if i.healthy { "healthy" } else { "unhealthy" }.to_owned();
    for e in &i.ejections {
        health.push_str(&format!(
            "\nejected by {} ({:.0}s left)",
            e.by,
            e.remaining_secs.ceil()
        ));
    }
    health
}

fn ago(secs: f64) -> String {
    match secs {
        s if s < 10.0 => format!("{s:.1}s ago"),
        s if s < 120.0 => format!("{s:.0}s ago"),
        s => format!("{:.0}m ago", s / 60.0),
    }
}
