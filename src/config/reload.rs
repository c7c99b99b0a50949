//! Reloading a running `serve`'s configuration: on SIGHUP, and when its file changes (the
//! same check as the TLS files'). Only the keys declared [`RELOADABLE`] take effect; a
//! changed key that is not is logged as needing a restart. A file that no longer loads
//! changes nothing: the values in use stay, and the log says why.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex, PoisonError},
};

use super::{Config, Override, features::Toggles};

/// The keys (dotted paths, or prefixes of them ending in `.`) a reload changes in a running
/// process.
pub const RELOADABLE: &[&str] = &["features."];

/// Whether the key at `path` takes effect on reload.
pub fn reloadable(path: &str) -> bool {
    RELOADABLE.iter().any(|p| path.starts_with(p) || *p == path)
}

/// Reloads the configuration as it was loaded at start: the same file, the environment,
/// the same flags over them.
pub struct Reloader {
    file: Option<PathBuf>,
    flags: Vec<Override>,
    /// The configuration in use.
    current: Mutex<Config>,
    toggles: Arc<Toggles>,
}

impl Reloader {
    pub fn new(
        file: Option<PathBuf>,
        flags: Vec<Override>,
        config: Config,
        toggles: Arc<Toggles>,
    ) -> Self {
        let file = file.or_else(|| {
            std::env::var_os(super::CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        Self {
            file,
            flags,
            current: Mutex::new(config),
            toggles,
        }
    }

    /// Loads the configuration again and takes its reloadable values; `why` says what asked.
    pub fn reload(&self, why: &str) {
        // Loading checks every key, as at start.
        let new = match Config::load_from_env(self.file.as_deref(), &self.flags) {
            Ok(loaded) => loaded.config,
            Err(e) => {
                tracing::warn!(error = %e, reason = why, "the configuration cannot be reloaded: the values in use stay");
                return;
            }
        };
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        for path in changed(&current, &new) {
            if !reloadable(&path) {
                tracing::warn!(key = %path, "this key changed but takes effect only after a restart");
            }
        }
        self.toggles.set(&new.features);
        current.features = new.features.clone();
        tracing::debug!(reason = why, "configuration reloaded");
    }

    /// Reloads on SIGHUP and when the file changes, until `stop`.
    pub async fn watch(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        #[cfg(unix)]
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: the configuration reloads only when its file changes");
                None
            }
        };
        let files: Vec<PathBuf> = self.file.iter().cloned().collect();
        let mut stamps = crate::files::Stamps::of(&files);
        loop {
            #[cfg(unix)]
            let hangup_received = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_received = std::future::pending::<()>();
            let why = tokio::select! {
                () = stop.cancelled() => return,
                () = hangup_received => "SIGHUP",
                () = tokio::time::sleep(crate::files::WATCH_INTERVAL) => {
                    let now = crate::files::Stamps::of(&files);
                    if now == stamps {
                        continue;
                    }
                    stamps = now;
                    "the file changed"
                }
            };
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.reload(why)).await;
        }
    }
}

/// The dotted paths whose values differ between `old` and `new`.
fn changed(old: &Config, new: &Config) -> Vec<String> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    diff(&old, &new, "", &mut out);
    out
}

fn diff(old: &serde_json::Value, new: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                diff(
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    &child,
                    out,
                );
            }
        }
        (a, b) if a != b => out.push(path.to_owned()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_features_reload_and_other_changes_are_named() {
        assert!(reloadable("features.ratingChangeEvents"));
        assert!(!reloadable("metadata.api.port"));
        let old = Config::default();
        let mut new = Config::default();
        new.features.rating_change_events = false;
        new.calls.max_attempts = old.calls.max_attempts + 1;
        let changes = changed(&old, &new);
        assert_eq!(
            changes,
            ["calls.maxAttempts", "features.ratingChangeEvents"],
            "{changes:?}"
        );
    }
}
