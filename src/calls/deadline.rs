//! Deadlines end to end (book chapter 11; docs/design.md §1): every call a server serves
//! has one — the caller's `grpc-timeout`, else the configured default — and code running
//! for that call reads it here, so calls it makes to other services carry what is left.

use std::{future::Future, time::Duration};

use tokio::time::Instant;

tokio::task_local! {
    static DEADLINE: Instant;
}

/// The deadline of the call being served, if this task serves one.
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Runs `f` as the call with `deadline`.
pub async fn within<F: Future>(deadline: Instant, f: F) -> F::Output {
    DEADLINE.scope(deadline, f).await
}

/// Runs `f` with `deadline` when there is one: [`within`], for work carried into another
/// task.
pub async fn within_if<F: Future>(deadline: Option<Instant>, f: F) -> F::Output {
    match deadline {
        Some(deadline) => within(deadline, f).await,
        None => f.await,
    }
}

/// What an attempt's `grpc-timeout` leaves out of the time remaining, for the answer to
/// travel back.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(5);

/// Sets `grpc-timeout` on an outgoing request to the time left in the current attempt (or
/// call), less a margin for the answer.
pub fn bound<T>(request: &mut tonic::Request<T>) {
    if let Some(deadline) = current() {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        request.set_timeout(
            left.saturating_sub(DEADLINE_MARGIN)
                .max(Duration::from_millis(1)),
        );
    }
}

/// Reads a `grpc-timeout` value (`100m`, `5S`, `2H`…: digits and a unit, per the gRPC
/// HTTP/2 protocol); `None` when malformed.
pub fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("250u"), Some(Duration::from_micros(250)));
        for bad in ["", "m", "10", "10x", "-1m", "1234567890m", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_deadline_is_seen_inside_its_call_only() {
        assert!(current().is_none());
        let deadline = Instant::now() + Duration::from_secs(1);
        within(deadline, async { assert_eq!(current(), Some(deadline)) }).await;
        assert!(current().is_none());
    }
}
