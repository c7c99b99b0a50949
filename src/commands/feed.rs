//! `movieapp feed`: the rating feed's state, e.g. how far the rating service is behind.

use clap::Subcommand;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::output;
use crate::config::Config;
use crate::{
    broker::PartitionLag,
    feed::{DLQ_TOPIC, RATING_GROUP, RATINGS_TOPIC},
};

/// Inspect the rating feed
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: FeedCommand,
}

#[derive(Debug, Subcommand)]
enum FeedCommand {
    /// Consumer lag: per partition, the end of the topic, the rating service's committed
    /// offset and how far behind it is; and how many events were dead-lettered
    Status {
        /// Topic
        #[arg(long, default_value = RATINGS_TOPIC)]
        topic: String,
        /// Consumer group
        #[arg(long, default_value = RATING_GROUP)]
        group: String,
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    broker: String,
    topic: String,
    group: String,
    partitions: Vec<PartitionLag>,
    /// Total lag over partitions.
    lag: u64,
    /// Records in the dead-letter topic.
    dead_letters: u64,
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let broker = config.broker_settings()?.open_existing().await?;
    // A cluster that is down fails here, in seconds, naming it.
    broker.check().await?;
    match args.command {
        FeedCommand::Status {
            topic,
            group,
            output,
        } => {
            let partitions = broker.lag(&topic, &group).await?;
            let dead_letters = broker
                .lag(DLQ_TOPIC, &group)
                .await?
                .iter()
                .map(|p| p.end_offset)
                .sum();
            let status = Status {
                broker: broker.describe(),
                lag: partitions.iter().map(|p| p.lag).sum(),
                topic,
                group,
                partitions,
                dead_letters,
            };
            match output {
                output::Format::Json => output::json(&status),
                output::Format::Table => {
                    output::line(&format!(
                        "topic {:?} on {}, group {:?}: lag {}, {} dead-lettered (topic {DLQ_TOPIC:?})",
                        status.topic, status.broker, status.group, status.lag, status.dead_letters
                    ))?;
                    output::table(&table(&status.partitions))?;
                    Ok(())
                }
            }
        }
    }
}

fn table(partitions: &[PartitionLag]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "partition",
        "end offset",
        "committed",
        "lag",
    ]);
    for p in partitions {
        table.add_row(vec![
            p.partition.to_string(),
            p.end_offset.to_string(),
            p.committed
                .map_or_else(|| "—".to_owned(), |c| c.to_string()),
            p.lag.to_string(),
        ]);
    }
    table
}
