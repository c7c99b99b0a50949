//! The auth service's endpoint table: every gRPC method and HTTP route it serves, with
//! its policy ([`crate::server::table`]). A method or route without an entry here is
//! refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind::Auth,
};

pub const TABLE: Table = Table {
    service: Auth,
    file: file!(),
    grpc: &[
        Grpc::of(Auth, "GetToken", Policy::OPEN),
        Grpc::of(Auth, "ValidateToken", Policy::OPEN),
    ],
    http: &[POST_TOKEN, JWKS],
};

/// `POST /token`: a token for a name and password; anyone may ask.
pub const POST_TOKEN: Http = Http::post("/token", Policy::OPEN);
/// `GET /.well-known/jwks.json`: the public keys tokens are checked with.
pub const JWKS: Http = Http::get("/.well-known/jwks.json", Policy::OPEN);
