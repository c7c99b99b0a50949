//! Rating storage: a SQLite file in the data directory (the default) or a MySQL database
//! shared by several hosts, with one behaviour, which the suite below checks on both. The
//! primary key makes a user's new rating of a record replace the old one (docs/design.md
//! §2).

mod mysql;
mod sqlite;

use tracing::Instrument;

use super::controller::{self, Aggregate};
use crate::{
    database::Schema,
    model::{RatingChange, RecordKey, UserRating},
    server::error::RepositoryError,
};

/// The schema on each backend, for `movieapp db`.
pub const SCHEMA: Schema = Schema {
    component: "rating",
    sqlite_file: sqlite::FILE,
    sqlite: sqlite::MIGRATIONS,
    mysql: mysql::MIGRATIONS,
};

/// Where the rating service keeps its data: its SQLite file or MySQL.
pub use crate::database::Store;

impl controller::Repository for Store {
    async fn aggregate(&self, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
        let span = self.span("SELECT ratings");
        match self {
            Store::Sqlite(db) => sqlite::aggregate(db, key).instrument(span).await,
            Store::Mysql(db) => mysql::aggregate(db, key).instrument(span).await,
        }
    }

    async fn put(&self, rating: UserRating) -> Result<(), RepositoryError> {
        self.apply(vec![RatingChange::Put(rating)]).await
    }

    async fn apply(&self, changes: Vec<RatingChange>) -> Result<(), RepositoryError> {
        let span = self.span("apply ratings");
        span.record("changes", changes.len());
        match self {
            Store::Sqlite(db) => sqlite::apply(db, changes).instrument(span).await,
            Store::Mysql(db) => mysql::apply(db, changes).instrument(span).await,
        }
    }
}

/// The behaviour every backend must have.
#[cfg(test)]
mod suite {
    use super::*;
    use crate::database::mysql::Mysql;
    use crate::{
        model::{RatingValue, UserId, validate::MAX_ID_BYTES},
        server::rating::controller::Repository,
    };

    fn rating(record: &str, user: &str, value: i64) -> UserRating {
        UserRating::new(
            RecordKey::new(record, "movie").unwrap(),
            UserId::new(user).unwrap(),
            RatingValue::new(value).unwrap(),
        )
    }

    fn key(record: &str) -> RecordKey {
        RecordKey::new(record, "movie").unwrap()
    }

    async fn mean(repo: &Store, record: &str) -> Option<(f64, u64)> {
        match repo.aggregate(&key(record)).await {
            Ok(a) => Some((a.mean, a.count)),
            Err(RepositoryError::NotFound) => None,
            Err(e) => panic!("{e}"),
        }
    }

    async fn behaves(repo: Store) {
        assert_eq!(mean(&repo, "1").await, None);
        // A user's new rating replaces the old one.
        repo.put(rating("1", "user0", 5)).await.unwrap();
        repo.put(rating("1", "user0", 1)).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((1.0, 1)));
        repo.put(rating("1", "user1", 4)).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((2.5, 2)));
        // A mean that is not a round number.
        repo.put(rating("1", "user2", 5)).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((10.0 / 3.0, 3)));
        // Another record type with the same id is another record.
        let series = RecordKey::new("1", "series").unwrap();
        assert!(matches!(
            repo.aggregate(&series).await,
            Err(RepositoryError::NotFound)
        ));

        // Deletes, in order with puts, all in one go.
        repo.apply(vec![
            RatingChange::Delete {
                key: key("1"),
                user_id: UserId::new("user2").unwrap(),
            },
            RatingChange::Put(rating("2", "user0", 3)),
            RatingChange::Delete {
                key: key("2"),
                user_id: UserId::new("user0").unwrap(),
            },
            RatingChange::Put(rating("2", "user1", 2)),
            // Deleting what is not there is not an error.
            RatingChange::Delete {
                key: key("nothing"),
                user_id: UserId::new("nobody").unwrap(),
            },
        ])
        .await
        .unwrap();
        assert_eq!(mean(&repo, "1").await, Some((2.5, 2)));
        assert_eq!(mean(&repo, "2").await, Some((2.0, 1)));
        // Deleting the last rating leaves the record without ratings.
        repo.apply(vec![RatingChange::Delete {
            key: key("2"),
            user_id: UserId::new("user1").unwrap(),
        }])
        .await
        .unwrap();
        assert_eq!(mean(&repo, "2").await, None);

        // Ids are compared byte for byte, and may be as long as the rules allow.
        let long = "y".repeat(MAX_ID_BYTES);
        for (n, odd) in ["b", "B", "b ", "é", "e\u{301}", "🎬", long.as_str()]
            .iter()
            .enumerate()
        {
            let value = i64::try_from(n % 5 + 1).unwrap();
            repo.put(rating(odd, odd, value)).await.unwrap();
        }
        for (n, odd) in ["b", "B", "b ", "é", "e\u{301}", "🎬", long.as_str()]
            .iter()
            .enumerate()
        {
            let value = f64::from(u32::try_from(n % 5 + 1).unwrap());
            assert_eq!(mean(&repo, odd).await, Some((value, 1)), "{odd:?}");
        }

        // Concurrent writers: 32 users rating one record at once all count.
        let writers: Vec<_> = (0..32)
            .map(|n| {
                let repo = repo.clone();
                tokio::spawn(
                    async move { repo.put(rating("busy", &format!("u{n}"), n % 5 + 1)).await },
                )
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let expected = (0..32).map(|n| f64::from(n % 5 + 1)).sum::<f64>() / 32.0;
        assert_eq!(mean(&repo, "busy").await, Some((expected, 32)));
    }

    #[tokio::test]
    async fn on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        behaves(Store::sqlite(dir.path(), &SCHEMA).unwrap()).await;
    }

    #[tokio::test]
    async fn on_mysql() {
        let Some(options) = crate::database::mysql::testing::fresh_database("rating").await else {
            return;
        };
        let db = Mysql::connect(&options).await.unwrap();
        behaves(Store::mysql(db, &SCHEMA, true).await.unwrap()).await;
    }
}
