//! The one domain error of the core and its one mapping to `tonic::Status`.
//!
//! Core modules return [`Error`]; the gRPC layer converts it with `From<Error> for Status`, which
//! attaches a `google.rpc.ErrorInfo` whose `reason` is the OpenAI-style `code` the REST facade puts
//! in its error envelope (and `metadata.param` for the offending field), plus `RetryInfo` where the
//! client should come back later. HTTP statuses are the facade's business, not this file's.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `ErrorInfo.domain` of every Caduceus error.
pub const ERROR_DOMAIN: &str = "caduceus";

/// Everything that can go wrong in the core, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is wrong; `code` names the rule it broke, `param` the field.
    #[error("{message}")]
    InvalidArgument {
        /// Machine-readable reason, e.g. `no_user_message`.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
        /// The offending field, when there is one.
        param: Option<String>,
    },
    /// Missing or wrong API key.
    #[error("Invalid API key")]
    Unauthenticated,
    /// The named thing does not exist.
    #[error("{message}")]
    NotFound {
        /// e.g. `session_not_found`.
        code: &'static str,
        /// Which thing, in words.
        message: String,
    },
    /// The request clashes with the current state (duplicate id, finished run, other body).
    #[error("{message}")]
    Conflict {
        /// e.g. `session_exists`.
        code: &'static str,
        /// What clashed.
        message: String,
    },
    /// Too much concurrent work; retry after the given delay.
    #[error("{message}")]
    RateLimited {
        /// What limit was hit.
        message: String,
        /// When to retry.
        retry_after: Duration,
    },
    /// The operation exists in the contract but this build does not serve it yet.
    #[error("{0}")]
    Unimplemented(String),
    /// The server cannot take the work now (draining, no upstream configured).
    #[error("{message}")]
    Unavailable {
        /// e.g. `gateway_draining`, `no_upstream_configured`.
        code: &'static str,
        /// Why, and what to do.
        message: String,
        /// When to retry, if retrying can help.
        retry_after: Option<Duration>,
    },
    /// The upstream LLM failed or the agent could not finish (REST 502).
    #[error("{message}")]
    BadGateway {
        /// `upstream_unavailable`, `upstream_rejected`, `upstream_rate_limited` or
        /// `agent_incomplete`.
        code: &'static str,
        /// What failed, without internals.
        message: String,
    },
    /// The upstream LLM did not answer in time (REST 504).
    #[error("{message}")]
    Timeout {
        /// e.g. `upstream_timeout`.
        code: &'static str,
        /// What timed out.
        message: String,
    },
    /// The caller went away or stopped the work before it finished.
    #[error("the request was cancelled")]
    Cancelled,
    /// A fault on our side; the message is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// An `InvalidArgument` without a field.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            code,
            message: message.into(),
            param: None,
        }
    }

    /// An `InvalidArgument` naming the field at fault.
    pub fn invalid_param(
        code: &'static str,
        message: impl Into<String>,
        param: impl Into<String>,
    ) -> Self {
        Self::InvalidArgument {
            code,
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// A `NotFound`.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            message: message.into(),
        }
    }

    /// A `Conflict`.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            message: message.into(),
        }
    }

    /// An `Unimplemented` naming the feature and where it lands.
    pub fn unimplemented(what: &str) -> Self {
        Self::Unimplemented(format!(
            "{what} is part of the Caduceus API but is not served by this build yet"
        ))
    }

    /// The gRPC code, reason and message this error maps to.
    fn parts(&self) -> (Code, &'static str, String) {
        match self {
            Self::InvalidArgument { code, message, .. } => {
                (Code::InvalidArgument, code, message.clone())
            }
            Self::Unauthenticated => (
                Code::Unauthenticated,
                "invalid_api_key",
                "Invalid API key".into(),
            ),
            Self::NotFound { code, message } => (Code::NotFound, code, message.clone()),
            Self::Conflict { code, message } => (Code::AlreadyExists, code, message.clone()),
            Self::RateLimited { message, .. } => (
                Code::ResourceExhausted,
                "rate_limit_exceeded",
                message.clone(),
            ),
            Self::Unimplemented(message) => {
                (Code::Unimplemented, "not_implemented", message.clone())
            }
            Self::Unavailable { code, message, .. } => (Code::Unavailable, code, message.clone()),
            Self::BadGateway { code, message } => (Code::Unavailable, code, message.clone()),
            Self::Timeout { code, message } => (Code::DeadlineExceeded, code, message.clone()),
            Self::Cancelled => (
                Code::Cancelled,
                "request_cancelled",
                "The request was cancelled before it finished".into(),
            ),
            Self::Internal(_) => (
                Code::Internal,
                "internal_error",
                "The server hit an internal error; it has been logged.".into(),
            ),
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        if let Error::Internal(detail) = &error {
            tracing::error!(error = %detail, "internal error");
        }
        let (code, reason, message) = error.parts();
        let message = bounded(message);
        let mut details = ErrorDetails::new();
        let mut metadata = std::collections::HashMap::new();
        if let Error::InvalidArgument {
            param: Some(param), ..
        } = &error
        {
            metadata.insert("param".to_owned(), param.clone());
        }
        details.set_error_info(reason, ERROR_DOMAIN, metadata);
        let retry = match &error {
            Error::RateLimited { retry_after, .. } => Some(*retry_after),
            Error::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        };
        if let Some(delay) = retry {
            details.set_retry_info(Some(delay));
        }
        Status::with_error_details(code, message, details)
    }
}

/// Longest `grpc-message` sent: messages may quote client input (ids, values), and HTTP/2 peers
/// refuse header blocks past ~16 KB (the call would fail as a protocol error, not this error).
const MAX_MESSAGE_BYTES: usize = 1024;

/// `message` cut to [`MAX_MESSAGE_BYTES`] at a character boundary, marked with `…`.
fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

impl From<crate::store::StoreError> for Error {
    /// Store conflicts keep their API code; unreachable databases are retryable; anything else
    /// is an internal fault whose detail (with the driver's source error) goes to the log only.
    fn from(error: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match error {
            StoreError::NotFound => {
                Self::not_found("not_found", "The requested item does not exist")
            }
            StoreError::Conflict(code) => match code.as_str() {
                "session_exists" => {
                    Self::conflict("session_exists", "A session with this id already exists")
                }
                "title_taken" => Self::invalid_param(
                    "invalid_title",
                    "This title is already used by another session",
                    "title",
                ),
                _ => Self::conflict("conflict", "The request conflicts with stored data"),
            },
            // PostgreSQL cannot store NUL in text (SQLSTATE 22021); whatever field carried it,
            // the input is at fault, not the server.
            StoreError::Database(sqlx::Error::Database(db))
                if db.code().as_deref() == Some("22021") =>
            {
                Self::invalid(
                    "invalid_request",
                    "Text values must not contain NUL characters",
                )
            }
            StoreError::Unavailable(source) => {
                tracing::warn!(error = %source, "database unavailable");
                Self::Unavailable {
                    code: "database_unavailable",
                    message: "The database is unavailable; retry shortly".into(),
                    retry_after: Some(Duration::from_secs(1)),
                }
            }
            other => Self::Internal(format!(
                "store: {other}: {:?}",
                std::error::Error::source(&other)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(status: &Status) -> String {
        status
            .get_details_error_info()
            .map(|info| info.reason)
            .unwrap_or_default()
    }

    /// The whole domain → gRPC table, one row per variant.
    #[test]
    fn every_variant_maps_to_its_code_and_reason() {
        let rows: Vec<(Error, Code, &str)> = vec![
            (
                Error::invalid("no_user_message", "x"),
                Code::InvalidArgument,
                "no_user_message",
            ),
            (
                Error::Unauthenticated,
                Code::Unauthenticated,
                "invalid_api_key",
            ),
            (
                Error::not_found("session_not_found", "x"),
                Code::NotFound,
                "session_not_found",
            ),
            (
                Error::conflict("session_exists", "x"),
                Code::AlreadyExists,
                "session_exists",
            ),
            (
                Error::RateLimited {
                    message: "x".into(),
                    retry_after: Duration::from_secs(1),
                },
                Code::ResourceExhausted,
                "rate_limit_exceeded",
            ),
            (
                Error::unimplemented("Runs"),
                Code::Unimplemented,
                "not_implemented",
            ),
            (
                Error::Unavailable {
                    code: "gateway_draining",
                    message: "x".into(),
                    retry_after: None,
                },
                Code::Unavailable,
                "gateway_draining",
            ),
            (
                Error::BadGateway {
                    code: "upstream_unavailable",
                    message: "x".into(),
                },
                Code::Unavailable,
                "upstream_unavailable",
            ),
            (
                Error::Timeout {
                    code: "upstream_timeout",
                    message: "x".into(),
                },
                Code::DeadlineExceeded,
                "upstream_timeout",
            ),
            (
                Error::Internal("secret path /etc".into()),
                Code::Internal,
                "internal_error",
            ),
        ];
        for (error, code, expected_reason) in rows {
            let status = Status::from(error);
            assert_eq!(status.code(), code);
            assert_eq!(reason(&status), expected_reason);
        }
    }

    #[test]
    fn param_and_retry_travel_as_details() {
        let status = Status::from(Error::invalid_param("invalid_request", "bad", "messages"));
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(
            info.metadata.get("param").map(String::as_str),
            Some("messages")
        );

        let status = Status::from(Error::RateLimited {
            message: "busy".into(),
            retry_after: Duration::from_secs(1),
        });
        let retry = status.get_details_retry_info().expect("retry info");
        assert_eq!(retry.retry_delay, Some(Duration::from_secs(1)));
    }

    #[test]
    fn internal_errors_never_leak_their_detail() {
        let status = Status::from(Error::Internal("password=hunter2".into()));
        assert!(!status.message().contains("hunter2"));
    }
}
