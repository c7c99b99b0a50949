//! Domain types, their validation, and the mapping to and from the wire types.
//!
//! Every entry point (gRPC handlers, HTTP, CLI arguments, the rating feed) builds domain
//! values through their constructors, which apply the rules of [`validate`]: the rules live
//! in one place, and a value of these types cannot be invalid.

mod change;
mod ids;
mod metadata;
pub mod page;
mod proto;
mod rating;
pub mod validate;

pub use change::RatingChange;
pub use ids::{MovieId, RecordId, RecordType, UserId};
pub use metadata::{Metadata, MovieDetails};
pub use rating::{RatingValue, RecordKey, UserRating};
pub use validate::ValidationError;

/// Unix milliseconds as an RFC 3339 time in UTC, e.g. `2026-11-23T12:00:00Z`, as JSON
/// output and events write times.
pub fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// The record type movies are rated under. The only type today; others are accepted.
pub const MOVIE_RECORD_TYPE: &str = "movie";
