//! Logs and traces: JSON log lines carry `service` (and `component`, `endpoint`), and an
//! OTLP receiver inside the test sees one trace per call, across services and the feed.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use movieapp::pb::{
    GetMovieDetailsRequest, Metadata, PutMetadataRequest, PutRatingRequest,
    metadata_service_client::MetadataServiceClient, movie_service_client::MovieServiceClient,
    rating_service_client::RatingServiceClient,
};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
        trace_service_server::{TraceService, TraceServiceServer},
    },
    common::v1::{KeyValue, any_value::Value},
    trace::v1::{Span, span::SpanKind},
};
use serde_json::Value as Json;

use crate::support::{Server, http_get, movieapp, movieapp_env, repo_root};

#[test]
fn json_logs_carry_service_component_and_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--log-format",
            "json",
            "--log-level",
            "info,movieapp::requests=debug",
        ],
    );
    let movie = server.addr("movie").to_owned();
    for args in [
        &["movie", "put", "7", "--title", "T", "--director", "D"][..],
        &["rate", "put", "7", "4", "--user", "alex-the-user"],
        &["movie", "get", "7"],
    ] {
        let run = movieapp(&[&["--data-dir", data], args].concat());
        assert_eq!(run.code, Some(0), "{args:?}: {}", run.stderr);
    }
    assert_eq!(http_get(&movie, "/movie?id=7").0, 200);
    let fixture = repo_root().join("fixtures/ratingsdata.json");
    let produce = movieapp(&[
        "--data-dir",
        data,
        "produce",
        "--file",
        fixture.to_str().unwrap(),
    ]);
    assert_eq!(produce.code, Some(0), "{}", produce.stderr);
    crate::feed::wait_for_no_lag(data, Duration::from_secs(20));
    let logs = server.logs();
    assert_eq!(server.stop(), Some(0));

    let lines: Vec<Json> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    for line in &lines {
        let service = line["service"]
            .as_str()
            .unwrap_or_else(|| panic!("no service: {line}"));
        assert!(
            ["metadata", "rating", "movie", "auth", "movieapp"].contains(&service),
            "{line}"
        );
        assert!(
            line["level"].is_string() && line["message"].is_string(),
            "{line}"
        );
    }
    // One line per request at debug level, each with its service, endpoint and transport.
    let requests = |service: &str, endpoint: &str, component: &str| {
        lines
            .iter()
            .filter(|l| {
                l["target"] == "movieapp::requests"
                    && l["service"] == service
                    && l["endpoint"] == endpoint
                    && l["component"] == component
            })
            .count()
    };
    assert_eq!(requests("movie", "GetMovieDetails", "grpc"), 1, "{logs}");
    // The movie service's calls (for `movie get` and GET /movie) are made in process: no
    // socket, but the same line, marked `local`.
    for (service, endpoint) in [
        ("metadata", "GetMetadata"),
        ("rating", "GetAggregatedRating"),
    ] {
        assert_eq!(requests(service, endpoint, "grpc"), 0, "{logs}");
        assert_eq!(requests(service, endpoint, "local"), 2, "{logs}");
    }
    assert_eq!(requests("movie", "GET /movie", "http"), 1, "{logs}");
    // Background tasks say which component they are.
    for (service, component) in [
        ("rating", "ingester"),
        ("metadata", "server"),
        ("movieapp", "serve"),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l["service"] == service && l["component"] == component),
            "no {service}/{component} line in\n{logs}"
        );
    }
    // No personal data: user ids never reach the log at info level.
    assert!(
        !logs.contains("alex-the-user") && !logs.contains("\"105\""),
        "{logs}"
    );
}

#[test]
fn info_level_logs_no_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--log-format", "json", "--log-level", "info"]);
    assert_eq!(http_get(server.addr("movie"), "/movie?id=1").0, 404);
    let logs = server.logs();
    assert_eq!(server.stop(), Some(0));
    assert!(logs.contains("\"serving\""), "{logs}");
    assert!(!logs.contains("movieapp::requests"), "{logs}");
}

#[test]
fn a_bad_log_level_log_format_or_otlp_endpoint_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let run = movieapp(&[
        "--data-dir",
        data,
        "--log-format",
        "xml",
        "movie",
        "get",
        "1",
    ]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("xml"), "{}", run.stderr);
    for (name, value) in [
        ("RUST_LOG", "movieapp=loudest"),
        ("MOVIEAPP_LOG_FORMAT", "yaml"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("MOVIEAPP_TELEMETRY_OTLP_ENDPOINT", "http://collector"),
    ] {
        let run = movieapp_env(&["--data-dir", data, "movie", "get", "1"], &[(name, value)]);
        assert_eq!(run.code, Some(2), "{name}={value}: {}", run.stderr);
        assert!(
            run.stderr.contains(name) && run.stderr.contains(value),
            "{name}={value}: {}",
            run.stderr
        );
    }
}

/// Spans received, with the `service.name` of the process that sent them.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .as_ref()
                .and_then(|r| attribute(&r.attributes, "service.name"))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

impl Collector {
    /// Starts an OTLP/gRPC receiver on a free loopback port; returns its endpoint.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let service = TraceServiceServer::new(self.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        endpoint
    }

    /// Waits until a span named `name` of `kind` arrives in `trace` (hex), and returns it.
    async fn wait_for(&self, trace: &str, name: &str, kind: SpanKind) -> (String, Span) {
        self.wait_until(&format!("{kind:?} span {name:?} in trace {trace}"), |s| {
            hex(&s.trace_id) == trace && s.name == name && s.kind == kind as i32
        })
        .await
    }

    /// Waits until a span that `matches` arrives, and returns it with its `service.name`.
    async fn wait_until(&self, what: &str, matches: impl Fn(&Span) -> bool) -> (String, Span) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = {
                let spans = self.spans.lock().unwrap();
                match spans.iter().find(|(_, s)| matches(s)) {
                    Some(found) => Ok(found.clone()),
                    None => Err(spans
                        .iter()
                        .map(|(_, s)| s.name.clone())
                        .collect::<Vec<_>>()),
                }
            };
            match found {
                Ok(found) => return found,
                Err(received) => assert!(
                    Instant::now() < deadline,
                    "no {what}; received: {received:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes.iter().find(|a| a.key == key).and_then(|a| {
        match a.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            other => Some(format!("{other:?}")),
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts `child` is a direct child of `parent` in the same trace.
fn assert_child(child: &Span, parent: &Span) {
    assert_eq!(
        child.trace_id, parent.trace_id,
        "{} not in the trace of {}",
        child.name, parent.name
    );
    assert_eq!(
        hex(&child.parent_span_id),
        hex(&parent.span_id),
        "{} is not a child of {}",
        child.name,
        parent.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_follows_a_call_across_services_and_the_feed() {
    let collector = Collector::default();
    let endpoint = collector.start().await;
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_owned();
    let env_endpoint = endpoint.clone();
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with_env(
            &data_dir,
            &[
                "--log-format",
                "json",
                "--log-level",
                "info,movieapp::requests=debug",
            ],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &env_endpoint),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
            ],
        )
    })
    .await
    .unwrap();

    MetadataServiceClient::new(server.channel("metadata").await)
        .put_metadata(PutMetadataRequest {
            metadata: Some(Metadata {
                id: "42".into(),
                title: "The Movie".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    RatingServiceClient::new(server.channel("rating").await)
        .put_rating(PutRatingRequest {
            user_id: "alex".into(),
            record_id: "42".into(),
            record_type: "movie".into(),
            rating_value: 5,
        })
        .await
        .unwrap();

    // The caller's trace context: every span of the call must join this trace.
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let caller_span = "b7ad6b7169203331";
    let mut request = tonic::Request::new(GetMovieDetailsRequest {
        movie_id: "42".into(),
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{caller_span}-01").parse().unwrap(),
    );
    let details = MovieServiceClient::new(server.channel("movie").await)
        .get_movie_details(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(details.movie_details.unwrap().rating, 5.0);

    let (process, movie) = collector
        .wait_for(trace, "MovieService/GetMovieDetails", SpanKind::Server)
        .await;
    assert_eq!(process, "movieapp");
    assert_eq!(hex(&movie.parent_span_id), caller_span);
    assert_eq!(
        attribute(&movie.attributes, "service").as_deref(),
        Some("movie")
    );
    for (method, service, repository) in [
        (
            "MetadataService/GetMetadata",
            "metadata",
            "sqlite SELECT movies",
        ),
        (
            "RatingService/GetAggregatedRating",
            "rating",
            "sqlite SELECT ratings",
        ),
    ] {
        let (_, client) = collector.wait_for(trace, method, SpanKind::Client).await;
        assert_child(&client, &movie);
        let (_, server_span) = collector.wait_for(trace, method, SpanKind::Server).await;
        assert_child(&server_span, &client);
        assert_eq!(
            attribute(&server_span.attributes, "service").as_deref(),
            Some(service)
        );
        let (_, query) = collector
            .wait_for(trace, repository, SpanKind::Internal)
            .await;
        assert_child(&query, &server_span);
    }

    // The feed: `produce` exports its publish span, and its trace context rides on the
    // events to the ingester's batch span, with the write below it.
    let fixture = repo_root().join("fixtures/ratingsdata.json");
    let produce = movieapp_env(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "produce",
            "--file",
            fixture.to_str().unwrap(),
        ],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    assert_eq!(produce.code, Some(0), "{}", produce.stderr);
    let (_, publish) = collector
        .wait_until("publish span from produce", |s| {
            s.name == "publish rating events"
        })
        .await;
    assert_eq!(publish.kind, SpanKind::Producer as i32);
    let feed_trace = hex(&publish.trace_id);
    let (_, apply) = collector
        .wait_for(&feed_trace, "apply rating events", SpanKind::Consumer)
        .await;
    assert_child(&apply, &publish);
    let (_, write) = collector
        .wait_for(&feed_trace, "sqlite apply ratings", SpanKind::Internal)
        .await;
    assert_child(&write, &apply);

    // Log lines written inside the call name its trace.
    let logs = server.logs();
    tokio::task::spawn_blocking(move || assert_eq!(server.stop(), Some(0)))
        .await
        .unwrap();
    let traced: Vec<Json> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Json>(line).ok())
        .filter(|line| line["openTelemetry"]["traceId"] == trace)
        .collect();
    for endpoint in ["GetMovieDetails", "GetMetadata", "GetAggregatedRating"] {
        assert!(
            traced.iter().any(|l| l["endpoint"] == endpoint),
            "no {endpoint} line with trace {trace} in\n{logs}"
        );
    }
}
