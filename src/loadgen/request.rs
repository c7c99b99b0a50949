//! What one call of a load run sends: a gRPC method of ours with its request message made
//! from JSON (through the compiled descriptors, so any of our RPCs works without code for
//! it), or an HTTP request.

use bytes::Bytes;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};

/// Why a call cannot be made; messages name the value and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("unknown method {given:?}: expected Service/Method, one of: {known}")]
    UnknownMethod { given: String, known: String },
    #[error("request for {method}: {reason}")]
    BadJson { method: String, reason: String },
    #[error("invalid HTTP target {given:?}: expected METHOD /path?query, e.g. \"GET /movie?id=1\"")]
    BadHttp { given: String },
    #[error("the compiled descriptors do not load: {0}")]
    Descriptors(String),
}

/// One gRPC method and the encoded request sent on every call.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    /// `/MovieService/GetMovieDetails`.
    pub path: http::uri::PathAndQuery,
    pub body: Bytes,
    /// `MovieService/GetMovieDetails`, for reports.
    pub name: String,
}

/// One HTTP request, sent as it is on every call.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub method: http::Method,
    /// `/movie?id=1`.
    pub path: String,
    pub name: String,
}

/// What a load run calls.
#[derive(Debug, Clone)]
pub enum Call {
    Grpc(GrpcCall),
    Http(HttpCall),
}

impl Call {
    pub fn name(&self) -> &str {
        match self {
            Self::Grpc(c) => &c.name,
            Self::Http(c) => &c.name,
        }
    }
}

/// Every service and method movieapp serves, from the compiled descriptors.
fn pool() -> Result<DescriptorPool, RequestError> {
    DescriptorPool::decode(crate::pb::FILE_DESCRIPTOR_SET)
        .map_err(|e| RequestError::Descriptors(e.to_string()))
}

/// `method` (`Service/Method`, with or without a leading `/`) with its request made from
/// `json` (the proto3 JSON mapping: field names as in the .proto or in lowerCamelCase).
pub fn grpc(method: &str, json: &str) -> Result<GrpcCall, RequestError> {
    let pool = pool()?;
    let found = find(&pool, method).ok_or_else(|| RequestError::UnknownMethod {
        given: method.to_owned(),
        known: known(&pool),
    })?;
    let name = format!("{}/{}", found.parent_service().name(), found.name());
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let message = DynamicMessage::deserialize(found.input(), &mut deserializer)
        .and_then(|m| deserializer.end().map(|()| m))
        .map_err(|e| RequestError::BadJson {
            method: name.clone(),
            reason: format!("{e}; expected a JSON object of {}", found.input().name()),
        })?;
    let path = format!("/{name}")
        .parse()
        .map_err(|_| RequestError::UnknownMethod {
            given: method.to_owned(),
            known: known(&pool),
        })?;
    Ok(GrpcCall {
        path,
        body: Bytes::from(prost::Message::encode_to_vec(&message)),
        name,
    })
}

fn find(pool: &DescriptorPool, method: &str) -> Option<MethodDescriptor> {
    let (service, name) = method.trim_start_matches('/').split_once('/')?;
    pool.services()
        .find(|s| s.full_name() == service || s.name() == service)?
        .methods()
        .find(|m| m.name() == name)
}

fn known(pool: &DescriptorPool) -> String {
    pool.services()
        .flat_map(|s| {
            let service = s.name().to_owned();
            s.methods()
                .map(|m| format!("{service}/{}", m.name()))
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `"GET /movie?id=1"` as an HTTP call.
pub fn http(target: &str) -> Result<HttpCall, RequestError> {
    let bad = || RequestError::BadHttp {
        given: target.to_owned(),
    };
    let (method, path) = target.trim().split_once(' ').ok_or_else(bad)?;
    let method: http::Method = method.parse().map_err(|_| bad())?;
    let path = path.trim();
    if !path.starts_with('/') || path.parse::<http::uri::PathAndQuery>().is_err() {
        return Err(bad());
    }
    Ok(HttpCall {
        name: format!("{method} {path}"),
        method,
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_requests_encode_as_protobuf_for_any_of_our_methods() {
        let call = grpc("MovieService/GetMovieDetails", r#"{"movie_id":"1"}"#).unwrap();
        assert_eq!(call.path.as_str(), "/MovieService/GetMovieDetails");
        assert_eq!(&call.body[..], b"\x0a\x011");
        let camel = grpc("/MovieService/GetMovieDetails", r#"{"movieId":"1"}"#).unwrap();
        assert_eq!(camel.body, call.body);
        let put = grpc(
            "RatingService/PutRating",
            r#"{"record_id":"1","record_type":"movie","user_id":"a","rating_value":5}"#,
        )
        .unwrap();
        assert!(!put.body.is_empty());
        assert!(grpc("AuthService/GetToken", "{}").is_ok());
    }

    #[test]
    fn bad_methods_and_json_are_named() {
        let err = grpc("MovieService/Nope", "{}").unwrap_err().to_string();
        assert!(
            err.contains("\"MovieService/Nope\"") && err.contains("MovieService/GetMovieDetails"),
            "{err}"
        );
        let err = grpc("MovieService/GetMovieDetails", r#"{"film":"1"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GetMovieDetailsRequest"), "{err}");
        let err = grpc("MovieService/GetMovieDetails", "{} trailing").unwrap_err();
        assert!(matches!(err, RequestError::BadJson { .. }));
    }

    #[test]
    fn http_targets_are_a_method_and_a_path() {
        let call = http("GET /movie?id=1").unwrap();
        assert_eq!(
            (call.method, call.path.as_str()),
            (http::Method::GET, "/movie?id=1")
        );
        for bad in ["/movie", "GET movie", "G ET /x", ""] {
            assert!(http(bad).is_err(), "{bad}");
        }
    }
}
