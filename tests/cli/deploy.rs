//! The deployment files (deploy/) only name metrics that movieapp really exposes, and every
//! alert is distinct and waits before firing.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{Server, http_get, movieapp, repo_root};

/// Metric names in a PromQL expression: what is left after label matchers, ranges, strings,
/// `by (...)` lists, functions and keywords are taken out.
fn metric_names(expr: &str) -> BTreeSet<String> {
    const NOT_METRICS: &[&str] = &[
        "sum",
        "by",
        "without",
        "rate",
        "irate",
        "increase",
        "histogram_quantile",
        "absent",
        "or",
        "and",
        "unless",
        "on",
        "avg",
        "min",
        "max",
        "count",
    ];
    let mut text = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    for c in expr.chars() {
        match c {
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace == 0 && depth_bracket == 0 => text.push(c),
            _ => {}
        }
    }
    // Drop `by (a, b)` label lists.
    let mut cleaned = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("by (") {
        cleaned.push_str(&rest[..i]);
        rest = rest[i..].split_once(')').map_or("", |(_, after)| after);
    }
    cleaned.push_str(rest);
    cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| {
            t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
        .filter(|t| !NOT_METRICS.contains(t))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_metric_in_the_rules_and_the_dashboard_is_exposed() {
    let root = repo_root().join("deploy");
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("alerts.rules")).unwrap())
            .unwrap();
    let mut names = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let alert = rule["alert"].as_str().unwrap();
            assert!(rule["for"].as_str().is_some(), "{alert} has no `for:`");
            let title = rule["annotations"]["title"].as_str().unwrap().to_owned();
            assert!(
                titles.insert(title.clone()),
                "{alert} repeats the title {title:?}"
            );
            names.extend(metric_names(rule["expr"].as_str().unwrap()));
        }
    }
    assert!(
        titles.len() >= 6,
        "availability per service, errors, p99, lag"
    );
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            names.extend(metric_names(target["expr"].as_str().unwrap()));
        }
    }
    for expected in [
        "movieapp_service_up",
        "movieapp_calls_total",
        "movieapp_errors_total",
        "movieapp_request_duration_seconds_bucket",
        "movieapp_feed_lag_events",
    ] {
        assert!(names.contains(expected), "{expected} is used: {names:?}");
    }

    // A server that has seen a success, a miss, a hit and an error exposes all of them.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let metadata = server.addr("metadata");
    movieapp(&["movie", "put", "1", "--title", "T", "--addr", metadata]).ok();
    movieapp(&["movie", "get", "1", "--addr", server.addr("movie")]).ok();
    movieapp(&["movie", "get", "1", "--addr", server.addr("movie")]).ok();
    let _ = movieapp(&["movie", "get", "2", "--addr", server.addr("movie")]);
    let (status, text) = http_get(metadata, "/metrics");
    assert_eq!(status, 200, "{text}");
    for name in &names {
        let exposed = text.lines().any(|l| {
            l.strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        });
        assert!(
            exposed,
            "{name} is used by deploy/ but not exposed by /metrics"
        );
    }
}

#[test]
fn metric_names_are_read_out_of_promql() {
    let names = metric_names(
        r#"sum by (service) (rate(movieapp_errors_total{error=~"internal|x"}[5m])) / sum by (service) (rate(movieapp_calls_total[5m])) > 0.05"#,
    );
    assert_eq!(
        names,
        BTreeSet::from([
            "movieapp_calls_total".to_owned(),
            "movieapp_errors_total".to_owned()
        ])
    );
}

#[test]
fn promtool_accepts_the_alerting_rules() {
    let Some(promtool) = crate::support::test_tool("PROMTOOL") else {
        return;
    };
    let rules = repo_root().join("deploy/alerts.rules");
    let out = std::process::Command::new(promtool)
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
