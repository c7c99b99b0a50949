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

/// Output that could not be written. A closed pipe (`| head`) is still recognisable by
/// its source and ends the command quietly; anything else is exit 1 with this message.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the output to stdout")]
pub struct OutputError(#[source] pub std::io::Error);

/// Whether descriptor 1 was closed when the process started (see [`note_stdout`]).
static STDOUT_CLOSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Notes whether stdout was closed when the process was loaded. The Rust runtime reopens a
/// closed descriptor 1 on /dev/null before `main`, so only the binary, looking earlier, can
/// tell; writing output then is an error rather than output silently lost.
pub fn note_stdout(closed_at_start: bool) {
    STDOUT_CLOSED.get_or_init(|| closed_at_start);
}

/// Writes `text` and a newline to stdout.
pub fn line(text: &str) -> Result<(), OutputError> {
    if *STDOUT_CLOSED.get_or_init(stdout_closed) {
        // Rust's stdout swallows writes to a closed descriptor; say so instead.
        return Err(OutputError(std::io::Error::other(
            "standard output is closed",
        )));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(OutputError)
}

/// True when descriptor 1 is not open at all (`movieapp … >&-`).
fn stdout_closed() -> bool {
    #[cfg(unix)]
    {
        // SAFETY: F_GETFD only reads the descriptor's flags; an invalid descriptor is
        // reported as -1, nothing else happens.
        unsafe { libc::fcntl(1, libc::F_GETFD) == -1 }
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Writes a warning line to stderr, apart from the answer on stdout (a closed stderr is
/// not worth failing for).
pub fn warning(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Writes `value` as pretty JSON to stdout.
pub fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    line(&text)?;
    Ok(())
}

/// A rating as tables show it: at most two decimals, trailing zeros dropped (`2.67`,
/// `4.5`, `3`). JSON keeps full precision.
pub fn rating(value: f64) -> String {
    format!("{value:.2}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_owned()
}

/// A value as a table cell: control characters escaped (`\u{1b}`), so stored text cannot
/// drive the terminal; newlines and tabs stay.
pub fn cell(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A two-column table of field names and values.
pub fn fields<'a>(rows: impl IntoIterator<Item = (&'a str, String)>) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    for (name, value) in rows {
        table.add_row(vec![name.to_owned(), cell(&value)]);
    }
    table
}

/// The width tables get when the terminal reports none (a pty whose size was never set
/// says 0 columns, and a table laid out for 0 puts one character on a line).
const FALLBACK_WIDTH: u16 = 80;

/// Writes a table to stdout.
pub fn table(table: &Table) -> Result<(), OutputError> {
    line(&laid_out(table))
}

/// The table's text, 80 columns wide when the terminal reports a width of 0.
fn laid_out(table: &Table) -> String {
    if table.width() == Some(0) {
        let mut sized = table.clone();
        sized.set_width(FALLBACK_WIDTH);
        return sized.to_string();
    }
    table.to_string()
}

pub use crate::model::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratings_and_cells() {
        assert_eq!(rating(2.0 / 3.0 + 2.0), "2.67");
        assert_eq!(rating(4.5), "4.5");
        assert_eq!(rating(3.0), "3");
        assert_eq!(cell("\u{1b}[31mred\0"), "\\u{1b}[31mred\\u{0}");
        assert_eq!(cell("two\nlines\tok"), "two\nlines\tok");
    }

    #[test]
    fn times_in_json_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_435_200_250), "2026-11-23T12:00:00.25Z");
    }

    #[test]
    fn a_terminal_of_no_width_gets_tables_80_wide() {
        let mut t = fields([("title", "x ".repeat(100))]);
        t.set_width(0);
        let widest = laid_out(&t).lines().map(|l| l.chars().count()).max();
        assert_eq!(widest, Some(80));
    }
}
