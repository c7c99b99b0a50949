//! The `calls` section of the configuration: how a service (or a CLI client) calls another.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{config::value, discovery::outlier::OutlierSettings};

/// How long one call may take, whatever else is configured.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per call at most, whatever is configured (gRFC A6).
pub const MAX_ATTEMPTS_CAP: u32 = 5;
/// The `calls` section of the configuration: how a service (or a CLI client) calls
/// another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct CallSettings {
    /// The deadline of a call whose caller set none (`grpc-timeout`); servers apply it to
    /// the calls they serve too.
    pub timeout: value::Duration,
    /// Each attempt's own limit: a hung instance costs this much, then the call moves on.
    pub per_try_timeout: value::Duration,
    /// Attempts per call, the first included (at most 5).
    pub max_attempts: u32,
    /// The first retry waits up to this (full jitter), doubling up to `maxBackoff`.
    pub initial_backoff: value::Duration,
    pub max_backoff: value::Duration,
    /// Retry throttling per callee (gRFC A6): a bucket of `maxTokens`; a failure takes one,
    /// a success gives back `tokenRatio`; retries stop while half or less is left.
    pub retry_budget: RetryBudget,
    /// When an instance is taken out of rotation, and for how long.
    pub outlier_detection: OutlierSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct RetryBudget {
    pub max_tokens: f64,
    pub token_ratio: f64,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            max_tokens: 10.0,
            token_ratio: 0.1,
        }
    }
}

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            timeout: value::Duration::from_secs(5),
            per_try_timeout: value::Duration::from_secs(1),
            max_attempts: 3,
            initial_backoff: std::time::Duration::from_millis(25).into(),
            max_backoff: std::time::Duration::from_millis(500).into(),
            retry_budget: RetryBudget::default(),
            outlier_detection: OutlierSettings::default(),
        }
    }
}

impl CallSettings {
    /// Checks what the types cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_ATTEMPTS_CAP).contains(&self.max_attempts) {
            return Err(format!(
                "calls.maxAttempts {}: expected 1 to {MAX_ATTEMPTS_CAP}",
                self.max_attempts
            ));
        }
        let b = &self.retry_budget;
        if !(b.max_tokens >= 1.0 && b.token_ratio > 0.0 && b.token_ratio <= b.max_tokens) {
            return Err(
                "calls.retryBudget: expected maxTokens of at least 1 and tokenRatio above 0"
                    .to_owned(),
            );
        }
        self.outlier_detection.check()
    }
}
