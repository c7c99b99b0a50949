//! The three services and how `serve` runs them.

pub mod error;
pub mod grpc;
pub mod health;
pub mod http;
pub mod metadata;
pub mod metrics;
pub mod movie;
pub mod rating;
pub mod serve;

use std::fmt;

pub use error::ServiceError;

/// One of the three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum ServiceKind {
    Metadata,
    Rating,
    Movie,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 3] = [Self::Metadata, Self::Rating, Self::Movie];

    /// The name it registers under (SPEC section 3).
    pub fn name(self) -> &'static str {
        match self {
            Self::Metadata => metadata::SERVICE_NAME,
            Self::Rating => rating::SERVICE_NAME,
            Self::Movie => movie::SERVICE_NAME,
        }
    }

    /// The book's port.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Metadata => 8081,
            Self::Rating => 8082,
            Self::Movie => 8083,
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
