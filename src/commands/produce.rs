//! `movieapp produce`: publish rating events to the feed, as the book's data provider does.

use std::{io::IsTerminal, path::PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use super::output;
use crate::config::Config;
use crate::feed::{self, RATINGS_TOPIC, Summary};

/// Publish rating events to the rating feed (book chapter 6)
///
/// Reads the book's JSON array of events (or JSON lines), validates every event before
/// sending any, and publishes each keyed by its record id, so a record's events stay in
/// order in one partition. A running `movieapp serve` applies them. With --generate it
/// publishes synthetic events instead, reproducible by seed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to publish: a JSON array ({"userId","recordId","recordType","value",
    /// "providerId","eventType"}) or one JSON event per line
    #[arg(
        long,
        value_name = "FILE",
        default_value = "fixtures/ratingsdata.json",
        conflicts_with = "generate"
    )]
    file: PathBuf,
    /// Topic to publish to
    #[arg(long, default_value = RATINGS_TOPIC, value_parser = topic)]
    topic: String,
    /// Publish N synthetic valid events instead of a file (for load tests)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    generate: Option<u64>,
    /// Seed of --generate: the same seed gives the same events
    #[arg(long, default_value_t = 1, requires = "generate")]
    seed: u64,
    /// Distinct users in --generate
    #[arg(long, default_value_t = 1000, requires = "generate", value_parser = clap::value_parser!(u64).range(1..))]
    users: u64,
    /// Distinct records (movies) in --generate
    #[arg(long, default_value_t = 100, requires = "generate", value_parser = clap::value_parser!(u64).range(1..))]
    records: u64,
    /// Percent of --generate's events that rate record 1, a best seller (0: every record
    /// alike)
    #[arg(long, default_value_t = 0, requires = "generate", value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(0..=100))]
    hot: u8,
    /// Output format of the summary
    #[arg(long, short, value_enum, default_value_t)]
    output: output::Format,
}

fn topic(value: &str) -> Result<String, crate::model::ValidationError> {
    crate::model::validate::id("topic", value)
}

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    // Read and validate everything before connecting: a bad file sends nothing.
    let (events, total): (Box<dyn Iterator<Item = _> + Send>, u64) = match args.generate {
        Some(n) => (
            Box::new(feed::generate(
                n,
                args.seed,
                args.users,
                args.records,
                args.hot,
            )),
            n,
        ),
        None => {
            let events = feed::read_events(&args.file)?;
            let n = events.len() as u64;
            (Box::new(events.into_iter()), n)
        }
    };
    let broker = config.broker_settings()?.open().await?;
    // A cluster that is down fails here, in seconds, naming it.
    broker.check().await?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} events {per_sec} eta {eta}")
        {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let summary = feed::publish(broker.as_ref(), &args.topic, events, |sent| {
        bar.set_position(sent)
    })
    .await?;
    bar.finish_and_clear();
    match args.output {
        output::Format::Json => output::json(&summary),
        output::Format::Table => Ok(output::line(&describe(&summary))?),
    }
}

fn describe(s: &Summary) -> String {
    let partitions: Vec<String> = s
        .per_partition
        .iter()
        .map(|(p, n)| format!("partition {p}: {n}"))
        .collect();
    format!(
        "sent {} event{} to topic {:?} on {} in {:.3} s ({:.0} events/s); {}",
        s.events,
        if s.events == 1 { "" } else { "s" },
        s.topic,
        s.broker,
        s.elapsed_secs,
        s.events_per_sec,
        partitions.join(", ")
    )
}
