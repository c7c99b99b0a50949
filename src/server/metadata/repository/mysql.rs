//! Metadata storage in MySQL: the book's chapter-7 `movies` table, with a primary key (the
//! book's has none, so its upsert could not work) and ids compared byte for byte.

use std::sync::Arc;

use mysql_async::{TxOpts, prelude::Queryable};

use crate::{
    database::mysql::Mysql,
    events::{MetadataChanged, MetadataFields, Source},
    model::{Metadata, MovieId},
    server::error::RepositoryError,
};

/// Schema history; append only, each statement safe to run twice.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS movies (
        id VARBINARY(255) NOT NULL PRIMARY KEY,
        title VARCHAR(255),
        description MEDIUMTEXT,
        director VARCHAR(255)
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin",
    crate::server::outbox::mysql_migration!("metadata_outbox"),
];

pub async fn get(db: &Arc<Mysql>, id: &MovieId) -> Result<Metadata, RepositoryError> {
    type Row = (Option<String>, Option<String>, Option<String>);
    let row: Option<Row> = db
        .run(|mut conn| async move {
            conn.exec_first(
                "SELECT title, description, director FROM movies WHERE id = ?",
                (id.as_str().as_bytes(),),
            )
            .await
        })
        .await?;
    let (title, description, director) = row.ok_or(RepositoryError::NotFound)?;
    Metadata::new(
        id.clone(),
        title.unwrap_or_default(),
        description.unwrap_or_default(),
        director.unwrap_or_default(),
    )
    .map_err(RepositoryError::Corrupt)
}

/// As on SQLite; the movie's row is locked from reading it until the commit.
pub async fn put(
    db: &Arc<Mysql>,
    m: Metadata,
    events: Option<Source>,
) -> Result<u64, RepositoryError> {
    type Row = (Option<String>, Option<String>, Option<String>);
    let written = db
        .run(|mut conn| {
            let m = &m;
            async move {
                let mut tx = conn.start_transaction(TxOpts::default()).await?;
                let id = m.id().as_str().as_bytes();
                let previous: Option<Row> = tx
                    .exec_first(
                        "SELECT title, description, director FROM movies WHERE id = ? FOR UPDATE",
                        (id,),
                    )
                    .await?;
                let previous = previous.map(|(title, description, director)| MetadataFields {
                    title: title.unwrap_or_default(),
                    description: description.unwrap_or_default(),
                    director: director.unwrap_or_default(),
                });
                let fields = MetadataFields::of(m);
                if previous.as_ref() == Some(&fields) {
                    tx.commit().await?;
                    return Ok(0);
                }
                tx.exec_drop(
                    "INSERT INTO movies (id, title, description, director) VALUES (?, ?, ?, ?)
                         ON DUPLICATE KEY UPDATE title = VALUES(title),
                             description = VALUES(description), director = VALUES(director)",
                    (id, m.title(), m.description(), m.director()),
                )
                .await?;
                let mut written = 0;
                if let Some(source) = events {
                    let now = crate::events::now_ms();
                    let event = MetadataChanged::new(m, previous, now, source);
                    let rows = [(m.id().as_str().to_owned(), event.to_json())];
                    written = crate::server::outbox::insert_mysql(
                        &mut tx,
                        super::sqlite::OUTBOX,
                        &rows,
                        now,
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok(written)
            }
        })
        .await?;
    Ok(written)
}

pub async fn list(
    db: &Arc<Mysql>,
    after: Option<String>,
    title_prefix: String,
    limit: usize,
) -> Result<Vec<Metadata>, RepositoryError> {
    type Row = (Vec<u8>, Option<String>, Option<String>, Option<String>);
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let rows: Vec<Row> = db
        .run(|mut conn| {
            // '' sorts before every id: the first page.
            let (after, prefix) = (
                after.as_deref().unwrap_or_default().as_bytes(),
                title_prefix.as_str(),
            );
            async move {
                // Ids are VARBINARY and titles utf8mb4_bin: both compare byte for byte, as
                // on SQLite.
                conn.exec(
                    "SELECT id, title, description, director FROM movies
                     WHERE id > ?
                       AND (? = '' OR LEFT(title, CHAR_LENGTH(?)) = ?)
                     ORDER BY id LIMIT ?",
                    (after, prefix, prefix, prefix, limit),
                )
                .await
            }
        })
        .await?;
    rows.into_iter()
        .map(|(id, title, description, director)| {
            let id = String::from_utf8(id)
                .map_err(|e| {
                    crate::model::ValidationError::new(
                        "movie id",
                        &String::from_utf8_lossy(e.as_bytes()),
                        "must be UTF-8",
                    )
                })
                .and_then(MovieId::new)
                .map_err(RepositoryError::Corrupt)?;
            Metadata::new(
                id,
                title.unwrap_or_default(),
                description.unwrap_or_default(),
                director.unwrap_or_default(),
            )
            .map_err(RepositoryError::Corrupt)
        })
        .collect()
}
