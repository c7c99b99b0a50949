//! Rating storage in MySQL: the book's chapter-7 `ratings` table, with the primary key
//! that makes a user's new rating replace the old one, and ids compared byte for byte.

use std::sync::Arc;

use mysql_async::{TxOpts, prelude::Queryable};

use crate::{
    database::mysql::Mysql,
    model::{RatingChange, RecordKey},
    server::{error::RepositoryError, rating::controller::Aggregate},
};

/// Schema history; append only, each statement safe to run twice.
pub const MIGRATIONS: &[&str] = &["CREATE TABLE IF NOT EXISTS ratings (
        record_id VARBINARY(255) NOT NULL,
        record_type VARBINARY(255) NOT NULL,
        user_id VARBINARY(255) NOT NULL,
        value INT NOT NULL,
        PRIMARY KEY (record_id, record_type, user_id)
    ) ENGINE = InnoDB"];

const UPSERT: &str = "INSERT INTO ratings (record_id, record_type, user_id, value)
    VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)";
const DELETE: &str = "DELETE FROM ratings WHERE record_id = ? AND record_type = ? AND user_id = ?";

pub async fn aggregate(db: &Arc<Mysql>, key: &RecordKey) -> Result<Aggregate, RepositoryError> {
    // The sum as an integer, not AVG: MySQL's AVG is a DECIMAL rounded to 4 places,
    // where SQLite's is a double.
    let row: Option<(Option<i64>, i64)> = db
        .run(|mut conn| async move {
            conn.exec_first(
                "SELECT CAST(SUM(value) AS SIGNED), COUNT(*) FROM ratings
                 WHERE record_id = ? AND record_type = ?",
                (key.record_id().as_bytes(), key.record_type().as_bytes()),
            )
            .await
        })
        .await?;
    match row {
        Some((Some(sum), count)) if count > 0 => Ok(Aggregate {
            #[allow(clippy::cast_precision_loss)]
            mean: sum as f64 / count as f64,
            count: count.unsigned_abs(),
        }),
        _ => Err(RepositoryError::NotFound),
    }
}

pub async fn apply(db: &Arc<Mysql>, changes: Vec<RatingChange>) -> Result<(), RepositoryError> {
    db.run(|mut conn| {
        let changes = &changes;
        async move {
            let mut tx = conn.start_transaction(TxOpts::default()).await?;
            for change in changes {
                match change {
                    RatingChange::Put(r) => {
                        tx.exec_drop(
                            UPSERT,
                            (
                                r.key().record_id().as_bytes(),
                                r.key().record_type().as_bytes(),
                                r.user_id().as_str().as_bytes(),
                                r.value().get(),
                            ),
                        )
                        .await?;
                    }
                    RatingChange::Delete { key, user_id } => {
                        tx.exec_drop(
                            DELETE,
                            (
                                key.record_id().as_bytes(),
                                key.record_type().as_bytes(),
                                user_id.as_str().as_bytes(),
                            ),
                        )
                        .await?;
                    }
                }
            }
            tx.commit().await
        }
    })
    .await?;
    Ok(())
}
