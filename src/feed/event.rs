//! Rating events: what a data provider publishes to the `ratings` topic (book ch. 6).
//!
//! One JSON object per message, the book's field names:
//! `{"userId","recordId","recordType","value","providerId","eventType"}`, plus an optional
//! `version` of the schema (default 1). `eventType` is `put` or `delete`; a delete removes
//! that user's rating of the record and needs no `value`.

use serde::{Deserialize, Serialize};

use crate::model::{
    RatingChange, RatingValue, RecordKey, UserId, UserRating, ValidationError, validate,
};

/// The schema versions this build understands.
pub const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 1..=1;

/// An event as it travels (JSON). Unknown fields are ignored: a newer provider may add some.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingEvent {
    pub user_id: String,
    pub record_id: String,
    pub record_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub provider_id: String,
    pub event_type: EventType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Put,
    Delete,
}

impl RatingEvent {
    /// Checks the event with the shared rules and turns it into the change it asks for.
    pub fn validate(&self) -> Result<RatingChange, ValidationError> {
        self.clone().into_change()
    }

    /// [`Self::validate`], consuming the event (no copy of its strings).
    pub fn into_change(self) -> Result<RatingChange, ValidationError> {
        let version = self.version.unwrap_or(1);
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(ValidationError::new(
                "version",
                &version.to_string(),
                format!(
                    "expected a supported schema version ({}..={})",
                    SUPPORTED_VERSIONS.start(),
                    SUPPORTED_VERSIONS.end()
                ),
            ));
        }
        let key = RecordKey::new(self.record_id, self.record_type)?;
        let user_id = UserId::new(self.user_id)?;
        match self.event_type {
            EventType::Put => {
                let value = self
                    .value
                    .ok_or_else(|| validate::missing("rating value"))?;
                let value = RatingValue::new(value)?;
                Ok(RatingChange::Put(UserRating::new(key, user_id, value)))
            }
            EventType::Delete => Ok(RatingChange::Delete { key, user_id }),
        }
    }

    /// Decodes one message payload and validates it. The error says why the message cannot be
    /// applied (for the dead-letter topic).
    pub fn decode(payload: &[u8]) -> Result<RatingChange, String> {
        let event: RatingEvent = serde_json::from_slice(payload)
            .map_err(|e| format!("undecodable rating event: {e}"))?;
        event
            .into_change()
            .map_err(|e| format!("invalid rating event: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_books_file_decodes() {
        let text = include_str!("../../fixtures/ratingsdata.json");
        let events: Vec<RatingEvent> = serde_json::from_str(text).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].value, Some(5));
        assert_eq!(events[1].record_id, "2");
        for e in &events {
            assert!(matches!(e.validate(), Ok(RatingChange::Put(_))));
        }
        // Re-encoding gives the book's field names and order.
        assert_eq!(
            serde_json::to_string(&events[0]).unwrap(),
            r#"{"userId":"105","recordId":"1","recordType":"movie","value":5,"providerId":"test-provider","eventType":"put"}"#
        );
    }

    #[test]
    fn bad_events_say_why() {
        let cases = [
            (
                r#"{"userId":"1","recordId":"1","recordType":"movie","value":9,"eventType":"put"}"#,
                "invalid rating value \"9\"",
            ),
            (
                r#"{"userId":"1","recordId":"1","recordType":"movie","eventType":"put"}"#,
                "rating value",
            ),
            (
                r#"{"userId":"","recordId":"1","recordType":"movie","value":3,"eventType":"put"}"#,
                "invalid user id",
            ),
            (
                r#"{"userId":"1","recordId":"1","recordType":"movie","value":3,"eventType":"upsert"}"#,
                "undecodable",
            ),
            (
                r#"{"userId":"1","recordId":"1","recordType":"movie","value":3,"eventType":"put","version":2}"#,
                "schema version",
            ),
            ("not json", "undecodable"),
        ];
        for (payload, needle) in cases {
            let err = RatingEvent::decode(payload.as_bytes()).unwrap_err();
            assert!(err.contains(needle), "{payload}: {err}");
        }
    }

    #[test]
    fn deletes_need_no_value() {
        let change = RatingEvent::decode(
            br#"{"userId":"1","recordId":"7","recordType":"movie","eventType":"delete"}"#,
        )
        .unwrap();
        let RatingChange::Delete { key, user_id } = change else {
            panic!("not a delete: {change:?}");
        };
        assert_eq!((key.record_id(), user_id.as_str()), ("7", "1"));
    }
}
