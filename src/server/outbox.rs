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

/// What a controller needs to publish its changes: its toggle, its outbox's backlog and
/// limit.
pub struct ChangeEvents {
    pub toggles: Arc<crate::config::features::Toggles>,
    /// Whether its toggle is on.
    pub enabled: fn(&crate::config::features::Toggles) -> bool,
    pub backlog: Arc<crate::events::relay::Backlog>,
    pub max_pending: u64,
}

impl ChangeEvents {
    /// Whether a write from `source` writes its events: `None` while the toggle is off; an
    /// error when the outbox is full (nothing is written then).
    pub fn gate(
        &self,
        source: crate::events::Source,
    ) -> Result<Option<crate::events::Source>, crate::server::ServiceError> {
        if !(self.enabled)(&self.toggles) {
            return Ok(None);
        }
        let pending = self.backlog.pending();
        if pending >= self.max_pending {
            return Err(crate::server::ServiceError::Unavailable(format!(
                "{pending} change events wait in the outbox for the broker (events.outbox.maxPending is {}); nothing was stored: try again once the broker is back",
                self.max_pending
            )));
        }
        Ok(Some(source))
    }

    /// Tells the relay of the rows a write added.
    pub fn written(&self, written: &Result<u64, RepositoryError>) {
        if let Ok(n) = written {
            self.backlog.added(*n);
        }
    }
}

/// How a service publishes its changes and hears others'.
pub struct Wiring {
    pub service: crate::service::ServiceKind,
    /// Its outbox table.
    pub table: &'static str,
    pub topic: &'static str,
    /// The lock its relays compete for.
    pub lock_key: &'static str,
    /// Its toggle.
    pub enabled: fn(&crate::config::features::Toggles) -> bool,
}

impl Wiring {
    /// Where the process has a broker (and the locks): the gate for the service's
    /// controller, and its relay, to run until `stop`.
    pub fn publishing(
        &self,
        store: &Store,
        locks: Option<crate::lock::Locks>,
        shared: &super::parts::Shared<'_>,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<(
        ChangeEvents,
        impl std::future::Future<Output = ()> + Send + 'static,
    )> {
        let (broker, locks) = shared.broker.zip(locks)?;
        let backlog = Arc::new(crate::events::relay::Backlog::default());
        let events = ChangeEvents {
            toggles: Arc::clone(shared.toggles),
            enabled: self.enabled,
            backlog: Arc::clone(&backlog),
            max_pending: shared.events.outbox.max_pending,
        };
        let relay = crate::events::relay::Relay {
            outbox: Arc::new(OutboxTable {
                store: store.clone(),
                table: self.table,
            }),
            broker: Arc::clone(broker),
            topic: self.topic,
            lock_key: self.lock_key,
            settings: shared.events.outbox.clone(),
            backlog,
        };
        let holder = crate::lock::default_holder(self.service.name());
        Some((
            events,
            crate::events::relay::run_holding(relay, locks, holder, stop.clone()),
        ))
    }

    /// Where the process has a broker: the follower of the topic, handing each event (of
    /// another process's write, or this one's) to `changed`, until `stop`.
    pub fn listening<E: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        shared: &super::parts::Shared<'_>,
        stop: &tokio_util::sync::CancellationToken,
        changed: impl Fn(E) + Send + Sync + 'static,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let broker = Arc::clone(shared.broker?);
        Some(crate::events::listener::follow(
            broker,
            self.topic,
            format!(
                "caches-{}-{:016x}",
                self.service.name(),
                rand::random::<u64>()
            ),
            stop.clone(),
            changed,
        ))
    }
}
