//! Rating storage in its own SQLite file (`rating.db`). The primary key makes a user's new
//! rating of a record replace the old one (docs/design.md §2). Each record's count and sum
//! are kept in `rating_aggregates`, changed in the same transaction as its ratings, so a
//! read is one row however many users rated the record.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};

use std::collections::HashMap;

use super::{Applied, Deltas, Difference, differences_query, outbox_rows};

use crate::server::rating::controller::Aggregate;
use crate::{
    database::sqlite::Database,
    events::Source,
    model::{RatingChange, RecordKey},
    server::error::RepositoryError,
};

/// The outbox of its change events.
pub const OUTBOX: &str = "rating_outbox";

/// The file in the data directory.
pub const FILE: &str = "rating.db";

/// Schema history; append only (docs/design.md §2).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE ratings (
        record_id TEXT, record_type TEXT, user_id TEXT, value INTEGER,
        PRIMARY KEY (record_id, record_type, user_id));",
    // Kept aggregates, filled from the ratings there are.
    "CREATE TABLE rating_aggregates (
        record_id TEXT NOT NULL, record_type TEXT NOT NULL,
        count INTEGER NOT NULL, sum INTEGER NOT NULL,
        PRIMARY KEY (record_id, record_type)) WITHOUT ROWID;
     INSERT INTO rating_aggregates (record_id, record_type, count, sum)
        SELECT record_id, record_type, COUNT(*), SUM(value) FROM ratings
        GROUP BY record_id, record_type;",
    // Ratings clustered by their key (no rowid beside it): reading a user's previous
    // rating, and replacing it, is one B-tree search instead of two, and each rating is
    // stored once instead of in the table and again in its key's index.
    "CREATE TABLE ratings_by_key (
        record_id TEXT NOT NULL, record_type TEXT NOT NULL, user_id TEXT NOT NULL,
        value INTEGER,
        PRIMARY KEY (record_id, record_type, user_id)) WITHOUT ROWID;
     INSERT INTO ratings_by_key (record_id, record_type, user_id, value)
        SELECT record_id, record_type, user_id, value FROM ratings
        ORDER BY record_id, record_type, user_id;
     DROP TABLE ratings;
     ALTER TABLE ratings_by_key RENAME TO ratings;",
    // The outbox of change events (issue 28), written in the ratings' transaction; the
    // relay publishes unsent rows in `seq` order and marks them sent.
    crate::server::outbox::sqlite_migration!("rating_outbox"),
];

/// Recomputes every aggregate from the ratings.
const REBUILD: &str = "
    DELETE FROM rating_aggregates;
    INSERT INTO rating_aggregates (record_id, record_type, count, sum)
        SELECT record_id, record_type, COUNT(*), SUM(value) FROM ratings
        GROUP BY record_id, record_type;";

pub async fn aggregate(db: &Arc<Database>, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
    let key = key.clone();
    let row: Option<(i64, i64)> = db
        .read(move |c| {
            c.prepare_cached(
                "SELECT count, sum FROM rating_aggregates WHERE record_id = ?1 AND record_type = ?2",
            )?
            .query_row(params![key.record_id(), key.record_type()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
        })
        .await?;
    Aggregate::of(row).ok_or(RepositoryError::NotFound)
}

pub async fn apply(
    db: &Arc<Database>,
    changes: Arc<[RatingChange]>,
    events: Option<Source>,
) -> Result<u64, RepositoryError> {
    let written = db
        .write(move |c| {
            let tx = c.transaction()?;
            let mut applied = Vec::new();
            {
                let mut previous = tx.prepare_cached(
                    "SELECT value FROM ratings WHERE record_id = ?1 AND record_type = ?2 AND user_id = ?3",
                )?;
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO ratings (record_id, record_type, user_id, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (record_id, record_type, user_id) DO UPDATE SET value = excluded.value",
                )?;
                let mut delete = tx.prepare_cached(
                    "DELETE FROM ratings WHERE record_id = ?1 AND record_type = ?2 AND user_id = ?3",
                )?;
                let mut deltas = Deltas::default();
                for change in changes.iter() {
                    let (key, user) = change.target();
                    let before: Option<i64> = previous
                        .query_row(
                            params![key.record_id(), key.record_type(), user.as_str()],
                            |r| r.get(0),
                        )
                        .optional()?;
                    let after = change.value();
                    if before == after {
                        continue;
                    }
                    match after {
                        Some(value) => {
                            upsert.execute(params![
                                key.record_id(),
                                key.record_type(),
                                user.as_str(),
                                value
                            ])?;
                        }
                        None => {
                            delete.execute(params![key.record_id(), key.record_type(), user.as_str()])?;
                        }
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
                let mut add = tx.prepare_cached(
                    "INSERT INTO rating_aggregates (record_id, record_type, count, sum) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (record_id, record_type)
                     DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum",
                )?;
                let mut drop_empty = tx.prepare_cached(
                    "DELETE FROM rating_aggregates WHERE record_id = ?1 AND record_type = ?2 AND count <= 0",
                )?;
                for (key, (count, sum)) in deltas.iter() {
                    add.execute(params![key.record_id(), key.record_type(), count, sum])?;
                    if count < 0 {
                        drop_empty.execute(params![key.record_id(), key.record_type()])?;
                    }
                }
            }
            let written = match events {
                Some(source) if !applied.is_empty() => write_outbox(&tx, &applied, source)?,
                _ => 0,
            };
            tx.commit()?;
            Ok(written)
        })
        .await?;
    Ok(written)
}

/// Writes the outbox rows of `applied` in the write's transaction: how many.
fn write_outbox(
    tx: &rusqlite::Transaction<'_>,
    applied: &[Applied],
    source: Source,
) -> rusqlite::Result<u64> {
    let mut finals = HashMap::new();
    {
        let mut read = tx.prepare_cached(
            "SELECT count, sum FROM rating_aggregates WHERE record_id = ?1 AND record_type = ?2",
        )?;
        for a in applied {
            if !finals.contains_key(&a.key) {
                let row: Option<(i64, i64)> = read
                    .query_row(params![a.key.record_id(), a.key.record_type()], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                finals.insert(a.key.clone(), row.unwrap_or((0, 0)));
            }
        }
    }
    let now = crate::events::now_ms();
    let rows = outbox_rows(applied, &finals, source, now);
    crate::server::outbox::insert_sqlite(tx, OUTBOX, &rows, now)
}

/// Every record whose kept aggregate differs from its ratings; with `repair`, all
/// aggregates are recomputed in the same transaction, so none is missed.
pub async fn check(db: &Arc<Database>, repair: bool) -> Result<Vec<Difference>, RepositoryError> {
    let differences = db
        .write(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let differences = tx
                .prepare(&differences_query("SUM(value)"))?
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        (r.get::<_, Option<i64>>(2)?, r.get::<_, Option<i64>>(3)?),
                        (r.get::<_, i64>(4)?, r.get::<_, i64>(5)?),
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            if repair && !differences.is_empty() {
                tx.execute_batch(REBUILD)?;
            }
            tx.commit()?;
            Ok(differences)
        })
        .await?;
    Ok(differences
        .into_iter()
        .map(|(id, kind, (count, sum), actual)| Difference::new(&id, &kind, count.zip(sum), actual))
        .collect())
}

/// Up to `limit` (user id, value) of `key` after user `after`, by user id.
pub async fn list(
    db: &Arc<Database>,
    key: &RecordKey,
    after: Option<String>,
    limit: usize,
) -> Result<Vec<(String, i64)>, RepositoryError> {
    let key = key.clone();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(db
        .read(move |c| {
            // The clustered key (record_id, record_type, user_id): a range scan from
            // `after` ('' sorts before every user id).
            let mut stmt = c.prepare_cached(
                "SELECT user_id, value FROM ratings
                 WHERE record_id = ?1 AND record_type = ?2 AND user_id > ?3
                 ORDER BY user_id LIMIT ?4",
            )?;
            let after = after.unwrap_or_default();
            let rows = stmt.query_map(
                params![key.record_id(), key.record_type(), after, limit],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            rows.collect::<Result<Vec<_>, _>>()
        })
        .await?)
}
