//! The rating feed (book ch. 6; docs/design.md §4), in one place: what a
//! data provider publishes ([`event`]), publishing it ([`producer`]), and consuming it
//! into the ratings ([`ingester`], which the rating service runs). The log it travels on is
//! [`crate::broker`]'s; where the changes go is the rating service's, through [`Apply`].

pub mod event;
pub mod ingester;
pub mod producer;

pub use event::{EventType, RatingEvent, SUPPORTED_VERSIONS};
pub use ingester::{Apply, Ingester};
pub use producer::{FeedFileError, Summary, generate, parse_events, publish, read_events};

/// The topic rating events are published to.
pub const RATINGS_TOPIC: &str = "ratings";
/// Where events that cannot be applied go, with the reason.
pub const DLQ_TOPIC: &str = "ratings-dlq";
/// The consumer group of the rating service.
pub const RATING_GROUP: &str = "rating";
