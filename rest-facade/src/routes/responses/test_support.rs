//! Test helpers shared by the Responses, Runs and Jobs families: the exact SSE bytes of a frame
//! stream, the facade router over an in-test tonic service, and a one-shot HTTP call returning
//! status, headers and body.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use futures::{Stream, StreamExt};
use serde_json::Value;
use tower::ServiceExt;

/// The exact bytes axum writes for `events` (no keep-alive).
pub(crate) async fn sse_text(events: impl Stream<Item = Event> + Send + 'static) -> String {
    let response = Sse::new(events.map(Ok::<_, std::convert::Infallible>)).into_response();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The whole facade over `grpc` (a tonic `Routes` turned into an axum router).
pub(crate) fn facade(grpc: axum::Router) -> axum::Router {
    crate::router(
        crate::transport_from_service(grpc),
        crate::FacadeOptions::default(),
    )
}

/// What a call answered.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

/// Sends one request (with a bearer token and the extra `headers`) and reads the whole answer.
pub(crate) async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Reply {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", "Bearer test-key");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request
        .body(body.map_or_else(Body::empty, |text| Body::from(text.to_owned())))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        text: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}
