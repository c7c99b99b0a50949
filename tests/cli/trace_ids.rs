//! A trace id on every answer (issue 29): `traceresponse` on every HTTP and gRPC answer,
//! the caller's trace when it sent `traceparent`, on every log line of the call across
//! services and processes, and at the end of the CLI's errors (and with `-v`).

use movieapp::{
    pb::{GetMetadataRequest, metadata_service_client::MetadataServiceClient},
    telemetry::trace_ids,
};

use crate::support::{Server, movieapp};

const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A request to `addr`: the status and the `traceresponse` value.
fn http(addr: &str, method: &str, path: &str, traceparent: Option<&str>) -> (u16, String) {
    let extra = traceparent
        .map(|t| format!("traceparent: {t}\r\n"))
        .unwrap_or_default();
    let (status, head, _) = crate::support::http_request(addr, method, path, &extra);
    let header = head
        .lines()
        .find_map(|l| l.strip_prefix("traceresponse: "))
        .unwrap_or_else(|| panic!("no traceresponse in {head}"))
        .trim()
        .to_owned();
    (status, header)
}

fn trace_of(header: &str) -> String {
    trace_ids::parse(header.as_bytes())
        .unwrap_or_else(|| panic!("not a trace context: {header:?}"))
        .trace_id()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_a_trace_id_and_the_callers_when_it_sent_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_async(dir.path()).await;
    let metadata = server.addr("metadata").to_owned();
    // Served, not found, refused as invalid, a probe, an unknown route, a wrong method.
    let mut seen = std::collections::HashSet::new();
    for (method, path, status) in [
        ("GET", "/metadata?id=none", 404),
        ("GET", "/metadata", 400),
        ("GET", "/healthz", 200),
        ("GET", "/nowhere", 404),
        ("DELETE", "/metadata", 405),
        ("GET", "/openapi.json", 200),
    ] {
        let (got, header) = http(&metadata, method, path, None);
        assert_eq!(got, status, "{method} {path}");
        assert!(seen.insert(trace_of(&header)), "a new trace per call");
        let (_, header) = http(&metadata, method, path, Some(CALLER));
        assert_eq!(trace_of(&header), CALLER_TRACE, "{method} {path}");
        // The answer names the server's own span, not the caller's.
        assert!(!header.contains("00f067aa0ba902b7"), "{header}");
    }
    // A traceparent that is not one starts a new trace.
    let (_, header) = http(&metadata, "GET", "/healthz", Some("00-zz-zz-01"));
    assert_ne!(trace_of(&header), CALLER_TRACE);

    // gRPC: in the answer's metadata, on success and on error.
    let mut client = MetadataServiceClient::new(server.channel("metadata").await);
    let mut request = tonic::Request::new(GetMetadataRequest {
        movie_id: "none".into(),
    });
    request
        .metadata_mut()
        .insert("traceparent", CALLER.parse().unwrap());
    let status = client.get_metadata(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    let header = status.metadata().get("traceresponse").unwrap();
    assert_eq!(trace_of(header.to_str().unwrap()), CALLER_TRACE);
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(server.channel("metadata").await);
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    let header = answer.metadata().get("traceresponse").unwrap();
    assert_ne!(trace_of(header.to_str().unwrap()), CALLER_TRACE);
}

#[test]
fn a_calls_log_lines_in_every_process_carry_its_trace_id_which_the_cli_prints() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let logs = ["--log-level", "info,movieapp::requests=debug"];
    let backends = Server::start_with(
        dir.path(),
        &[&["--services", "metadata,rating"][..], &logs].concat(),
    );
    let front = Server::start_with(dir.path(), &[&["--services", "movie"][..], &logs].concat());
    let run = movieapp(&[
        "--data-dir",
        data,
        "movie",
        "put",
        "1",
        "--title",
        "T",
        "--director",
        "D",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);

    // Success, with -v: the id on stderr, the answer on stdout as ever.
    let run = movieapp(&["--data-dir", data, "movie", "get", "1", "-v", "-o", "json"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let answer: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(answer["metadata"]["title"], "T", "{}", run.stdout);
    let id = trace_in(&run.stderr, "movie answered (trace ");
    // The movie service's line, and the metadata and rating services' in the other process.
    let front_lines = lines_with(&front.logs(), &id);
    assert!(
        front_lines.iter().any(|l| l.contains("GetMovieDetails")),
        "{front_lines:?}"
    );
    let back_lines = lines_with(&backends.logs(), &id);
    for endpoint in ["GetMetadata", "GetAggregatedRating"] {
        assert!(
            back_lines.iter().any(|l| l.contains(endpoint)),
            "no {endpoint} line with trace_id={id}:\n{}",
            backends.logs()
        );
    }
    // Without -v, nothing on stderr.
    let run = movieapp(&["--data-dir", data, "movie", "get", "1"]);
    assert_eq!(run.stderr, "");

    // A failure ends with the id, which finds the call's lines.
    let run = movieapp(&["--data-dir", data, "movie", "get", "missing"]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.trim_end().ends_with(')'), "{}", run.stderr);
    let id = trace_in(&run.stderr, "(trace ");
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    assert!(
        !lines_with(&front.logs(), &id).is_empty(),
        "{}",
        front.logs()
    );
    assert!(!lines_with(&backends.logs(), &id).is_empty());
}

/// The 32-digit trace id after `marker` in `text`.
pub fn trace_in(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {text:?}"));
    let id: String = text[at + marker.len()..].chars().take(32).collect();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{text}"
    );
    id
}

fn lines_with(logs: &str, id: &str) -> Vec<String> {
    let needle = format!("trace_id={id}");
    logs.lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn json_log_lines_of_a_call_carry_the_trace_id_of_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--log-format",
            "json",
            "--log-level",
            "info,movieapp::requests=debug",
        ],
    );
    let (status, header) = http(server.addr("movie"), "GET", "/movie?id=9", None);
    assert_eq!(status, 404);
    let id = trace_of(&header);
    let logs = server.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["trace_id"] == id.as_str())
        .collect();
    let endpoints: Vec<&str> = lines
        .iter()
        .filter_map(|l| l["endpoint"].as_str())
        .collect();
    for endpoint in ["GET /movie", "GetMetadata"] {
        assert!(endpoints.contains(&endpoint), "{endpoint}: {logs}");
    }
    // Lines outside any call have none.
    assert!(
        logs.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|l| l.get("trace_id").is_none())
    );
}
