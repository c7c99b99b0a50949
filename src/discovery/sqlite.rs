//! The default registry: `<data-dir>/registry.db`, shared by every movieapp process on the
//! host, so several `serve` processes find each other and `movieapp registry` can inspect
//! them. Heartbeats are wall-clock timestamps, comparable across processes.

use std::{path::Path, sync::Arc, time::Duration};

use rusqlite::params;

use super::{BoxFuture, Ejection, InstanceInfo, Ownership, Registry, RegistryError, age_secs};
use crate::database::sqlite::{Database, SqliteError};
use crate::database::sqlite::{now_ms, unix_ms};

/// The registry's file name in the data directory.
pub const FILE_NAME: &str = "registry.db";

/// Schema history; append only.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE instances (
        instance_id TEXT PRIMARY KEY,
        service TEXT NOT NULL,
        address TEXT NOT NULL,
        registered_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL);
    CREATE INDEX instances_by_service ON instances (service, last_seen_ms);",
    // Ejections that callers report (outlier detection), for `registry list`.
    "CREATE TABLE ejections (
        service TEXT NOT NULL,
        address TEXT NOT NULL,
        reporter TEXT NOT NULL,
        until_ms INTEGER NOT NULL,
        PRIMARY KEY (service, address, reporter));",
    // Who answers for each instance (its configuration's `ownership`), as JSON.
    "ALTER TABLE instances ADD COLUMN ownership TEXT;",
];

/// Silent instances are kept this many TTLs for inspection, then purged.
const KEEP_SILENT_TTLS: u32 = 12;

#[derive(Debug)]
pub struct SqliteRegistry {
    db: Arc<Database>,
    ttl: Duration,
    /// Registered with this process's instances.
    ownership: Option<Ownership>,
}

impl SqliteRegistry {
    /// Opens (creating if needed) the registry file. A corrupt or unusable file is
    /// `RegistryError::Open`, naming the file.
    pub async fn open(path: &Path, ttl: Duration) -> Result<Self, RegistryError> {
        let db = Database::open_in_background(path, MIGRATIONS)
            .await
            .map_err(|source| RegistryError::Open {
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            db: Arc::new(db),
            ttl,
            ownership: None,
        })
    }

    /// Registers `ownership` with every instance.
    pub fn with_ownership(mut self, ownership: Option<Ownership>) -> Self {
        self.ownership = ownership;
        self
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    fn failed(&self, e: SqliteError) -> RegistryError {
        RegistryError::Backend {
            registry: self.describe(),
            what: "database".to_owned(),
            source: Box::new(e),
        }
    }
}

impl Registry for SqliteRegistry {
    fn register<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
        addr: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let (id, service, addr) = (instance_id.to_owned(), service.to_owned(), addr.to_owned());
        let purge_before = now_ms() - self.ttl_ms() * i64::from(KEEP_SILENT_TTLS);
        let ownership = self
            .ownership
            .as_ref()
            .and_then(|o| serde_json::to_string(o).ok());
        Box::pin(async move {
            self.db
                .write(move |c| {
                    let now = now_ms();
                    let tx = c.transaction()?;
                    tx.execute(
                        "INSERT INTO instances (instance_id, service, address, registered_ms, last_seen_ms, ownership)
                         VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                         ON CONFLICT (instance_id) DO UPDATE SET service = excluded.service,
                             address = excluded.address, last_seen_ms = excluded.last_seen_ms,
                             ownership = excluded.ownership",
                        params![id, service, addr, now, ownership],
                    )?;
                    tx.execute(
                        "DELETE FROM instances WHERE last_seen_ms < ?1",
                        params![purge_before],
                    )?;
                    tx.commit()
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn deregister<'a>(
        &'a self,
        instance_id: &'a str,
        _service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let id = instance_id.to_owned();
        Box::pin(async move {
            self.db
                .write(move |c| {
                    c.execute("DELETE FROM instances WHERE instance_id = ?1", params![id])
                })
                .await
                .map(|_| ())
                .map_err(|e| self.failed(e))
        })
    }

    fn service_addresses<'a>(
        &'a self,
        service: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, RegistryError>> {
        let service = service.to_owned();
        let since = now_ms() - self.ttl_ms();
        Box::pin(async move {
            self.db
                .read(move |c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT address FROM instances WHERE service = ?1 AND last_seen_ms >= ?2
                         ORDER BY instance_id",
                    )?;
                    let rows = stmt.query_map(params![service, since], |r| r.get(0))?;
                    rows.collect()
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn report_healthy_state<'a>(
        &'a self,
        instance_id: &'a str,
        service: &'a str,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let id = instance_id.to_owned();
        Box::pin(async move {
            let updated = self
                .db
                .write(move |c| {
                    c.execute(
                        "UPDATE instances SET last_seen_ms = ?1 WHERE instance_id = ?2",
                        params![now_ms(), id],
                    )
                })
                .await
                .map_err(|e| self.failed(e))?;
            if updated == 0 {
                return Err(RegistryError::NotRegistered {
                    instance_id: instance_id.to_owned(),
                    service: service.to_owned(),
                    registry: self.describe(),
                });
            }
            Ok(())
        })
    }

    fn report_ejection<'a>(
        &'a self,
        service: &'a str,
        addr: &'a str,
        reporter: &'a str,
        until: Option<std::time::SystemTime>,
    ) -> BoxFuture<'a, Result<(), RegistryError>> {
        let (service, addr, reporter) = (service.to_owned(), addr.to_owned(), reporter.to_owned());
        let until_ms = until.map(unix_ms);
        Box::pin(async move {
            self.db
                .write(move |c| {
                    let tx = c.transaction()?;
                    // Reports of callers that went away expire by themselves.
                    tx.execute(
                        "DELETE FROM ejections WHERE until_ms < ?1 OR (service = ?2 AND address = ?3 AND reporter = ?4)",
                        params![now_ms(), service, addr, reporter],
                    )?;
                    if let Some(until_ms) = until_ms {
                        tx.execute(
                            "INSERT INTO ejections (service, address, reporter, until_ms) VALUES (?1, ?2, ?3, ?4)",
                            params![service, addr, reporter, until_ms],
                        )?;
                    }
                    tx.commit()
                })
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn instances(&self) -> BoxFuture<'_, Result<Vec<InstanceInfo>, RegistryError>> {
        let ttl_secs = self.ttl.as_secs_f64();
        Box::pin(async move {
            type Row = (String, String, String, i64);
            type Instance = (String, String, String, i64, Option<String>);
            let (rows, ejections): (Vec<Instance>, Vec<Row>) = self
                .db
                .read(|c| {
                    let mut stmt = c.prepare_cached(
                        "SELECT service, instance_id, address, last_seen_ms, ownership FROM instances
                         ORDER BY service, instance_id",
                    )?;
                    let rows = stmt.query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?;
                    let rows = rows.collect::<rusqlite::Result<_>>()?;
                    let mut stmt = c.prepare_cached(
                        "SELECT service, address, reporter, until_ms FROM ejections
                         WHERE until_ms > ?1 ORDER BY reporter",
                    )?;
                    let ejections = stmt.query_map(params![now_ms()], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?;
                    Ok((rows, ejections.collect::<rusqlite::Result<_>>()?))
                })
                .await
                .map_err(|e| self.failed(e))?;
            Ok(rows
                .into_iter()
                .map(|(service, instance_id, address, last_seen, ownership)| {
                    let age = age_secs(last_seen);
                    let ejections = ejections
                        .iter()
                        .filter(|(s, a, _, _)| *s == service && *a == address)
                        .map(|(_, _, by, until)| Ejection {
                            by: by.clone(),
                            remaining_secs: (until - now_ms()).max(0) as f64 / 1000.0,
                        })
                        .collect();
                    InstanceInfo {
                        service,
                        instance_id,
                        address,
                        healthy: age <= ttl_secs,
                        last_heartbeat_secs: Some(age),
                        ejections,
                        // Written by movieapp; anything else is left out, not an error.
                        ownership: ownership.and_then(|o| serde_json::from_str(&o).ok()),
                    }
                })
                .collect())
        })
    }

    fn describe(&self) -> String {
        format!("sqlite:{}", self.db.path().display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let a = SqliteRegistry::open(&path, Duration::from_secs(5))
            .await
            .unwrap();
        let b = SqliteRegistry::open(&path, Duration::from_secs(5))
            .await
            .unwrap();
        a.register("metadata-1", "metadata", "127.0.0.1:1")
            .await
            .unwrap();
        b.register("metadata-2", "metadata", "127.0.0.1:2")
            .await
            .unwrap();
        assert_eq!(
            a.service_addresses("metadata").await.unwrap(),
            ["127.0.0.1:1", "127.0.0.1:2"]
        );
        b.report_healthy_state("metadata-1", "metadata")
            .await
            .unwrap();
        b.deregister("metadata-1", "metadata").await.unwrap();
        assert_eq!(
            a.service_addresses("metadata").await.unwrap(),
            ["127.0.0.1:2"]
        );
        assert!(matches!(
            a.report_healthy_state("metadata-1", "metadata").await,
            Err(RegistryError::NotRegistered { .. })
        ));
        let listed = a.instances().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].instance_id, "metadata-2");
        assert!(listed[0].healthy);
        assert!(a.describe().starts_with("sqlite:") && a.describe().ends_with("registry.db"));
    }

    #[tokio::test]
    async fn silent_instances_are_unhealthy_then_purged() {
        let dir = tempfile::tempdir().unwrap();
        let r = SqliteRegistry::open(&dir.path().join(FILE_NAME), Duration::from_secs(5))
            .await
            .unwrap();
        r.register("rating-old", "rating", "127.0.0.1:1")
            .await
            .unwrap();
        r.register("rating-dead", "rating", "127.0.0.1:2")
            .await
            .unwrap();
        // Age them by hand rather than sleep: 6 s and 2 minutes of silence.
        r.db.write(|c| {
            c.execute("UPDATE instances SET last_seen_ms = last_seen_ms - 6000 WHERE instance_id = 'rating-old'", [])?;
            c.execute("UPDATE instances SET last_seen_ms = last_seen_ms - 120000 WHERE instance_id = 'rating-dead'", [])
        })
        .await
        .unwrap();
        assert!(r.service_addresses("rating").await.unwrap().is_empty());
        let listed = r.instances().await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|i| !i.healthy));
        // The next registration purges what has been silent for a minute.
        r.register("rating-new", "rating", "127.0.0.1:3")
            .await
            .unwrap();
        let ids: Vec<String> = r
            .instances()
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.instance_id)
            .collect();
        assert_eq!(ids, ["rating-new", "rating-old"]);
    }

    #[tokio::test]
    async fn a_corrupt_file_is_an_open_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let err = SqliteRegistry::open(&path, HEALTHY).await.unwrap_err();
        assert!(matches!(err, RegistryError::Open { .. }), "{err}");
        assert!(err.to_string().contains("registry.db"), "{err}");
    }

    const HEALTHY: Duration = Duration::from_secs(5);
}
