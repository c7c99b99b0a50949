use serde::Serialize;

use super::{
    MovieId,
    validate::{self, Lines, MAX_DESCRIPTION_BYTES, MAX_TITLE_BYTES, ValidationError},
};

/// A movie's metadata, valid by construction. JSON field names are the book's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Metadata {
    pub(super) id: MovieId,
    pub(super) title: String,
    pub(super) description: String,
    pub(super) director: String,
}

impl Metadata {
    /// Checks the free-text fields against the shared rules.
    pub fn new(
        id: MovieId,
        title: impl Into<String>,
        description: impl Into<String>,
        director: impl Into<String>,
    ) -> Result<Self, ValidationError> {
        let (title, description, director) = (title.into(), description.into(), director.into());
        validate::text("title", &title, MAX_TITLE_BYTES, Lines::One)?;
        validate::text(
            "description",
            &description,
            MAX_DESCRIPTION_BYTES,
            Lines::Many,
        )?;
        validate::text("director", &director, MAX_TITLE_BYTES, Lines::One)?;
        Ok(Self {
            id,
            title,
            description,
            director,
        })
    }

    pub fn id(&self) -> &MovieId {
        &self.id
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn director(&self) -> &str {
        &self.director
    }
}

/// A movie's metadata with its aggregated rating, if it has any ratings.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MovieDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<f64>,
    pub metadata: Metadata,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn movie() -> Metadata {
        Metadata::new(
            MovieId::new("the-movie").unwrap(),
            "The Movie",
            "The Movie, the one and only",
            "Mr. D",
        )
        .unwrap()
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
        let id = || MovieId::new("1").unwrap();
        assert!(Metadata::new(id(), "t".repeat(256), "", "").is_err());
        assert!(Metadata::new(id(), "", "", "d".repeat(256)).is_err());
        assert!(Metadata::new(id(), "", "d".repeat(64 * 1024 + 1), "").is_err());
        assert!(Metadata::new(id(), "t".repeat(255), "d".repeat(64 * 1024), "").is_ok());
    }
}
