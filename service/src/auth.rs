//! API-key authentication of gRPC calls, as a middleware on the gRPC router so that every
//! transport (HTTP/2 gRPC, gRPC-Web, the in-process facade client) passes through it once.
//!
//! Open without a key: standard health (`grpc.health.v1`), server reflection and
//! `DiscoveryService/GetHealth` — like `GET /health` on REST. Everything else needs metadata
//! `authorization: Bearer <key>`, compared in constant time.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::Error;

/// Services served without a key (path prefixes).
const OPEN_SERVICES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Single methods served without a key (exact paths).
const OPEN_METHODS: &[&str] = &["/caduceus.v1.DiscoveryService/GetHealth"];

/// The expected key, shared by all requests.
#[derive(Clone)]
pub struct ApiKeyCheck {
    key: Arc<[u8]>,
}

impl ApiKeyCheck {
    /// A checker for `key`.
    pub fn new(key: &str) -> Self {
        Self {
            key: Arc::from(key.as_bytes()),
        }
    }

    /// Whether an `authorization` header value carries the key (constant time in the key bytes).
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some(value) = header else { return false };
        let Some(token) = value
            .strip_prefix(b"Bearer ")
            .or_else(|| value.strip_prefix(b"bearer "))
        else {
            return false;
        };
        bool::from(token.ct_eq(&self.key))
    }
}

/// Whether `path` may be called without a key.
fn is_open(path: &str) -> bool {
    OPEN_METHODS.contains(&path) || OPEN_SERVICES.iter().any(|prefix| path.starts_with(prefix))
}

/// Axum middleware rejecting unauthenticated gRPC calls with `UNAUTHENTICATED`.
pub async fn require_api_key(
    State(check): State<ApiKeyCheck>,
    request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|value| value.as_bytes());
    if is_open(request.uri().path()) || check.accepts(header) {
        return next.run(request).await;
    }
    tonic::Status::from(Error::Unauthenticated)
        .into_http::<axum::body::Body>()
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_must_match_exactly() {
        let check = ApiKeyCheck::new("0123456789abcdef0123");
        assert!(check.accepts(Some(b"Bearer 0123456789abcdef0123")));
        assert!(!check.accepts(Some(b"Bearer 0123456789abcdef012")));
        assert!(!check.accepts(Some(b"Bearer 0123456789abcdef01234")));
        assert!(!check.accepts(Some(b"0123456789abcdef0123")));
        assert!(!check.accepts(Some(b"Basic 0123456789abcdef0123")));
        assert!(!check.accepts(None));
    }

    #[test]
    fn only_health_and_reflection_are_open() {
        assert!(is_open("/grpc.health.v1.Health/Check"));
        assert!(is_open(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        ));
        assert!(is_open("/caduceus.v1.DiscoveryService/GetHealth"));
        assert!(!is_open("/caduceus.v1.DiscoveryService/GetHealthDetailed"));
        assert!(!is_open("/caduceus.v1.ChatService/CreateChatCompletion"));
    }
}
