//! Server-sent events plumbing shared by every streaming route: the SSE response itself (headers,
//! keep-alive comments) and [`first_item`], which lets a gRPC stream fail as a normal HTTP error
//! until its first message arrives. What the frames contain is each route module's business.
//!
//! Cancellation: the returned body owns the event stream, which owns the `tonic::Streaming`; when
//! the client disconnects hyper drops the body, the gRPC call is dropped and the service sees the
//! cancellation. Nothing here spawns a task that could keep the call alive.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};

use crate::error::ApiError;

/// Idle time after which a `: keepalive` comment is sent (and a gone client is noticed).
pub(crate) const KEEPALIVE: Duration = Duration::from_secs(15);

/// SSE response: `text/event-stream`, `Cache-Control: no-cache`, `X-Accel-Buffering: no`,
/// `: keepalive` after 15 s idle, each event written as soon as it is produced. `headers` (e.g.
/// from [`crate::metadata::response_headers`]) are added to the response.
pub fn sse_response<S>(headers: HeaderMap, events: S) -> Response
where
    S: Stream<Item = Event> + Send + 'static,
{
    let sse = Sse::new(events.map(Ok::<Event, std::convert::Infallible>))
        .keep_alive(KeepAlive::new().interval(KEEPALIVE).text(" keepalive"));
    let mut response = sse.into_response();
    let out = response.headers_mut();
    out.insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    out.extend(headers);
    response
}

/// Waits for the first item of a gRPC stream so that a failure before any output becomes a normal
/// HTTP error envelope (not a 200 SSE). `None` means the stream ended without any item.
pub async fn first_item<T>(
    mut stream: tonic::Streaming<T>,
) -> Result<(Option<T>, tonic::Streaming<T>), ApiError> {
    match stream.message().await {
        Ok(item) => Ok((item, stream)),
        Err(status) => Err(ApiError::from(status)),
    }
}

/// The `data: [DONE]` terminator of OpenAI chat streams.
pub(crate) fn done_event() -> Event {
    Event::default().data("[DONE]")
}

/// An unnamed `data: <json>` frame.
pub(crate) fn data_event(value: &serde_json::Value) -> Event {
    Event::default().data(value.to_string())
}

/// A named `event: <name>` + `data: <json>` frame (CR/LF in the name, which would break the
/// framing and make axum panic, are replaced).
pub(crate) fn named_event(name: &str, value: &serde_json::Value) -> Event {
    let name: String = name
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    Event::default().event(name).data(value.to_string())
}

/// Current time as float Unix seconds (for synthesized stream events).
pub(crate) fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64())
}
