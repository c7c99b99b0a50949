use serde::{Deserialize, Serialize};

use super::validate::{self, MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES, ValidationError};

/// A movie's metadata. JSON field names are the book's; unknown fields are rejected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub id: String,
    pub title: String,
    pub description: String,
    pub director: String,
}

impl Metadata {
    /// Checks every field against the shared rules.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::id("movie id", &self.id)?;
        validate::text("title", &self.title, MAX_TITLE_BYTES)?;
        validate::text("description", &self.description, MAX_DESCRIPTION_BYTES)?;
        validate::text("director", &self.director, MAX_TITLE_BYTES)?;
        Ok(())
    }
}

/// A movie's metadata with its aggregated rating, if it has any ratings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    pub metadata: Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie() -> Metadata {
        Metadata {
            id: "the-movie".into(),
            title: "The Movie".into(),
            description: "The Movie, the one and only".into(),
            director: "Mr. D".into(),
        }
    }

    #[test]
    fn json_shapes_are_the_books() {
        let json = serde_json::to_string(&movie()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"the-movie","title":"The Movie","description":"The Movie, the one and only","director":"Mr. D"}"#
        );
        let unrated = MovieDetails {
            rating: None,
            metadata: movie(),
        };
        let json = serde_json::to_value(&unrated).unwrap();
        assert!(json.get("rating").is_none(), "{json}");
        let rated = MovieDetails {
            rating: Some(4.5),
            ..unrated
        };
        assert_eq!(serde_json::to_value(&rated).unwrap()["rating"], 4.5);
    }

    #[test]
    fn validation_covers_every_field() {
        assert!(movie().validate().is_ok());
        let mut m = movie();
        m.id.clear();
        assert!(m.validate().is_err());
        let mut m = movie();
        m.title = "t".repeat(256);
        assert!(m.validate().is_err());
        let mut m = movie();
        m.director = "d".repeat(256);
        assert!(m.validate().is_err());
        let mut m = movie();
        m.description = "d".repeat(64 * 1024 + 1);
        assert!(m.validate().is_err());
    }
}
