//! The dashboard's web server: its page (HTML, CSS and JavaScript compiled into the binary)
//! and the JSON it polls. Read-only. Everything it shows comes from what the instances
//! already serve: `/readyz` and `/metrics` (through `top`'s watcher), `/debug/traces` and
//! `/debug/logs`, asked of every registered process and put together here, so a trace
//! that crossed processes is one waterfall.
//!
//! With auth on, every `/api/` call needs an admin token in `authorization: Bearer …`
//! (the page asks for it once per browser session and keeps it in session storage, never
//! in a URL); the token is passed on to the instances, which check it again.

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    auth::{
        Role,
        access::{Denied, Gate},
    },
    discovery::Registry,
    lock::LockBackend,
    top::watch::{Snapshot, Watcher},
};

/// The page and its parts, as built into the binary.
const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// A snapshot younger than this is answered again rather than read anew: several tabs (or
/// pages) polling every second share one round of scrapes.
const FRESH: Duration = Duration::from_millis(900);
/// How far back the sparklines go.
const HISTORY: Duration = Duration::from_secs(300);
/// A snapshot over a longer interval (the dashboard was closed meanwhile) is shown, but
/// not drawn into the sparklines: it would flatten a burst into an average.
const LONGEST_POINT: Duration = Duration::from_secs(5);
/// How long one instance may take to answer the dashboard.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// What the dashboard reads from, shared by its handlers.
pub struct Dashboard {
    watcher: tokio::sync::Mutex<Watched>,
    registry: Arc<dyn Registry>,
    client: reqwest::Client,
    scheme: &'static str,
    /// `None` while auth is off: then the dashboard listens on loopback only.
    gate: Option<Arc<Gate>>,
    /// Address → process, from the last snapshot: each process is asked once.
    processes: Mutex<HashMap<String, String>>,
}

struct Watched {
    watcher: Watcher,
    latest: Option<(Instant, Arc<Value>)>,
    history: History,
}

/// Calls/s per instance and endpoint over the last [`HISTORY`], for the sparklines.
#[derive(Default)]
struct History {
    /// Seconds since the first point, of each point.
    times: VecDeque<f64>,
    /// "instance id\tendpoint" → its calls/s at each time (`None`: not there then).
    series: BTreeMap<String, VecDeque<Option<f64>>>,
    origin: Option<Instant>,
}

impl History {
    fn add(&mut self, at: Instant, snapshot: &Snapshot) {
        let origin = *self.origin.get_or_insert(at);
        self.times
            .push_back(at.duration_since(origin).as_secs_f64());
        let mut seen = HashSet::new();
        for instance in &snapshot.instances {
            let total = std::iter::once(("", instance.figures.calls_per_sec));
            let each = instance
                .endpoints
                .iter()
                .map(|e| (e.endpoint.as_str(), e.figures.calls_per_sec));
            for (endpoint, rate) in total.chain(each) {
                let key = format!("{}\t{endpoint}", instance.instance_id);
                let series = self
                    .series
                    .entry(key.clone())
                    .or_insert_with(|| std::iter::repeat_n(None, self.times.len() - 1).collect());
                series.push_back(Some(rate));
                seen.insert(key);
            }
        }
        // An instance or endpoint without calls this time: zero (or gone).
        for (key, series) in &mut self.series {
            if !seen.contains(key) {
                let instance = key.split('\t').next().unwrap_or_default();
                let there = snapshot.instances.iter().any(|i| i.instance_id == instance);
                series.push_back(there.then_some(0.0));
            }
        }
        let newest = self.times.back().copied().unwrap_or(0.0);
        while self
            .times
            .front()
            .is_some_and(|t| newest - t > HISTORY.as_secs_f64())
        {
            self.times.pop_front();
            for series in self.series.values_mut() {
                series.pop_front();
            }
        }
        self.series
            .retain(|_, series| series.iter().any(Option::is_some));
    }

    fn to_json(&self) -> Value {
        let newest = self.times.back().copied().unwrap_or(0.0);
        let round = |v: f64| (v * 10.0).round() / 10.0;
        let times: Vec<f64> = self.times.iter().map(|t| round(t - newest)).collect();
        let mut instances: BTreeMap<&str, BTreeMap<&str, Vec<Option<f64>>>> = BTreeMap::new();
        for (key, series) in &self.series {
            let (instance, endpoint) = key.split_once('\t').unwrap_or((key, ""));
            instances
                .entry(instance)
                .or_default()
                .insert(endpoint, series.iter().map(|v| v.map(round)).collect());
        }
        json!({ "times": times, "series": instances })
    }
}

impl Dashboard {
    pub fn new(
        registry: Arc<dyn Registry>,
        client: reqwest::Client,
        scheme: &'static str,
        locks: Option<Arc<dyn LockBackend>>,
        gate: Option<Arc<Gate>>,
    ) -> Self {
        let watcher = Watcher::new(Arc::clone(&registry), client.clone(), scheme, locks);
        Self {
            watcher: tokio::sync::Mutex::new(Watched {
                watcher,
                latest: None,
                history: History::default(),
            }),
            registry,
            client,
            scheme,
            gate,
            processes: Mutex::new(HashMap::new()),
        }
    }

    /// The routes: the page, its parts, and the JSON it polls.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/app.js", get(script))
            .route("/app.css", get(style))
            .route("/api/state", get(state))
            .route("/api/traces", get(traces))
            .route("/api/trace/{id}", get(trace))
            .route("/api/logs", get(logs))
            .fallback(not_found)
            .with_state(self)
    }

    /// Lets an `/api/` call through when auth is off, or it carries an admin token.
    async fn admit(&self, headers: &HeaderMap) -> Result<Option<HeaderValue>, Problem> {
        let Some(gate) = &self.gate else {
            return Ok(None);
        };
        let authorization = headers.get(header::AUTHORIZATION);
        match gate
            .check(
                "the dashboard",
                Role::Admin,
                authorization.map(HeaderValue::as_bytes),
            )
            .await
        {
            Ok(_) => Ok(authorization.cloned()),
            Err(denied) => {
                let status = match denied {
                    Denied::Forbidden(_) => StatusCode::FORBIDDEN,
                    Denied::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    Denied::Unauthenticated(_) | Denied::Ambiguous(_) => StatusCode::UNAUTHORIZED,
                };
                Err(problem(status, &denied.to_string()))
            }
        }
    }

    /// An `/api/` call let through ([`Self::admit`]) with its query's parameters, each
    /// one of `allowed`.
    async fn asked(
        &self,
        headers: &HeaderMap,
        query: Option<String>,
        allowed: &[&str],
    ) -> Result<(Option<HeaderValue>, Vec<(String, String)>), Problem> {
        let authorization = self.admit(headers).await?;
        Ok((authorization, params(query.as_deref(), allowed)?))
    }

    /// The newest snapshot, read anew unless one is [`FRESH`].
    async fn snapshot(&self, with_history: bool) -> Result<Value, Problem> {
        let mut watched = self.watcher.lock().await;
        let now = Instant::now();
        let fresh = watched
            .latest
            .as_ref()
            .filter(|(at, _)| now.duration_since(*at) < FRESH)
            .map(|(_, v)| Arc::clone(v));
        let latest = match fresh {
            Some(latest) => latest,
            None => {
                let snapshot = watched.watcher.snapshot().await.map_err(|e| {
                    problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("the registry cannot be read: {e}"),
                    )
                })?;
                let interval = Duration::from_secs_f64(snapshot.interval_secs.max(0.0));
                if !interval.is_zero() && interval <= LONGEST_POINT {
                    watched.history.add(now, &snapshot);
                }
                let mut processes = self
                    .processes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                processes.clear();
                for i in &snapshot.instances {
                    if let Some(p) = &i.process {
                        processes.insert(i.address.clone(), p.clone());
                    }
                }
                drop(processes);
                let value = Arc::new(serde_json::to_value(&snapshot).unwrap_or_default());
                watched.latest = Some((now, Arc::clone(&value)));
                value
            }
        };
        let mut answer = (*latest).clone();
        if with_history && let Value::Object(fields) = &mut answer {
            fields.insert("history".to_owned(), watched.history.to_json());
        }
        Ok(answer)
    }

    /// One address per registered process (each process answers for all its instances),
    /// then the addresses whose process is not known yet.
    async fn targets(&self) -> Result<Vec<Vec<String>>, Problem> {
        let instances = self.registry.instances().await.map_err(|e| {
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("the registry cannot be read: {e}"),
            )
        })?;
        let processes = self
            .processes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in instances {
            let group = processes
                .get(&i.address)
                .cloned()
                .unwrap_or_else(|| format!("?{}", i.address));
            let addrs = groups.entry(group).or_default();
            if !addrs.contains(&i.address) {
                addrs.push(i.address);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// Asks each process `path?query` (at the first of its addresses that answers), all at
    /// once; returns the answers, and the addresses that did not answer with why.
    async fn ask_all(
        &self,
        path: &str,
        query: &str,
        authorization: Option<HeaderValue>,
    ) -> Result<(Vec<Value>, Vec<Value>), Problem> {
        let groups = self.targets().await?;
        let asks: Vec<_> = groups
            .into_iter()
            .map(|addrs| {
                let client = self.client.clone();
                let (scheme, path, query) = (self.scheme, path.to_owned(), query.to_owned());
                let authorization = authorization.clone();
                tokio::spawn(async move {
                    let mut last = None;
                    for addr in addrs {
                        let url = format!("{scheme}://{addr}{path}?{query}");
                        let mut request = client.get(url).timeout(CALL_TIMEOUT);
                        if let Some(value) = &authorization {
                            request = request.header(header::AUTHORIZATION, value.clone());
                        }
                        match ask(request).await {
                            Ok(answer) => return Ok(answer),
                            Err(why) => last = Some(json!({ "address": addr, "error": why })),
                        }
                    }
                    Err(last.unwrap_or(Value::Null))
                })
            })
            .collect();
        let (mut answers, mut failed) = (Vec::new(), Vec::new());
        for ask in asks {
            match ask.await {
                Ok(Ok(answer)) => answers.push(answer),
                Ok(Err(why)) => failed.push(why),
                Err(e) => failed.push(json!({ "error": e.to_string() })),
            }
        }
        Ok((answers, failed))
    }
}

/// One instance's JSON answer, or why there is none (its own error message when it gave
/// one: a 404 says the process keeps no spans).
async fn ask(request: reqwest::RequestBuilder) -> Result<Value, String> {
    let response = request.send().await.map_err(|e| {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        cause.to_string()
    })?;
    let status = response.status();
    let body: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        let message = body["error"].as_str().unwrap_or("no message");
        Err(format!("HTTP {}: {message}", status.as_u16()))
    }
}

/// A refusal or a failure: its status, and `{"error": message}`.
#[derive(Debug)]
struct Problem(StatusCode, String);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn problem(status: StatusCode, message: &str) -> Problem {
    Problem(status, message.to_owned())
}

/// A page that must not be framed or cached, and runs only its own script.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

async fn not_found() -> Response {
    problem(StatusCode::NOT_FOUND, "no such page: the dashboard is at /").into_response()
}

/// The query's parameters, each once; anything else is a 400 naming it.
fn params(query: Option<&str>, allowed: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let mut seen = Vec::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if !allowed.contains(&name.as_ref()) {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                &format!(
                    "unknown query parameter {name:?}: expected {}",
                    allowed.join(", ")
                ),
            ));
        }
        if seen.iter().any(|(n, _): &(String, String)| *n == name) {
            return Err(problem(
                StatusCode::BAD_REQUEST,
                &format!("query parameter {name:?} is given more than once"),
            ));
        }
        seen.push((name.into_owned(), value.into_owned()));
    }
    Ok(seen)
}

fn encode(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Everything `movieapp top` shows, with the calls between services; `?history=1` adds the
/// sparklines' points.
async fn state(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match dashboard.asked(&headers, query, &["history"]).await {
        Ok((_, params)) => params,
        Err(e) => return e.into_response(),
    };
    let history = match params.first().map(|(_, v)| v.as_str()) {
        None | Some("0" | "false") => false,
        Some("1" | "true") => true,
        Some(other) => {
            return problem(
                StatusCode::BAD_REQUEST,
                &format!("invalid query parameter history {other:?}: expected 1 or 0"),
            )
            .into_response();
        }
    };
    match dashboard.snapshot(history).await {
        Ok(mut value) => {
            if let Value::Object(fields) = &mut value {
                fields.insert("auth".to_owned(), Value::Bool(dashboard.gate.is_some()));
            }
            Json(value).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// The newest traces across every process: their entry spans, newest first, each once.
async fn traces(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let allowed = ["service", "name", "status", "minMs", "limit"];
    let (authorization, mut params) = match dashboard.asked(&headers, query, &allowed).await {
        Ok(asked) => asked,
        Err(e) => return e.into_response(),
    };
    let limit = params
        .iter()
        .find(|(n, _)| n == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(100);
    params.retain(|(n, v)| !v.is_empty() || n == "limit");
    params.push(("roots".to_owned(), "true".to_owned()));
    let (answers, failed) = match dashboard
        .ask_all("/debug/traces", &encode(&params), authorization)
        .await
    {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    let mut seen = HashSet::new();
    let mut spans: Vec<Value> = answers
        .into_iter()
        .flat_map(|a| a["spans"].as_array().cloned().unwrap_or_default())
        .filter(|s| seen.insert((s["traceId"].to_string(), s["spanId"].to_string())))
        .collect();
    // Of a trace, its first entry span: a trace that came in twice is listed once.
    spans.sort_by_key(|s| s["startUs"].as_i64().unwrap_or(0));
    let mut traces = HashSet::new();
    spans.retain(|s| traces.insert(s["traceId"].to_string()));
    spans.reverse();
    spans.truncate(limit);
    Json(json!({ "traces": spans, "unreachable": failed })).into_response()
}

/// One trace's spans from every process, in start order, and the log lines that carry its
/// id.
async fn trace(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let authorization = match dashboard.admit(&headers).await {
        Ok(a) => a,
        Err(refused) => return refused.into_response(),
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("invalid trace id {id:?}: expected 32 hex digits"),
        )
        .into_response();
    }
    let query = format!("trace={id}");
    let spans = dashboard.ask_all("/debug/traces", &query, authorization.clone());
    let log_query = format!("{query}&limit=1000");
    let logs = dashboard.ask_all("/debug/logs", &log_query, authorization);
    let ((span_answers, mut failed), (log_answers, log_failed)) = match tokio::join!(spans, logs) {
        (Ok(spans), Ok(logs)) => (spans, logs),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    failed.extend(log_failed);
    let mut seen = HashSet::new();
    let mut spans: Vec<Value> = span_answers
        .into_iter()
        .flat_map(|a| a["spans"].as_array().cloned().unwrap_or_default())
        .filter(|s| seen.insert(s["spanId"].to_string()))
        .collect();
    spans.sort_by_key(|s| s["startUs"].as_i64().unwrap_or(0));
    let lines = merged_lines(log_answers);
    Json(json!({ "traceId": id.to_ascii_lowercase(), "spans": spans, "logs": lines, "unreachable": failed }))
        .into_response()
}

/// Each process's lines, marked with it, in time order.
fn merged_lines(answers: Vec<Value>) -> Vec<Value> {
    let mut lines: Vec<Value> = answers
        .into_iter()
        .flat_map(|a| {
            let process = a["process"].clone();
            a["lines"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |mut line| {
                    if let Value::Object(fields) = &mut line {
                        fields.insert("process".to_owned(), process.clone());
                    }
                    line
                })
        })
        .collect();
    lines.sort_by(|a, b| {
        let time = |l: &Value| l["timestamp"].as_str().unwrap_or_default().to_owned();
        time(a).cmp(&time(b))
    });
    lines
}

/// The recent log lines of every process, filtered.
async fn logs(
    State(dashboard): State<Arc<Dashboard>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let allowed = ["level", "service", "trace", "limit"];
    let (authorization, mut params) = match dashboard.asked(&headers, query, &allowed).await {
        Ok(asked) => asked,
        Err(e) => return e.into_response(),
    };
    params.retain(|(_, v)| !v.is_empty());
    let (answers, failed) = match dashboard
        .ask_all("/debug/logs", &encode(&params), authorization)
        .await
    {
        Ok(found) => found,
        Err(e) => return e.into_response(),
    };
    Json(json!({ "lines": merged_lines(answers), "unreachable": failed })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_weighs_under_200_kb_and_fetches_nothing_from_elsewhere() {
        let total = INDEX.len() + SCRIPT.len() + STYLE.len();
        assert!(total <= 200 * 1024, "{total} bytes");
        for (name, text) in [("index", INDEX), ("script", SCRIPT), ("style", STYLE)] {
            for far in ["http://", "https://", "//cdn", "@import", "fonts.g"] {
                assert!(!text.contains(far), "{name} names {far}");
            }
        }
    }

    #[test]
    fn query_parameters_are_known_and_given_once() {
        assert!(params(Some("service=movie&limit=5"), &["service", "limit"]).is_ok());
        for bad in ["colour=red", "limit=1&limit=2"] {
            assert!(params(Some(bad), &["service", "limit"]).is_err(), "{bad}");
        }
    }
}
