//! Graceful degradation (book chapter 11): when a dependency cannot answer, a service may
//! answer from the last value it served, marked stale, instead of failing.
//!
//! - The rating service falls back when its database cannot be read.
//! - The movie service falls back when the metadata service is unavailable after retries.
//!
//! What is remembered is bounded in entries (least recently used go first) and in age. A
//! stale answer carries the header `movieapp-stale-seconds` (gRPC response metadata and
//! HTTP alike) with its age, counts in `movieapp_fallbacks_total`, and is logged. A missing
//! value is never made up: "not found" is still "not found", and a value never served is
//! still an error.

use std::{
    hash::Hash,
    sync::{Mutex, PoisonError},
    time::Duration,
};

// Tokio's clock, which tests can pause and move.
use tokio::time::Instant;

use hashlink::LruCache;
use serde::{Deserialize, Serialize};

use crate::{config::value, telemetry::Throttle};

/// The response header (and gRPC metadata key) that marks a stale answer: its age in
/// whole seconds.
pub const STALE_HEADER: &str = "movieapp-stale-seconds";
pub const FALLBACKS_METRIC: &str = "movieapp_fallbacks_total";

/// The `fallback` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct FallbackSettings {
    /// Values remembered per service; 0 turns fallbacks off.
    pub max_entries: usize,
    /// The oldest value a fallback may serve.
    pub max_age: value::Duration,
}

impl Default for FallbackSettings {
    fn default() -> Self {
        Self {
            max_entries: 10_000,
            max_age: value::Duration::from_secs(600),
        }
    }
}

/// The most `maxEntries` may be: a bound on memory is the point.
pub const MAX_ENTRIES: usize = 1_000_000;

impl FallbackSettings {
    pub fn check(&self) -> Result<(), String> {
        if self.max_entries > MAX_ENTRIES {
            return Err(format!(
                "fallback.maxEntries {}: expected 0 (no fallbacks) to {MAX_ENTRIES}",
                self.max_entries
            ));
        }
        Ok(())
    }
}

/// A value, and its age when it is not current.
#[derive(Debug, Clone, PartialEq)]
pub struct Served<T> {
    pub value: T,
    /// `Some(age)`: a fallback to the last value served, this old.
    pub stale: Option<Duration>,
}

impl<T> Served<T> {
    pub fn fresh(value: T) -> Self {
        Self { value, stale: None }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Served<U> {
        Served {
            value: f(self.value),
            stale: self.stale,
        }
    }

    /// The header value for a stale answer.
    pub fn stale_header(&self) -> Option<String> {
        self.stale.map(|age| age.as_secs().to_string())
    }
}

/// Reads the stale mark of another service's answer.
pub fn read_stale_header(value: Option<&str>) -> Option<Duration> {
    value?.parse().ok().map(Duration::from_secs)
}

/// The last values served, for fallbacks.
pub struct LastKnown<K: Hash + Eq, V> {
    /// `None` when fallbacks are off.
    entries: Option<Mutex<LruCache<K, (V, Instant)>>>,
    max_age: Duration,
    dependency: &'static str,
    /// Registered at start, so the series shows at 0 before any fallback.
    fallbacks: metrics::Counter,
    warned: Mutex<Throttle>,
}

impl<K: Hash + Eq + Clone, V: Clone + PartialEq> LastKnown<K, V> {
    /// Remembers what `service` served from `dependency` (both for metrics and logs).
    pub fn new(
        settings: &FallbackSettings,
        service: &'static str,
        dependency: &'static str,
    ) -> Self {
        Self {
            fallbacks: metrics::counter!(FALLBACKS_METRIC, "service" => service, "dependency" => dependency),
            entries: (settings.max_entries > 0)
                .then(|| Mutex::new(LruCache::new(settings.max_entries))),
            max_age: settings.max_age.get(),
            dependency,
            warned: Mutex::new(Throttle::per_minute()),
        }
    }

    /// Remembers `value` as the current one for `key`.
    pub fn remember(&self, key: &K, value: &V) {
        let Some(entries) = &self.entries else { return };
        let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
        // Updated in place when known: no key to clone on the hot path, and no value
        // either while it has not changed.
        if let Some(entry) = entries.get_mut(key) {
            if entry.0 != *value {
                entry.0 = value.clone();
            }
            entry.1 = Instant::now();
        } else {
            entries.insert(key.clone(), (value.clone(), Instant::now()));
        }
    }

    /// Forgets `key` (it no longer has a value).
    pub fn forget(&self, key: &K) {
        if let Some(entries) = &self.entries {
            entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(key);
        }
    }

    /// The last value of `key`, if there is one young enough, marked stale; `failure` is
    /// why it is needed, for the log.
    pub fn recall(&self, key: &K, failure: &dyn std::fmt::Display) -> Option<Served<V>> {
        let entries = self.entries.as_ref()?;
        let (value, at) = entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()?;
        let age = at.elapsed();
        if age > self.max_age {
            return None;
        }
        self.fallbacks.increment(1);
        let loudly = self
            .warned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ready();
        if loudly {
            tracing::warn!(
                dependency = self.dependency,
                error = %failure,
                "{} failed; answering from the last value served, marked stale ({STALE_HEADER}); repeats are logged at debug for a minute",
                self.dependency
            );
        } else {
            tracing::debug!(dependency = self.dependency, error = %failure, "stale fallback");
        }
        Some(Served {
            value,
            stale: Some(age),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_entries: usize, max_age: Duration) -> FallbackSettings {
        FallbackSettings {
            max_entries,
            max_age: max_age.into(),
        }
    }

    #[test]
    fn recalls_the_last_value_marked_stale_and_bounded() {
        let last = LastKnown::new(&settings(2, Duration::from_secs(60)), "rating", "database");
        assert_eq!(last.recall(&"a", &"down"), None, "never served: nothing");
        last.remember(&"a", &1);
        last.remember(&"a", &2);
        let served = last.recall(&"a", &"down").unwrap();
        assert_eq!(served.value, 2);
        assert!(served.stale.is_some());
        assert_eq!(served.stale_header().as_deref(), Some("0"));
        // Two entries at most: the least recently used goes.
        last.remember(&"b", &3);
        last.remember(&"c", &4);
        assert_eq!(last.recall(&"a", &"down"), None);
        assert_eq!(last.recall(&"c", &"down").unwrap().value, 4);
        last.forget(&"c");
        assert_eq!(last.recall(&"c", &"down"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn too_old_or_switched_off_is_nothing() {
        let last = LastKnown::new(&settings(10, Duration::from_secs(60)), "movie", "metadata");
        last.remember(&"a", &1);
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(last.recall(&"a", &"down").unwrap().value, 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(last.recall(&"a", &"down"), None);
        let off = LastKnown::new(&settings(0, Duration::from_secs(60)), "movie", "metadata");
        off.remember(&"a", &1);
        assert_eq!(off.recall(&"a", &"down"), None);
    }

    #[test]
    fn stale_headers_read_back() {
        assert_eq!(read_stale_header(Some("12")), Some(Duration::from_secs(12)));
        assert_eq!(read_stale_header(Some("soon")), None);
        assert_eq!(read_stale_header(None), None);
    }
}
