//! Metadata storage: a SQLite file in the data directory (the default) or a MySQL
//! database shared by several hosts, with one behaviour, which the suite below checks on
//! both.

mod mysql;
mod sqlite;

use tracing::Instrument;

use super::controller;
use crate::{
    database::Schema,
    events::Source,
    model::{Metadata, MovieId},
    server::error::RepositoryError,
};

/// The table of its change events.
pub use sqlite::OUTBOX;

/// The schema on each backend, for `movieapp db`.
pub const SCHEMA: Schema = Schema {
    component: "metadata",
    sqlite_file: sqlite::FILE,
    sqlite: sqlite::MIGRATIONS,
    mysql: mysql::MIGRATIONS,
};

/// Where the metadata service keeps its data: its SQLite file or MySQL.
pub use crate::database::Store;

impl controller::Repository for Store {
    async fn get(&self, id: &MovieId) -> Result<Metadata, RepositoryError> {
        let span = self.span("SELECT movies");
        match self {
            Store::Sqlite(db) => sqlite::get(db, id).instrument(span).await,
            Store::Mysql(db) => mysql::get(db, id).instrument(span).await,
        }
    }

    async fn put(
        &self,
        metadata: Metadata,
        events: Option<Source>,
    ) -> Result<u64, RepositoryError> {
        let span = self.span("UPSERT movies");
        match self {
            Store::Sqlite(db) => sqlite::put(db, metadata, events).instrument(span).await,
            Store::Mysql(db) => mysql::put(db, metadata, events).instrument(span).await,
        }
    }

    async fn list(
        &self,
        after: Option<String>,
        title_prefix: String,
        limit: usize,
    ) -> Result<Vec<Metadata>, RepositoryError> {
        let span = self.span("SELECT movies page");
        match self {
            Store::Sqlite(db) => {
                sqlite::list(db, after, title_prefix, limit)
                    .instrument(span)
                    .await
            }
            Store::Mysql(db) => {
                mysql::list(db, after, title_prefix, limit)
                    .instrument(span)
                    .await
            }
        }
    }
}

/// The behaviour every backend must have.
#[cfg(test)]
mod suite {
    use std::sync::Arc;

    use super::*;
    use crate::database::mysql::Mysql;
    use crate::{model::validate::MAX_ID_BYTES, server::metadata::controller::Repository};

    fn movie(id: &str, title: &str) -> Metadata {
        Metadata::new(MovieId::new(id).unwrap(), title, "d", "r").unwrap()
    }

    fn id(id: &str) -> MovieId {
        MovieId::new(id).unwrap()
    }

    async fn behaves(repo: Store) {
        assert!(matches!(
            repo.get(&id("1")).await,
            Err(RepositoryError::NotFound)
        ));
        repo.put(movie("1", "First"), None).await.unwrap();
        assert_eq!(repo.get(&id("1")).await.unwrap(), movie("1", "First"));
        // A put replaces the row whole.
        repo.put(movie("1", "Second"), None).await.unwrap();
        assert_eq!(repo.get(&id("1")).await.unwrap().title(), "Second");

        // Ids are compared byte for byte: case, trailing spaces and Unicode forms are
        // different ids (MySQL's default collations would merge them).
        let odd = [
            "a",
            "A",
            "a ",
            "é",
            "e\u{301}",
            "ünïcödé ✓ 🎬",
            "quote'\"back\\slash",
            "%_*",
        ];
        for (n, odd_id) in odd.iter().enumerate() {
            repo.put(movie(odd_id, &format!("title {n}")), None)
                .await
                .unwrap();
        }
        for (n, odd_id) in odd.iter().enumerate() {
            assert_eq!(
                repo.get(&id(odd_id)).await.unwrap().title(),
                format!("title {n}"),
                "{odd_id:?}"
            );
        }
        // The longest id and the longest description.
        let long_id = "x".repeat(MAX_ID_BYTES);
        let long_text = "ü".repeat(crate::model::validate::MAX_DESCRIPTION_BYTES / 2);
        let long = Metadata::new(
            id(&long_id),
            "t".repeat(crate::model::validate::MAX_TITLE_BYTES),
            long_text.clone(),
            "r",
        )
        .unwrap();
        repo.put(long.clone(), None).await.unwrap();
        assert_eq!(repo.get(&id(&long_id)).await.unwrap(), long);

        // Concurrent writers of one id: every put lands whole, the last one wins.
        let writers: Vec<_> = (0..16)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(
                    async move { repo.put(movie("race", &format!("writer {n}")), None).await },
                )
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let title = repo.get(&id("race")).await.unwrap().title().to_owned();
        assert!(title.starts_with("writer "), "{title}");

        // Listing: by id in byte order, after a key, up to a limit, with a title prefix
        // taken literally (no wildcards).
        repo.put(movie("pct", "%_ literal"), None).await.unwrap();
        let all = repo.list(None, String::new(), 1000).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|m| m.id().as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "byte order");
        assert_eq!(ids.len(), 1 + odd.len() + 3);
        let after = repo.list(Some("a".into()), String::new(), 2).await.unwrap();
        let expected: Vec<&str> = sorted
            .iter()
            .copied()
            .filter(|i| *i > "a")
            .take(2)
            .collect();
        assert_eq!(
            after.iter().map(|m| m.id().as_str()).collect::<Vec<_>>(),
            expected
        );
        let titled = repo.list(None, "title 1".into(), 10).await.unwrap();
        assert_eq!(titled.len(), 1);
        assert_eq!(titled[0].id().as_str(), odd[1]);
        let literal = repo.list(None, "%_".into(), 10).await.unwrap();
        assert_eq!(literal.len(), 1);
        assert_eq!(literal[0].id().as_str(), "pct");
        let unicode = repo.list(None, "tit".into(), 100).await.unwrap();
        assert_eq!(unicode.len(), odd.len());
        assert!(
            repo.list(Some("\u{10ffff}".into()), String::new(), 5)
                .await
                .unwrap()
                .is_empty()
        );

        // The outbox: an event per put that changes something, with what was before.
        use crate::events::{MetadataChanged, Outbox};
        let table = crate::server::outbox::OutboxTable {
            store: repo.clone(),
            table: OUTBOX,
        };
        let events = Some(Source::Grpc);
        assert_eq!(repo.put(movie("ev", "One"), events).await.unwrap(), 1);
        assert_eq!(repo.put(movie("ev", "One"), events).await.unwrap(), 0);
        assert_eq!(repo.put(movie("ev", "Two"), events).await.unwrap(), 1);
        assert_eq!(repo.put(movie("ev", "Three"), None).await.unwrap(), 0);
        assert_eq!(repo.get(&id("ev")).await.unwrap().title(), "Three");
        let rows = table.unsent(10).await.unwrap();
        let changes: Vec<MetadataChanged> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.payload).unwrap())
            .collect();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.key == "ev"));
        assert_eq!(changes[0].metadata.title, "One");
        assert_eq!(changes[0].previous, None);
        assert_eq!(changes[1].metadata.title, "Two");
        assert_eq!(
            changes[1].previous.as_ref().map(|p| p.title.as_str()),
            Some("One")
        );
        assert_eq!(table.pending().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        behaves(Store::sqlite(dir.path(), &SCHEMA).unwrap()).await;
        // What was written is there after a reopen.
        let reopened = Store::sqlite(dir.path(), &SCHEMA).unwrap();
        assert_eq!(reopened.get(&id("1")).await.unwrap().title(), "Second");
    }

    #[tokio::test]
    async fn on_mysql() {
        let Some(options) = crate::database::mysql::testing::fresh_database("metadata").await
        else {
            return;
        };
        let db = Mysql::connect(&options).await.unwrap();
        behaves(Store::mysql(Arc::clone(&db), &SCHEMA, true).await.unwrap()).await;
        // Another instance (another pool) sees the same rows.
        let other = Mysql::connect(&options).await.unwrap();
        let reopened = Store::mysql(other, &SCHEMA, true).await.unwrap();
        assert_eq!(reopened.get(&id("1")).await.unwrap().title(), "Second");
    }
}
