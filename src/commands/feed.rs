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

/// Inspect the rating feed, and follow topics such as rating-changes
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
    /// Follow a topic as `tail -f` follows a file: each record as it is published, until
    /// Ctrl-C. E.g. `movieapp feed tail rating-changes -o json | jq .userId`
    Tail {
        /// The topic, e.g. rating-changes (every rating change) or ratings (the feed)
        topic: String,
        /// Start at the topic's first record, not at its end
        #[arg(long)]
        from_beginning: bool,
        /// table: partition:offset, key and payload on one line; json: each payload as a
        /// JSON line (a payload that is not JSON, as a string)
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
        FeedCommand::Tail {
            topic,
            from_beginning,
            output,
        } => {
            tokio::select! {
                result = tail(broker.as_ref(), &topic, from_beginning, output) => result,
                // Ctrl-C is how a tail ends: not a failure.
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
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

/// Prints the records of `topic` as they come, from its start or its end, in a consumer
/// group of its own (so no other consumer's position moves).
async fn tail(
    broker: &dyn crate::broker::Broker,
    topic: &str,
    from_beginning: bool,
    format: output::Format,
) -> anyhow::Result<()> {
    let group = format!("tail-{:016x}", rand::random::<u64>());
    let mut consumer = match from_beginning {
        true => broker.consumer(topic, &group).await?,
        false => crate::broker::consumer_at_end(broker, topic, &group).await?,
    };
    loop {
        for message in consumer
            .poll(500, std::time::Duration::from_millis(500))
            .await?
        {
            let payload = String::from_utf8_lossy(&message.payload);
            match format {
                output::Format::Json => {
                    // A JSON payload as it was published (its fields in their order);
                    // anything else as a JSON string.
                    let is_json = serde_json::from_str::<serde::de::IgnoredAny>(&payload).is_ok();
                    if is_json && !payload.contains('\n') {
                        output::line(payload.trim())?;
                    } else {
                        output::line(&serde_json::Value::String(payload.into_owned()).to_string())?;
                    }
                }
                output::Format::Table => output::line(&format!(
                    "{}:{} {} {}",
                    message.partition,
                    message.offset,
                    message.key.as_deref().unwrap_or("-"),
                    payload
                ))?,
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
