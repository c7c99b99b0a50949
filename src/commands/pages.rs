//! Following a listing's pages to its end (or a limit), printing rows as they come: one
//! JSON object per line, or a table per page, so a listing of any length runs in constant
//! memory (`movieapp movie list -o json | jq …`).

use std::future::Future;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

use super::output::{self, Format};
use crate::model::page::MAX_PAGE_SIZE;

/// Fetches pages until the last, or until `limit` rows: `fetch(page_size, page_token)`
/// answers a page's rows and the next token (empty on the last page). Each row is printed
/// as JSON (one line) or as a table row of `columns`. The number of rows printed.
pub async fn follow<T, F, Fut>(
    limit: Option<u64>,
    format: Format,
    columns: &[&str],
    row: impl Fn(&T) -> Vec<String>,
    mut fetch: F,
) -> anyhow::Result<u64>
where
    T: Serialize,
    F: FnMut(i32, String) -> Fut,
    Fut: Future<Output = anyhow::Result<(Vec<T>, String)>>,
{
    let mut left = limit.unwrap_or(u64::MAX);
    let mut token = String::new();
    let mut printed = 0;
    while left > 0 {
        let size = i32::try_from(left.min(MAX_PAGE_SIZE as u64)).unwrap_or(i32::MAX);
        let (mut rows, next) = fetch(size, token).await?;
        rows.truncate(usize::try_from(left).unwrap_or(usize::MAX));
        match format {
            Format::Json => {
                for r in &rows {
                    output::line(&serde_json::to_string(r)?)?;
                }
            }
            Format::Table if rows.is_empty() => {}
            Format::Table => {
                let mut table = Table::new();
                table.load_style(UTF8_FULL_CONDENSED).set_header(columns);
                for r in &rows {
                    table.add_row(row(r).iter().map(|c| output::cell(c)));
                }
                output::table(&table)?;
            }
        }
        let count = rows.len() as u64;
        printed += count;
        left = left.saturating_sub(count);
        if next.is_empty() || count == 0 {
            break;
        }
        token = next;
    }
    Ok(printed)
}
