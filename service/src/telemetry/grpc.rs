//! The gRPC server span and metrics, as a middleware on the gRPC router (inside gRPC-Web, so
//! browser calls are seen as plain gRPC; outside authentication, so refused calls count too).
//!
//! Span `caduceus.v1.<Service>/<Method>` (kind server; `rpc.system`, `rpc.service`,
//! `rpc.method`, `rpc.grpc.status_code`) adopts the caller's `traceparent` metadata as its parent
//! — the facade's HTTP span, or any gRPC client's — and lives until the response's trailers, so a
//! server stream's span covers the whole stream. The status code is read from the trailers (or
//! the headers of a trailers-only answer); a stream the client drops counts as `CANCELLED`.
//! Method labels are limited to the served methods; anything else is `_OTHER`.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use caduceus_observability::metrics::CoreMetrics;
use caduceus_observability::propagation;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use tracing::Instrument;
use tracing::field::Empty;

use super::{RequestTiming, with_timing};
use crate::discovery::methods::caduceus_methods;

/// Label of a method this server does not serve.
const OTHER: &str = "_OTHER";

/// Standard services served next to `caduceus.v1`.
const STANDARD_METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// The middleware's state: the metric families and the set of served method paths.
#[derive(Clone)]
pub struct GrpcTelemetry {
    metrics: CoreMetrics,
    known: Arc<HashSet<String>>,
}

impl GrpcTelemetry {
    /// Observes requests into `metrics`.
    pub fn new(metrics: CoreMetrics) -> Self {
        let known = caduceus_methods()
            .into_iter()
            .map(|method| method.path)
            .chain(STANDARD_METHODS.iter().map(|path| (*path).to_owned()))
            .collect();
        Self {
            metrics,
            known: Arc::new(known),
        }
    }

    /// `(service, method)` of a served path, else `(_OTHER, _OTHER)`.
    fn classify(&self, path: &str) -> (String, String) {
        if self.known.contains(path)
            && let Some((service, method)) = path.trim_start_matches('/').split_once('/')
        {
            return (service.to_owned(), method.to_owned());
        }
        (OTHER.to_owned(), OTHER.to_owned())
    }
}

/// The canonical name of a gRPC status code (`OK`, `UNAVAILABLE`…).
pub fn code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// Codes that mark a server span as failed (RPC semantic conventions): the server's fault, not
/// the caller's.
fn is_server_error(code: i32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// `grpc-status` of a header or trailer map.
fn status_of(headers: &HeaderMap) -> Option<i32> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.trim().parse().ok())
}

/// Middleware: span, request timer, and metrics when the response is over.
pub async fn observe(State(telemetry): State<GrpcTelemetry>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (service, method) = telemetry.classify(req.uri().path());
    let name = if service == OTHER {
        OTHER.to_owned()
    } else {
        format!("{service}/{method}")
    };
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %name,
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
        rpc.grpc.status_code = Empty,
        error.type = Empty,
    );
    propagation::set_parent_from(&span, req.headers());
    let timing = Arc::new(RequestTiming::default());
    let response = with_timing(timing.clone(), next.run(req))
        .instrument(span.clone())
        .await;
    let finish = Finish {
        metrics: telemetry.metrics,
        service,
        method,
        header_code: status_of(response.headers()),
        started,
        timing,
        span,
    };
    response.map(|inner| {
        Body::new(ObservedBody {
            inner,
            finish: Some(finish),
        })
    })
}

/// What to record when the call is over; holds the span open until then.
struct Finish {
    metrics: CoreMetrics,
    service: String,
    method: String,
    header_code: Option<i32>,
    started: Instant,
    timing: Arc<RequestTiming>,
    span: tracing::Span,
}

impl Finish {
    fn record(self, code: i32) {
        let elapsed = self.started.elapsed();
        let name = code_name(code);
        self.span.record("rpc.grpc.status_code", i64::from(code));
        if is_server_error(code) {
            self.span.record("otel.status_code", "ERROR");
            self.span.record("error.type", name);
        }
        self.metrics
            .record_grpc(&self.service, &self.method, name, elapsed.as_secs_f64());
        if let Some(upstream) = self.timing.upstream() {
            self.metrics.record_overhead(
                &self.service,
                &self.method,
                elapsed.saturating_sub(upstream).as_secs_f64(),
            );
        }
    }
}

/// The response body, watched for the trailers (or its end, or being dropped).
struct ObservedBody {
    inner: Body,
    finish: Option<Finish>,
}

impl ObservedBody {
    fn done(&mut self, code: Option<i32>) {
        if let Some(finish) = self.finish.take() {
            // No trailers and no status header: the stream ended abnormally.
            let code = code.or(finish.header_code).unwrap_or(2);
            finish.record(code);
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
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    let code = status_of(trailers);
                    this.done(code);
                } else if this.inner.is_end_stream() {
                    this.done(None);
                }
            }
            Poll::Ready(Some(Err(_))) => this.done(Some(13)),
            Poll::Ready(None) => this.done(None),
            Poll::Pending => {}
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
        // Dropped before the end: the client went away (unless the status was in the headers).
        if let Some(finish) = self.finish.take() {
            let code = finish.header_code.unwrap_or(1);
            finish.record(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_served_methods_only() {
        let telemetry = GrpcTelemetry::new(CoreMetrics::new());
        assert_eq!(
            telemetry.classify("/caduceus.v1.ChatService/CreateChatCompletion"),
            (
                "caduceus.v1.ChatService".to_owned(),
                "CreateChatCompletion".to_owned()
            )
        );
        assert_eq!(
            telemetry.classify("/grpc.health.v1.Health/Check").1,
            "Check"
        );
        assert_eq!(telemetry.classify("/evil.Service/Random123").0, OTHER);
        assert_eq!(telemetry.classify("/nonsense").0, OTHER);
    }

    #[test]
    fn code_names_and_server_errors() {
        assert_eq!(code_name(0), "OK");
        assert_eq!(code_name(16), "UNAUTHENTICATED");
        assert_eq!(code_name(99), "UNKNOWN");
        assert!(is_server_error(14));
        assert!(!is_server_error(3));
        assert!(!is_server_error(16));
    }
}
