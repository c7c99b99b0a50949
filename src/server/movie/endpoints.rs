//! The movie service's endpoint table: every gRPC method and HTTP route it serves, with
//! its policy ([`crate::server::table`]). A method or route without an entry here is
//! refused.

use crate::{
    server::table::{Grpc, Http, Policy, Table},
    service::ServiceKind::Movie,
};

pub const TABLE: Table = Table {
    service: Movie,
    file: file!(),
    grpc: &[
        Grpc::of(Movie, "GetMovieDetails", Policy::READ),
        Grpc::of(Movie, "UploadFile", Policy::WRITE.long_running()),
        Grpc::of(Movie, "ListFiles", Policy::READ),
    ],
    http: &[GET_MOVIE, UPLOAD, LIST_FILES],
};

/// `GET /movie?id=`.
pub const GET_MOVIE: Http = Http::get("/movie", Policy::READ);
/// `PUT /movie/upload?id=&filename=`: the body is the file.
pub const UPLOAD: Http = Http::put("/movie/upload", Policy::WRITE.long_running());
/// `GET /movie/files?id=`.
pub const LIST_FILES: Http = Http::get("/movie/files", Policy::READ);
