//! The trace store (issue 31): the spans this process recorded ([`crate::telemetry::spans`])
//! kept in `<dataDir>/traces.db`, so that a restart loses nothing within the limits
//! (`traces.maxSpans`, `traces.maxBytes`, `traces.maxAge`; the oldest go first).
//!
//! Spans are written once a second, a batch per row in a compact binary form: a row
//! insert per span would cost every call more than the call itself costs to record. A
//! query reads the batches back, newest first; at the limits' defaults that is at most
//! 64 MB, read only when someone asks.

use std::{path::Path, sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{
    config::value,
    database::sqlite::{Database, SqliteError},
    telemetry::spans::{self, Finished, Keep, Kind},
};

/// The store's file name in the data directory.
pub const FILE_NAME: &str = "traces.db";

const MIGRATIONS: &[&str] = &["CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        process TEXT NOT NULL,
        first_us INTEGER NOT NULL,
        last_us INTEGER NOT NULL,
        spans INTEGER NOT NULL,
        bytes BLOB NOT NULL);"];

/// The writer's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 2 * 1024;

/// How often recorded spans are written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// The `traces` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// What is kept: all, errors-and-slow, ratio, or off.
    pub keep: Keep,
    /// With `keep: ratio`, the share of traces kept (0 to 1).
    pub ratio: f64,
    /// With `keep: errors-and-slow`, a call at least this long is kept.
    pub slow: value::Duration,
    /// The most spans kept.
    pub max_spans: u64,
    /// The most bytes of spans kept.
    pub max_bytes: u64,
    /// Spans older than this are removed.
    pub max_age: value::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            keep: Keep::All,
            ratio: 0.1,
            slow: value::Duration::from(Duration::from_millis(500)),
            max_spans: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_age: value::Duration::from_secs(24 * 3600),
        }
    }
}

impl Settings {
    pub fn check(&self) -> Result<(), String> {
        if !(self.ratio.is_finite() && (0.0..=1.0).contains(&self.ratio)) {
            return Err(format!(
                "traces.ratio: {} is not a share of traces: expected a number from 0 to 1",
                self.ratio
            ));
        }
        if self.max_spans == 0 {
            return Err(
                "traces.maxSpans: 0 would keep nothing: expected at least 1 (or traces.keep: off)"
                    .into(),
            );
        }
        if self.max_bytes < 1024 * 1024 {
            return Err(format!(
                "traces.maxBytes: {} is too small to keep a second of spans: expected at least 1048576 (1 MiB)",
                self.max_bytes
            ));
        }
        Ok(())
    }

    /// What the recorder keeps.
    pub fn policy(&self) -> spans::Policy {
        spans::Policy {
            keep: self.keep,
            ratio: self.ratio,
            slow: self.slow.get(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] SqliteError),
    #[error("trace store {path}: a batch of spans does not decode (written by another version?)")]
    Corrupt { path: String },
}

/// One kept span, as queries answer it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// The caller's span; `None` when this call started the trace.
    pub parent_span_id: Option<String>,
    pub service: String,
    /// `MetadataService/GetMetadata`, `GET /metadata`.
    pub name: String,
    /// grpc, http or local (from another service of the same process).
    pub kind: &'static str,
    /// The process that served it (`pid@host`).
    pub process: String,
    /// Microseconds since the Unix epoch.
    pub start_us: i64,
    pub duration_us: u64,
    /// The gRPC status, by name: ok, not_found, …
    pub status: &'static str,
}

/// What a listing of recent spans asks for.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub service: Option<String>,
    pub name: Option<String>,
    /// ok, or error (anything else), or a status by name.
    pub status: Option<String>,
    pub min_duration: Option<Duration>,
    /// Only the spans by which a trace entered: those without a parent, or whose parent
    /// is not kept here (the caller was a client, or another process).
    pub roots_only: bool,
    pub limit: usize,
}

impl Filter {
    fn matches(&self, span: &Span) -> bool {
        self.service.as_ref().is_none_or(|s| *s == span.service)
            && self.name.as_ref().is_none_or(|n| *n == span.name)
            && self.status.as_deref().is_none_or(|s| match s {
                "error" => span.status != "ok",
                other => other == span.status,
            })
            && self
                .min_duration
                .is_none_or(|d| span.duration_us >= d.as_micros() as u64)
    }
}

/// The trace store of one data directory.
#[derive(Debug)]
pub struct Store {
    db: Arc<Database>,
    process: String,
    settings: Settings,
}

impl Store {
    /// Opens (creating) `<data_dir>/traces.db`; spans are tagged with `process`.
    pub fn open(data_dir: &Path, settings: Settings, process: String) -> Result<Self, StoreError> {
        let db = Database::open(&data_dir.join(FILE_NAME), MIGRATIONS)?;
        Ok(Self {
            db: Arc::new(db),
            process,
            settings,
        })
    }

    /// The process whose spans it writes (`pid@host`).
    pub fn process(&self) -> &str {
        &self.process
    }

    /// Writes the spans recorded since the last flush, then removes what is past the
    /// limits. How many were written.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let (spans, dropped) = spans::take();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "spans dropped: the trace store did not keep up (is the disk full?)"
            );
        }
        self.write(&spans).await
    }

    /// Writes `spans` as one batch, then removes what is past the limits.
    async fn write(&self, spans: &[Finished]) -> Result<usize, StoreError> {
        let count = spans.len();
        let (Some(first), Some(last)) = (spans.first(), spans.last()) else {
            return Ok(0);
        };
        let (first_us, last_us) = (first.start_us, last.start_us);
        let bytes = encode(spans);
        let process = self.process.clone();
        let settings = self.settings.clone();
        self.db
            .write(move |conn| {
                // Spans are written once and seldom read: a small page cache will do.
                conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
                let tx = conn.transaction()?;
                tx.execute(
                    "INSERT INTO batches (process, first_us, last_us, spans, bytes) VALUES (?, ?, ?, ?, ?)",
                    rusqlite::params![process, first_us, last_us, count as i64, bytes],
                )?;
                prune(&tx, &settings)?;
                tx.commit()
            })
            .await?;
        Ok(count)
    }

    /// Every kept span of `trace`, in start order.
    pub async fn trace(&self, trace: u128) -> Result<Vec<Span>, StoreError> {
        let mut found = Vec::new();
        self.scan(|span| {
            if span.trace == trace {
                found.push(span.clone());
            }
            true
        })
        .await?;
        let mut spans: Vec<Span> = found.into_iter().map(Into::into).collect();
        spans.sort_by_key(|s| s.start_us);
        Ok(spans)
    }

    /// The newest spans that match `filter`, newest first.
    pub async fn recent(&self, filter: &Filter) -> Result<Vec<Span>, StoreError> {
        let mut kept = std::collections::HashSet::new();
        if filter.roots_only {
            self.scan(|span| {
                kept.insert(span.span);
                true
            })
            .await?;
        }
        let mut found = Vec::new();
        self.scan(|span| {
            if filter.roots_only && span.parent != 0 && kept.contains(&span.parent) {
                return true;
            }
            let span = Span::from(span.clone());
            if filter.matches(&span) {
                found.push(span);
            }
            found.len() < filter.limit
        })
        .await?;
        Ok(found)
    }

    /// Hands each kept span to `each`, newest batch first (and newest first within one),
    /// until it answers false.
    async fn scan(&self, mut each: impl FnMut(&Decoded) -> bool) -> Result<(), StoreError> {
        let path = self.db.path().display().to_string();
        let mut before = i64::MAX;
        loop {
            // A few batches at a time: a scan that stops early reads little.
            let rows: Vec<(i64, String, Vec<u8>)> = self
                .db
                .read(move |c| {
                    let mut statement = c.prepare_cached(
                        "SELECT id, process, bytes FROM batches WHERE id < ? ORDER BY id DESC LIMIT 8",
                    )?;
                    let rows = statement
                        .query_map([before], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?;
                    Ok(rows)
                })
                .await?;
            let Some(last) = rows.last() else {
                return Ok(());
            };
            before = last.0;
            for (_, process, bytes) in rows {
                let spans = decode(&bytes, &process)
                    .ok_or_else(|| StoreError::Corrupt { path: path.clone() })?;
                for span in spans.iter().rev() {
                    if !each(span) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Flushes the recorded spans into `store` every second until `stop`, then once more.
pub async fn run(store: Arc<Store>, stop: CancellationToken) {
    let mut failing = false;
    loop {
        let stopping = tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(FLUSH_EVERY) => false,
            () = spans::filled() => false,
        };
        match store.flush().await {
            Ok(_) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "cannot keep spans; trying again every second");
            }
            Err(_) => {}
        }
        if stopping {
            return;
        }
    }
}

/// Removes the batches past the age, then the oldest past the count or the size.
fn prune(tx: &rusqlite::Transaction<'_>, settings: &Settings) -> rusqlite::Result<()> {
    let now_us = crate::database::sqlite::now_ms().saturating_mul(1000);
    let oldest = now_us.saturating_sub(settings.max_age.get().as_micros() as i64);
    tx.execute("DELETE FROM batches WHERE last_us < ?", [oldest])?;
    // Newest first, keep while within both limits.
    let mut statement =
        tx.prepare_cached("SELECT id, spans, length(bytes) FROM batches ORDER BY id DESC")?;
    let rows = statement.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    })?;
    let (mut spans, mut bytes) = (0u64, 0u64);
    let mut cut = None;
    for row in rows {
        let (id, n, size) = row?;
        spans += n as u64;
        bytes += size as u64;
        if spans > settings.max_spans || bytes > settings.max_bytes {
            cut = Some(id);
            break;
        }
    }
    drop(statement);
    if let Some(id) = cut {
        tx.execute("DELETE FROM batches WHERE id <= ?", [id])?;
    }
    Ok(())
}

/// A span read back from a batch.
#[derive(Debug, Clone)]
struct Decoded {
    trace: u128,
    span: u64,
    parent: u64,
    service: String,
    name: String,
    kind: Kind,
    process: Arc<str>,
    start_us: i64,
    duration_us: u64,
    code: tonic::Code,
}

impl From<Decoded> for Span {
    fn from(d: Decoded) -> Self {
        Self {
            trace_id: format!("{:032x}", d.trace),
            span_id: format!("{:016x}", d.span),
            parent_span_id: (d.parent != 0).then(|| format!("{:016x}", d.parent)),
            service: d.service,
            name: d.name,
            kind: d.kind.name(),
            process: d.process.to_string(),
            start_us: d.start_us,
            duration_us: d.duration_us,
            status: crate::codes::name(d.code),
        }
    }
}

/// The batch format's version, its first byte.
const FORMAT: u8 = 1;

/// `spans` as one batch, compactly (a second of spans is written at once): a version
/// byte; the distinct (service, name) pairs, counted, each string a length and UTF-8 (cut
/// at 255 bytes); the first span's start; then per span its trace, span and parent ids,
/// its start after the first's and its duration (varints, µs), kind, code, and the index
/// of its pair.
fn encode(spans: &[Finished]) -> Vec<u8> {
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut index = Vec::with_capacity(spans.len());
    for s in spans {
        let at = match pairs
            .iter()
            .position(|p| std::ptr::eq(p.1, s.name) && p.0 == s.service)
        {
            Some(at) => at,
            None => {
                pairs.push((s.service, s.name));
                pairs.len() - 1
            }
        };
        index.push(at as u64);
    }
    let first_us = spans.first().map_or(0, |s| s.start_us);
    let mut out = Vec::with_capacity(16 + pairs.len() * 40 + spans.len() * 44);
    out.push(FORMAT);
    varint(&mut out, pairs.len() as u64);
    for (service, name) in &pairs {
        for text in [service, name] {
            let text = &text.as_bytes()[..text.len().min(255)];
            out.push(text.len() as u8);
            out.extend_from_slice(text);
        }
    }
    out.extend_from_slice(&first_us.to_le_bytes());
    for (s, at) in spans.iter().zip(index) {
        out.extend_from_slice(&s.trace.to_le_bytes());
        out.extend_from_slice(&s.span.to_le_bytes());
        out.extend_from_slice(&s.parent.to_le_bytes());
        // Zigzag: a clock step back makes a later span start earlier.
        let after = s.start_us.wrapping_sub(first_us);
        varint(&mut out, ((after << 1) ^ (after >> 63)) as u64);
        varint(&mut out, s.duration_us);
        out.push(s.kind as u8);
        out.push(s.code as i32 as u8);
        varint(&mut out, at);
    }
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads a batch back.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, tail) = self.0.split_at_checked(n)?;
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(n);
            }
        }
        None
    }

    fn text(&mut self) -> Option<String> {
        let n = self.byte()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// A batch's spans; `None` when it does not decode.
fn decode(bytes: &[u8], process: &str) -> Option<Vec<Decoded>> {
    let mut r = Reader(bytes);
    if r.byte()? != FORMAT {
        return None;
    }
    let count = r.varint()?;
    let mut pairs = Vec::new();
    for _ in 0..count.min(65_536) {
        pairs.push((r.text()?, r.text()?));
    }
    let first_us = i64::from_le_bytes(r.array()?);
    let process: Arc<str> = process.into();
    let mut spans = Vec::new();
    while !r.0.is_empty() {
        let trace = u128::from_le_bytes(r.array()?);
        let span = u64::from_le_bytes(r.array()?);
        let parent = u64::from_le_bytes(r.array()?);
        let after = r.varint()?;
        let after = ((after >> 1) as i64) ^ -((after & 1) as i64);
        let duration_us = r.varint()?;
        let kind = Kind::of(r.byte()?)?;
        let code = tonic::Code::from_i32(i32::from(r.byte()?));
        let (service, name) = pairs.get(usize::try_from(r.varint()?).ok()?)?.clone();
        spans.push(Decoded {
            trace,
            span,
            parent,
            service,
            name,
            kind,
            process: Arc::clone(&process),
            start_us: first_us.wrapping_add(after),
            duration_us,
            code,
        });
    }
    Some(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(trace: u128, span: u64, parent: u64, start_us: i64) -> Finished {
        Finished {
            trace,
            span,
            parent,
            service: "metadata",
            name: "MetadataService/GetMetadata",
            kind: Kind::Local,
            start_us,
            duration_us: 1234,
            code: tonic::Code::NotFound,
        }
    }

    #[test]
    fn batches_decode_to_what_was_encoded_and_bad_ones_do_not() {
        let spans = [finished(7, 8, 0, 100), finished(u128::MAX, 9, 8, 200)];
        let decoded = decode(&encode(&spans), "1@host").unwrap();
        let spans: Vec<Span> = decoded.into_iter().map(Span::from).collect();
        assert_eq!(spans[0].trace_id, format!("{:032x}", 7));
        assert_eq!(spans[0].parent_span_id, None);
        assert_eq!(spans[1].parent_span_id.as_deref(), Some("0000000000000008"));
        assert_eq!(
            (spans[1].kind, spans[1].status, spans[1].duration_us),
            ("local", "not_found", 1234)
        );
        assert_eq!(spans[1].process, "1@host");
        let bytes = encode(&spans_of(3));
        assert!(decode(&bytes[..bytes.len() - 1], "p").is_none());
        assert!(decode(&[9], "p").is_none());
        assert!(decode(&[], "p").is_none());
    }

    fn spans_of(n: usize) -> Vec<Finished> {
        (0..n)
            .map(|i| finished(i as u128 + 1, i as u64 + 1, 0, i as i64))
            .collect()
    }

    #[tokio::test]
    async fn the_store_answers_by_trace_and_by_filter_and_keeps_to_its_limits() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            max_spans: 250,
            ..Settings::default()
        };
        let store = Store::open(dir.path(), settings, "1@host".into()).unwrap();
        let now = crate::database::sqlite::now_ms() * 1000;
        // Three batches of 100: the oldest goes once the third is in.
        for batch in 0..3 {
            let spans: Vec<Finished> = (0..100)
                .map(|i| {
                    let n = batch * 100 + i;
                    let mut s = finished(n as u128 % 7 + 1, n as u64 + 1, 0, now + n as i64);
                    s.code = if n % 2 == 0 {
                        tonic::Code::Ok
                    } else {
                        tonic::Code::Internal
                    };
                    s
                })
                .collect();
            store.write(&spans).await.unwrap();
        }
        let all = store
            .recent(&Filter {
                limit: 1_000,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 200, "the oldest batch is gone");
        assert_eq!(all[0].span_id, format!("{:016x}", 300), "newest first");
        let errors = store
            .recent(&Filter {
                status: Some("error".into()),
                limit: 10,
                ..Filter::default()
            })
            .await
            .unwrap();
        assert_eq!(errors.len(), 10);
        assert!(errors.iter().all(|s| s.status == "internal"));
        let trace = store.trace(3).await.unwrap();
        assert!(!trace.is_empty());
        assert!(trace.windows(2).all(|w| w[0].start_us <= w[1].start_us));
        assert!(trace.iter().all(|s| s.trace_id == format!("{:032x}", 3)));
        // Entry spans: no parent, or a parent not kept here.
        let child = Finished {
            parent: 300,
            span: 1_000,
            ..finished(9, 1_000, 300, now + 400)
        };
        let orphan = finished(9, 1_001, 77_777, now + 401);
        store.write(&[child, orphan]).await.unwrap();
        let roots = store
            .recent(&Filter {
                roots_only: true,
                limit: 3,
                ..Filter::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = roots.iter().map(|s| s.span_id.as_str()).collect();
        assert_eq!(
            ids,
            [
                format!("{:016x}", 1_001),
                format!("{:016x}", 300),
                format!("{:016x}", 299)
            ]
        );
        // Reopened, as after a restart: the same spans.
        drop(store);
        let store = Store::open(dir.path(), Settings::default(), "2@host".into()).unwrap();
        assert_eq!(store.trace(3).await.unwrap(), trace);
    }

    #[test]
    fn settings_name_what_is_wrong() {
        let bad = |f: fn(&mut Settings)| {
            let mut s = Settings::default();
            f(&mut s);
            s.check().unwrap_err()
        };
        assert!(bad(|s| s.ratio = 1.5).contains("traces.ratio: 1.5"));
        assert!(bad(|s| s.max_spans = 0).contains("traces.maxSpans"));
        assert!(bad(|s| s.max_bytes = 10).contains("traces.maxBytes: 10"));
        assert!(Settings::default().check().is_ok());
    }
}
