//! The services' error type, and its one mapping onto gRPC status codes (docs/design.md §1).

use crate::{database::sqlite::SqliteError, model::ValidationError};

/// What a controller can fail with. Messages say what was wrong and with which value;
/// internal details stay in the logs.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    InvalidArgument(#[from] ValidationError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    /// No valid credentials or token.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the role the call needs.
    #[error("{0}")]
    PermissionDenied(String),
    /// Too many attempts of something that must not be hammered (failed logins); not to be
    /// retried before `retry_after`.
    #[error("{message}")]
    TooManyAttempts {
        message: String,
        retry_after: std::time::Duration,
    },
    /// More than the limit allows (an upload): RESOURCE_EXHAUSTED, HTTP 413.
    #[error("{0}")]
    TooLarge(String),
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::uploads::UploadError> for ServiceError {
    fn from(e: crate::uploads::UploadError) -> Self {
        match e {
            e @ crate::uploads::UploadError::TooLarge { .. } => Self::TooLarge(e.to_string()),
            e @ crate::uploads::UploadError::Busy { .. } => Self::TooManyAttempts {
                message: e.to_string(),
                retry_after: std::time::Duration::from_secs(1),
            },
            e @ crate::uploads::UploadError::Stalled { .. } => {
                Self::DeadlineExceeded(e.to_string())
            }
            e => Self::Internal(Box::new(e)),
        }
    }
}

impl From<SqliteError> for ServiceError {
    fn from(e: SqliteError) -> Self {
        Self::Internal(Box::new(e))
    }
}

/// What a repository can fail with. "No row" becomes `NotFound` inside the repository.
#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("not found")]
    NotFound,
    /// A stored row that breaks the rules of its type.
    #[error("stored value breaks the rules: {0}")]
    Corrupt(ValidationError),
    #[error(transparent)]
    Storage(#[from] SqliteError),
    #[error(transparent)]
    Mysql(#[from] crate::database::mysql::MysqlError),
    /// A read others were waiting on was dropped before it finished (shutting down).
    #[error("the read was abandoned before it finished")]
    Abandoned,
}

impl RepositoryError {
    /// The service error for a failed read: `NotFound` says what was not found, any other
    /// failure is internal.
    pub fn or_not_found(self, what: impl FnOnce() -> String) -> ServiceError {
        match self {
            Self::NotFound => ServiceError::NotFound(what()),
            other => other.into(),
        }
    }
}

/// A database that cannot be reached now is UNAVAILABLE (the caller may retry, or
/// another instance may answer); any other repository failure is internal (a write that
/// finds nothing, too).
impl From<RepositoryError> for ServiceError {
    fn from(e: RepositoryError) -> Self {
        Self::from(std::sync::Arc::new(e))
    }
}

/// The same, for a failure several callers share (a read they waited on together).
impl From<std::sync::Arc<RepositoryError>> for ServiceError {
    fn from(e: std::sync::Arc<RepositoryError>) -> Self {
        match &*e {
            RepositoryError::Mysql(m) if m.is_unavailable() => {
                tracing::warn!(error = %m, "database unavailable");
                Self::Unavailable("the database is unavailable; try again shortly".to_owned())
            }
            _ => match std::sync::Arc::try_unwrap(e) {
                Ok(e) => Self::Internal(Box::new(e)),
                Err(shared) => Self::Internal(Box::new(shared)),
            },
        }
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::InvalidArgument(e) => Self::invalid_argument(e.to_string()),
            ServiceError::NotFound(m) => Self::not_found(m),
            ServiceError::Unavailable(m) => Self::unavailable(m),
            ServiceError::DeadlineExceeded(m) => Self::deadline_exceeded(m),
            ServiceError::Unauthenticated(m) => Self::unauthenticated(m),
            ServiceError::PermissionDenied(m) => Self::permission_denied(m),
            // No pushback: a client must not retry this by itself.
            ServiceError::TooManyAttempts { message, .. } => Self::resource_exhausted(message),
            ServiceError::TooLarge(m) => Self::resource_exhausted(m),
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                Self::internal("internal error")
            }
        }
    }
}

impl From<ValidationError> for tonic::Status {
    fn from(e: ValidationError) -> Self {
        ServiceError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn every_kind_maps_to_its_code_and_internals_do_not_leak() {
        let invalid = ValidationError::new("movie id", "", "must not be empty");
        let cases = [
            (
                ServiceError::InvalidArgument(invalid),
                Code::InvalidArgument,
            ),
            (ServiceError::NotFound("x".into()), Code::NotFound),
            (ServiceError::Unavailable("x".into()), Code::Unavailable),
            (
                ServiceError::DeadlineExceeded("x".into()),
                Code::DeadlineExceeded,
            ),
            (
                ServiceError::Unauthenticated("x".into()),
                Code::Unauthenticated,
            ),
            (
                ServiceError::PermissionDenied("x".into()),
                Code::PermissionDenied,
            ),
            (
                ServiceError::TooManyAttempts {
                    message: "x".into(),
                    retry_after: std::time::Duration::from_secs(1),
                },
                Code::ResourceExhausted,
            ),
        ];
        for (err, code) in cases {
            assert_eq!(tonic::Status::from(err).code(), code);
        }
        let internal = ServiceError::Internal("SELECT secret FROM t: disk I/O error".into());
        let status = tonic::Status::from(internal);
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
