//! `movieapp bench-serialize`: the book's chapter-4 serialization comparison.

use std::{io::IsTerminal, path::PathBuf, time::Duration};

use anyhow::Context;
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::output;
use crate::{
    serialization::Metadata,
    serialization::{
        Format, book_value,
        measure::{self, FormatResult, Plan},
    },
};

/// Compare serialization formats for a movie's metadata (book chapter 4)
///
/// Encodes and decodes the book's value, Metadata{id:"123", title:"The Movie 2",
/// description:"Sequel of the legendary The Movie", director:"Foo Bars"}, in each format,
/// and reports the encoded size and the median ns/op with its min–max spread over repeated
/// batches after a warm-up. Encoding writes into a reused buffer; decoding builds an owned
/// value. The book's Go figures are shown beside ours as reference.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Total time to spend measuring, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3.0, value_parser = seconds, conflicts_with = "iterations")]
    duration: f64,
    /// Iterations per batch, instead of sizing batches from --duration
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Batches per operation; their median ns/op is reported
    #[arg(long, value_name = "N", default_value_t = 21, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batches: u32,
    /// Formats to compare, comma-separated [default: all]
    #[arg(long, value_enum, value_delimiter = ',', value_name = "FORMAT")]
    formats: Vec<Format>,
    /// Benchmark this Metadata JSON ({"id","title","description","director"}) instead of the
    /// book's value
    #[arg(long, value_name = "FILE")]
    value_file: Option<PathBuf>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t)]
    output: output::Format,
}

fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && (0.01..=3600.0).contains(&s) => Ok(s),
        _ => Err(format!(
            "invalid duration {text:?}: expected seconds from 0.01 to 3600"
        )),
    }
}

/// What `--output json` prints.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    mode: Mode,
    value: Metadata,
    results: Vec<Row>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Mode {
    encode: &'static str,
    decode: &'static str,
    statistic: &'static str,
    batches: u32,
    seconds: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    #[serde(flatten)]
    result: FormatResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    vs_protobuf: Option<Relative>,
}

/// Ratios to protobuf: size, encode time, decode time (1.0 = the same; 2.0 = twice).
#[derive(Serialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Relative {
    size: f64,
    encode: f64,
    decode: f64,
}

const ENCODE_MODE: &str = "into a reused buffer";
const DECODE_MODE: &str = "into an owned value";

pub fn run(args: Args) -> anyhow::Result<()> {
    let value = match &args.value_file {
        Some(path) => read_value(path)?,
        None => book_value(),
    };
    let formats = if args.formats.is_empty() {
        Format::ALL.to_vec()
    } else {
        let mut chosen = args.formats.clone();
        chosen.dedup();
        chosen
    };
    let per_operation = Duration::from_secs_f64(args.duration / (2 * formats.len()) as f64);
    let plan = Plan {
        per_operation,
        iterations: args.iterations,
        batches: args.batches,
    };

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(formats.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut results = Vec::with_capacity(formats.len());
    for &format in &formats {
        progress.set_message(format.name());
        results.push(measure::measure_format(format, &value, plan)?);
        progress.inc(1);
    }
    progress.finish_and_clear();

    let protobuf = results
        .iter()
        .find(|r| r.format == Format::Protobuf)
        .cloned();
    let rows: Vec<Row> = results
        .into_iter()
        .map(|result| Row {
            vs_protobuf: protobuf.as_ref().map(|p| Relative {
                size: result.bytes as f64 / p.bytes as f64,
                encode: result.encode.median_ns / p.encode.median_ns,
                decode: result.decode.median_ns / p.decode.median_ns,
            }),
            result,
        })
        .collect();
    let mode = Mode {
        encode: ENCODE_MODE,
        decode: DECODE_MODE,
        statistic: "median ns/op over batches, after warm-up",
        batches: args.batches,
        seconds: args.duration,
    };
    match args.output {
        output::Format::Json => output::json(&Report {
            mode,
            value,
            results: rows,
        }),
        output::Format::Table => {
            output::line(&format!(
                "Encode {ENCODE_MODE}, decode {DECODE_MODE}; median ns/op of {} batches after warm-up, [min–max].",
                args.batches
            ))?;
            output::table(&table(&rows))?;
            output::line(
                "Go reference: the book's Go code built and run on a 2-core machine (median ns/op). \
                 The book's own encode figures (i7-8850H): JSON 342, XML 2519, Protobuf 185.7 ns.",
            )?;
            Ok(())
        }
    }
}

fn read_value(path: &std::path::Path) -> anyhow::Result<Metadata> {
    // A Metadata value is at most about 65 KiB (the model's limits); allow some slack.
    let text = crate::files::read_to_string_at_most(path, 1 << 20)
        .with_context(|| format!("cannot read value file {}", path.display()))?;
    let value: Metadata = serde_json::from_str(&text).with_context(|| {
        format!(
            "value file {}: expected a Metadata JSON object {{\"id\",\"title\",\"description\",\"director\"}}",
            path.display()
        )
    })?;
    crate::model::Metadata::try_from(crate::pb::Metadata::from(value.clone()))
        .with_context(|| format!("value file {}", path.display()))?;
    Ok(value)
}

fn table(rows: &[Row]) -> Table {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "format",
        "bytes",
        "encode ns/op",
        "decode ns/op",
        "vs protobuf\nsize / enc / dec",
        "Go reference\nenc / dec ns",
        "faster than Go\nenc / dec",
    ]);
    for row in rows {
        let r = &row.result;
        let relative = row.vs_protobuf.map_or_else(String::new, |v| {
            format!("{:.2}× / {:.2}× / {:.2}×", v.size, v.encode, v.decode)
        });
        let (reference, speedup) = r.go_reference.map_or_else(
            || ("—".to_owned(), "—".to_owned()),
            |go| {
                (
                    format!("{:.0} / {:.0}", go.encode_ns, go.decode_ns),
                    format!(
                        "{:.1}× / {:.1}×",
                        go.encode_ns / r.encode.median_ns,
                        go.decode_ns / r.decode.median_ns
                    ),
                )
            },
        );
        let stat =
            |s: &measure::Stats| format!("{} [{}–{}]", ns(s.median_ns), ns(s.min_ns), ns(s.max_ns));
        table.add_row(vec![
            Cell::new(r.format.name()),
            Cell::new(r.bytes).set_alignment(CellAlignment::Right),
            Cell::new(stat(&r.encode)).set_alignment(CellAlignment::Right),
            Cell::new(stat(&r.decode)).set_alignment(CellAlignment::Right),
            Cell::new(relative),
            Cell::new(reference).set_alignment(CellAlignment::Right),
            Cell::new(speedup).set_alignment(CellAlignment::Right),
        ]);
    }
    table
}

fn ns(value: f64) -> String {
    if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}
