//! The trace store (issue 31): every call a service answers is kept as a span in
//! `<dataDir>/traces.db`, with its caller's span, and `GET /debug/traces` answers a trace's
//! spans or the newest, filtered; they survive a restart.

use std::time::Duration;

use serde_json::Value;

use crate::{
    support::{Server, eventually, http_get, movieapp},
    trace_ids::trace_in,
};

/// The spans `/debug/traces` answers at `addr` for `query`.
fn spans(addr: &str, query: &str) -> Vec<Value> {
    let (status, body) = http_get(addr, &format!("/debug/traces?{query}"));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert!(
        answer["process"].as_str().unwrap().contains('@'),
        "{answer}"
    );
    answer["spans"].as_array().unwrap().clone()
}

/// The span of `trace` named `name`, once kept.
fn span_named<'a>(trace: &'a [Value], name: &str) -> &'a Value {
    trace
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {trace:#?}"))
}

#[test]
fn a_call_is_kept_as_a_trace_of_nested_spans_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start(dir.path());
    for args in [
        &["movie", "put", "1", "--title", "T"][..],
        &["rate", "put", "1", "5", "--user", "ann"],
    ] {
        let run = movieapp(&[&["--data-dir", data], args].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
    }
    let run = movieapp(&["--data-dir", data, "movie", "get", "1", "-v"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let id = trace_in(&run.stderr, "movie answered (trace ");
    let movie = server.addr("movie").to_owned();
    // Written within a second or two; any port answers for the whole process.
    let mut trace = Vec::new();
    eventually(Duration::from_secs(5), "the trace is kept", || {
        trace = spans(&movie, &format!("trace={id}"));
        trace.len() >= 3
    });
    let details = span_named(&trace, "MovieService/GetMovieDetails");
    let metadata = span_named(&trace, "MetadataService/GetMetadata");
    let rating = span_named(&trace, "RatingService/GetAggregatedRating");
    assert_eq!(
        (details["service"].as_str(), details["kind"].as_str()),
        (Some("movie"), Some("grpc"))
    );
    // The CLI's own span is the caller: not kept, but named.
    assert!(details["parentSpanId"].is_string(), "{details}");
    for child in [metadata, rating] {
        assert_eq!(child["traceId"], id.as_str());
        assert_eq!(child["parentSpanId"], details["spanId"], "{child}");
        assert_eq!(child["kind"], "local", "served in process: {child}");
        assert_eq!(child["status"], "ok");
        // Within the parent's time.
        let start = |s: &Value| s["startUs"].as_i64().unwrap();
        let finish = |s: &Value| start(s) + s["durationUs"].as_i64().unwrap();
        assert!(
            start(child) >= start(details) - 1_000,
            "{child} starts before {details}"
        );
        assert!(
            finish(child) <= finish(details) + 1_000,
            "{child} ends after {details}"
        );
    }

    // A failed call is kept too, and found by its status; the filters name bad values.
    let missing = movieapp(&["--data-dir", data, "movie", "get", "2"]);
    assert_eq!(missing.code, Some(1), "{}", missing.stderr);
    eventually(Duration::from_secs(5), "the failure is kept", || {
        spans(&movie, "status=error&service=movie&limit=5")
            .iter()
            .any(|s| s["name"] == "MovieService/GetMovieDetails" && s["status"] == "not_found")
    });
    let entries = spans(&movie, "roots=true&limit=50");
    assert!(
        entries
            .iter()
            .all(|s| s["service"] != "metadata" || s["kind"] != "local"),
        "{entries:#?}"
    );
    for (query, said) in [
        ("trace=xyz", "expected a trace id of 32 hex digits"),
        ("limit=0", "invalid query parameter limit"),
        ("minMs=-1", "invalid query parameter minMs"),
        ("roots=maybe", "expected true or false"),
    ] {
        let (status, body) = http_get(&movie, &format!("/debug/traces?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(said), "{query}: {body}");
    }
    // Probes and scrapes are not kept.
    assert!(
        spans(&movie, "limit=1000")
            .iter()
            .all(|s| s["name"] != "GET /metrics")
    );

    // After a restart the trace is still there.
    assert_eq!(server.stop(), Some(0));
    let server = Server::start(dir.path());
    let again = spans(server.addr("rating"), &format!("trace={id}"));
    assert_eq!(again, trace);
}

#[test]
fn with_traces_off_nothing_is_kept_and_the_route_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("off.yaml");
    std::fs::write(&config, "traces:\n  keep: off\n").unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let (status, body) = http_get(server.addr("movie"), "/debug/traces");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("traces.keep: off"), "{body}");
    assert!(!dir.path().join("traces.db").exists());

    // A bad value is refused at start, naming the key.
    std::fs::write(&config, "traces:\n  ratio: 2\n").unwrap();
    let run = movieapp(&["--config", config.to_str().unwrap(), "config", "check"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("traces.ratio: 2"), "{}", run.stderr);
}

#[test]
fn log_lines_are_kept_in_memory_and_found_by_their_trace_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // At debug level every request writes a line: each carries its call's trace id.
    let server = Server::start_with(dir.path(), &["--log-level", "debug"]);
    let run = movieapp(&["--data-dir", data, "movie", "get", "42", "-v"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let id = trace_in(&run.stderr, "(trace ");
    let rating = server.addr("rating").to_owned();
    let lines = |query: &str| {
        let (status, body) = http_get(&rating, &format!("/debug/logs?{query}"));
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert!(answer["process"].as_str().unwrap().contains('@'));
        answer["lines"].as_array().unwrap().clone()
    };
    let traced = lines(&format!("trace={id}"));
    assert!(!traced.is_empty(), "no line of trace {id}");
    assert!(
        traced.iter().all(|l| l["trace_id"] == id.as_str()),
        "{traced:#?}"
    );
    let services: Vec<&str> = traced
        .iter()
        .filter_map(|l| l["service"].as_str())
        .collect();
    assert!(
        services.contains(&"movie") && services.contains(&"metadata"),
        "{services:?}"
    );
    // Oldest first, each numbered; the level filter keeps that level and worse.
    let seqs: Vec<u64> = traced.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        lines("level=warn&limit=5000")
            .iter()
            .all(|l| matches!(l["level"].as_str(), Some("WARN" | "ERROR")))
    );
    assert_eq!(lines("limit=1").len(), 1);
    // The same lines went to stderr.
    assert!(server.logs().contains(&id), "stderr lacks {id}");
    for (query, expected) in [
        ("level=loud", "invalid query parameter level \\\"loud\\\""),
        ("trace=12", "32 hex digits"),
        ("limit=0", "from 1 to 5000"),
    ] {
        let (status, body) = http_get(&rating, &format!("/debug/logs?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(body.contains(expected), "{query}: {body}");
    }
}
