//! HTTP headers ⇄ gRPC metadata: which request headers travel to the service as metadata, and
//! which response metadata comes back as HTTP headers. Nothing here interprets the values — the
//! service validates session ids/keys and API keys; only bytes that gRPC metadata cannot carry are
//! refused here. The current span's trace context replaces any `traceparent`/`tracestate` the
//! client sent (the client's context is the facade span's parent), so the core's gRPC span is a
//! child of the facade's HTTP span.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tonic::metadata::{AsciiMetadataValue, MetadataKey, MetadataMap};

use crate::error::ApiError;

/// Request headers forwarded as metadata, with the error code used when a value is unusable.
const FORWARDED: &[(&str, &str)] = &[
    ("authorization", "invalid_api_key"),
    ("x-request-id", "invalid_request"),
    ("x-hermes-session-id", "invalid_session_id"),
    ("x-hermes-session-key", "invalid_session_key"),
    ("idempotency-key", "invalid_idempotency_key"),
    ("traceparent", "invalid_request"),
    ("tracestate", "invalid_request"),
    ("last-event-id", "invalid_request"),
];

/// Response metadata copied back onto the HTTP response.
const RETURNED: &[&str] = &[
    "x-hermes-session-id",
    "x-hermes-session-key",
    "idempotency-replayed",
];

/// Builds a tonic request carrying `message` and the forwarded headers as metadata.
/// A header whose bytes gRPC metadata cannot carry → 400 (`invalid_session_id`,
/// `invalid_session_key`, or `invalid_request` with the header name as `param`).
pub fn grpc_request<T>(headers: &HeaderMap, message: T) -> Result<tonic::Request<T>, ApiError> {
    let mut request = tonic::Request::new(message);
    for &(name, code) in FORWARDED {
        let Some(value) = headers.get(name) else {
            continue;
        };
        let parsed = value
            .to_str()
            .ok()
            .and_then(|text| AsciiMetadataValue::try_from(text).ok());
        let Some(parsed) = parsed else {
            let error = if name == "authorization" {
                ApiError::new(StatusCode::UNAUTHORIZED, code, "Invalid API key")
            } else {
                ApiError::bad_request(
                    code,
                    format!("Header {name} contains characters that are not allowed."),
                )
                .with_param(name)
            };
            return Err(error);
        };
        request
            .metadata_mut()
            .insert(MetadataKey::from_static(name), parsed);
    }
    for (name, value) in caduceus_observability::propagation::current_headers() {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(name.as_bytes()),
            AsciiMetadataValue::try_from(value.as_str()),
        ) {
            request.metadata_mut().insert(key, value);
        }
    }
    Ok(request)
}

/// Copies `x-hermes-session-id`, `x-hermes-session-key` and `idempotency-replayed` from gRPC
/// response metadata onto HTTP headers.
pub fn response_headers(metadata: &MetadataMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for &name in RETURNED {
        let value = metadata
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| HeaderValue::from_str(text).ok());
        if let Some(value) = value {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

/// A JSON answer plus the response-metadata headers.
pub fn json_reply<T: Serialize>(status: StatusCode, metadata: &MetadataMap, body: &T) -> Response {
    (status, response_headers(metadata), Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_known_headers_only() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer k"));
        headers.insert("x-hermes-session-id", HeaderValue::from_static("s1"));
        headers.insert("traceparent", HeaderValue::from_static("00-abc-def-01"));
        headers.insert("cookie", HeaderValue::from_static("secret"));
        let request = grpc_request(&headers, ()).unwrap();
        let md = request.metadata();
        assert_eq!(md.get("authorization").unwrap(), "Bearer k");
        assert_eq!(md.get("x-hermes-session-id").unwrap(), "s1");
        assert_eq!(md.get("traceparent").unwrap(), "00-abc-def-01");
        assert!(md.get("cookie").is_none());
    }

    #[test]
    fn non_ascii_session_headers_are_rejected_with_their_code() {
        for (name, code) in [
            ("x-hermes-session-id", "invalid_session_id"),
            ("x-hermes-session-key", "invalid_session_key"),
            ("idempotency-key", "invalid_idempotency_key"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
            let error = grpc_request(&headers, ()).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert_eq!(error.code(), Some(code));
        }
    }

    #[test]
    fn returns_session_headers() {
        let mut md = MetadataMap::new();
        md.insert("x-hermes-session-id", "api-1".parse().unwrap());
        md.insert("idempotency-replayed", "true".parse().unwrap());
        md.insert("grpc-status", "0".parse().unwrap());
        let headers = response_headers(&md);
        assert_eq!(headers["x-hermes-session-id"], "api-1");
        assert_eq!(headers["idempotency-replayed"], "true");
        assert_eq!(headers.len(), 2);
    }
}
