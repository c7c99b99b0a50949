//! The rating service's endpoint table: every gRPC method and HTTP route it serves, with
//! its policy ([`crate::server::table`]). A method or route without an entry here is
//! refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind::Rating,
};

pub const TABLE: Table = Table {
    service: Rating,
    file: file!(),
    grpc: &[
        Grpc::of(Rating, "GetAggregatedRating", Policy::READ.in_process()),
        Grpc::of(Rating, "PutRating", Policy::WRITE),
        Grpc::of(Rating, "ListRatings", Policy::READ),
    ],
    http: &[GET_RATING, PUT_RATING, LIST_RATINGS],
};

/// `GET /rating?id=&type=`.
pub const GET_RATING: Http = Http::get("/rating", Policy::READ);
/// `PUT /rating?id=&type=&userId=&value=`.
pub const PUT_RATING: Http = Http::put("/rating", Policy::WRITE);
/// `GET /rating/list?id=&type=&pageSize=&pageToken=`.
pub const LIST_RATINGS: Http = Http::get("/rating/list", Policy::READ);
