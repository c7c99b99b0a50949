//! Timing: warm up, then run repeated batches and take the median ns/op with the min–max
//! spread, for encode and decode separately. Inputs and outputs pass through
//! `std::hint::black_box`, so the work cannot be optimised away.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use serde::Serialize;

use super::Metadata;
use super::{
    Format, GoReference,
    codecs::{Codec, CodecError, Subject},
};
use crate::with_codec;

/// How long to measure and in how many batches.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Time for one operation (encode or decode) of one format, warm-up included.
    pub per_operation: Duration,
    /// Iterations per batch; `None` calibrates from the warm-up.
    pub iterations: Option<u64>,
    pub batches: u32,
}

impl Plan {
    /// Warm-up takes this share of the time of one operation.
    const WARM_UP_SHARE: u32 = 5;
}

/// ns/op over the batches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub median_ns: f64,
    pub min_ns: f64,
    pub max_ns: f64,
    pub batches: u32,
    pub iterations_per_batch: u64,
}

/// One format's figures.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FormatResult {
    pub format: Format,
    pub bytes: usize,
    pub encode: Stats,
    pub decode: Stats,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub go_reference: Option<GoReference>,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("{format} does not round-trip the value: decoding gave {got:?}")]
    RoundTrip { format: Format, got: Box<Metadata> },
}

/// Checks that `format` round-trips `value`, then times its encode and decode.
pub fn measure_format(
    format: Format,
    value: &Metadata,
    plan: Plan,
) -> Result<FormatResult, MeasureError> {
    with_codec!(format, C => measure_codec::<C>(value, plan))
}

fn measure_codec<C: Codec>(value: &Metadata, plan: Plan) -> Result<FormatResult, MeasureError> {
    let subject = Subject::new(value.clone());
    let mut buf = Vec::with_capacity(1024);
    C::encode(&subject, &mut buf)?;
    let decoded = C::decode(&buf)?;
    if decoded != *value {
        return Err(MeasureError::RoundTrip {
            format: C::FORMAT,
            got: Box::new(decoded),
        });
    }
    let bytes = buf.len();
    let encoded = buf.clone();

    // The loops below cannot fail: the same input just succeeded.
    let encode = time(plan, || {
        let _ = C::encode(black_box(&subject), black_box(&mut buf));
        black_box(&buf);
    });
    let decode = time(plan, || {
        let _ = black_box(C::decode(black_box(&encoded)));
    });
    Ok(FormatResult {
        format: C::FORMAT,
        bytes,
        encode,
        decode,
        go_reference: C::FORMAT.go_reference(),
    })
}

/// Times `op`: warm-up (which also calibrates the batch size), then `plan.batches` batches.
pub fn time(plan: Plan, mut op: impl FnMut()) -> Stats {
    let batches = plan.batches.max(1);
    let warm_up = plan.per_operation / Plan::WARM_UP_SHARE;
    let started = Instant::now();
    let mut warm_iterations = 0u64;
    // Read the clock every 64 operations, so warm-up runs like the batches do.
    while warm_iterations == 0 || started.elapsed() < warm_up {
        for _ in 0..64 {
            op();
        }
        warm_iterations += 64;
    }
    let per_op = started.elapsed().as_secs_f64() / warm_iterations as f64;
    let iterations = plan.iterations.unwrap_or_else(|| {
        let budget = (plan.per_operation - warm_up).as_secs_f64() / f64::from(batches);
        ((budget / per_op) as u64).max(1)
    });

    let mut samples = Vec::with_capacity(batches as usize);
    for _ in 0..batches {
        let start = Instant::now();
        for _ in 0..iterations {
            op();
        }
        samples.push(start.elapsed().as_nanos() as f64 / iterations as f64);
    }
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let median = if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    };
    Stats {
        median_ns: median,
        min_ns: samples[0],
        max_ns: samples[n - 1],
        batches,
        iterations_per_batch: iterations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serialization::book_value;

    fn quick() -> Plan {
        Plan {
            per_operation: Duration::from_millis(20),
            iterations: None,
            batches: 5,
        }
    }

    #[test]
    fn stats_are_ordered_and_count_the_batches() {
        let mut calls = 0u64;
        let stats = time(
            Plan {
                iterations: Some(100),
                ..quick()
            },
            || calls += 1,
        );
        assert_eq!(stats.batches, 5);
        assert_eq!(stats.iterations_per_batch, 100);
        assert!(
            calls >= 64 + 5 * 100,
            "warm-up and every batch ran: {calls}"
        );
        assert!(
            stats.min_ns <= stats.median_ns && stats.median_ns <= stats.max_ns,
            "{stats:?}"
        );
    }

    #[test]
    fn every_format_measures_the_book_value() {
        for format in Format::ALL {
            let r = measure_format(format, &book_value(), quick()).unwrap();
            assert_eq!(r.format, format);
            assert!(r.bytes > 0);
            assert!(
                r.encode.median_ns > 0.0 && r.decode.median_ns > 0.0,
                "{r:?}"
            );
            assert_eq!(r.go_reference.is_some(), format.go_reference().is_some());
        }
    }
}
