//! The metadata service: stores and returns movies' metadata.

pub mod controller;
pub mod handler;
pub mod http;
pub mod repository;

/// The name the service registers under and that callers discover.
pub const SERVICE_NAME: &str = "metadata";
