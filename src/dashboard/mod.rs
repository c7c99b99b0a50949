//! The web dashboard (issue 31): what `serve` shows on `dashboard.port` (the services and
//! the calls between them, instances and endpoints, traces as waterfalls, logs, the feed,
//! locks), and the trace store its traces come from.

pub mod store;
pub mod web;

use serde::{Deserialize, Serialize};

/// The `dashboard` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// The dashboard's port; 0 turns it off. On loopback unless auth is on.
    pub port: u16,
}

/// The book's services use 8081 to 8084.
pub const DEFAULT_PORT: u16 = 8085;

impl Default for Settings {
    fn default() -> Self {
        Self { port: DEFAULT_PORT }
    }
}
