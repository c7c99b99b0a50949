//! The metadata service's endpoint table: every gRPC method and HTTP route it serves, with
//! its policy ([`crate::server::table`]). A method or route without an entry here is
//! refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind::Metadata,
};

pub const TABLE: Table = Table {
    service: Metadata,
    file: file!(),
    grpc: &[
        Grpc::of(Metadata, "GetMetadata", Policy::READ.in_process()),
        Grpc::of(Metadata, "PutMetadata", Policy::WRITE),
        Grpc::of(Metadata, "ListMetadata", Policy::READ),
    ],
    http: &[GET_METADATA, LIST_METADATA],
};

/// `GET /metadata?id=`.
pub const GET_METADATA: Http = Http::get("/metadata", Policy::READ);

/// `GET /metadata/list?pageSize=&pageToken=&titlePrefix=`.
pub const LIST_METADATA: Http = Http::get("/metadata/list", Policy::READ);
