//! Metadata storage in its own SQLite file (`metadata.db`).

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::{
    database::sqlite::Database,
    events::{MetadataChanged, MetadataFields, Source},
    model::{Metadata, MovieId},
    server::error::RepositoryError,
};

/// The file in the data directory.
pub const FILE: &str = "metadata.db";

/// Schema history; append only (docs/design.md §2).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE movies (id TEXT PRIMARY KEY, title TEXT, description TEXT, director TEXT);",
    crate::server::outbox::sqlite_migration!("metadata_outbox"),
];

/// The outbox of its change events.
pub const OUTBOX: &str = "metadata_outbox";

pub async fn get(db: &Arc<Database>, id: &MovieId) -> Result<Metadata, RepositoryError> {
    let key = id.as_str().to_owned();
    let row = db
        .read(move |c| {
            c.prepare_cached("SELECT title, description, director FROM movies WHERE id = ?1")?
                .query_row(params![key], |r| {
                    let text = |i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
                    Ok((text(0)?, text(1)?, text(2)?))
                })
                .optional()
        })
        .await?;
    let (title, description, director) = row.ok_or(RepositoryError::NotFound)?;
    // Rows are written through the same type; one that breaks the rules was written
    // by something else.
    Metadata::new(id.clone(), title, description, director).map_err(RepositoryError::Corrupt)
}

/// Stores `m` (replacing the movie's), with its event in the outbox when `events` says
/// where it came from; a put that changes nothing writes nothing. How many events.
pub async fn put(
    db: &Arc<Database>,
    m: Metadata,
    events: Option<Source>,
) -> Result<u64, RepositoryError> {
    let written = db
        .write(move |c| {
            let tx = c.transaction()?;
            let id = m.id().as_str();
            let previous = tx
                .prepare_cached("SELECT title, description, director FROM movies WHERE id = ?1")?
                .query_row(params![id], |r| {
                    let text = |i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
                    Ok(MetadataFields {
                        title: text(0)?,
                        description: text(1)?,
                        director: text(2)?,
                    })
                })
                .optional()?;
            let fields = MetadataFields::of(&m);
            if previous.as_ref() == Some(&fields) {
                return Ok(0);
            }
            tx.prepare_cached(
                "INSERT INTO movies (id, title, description, director) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                     description = excluded.description, director = excluded.director",
            )?
            .execute(params![
                id,
                fields.title,
                fields.description,
                fields.director
            ])?;
            let written = match events {
                Some(source) => {
                    let now = crate::events::now_ms();
                    let event = MetadataChanged::new(&m, previous, now, source);
                    let rows = [(id.to_owned(), event.to_json())];
                    crate::server::outbox::insert_sqlite(&tx, OUTBOX, &rows, now)?
                }
                None => 0,
            };
            tx.commit()?;
            Ok(written)
        })
        .await?;
    Ok(written)
}

pub async fn list(
    db: &Arc<Database>,
    after: Option<String>,
    title_prefix: String,
    limit: usize,
) -> Result<Vec<Metadata>, RepositoryError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = db
        .read(move |c| {
            // Ids compare as bytes (BINARY), the primary key's order: a range scan from
            // `after` ('' sorts before every id), never an OFFSET. (`?1 IS NULL OR id > ?1`
            // would read the table from its start.)
            let mut stmt = c.prepare_cached(
                "SELECT id, title, description, director FROM movies
                 WHERE id > ?1
                   AND (?2 = '' OR substr(title, 1, length(?2)) = ?2)
                 ORDER BY id LIMIT ?3",
            )?;
            let after = after.unwrap_or_default();
            let rows = stmt.query_map(params![after, title_prefix, limit], |r| {
                let text = |i| r.get::<_, Option<String>>(i).map(Option::unwrap_or_default);
                Ok((r.get::<_, String>(0)?, text(1)?, text(2)?, text(3)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })
        .await?;
    rows.into_iter()
        .map(|(id, title, description, director)| {
            let id = MovieId::new(id).map_err(RepositoryError::Corrupt)?;
            Metadata::new(id, title, description, director).map_err(RepositoryError::Corrupt)
        })
        .collect()
}
