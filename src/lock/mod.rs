//! A distributed lock with leases and fencing (book chapter 15): whoever
//! holds a key holds it for a TTL, renewed in the background; a holder that cannot renew in
//! time learns at once that its lease is lost and must stop; a key whose lease expired
//! unreleased stays locked for a lock-delay, so a holder that was only paused cannot
//! overlap its successor for long; and every acquisition gets a fencing token, strictly
//! increasing per key across holders and restarts, for the stores the holder writes to to
//! reject a stale holder's writes (Kleppmann's fencing).
//!
//! Backends: [`sqlite`] (default; `<data-dir>/locks.db`, shared by every movieapp process on
//! the host), [`memory`] (one process, tests) and [`consul`] (sessions and KV `?acquire=`).

pub mod consul;
pub mod memory;
pub mod settings;
pub mod sqlite;
mod table;

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use crate::BoxFuture;

/// The variable that gives `lock run`'s command its fencing token.
pub const TOKEN_ENV: &str = "MOVIEAPP_LOCK_TOKEN";

/// The key the movie processors compete for (book: `locks/service/movie/processor`).
pub const PROCESSOR_KEY: &str = "locks/service/movie/processor";
/// The key the rating services' outbox relays compete for: one publishes at a time.
pub const RELAY_KEY: &str = "locks/service/rating/relay";
/// The same for the metadata services' outbox.
pub const METADATA_RELAY_KEY: &str = "locks/service/metadata/relay";

/// A lease on a key: who holds it, with which fencing token, until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    pub key: String,
    pub holder: String,
    /// Strictly increasing per key: a newer holder always has a larger one.
    pub token: u64,
    /// Wall-clock Unix milliseconds at which the lease ends unless renewed, as the
    /// backend counts it.
    pub expires_at_ms: i64,
    /// The backend's handle for renewals (a Consul session id); empty where unused.
    #[serde(skip)]
    pub session: String,
}

/// A key as `movieapp lock status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyStatus {
    pub key: String,
    /// The holder, while a lease is live.
    pub holder: Option<String>,
    /// The latest fencing token given out for the key.
    pub token: u64,
    /// When the live lease ends unless renewed (Unix ms).
    pub expires_at_ms: Option<i64>,
    /// When a lease that expired unreleased stops blocking the key (Unix ms).
    pub delayed_until_ms: Option<i64>,
}

/// How long a wait lasted, as a person writes it: `within 2s`, or `at once` for none.
fn waited_for(waited: Duration) -> String {
    if waited.is_zero() {
        "at once (no wait was allowed)".to_owned()
    } else {
        format!("within {}", crate::config::value::Duration::from(waited))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("lock key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    #[error("the lease on {key:?} is lost (it expired or another holder took the key)")]
    Lost { key: String },
    #[error("no lock on {key:?} {}: {holder} holds it", waited_for(*waited))]
    Timeout {
        key: String,
        waited: Duration,
        holder: String,
    },
    #[error("lock store {store}: {what}")]
    Backend {
        store: String,
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What a lock store does; [`Locks`] adds waiting, renewing and loss detection.
pub trait LockBackend: Send + Sync + std::fmt::Debug {
    /// Takes `key` for `holder` for `ttl` if nobody holds it and no lock-delay blocks it;
    /// `Ok(None)` otherwise, with who or what is in the way.
    fn try_acquire<'a>(
        &'a self,
        key: &'a str,
        holder: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Result<Lease, String>, LockError>>;
    /// Extends a live lease by `ttl` from now; `LockError::Lost` if it is no longer live.
    fn renew<'a>(
        &'a self,
        lease: &'a Lease,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<Lease, LockError>>;
    /// Gives the key up at once (no lock-delay follows a release).
    fn release<'a>(&'a self, lease: &'a Lease) -> BoxFuture<'a, Result<(), LockError>>;
    /// Every key the store knows.
    fn status(&self) -> BoxFuture<'_, Result<Vec<KeyStatus>, LockError>>;
}

/// Checks a key: `a/b/c` path segments of letters, digits, `-`, `_` and `.`.
pub fn check_key(key: &str) -> Result<(), LockError> {
    let invalid = |reason| LockError::InvalidKey {
        key: key.to_owned(),
        reason,
    };
    if key.is_empty() || key.len() > 256 {
        return Err(invalid("expected 1 to 256 characters"));
    }
    let segment_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !key.split('/').all(segment_ok) {
        return Err(invalid(
            "expected path segments (a/b/c) of letters, digits, '-', '_' and '.'",
        ));
    }
    Ok(())
}

/// Locks on one store, with the lease settings every holder uses.
#[derive(Debug, Clone)]
pub struct Locks {
    backend: Arc<dyn LockBackend>,
    ttl: Duration,
}

/// How often a waiting `acquire` tries again.
const RETRY: Duration = Duration::from_millis(250);

impl Locks {
    pub fn new(backend: Arc<dyn LockBackend>, ttl: Duration) -> Self {
        Self { backend, ttl }
    }

    pub fn backend(&self) -> &Arc<dyn LockBackend> {
        &self.backend
    }

    /// Takes `key` for `holder` once, without waiting: `None` if it is held or delayed.
    pub async fn try_acquire(&self, key: &str, holder: &str) -> Result<Option<Held>, LockError> {
        check_key(key)?;
        let started = Instant::now();
        Ok(
            match self.backend.try_acquire(key, holder, self.ttl).await? {
                Ok(lease) => Some(Held::start(
                    Arc::clone(&self.backend),
                    lease,
                    self.ttl,
                    started,
                )),
                Err(_) => None,
            },
        )
    }

    /// Takes `key` for `holder`, waiting up to `timeout` (forever when `None`) while
    /// someone else holds it; `LockError::Timeout` names the holder. `stop` ends the wait
    /// early, with `Ok(None)`.
    pub async fn acquire(
        &self,
        key: &str,
        holder: &str,
        timeout: Option<Duration>,
        stop: &CancellationToken,
    ) -> Result<Option<Held>, LockError> {
        check_key(key)?;
        let began = Instant::now();
        loop {
            let started = Instant::now();
            let in_the_way = match self.backend.try_acquire(key, holder, self.ttl).await? {
                Ok(lease) => {
                    return Ok(Some(Held::start(
                        Arc::clone(&self.backend),
                        lease,
                        self.ttl,
                        started,
                    )));
                }
                Err(in_the_way) => in_the_way,
            };
            // The last try is at the end of the wait, not a retry interval before it.
            let left = timeout.map(|t| t.saturating_sub(began.elapsed()));
            if left.is_some_and(|left| left.is_zero()) {
                return Err(LockError::Timeout {
                    key: key.to_owned(),
                    waited: timeout.unwrap_or_default(),
                    holder: in_the_way,
                });
            }
            let pause = left.map_or(RETRY, |left| left.min(RETRY));
            tokio::select! {
                () = stop.cancelled() => return Ok(None),
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

/// A lease being held: renewed in the background at a third of the TTL until released or
/// lost. [`Held::lost`] is cancelled the moment the holder can no longer be sure it holds
/// the key: a renewal was refused, or none succeeded before the lease would have run out
/// (counted on this process's clock from before the acquiring request, so never later
/// than the store counts it).
#[derive(Debug)]
pub struct Held {
    lease: Arc<Mutex<Lease>>,
    backend: Arc<dyn LockBackend>,
    lost: CancellationToken,
    stop: CancellationToken,
    renewer: tokio::task::JoinHandle<()>,
}

impl Held {
    fn start(backend: Arc<dyn LockBackend>, lease: Lease, ttl: Duration, started: Instant) -> Self {
        let token = lease.token;
        let key = lease.key.clone();
        let lease = Arc::new(Mutex::new(lease));
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let renewer = tokio::spawn(renew(
            Arc::clone(&backend),
            Arc::clone(&lease),
            ttl,
            started + ttl,
            lost.clone(),
            stop.clone(),
        ));
        tracing::info!(key, token, "lock acquired");
        Self {
            lease,
            backend,
            lost,
            stop,
            renewer,
        }
    }

    /// The lease as last renewed.
    pub fn lease(&self) -> Lease {
        self.lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The fencing token: every write made under this lease carries it.
    pub fn token(&self) -> u64 {
        self.lease().token
    }

    /// Cancelled when the lease is lost; work done under the lease must stop.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    pub fn is_lost(&self) -> bool {
        self.lost.is_cancelled()
    }

    /// Stops renewing and gives the key up.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop.cancel();
        let _ = (&mut self.renewer).await;
        let lease = self
            .lease
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if self.lost.is_cancelled() {
            return Ok(());
        }
        self.backend.release(&lease).await?;
        tracing::info!(key = lease.key, token = lease.token, "lock released");
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        // Not released: stop renewing; the lease runs out (and the lock-delay follows).
        self.stop.cancel();
    }
}

/// Renews `lease` every `ttl / 3` until `stop`; cancels `lost` when it can no longer be
/// sure of the lease (`deadline` passed without a renewal, or a renewal was refused).
async fn renew(
    backend: Arc<dyn LockBackend>,
    lease: Arc<Mutex<Lease>>,
    ttl: Duration,
    mut deadline: Instant,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let every = ttl / 3;
    let mut next = Instant::now() + every;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(deadline) => {
                let key = lease.lock().unwrap_or_else(PoisonError::into_inner).key.clone();
                tracing::warn!(key, "lock lease lost: no renewal in time");
                lost.cancel();
                return;
            }
            () = tokio::time::sleep_until(next) => {}
        }
        let current = lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let started = Instant::now();
        let renewed = tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(deadline) => {
                tracing::warn!(key = current.key, "lock lease lost: the renewal came too late");
                lost.cancel();
                return;
            }
            renewed = backend.renew(&current, ttl) => renewed,
        };
        match renewed {
            Ok(renewed) => {
                *lease.lock().unwrap_or_else(PoisonError::into_inner) = renewed;
                deadline = started + ttl;
                next = started + every;
            }
            Err(LockError::Lost { key }) => {
                tracing::warn!(key, "lock lease lost: the store refused the renewal");
                lost.cancel();
                return;
            }
            Err(e) => {
                // The store did not answer; try again soon, while the lease lasts.
                tracing::warn!(error = %e, "lock renewal failed; retrying");
                next = Instant::now() + every.min(Duration::from_millis(500));
            }
        }
    }
}

/// A holder's name for `lock status`: `ROLE-PID@HOST`.
pub fn default_holder(role: &str) -> String {
    format!(
        "{role}-{}@{}",
        std::process::id(),
        crate::telemetry::hostname()
    )
}

pub use crate::database::sqlite::now_ms;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_paths_of_plain_segments() {
        assert!(check_key(PROCESSOR_KEY).is_ok());
        assert!(check_key("a").is_ok());
        for bad in ["", "/a", "a/", "a//b", "a/../b", "..", "a b", "a\0b", "é"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    /// The wait is written as a person writes it, and a wait of none says so.
    #[tokio::test]
    async fn a_timeout_says_how_long_it_waited_in_words() {
        let backend: Arc<dyn LockBackend> = Arc::new(memory::MemoryLocks::new(Duration::ZERO));
        let locks = Locks::new(backend, Duration::from_secs(30));
        let stop = CancellationToken::new();
        let _held = locks.acquire("k", "first", None, &stop).await.unwrap();
        let at_once = locks
            .acquire("k", "second", Some(Duration::ZERO), &stop)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            at_once.contains("at once") && at_once.contains("first"),
            "{at_once}"
        );
        assert!(!at_once.contains("ns"), "{at_once}");
        let waited = locks
            .acquire("k", "second", Some(Duration::from_millis(20)), &stop)
            .await
            .unwrap_err()
            .to_string();
        assert!(waited.contains("within 20ms"), "{waited}");
    }

    /// A wait with a timeout makes its last try at the end of the timeout, not a retry
    /// interval before it: a key released just before then is taken.
    #[tokio::test(start_paused = true)]
    async fn a_wait_tries_until_the_end_of_its_timeout() {
        let backend: Arc<dyn LockBackend> = Arc::new(memory::MemoryLocks::new(Duration::ZERO));
        let locks = Arc::new(Locks::new(Arc::clone(&backend), Duration::from_secs(30)));
        let stop = CancellationToken::new();
        let first = locks
            .acquire("k", "first", None, &stop)
            .await
            .unwrap()
            .unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1050)).await;
            first.release().await.unwrap();
        });
        let began = Instant::now();
        let timeout = Some(Duration::from_millis(1100));
        let second = locks.acquire("k", "second", timeout, &stop).await.unwrap();
        assert!(second.is_some(), "taken within the timeout");
        assert!(began.elapsed() <= Duration::from_millis(1100));
        // And a key that stays held times out no sooner than asked.
        let began = Instant::now();
        let third = locks
            .acquire("k", "third", Some(Duration::from_secs(1)), &stop)
            .await;
        assert!(matches!(third, Err(LockError::Timeout { .. })), "{third:?}");
        assert!(began.elapsed() >= Duration::from_secs(1));
    }
}
