//! Tests of the whole `tonic::Status` → HTTP table in `error.rs`: every gRPC code, the reason
//! overrides, `ErrorInfo` code/param, `RetryInfo` rounding and the always-present envelope keys.

use std::collections::HashMap;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use http_body_util::BodyExt;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::ApiError;

/// Every gRPC code with its expected HTTP status, type and default code.
const TABLE: &[(Code, u16, &str, &str)] = &[
    (Code::Ok, 500, "server_error", "internal_error"),
    (Code::Cancelled, 499, "invalid_request_error", "cancelled"),
    (Code::Unknown, 500, "server_error", "internal_error"),
    (
        Code::InvalidArgument,
        400,
        "invalid_request_error",
        "invalid_request",
    ),
    (Code::DeadlineExceeded, 504, "server_error", "timeout"),
    (Code::NotFound, 404, "invalid_request_error", "not_found"),
    (
        Code::AlreadyExists,
        409,
        "invalid_request_error",
        "conflict",
    ),
    (
        Code::PermissionDenied,
        403,
        "invalid_request_error",
        "permission_denied",
    ),
    (
        Code::ResourceExhausted,
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    ),
    (
        Code::FailedPrecondition,
        400,
        "invalid_request_error",
        "invalid_request",
    ),
    (Code::Aborted, 409, "invalid_request_error", "conflict"),
    (
        Code::OutOfRange,
        400,
        "invalid_request_error",
        "invalid_request",
    ),
    (Code::Unimplemented, 501, "server_error", "not_implemented"),
    (Code::Internal, 500, "server_error", "internal_error"),
    (Code::Unavailable, 503, "server_error", "unavailable"),
    (Code::DataLoss, 500, "server_error", "internal_error"),
    (
        Code::Unauthenticated,
        401,
        "invalid_request_error",
        "invalid_api_key",
    ),
];

fn with_info(code: Code, message: &str, reason: &str, param: Option<&str>) -> Status {
    let mut metadata = HashMap::new();
    if let Some(param) = param {
        metadata.insert("param".to_owned(), param.to_owned());
    }
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, "caduceus", metadata);
    Status::with_error_details(code, message, details)
}

#[test]
fn every_grpc_code_without_details() {
    assert_eq!(TABLE.len(), 17, "every tonic::Code is listed");
    for &(code, http, kind, default_code) in TABLE {
        let error = ApiError::from(Status::new(code, "secret detail at /etc/x"));
        assert_eq!(error.status().as_u16(), http, "{code:?}");
        assert_eq!(error.kind(), kind, "{code:?}");
        assert_eq!(error.code(), Some(default_code), "{code:?}");
        assert_eq!(error.param(), None, "{code:?}");
        let expected_retry = matches!(http, 429 | 503).then_some(1);
        assert_eq!(error.retry_after(), expected_retry, "{code:?}");
        if http == 500 {
            assert!(!error.message().contains("secret"), "{code:?} leaks");
        } else if code == Code::Unauthenticated {
            assert_eq!(error.message(), "Invalid API key");
        } else {
            assert_eq!(error.message(), "secret detail at /etc/x", "{code:?}");
        }
    }
}

#[test]
fn every_grpc_code_with_error_info_keeps_reason_and_param() {
    for &(code, http, kind, _) in TABLE {
        let error = ApiError::from(with_info(code, "m", "some_reason", Some("messages[0]")));
        assert_eq!(error.status().as_u16(), http, "{code:?}");
        assert_eq!(error.kind(), kind, "{code:?}");
        assert_eq!(error.code(), Some("some_reason"), "{code:?}");
        assert_eq!(error.param(), Some("messages[0]"), "{code:?}");
    }
}

#[test]
fn bad_gateway_reasons_override_unavailable() {
    for reason in ["upstream_unavailable", "agent_incomplete"] {
        let error = ApiError::from(with_info(Code::Unavailable, "upstream down", reason, None));
        assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(error.kind(), "server_error");
        assert_eq!(error.code(), Some(reason));
        assert_eq!(error.message(), "upstream down");
        assert_eq!(error.retry_after(), None, "502 has no default Retry-After");
    }
    // The same reason under another code does not override.
    let error = ApiError::from(with_info(Code::Internal, "x", "upstream_unavailable", None));
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn retry_info_rounds_up_to_whole_seconds() {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(Duration::from_millis(2_100)));
    let status = Status::with_error_details(Code::ResourceExhausted, "busy", details);
    assert_eq!(ApiError::from(status).retry_after(), Some(3));

    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(Duration::from_secs(5)));
    details.set_error_info("gateway_draining", "caduceus", HashMap::new());
    let status = Status::with_error_details(Code::Unavailable, "draining", details);
    let error = ApiError::from(status);
    assert_eq!(error.retry_after(), Some(5));
    assert_eq!(error.code(), Some("gateway_draining"));
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn empty_message_gets_a_readable_default() {
    let error = ApiError::from(Status::new(Code::NotFound, ""));
    assert!(!error.message().is_empty());
}

#[tokio::test]
async fn response_has_all_four_keys_and_retry_after() {
    let response =
        ApiError::from(Status::new(Code::ResourceExhausted, "slow down")).into_response();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"error": {
            "message": "slow down",
            "type": "rate_limit_error",
            "param": null,
            "code": "rate_limit_exceeded"
        }})
    );
}

#[test]
fn constructors_derive_type_from_status() {
    let error = ApiError::bad_request("invalid_json", "bad").with_param("x");
    assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error.kind(), "invalid_request_error");
    assert_eq!(error.param(), Some("x"));
    let error = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "big");
    assert_eq!(error.kind(), "invalid_request_error");
    let error = ApiError::new(StatusCode::BAD_GATEWAY, "x", "y");
    assert_eq!(error.kind(), "server_error");
}
