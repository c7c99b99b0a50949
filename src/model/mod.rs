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

/// The record type movies are rated under. The only type today; others are accepted.
pub const MOVIE_RECORD_TYPE: &str = "movie";
