use super::{RecordKey, UserId, UserRating};

/// A validated change to apply to the ratings (from the rating feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingChange {
    Put(UserRating),
    Delete { key: RecordKey, user_id: UserId },
}
