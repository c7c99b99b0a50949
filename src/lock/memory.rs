//! Locks in this process only, for tests: the same rules as the sqlite store.

use std::{
    collections::BTreeMap,
    sync::{Mutex, PoisonError},
    time::Duration,
};

use super::{BoxFuture, KeyStatus, Lease, LockBackend, LockError, ms, now_ms, table};

#[derive(Debug)]
pub struct MemoryLocks {
    rows: Mutex<BTreeMap<String, table::Row>>,
    delay: Duration,
}

impl MemoryLocks {
    pub fn new(delay: Duration) -> Self {
        Self {
            rows: Mutex::new(BTreeMap::new()),
            delay,
        }
    }

    fn rows(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, table::Row>> {
        self.rows.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl LockBackend for MemoryLocks {
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Result<Lease, String>, LockError>> {
        Box::pin(async move {
            let mut rows = self.rows();
            let row = table::acquire(rows.get(key), holder, now_ms(), ms(ttl), ms(self.delay));
            Ok(row.map(|row| {
                let lease = Lease {
                    key: key.to_owned(),
                    holder: holder.to_owned(),
                    token: row.token,
                    expires_at_ms: row.expires_at_ms,
                    session: String::new(),
                };
                rows.insert(key.to_owned(), row);
                lease
            }))
        })
    }

    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease, LockError>> {
        Box::pin(async move {
            let now = now_ms();
            let mut rows = self.rows();
            match rows.get_mut(&lease.key) {
                Some(row) if table::live(row, lease, now) => {
                    row.expires_at_ms = now.saturating_add(ms(ttl));
                    Ok(Lease {
                        expires_at_ms: row.expires_at_ms,
                        ..lease.clone()
                    })
                }
                _ => Err(LockError::Lost {
                    key: lease.key.clone(),
                }),
            }
        })
    }

    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let now = now_ms();
            if let Some(row) = self.rows().get_mut(&lease.key)
                && table::live(row, lease, now)
            {
                row.holder = None;
                row.expires_at_ms = now;
            }
            Ok(())
        })
    }

    fn status(&self) -> BoxFuture<'_, Result<Vec<KeyStatus>, LockError>> {
        Box::pin(async move {
            let now = now_ms();
            Ok(self
                .rows()
                .iter()
                .map(|(key, row)| table::status(key, row, now, ms(self.delay)))
                .collect())
        })
    }
}
