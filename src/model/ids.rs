//! Identifiers as types: each is built only through the shared rule ([`validate::id`]), so
//! a value of one of these types is valid wherever it goes, and controllers take them
//! instead of strings.

use std::{fmt, str::FromStr};

use serde::Serialize;

use super::validate::{self, ValidationError};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` with the shared rules for identifiers.
            pub fn new(value: impl Into<String>) -> Result<Self, ValidationError> {
                validate::id($field, value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                validate::id_schema($field)
            }
        }

        impl utoipa::ToSchema for $name {}

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// A movie's id.
    MovieId,
    "movie id"
);
id_type!(
    /// The id of a rated record (for movies, the movie id).
    RecordId,
    "record id"
);
id_type!(
    /// What kind of record is rated; `movie` today, others are allowed.
    RecordType,
    "record type"
);
id_type!(
    /// Who rates.
    UserId,
    "user id"
);

impl RecordType {
    /// The record type movies are rated under.
    pub fn movie() -> Self {
        Self(super::MOVIE_RECORD_TYPE.to_owned())
    }
}

impl From<MovieId> for RecordId {
    /// A movie's ratings are filed under its id.
    fn from(id: MovieId) -> Self {
        Self(id.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_built_only_through_the_rule() {
        assert_eq!(MovieId::new("1").unwrap().as_str(), "1");
        let err = MovieId::new("").unwrap_err();
        assert_eq!(err.to_string(), r#"invalid movie id "": must not be empty"#);
        assert!("a\nb".parse::<UserId>().is_err());
        assert!(RecordType::new("x".repeat(256)).is_err());
        assert_eq!(RecordType::movie().as_str(), "movie");
        assert_eq!(
            serde_json::to_string(&UserId::new("alex").unwrap()).unwrap(),
            r#""alex""#
        );
    }
}
