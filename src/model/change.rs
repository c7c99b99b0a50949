use super::{RecordKey, UserId, UserRating};

/// A validated change to apply to the ratings (from the rating feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingChange {
    Put(UserRating),
    Delete { key: RecordKey, user_id: UserId },
}

impl RatingChange {
    /// The record and the user it changes.
    pub fn target(&self) -> (&RecordKey, &UserId) {
        match self {
            Self::Put(rating) => (rating.key(), rating.user_id()),
            Self::Delete { key, user_id } => (key, user_id),
        }
    }

    /// The user's rating after the change: `None` when it deletes it.
    pub fn value(&self) -> Option<i64> {
        match self {
            Self::Put(rating) => Some(i64::from(rating.value().get())),
            Self::Delete { .. } => None,
        }
    }
}
