//! The web dashboard (issue 31) and what it shows: the trace store.

pub mod store;
