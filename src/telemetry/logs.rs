//! The process's recent log lines, kept in memory for the dashboard (issue 31): every line
//! the log writes is also taken here as JSON (the `--log-format json` shape: time, level,
//! target, message, fields, `service`, `trace_id`), bounded by count and bytes, the oldest
//! dropped first. `GET /debug/logs` answers them, filtered by level, service and trace id,
//! so a trace's waterfall can show the lines that carry its id.
//!
//! Only lines the log filter lets through are kept (the default level writes none per
//! call), and nothing is kept until [`install`] is called (`serve` does).

use std::{
    collections::VecDeque,
    io,
    sync::{Mutex, OnceLock, PoisonError},
};

use serde_json::Value;

/// How many lines are kept at most.
pub const MAX_LINES: usize = 5_000;
/// How many bytes of lines are kept at most.
pub const MAX_BYTES: usize = 4 * 1024 * 1024;
/// A line longer than this is cut (its message says so).
const MAX_LINE_BYTES: usize = 16 * 1024;

/// One kept line.
#[derive(Debug, Clone)]
struct Line {
    /// Its place in this process's log, from 1: lines are told apart by it.
    seq: u64,
    level: Level,
    service: Option<String>,
    trace_id: Option<String>,
    json: Value,
    bytes: usize,
}

/// A log level, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// `error`, `warn`, `info`, `debug` or `trace`, any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "error" => Some(Self::Error),
            "warn" | "warning" => Some(Self::Warn),
            "info" => Some(Self::Info),
            "debug" => Some(Self::Debug),
            "trace" => Some(Self::Trace),
            _ => None,
        }
    }
}

/// Which lines to answer.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// This level and the more severe ones.
    pub level: Option<Level>,
    pub service: Option<String>,
    /// 32 lowercase hex digits.
    pub trace_id: Option<String>,
    /// The most lines answered (the newest).
    pub limit: usize,
}

#[derive(Default)]
struct Kept {
    lines: VecDeque<Line>,
    bytes: usize,
    next: u64,
}

static KEPT: OnceLock<Mutex<Kept>> = OnceLock::new();

/// Starts keeping lines.
pub fn install() {
    let _ = KEPT.set(Mutex::new(Kept {
        next: 1,
        ..Kept::default()
    }));
}

/// Whether lines are kept.
pub fn installed() -> bool {
    KEPT.get().is_some()
}

/// The kept lines that pass `filter`, oldest first (at most `filter.limit`, the newest).
pub fn recent(filter: &Filter) -> Vec<Value> {
    let Some(kept) = KEPT.get() else {
        return Vec::new();
    };
    let kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    let mut found: Vec<Value> = kept
        .lines
        .iter()
        .rev()
        .filter(|line| {
            filter.level.is_none_or(|level| line.level <= level)
                && filter
                    .service
                    .as_deref()
                    .is_none_or(|s| line.service.as_deref() == Some(s))
                && filter
                    .trace_id
                    .as_deref()
                    .is_none_or(|t| line.trace_id.as_deref() == Some(t))
        })
        .take(filter.limit)
        .map(|line| {
            let mut json = line.json.clone();
            if let Value::Object(fields) = &mut json {
                fields.insert("seq".to_owned(), line.seq.into());
            }
            json
        })
        .collect();
    found.reverse();
    found
}

fn keep(bytes: &[u8]) {
    let Some(kept) = KEPT.get() else { return };
    let text = String::from_utf8_lossy(bytes);
    let mut json: Value = match serde_json::from_str(text.trim_end()) {
        Ok(json) => json,
        Err(_) => return,
    };
    let field = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let level = field("level")
        .and_then(|l| Level::parse(&l))
        .unwrap_or(Level::Info);
    let (service, trace_id) = (field("service"), field("trace_id"));
    let mut size = bytes.len();
    if size > MAX_LINE_BYTES {
        let message = field("message").unwrap_or_default();
        let cut: String = message.chars().take(1024).collect();
        json = serde_json::json!({
            "timestamp": json.get("timestamp").cloned().unwrap_or(Value::Null),
            "level": json.get("level").cloned().unwrap_or(Value::Null),
            "target": json.get("target").cloned().unwrap_or(Value::Null),
            "service": service,
            "trace_id": trace_id,
            "message": format!("{cut}… (a line of {size} bytes, cut)"),
        });
        size = 2048;
    }
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    let seq = kept.next;
    kept.next += 1;
    kept.bytes += size;
    kept.lines.push_back(Line {
        seq,
        level,
        service,
        trace_id,
        json,
        bytes: size,
    });
    while kept.lines.len() > MAX_LINES || kept.bytes > MAX_BYTES {
        match kept.lines.pop_front() {
            Some(old) => kept.bytes -= old.bytes,
            None => break,
        }
    }
}

/// Where the log layer writes a line to keep: gathered, then kept whole when dropped.
#[derive(Default)]
pub struct LineWriter(Vec<u8>);

impl io::Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        for line in self.0.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            keep(line);
        }
    }
}

/// Makes a [`LineWriter`] per line.
#[derive(Debug, Clone, Copy, Default)]
pub struct MakeLineWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeLineWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_kept_bounded_and_filtered() {
        install();
        for i in 0..(MAX_LINES + 10) {
            let (level, trace) = if i % 2 == 0 {
                ("INFO", "a".repeat(32))
            } else {
                ("WARN", "b".repeat(32))
            };
            let line = format!(
                r#"{{"timestamp":"t","level":"{level}","service":"rating","trace_id":"{trace}","message":"line {i}"}}"#
            );
            let mut w = LineWriter::default();
            io::Write::write_all(&mut w, line.as_bytes()).unwrap();
            io::Write::write_all(&mut w, b"\n").unwrap();
            drop(w);
        }
        let all = recent(&Filter {
            limit: usize::MAX,
            ..Filter::default()
        });
        assert_eq!(all.len(), MAX_LINES);
        assert_eq!(
            all.last().unwrap()["message"],
            format!("line {}", MAX_LINES + 9)
        );
        let warn = recent(&Filter {
            level: Some(Level::Warn),
            limit: 3,
            ..Filter::default()
        });
        assert_eq!(warn.len(), 3);
        assert!(warn.iter().all(|l| l["level"] == "WARN"));
        assert!(warn[0]["seq"].as_u64() < warn[2]["seq"].as_u64());
        let traced = recent(&Filter {
            trace_id: Some("a".repeat(32)),
            service: Some("rating".into()),
            limit: usize::MAX,
            level: None,
        });
        assert_eq!(traced.len(), MAX_LINES / 2);
        let none = recent(&Filter {
            service: Some("movie".into()),
            limit: usize::MAX,
            ..Filter::default()
        });
        assert!(none.is_empty());
        // Not JSON: not kept, no panic.
        drop({
            let mut w = LineWriter::default();
            io::Write::write_all(&mut w, b"garbage\n").unwrap();
            w
        });
    }
}
