//! The rating service's endpoint table: every gRPC method and HTTP route it serves, with its policy
//! ([`crate::server::table`]). A method or route without an entry here is refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind,
};

pub const TABLE: Table = Table {
    service: ServiceKind::Rating,
    file: "src/server/rating/endpoints.rs",
    grpc: &[
        grpc("GetAggregatedRating", Policy::READ.in_process()),
        grpc("PutRating", Policy::WRITE),
    ],
    http: &[GET_RATING, PUT_RATING],
};

const fn grpc(method: &'static str, policy: Policy) -> Grpc {
    Grpc {
        service: ServiceKind::Rating.grpc_name(),
        method,
        policy,
    }
}

/// `GET /rating?id=&type=`.
pub const GET_RATING: Http = Http {
    method: "GET",
    path: "/rating",
    policy: Policy::READ,
};

/// `PUT /rating?id=&type=&userId=&value=`.
pub const PUT_RATING: Http = Http {
    method: "PUT",
    path: "/rating",
    policy: Policy::WRITE,
};
