//! Change events (issue 28): every accepted rating change that changes something is
//! written to an outbox in the same transaction as the rating, and the [`relay`] publishes
//! the outbox, in commit order, to the `rating-changes` topic, keyed by record id. At least
//! once: a relay stopped at any point publishes again what it had not marked sent, so
//! consumers deduplicate by `eventId`.

pub mod listener;
pub mod relay;

use serde::{Deserialize, Serialize};

use crate::model::{RecordKey, UserId};

/// The topic rating changes are published to.
pub const RATING_CHANGES: &str = "rating-changes";
/// The topic metadata changes are published to.
pub const METADATA_CHANGES: &str = "metadata-changes";

/// The `events` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Settings {
    pub outbox: relay::OutboxSettings,
}

/// Where a change came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Grpc,
    Http,
    Feed,
}

/// A record's aggregate after a change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AggregateAfter {
    pub count: i64,
    pub sum: i64,
    /// `sum / count`; 0 when the record has no ratings left.
    pub mean: f64,
}

impl AggregateAfter {
    pub fn new(count: i64, sum: i64) -> Self {
        #[allow(clippy::cast_precision_loss)]
        let mean = if count > 0 {
            sum as f64 / count as f64
        } else {
            0.0
        };
        Self { count, sum, mean }
    }
}

/// One change of one user's rating of one record, as published (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingChanged {
    /// Unique, and the same however many times the event is published.
    pub event_id: String,
    pub record_id: String,
    pub record_type: String,
    pub user_id: String,
    /// The rating after the change; `null` when it was deleted.
    pub value: Option<i64>,
    /// The rating before; `null` when there was none.
    pub previous_value: Option<i64>,
    pub aggregate: AggregateAfter,
    /// When it was committed: RFC 3339, UTC.
    pub changed_at: String,
    pub source: Source,
}

impl RatingChanged {
    /// The event of `user`'s rating of `key` going from `before` to `after`, leaving the
    /// record at `aggregate`, committed at `now_ms` (Unix milliseconds).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key: &RecordKey,
        user: &UserId,
        before: Option<i64>,
        after: Option<i64>,
        aggregate: AggregateAfter,
        now_ms: i64,
        source: Source,
    ) -> Self {
        Self {
            event_id: format!("{:032x}", rand::random::<u128>()),
            record_id: key.record_id().to_owned(),
            record_type: key.record_type().to_owned(),
            user_id: user.as_str().to_owned(),
            value: after,
            previous_value: before,
            aggregate,
            changed_at: crate::model::rfc3339(now_ms),
            source,
        }
    }

    pub fn to_json(&self) -> String {
        // A struct of strings and numbers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A movie's metadata fields, as an event carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataFields {
    pub title: String,
    pub description: String,
    pub director: String,
}

impl MetadataFields {
    pub fn of(metadata: &crate::model::Metadata) -> Self {
        Self {
            title: metadata.title().to_owned(),
            description: metadata.description().to_owned(),
            director: metadata.director().to_owned(),
        }
    }
}

/// One change of one movie's metadata, as published (JSON) to `metadata-changes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataChanged {
    /// Unique, and the same however many times the event is published.
    pub event_id: String,
    pub movie_id: String,
    /// The metadata after the change.
    #[serde(flatten)]
    pub metadata: MetadataFields,
    /// Before; `null` when the movie is new.
    pub previous: Option<MetadataFields>,
    /// When it was committed: RFC 3339, UTC.
    pub changed_at: String,
    pub source: Source,
}

impl MetadataChanged {
    pub fn new(
        metadata: &crate::model::Metadata,
        previous: Option<MetadataFields>,
        now_ms: i64,
        source: Source,
    ) -> Self {
        Self {
            event_id: format!("{:032x}", rand::random::<u128>()),
            movie_id: metadata.id().as_str().to_owned(),
            metadata: MetadataFields::of(metadata),
            previous,
            changed_at: crate::model::rfc3339(now_ms),
            source,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An outbox row: its place in commit order, its key (the record id) and its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: i64,
    pub key: String,
    pub payload: String,
}

/// The outbox could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("the outbox: {0}")]
pub struct OutboxError(pub String);

/// What an [`Outbox`] call gives.
pub type Answer<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, OutboxError>> + Send + 'static>>;

/// Where the outbox is kept: beside the ratings, in their database.
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` unsent rows, in commit order.
    fn unsent(&self, limit: usize) -> Answer<Vec<Pending>>;
    /// Marks the rows up to and including `through` sent, at `now_ms`.
    fn mark_sent(&self, through: i64, now_ms: i64) -> Answer<()>;
    /// Removes rows sent before `before_ms`; how many.
    fn prune(&self, before_ms: i64) -> Answer<u64>;
    /// How many rows are unsent.
    fn pending(&self) -> Answer<u64>;
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
