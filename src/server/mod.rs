//! The four services (metadata, rating, movie, auth) and how `serve` runs them.

pub mod admission;
pub mod auth;
pub mod cache;
pub mod conn;
pub mod endpoint;
pub mod error;
pub mod grpc;
pub mod health;
pub mod http;
pub mod logs;
pub mod metadata;
pub mod metrics;
pub mod movie;
pub mod openapi;
pub mod operational;
pub mod outbox;
pub mod parts;
pub mod port;
pub mod rating;
pub mod serve;
pub mod table;
pub mod traces;
pub mod workers;

pub use error::ServiceError;
