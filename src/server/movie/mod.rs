//! The movie service: a movie's metadata together with its aggregated rating, fetched from
//! the metadata and rating services through discovery.

pub mod controller;
pub mod endpoints;
pub mod gateway;
pub mod handler;
pub mod http;
