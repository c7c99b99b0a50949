//! The metadata service's endpoint table: every gRPC method and HTTP route it serves, with its policy
//! ([`crate::server::table`]). A method or route without an entry here is refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind,
};

pub const TABLE: Table = Table {
    service: ServiceKind::Metadata,
    file: "src/server/metadata/endpoints.rs",
    grpc: &[
        grpc("GetMetadata", Policy::READ.in_process()),
        grpc("PutMetadata", Policy::WRITE),
    ],
    http: &[GET_METADATA],
};

const fn grpc(method: &'static str, policy: Policy) -> Grpc {
    Grpc {
        service: ServiceKind::Metadata.grpc_name(),
        method,
        policy,
    }
}

/// `GET /metadata?id=`.
pub const GET_METADATA: Http = Http {
    method: "GET",
    path: "/metadata",
    policy: Policy::READ,
};
