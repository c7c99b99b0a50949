//! Rating storage in MySQL: the book's chapter-7 `ratings` table, with the primary key
//! that makes a user's new rating replace the old one, and ids compared byte for byte. Each
//! record's count and sum are kept in `rating_aggregates`, changed in the same transaction
//! as its ratings.

use std::sync::Arc;

use mysql_async::{TxOpts, prelude::Queryable};

use std::collections::HashMap;

use super::{Applied, Deltas, Difference, differences_query, outbox_rows};

use crate::{
    database::mysql::Mysql,
    events::Source,
    model::{RatingChange, RecordKey},
    server::{error::RepositoryError, rating::controller::Aggregate},
};

/// Schema history; append only, each statement safe to run twice.
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ratings (
        record_id VARBINARY(255) NOT NULL,
        record_type VARBINARY(255) NOT NULL,
        user_id VARBINARY(255) NOT NULL,
        value INT NOT NULL,
        PRIMARY KEY (record_id, record_type, user_id)
    ) ENGINE = InnoDB",
    "CREATE TABLE IF NOT EXISTS rating_aggregates (
        record_id VARBINARY(255) NOT NULL,
        record_type VARBINARY(255) NOT NULL,
        count BIGINT NOT NULL,
        sum BIGINT NOT NULL,
        PRIMARY KEY (record_id, record_type)
    ) ENGINE = InnoDB",
    // Filled from the ratings there are; run twice, it recomputes the same.
    "INSERT INTO rating_aggregates (record_id, record_type, count, sum)
        SELECT record_id, record_type, COUNT(*), SUM(value) FROM ratings
        GROUP BY record_id, record_type
     ON DUPLICATE KEY UPDATE count = VALUES(count), sum = VALUES(sum)",
    // The outbox of change events (issue 28), written in the ratings' transaction after
    // the aggregates, whose row locks order a record's rows by commit.
    crate::server::outbox::mysql_migration!("rating_outbox"),
];

const UPSERT: &str = "INSERT INTO ratings (record_id, record_type, user_id, value)
    VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)";
const DELETE: &str = "DELETE FROM ratings WHERE record_id = ? AND record_type = ? AND user_id = ?";
/// The user's rating before the change, locked until the transaction ends.
const PREVIOUS: &str =
    "SELECT value FROM ratings WHERE record_id = ? AND record_type = ? AND user_id = ? FOR UPDATE";
const ADD: &str = "INSERT INTO rating_aggregates (record_id, record_type, count, sum)
    VALUES (?, ?, ?, ?)
    ON DUPLICATE KEY UPDATE count = count + VALUES(count), sum = sum + VALUES(sum)";
const DROP_EMPTY: &str =
    "DELETE FROM rating_aggregates WHERE record_id = ? AND record_type = ? AND count <= 0";

pub async fn aggregate(db: &Arc<Mysql>, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
    let row: Option<(i64, i64)> = db
        .run(|mut conn| async move {
            conn.exec_first(
                "SELECT count, sum FROM rating_aggregates WHERE record_id = ? AND record_type = ?",
                (key.record_id().as_bytes(), key.record_type().as_bytes()),
            )
            .await
        })
        .await?;
    Aggregate::of(row).ok_or(RepositoryError::NotFound)
}

pub async fn apply(
    db: &Arc<Mysql>,
    changes: Arc<[RatingChange]>,
    events: Option<Source>,
) -> Result<u64, RepositoryError> {
    let written = db.run(|mut conn| {
        let changes = &changes;
        async move {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let mut deltas = Deltas::default();
            let mut applied = Vec::new();
            for change in changes.iter() {
                let (key, user) = change.target();
                let target = (
                    key.record_id().as_bytes(),
                    key.record_type().as_bytes(),
                    user.as_str().as_bytes(),
                );
                let before: Option<i64> = tx.exec_first(PREVIOUS, target).await?;
                let after = change.value();
                if before == after {
                    continue;
                }
                match after {
                    Some(value) => {
                        tx.exec_drop(UPSERT, (target.0, target.1, target.2, value))
                            .await?;
                    }
                    None => tx.exec_drop(DELETE, target).await?,
                }
                deltas.add(key, before, after);
                if events.is_some() {
                    applied.push(Applied {
                        key: key.clone(),
                        user: user.clone(),
                        before,
                        after,
                    });
                }
            }
            for (key, (count, sum)) in deltas.iter() {
                let record = (key.record_id().as_bytes(), key.record_type().as_bytes());
                tx.exec_drop(ADD, (record.0, record.1, count, sum)).await?;
                if count < 0 {
                    tx.exec_drop(DROP_EMPTY, record).await?;
                }
            }
            let mut written = 0;
            if let Some(source) = events
                && !applied.is_empty()
            {
                let mut finals = HashMap::new();
                for a in &applied {
                    if !finals.contains_key(&a.key) {
                        let row: Option<(i64, i64)> = tx
                            .exec_first(
                                "SELECT count, sum FROM rating_aggregates WHERE record_id = ? AND record_type = ?",
                                (a.key.record_id().as_bytes(), a.key.record_type().as_bytes()),
                            )
                            .await?;
                        finals.insert(a.key.clone(), row.unwrap_or((0, 0)));
                    }
                }
                let now = crate::events::now_ms();
                let rows = outbox_rows(&applied, &finals, source, now);
                written =
                    crate::server::outbox::insert_mysql(&mut tx, super::sqlite::OUTBOX, &rows, now)
                        .await?;
            }
            tx.commit().await?;
            Ok(written)
        }
    })
    .await?;
    Ok(written)
}

/// As on SQLite. The repair recomputes every aggregate in the transaction that found the
/// differences: INSERT … SELECT reads the latest ratings and locks them until it commits,
/// so a write committed meanwhile is counted.
pub async fn check(db: &Arc<Mysql>, repair: bool) -> Result<Vec<Difference>, RepositoryError> {
    type Row = (Vec<u8>, Vec<u8>, Option<i64>, Option<i64>, i64, i64);
    let rows: Vec<Row> = db
        .run(|mut conn| async move {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            let rows: Vec<Row> = tx
                .query(differences_query("CAST(SUM(value) AS SIGNED)"))
                .await?;
            if repair && !rows.is_empty() {
                tx.query_drop("DELETE FROM rating_aggregates").await?;
                tx.query_drop(
                    "INSERT INTO rating_aggregates (record_id, record_type, count, sum)
                     SELECT record_id, record_type, COUNT(*), SUM(value) FROM ratings
                     GROUP BY record_id, record_type",
                )
                .await?;
            }
            tx.commit().await?;
            Ok(rows)
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, count, sum, n, s)| {
            Difference::new(
                &String::from_utf8_lossy(&id),
                &String::from_utf8_lossy(&kind),
                count.zip(sum),
                (n, s),
            )
        })
        .collect())
}

/// Up to `limit` (user id, value) of `key` after user `after`, by user id (bytes).
pub async fn list(
    db: &Arc<Mysql>,
    key: &RecordKey,
    after: Option<String>,
    limit: usize,
) -> Result<Vec<(String, i64)>, RepositoryError> {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let rows: Vec<(Vec<u8>, i64)> = db
        .run(|mut conn| {
            let after = after.as_deref().unwrap_or_default().as_bytes();
            async move {
                conn.exec(
                    "SELECT user_id, value FROM ratings
                     WHERE record_id = ? AND record_type = ? AND user_id > ?
                     ORDER BY user_id LIMIT ?",
                    (
                        key.record_id().as_bytes(),
                        key.record_type().as_bytes(),
                        after,
                        limit,
                    ),
                )
                .await
            }
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(user, value)| (String::from_utf8_lossy(&user).into_owned(), value))
        .collect())
}
