//! The auth service (book chapter 10, made secure): tokens for users whose password is
//! right, the users a token names, and the public keys to check tokens with.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;
