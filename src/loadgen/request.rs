//! What one call of a load run sends: a gRPC method of ours with its request message made
//! from JSON (through the compiled descriptors, so any of our RPCs works without code for
//! it), or an HTTP request. Either may be numbered: `{n}` in it becomes 0, 1, … for
//! successive calls, so a run can write many different ratings rather than one again.

use std::{
    borrow::Cow,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

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
    #[error("--vary {count}: the request has no {PLACEHOLDER} to number")]
    NothingToVary { count: usize },
}

/// What numbers calls: `{n}` in a request becomes the call's number.
pub const PLACEHOLDER: &str = "{n}";

/// Numbers successive calls 0, 1, … `count - 1`, then 0 again; shared by every connection
/// of a run, so no two calls in a row get the same number.
#[derive(Debug, Clone)]
pub struct Numbering {
    count: usize,
    next: Arc<AtomicUsize>,
}

impl Numbering {
    pub fn new(count: usize) -> Self {
        Self {
            count: count.max(1),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The next call's number.
    pub fn take(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.count
    }

    /// How many different requests there are.
    pub fn count(&self) -> usize {
        self.count
    }
}

/// `text` with `{n}` replaced by `n`.
fn numbered(text: &str, n: usize) -> String {
    text.replace(PLACEHOLDER, &n.to_string())
}

/// How many different requests `text` makes under `vary` (`None`: not given).
fn variants(text: &str, vary: Option<usize>) -> Result<usize, RequestError> {
    match (text.contains(PLACEHOLDER), vary) {
        (true, Some(count)) => Ok(count),
        (true, None) => Ok(DEFAULT_VARIANTS),
        (false, Some(count)) if count > 1 => Err(RequestError::NothingToVary { count }),
        (false, _) => Ok(1),
    }
}

/// Different requests made from a request with `{n}` and no --vary.
pub const DEFAULT_VARIANTS: usize = 100_000;

/// One gRPC method and its encoded requests: one, sent on every call, or one per number.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    /// `/MovieService/GetMovieDetails`.
    pub path: http::uri::PathAndQuery,
    /// Indexed by the call's number.
    pub bodies: Arc<[Bytes]>,
    pub numbering: Numbering,
    /// `MovieService/GetMovieDetails`, for reports.
    pub name: String,
}

impl GrpcCall {
    /// The next call's request.
    pub fn next_body(&self) -> &Bytes {
        &self.bodies[self.numbering.take() % self.bodies.len()]
    }
}

/// One HTTP request, its `{n}` (if any) numbered per call.
#[derive(Debug, Clone)]
pub struct HttpCall {
    pub method: http::Method,
    /// `/movie?id=1`.
    pub path: String,
    pub numbering: Numbering,
    pub name: String,
}

impl HttpCall {
    /// The next call's path.
    pub fn next_path(&self) -> Cow<'_, str> {
        if self.numbering.count() == 1 {
            Cow::Borrowed(&self.path)
        } else {
            Cow::Owned(numbered(&self.path, self.numbering.take()))
        }
    }
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
/// `json` (the proto3 JSON mapping: field names as in the .proto or in lowerCamelCase);
/// with `{n}` in `json`, `vary` requests (default [`DEFAULT_VARIANTS`]), numbered from 0.
pub fn grpc(method: &str, json: &str, vary: Option<usize>) -> Result<GrpcCall, RequestError> {
    let pool = pool()?;
    let found = find(&pool, method).ok_or_else(|| RequestError::UnknownMethod {
        given: method.to_owned(),
        known: known(&pool),
    })?;
    let name = format!("{}/{}", found.parent_service().name(), found.name());
    let count = variants(json, vary)?;
    let encode = |json: &str| {
        let mut deserializer = serde_json::Deserializer::from_str(json);
        DynamicMessage::deserialize(found.input(), &mut deserializer)
            .and_then(|m| deserializer.end().map(|()| m))
            .map(|m| Bytes::from(prost::Message::encode_to_vec(&m)))
            .map_err(|e| RequestError::BadJson {
                method: name.clone(),
                reason: format!("{e}; expected a JSON object of {}", found.input().name()),
            })
    };
    let bodies = if count == 1 {
        vec![encode(json)?]
    } else {
        (0..count)
            .map(|n| encode(&numbered(json, n)))
            .collect::<Result<_, _>>()?
    };
    let path = format!("/{name}")
        .parse()
        .map_err(|_| RequestError::UnknownMethod {
            given: method.to_owned(),
            known: known(&pool),
        })?;
    Ok(GrpcCall {
        path,
        bodies: bodies.into(),
        numbering: Numbering::new(count),
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

/// `"GET /movie?id=1"` as an HTTP call; with `{n}` in the path, numbered per call from 0
/// to `vary - 1` (default [`DEFAULT_VARIANTS`]).
pub fn http(target: &str, vary: Option<usize>) -> Result<HttpCall, RequestError> {
    let bad = || RequestError::BadHttp {
        given: target.to_owned(),
    };
    let (method, path) = target.trim().split_once(' ').ok_or_else(bad)?;
    let method: http::Method = method.parse().map_err(|_| bad())?;
    let path = path.trim();
    let count = variants(path, vary)?;
    if !path.starts_with('/')
        || numbered(path, 0)
            .parse::<http::uri::PathAndQuery>()
            .is_err()
    {
        return Err(bad());
    }
    Ok(HttpCall {
        name: format!("{method} {path}"),
        method,
        path: path.to_owned(),
        numbering: Numbering::new(count),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_requests_encode_as_protobuf_for_any_of_our_methods() {
        let call = grpc("MovieService/GetMovieDetails", r#"{"movie_id":"1"}"#, None).unwrap();
        assert_eq!(call.path.as_str(), "/MovieService/GetMovieDetails");
        assert_eq!(&call.next_body()[..], b"\x0a\x011");
        let camel = grpc("/MovieService/GetMovieDetails", r#"{"movieId":"1"}"#, None).unwrap();
        assert_eq!(camel.bodies, call.bodies);
        let put = grpc(
            "RatingService/PutRating",
            r#"{"record_id":"1","record_type":"movie","user_id":"a","rating_value":5}"#,
            None,
        )
        .unwrap();
        assert!(!put.next_body().is_empty());
        assert!(grpc("AuthService/GetToken", "{}", None).is_ok());
    }

    #[test]
    fn bad_methods_and_json_are_named() {
        let err = grpc("MovieService/Nope", "{}", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"MovieService/Nope\"") && err.contains("MovieService/GetMovieDetails"),
            "{err}"
        );
        let err = grpc("MovieService/GetMovieDetails", r#"{"film":"1"}"#, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("GetMovieDetailsRequest"), "{err}");
        let err = grpc("MovieService/GetMovieDetails", "{} trailing", None).unwrap_err();
        assert!(matches!(err, RequestError::BadJson { .. }));
    }

    #[test]
    fn http_targets_are_a_method_and_a_path() {
        let call = http("GET /movie?id=1", None).unwrap();
        assert_eq!(
            (call.method, call.path.as_str()),
            (http::Method::GET, "/movie?id=1")
        );
        for bad in ["/movie", "GET movie", "G ET /x", ""] {
            assert!(http(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbered_requests_count_up_across_clones_and_wrap() {
        let put = grpc(
            "RatingService/PutRating",
            r#"{"record_id":"{n}","record_type":"movie","user_id":"u{n}","rating_value":5}"#,
            Some(3),
        )
        .unwrap();
        let other = put.clone();
        let bodies: Vec<Bytes> = (0..4)
            .map(|i| {
                if i % 2 == 0 {
                    put.next_body()
                } else {
                    other.next_body()
                }
                .clone()
            })
            .collect();
        let expected = |n: usize| {
            grpc(
                "RatingService/PutRating",
                &format!(r#"{{"record_id":"{n}","record_type":"movie","user_id":"u{n}","rating_value":5}}"#),
                None,
            )
            .unwrap()
            .bodies[0]
                .clone()
        };
        assert_eq!(bodies, [expected(0), expected(1), expected(2), expected(0)]);
        let get = http("GET /rating?id={n}&type=movie", Some(2)).unwrap();
        let paths: Vec<String> = (0..3).map(|_| get.next_path().into_owned()).collect();
        assert_eq!(
            paths,
            [
                "/rating?id=0&type=movie",
                "/rating?id=1&type=movie",
                "/rating?id=0&type=movie"
            ]
        );
        assert_eq!(
            grpc(
                "MovieService/GetMovieDetails",
                r#"{"movie_id":"{n}"}"#,
                None
            )
            .unwrap()
            .bodies
            .len(),
            DEFAULT_VARIANTS
        );
        let err = grpc(
            "MovieService/GetMovieDetails",
            r#"{"movie_id":"1"}"#,
            Some(5),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--vary 5: the request has no {n} to number"
        );
        assert!(http("GET /movie?id=1", Some(5)).is_err());
    }
}
