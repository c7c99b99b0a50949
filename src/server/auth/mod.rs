//! The auth service (book chapter 10): tokens for users whose password is
//! right, the users a token names, and the public keys to check tokens with.

pub mod controller;
pub mod endpoints;
pub mod handler;
pub mod http;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{grpc::GrpcServices, health::Readiness, parts::Parts};
use crate::{
    auth::{keyring::Keyring, users::UserStore},
    database::Store,
    pb::auth_service_server::AuthServiceServer,
    service::ServiceKind,
    telemetry,
};

/// The auth service over its users and signing keys: its parts, with the key watcher
/// running until `stop`.
pub fn build(
    users: UserStore,
    keyring: Arc<Keyring>,
    readiness: Readiness,
    stop: &CancellationToken,
) -> Parts {
    let readiness = readiness.database(Store::Sqlite(users.database()));
    let watch = Arc::clone(&keyring).watch(stop.clone());
    let controller = Arc::new(controller::Controller::new(users, keyring));
    let api = http::api(Arc::clone(&controller));
    let grpc = GrpcServices::default().with(AuthServiceServer::new(super::grpc::Handler::new(
        controller,
    )));
    let mut parts = Parts::new(grpc, api, readiness);
    parts.spawn(telemetry::context(ServiceKind::Auth.name(), "keys"), watch);
    parts
}
