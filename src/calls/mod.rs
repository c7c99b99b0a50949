//! The policy of an outgoing call (book chapter 11): how long it may take ([`deadline`]),
//! how it is retried and throttled ([`retry`]), all configured by the `calls` section
//! ([`settings`]); what answers when the callee cannot ([`fallback`]); and the faults that
//! drills inject ([`faults`]). Where a call goes (registries, picking an instance,
//! connections, ejections) is [`crate::discovery`]'s; what a server takes on is the
//! server's own (admission).

pub mod deadline;
pub mod fallback;
pub mod faults;
pub mod retry;
pub mod settings;

pub use settings::CallSettings;
