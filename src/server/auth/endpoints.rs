//! The auth service's endpoint table: every gRPC method and HTTP route it serves, with its policy
//! ([`crate::server::table`]). A method or route without an entry here is refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind,
};

pub const TABLE: Table = Table {
    service: ServiceKind::Auth,
    file: "src/server/auth/endpoints.rs",
    grpc: &[
        grpc("GetToken", Policy::OPEN),
        grpc("ValidateToken", Policy::OPEN),
    ],
    http: &[POST_TOKEN, JWKS],
};

const fn grpc(method: &'static str, policy: Policy) -> Grpc {
    Grpc {
        service: ServiceKind::Auth.grpc_name(),
        method,
        policy,
    }
}

/// `POST /token`: a token for a name and password; anyone may ask.
pub const POST_TOKEN: Http = Http {
    method: "POST",
    path: "/token",
    policy: Policy::OPEN,
};

/// `GET /.well-known/jwks.json`: the public keys tokens are checked with.
pub const JWKS: Http = Http {
    method: "GET",
    path: "/.well-known/jwks.json",
    policy: Policy::OPEN,
};
