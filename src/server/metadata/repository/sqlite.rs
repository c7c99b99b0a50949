//! Metadata storage in its own SQLite file (`metadata.db`).

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use crate::{
    database::sqlite::Database,
    model::{Metadata, MovieId},
    server::error::RepositoryError,
};

/// The file in the data directory.
pub const FILE: &str = "metadata.db";

/// Schema history; append only (docs/design.md §2).
pub const MIGRATIONS: &[&str] =
    &["CREATE TABLE movies (id TEXT PRIMARY KEY, title TEXT, description TEXT, director TEXT);"];

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

pub async fn put(db: &Arc<Database>, m: Metadata) -> Result<(), RepositoryError> {
    let (id, title, description, director) = (
        m.id().to_string(),
        m.title().to_owned(),
        m.description().to_owned(),
        m.director().to_owned(),
    );
    db.write(move |c| {
        c.prepare_cached(
            "INSERT INTO movies (id, title, description, director) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                     description = excluded.description, director = excluded.director",
        )?
        .execute(params![id, title, description, director])
    })
    .await?;
    Ok(())
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
