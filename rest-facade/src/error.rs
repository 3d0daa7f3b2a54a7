//! The facade's one error type, [`ApiError`], and THE one table mapping a gRPC `tonic::Status` to an
//! HTTP status plus the OpenAI error envelope `{"error":{"message","type","param","code"}}`.
//!
//! The service decides *what* went wrong (gRPC code + `google.rpc.ErrorInfo` reason/param +
//! `RetryInfo`); this file only decides how that looks over HTTP. Route modules never build HTTP
//! statuses from gRPC codes themselves. Request-shape errors (bad JSON, bad query) are built here
//! too, through [`ApiError::bad_request`].

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::Code;
use tonic_types::StatusExt;

/// Message sent instead of the real one for internal faults (the real one is logged).
const INTERNAL_MESSAGE: &str = "The server had an error while processing your request.";

/// gRPC code → HTTP status. Exhaustive on purpose: a new `tonic::Code` must be placed here.
///
/// `CANCELLED` → 499 ("client closed request", the nginx convention): the call was abandoned,
/// usually because the client went away; it is neither a server fault nor worth an SDK retry.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::REQUEST_TIMEOUT),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Ok | Code::Internal | Code::Unknown | Code::DataLoss => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// gRPC code → the envelope `code` used when the status carries no `ErrorInfo`.
fn default_code(code: Code) -> &'static str {
    match code {
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => "invalid_request",
        Code::Unauthenticated => "invalid_api_key",
        Code::PermissionDenied => "permission_denied",
        Code::NotFound => "not_found",
        Code::AlreadyExists | Code::Aborted => "conflict",
        Code::ResourceExhausted => "rate_limit_exceeded",
        Code::Cancelled => "cancelled",
        Code::Unimplemented => "not_implemented",
        Code::Unavailable => "unavailable",
        Code::DeadlineExceeded => "timeout",
        Code::Ok | Code::Internal | Code::Unknown | Code::DataLoss => "internal_error",
    }
}

/// Reasons that override the status of their gRPC code: the service has no "bad gateway" code,
/// so it signals the upstream LLM's failure as `UNAVAILABLE` with one of these reasons.
const REASON_OVERRIDES: &[(Code, &str, StatusCode)] = &[
    (
        Code::Unavailable,
        "upstream_unavailable",
        StatusCode::BAD_GATEWAY,
    ),
    (
        Code::Unavailable,
        "agent_incomplete",
        StatusCode::BAD_GATEWAY,
    ),
    (
        Code::Unavailable,
        "upstream_rejected",
        StatusCode::BAD_GATEWAY,
    ),
    (
        Code::Unavailable,
        "upstream_rate_limited",
        StatusCode::BAD_GATEWAY,
    ),
];

/// Whether the status's own message must be hidden (internal faults leak internals).
fn is_internal(code: Code) -> bool {
    matches!(
        code,
        Code::Ok | Code::Internal | Code::Unknown | Code::DataLoss
    )
}

/// The OpenAI `type` for an HTTP status: what SDKs and humans branch on.
fn error_type(status: StatusCode) -> &'static str {
    if status == StatusCode::TOO_MANY_REQUESTS {
        "rate_limit_error"
    } else if status.is_server_error() {
        "server_error"
    } else {
        "invalid_request_error"
    }
}

/// An HTTP error answer in OpenAI's shape; every failing handler returns one.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    kind: &'static str,
    param: Option<String>,
    code: Option<String>,
    retry_after: Option<u64>,
    /// True when the facade itself rejected the request (before any RPC): the bearer middleware
    /// then confirms the key with the service first, so a wrong key always wins over a bad body.
    local: bool,
}

/// Response extension marking a rejection the facade made without asking the service.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LocalRejection;

impl ApiError {
    /// An error with an explicit status; `type` follows from the status.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            kind: error_type(status),
            param: None,
            code: Some(code.to_owned()),
            retry_after: None,
            local: true,
        }
    }

    /// A 400 `invalid_request_error`: the request itself is wrong.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Names the offending field (`param` in the envelope).
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    /// The HTTP status this error answers with (tests; handlers just return the error).
    #[cfg(test)]
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human-readable message (safe to send).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The OpenAI error `type`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The machine-readable `code`, if any.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The offending field, if any.
    pub fn param(&self) -> Option<&str> {
        self.param.as_deref()
    }

    /// Seconds for the `Retry-After` header, if any (tests; the header is set by `into_response`).
    #[cfg(test)]
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    /// The `{"message","type","param","code"}` object (all four keys always present).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        })
    }
}

impl From<tonic::Status> for ApiError {
    fn from(status: tonic::Status) -> Self {
        let grpc = status.code();
        let info = status.get_details_error_info();
        let reason = info
            .as_ref()
            .map(|info| info.reason.clone())
            .filter(|reason| !reason.is_empty());
        let param = info
            .as_ref()
            .and_then(|info| info.metadata.get("param").cloned())
            .filter(|param| !param.is_empty());
        let http = reason
            .as_deref()
            .and_then(|reason| {
                REASON_OVERRIDES
                    .iter()
                    .find(|(code, r, _)| *code == grpc && *r == reason)
                    .map(|(_, _, http)| *http)
            })
            .unwrap_or_else(|| http_status(grpc));
        let message = if is_internal(grpc) {
            tracing::error!(grpc.code = ?grpc, grpc.message = %status.message(), "internal error from the gRPC service");
            INTERNAL_MESSAGE.to_owned()
        } else if grpc == Code::Unauthenticated {
            // The contract fixes this body: SDKs and docs match on it.
            "Invalid API key".to_owned()
        } else if status.message().is_empty() {
            format!("Request failed: {}", grpc.description())
        } else {
            status.message().to_owned()
        };
        let retry_after = status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
            .map(|delay| delay.as_secs() + u64::from(delay.subsec_nanos() > 0))
            .or_else(|| {
                matches!(
                    http,
                    StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                )
                .then_some(1)
            });
        let mut error = Self::new(
            http,
            reason.as_deref().unwrap_or(default_code(grpc)),
            message,
        );
        error.param = param;
        error.retry_after = retry_after;
        error.local = false;
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.body() });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.local {
            response.extensions_mut().insert(LocalRejection);
        }
        response
    }
}

#[cfg(test)]
#[path = "error_tests.rs"]
mod tests;
