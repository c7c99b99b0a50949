//! movieapp: the movie-rating system from *Microservices with Go*, in one binary.
//!
//! Modules, top layer first (imports run down this list, never up; docs/design.md §8):
//! - [`commands`]: the command line, one file per subcommand.
//! - [`client`]: calling a service from the command line; [`loadgen`]: `bench-load`.
//! - [`server`]: the four services (metadata, rating, movie, auth), their endpoint tables, and `serve`.
//! - [`config`]: the configuration tree (YAML, environment, flags).
//! - [`uploads`]: movie files and their processor; [`lock`]: the distributed lock;
//!   [`top`]: the figures `movieapp top` shows.
//! - [`feed`]: the rating feed (events, producer, ingester); [`auth`]: users, keys, tokens, access.
//! - [`calls`]: outgoing-call policy (retries, budget, deadlines, fallbacks, faults).
//! - [`discovery`]: registries, heartbeats, picking instances; [`broker`]: the feed's log.
//! - [`database`]: SQLite and MySQL stores; [`model`]: validated domain types.
//! - [`service`]: who the services are and how they serve; [`tls`]: TLS settings and files.
//! - [`serialization`]: the chapter-4 codecs; [`telemetry`]: logs and traces.
//! - [`codes`]: gRPC codes by name and as HTTP statuses; [`files`]: files written whole and watched; [`profiling`]: CPU profiles.
//! - [`pb`]: the types generated from the protos.

pub mod auth;
pub mod broker;
pub mod calls;
pub mod client;
pub mod codes;
pub mod commands;
pub mod config;
pub mod dashboard;
pub mod database;
pub mod discovery;
pub mod events;
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
pub mod top;
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
