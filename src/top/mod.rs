//! `movieapp top`'s figures: what each instance already serves (`/metrics`, `/readyz`),
//! read twice an interval apart and turned into rates and percentiles over that interval,
//! from counter and histogram deltas rather than lifetime averages.

pub mod prometheus;
pub mod view;
pub mod watch;

use std::time::Duration;

use prometheus::Sample;

/// Endpoints that are the operator's, not the service's: not counted as its calls (top's
/// own scrapes would otherwise show as load).
const OPERATIONAL: &[&str] = &[
    "GET /metrics",
    "GET /healthz",
    "GET /readyz",
    "GET /debug/pprof/profile",
    "GET /debug/traces",
    "GET /debug/logs",
    "Check",
    "Watch",
    "ServerReflectionInfo",
];

/// How an instance answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Serving,
    /// `/readyz` answered 503: its reasons.
    NotServing(String),
    /// It answered, but refused to show its figures (401, 403).
    Refused(u16),
    /// No answer: why.
    Unreachable(String),
}

impl State {
    /// Words for a table.
    pub fn describe(&self) -> String {
        match self {
            Self::Serving => "serving".into(),
            Self::NotServing(why) => format!("NOT SERVING: {why}"),
            Self::Refused(status) => format!("refused ({status})"),
            Self::Unreachable(why) => format!("UNREACHABLE: {why}"),
        }
    }
}

/// What one instance answered at one moment.
#[derive(Debug, Clone)]
pub struct Reading {
    pub state: State,
    /// Its `/metrics`; empty when it could not be read.
    pub samples: Vec<Sample>,
}

/// Reads `/readyz` and `/metrics` of the instance at `base` (`http://host:port`); only
/// `/readyz` without `metrics` (another instance of its process answers for them).
pub async fn read(client: &reqwest::Client, base: &str, metrics: bool) -> Reading {
    let state = match client.get(format!("{base}/readyz")).send().await {
        Err(e) => State::Unreachable(root_cause(&e)),
        Ok(r) if r.status().is_success() => State::Serving,
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => State::Refused(r.status().as_u16()),
        Ok(r) => {
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let reasons = body["reasons"]
                .as_array()
                .map(|rs| {
                    rs.iter()
                        .filter_map(serde_json::Value::as_str)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| format!("HTTP {status}"));
            State::NotServing(reasons)
        }
    };
    if matches!(state, State::Unreachable(_)) || !metrics {
        return Reading {
            state,
            samples: Vec::new(),
        };
    }
    match client.get(format!("{base}/metrics")).send().await {
        Ok(r) if r.status().is_success() => Reading {
            state,
            samples: prometheus::parse(&r.text().await.unwrap_or_default()),
        },
        Ok(r) => Reading {
            state: State::Refused(r.status().as_u16()),
            samples: Vec::new(),
        },
        Err(e) => Reading {
            state: State::Unreachable(root_cause(&e)),
            samples: Vec::new(),
        },
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// One instance's figures over one interval.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub calls_per_sec: f64,
    /// Share of the interval's calls that failed, in percent; `None` without calls.
    pub error_percent: Option<f64>,
    /// Milliseconds; `None` without calls.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Stale answers served because a dependency failed, per second.
    pub fallbacks_per_sec: f64,
    /// Calls refused by rate limits or load shedding (RESOURCE_EXHAUSTED), per second.
    pub shed_per_sec: f64,
    /// Since the process started; `None` when it does not say.
    pub uptime_secs: Option<f64>,
    /// Calls under way when it was read; `None` when it does not say.
    pub in_flight: Option<f64>,
}

/// The figures of `service` between two scrapes of its process, `elapsed` apart. `now` is
/// the Unix time of the second scrape, for the uptime.
pub fn figures(
    service: &str,
    before: &[Sample],
    after: &[Sample],
    elapsed: Duration,
    now_unix_secs: f64,
) -> Figures {
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let of_service = |s: &Sample| s.label("service") == Some(service);
    let counted = |s: &Sample| of_service(s) && !s.label("endpoint").is_some_and(is_operational);
    Figures {
        fallbacks_per_sec: delta(before, after, "movieapp_fallbacks_total", &of_service) / seconds,
        uptime_secs: after
            .iter()
            .find(|s| s.name == "process_start_time_seconds")
            .map(|s| (now_unix_secs - s.value).max(0.0)),
        in_flight: after
            .iter()
            .find(|s| s.name == "movieapp_calls_in_flight" && of_service(s))
            .map(|s| s.value.max(0.0)),
        ..calls_over(before, after, seconds, &counted)
    }
}

/// Calls/s, error %, shed/s and p50/p99 of the calls `keep` selects, over `seconds`.
fn calls_over(
    before: &[Sample],
    after: &[Sample],
    seconds: f64,
    keep: &dyn Fn(&Sample) -> bool,
) -> Figures {
    let calls = delta(before, after, "movieapp_calls_total", keep);
    let errors = delta(before, after, "movieapp_errors_total", keep);
    let shed = delta(before, after, "movieapp_errors_total", &|s: &Sample| {
        keep(s) && s.label("error") == Some("resource_exhausted")
    });
    let buckets = bucket_deltas(before, after, keep);
    Figures {
        calls_per_sec: calls / seconds,
        error_percent: (calls > 0.0).then(|| 100.0 * errors / calls),
        p50_ms: quantile(&buckets, 0.5).map(|s| s * 1e3),
        p99_ms: quantile(&buckets, 0.99).map(|s| s * 1e3),
        shed_per_sec: shed / seconds,
        ..Figures::default()
    }
}

/// The figures of each of `service`'s endpoints (the operator's own left out) between two
/// scrapes, `elapsed` apart.
pub fn endpoint_figures(
    service: &str,
    before: &[Sample],
    after: &[Sample],
    elapsed: Duration,
) -> Vec<(String, Figures)> {
    let mut names: Vec<&str> = after
        .iter()
        .filter(|s| s.name == "movieapp_calls_total" && s.label("service") == Some(service))
        .filter_map(|s| s.label("endpoint"))
        .filter(|e| !is_operational(e))
        .collect();
    names.sort_unstable();
    names.dedup();
    let seconds = elapsed.as_secs_f64().max(1e-9);
    names
        .into_iter()
        .map(|endpoint| {
            let of = |s: &Sample| {
                s.label("service") == Some(service) && s.label("endpoint") == Some(endpoint)
            };
            (endpoint.to_owned(), calls_over(before, after, seconds, &of))
        })
        .collect()
}

/// Calls between services over the interval, from each process's client counters (by
/// callee): the movie service calls metadata and rating; whoever checks tokens with the
/// auth service's keys calls auth.
pub fn edges(processes: &[(String, &[Sample], &[Sample])], elapsed: Duration) -> Vec<watch::Edge> {
    use crate::calls::retry::{ATTEMPTS_METRIC, FAILURES_METRIC};
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mut edges: Vec<watch::Edge> = Vec::new();
    for callee in ["metadata", "rating", "auth"] {
        let of = |s: &Sample| s.label("callee") == Some(callee);
        let (mut calls, mut failed, mut seen) = (0.0, 0.0, false);
        for (_, before, after) in processes {
            seen |= after.iter().any(|s| s.name == ATTEMPTS_METRIC && of(s));
            calls += delta(before, after, ATTEMPTS_METRIC, &of);
            failed += delta(before, after, FAILURES_METRIC, &of);
        }
        if !seen || elapsed.is_zero() {
            continue;
        }
        let from = if callee == "auth" {
            "services"
        } else {
            "movie"
        };
        edges.push(watch::Edge {
            from: from.to_owned(),
            to: callee.to_owned(),
            calls_per_sec: calls / seconds,
            error_percent: (calls > 0.0).then(|| 100.0 * (failed / calls).min(1.0)),
        });
    }
    edges
}

/// Events of `topic` applied per second over the interval, by all `processes`.
pub fn applied_per_sec(
    processes: &[(String, &[Sample], &[Sample])],
    topic: &str,
    elapsed: Duration,
) -> f64 {
    let of = |s: &Sample| s.label("topic") == Some(topic);
    let applied: f64 = processes
        .iter()
        .map(|(_, before, after)| delta(before, after, crate::feed::ingester::APPLIED_METRIC, &of))
        .sum();
    applied / elapsed.as_secs_f64().max(1e-9)
}

fn is_operational(endpoint: &str) -> bool {
    OPERATIONAL.contains(&endpoint)
}

/// The increase of the counters named `name` that `keep` selects, summed. A counter lower
/// than before was reset (its process restarted): its whole value is the increase, as
/// Prometheus's `increase` takes it.
fn delta(before: &[Sample], after: &[Sample], name: &str, keep: &dyn Fn(&Sample) -> bool) -> f64 {
    after
        .iter()
        .filter(|s| s.name == name && keep(s))
        .map(|now| {
            let then = before
                .iter()
                .find(|b| b.name == name && b.labels == now.labels)
                .map_or(0.0, |b| b.value);
            if now.value >= then {
                now.value - then
            } else {
                now.value
            }
        })
        // From +0.0: an empty sum of f64 is -0.0, which prints as such.
        .fold(0.0, |total, d| total + d)
}

/// Each latency bucket's upper bound (seconds) and how many calls of the interval it
/// counts (cumulative, as Prometheus buckets are), over the endpoints `keep` selects.
fn bucket_deltas(
    before: &[Sample],
    after: &[Sample],
    keep: &dyn Fn(&Sample) -> bool,
) -> Vec<(f64, f64)> {
    const BUCKET: &str = "movieapp_request_duration_seconds_bucket";
    let mut bounds: Vec<f64> = after
        .iter()
        .filter(|s| s.name == BUCKET && keep(s))
        .filter_map(|s| s.label("le").and_then(parse_bound))
        .collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
        .into_iter()
        .map(|bound| {
            let at = |s: &Sample| keep(s) && s.label("le").and_then(parse_bound) == Some(bound);
            (bound, delta(before, after, BUCKET, &at))
        })
        .collect()
}

fn parse_bound(le: &str) -> Option<f64> {
    if le == "+Inf" {
        Some(f64::INFINITY)
    } else {
        le.parse().ok()
    }
}

/// The `q` quantile of cumulative buckets, interpolated linearly within its bucket as
/// Prometheus's `histogram_quantile` does; in the last (+Inf) bucket, the largest finite
/// bound. `None` without observations.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(lower.0);
            }
            let within = count - lower.1;
            let share = if within > 0.0 {
                (rank - lower.1) / within
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * share);
        }
        lower = (bound, count);
    }
    Some(lower.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::prometheus::parse;

    const BEFORE: &str = r#"
movieapp_calls_total{service="movie",endpoint="GetMovieDetails"} 100
movieapp_calls_total{service="movie",endpoint="GET /metrics"} 7
movieapp_calls_total{service="rating",endpoint="GetAggregatedRating"} 50
movieapp_errors_total{service="movie",endpoint="GetMovieDetails",error="unavailable"} 1
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="0.001"} 50
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="0.01"} 100
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="+Inf"} 100
process_start_time_seconds 1000
"#;

    const AFTER: &str = r#"
movieapp_calls_total{service="movie",endpoint="GetMovieDetails"} 300
movieapp_calls_total{service="movie",endpoint="GET /metrics"} 9
movieapp_calls_total{service="rating",endpoint="GetAggregatedRating"} 80
movieapp_errors_total{service="movie",endpoint="GetMovieDetails",error="unavailable"} 11
movieapp_errors_total{service="movie",endpoint="GetMovieDetails",error="resource_exhausted"} 10
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="0.001"} 150
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="0.01"} 298
movieapp_request_duration_seconds_bucket{service="movie",endpoint="GetMovieDetails",le="+Inf"} 300
movieapp_fallbacks_total{service="movie",dependency="metadata"} 4
process_start_time_seconds 1000
movieapp_calls_in_flight{service="movie"} 3
"#;

    #[test]
    fn rates_and_percentiles_come_from_the_intervals_deltas() {
        let (before, after) = (parse(BEFORE), parse(AFTER));
        let f = figures("movie", &before, &after, Duration::from_secs(2), 1060.0);
        assert_eq!(
            f.calls_per_sec, 100.0,
            "200 calls in 2 s; scrapes not counted"
        );
        assert_eq!(f.error_percent, Some(10.0), "10 + 10 of 200");
        assert_eq!(f.shed_per_sec, 5.0);
        assert_eq!(
            f.fallbacks_per_sec, 2.0,
            "a series new in the interval counts whole"
        );
        // 100 of the interval's 200 calls under 1 ms: the median is 1 ms.
        assert_eq!(f.p50_ms, Some(1.0));
        // The 198th of 200 lies in (1 ms, 10 ms]: 98 of its 98.
        let p99 = f.p99_ms.unwrap();
        assert!((p99 - 10.0).abs() < 1e-9, "{p99}");
        assert_eq!(f.uptime_secs, Some(60.0));
        assert_eq!(f.in_flight, Some(3.0));
        let rating = figures("rating", &before, &after, Duration::from_secs(2), 1060.0);
        assert_eq!(rating.calls_per_sec, 15.0);
        assert_eq!(rating.p50_ms, None, "no histogram for it here");
    }

    #[test]
    fn each_endpoint_has_its_own_figures() {
        let (before, after) = (parse(BEFORE), parse(AFTER));
        let endpoints = endpoint_figures("movie", &before, &after, Duration::from_secs(2));
        assert_eq!(endpoints.len(), 1, "{endpoints:?}: GET /metrics left out");
        assert_eq!(endpoints[0].0, "GetMovieDetails");
        assert_eq!(endpoints[0].1.calls_per_sec, 100.0);
        assert_eq!(endpoints[0].1.p50_ms, Some(1.0));
    }

    #[test]
    fn a_restarted_process_counts_from_zero() {
        let before = parse(AFTER);
        let after = parse(BEFORE);
        let f = figures("movie", &before, &after, Duration::from_secs(1), 1001.0);
        assert_eq!(
            f.calls_per_sec, 100.0,
            "the counter went back: all 100 are new"
        );
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let buckets = [(0.1, 10.0), (0.2, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(quantile(&buckets, 0.5), Some(0.1));
        assert!((quantile(&buckets, 0.75).unwrap() - 0.15).abs() < 1e-12);
        assert_eq!(quantile(&[(0.1, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(
            quantile(&[(0.1, 1.0), (f64::INFINITY, 4.0)], 0.99),
            Some(0.1)
        );
    }
}
