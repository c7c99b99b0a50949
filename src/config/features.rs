//! Feature toggles: the `features` section of the configuration, each with a default and a
//! one-line description, and their live values, which a running `serve` reads on each use.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// The gauge of each toggle: 1 on, 0 off.
pub const ENABLED_METRIC: &str = "movieapp_feature_enabled";

/// The `features` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Features {
    /// Publish every rating change to the `rating-changes` topic, through the outbox.
    pub rating_change_events: bool,
    /// Publish every metadata change to the `metadata-changes` topic, through the outbox.
    pub metadata_change_events: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            rating_change_events: true,
            metadata_change_events: true,
        }
    }
}

impl Features {
    /// Each toggle: its key, its value, and what it does.
    pub fn list(&self) -> [(&'static str, bool, &'static str); 2] {
        [
            (
                "ratingChangeEvents",
                self.rating_change_events,
                "publish every rating change to the rating-changes topic, through the outbox",
            ),
            (
                "metadataChangeEvents",
                self.metadata_change_events,
                "publish every metadata change to the metadata-changes topic, through the outbox",
            ),
        ]
    }
}

/// The toggles' live values.
#[derive(Debug)]
pub struct Toggles {
    rating_change_events: AtomicBool,
    metadata_change_events: AtomicBool,
}

impl Toggles {
    pub fn new(features: &Features) -> Self {
        Self {
            rating_change_events: AtomicBool::new(features.rating_change_events),
            metadata_change_events: AtomicBool::new(features.metadata_change_events),
        }
    }

    /// The values now, as the section holds them.
    pub fn current(&self) -> Features {
        Features {
            rating_change_events: self.rating_change_events(),
            metadata_change_events: self.metadata_change_events(),
        }
    }

    /// Whether rating changes are published.
    pub fn rating_change_events(&self) -> bool {
        self.rating_change_events.load(Ordering::Relaxed)
    }

    /// Whether metadata changes are published.
    pub fn metadata_change_events(&self) -> bool {
        self.metadata_change_events.load(Ordering::Relaxed)
    }

    /// Takes the values of `features`; each change is logged once, with its old and new
    /// value.
    pub fn set(&self, features: &Features) {
        let cells = [&self.rating_change_events, &self.metadata_change_events];
        for ((name, new, _), cell) in features.list().into_iter().zip(cells) {
            let old = cell.swap(new, Ordering::Relaxed);
            if old != new {
                tracing::info!(feature = name, old, new, "feature toggled");
            }
        }
        self.report();
    }

    /// Sets `movieapp_feature_enabled` of each toggle (once metrics are installed).
    pub fn report(&self) {
        for (name, on, _) in self.current().list() {
            metrics::gauge!(ENABLED_METRIC, "feature" => name).set(if on { 1.0 } else { 0.0 });
        }
    }
}
