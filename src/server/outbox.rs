//! The outboxes of change events (issue 28), one table per service beside its data
//! (`rating_outbox`, `metadata_outbox`): rows written in the data's own transaction, read,
//! marked sent and pruned by the relay ([`crate::events::relay`]), on SQLite and MySQL.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use rusqlite::params;

use crate::{
    database::{Store, mysql::Mysql, sqlite::Database},
    events::{Answer, Outbox, OutboxError, Pending},
    server::error::RepositoryError,
};

/// An outbox table in a service's store.
#[derive(Clone)]
pub struct OutboxTable {
    pub store: Store,
    /// A constant of the service's schema, never input.
    pub table: &'static str,
}

/// The SQLite statement creating an outbox table (a migration of its service).
macro_rules! sqlite_migration {
    ($table:literal) => {
        concat!(
            "CREATE TABLE ",
            $table,
            " (seq INTEGER PRIMARY KEY AUTOINCREMENT, record_id TEXT NOT NULL, payload TEXT NOT NULL, created_ms INTEGER NOT NULL, sent_ms INTEGER);
             CREATE INDEX ",
            $table,
            "_unsent ON ",
            $table,
            " (seq) WHERE sent_ms IS NULL;"
        )
    };
}

/// The MySQL statement creating an outbox table (a migration of its service).
macro_rules! mysql_migration {
    ($table:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $table,
            " (seq BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, record_id VARBINARY(255) NOT NULL, payload BLOB NOT NULL, created_ms BIGINT NOT NULL, sent_ms BIGINT NULL, INDEX ",
            $table,
            "_unsent (sent_ms, seq)) ENGINE = InnoDB"
        )
    };
}

pub(crate) use {mysql_migration, sqlite_migration};

/// Writes `rows` (key, event) into `table` in a SQLite transaction.
pub fn insert_sqlite(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    rows: &[(String, String)],
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let mut insert = tx.prepare_cached(&format!(
        "INSERT INTO {table} (record_id, payload, created_ms) VALUES (?1, ?2, ?3)"
    ))?;
    for (key, payload) in rows {
        insert.execute(params![key, payload, now_ms])?;
    }
    Ok(rows.len() as u64)
}

/// Writes `rows` (key, event) into `table` in a MySQL transaction.
pub async fn insert_mysql(
    tx: &mut mysql_async::Transaction<'_>,
    table: &str,
    rows: &[(String, String)],
    now_ms: i64,
) -> Result<u64, mysql_async::Error> {
    tx.exec_batch(
        format!("INSERT INTO {table} (record_id, payload, created_ms) VALUES (?, ?, ?)"),
        rows.iter()
            .map(|(key, payload)| (key.as_bytes(), payload.as_bytes(), now_ms)),
    )
    .await?;
    Ok(rows.len() as u64)
}

impl Outbox for OutboxTable {
    fn unsent(&self, limit: usize) -> Answer<Vec<Pending>> {
        let this = self.clone();
        Box::pin(async move {
            match &this.store {
                Store::Sqlite(db) => sqlite_unsent(db, this.table, limit).await,
                Store::Mysql(db) => mysql_unsent(db, this.table, limit).await,
            }
            .map_err(outbox_error)
        })
    }

    fn mark_sent(&self, through: i64, now_ms: i64) -> Answer<()> {
        let this = self.clone();
        let sql = format!(
            "UPDATE {} SET sent_ms = ? WHERE sent_ms IS NULL AND seq <= ?",
            this.table
        );
        Box::pin(async move {
            execute(&this.store, sql, (now_ms, Some(through)))
                .await
                .map(|_| ())
                .map_err(outbox_error)
        })
    }

    fn prune(&self, before_ms: i64) -> Answer<u64> {
        let this = self.clone();
        let sql = format!(
            "DELETE FROM {} WHERE sent_ms IS NOT NULL AND sent_ms < ?",
            this.table
        );
        Box::pin(async move {
            execute(&this.store, sql, (before_ms, None::<i64>))
                .await
                .map_err(outbox_error)
        })
    }

    fn pending(&self) -> Answer<u64> {
        let this = self.clone();
        let sql = format!("SELECT COUNT(*) FROM {} WHERE sent_ms IS NULL", this.table);
        async move {
            let n: i64 = match &this.store {
                Store::Sqlite(db) => {
                    db.read(move |c| c.prepare_cached(&sql)?.query_row([], |r| r.get(0)))
                        .await?
                }
                Store::Mysql(db) => db
                    .run(|mut conn| {
                        let sql = sql.clone();
                        async move { conn.query_first(sql).await }
                    })
                    .await?
                    .unwrap_or(0),
            };
            Ok::<_, RepositoryError>(u64::try_from(n).unwrap_or(0))
        }
        .map_err_outbox()
    }
}

/// Runs a statement with one or two integer parameters (`?` placeholders): rows changed.
async fn execute(
    store: &Store,
    sql: String,
    (first, second): (i64, Option<i64>),
) -> Result<u64, RepositoryError> {
    match store {
        Store::Sqlite(db) => {
            let n = db
                .write(move |c| {
                    let mut statement = c.prepare_cached(&sql)?;
                    match second {
                        Some(second) => statement.execute(params![first, second]),
                        None => statement.execute(params![first]),
                    }
                })
                .await?;
            Ok(n as u64)
        }
        Store::Mysql(db) => Ok(db
            .run(|mut conn| {
                let sql = sql.clone();
                async move {
                    match second {
                        Some(second) => conn.exec_drop(sql, (first, second)).await?,
                        None => conn.exec_drop(sql, (first,)).await?,
                    }
                    Ok(conn.affected_rows())
                }
            })
            .await?),
    }
}

async fn sqlite_unsent(
    db: &Arc<Database>,
    table: &str,
    limit: usize,
) -> Result<Vec<Pending>, RepositoryError> {
    let sql = format!(
        "SELECT seq, record_id, payload FROM {table} WHERE sent_ms IS NULL ORDER BY seq LIMIT ?1"
    );
    Ok(db
        .read(move |c| {
            c.prepare_cached(&sql)?
                .query_map(params![limit as i64], |r| {
                    Ok(Pending {
                        seq: r.get(0)?,
                        key: r.get(1)?,
                        payload: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?)
}

async fn mysql_unsent(
    db: &Arc<Mysql>,
    table: &str,
    limit: usize,
) -> Result<Vec<Pending>, RepositoryError> {
    let limit = u64::try_from(limit).unwrap_or(u64::MAX);
    let sql = format!(
        "SELECT seq, record_id, payload FROM {table} WHERE sent_ms IS NULL ORDER BY seq LIMIT ?"
    );
    let rows: Vec<(i64, Vec<u8>, Vec<u8>)> = db
        .run(|mut conn| {
            let sql = sql.clone();
            async move { conn.exec(sql, (limit,)).await }
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, key, payload)| Pending {
            seq,
            key: String::from_utf8_lossy(&key).into_owned(),
            payload: String::from_utf8_lossy(&payload).into_owned(),
        })
        .collect())
}

fn outbox_error(e: RepositoryError) -> OutboxError {
    OutboxError(e.to_string())
}

trait MapErrOutbox<T> {
    fn map_err_outbox(self) -> Answer<T>;
}

impl<T, F> MapErrOutbox<T> for F
where
    F: std::future::Future<Output = Result<T, RepositoryError>> + Send + 'static,
{
    fn map_err_outbox(self) -> Answer<T> {
        Box::pin(async move { self.await.map_err(outbox_error) })
    }
}
