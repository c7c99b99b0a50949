//! Metadata storage in its own SQLite file (`metadata.db`).

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use super::controller;
use crate::{
    model::Metadata,
    server::error::RepositoryError,
    sqlite::{Database, StorageError},
};

/// Schema history; append only (SPEC section 2).
pub const MIGRATIONS: &[&str] =
    &["CREATE TABLE movies (id TEXT PRIMARY KEY, title TEXT, description TEXT, director TEXT);"];

#[derive(Debug, Clone)]
pub struct SqliteRepository {
    db: Arc<Database>,
}

impl SqliteRepository {
    pub fn new(db: Arc<Database>) -> Self {
        Self { db }
    }

    /// The database, for readiness checks.
    pub fn database(&self) -> Arc<Database> {
        Arc::clone(&self.db)
    }

    /// Opens `metadata.db` in `dir`. Blocking: call at start-up.
    pub fn open(dir: &std::path::Path) -> Result<Self, StorageError> {
        Database::open(&dir.join("metadata.db"), MIGRATIONS).map(|db| Self::new(Arc::new(db)))
    }
}

impl controller::Repository for SqliteRepository {
    #[tracing::instrument(
        name = "sqlite SELECT movies",
        level = "debug",
        skip_all,
        fields(component = "repository", db.system = "sqlite")
    )]
    async fn get(&self, id: &str) -> Result<Metadata, RepositoryError> {
        let id = id.to_owned();
        self.db
            .read(move |c| {
                c.prepare_cached(
                    "SELECT id, title, description, director FROM movies WHERE id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok(Metadata {
                        id: r.get(0)?,
                        title: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        description: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        director: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                    })
                })
                .optional()
            })
            .await?
            .ok_or(RepositoryError::NotFound)
    }

    #[tracing::instrument(
        name = "sqlite UPSERT movies",
        level = "debug",
        skip_all,
        fields(component = "repository", db.system = "sqlite")
    )]
    async fn put(&self, m: Metadata) -> Result<(), RepositoryError> {
        self.db
            .write(move |c| {
                c.prepare_cached(
                    "INSERT INTO movies (id, title, description, director) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET title = excluded.title,
                         description = excluded.description, director = excluded.director",
                )?
                .execute(params![m.id, m.title, m.description, m.director])
            })
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::metadata::controller::Repository;

    fn movie(id: &str, title: &str) -> Metadata {
        Metadata {
            id: id.into(),
            title: title.into(),
            description: "d".into(),
            director: "r".into(),
        }
    }

    #[tokio::test]
    async fn put_get_replace_and_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let repo = SqliteRepository::open(dir.path()).unwrap();
        assert!(matches!(
            repo.get("1").await,
            Err(RepositoryError::NotFound)
        ));
        repo.put(movie("1", "First")).await.unwrap();
        assert_eq!(repo.get("1").await.unwrap(), movie("1", "First"));
        repo.put(movie("1", "Second")).await.unwrap();
        assert_eq!(repo.get("1").await.unwrap().title, "Second");
        drop(repo);
        let reopened = SqliteRepository::open(dir.path()).unwrap();
        assert_eq!(reopened.get("1").await.unwrap().title, "Second");
    }
}
