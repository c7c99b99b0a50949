//! Metadata storage in MySQL: the book's chapter-7 `movies` table, with a primary key (the
//! book's has none, so its upsert could not work) and ids compared byte for byte.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::{
    database::mysql::Mysql,
    model::{Metadata, MovieId},
    server::error::RepositoryError,
};

/// Schema history; append only, each statement safe to run twice.
pub const MIGRATIONS: &[&str] = &["CREATE TABLE IF NOT EXISTS movies (
        id VARBINARY(255) NOT NULL PRIMARY KEY,
        title VARCHAR(255),
        description MEDIUMTEXT,
        director VARCHAR(255)
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin"];

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

pub async fn put(db: &Arc<Mysql>, m: Metadata) -> Result<(), RepositoryError> {
    db.run(|mut conn| {
        let m = &m;
        async move {
            conn.exec_drop(
                "INSERT INTO movies (id, title, description, director) VALUES (?, ?, ?, ?)
                     ON DUPLICATE KEY UPDATE title = VALUES(title),
                         description = VALUES(description), director = VALUES(director)",
                (
                    m.id().as_str().as_bytes(),
                    m.title(),
                    m.description(),
                    m.director(),
                ),
            )
            .await
        }
    })
    .await?;
    Ok(())
}
