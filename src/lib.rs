//! movieapp: the movie-rating system from *Microservices with Go*, in one binary.
//!
//! `server` holds the four services (metadata, rating, movie, auth), each as handler ->
//! controller -> repository/gateway; `auth` users, keys and tokens; `discovery` how they find each other; `model` the
//! domain types and the one set of validation rules; `commands` the command line.

pub mod auth;
pub mod broker;
pub mod calls;
pub mod client;
pub mod codes;
pub mod commands;
pub mod config;
pub mod database;
pub mod discovery;
pub mod feed;
pub mod files;
pub mod loadgen;
pub mod lock;
pub mod model;
pub mod profiling;
pub mod serialization;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod tls;
pub mod uploads;

/// A boxed, sendable future: what object-safe async traits (registry, broker) return.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Types generated from `proto/movie.proto` and `proto/auth.proto` (no package, as in the
/// book).
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("_");

    /// The descriptor set of `proto/movie.proto`, for server reflection and request
    /// encoding.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("movie_descriptor");
}
