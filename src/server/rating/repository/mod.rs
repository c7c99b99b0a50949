//! Rating storage: a SQLite file in the data directory (the default) or a MySQL database
//! shared by several hosts, with one behaviour, which the suite below checks on both. The
//! primary key makes a user's new rating of a record replace the old one (docs/design.md
//! §2).

mod mysql;
mod sqlite;

use std::{collections::HashMap, sync::Arc};

use tracing::Instrument;

use super::controller::{self, Aggregate};
use crate::{
    database::Schema,
    events::{AggregateAfter, RatingChanged, Source},
    model::{RatingChange, RatingValue, RecordKey, UserId, UserRating},
    server::error::RepositoryError,
};

/// The table of its change events.
pub use sqlite::OUTBOX;

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

    async fn put(
        &self,
        rating: UserRating,
        events: Option<Source>,
    ) -> Result<u64, RepositoryError> {
        self.apply(Arc::from([RatingChange::Put(rating)]), events)
            .await
    }

    async fn apply(
        &self,
        changes: Arc<[RatingChange]>,
        events: Option<Source>,
    ) -> Result<u64, RepositoryError> {
        let span = self.span("apply ratings");
        span.record("changes", changes.len());
        match self {
            Store::Sqlite(db) => sqlite::apply(db, changes, events).instrument(span).await,
            Store::Mysql(db) => mysql::apply(db, changes, events).instrument(span).await,
        }
    }

    async fn list(
        &self,
        key: &RecordKey,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<UserRating>, RepositoryError> {
        let span = self.span("SELECT ratings page");
        let rows = match self {
            Store::Sqlite(db) => sqlite::list(db, key, after, limit).instrument(span).await,
            Store::Mysql(db) => mysql::list(db, key, after, limit).instrument(span).await,
        }?;
        rows.into_iter()
            .map(|(user, value)| {
                let user = UserId::new(user).map_err(RepositoryError::Corrupt)?;
                let value = RatingValue::new(value).map_err(RepositoryError::Corrupt)?;
                Ok(UserRating::new(key.clone(), user, value))
            })
            .collect()
    }
}

/// A change a write made: the user's rating of the record before and after.
struct Applied {
    key: RecordKey,
    user: UserId,
    before: Option<i64>,
    after: Option<i64>,
}

/// The outbox rows (key, event) of the changes a write `applied`, in order, each with its
/// record's aggregate after it, from each record's aggregate after the whole write
/// (`finals`; missing: no ratings left).
fn outbox_rows(
    applied: &[Applied],
    finals: &HashMap<RecordKey, (i64, i64)>,
    source: Source,
    now_ms: i64,
) -> Vec<(String, String)> {
    // Walking back from the end: each change's aggregate is the final one less the deltas
    // of the record's later changes.
    let mut running = finals.clone();
    let mut rows: Vec<(String, String)> = applied
        .iter()
        .rev()
        .map(|a| {
            let (count, sum) = running.get(&a.key).copied().unwrap_or((0, 0));
            let event = RatingChanged::new(
                &a.key,
                &a.user,
                a.before,
                a.after,
                AggregateAfter::new(count, sum),
                now_ms,
                source,
            );
            let entry = running.entry(a.key.clone()).or_insert((0, 0));
            entry.0 -= i64::from(a.after.is_some()) - i64::from(a.before.is_some());
            entry.1 -= a.after.unwrap_or(0) - a.before.unwrap_or(0);
            (a.key.record_id().to_owned(), event.to_json())
        })
        .collect();
    rows.reverse();
    rows
}

/// How a write changes each record's count and sum, summed over its changes.
#[derive(Debug, Default)]
struct Deltas(HashMap<RecordKey, (i64, i64)>);

impl Deltas {
    /// A user's rating of `key` went from `before` to `after` (`None`: none).
    fn add(&mut self, key: &RecordKey, before: Option<i64>, after: Option<i64>) {
        let count = i64::from(after.is_some()) - i64::from(before.is_some());
        let sum = after.unwrap_or(0) - before.unwrap_or(0);
        let entry = self.0.entry(key.clone()).or_default();
        entry.0 += count;
        entry.1 += sum;
    }

    /// Each record's change of count and sum, those that change only.
    fn iter(&self) -> impl Iterator<Item = (&RecordKey, (i64, i64))> {
        self.0
            .iter()
            .map(|(key, delta)| (key, *delta))
            .filter(|(_, delta)| *delta != (0, 0))
    }
}

/// A record whose kept aggregate is not what its ratings add up to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    pub record_id: String,
    pub record_type: String,
    /// The kept count and sum; `None` when none is kept.
    pub stored: Option<(i64, i64)>,
    /// The count and sum of the ratings.
    pub actual: (i64, i64),
}

impl Difference {
    fn new(
        record_id: &str,
        record_type: &str,
        stored: Option<(i64, i64)>,
        actual: (i64, i64),
    ) -> Self {
        Self {
            record_id: record_id.to_owned(),
            record_type: record_type.to_owned(),
            stored,
            actual,
        }
    }
}

/// The query `check` runs on either backend: every record whose kept aggregate differs from
/// its ratings (missing, different, or kept for a record without ratings), as (record id,
/// type, kept count, kept sum, count, sum). `sum` is how the backend writes an integer sum
/// of `value`.
fn differences_query(sum: &str) -> String {
    format!(
        "SELECT r.record_id, r.record_type, a.count, a.sum, r.n, r.s
        FROM (SELECT record_id, record_type, COUNT(*) AS n, {sum} AS s FROM ratings
              GROUP BY record_id, record_type) AS r
        LEFT JOIN rating_aggregates AS a
            ON a.record_id = r.record_id AND a.record_type = r.record_type
        WHERE a.count IS NULL OR a.count != r.n OR a.sum != r.s
        UNION ALL
        SELECT a.record_id, a.record_type, a.count, a.sum, 0, 0 FROM rating_aggregates AS a
        WHERE NOT EXISTS (SELECT 1 FROM ratings AS r
                          WHERE r.record_id = a.record_id AND r.record_type = a.record_type)"
    )
}

impl Store {
    /// Recomputes every record's aggregate from its ratings and returns those that differ
    /// from what is kept; with `repair`, makes the kept ones right, in the same
    /// transaction.
    pub async fn check_aggregates(&self, repair: bool) -> Result<Vec<Difference>, RepositoryError> {
        match self {
            Store::Sqlite(db) => sqlite::check(db, repair).await,
            Store::Mysql(db) => mysql::check(db, repair).await,
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
    use mysql_async::prelude::Queryable;

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
        repo.put(rating("1", "user0", 5), None).await.unwrap();
        repo.put(rating("1", "user0", 1), None).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((1.0, 1)));
        repo.put(rating("1", "user1", 4), None).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((2.5, 2)));
        // A mean that is not a round number.
        repo.put(rating("1", "user2", 5), None).await.unwrap();
        assert_eq!(mean(&repo, "1").await, Some((10.0 / 3.0, 3)));
        // Another record type with the same id is another record.
        let series = RecordKey::new("1", "series").unwrap();
        assert!(matches!(
            repo.aggregate(&series).await,
            Err(RepositoryError::NotFound)
        ));

        // Deletes, in order with puts, all in one go.
        repo.apply(
            vec![
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
            ]
            .into(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(mean(&repo, "1").await, Some((2.5, 2)));
        assert_eq!(mean(&repo, "2").await, Some((2.0, 1)));
        // Deleting the last rating leaves the record without ratings.
        repo.apply(
            vec![RatingChange::Delete {
                key: key("2"),
                user_id: UserId::new("user1").unwrap(),
            }]
            .into(),
            None,
        )
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
            repo.put(rating(odd, odd, value), None).await.unwrap();
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
                tokio::spawn(async move {
                    repo.put(rating("busy", &format!("u{n}"), n % 5 + 1), None)
                        .await
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let expected = (0..32).map(|n| f64::from(n % 5 + 1)).sum::<f64>() / 32.0;
        assert_eq!(mean(&repo, "busy").await, Some((expected, 32)));

        // A record's ratings listed by user id (byte order), after a user, up to a limit;
        // another record's are not among them.
        let busy = key("busy");
        let all = repo.list(&busy, None, 100).await.unwrap();
        let users: Vec<&str> = all.iter().map(|r| r.user_id().as_str()).collect();
        let mut sorted = users.clone();
        sorted.sort_unstable();
        assert_eq!(users, sorted);
        assert_eq!(users.len(), 32);
        assert!(all.iter().all(|r| r.key() == &busy));
        let page = repo.list(&busy, Some("u1".into()), 2).await.unwrap();
        let users: Vec<&str> = page.iter().map(|r| r.user_id().as_str()).collect();
        assert_eq!(users, ["u10", "u11"]);
        assert_eq!(page[0].value().get(), 1, "u10 rated 10 % 5 + 1");
        assert!(
            repo.list(&key("nothing"), None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // The same rating again changes nothing; the kept aggregates match the ratings.
        repo.put(rating("busy", "u1", 2), None).await.unwrap();
        assert_eq!(mean(&repo, "busy").await, Some((expected, 32)));
        assert_eq!(repo.check_aggregates(false).await.unwrap(), vec![]);

        // A kept aggregate made wrong, one lost and one left over: `check` finds the three,
        // `repair` makes them right.
        corrupt(&repo).await;
        let mut found = repo.check_aggregates(false).await.unwrap();
        found.sort_by(|a, b| a.record_id.cmp(&b.record_id));
        let ids: Vec<_> = found.iter().map(|d| d.record_id.as_str()).collect();
        assert_eq!(ids, ["1", "busy", "ghost"], "{found:?}");
        assert_eq!(found[0].stored, None);
        assert_eq!(found[0].actual, (2, 5));
        assert_eq!(found[1].stored.map(|s| s.0), Some(33));
        assert_eq!(found[2].actual, (0, 0));
        assert_eq!(repo.check_aggregates(true).await.unwrap().len(), 3);
        assert_eq!(repo.check_aggregates(false).await.unwrap(), vec![]);
        assert_eq!(mean(&repo, "busy").await, Some((expected, 32)));
        assert_eq!(mean(&repo, "1").await, Some((2.5, 2)));
        assert_eq!(mean(&repo, "ghost").await, None);

        outbox(&repo).await;
    }

    /// The outbox: events written with the changes that change something, in order, with
    /// each one's aggregate; unsent until marked; sent ones pruned.
    async fn outbox(repo: &Store) {
        use crate::events::Outbox;
        let table = crate::server::outbox::OutboxTable {
            store: repo.clone(),
            table: sqlite::OUTBOX,
        };
        let source = Some(Source::Grpc);
        assert_eq!(table.pending().await.unwrap(), 0);
        assert_eq!(repo.put(rating("ev", "a", 4), source).await.unwrap(), 1);
        assert_eq!(repo.put(rating("ev", "a", 4), source).await.unwrap(), 0);
        let changes = vec![
            RatingChange::Put(rating("ev", "b", 2)),
            RatingChange::Put(rating("ev", "a", 5)),
            RatingChange::Put(rating("other", "a", 1)),
            RatingChange::Delete {
                key: key("ev"),
                user_id: UserId::new("b").unwrap(),
            },
            // Nothing to delete: no event.
            RatingChange::Delete {
                key: key("ev"),
                user_id: UserId::new("nobody").unwrap(),
            },
        ];
        let written = repo
            .apply(changes.into(), Some(Source::Feed))
            .await
            .unwrap();
        assert_eq!(written, 4);
        // Without events, nothing is written.
        assert_eq!(repo.put(rating("ev", "c", 3), None).await.unwrap(), 0);
        assert_eq!(table.pending().await.unwrap(), 5);
        let rows = table.unsent(100).await.unwrap();
        let events: Vec<RatingChanged> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.payload).unwrap())
            .collect();
        assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
        let seen: Vec<_> = rows
            .iter()
            .zip(&events)
            .map(|(r, e)| {
                assert_eq!(r.key, e.record_id);
                (
                    e.record_id.as_str(),
                    e.user_id.as_str(),
                    e.previous_value,
                    e.value,
                    (e.aggregate.count, e.aggregate.sum),
                    e.source,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("ev", "a", None, Some(4), (1, 4), Source::Grpc),
                ("ev", "b", None, Some(2), (2, 6), Source::Feed),
                ("ev", "a", Some(4), Some(5), (2, 7), Source::Feed),
                ("other", "a", None, Some(1), (1, 1), Source::Feed),
                ("ev", "b", Some(2), None, (1, 5), Source::Feed),
            ]
        );
        // Marked sent up to the third: two left; pruning keeps what is unsent.
        table.mark_sent(rows[2].seq, 1_000).await.unwrap();
        assert_eq!(table.pending().await.unwrap(), 2);
        assert_eq!(table.unsent(100).await.unwrap()[0].seq, rows[3].seq);
        assert_eq!(table.prune(999).await.unwrap(), 0);
        assert_eq!(table.prune(1_001).await.unwrap(), 3);
        assert_eq!(table.unsent(1).await.unwrap().len(), 1);
        assert_eq!(table.pending().await.unwrap(), 2);
    }

    /// Breaks the kept aggregates behind the repository's back.
    async fn corrupt(repo: &Store) {
        let statements = [
            "UPDATE rating_aggregates SET count = count + 1 WHERE record_id = 'busy'",
            "DELETE FROM rating_aggregates WHERE record_id = '1'",
            "INSERT INTO rating_aggregates (record_id, record_type, count, sum) VALUES ('ghost', 'movie', 1, 5)",
        ];
        match repo {
            Store::Sqlite(db) => db
                .write(move |c| {
                    for sql in statements {
                        c.execute(sql, [])?;
                    }
                    Ok(())
                })
                .await
                .unwrap(),
            Store::Mysql(db) => db
                .run(|mut conn| async move {
                    for sql in statements {
                        conn.query_drop(sql).await?;
                    }
                    Ok(())
                })
                .await
                .unwrap(),
        }
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
