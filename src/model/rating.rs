use std::fmt;

use serde::Serialize;

use super::{
    MovieId, RecordId, RecordType, UserId,
    validate::{self, ValidationError},
};

/// What a rating is about: a record of some type (today always `movie`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    record_id: RecordId,
    record_type: RecordType,
}

impl RecordKey {
    /// Checks both parts with the shared rules.
    pub fn new(
        record_id: impl Into<String>,
        record_type: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        Ok(Self::from_parts(
            RecordId::new(record_id)?,
            RecordType::new(record_type)?,
        ))
    }

    pub fn from_parts(record_id: RecordId, record_type: RecordType) -> Self {
        Self {
            record_id,
            record_type,
        }
    }

    /// The ratings of movie `id`.
    pub fn movie(id: MovieId) -> Self {
        Self::from_parts(id.into(), RecordType::movie())
    }

    pub fn record_id(&self) -> &str {
        self.record_id.as_str()
    }

    pub fn record_type(&self) -> &str {
        self.record_type.as_str()
    }
}

impl fmt::Display for RecordKey {
    /// `movie "1"`: reads naturally in messages such as `ratings not found for movie "1"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.record_type, self.record_id.as_str())
    }
}

/// A rating from 1 to 5; only [`validate::rating_value`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RatingValue(u8);

impl utoipa::PartialSchema for RatingValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        validate::rating_schema()
    }
}

impl utoipa::ToSchema for RatingValue {}

impl RatingValue {
    pub fn new(value: i64) -> Result<Self, ValidationError> {
        validate::rating_value(value).map(Self)
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

impl std::str::FromStr for RatingValue {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        validate::rating_value_text(s).map(Self)
    }
}

impl fmt::Display for RatingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One user's rating of one record. A user has at most one rating per record: a new one
/// replaces the old (docs/design.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserRating {
    #[serde(flatten)]
    key: RecordKey,
    user_id: UserId,
    value: RatingValue,
}

impl UserRating {
    pub fn new(key: RecordKey, user_id: UserId, value: RatingValue) -> Self {
        Self {
            key,
            user_id,
            value,
        }
    }

    pub fn key(&self) -> &RecordKey {
        &self.key
    }

    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    pub fn value(&self) -> RatingValue {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_ratings_validate() {
        let key = RecordKey::new("1", "movie").unwrap();
        assert_eq!(key.to_string(), r#"movie "1""#);
        assert!(RecordKey::new("", "movie").is_err());
        assert!(RecordKey::new("1", "").is_err());
        assert_eq!(RecordKey::movie(MovieId::new("1").unwrap()), key);
        let value: RatingValue = "5".parse().unwrap();
        let rating = UserRating::new(key, UserId::new("alex").unwrap(), value);
        assert_eq!(
            serde_json::to_string(&rating).unwrap(),
            r#"{"recordId":"1","recordType":"movie","userId":"alex","value":5}"#
        );
        assert!("0".parse::<RatingValue>().is_err());
        assert!("6".parse::<RatingValue>().is_err());
    }
}
