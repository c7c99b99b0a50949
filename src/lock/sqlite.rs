//! The default lock store: `<data-dir>/locks.db`, shared by every movieapp process on the
//! host. Each decision reads and writes a key's row in one IMMEDIATE transaction, so two
//! processes never both take a key; rows are never deleted, so a key's token keeps growing
//! across holders and restarts.

use std::{path::Path, sync::Arc, time::Duration};

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::{BoxFuture, KeyStatus, Lease, LockBackend, LockError, ms, now_ms, table};
use crate::database::sqlite::{Database, SqliteError};

/// The store's file name in the data directory.
pub const FILE_NAME: &str = "locks.db";

/// Schema history; append only.
const MIGRATIONS: &[&str] = &["CREATE TABLE locks (
        key TEXT PRIMARY KEY,
        holder TEXT,
        token INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL);"];

#[derive(Debug)]
pub struct SqliteLocks {
    db: Arc<Database>,
    delay: Duration,
}

impl SqliteLocks {
    pub async fn open(path: &Path, delay: Duration) -> Result<Self, LockError> {
        let db = Database::open_in_background(path, MIGRATIONS)
            .await
            .map_err(|e| failed(path, "cannot open", e))?;
        Ok(Self {
            db: Arc::new(db),
            delay,
        })
    }

    fn failed(&self, what: &str, e: SqliteError) -> LockError {
        failed(self.db.path(), what, e)
    }
}

fn failed(path: &Path, what: &str, e: SqliteError) -> LockError {
    LockError::Backend {
        store: path.display().to_string(),
        what: what.to_owned(),
        source: Box::new(e),
    }
}

fn read_row(tx: &rusqlite::Transaction<'_>, key: &str) -> rusqlite::Result<Option<table::Row>> {
    tx.query_row(
        "SELECT holder, token, expires_at_ms FROM locks WHERE key = ?1",
        params![key],
        |r| {
            Ok(table::Row {
                holder: r.get(0)?,
                token: r.get::<_, i64>(1)?.unsigned_abs(),
                expires_at_ms: r.get(2)?,
            })
        },
    )
    .optional()
}

fn write_row(tx: &rusqlite::Transaction<'_>, key: &str, row: &table::Row) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO locks (key, holder, token, expires_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, token = excluded.token,
             expires_at_ms = excluded.expires_at_ms",
        params![
            key,
            row.holder,
            i64::try_from(row.token).unwrap_or(i64::MAX),
            row.expires_at_ms
        ],
    )
    .map(drop)
}

impl LockBackend for SqliteLocks {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Result<Lease, String>, LockError>> {
        Box::pin(async move {
            let (key_owned, holder_owned) = (key.to_owned(), holder.to_owned());
            let delay = ms(self.delay);
            let decided = self
                .db
                .write(move |c| {
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let row = read_row(&tx, &key_owned)?;
                    let decided =
                        table::acquire(row.as_ref(), &holder_owned, now_ms(), ms(ttl), delay);
                    if let Ok(row) = &decided {
                        write_row(&tx, &key_owned, row)?;
                    }
                    tx.commit()?;
                    Ok(decided)
                })
                .await
                .map_err(|e| self.failed("cannot take a lock", e))?;
            Ok(decided.map(|row| Lease {
                key: key.to_owned(),
                holder: holder.to_owned(),
                token: row.token,
                expires_at_ms: row.expires_at_ms,
                session: String::new(),
            }))
        })
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease, LockError>> {
        Box::pin(async move {
            let owned = lease.clone();
            let renewed = self
                .db
                .write(move |c| {
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let now = now_ms();
                    let renewed = match read_row(&tx, &owned.key)? {
                        Some(mut row) if table::live(&row, &owned, now) => {
                            row.expires_at_ms = now.saturating_add(ms(ttl));
                            write_row(&tx, &owned.key, &row)?;
                            Some(row.expires_at_ms)
                        }
                        _ => None,
                    };
                    tx.commit()?;
                    Ok(renewed)
                })
                .await
                .map_err(|e| self.failed("cannot renew a lease", e))?;
            match renewed {
                Some(expires_at_ms) => Ok(Lease {
                    expires_at_ms,
                    ..lease.clone()
                }),
                None => Err(LockError::Lost {
                    key: lease.key.clone(),
                }),
            }
        })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let owned = lease.clone();
            self.db
                .write(move |c| {
                    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let now = now_ms();
                    if let Some(mut row) = read_row(&tx, &owned.key)?
                        && table::live(&row, &owned, now)
                    {
                        row.holder = None;
                        row.expires_at_ms = now;
                        write_row(&tx, &owned.key, &row)?;
                    }
                    tx.commit()
                })
                .await
                .map_err(|e| self.failed("cannot release a lease", e))
        })
    }

    fn status(&self) -> BoxFuture<'_, Result<Vec<KeyStatus>, LockError>> {
        Box::pin(async move {
            let delay = ms(self.delay);
            self.db
                .read(move |c| {
                    let now = now_ms();
                    let mut statement = c.prepare(
                        "SELECT key, holder, token, expires_at_ms FROM locks ORDER BY key",
                    )?;
                    let rows = statement.query_map([], |r| {
                        let key: String = r.get(0)?;
                        let row = table::Row {
                            holder: r.get(1)?,
                            token: r.get::<_, i64>(2)?.unsigned_abs(),
                            expires_at_ms: r.get(3)?,
                        };
                        Ok(table::status(&key, &row, now, delay))
                    })?;
                    rows.collect()
                })
                .await
                .map_err(|e| self.failed("cannot read the locks", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lock::Locks;
    use tokio_util::sync::CancellationToken;

    #[tokio::test]
    async fn two_stores_on_one_file_never_both_hold_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let delay = Duration::from_millis(300);
        let ttl = Duration::from_millis(600);
        let a = Locks::new(
            Arc::new(SqliteLocks::open(&path, delay).await.unwrap()),
            ttl,
        );
        let b = Locks::new(
            Arc::new(SqliteLocks::open(&path, delay).await.unwrap()),
            ttl,
        );
        let key = "locks/test";
        let held = a.try_acquire(key, "a").await.unwrap().unwrap();
        assert_eq!(held.token(), 1);
        // Renewed in the background: still held after several TTLs.
        tokio::time::sleep(ttl * 3).await;
        assert!(!held.is_lost());
        assert!(b.try_acquire(key, "b").await.unwrap().is_none());
        // Released: the other store gets it at once, with the next token.
        held.release().await.unwrap();
        let stop = CancellationToken::new();
        let held = b
            .acquire(key, "b", Some(Duration::from_secs(2)), &stop)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.token(), 2);
        // Dropped without release: the lease runs out, then the lock-delay, then a takes it.
        let begin = std::time::Instant::now();
        drop(held);
        let held = a
            .acquire(key, "a", Some(Duration::from_secs(5)), &stop)
            .await
            .unwrap()
            .unwrap();
        assert!(begin.elapsed() >= delay, "{:?}", begin.elapsed());
        assert_eq!(held.token(), 3);
        let status = a.backend().status().await.unwrap();
        assert_eq!(status[0].holder.as_deref(), Some("a"));
        assert_eq!(status[0].token, 3);
        // Waiting with a timeout names the holder.
        let err = b
            .acquire(key, "b", Some(Duration::from_millis(300)), &stop)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("a (token 3)"), "{err}");
    }

    #[tokio::test]
    async fn a_holder_that_cannot_renew_in_time_learns_it_has_lost_the_lease() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let ttl = Duration::from_millis(500);
        let store = Arc::new(SqliteLocks::open(&path, Duration::ZERO).await.unwrap());
        let locks = Locks::new(store.clone(), ttl);
        let held = locks.try_acquire("k", "a").await.unwrap().unwrap();
        // Someone else takes the key over behind its back (as after a long pause).
        store
            .db
            .write(|c| c.execute("UPDATE locks SET holder = 'b', token = token + 1", []))
            .await
            .unwrap();
        let lost = held.lost();
        tokio::time::timeout(ttl * 2, lost.cancelled())
            .await
            .unwrap();
        assert!(held.is_lost());
    }
}
