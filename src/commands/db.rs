//! `movieapp db`: the schema migrations of metadata and rating, run or shown explicitly, and
//! the check of the rating aggregates.

use std::sync::Arc;

use clap::Subcommand;

use super::{UsageError, output};
use crate::{
    config::{Config, ConfigError},
    database::{Backend, Schema, SchemaStatus, mysql::Mysql},
    server::{metadata, rating},
};

/// Run or show the database migrations of metadata and rating
///
/// Works on the database the configuration names: `database.url` (MySQL, with the password
/// from MOVIEAPP_DATABASE_PASSWORD or database.passwordFile), else the SQLite files in the
/// data directory. `serve` migrates by itself unless database.autoMigrate is false; then
/// `db migrate` is the step that must run first, e.g. as a Kubernetes Job. Several
/// `db migrate` (and `serve`) started at once are safe: on MySQL each migration runs once,
/// under a server-wide lock.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  movieapp db status
  MOVIEAPP_DATABASE_URL=mysql://movie@db:3306/movieapp \\
  MOVIEAPP_DATABASE_PASSWORD=… movieapp db migrate
  movieapp db status --output json
  movieapp db check            # do the kept aggregates match the ratings?
  movieapp db check --repair   # ... and make them match")]
pub struct Args {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply every pending migration; exit 0 when the schemas are current
    Migrate {
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// Show each schema's version: applied, known, and what is pending; changes nothing
    Status {
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
    /// Recompute every record's rating count and sum from its ratings, and list the records
    /// whose kept aggregate differs; exit 1 if any does
    ///
    /// The rating service keeps each record's count and sum beside its ratings, changed in
    /// the same transaction, so that reading a mean costs one row. They cannot drift through
    /// movieapp; this finds drift made behind its back (a hand edit, a restored backup, an
    /// older movieapp writing during an upgrade). Safe while `serve` runs.
    Check {
        /// Make the kept aggregates right (all recomputed, in the transaction that found the
        /// differences); exit 0 once done
        #[arg(long)]
        repair: bool,
        #[arg(long, short, value_enum, default_value_t)]
        output: output::Format,
    },
}

const SCHEMAS: [Schema; 2] = [metadata::repository::SCHEMA, rating::repository::SCHEMA];

pub async fn run(args: Args, config: Config) -> anyhow::Result<()> {
    let options = config
        .database
        .mysql(std::env::var(crate::database::PASSWORD_ENV).ok())
        .map_err(ConfigError::Invalid)?;
    let backend = match &options {
        Some(options) => Backend::Mysql(Arc::new(Mysql::new(options)?)),
        None => Backend::Sqlite(config.resolved_data_dir()?),
    };
    let (migrate, format) = match args.command {
        DbCommand::Migrate { output } => (true, output),
        DbCommand::Status { output } => (false, output),
        DbCommand::Check { repair, output } => return check(&backend, repair, output).await,
    };
    let mut rows = Vec::new();
    for schema in &SCHEMAS {
        let status = if migrate {
            let (now, after) = backend.migrate(schema).await?;
            Row::migrated(now, after)
        } else {
            Row::status(backend.status(schema).await?)
        };
        rows.push(status);
    }
    if let Backend::Mysql(db) = &backend {
        db.close().await;
    }
    match format {
        output::Format::Json => output::json(&rows)?,
        output::Format::Table => {
            let mut table = comfy_table::Table::new();
            table
                .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                .set_header(["schema", "where", "applied", "known", "state"]);
            for row in &rows {
                table.add_row([
                    row.schema.to_owned(),
                    output::cell(&row.location),
                    row.applied.map_or("-".to_owned(), |v| v.to_string()),
                    row.known.to_string(),
                    row.state.clone(),
                ]);
            }
            output::table(&table)?;
        }
    }
    if !migrate && let Some(row) = rows.iter().find(|r| r.applied.is_some_and(|a| a > r.known)) {
        // An older movieapp than the schema: a mistake in which binary runs.
        return Err(UsageError(anyhow::anyhow!(
            "the {} schema is newer than this movieapp knows; use a newer movieapp",
            row.schema
        ))
        .into());
    }
    Ok(())
}

/// `db check`: the rating aggregates against the ratings.
async fn check(backend: &Backend, repair: bool, format: output::Format) -> anyhow::Result<()> {
    let schema = &rating::repository::SCHEMA;
    let status = backend.status(schema).await?;
    if status.applied.is_none() {
        output::line(&format!(
            "{} does not exist yet: there is nothing to check",
            status.location
        ))?;
        return Ok(());
    }
    if status.applied != Some(status.known) {
        return Err(UsageError(anyhow::anyhow!(
            "the rating schema at {} is {}: run `movieapp db migrate` first",
            status.location,
            status.state()
        ))
        .into());
    }
    let store = match backend {
        Backend::Sqlite(dir) => crate::database::Store::sqlite(dir, schema)?,
        Backend::Mysql(db) => crate::database::Store::mysql(Arc::clone(db), schema, false).await?,
    };
    let differences = store.check_aggregates(repair).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot check the rating aggregates at {}: {e}",
            status.location
        )
    })?;
    if let Backend::Mysql(db) = backend {
        db.close().await;
    }
    match format {
        output::Format::Json => output::json(&serde_json::json!({
            "location": status.location,
            "differences": differences,
            "repaired": repair && !differences.is_empty(),
        }))?,
        output::Format::Table => {
            if !differences.is_empty() {
                let mut table = comfy_table::Table::new();
                table
                    .load_style(comfy_table::presets::UTF8_FULL_CONDENSED)
                    .set_header(["record", "type", "kept count", "kept sum", "count", "sum"]);
                let kept = |d: &rating::repository::Difference, f: fn((i64, i64)) -> i64| {
                    d.stored.map_or("-".to_owned(), |s| f(s).to_string())
                };
                for d in &differences {
                    table.add_row([
                        output::cell(&d.record_id),
                        output::cell(&d.record_type),
                        kept(d, |s| s.0),
                        kept(d, |s| s.1),
                        d.actual.0.to_string(),
                        d.actual.1.to_string(),
                    ]);
                }
                output::table(&table)?;
            }
            output::line(&match (differences.len(), repair) {
                (0, _) => format!(
                    "{}: every kept rating aggregate matches the ratings",
                    status.location
                ),
                (n, true) => format!(
                    "{}: {n} records differed; every aggregate is recomputed",
                    status.location
                ),
                (n, false) => format!(
                    "{}: {n} records differ from their ratings; `movieapp db check --repair` recomputes them",
                    status.location
                ),
            })?;
        }
    }
    if !differences.is_empty() && !repair {
        return Err(super::ExitWith(1).into());
    }
    Ok(())
}

/// A schema's line in the output.
#[derive(Debug, serde::Serialize)]
struct Row {
    schema: &'static str,
    location: String,
    applied: Option<u32>,
    known: u32,
    state: String,
    /// Migrations this run applied (`db migrate` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_now: Option<u32>,
}

impl Row {
    fn status(s: SchemaStatus) -> Self {
        Self {
            schema: s.component,
            state: s.state(),
            location: s.location,
            applied: s.applied,
            known: s.known,
            applied_now: None,
        }
    }

    fn migrated(now: u32, after: SchemaStatus) -> Self {
        let mut row = Self::status(after);
        row.applied_now = Some(now);
        if now > 0 {
            row.state = format!("{} (applied {now} now)", row.state);
        }
        row
    }
}
