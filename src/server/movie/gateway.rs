//! gRPC gateways from the movie service to metadata and rating, through discovery.

use crate::{
    discovery::balancer::{Balancer, CallError, DiscoveryError, bound, instance_failed},
    fallback::{STALE_HEADER, Served, read_stale_header},
    model::{Metadata, MovieId, RecordKey},
    pb::{
        self, metadata_service_client::MetadataServiceClient,
        rating_service_client::RatingServiceClient,
    },
    server::{
        error::ServiceError,
        movie::controller::{MetadataGateway, RatingGateway},
    },
};

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

/// Calls `MetadataService` on a discovered instance.
pub struct MetadataClient {
    balancer: Balancer,
}

impl MetadataClient {
    pub fn new(balancer: Balancer) -> Self {
        Self { balancer }
    }
}

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
        let request = pb::GetMetadataRequest {
            movie_id: id.to_string(),
        };
        let response = self
            .balancer
            .call(|channel, _| {
                let request = traced(request.clone());
                async move {
                    MetadataServiceClient::new(channel)
                        .get_metadata(request)
                        .await
                }
            })
            .await
            .map_err(|e| downstream(e, "metadata GetMetadata"))?;
        let wire = response.into_inner().metadata.ok_or_else(|| {
            ServiceError::Internal("metadata GetMetadata answered without metadata".into())
        })?;
        // A downstream answer that breaks our rules is a fault over there, not bad input here.
        Metadata::try_from(wire).map_err(|e| ServiceError::Internal(Box::new(e)))
    }
}

/// Calls `RatingService` on a discovered instance.
pub struct RatingClient {
    balancer: Balancer,
}

impl RatingClient {
    pub fn new(balancer: Balancer) -> Self {
        Self { balancer }
    }
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
        let request = pb::GetAggregatedRatingRequest {
            record_id: key.record_id().to_owned(),
            record_type: key.record_type().to_owned(),
        };
        let response = self
            .balancer
            .call(|channel, _| {
                let request = traced(request.clone());
                async move {
                    RatingServiceClient::new(channel)
                        .get_aggregated_rating(request)
                        .await
                }
            })
            .await
            .map_err(|e| downstream(e, "rating GetAggregatedRating"))?;
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
