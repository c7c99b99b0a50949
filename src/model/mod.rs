//! Domain types, their validation, and the mapping to and from the wire types.
//!
//! Every entry point (gRPC handlers, CLI arguments, and later HTTP and the rating feed) builds
//! domain values through the functions in [`validate`], so the rules live in exactly one place.

mod event;
mod metadata;
mod proto;
mod rating;
pub mod validate;

pub use event::{EventType, RatingChange, RatingEvent, SUPPORTED_VERSIONS};
pub use metadata::{Metadata, MovieDetails};
pub use rating::{RatingValue, RecordKey, UserRating};
pub use validate::ValidationError;

/// The record type movies are rated under. The only type today; others are accepted.
pub const MOVIE_RECORD_TYPE: &str = "movie";
