//! CPU profiles (book chapter 14): `GET /debug/pprof/profile?seconds=N` samples every
//! thread of the process (the `pprof` crate, 99 times a second) and answers pprof's
//! protobuf format, gzipped, which `go tool pprof` and other pprof tools read;
//! `?format=flamegraph` answers an SVG flame graph instead.
//!
//! Off unless `debug.profiling: true`. When on, it answers only callers on this machine
//! (loopback) while auth is off, and only an `admin` token while auth is on (the endpoint
//! layer checks it: `/debug/` routes need [`Access::Admin`](crate::auth::access::Access)).

use std::{
    collections::HashMap,
    io::Write,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

mod flame;

use prost::Message;
use serde::{Deserialize, Serialize};

/// pprof's profile format (`proto/profile.proto`).
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("perftools.profiles");
}

/// The route of CPU profiles.
pub const PROFILE_PATH: &str = "/debug/pprof/profile";
/// Samples per second.
const FREQUENCY: i32 = 99;
/// The longest profile a request may ask for.
pub const MAX_SECONDS: u64 = 300;
/// Go's default.
pub const DEFAULT_SECONDS: u64 = 30;

/// The `debug` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    /// Serve `/debug/pprof/profile` (loopback callers only while auth is off; an admin
    /// token while it is on).
    pub profiling: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("a profile is being taken already; one at a time")]
    Busy,
    #[error("cannot profile: {0}")]
    Profiler(#[from] pprof::Error),
    #[error("cannot encode the profile: {0}")]
    Encode(#[from] std::io::Error),
    #[error("the profiling task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// One profile at a time: the profiler is process-wide.
static TAKING: AtomicBool = AtomicBool::new(false);

/// What to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// pprof's protobuf, gzipped.
    Pprof,
    /// An SVG flame graph.
    Flamegraph,
}

/// Samples the process for `duration` and encodes the result as `format`. The sampling
/// runs on a blocking thread (the profiler's guard is not `Send`).
pub async fn take(duration: Duration, format: Format) -> Result<Vec<u8>, ProfileError> {
    if TAKING.swap(true, Ordering::AcqRel) {
        return Err(ProfileError::Busy);
    }
    // The slot is free again when the sampling ends, however it ends.
    let slot = Slot;
    // Set if the caller goes away (this future is dropped): the sampling stops early.
    let abandoned = Abandoned(std::sync::Arc::new(AtomicBool::new(false)));
    let gone = std::sync::Arc::clone(&abandoned.0);
    let taken = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, ProfileError> {
        let _slot = slot;
        let guard = pprof::ProfilerGuardBuilder::default()
            .frequency(FREQUENCY)
            .blocklist(&["libgcc", "vdso"])
            .build()?;
        let until = std::time::Instant::now() + duration;
        while !gone.load(Ordering::Acquire) {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        let report = guard.report().build()?;
        drop(guard);
        match format {
            Format::Pprof => encode(&report),
            Format::Flamegraph => Ok(flame::svg(stacks(&report)).into_bytes()),
        }
    })
    .await;
    drop(abandoned);
    taken?
}

/// The one profile being taken: the slot is freed when this is dropped.
struct Slot;

impl Drop for Slot {
    fn drop(&mut self) {
        TAKING.store(false, Ordering::Release);
    }
}

/// Tells the sampling its caller has gone away, when dropped.
struct Abandoned(std::sync::Arc<AtomicBool>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The report in pprof's format, gzipped.
pub fn encode(report: &pprof::Report) -> Result<Vec<u8>, ProfileError> {
    let profile = to_profile(report);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    Ok(gz.finish()?)
}

/// Strings, functions and locations, each once, as the format wants them.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_ids: HashMap<String, i64>,
    functions: Vec<pb::Function>,
    function_ids: HashMap<(String, String), u64>,
    locations: Vec<pb::Location>,
    location_ids: HashMap<Vec<(u64, i64)>, u64>,
}

impl Tables {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(id) = self.string_ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as i64;
        self.strings.push(s.to_owned());
        self.string_ids.insert(s.to_owned(), id);
        id
    }

    fn function(&mut self, name: String, file: String) -> u64 {
        if let Some(id) = self.function_ids.get(&(name.clone(), file.clone())) {
            return *id;
        }
        let id = self.functions.len() as u64 + 1;
        let function = pb::Function {
            id,
            name: self.string(&name),
            system_name: self.string(&name),
            filename: self.string(&file),
            start_line: 0,
        };
        self.functions.push(function);
        self.function_ids.insert((name, file), id);
        id
    }

    /// A frame: its symbols, the innermost (inlined) first, as one location.
    fn location(&mut self, symbols: &[pprof::Symbol]) -> u64 {
        let lines: Vec<(u64, i64)> = symbols
            .iter()
            .map(|s| {
                let function = self.function(s.name(), s.filename().into_owned());
                (function, i64::from(s.lineno()))
            })
            .collect();
        if let Some(id) = self.location_ids.get(&lines) {
            return *id;
        }
        let id = self.locations.len() as u64 + 1;
        self.locations.push(pb::Location {
            id,
            mapping_id: 0,
            address: 0,
            line: lines
                .iter()
                .map(|&(function_id, line)| pb::Line { function_id, line })
                .collect(),
            is_folded: false,
        });
        self.location_ids.insert(lines, id);
        id
    }
}

/// Each sampled stack as function names, the thread first and then the outermost frame
/// (inlined functions after the function they are inlined into), without the profiler's
/// own frames; with its sample count.
fn stacks(report: &pprof::Report) -> Vec<(Vec<String>, u64)> {
    report
        .data
        .iter()
        .map(|(frames, count)| {
            let ours = profiler_frames(&frames.frames);
            let mut names = vec![frames.thread_name_or_id()];
            for symbols in frames.frames[ours..].iter().rev() {
                names.extend(symbols.iter().rev().map(pprof::Symbol::name));
            }
            (names, u64::try_from(*count).unwrap_or(0))
        })
        .collect()
}

/// How many of the innermost frames are the profiler's own (its signal handler unwinding
/// the stack): left out, as Go's profiles do.
fn profiler_frames(frames: &[Vec<pprof::Symbol>]) -> usize {
    frames
        .iter()
        .take_while(|symbols| symbols.iter().any(|s| is_profiler(&s.name())))
        .count()
}

/// A frame of the sampling itself.
fn is_profiler(name: &str) -> bool {
    // Trait methods demangle as `<pprof::…::Trace as …>::trace`.
    name.contains("backtrace::")
        || name.contains("pprof::")
        || name.contains("perf_signal_handler")
        || name.contains("__restore_rt")
}

fn to_profile(report: &pprof::Report) -> pb::Profile {
    let mut t = Tables::default();
    t.string("");
    let period = 1_000_000_000 / i64::from(report.timing.frequency.max(1));
    let sample_type = vec![
        pb::ValueType {
            r#type: t.string("samples"),
            unit: t.string("count"),
        },
        pb::ValueType {
            r#type: t.string("cpu"),
            unit: t.string("nanoseconds"),
        },
    ];
    let thread = t.string("thread");
    let mut samples = Vec::with_capacity(report.data.len());
    for (frames, count) in &report.data {
        let ours = profiler_frames(&frames.frames);
        let location_id = frames.frames[ours..]
            .iter()
            .map(|symbols| t.location(symbols))
            .collect();
        let count = *count as i64;
        let label = vec![pb::Label {
            key: thread,
            str: t.string(&frames.thread_name_or_id()),
            num: 0,
            num_unit: 0,
        }];
        samples.push(pb::Sample {
            location_id,
            value: vec![count, count * period],
            label,
        });
    }
    let period_type = Some(pb::ValueType {
        r#type: t.string("cpu"),
        unit: t.string("nanoseconds"),
    });
    let time_nanos = report
        .timing
        .start_time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    pb::Profile {
        sample_type,
        sample: samples,
        mapping: Vec::new(),
        location: t.locations,
        function: t.functions,
        string_table: t.strings,
        drop_frames: 0,
        keep_frames: 0,
        time_nanos,
        duration_nanos: i64::try_from(report.timing.duration.as_nanos()).unwrap_or(i64::MAX),
        period_type,
        period,
        comment: Vec::new(),
        default_sample_type: 1,
    }
}
