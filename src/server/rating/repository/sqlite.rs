//! Rating storage in its own SQLite file (`rating.db`). The primary key makes a user's new
//! rating of a record replace the old one (docs/design.md §2).

use std::sync::Arc;

use rusqlite::params;

use crate::server::rating::controller::Aggregate;
use crate::{
    database::sqlite::Database,
    model::{RatingChange, RecordKey},
    server::error::RepositoryError,
};

/// The file in the data directory.
pub const FILE: &str = "rating.db";

/// Schema history; append only (docs/design.md §2).
pub const MIGRATIONS: &[&str] = &["CREATE TABLE ratings (
        record_id TEXT, record_type TEXT, user_id TEXT, value INTEGER,
        PRIMARY KEY (record_id, record_type, user_id));"];

pub async fn aggregate(db: &Arc<Database>, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
    let key = key.clone();
    let (mean, count): (Option<f64>, i64) = db
        .read(move |c| {
            c.prepare_cached(
                "SELECT AVG(value), COUNT(*) FROM ratings WHERE record_id = ?1 AND record_type = ?2",
            )?
            .query_row(params![key.record_id(), key.record_type()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .await?;
    match mean {
        Some(mean) if count > 0 => Ok(Aggregate {
            mean,
            count: count.unsigned_abs(),
        }),
        _ => Err(RepositoryError::NotFound),
    }
}

pub async fn apply(db: &Arc<Database>, changes: Vec<RatingChange>) -> Result<(), RepositoryError> {
    db
        .write(move |c| {
            let tx = c.transaction()?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO ratings (record_id, record_type, user_id, value) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (record_id, record_type, user_id) DO UPDATE SET value = excluded.value",
                )?;
                let mut delete = tx.prepare_cached(
                    "DELETE FROM ratings WHERE record_id = ?1 AND record_type = ?2 AND user_id = ?3",
                )?;
                for change in &changes {
                    match change {
                        RatingChange::Put(r) => upsert.execute(params![
                            r.key().record_id(),
                            r.key().record_type(),
                            r.user_id().as_str(),
                            r.value().get()
                        ])?,
                        RatingChange::Delete { key, user_id } => delete.execute(params![
                            key.record_id(),
                            key.record_type(),
                            user_id.as_str()
                        ])?,
                    };
                }
            }
            tx.commit()
        })
        .await?;
    Ok(())
}
