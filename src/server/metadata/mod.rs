//! The metadata service: stores and returns movies' metadata.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;
pub mod repository;
