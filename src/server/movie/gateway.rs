//! Gateways from the movie service to metadata and rating, through discovery: over gRPC,
//! or, when the instance picked runs in this process, by calling its controller directly
//! (the in-process fast path), with the callee's metrics, span, auth and faults as if the
//! call had come over the network ([`InProcess`]).
//!
//! Identical calls over the network at the same time (the same request, on behalf of the
//! same token) share one: a popular movie asked for by many callers at once costs the
//! callee one call, not one each ([`Client`]).

use std::{future::Future, sync::Arc};

use tokio_util::either::Either;

use crate::{
    auth::access::{self, Gate},
    calls::{
        deadline::{self, bound},
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
        cache::SingleFlight,
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

/// Reads a failed downstream call back into a service error, keeping the downstream
/// message; `what` names the call for messages about transport failures. The one place a
/// status from another service becomes ours.
fn downstream(e: Arc<CallError>, what: &str) -> ServiceError {
    use tonic::Code;
    let (addr, status) = match &*e {
        CallError::Discovery(
            d @ (DiscoveryError::NoHealthyInstance { .. }
            | DiscoveryError::Registry(_)
            | DiscoveryError::AllEjected { .. }),
        ) => return ServiceError::Unavailable(d.to_string()),
        CallError::Discovery(_) => return ServiceError::Internal(Box::new(e)),
        CallError::Status { addr, status } => (addr, status),
    };
    let what = format!("{what} at {addr}");
    let message = status.message().to_owned();
    if instance_failed(status) {
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
/// picked runs here. Over the network, identical calls under way at the same time share
/// one (keyed by `K`, the request, and the forwarded token, so no caller gets an answer
/// made with another's rights). The shared call runs in its own task with the deadline of
/// the caller that started it: a caller that stops waiting does not cancel it for the
/// others, and one whose deadline is later than that does not inherit its timeout (it
/// calls again by itself). In process, each call goes straight to the controller, whose
/// cache already shares reads.
pub struct Client<L, K, T> {
    route: Arc<Route<L>>,
    flights: SingleFlight<(K, Option<Arc<str>>), Shared<T>>,
}

/// Where a gateway's calls go: the balanced instances, and the service in this process.
pub struct Route<L> {
    balancer: Balancer,
    local: Option<L>,
}

/// What a shared call gives every caller that waited for it, with the deadline it ran with.
type Shared<T> = (Result<T, Arc<CallError>>, Option<tokio::time::Instant>);

impl<L, K, T> Client<L, K, T>
where
    L: Send + Sync + 'static,
    K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// `local`: the service in this process, if it runs here (the balancer then knows its
    /// address, [`Balancer::with_colocated`]).
    pub fn new(balancer: Balancer, local: Option<L>) -> Self {
        Self {
            route: Arc::new(Route { balancer, local }),
            flights: SingleFlight::default(),
        }
    }

    /// Runs `call` for `key`, sharing it with identical calls under way when it would go
    /// over the network.
    async fn call<F, Fut>(&self, key: K, call: F) -> Result<T, Arc<CallError>>
    where
        F: Fn(Arc<Route<L>>, K) -> Fut,
        Fut: Future<Output = Result<T, CallError>> + Send + 'static,
    {
        if self.route.local.is_some() && self.route.balancer.prefers_colocated() {
            return call(Arc::clone(&self.route), key).await.map_err(Arc::new);
        }
        let deadline = deadline::current();
        let flight = (key.clone(), access::forwarded());
        // Made only when no identical call is under way: a joiner builds no call of its own.
        let start = || {
            let (caller, work) = (
                access::current_caller(),
                call(Arc::clone(&self.route), key.clone()),
            );
            async move {
                let done = deadline::within_if(deadline, access::as_caller(caller, work)).await;
                (done.map_err(Arc::new), deadline)
            }
        };
        let shared = self.flights.run(flight, start).await;
        match shared {
            Some((Err(e), ran_with)) if timed_out(&e) && deadline > ran_with => {
                // Timed out on a shorter deadline than this caller's: its own try.
                call(Arc::clone(&self.route), key).await.map_err(Arc::new)
            }
            Some((done, _)) => done,
            // Dropped unfinished (shutting down): this caller's own try.
            None => call(Arc::clone(&self.route), key).await.map_err(Arc::new),
        }
    }
}

/// A call that ran out of time (or was cancelled) rather than failed.
fn timed_out(e: &CallError) -> bool {
    matches!(e, CallError::Status { status, .. }
        if matches!(status.code(), tonic::Code::DeadlineExceeded | tonic::Code::Cancelled))
}

/// Calls `MetadataService`.
pub type MetadataClient = Client<LocalMetadata, MovieId, Metadata>;
/// Calls `RatingService`.
pub type RatingClient = Client<LocalRating, RecordKey, Served<f64>>;

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
        self.call(id.clone(), |route, id| async move {
            route
                .balancer
                .call_via(|via, _| match (via, &route.local) {
                    (Via::Local, Some(local)) => Either::Left(
                        local
                            .endpoint
                            .serve_local(local.gate.as_deref(), local.controller.get(&id)),
                    ),
                    // Boxed: the network call's future is several times the size of the
                    // local one, and every call would carry (and move) its space.
                    (via, _) => Either::Right(Box::pin(get_metadata(via, &id))),
                })
                .await
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
        self.call(key.clone(), |route, key| async move {
            route
                .balancer
                .call_via(|via, _| match (via, &route.local) {
                    (Via::Local, Some(local)) => Either::Left(async {
                        let served = local
                            .endpoint
                            .serve_local(
                                local.gate.as_deref(),
                                local.controller.aggregated_rating(&key),
                            )
                            .await?;
                        Ok(Served {
                            value: served.value.mean,
                            stale: served.stale,
                        })
                    }),
                    (via, _) => Either::Right(Box::pin(get_aggregated_rating(via, &key))),
                })
                .await
        })
        .await
        .map_err(|e| downstream(e, "rating GetAggregatedRating"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: tonic::Status) -> Arc<CallError> {
        Arc::new(CallError::Status {
            addr: "127.0.0.1:1".into(),
            status,
        })
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
