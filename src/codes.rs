//! gRPC status codes: by name, as metrics labels and configuration write them, and as the
//! error table maps them onto HTTP statuses and back.

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

/// The gRPC code that stands for an HTTP status (the inverse of the error table).
pub fn of_http(status: http::StatusCode) -> tonic::Code {
    use tonic::Code;
    match status.as_u16() {
        200..=399 => Code::Ok,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 504 => Code::DeadlineExceeded,
        413 | 429 => Code::ResourceExhausted,
        501 => Code::Unimplemented,
        503 => Code::Unavailable,
        400..=499 => Code::InvalidArgument,
        _ => Code::Internal,
    }
}

/// The HTTP status of a gRPC code, as the error table maps them.
pub fn http_status(code: tonic::Code) -> http::StatusCode {
    use http::StatusCode;
    use tonic::Code;
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
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

    #[test]
    fn http_statuses_read_as_codes() {
        assert_eq!(of_http(http::StatusCode::OK), tonic::Code::Ok);
        assert_eq!(
            of_http(http::StatusCode::BAD_REQUEST),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            of_http(http::StatusCode::METHOD_NOT_ALLOWED),
            tonic::Code::InvalidArgument
        );
        assert_eq!(
            of_http(http::StatusCode::SERVICE_UNAVAILABLE),
            tonic::Code::Unavailable
        );
        assert_eq!(
            of_http(http::StatusCode::INTERNAL_SERVER_ERROR),
            tonic::Code::Internal
        );
    }
}
