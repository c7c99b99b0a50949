//! Readiness: is this service able to do its work? `/readyz` answers it on request, and the
//! gRPC health service reports the same state, so HTTP and gRPC probes agree.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio_util::sync::CancellationToken;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::database::Store;

/// How often the gRPC health status is brought up to date.
const REFRESH: Duration = Duration::from_secs(1);

/// The gRPC health service name that answers SERVING as long as the process runs (a
/// liveness probe's `service`); "" and each API's name follow readiness.
pub const LIVENESS: &str = "liveness";

/// How long readiness waits for MySQL to answer a ping.
const MYSQL_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// One thing a service needs to be ready.
enum Check {
    /// Its database is open and answers.
    Database(Store),
    /// Something it runs says it is fine (the registry heartbeat, the feed ingester), or
    /// why it is not.
    Probe(Box<dyn Fn() -> Option<String> + Send + Sync>),
}

#[derive(Default)]
pub struct Readiness {
    checks: Vec<Check>,
}

impl Readiness {
    pub fn database(mut self, db: Store) -> Self {
        self.checks.push(Check::Database(db));
        self
    }

    /// Ready only while `ok` is true; `reason` says what is wrong when it is not.
    pub fn flag(self, ok: Arc<AtomicBool>, reason: &'static str) -> Self {
        self.probe(move || (!ok.load(Ordering::Relaxed)).then(|| reason.to_owned()))
    }

    /// Ready only while `problem` says nothing is wrong.
    pub fn probe(mut self, problem: impl Fn() -> Option<String> + Send + Sync + 'static) -> Self {
        self.checks.push(Check::Probe(Box::new(problem)));
        self
    }

    /// `Ok` when ready, else every reason it is not.
    pub async fn check(&self) -> Result<(), Vec<String>> {
        let mut reasons = Vec::new();
        for check in &self.checks {
            match check {
                Check::Database(Store::Mysql(db)) => {
                    // Bounded: a probe must answer even when the server does not.
                    match tokio::time::timeout(MYSQL_PING_TIMEOUT, db.ping()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => reasons.push(e.to_string()),
                        Err(_) => reasons.push(format!(
                            "database {} did not answer within {MYSQL_PING_TIMEOUT:?}",
                            db.target()
                        )),
                    }
                }
                Check::Database(Store::Sqlite(db)) => {
                    // SQLite keeps using a file that was deleted or moved: look for it too.
                    if !db.path().exists() {
                        reasons.push(format!("database {} is missing", db.path().display()));
                        continue;
                    }
                    if db.is_corrupt() {
                        reasons.push(format!("database {} is corrupt", db.path().display()));
                        continue;
                    }
                    let answered = db
                        .read(|c| {
                            c.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| {
                                r.get::<_, i64>(0)
                            })
                        })
                        .await;
                    if let Err(e) = answered {
                        reasons.push(e.to_string());
                    }
                }
                Check::Probe(problem) => reasons.extend(problem()),
            }
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons)
        }
    }

    /// Keeps the gRPC health of `grpc_name` (and of the server, "") in step with readiness
    /// until `stop`.
    /// Also keeps `serving` true exactly while the service reports SERVING, for callers in
    /// this process.
    pub async fn mirror(
        self: Arc<Self>,
        reporter: HealthReporter,
        grpc_name: &'static str,
        serving: Arc<AtomicBool>,
        stop: CancellationToken,
    ) {
        let mut last = None;
        loop {
            let status = match self.check().await {
                Ok(()) => ServingStatus::Serving,
                Err(reasons) => {
                    let draining = reasons.iter().any(|r| r == "shutting down");
                    if last == Some(ServingStatus::Serving) && !draining {
                        tracing::warn!(grpc_service = grpc_name, ?reasons, "not ready");
                    }
                    ServingStatus::NotServing
                }
            };
            serving.store(status == ServingStatus::Serving, Ordering::Relaxed);
            if last == Some(ServingStatus::NotServing) && status == ServingStatus::Serving {
                tracing::info!(grpc_service = grpc_name, "ready again");
            }
            if last != Some(status) {
                reporter.set_service_status(grpc_name, status).await;
                reporter.set_service_status("", status).await;
                last = Some(status);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(REFRESH) => {}
            }
        }
    }
}
