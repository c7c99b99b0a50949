//! The movie service's endpoint table: every gRPC method and HTTP route it serves, with its policy
//! ([`crate::server::table`]). A method or route without an entry here is refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind,
};

pub const TABLE: Table = Table {
    service: ServiceKind::Movie,
    file: "src/server/movie/endpoints.rs",
    grpc: &[
        grpc("GetMovieDetails", Policy::READ),
        grpc("UploadFile", Policy::WRITE.long_running()),
        grpc("ListFiles", Policy::READ),
    ],
    http: &[GET_MOVIE, UPLOAD, LIST_FILES],
};

const fn grpc(method: &'static str, policy: Policy) -> Grpc {
    Grpc {
        service: ServiceKind::Movie.grpc_name(),
        method,
        policy,
    }
}

/// `GET /movie?id=`.
pub const GET_MOVIE: Http = Http {
    method: "GET",
    path: "/movie",
    policy: Policy::READ,
};

/// `PUT /movie/upload?id=&filename=`: the body is the file.
pub const UPLOAD: Http = Http {
    method: "PUT",
    path: "/movie/upload",
    policy: Policy::WRITE.long_running(),
};

/// `GET /movie/files?id=`.
pub const LIST_FILES: Http = Http {
    method: "GET",
    path: "/movie/files",
    policy: Policy::READ,
};
