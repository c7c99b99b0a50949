//! Fault injection for drills (book chapter 11's "reliability drills"): the `faults`
//! section of the configuration makes chosen endpoints slow, fail or hang, so operators and
//! tests can rehearse an incident. Off unless configured; `serve` warns loudly when any
//! fault is set. The one layer every call passes through applies them
//! ([`crate::server::endpoint`]), so injected failures show in metrics like real ones.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{config::value::Delay, service::ServiceKind};

/// One fault: what it does, to which endpoint, how often.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Fault {
    /// The service whose endpoint misbehaves.
    pub service: ServiceKind,
    /// The endpoint as metrics name it: a gRPC method (`GetMetadata`) or an HTTP route
    /// (`GET /metadata`).
    pub endpoint: String,
    /// Answer this much later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Then fail with this gRPC code (snake_case, e.g. `unavailable`) instead of answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Code>,
    /// Never answer (until the caller gives up).
    #[serde(default)]
    pub hang: bool,
    /// The share of calls it applies to, above 0 and at most 1.
    #[serde(default = "always")]
    pub rate: f64,
}

fn always() -> f64 {
    1.0
}

/// A gRPC code by its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(pub tonic::Code);

impl std::str::FromStr for Code {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::codes::by_name(s)
            .filter(|c| *c != tonic::Code::Ok)
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "unknown gRPC code {s:?}: expected a snake_case name such as unavailable, internal or deadline_exceeded"
                )
            })
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::codes::name(self.0))
    }
}

crate::config::value::serde_via_str!(Code);

/// What the fault does, as a person says it: `answers 200ms late, then fails with
/// unavailable, on 50% of calls`.
impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(delay) = self.delay {
            parts.push(format!("answers {delay} late"));
        }
        if self.hang {
            parts.push("never answers".to_owned());
        } else if let Some(code) = self.error {
            parts.push(format!("fails with {code}"));
        }
        f.write_str(&parts.join(", then "))?;
        if self.rate < 1.0 {
            write!(f, ", on {}% of calls", self.rate * 100.0)?;
        }
        Ok(())
    }
}

impl Fault {
    /// Checks what serde cannot: a rate in range and something to do.
    pub fn check(&self) -> Result<(), String> {
        if !(self.rate > 0.0 && self.rate <= 1.0) {
            return Err(format!(
                "rate {}: expected more than 0 and at most 1",
                self.rate
            ));
        }
        if self.endpoint.trim().is_empty() {
            return Err("endpoint: expected a gRPC method or HTTP route".to_owned());
        }
        if self.delay.is_none() && self.error.is_none() && !self.hang {
            return Err("expected delay, error or hang".to_owned());
        }
        Ok(())
    }

    /// What this call gets, drawn at `rate`: `None` for a normal call.
    pub fn draw(&self) -> Option<Injected> {
        if self.rate < 1.0 && rand::random::<f64>() >= self.rate {
            return None;
        }
        Some(Injected {
            delay: self.delay.map_or(Duration::ZERO, Delay::get),
            error: self.error.map(|c| c.0),
            hang: self.hang,
        })
    }
}

/// A fault drawn for one call.
#[derive(Debug, Clone, Copy)]
pub struct Injected {
    pub delay: Duration,
    pub error: Option<tonic::Code>,
    pub hang: bool,
}

impl Injected {
    /// Plays the fault out on a call: hangs forever, or waits its delay; then the status to
    /// answer with instead of the call's, if it has one.
    pub async fn play(&self) -> Option<tonic::Status> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let code = self.error?;
        let message = format!("injected fault: {}", crate::codes::name(code));
        Some(tonic::Status::new(code, message))
    }
}

/// Checks every fault, naming the one that is wrong.
pub fn check_all(faults: &[Fault]) -> Result<(), String> {
    for (i, fault) in faults.iter().enumerate() {
        fault.check().map_err(|e| format!("faults[{i}]: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_described_in_words() {
        let fault = |yaml: &str| serde_yaml_ng::from_str::<Fault>(yaml).unwrap().to_string();
        assert_eq!(
            fault(
                "{service: metadata, endpoint: GetMetadata, delay: 200ms, error: unavailable, rate: 0.5}"
            ),
            "answers 200ms late, then fails with unavailable, on 50% of calls"
        );
        assert_eq!(
            fault("{service: rating, endpoint: GetAggregatedRating, hang: true}"),
            "never answers"
        );
    }
}
