//! The metadata service: stores and returns movies' metadata.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;
pub mod repository;

use std::sync::Arc;

use super::{grpc::GrpcServices, health::Readiness, parts::Parts};
use crate::pb::metadata_service_server::MetadataServiceServer;

/// The metadata service's controller over its store, which the movie service of the same
/// process calls directly.
pub type Local = Arc<controller::Controller<repository::Store>>;

/// The metadata service over `store`: its parts, and its controller for in-process calls.
pub fn build(store: repository::Store, readiness: Readiness) -> (Parts, Local) {
    let readiness = readiness.database(store.clone());
    let controller = Arc::new(controller::Controller::new(store));
    let api = http::api(Arc::clone(&controller));
    let handler = super::grpc::Handler::new(Arc::clone(&controller));
    let grpc = GrpcServices::default().with(MetadataServiceServer::new(handler));
    (Parts::new(grpc, api, readiness), controller)
}
