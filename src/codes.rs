//! gRPC status codes by name, as metrics labels and configuration write them.

/// The snake_case name of a gRPC code: `not_found`, `unavailable`.
pub fn name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "ok",
        Code::Cancelled => "cancelled",
        Code::Unknown => "unknown",
        Code::InvalidArgument => "invalid_argument",
        Code::DeadlineExceeded => "deadline_exceeded",
        Code::NotFound => "not_found",
        Code::AlreadyExists => "already_exists",
        Code::PermissionDenied => "permission_denied",
        Code::ResourceExhausted => "resource_exhausted",
        Code::FailedPrecondition => "failed_precondition",
        Code::Aborted => "aborted",
        Code::OutOfRange => "out_of_range",
        Code::Unimplemented => "unimplemented",
        Code::Internal => "internal",
        Code::Unavailable => "unavailable",
        Code::DataLoss => "data_loss",
        Code::Unauthenticated => "unauthenticated",
    }
}

/// The code a gRPC answer's headers (or trailers) carry in `grpc-status`, if they carry one
/// that reads as a number.
pub fn of_headers(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(tonic::Code::from)
}

/// The code named `name`, if any (`ok` included).
pub fn by_name(name: &str) -> Option<tonic::Code> {
    (0..=16)
        .map(tonic::Code::from)
        .find(|c| self::name(*c) == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for i in 0..=16 {
            let code = tonic::Code::from(i);
            assert_eq!(by_name(name(code)), Some(code));
        }
        assert_eq!(by_name("nope"), None);
    }
}
