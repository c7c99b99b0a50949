//! Rendering command output: readable tables by default, JSON for scripts. Every write goes
//! through here, so a closed pipe (`movieapp … | head`) is an error the caller can recognise
//! instead of a panic.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

/// How a client prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A readable table
    #[default]
    Table,
    /// JSON, one document per command, for scripts
    Json,
}

/// Options shared by every client command.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Address of the service (host:port) [default: where the configuration says it
    /// listens, e.g. 127.0.0.1:8083 for movie]
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Output format
    #[arg(long, short, value_enum, default_value_t)]
    pub output: Format,
}

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// Writes `value` as pretty JSON to stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    line(&text)?;
    Ok(())
}

/// A two-column table of field names and values.
pub fn fields<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (name, value) in rows {
        table.add_row(vec![name.to_owned(), value]);
    }
    table
}

/// Writes a table to stdout.
pub fn table(table: &Table) -> std::io::Result<()> {
    line(&table.to_string())
}
