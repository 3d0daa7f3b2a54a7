//! The facade's observability: the HTTP server span and metrics of every request (outermost
//! layer, see `lib.rs`), and `GET /metrics`.
//!
//! The span is named `"{METHOD} {route}"` after the matched route template, adopts the caller's
//! W3C `traceparent` as its parent (else starts a trace), and lives until the last body byte —
//! an SSE stream's span covers the whole stream. `metadata::grpc_request` injects it into the
//! gRPC metadata, so the core's gRPC span is its child. Only method, route, path, status and
//! user agent are recorded: never headers such as `Authorization`, never bodies.
//!
//! `/metrics` answers the facade's HTTP families followed by the core's (`GetMetrics`, which
//! also checks the API key), as one OpenMetrics exposition.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Extension, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use caduceus_observability::metrics::{self, HttpMetrics, SseStreamGuard};
use caduceus_observability::propagation;
use caduceus_proto::v1::GetMetricsRequest;
use http_body::{Frame, SizeHint};
use tracing::Instrument;
use tracing::field::Empty;

use crate::error::ApiError;
use crate::metadata::grpc_request;
use crate::routes::Route;
use crate::state::AppState;

/// Route label of requests that matched no route (raw paths would be unbounded).
const UNMATCHED: &str = "unmatched";

/// The method as a bounded label: the standard methods, else `_OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "_OTHER",
    }
}

/// `"{METHOD} {route}"`, or just the method when no route matched.
fn span_name(method: &str, route: Option<&str>) -> String {
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    }
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"))
}

/// Middleware: the HTTP server span around the request, and the request metrics when its body
/// is done (or dropped: a client that disconnects still counts).
pub(crate) async fn observe(
    State(metrics): State<HttpMetrics>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let span = tracing::info_span!(
        "http.server",
        otel.name = %span_name(method, route.as_deref()),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route.as_deref().unwrap_or(UNMATCHED),
        url.path = %req.uri().path(),
        url.scheme = "http",
        user_agent.original = %user_agent,
        http.response.status_code = Empty,
        error.type = Empty,
    );
    propagation::set_parent_from(&span, req.headers());
    req.extensions_mut().insert(metrics.clone());

    let response = next.run(req).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", status.as_str());
    }
    let sse = is_event_stream(response.headers()).then(|| metrics.sse_stream_opened());
    let finish = Finish {
        metrics,
        method,
        route: route.unwrap_or_else(|| UNMATCHED.to_owned()),
        status,
        started,
        _span: span,
        _sse: sse,
    };
    response.map(|inner| {
        Body::new(ObservedBody {
            inner,
            finish: Some(finish),
        })
    })
}

/// What to record once the response is over; holds the span open until then.
struct Finish {
    metrics: HttpMetrics,
    method: &'static str,
    route: String,
    status: StatusCode,
    started: Instant,
    _span: tracing::Span,
    _sse: Option<SseStreamGuard>,
}

impl Finish {
    fn record(self) {
        self.metrics.record_request(
            self.method,
            &self.route,
            self.status.as_u16(),
            self.started.elapsed().as_secs_f64(),
        );
    }
}

/// A response body that records [`Finish`] after its last frame, or when dropped early.
struct ObservedBody {
    inner: Body,
    finish: Option<Finish>,
}

impl ObservedBody {
    fn done(&mut self) {
        if let Some(finish) = self.finish.take() {
            finish.record();
        }
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            this.done();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.done();
    }
}

/// `GET /metrics`, listed in the route table like every other route.
pub(crate) fn metrics_route() -> Route {
    Route::new("metrics", Method::GET, "/metrics", get(metrics_handler))
}

/// The facade's families, then the core's; the core checks the key (401 when wrong).
async fn metrics_handler(
    State(state): State<AppState>,
    http: Option<Extension<HttpMetrics>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let core = state
        .discovery
        .clone()
        .get_metrics(grpc_request(&headers, GetMetricsRequest {})?)
        .await?;
    let facade = http
        .map(|Extension(http)| http.encode())
        .unwrap_or_default();
    let text = metrics::join_expositions([facade.as_str(), core.get_ref().text.as_str()]);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(
            method_label(&Method::from_bytes(b"BREW").unwrap()),
            "_OTHER"
        );
        assert_eq!(
            span_name("POST", Some("/v1/chat/completions")),
            "POST /v1/chat/completions"
        );
        assert_eq!(span_name("GET", None), "GET");
    }

    #[tokio::test]
    async fn body_records_once_after_the_last_frame() {
        use http_body_util::BodyExt;
        let metrics = HttpMetrics::new();
        let body = ObservedBody {
            inner: Body::from("hello"),
            finish: Some(Finish {
                metrics: metrics.clone(),
                method: "GET",
                route: "/x".into(),
                status: StatusCode::OK,
                started: Instant::now(),
                _span: tracing::Span::none(),
                _sse: Some(metrics.sse_stream_opened()),
            }),
        };
        assert_eq!(metrics.sse_streams_open(), 1);
        let bytes = body.collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
        assert_eq!(metrics.sse_streams_open(), 0);
        let text = metrics.encode();
        assert!(
            text.contains(
                "http_server_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 1"
            ),
            "{text}"
        );
    }
}
