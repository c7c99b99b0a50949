//! Wire <-> domain mapping, in one place. Conversions from the wire validate.

use super::{Metadata, MovieDetails, MovieId, ValidationError};
use crate::pb;

impl TryFrom<pb::Metadata> for Metadata {
    type Error = ValidationError;

    fn try_from(m: pb::Metadata) -> Result<Self, Self::Error> {
        Self::new(MovieId::new(m.id)?, m.title, m.description, m.director)
    }
}

impl From<Metadata> for pb::Metadata {
    fn from(m: Metadata) -> Self {
        Self {
            id: m.id.into_string(),
            title: m.title,
            description: m.description,
            director: m.director,
        }
    }
}

impl From<MovieDetails> for pb::MovieDetails {
    /// An absent rating is 0 on the wire, as in the book.
    fn from(d: MovieDetails) -> Self {
        Self {
            rating: d.rating.unwrap_or(0.0),
            metadata: Some(d.metadata.into()),
        }
    }
}

impl MovieDetails {
    /// Reads details off the wire. A rating of 0 cannot be a mean of 1..=5 values, so it
    /// means "no ratings".
    pub fn from_wire(d: pb::MovieDetails) -> Result<Self, ValidationError> {
        let metadata = d
            .metadata
            .ok_or_else(|| ValidationError::new("movie details", "", "must carry metadata"))?;
        Ok(Self {
            rating: (d.rating != 0.0).then_some(d.rating),
            metadata: metadata.try_into()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_rating_round_trips_as_zero() {
        let details = MovieDetails {
            rating: None,
            metadata: Metadata::new(MovieId::new("1").unwrap(), "t", "", "").unwrap(),
        };
        let wire: pb::MovieDetails = details.clone().into();
        assert_eq!(wire.rating, 0.0);
        assert_eq!(MovieDetails::from_wire(wire).unwrap(), details);
    }

    #[test]
    fn invalid_wire_metadata_is_rejected() {
        let wire = pb::Metadata {
            id: String::new(),
            ..Default::default()
        };
        assert!(Metadata::try_from(wire).is_err());
    }
}
