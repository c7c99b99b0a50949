//! TLS (book chapter 10): for now, the development certificate authority that `movieapp
//! certs init` writes ([`dev_certs`]).

pub mod dev_certs;
