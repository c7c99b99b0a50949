//! The rating service: one rating per user per record, aggregated as the mean over users.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;
pub mod repository;
