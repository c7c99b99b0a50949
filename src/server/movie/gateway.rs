//! Gateways from the movie service to metadata and rating, through discovery: over gRPC,
//! or, when the instance picked runs in this process, by calling its controller directly
//! (the in-process fast path), with the callee's metrics, span, auth and faults as if the
//! call had come over the network ([`InProcess`]).

use std::sync::Arc;

use tokio_util::either::Either;

use crate::{
    auth::access::Gate,
    calls::{
        deadline::bound,
        fallback::{STALE_HEADER, Served, read_stale_header},
        retry::{CallError, instance_failed},
    },
    discovery::{
        DiscoveryError,
        balancer::{Balancer, Via},
    },
    model::{Metadata, MovieId, RecordKey},
    pb::{
        self, metadata_service_client::MetadataServiceClient,
        rating_service_client::RatingServiceClient,
    },
    server::{
        endpoint::Endpoint,
        error::ServiceError,
        metadata,
        movie::controller::{MetadataGateway, RatingGateway},
        rating,
    },
};

/// A service running in this process, for the in-process fast path: its controller, the
/// endpoint the call would have reached over the network, and the process's auth gate.
pub struct InProcess<C> {
    pub controller: Arc<C>,
    pub endpoint: Arc<Endpoint>,
    pub gate: Option<Arc<Gate>>,
}

impl<C> Clone for InProcess<C> {
    fn clone(&self) -> Self {
        Self {
            controller: Arc::clone(&self.controller),
            endpoint: Arc::clone(&self.endpoint),
            gate: self.gate.clone(),
        }
    }
}

pub type LocalMetadata = InProcess<metadata::controller::Controller<metadata::repository::Store>>;
pub type LocalRating = InProcess<rating::controller::Controller<rating::repository::Store>>;

impl From<DiscoveryError> for ServiceError {
    fn from(e: DiscoveryError) -> Self {
        match e {
            DiscoveryError::NoHealthyInstance { .. } => Self::Unavailable(e.to_string()),
            DiscoveryError::Registry(_) | DiscoveryError::AllEjected { .. } => {
                Self::Unavailable(e.to_string())
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// Reads a failed downstream call back into a service error, keeping the downstream
/// message; `what` names the call for messages about transport failures. The one place a
/// status from another service becomes ours.
fn downstream(e: CallError, what: &str) -> ServiceError {
    use tonic::Code;
    let (addr, status) = match e {
        CallError::Discovery(e) => return e.into(),
        CallError::Status { addr, status } => (addr, status),
    };
    let what = format!("{what} at {addr}");
    let message = status.message().to_owned();
    if instance_failed(&status) {
        return ServiceError::Unavailable(format!("{what}: {message}"));
    }
    match status.code() {
        Code::NotFound => ServiceError::NotFound(message),
        // The caller's token, forwarded, refused there: the caller's to fix.
        Code::Unauthenticated => ServiceError::Unauthenticated(format!("{what}: {message}")),
        Code::PermissionDenied => ServiceError::PermissionDenied(format!("{what}: {message}")),
        Code::DeadlineExceeded => ServiceError::DeadlineExceeded(format!("{what}: {message}")),
        _ => ServiceError::Internal(format!("{what}: {status}").into()),
    }
}

/// A request carrying the current trace context, so the callee continues the trace, the
/// attempt's deadline as `grpc-timeout`, and the caller's token: metadata and rating are
/// in the movie service's auth domain.
fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    crate::telemetry::propagation::inject(&mut request);
    bound(&mut request);
    if let Some(token) = crate::auth::access::forwarded()
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Calls a service on a discovered instance, or in process through `L` when the instance
/// picked runs here.
pub struct Client<L> {
    balancer: Balancer,
    local: Option<L>,
}

impl<L> Client<L> {
    /// `local`: the service in this process, if it runs here (the balancer then knows its
    /// address, [`Balancer::with_colocated`]).
    pub fn new(balancer: Balancer, local: Option<L>) -> Self {
        Self { balancer, local }
    }
}

/// Calls `MetadataService`.
pub type MetadataClient = Client<LocalMetadata>;
/// Calls `RatingService`.
pub type RatingClient = Client<LocalRating>;

impl MetadataGateway for MetadataClient {
    #[tracing::instrument(
        name = "GetMetadata",
        level = "debug",
        skip_all,
        fields(
            component = "gateway",
            otel.name = "MetadataService/GetMetadata",
            otel.kind = "client",
            rpc.system = "grpc",
            peer.service = "metadata",
        )
    )]
    async fn get(&self, id: &MovieId) -> Result<Metadata, ServiceError> {
        self.balancer
            .call_via(|via, _| match (via, &self.local) {
                (Via::Local, Some(local)) => Either::Left(
                    local
                        .endpoint
                        .serve_local(local.gate.as_deref(), local.controller.get(id)),
                ),
                // Boxed: the network call's future is several times the size of the
                // local one, and every call would carry (and move) its space.
                (via, _) => Either::Right(Box::pin(get_metadata(via, id))),
            })
            .await
            .map_err(|e| downstream(e, "metadata GetMetadata"))
    }
}

/// The connection of an attempt that goes over the network.
fn network(via: Via) -> Result<tonic::transport::Channel, tonic::Status> {
    match via {
        Via::Network(channel) => Ok(channel),
        // The balancer offers the local route only to a gateway that has one.
        Via::Local => Err(tonic::Status::internal("no in-process route")),
    }
}

/// One attempt at `GetMetadata` over the network. The request is made here, inside the
/// attempt, so that it carries the attempt's own deadline ([`traced`]).
async fn get_metadata(via: Via, id: &MovieId) -> Result<Metadata, tonic::Status> {
    let request = traced(pb::GetMetadataRequest {
        movie_id: id.to_string(),
    });
    let response = MetadataServiceClient::new(network(via)?)
        .get_metadata(request)
        .await?;
    let wire = response
        .into_inner()
        .metadata
        .ok_or_else(|| tonic::Status::internal("answered without metadata"))?;
    // A downstream answer that breaks our rules is a fault over there, not bad input here.
    Metadata::try_from(wire).map_err(|e| tonic::Status::internal(e.to_string()))
}

/// One attempt at `GetAggregatedRating` over the network, as [`get_metadata`].
async fn get_aggregated_rating(via: Via, key: &RecordKey) -> Result<Served<f64>, tonic::Status> {
    let request = traced(pb::GetAggregatedRatingRequest {
        record_id: key.record_id().to_owned(),
        record_type: key.record_type().to_owned(),
    });
    let response = RatingServiceClient::new(network(via)?)
        .get_aggregated_rating(request)
        .await?;
    let stale = read_stale_header(
        response
            .metadata()
            .get(STALE_HEADER)
            .and_then(|v| v.to_str().ok()),
    );
    Ok(Served {
        value: response.into_inner().rating_value,
        stale,
    })
}

impl RatingGateway for RatingClient {
    #[tracing::instrument(
        name = "GetAggregatedRating",
        level = "debug",
        skip_all,
        fields(
            component = "gateway",
            otel.name = "RatingService/GetAggregatedRating",
            otel.kind = "client",
            rpc.system = "grpc",
            peer.service = "rating",
        )
    )]
    async fn aggregated_rating(&self, key: &RecordKey) -> Result<Served<f64>, ServiceError> {
        self.balancer
            .call_via(|via, _| match (via, &self.local) {
                (Via::Local, Some(local)) => Either::Left(async move {
                    let served = local
                        .endpoint
                        .serve_local(
                            local.gate.as_deref(),
                            local.controller.aggregated_rating(key),
                        )
                        .await?;
                    Ok(Served {
                        value: served.value.mean,
                        stale: served.stale,
                    })
                }),
                (via, _) => Either::Right(Box::pin(get_aggregated_rating(via, key))),
            })
            .await
            .map_err(|e| downstream(e, "rating GetAggregatedRating"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: tonic::Status) -> CallError {
        CallError::Status {
            addr: "127.0.0.1:1".into(),
            status,
        }
    }

    #[test]
    fn downstream_statuses_are_read_back() {
        let e = downstream(
            status(tonic::Status::not_found("movie \"1\" not found")),
            "GetMetadata",
        );
        assert!(matches!(e, ServiceError::NotFound(m) if m == "movie \"1\" not found"));
        let e = downstream(status(tonic::Status::unavailable("refused")), "GetMetadata");
        assert!(
            matches!(&e, ServiceError::Unavailable(m) if m == "GetMetadata at 127.0.0.1:1: refused"),
            "{e}"
        );
        let e = downstream(status(tonic::Status::internal("boom")), "GetMetadata");
        assert!(matches!(e, ServiceError::Internal(_)));
    }
}
