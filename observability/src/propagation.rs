//! W3C trace context (`traceparent` / `tracestate`) in and out of HTTP headers and gRPC
//! metadata: a server span adopts the caller's context as its parent ([`set_parent_from`]); an
//! outgoing call carries the current span's context ([`inject_current`], [`current_headers`]).
//! Only these two headers are read or written — never `Authorization` or anything else.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Collects what the propagator writes.
struct Pairs(Vec<(String, String)>);

impl Injector for Pairs {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// The caller's context from `traceparent` / `tracestate`, when they hold a valid one.
pub fn remote_context(headers: &HeaderMap) -> Option<Context> {
    let context = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &HeaderExtractor(headers));
    context.span().span_context().is_valid().then_some(context)
}

/// Makes `span` a child of the caller's trace when `headers` carry a valid `traceparent`
/// (call right after creating the span, before it is entered); otherwise the span keeps its
/// local parent, or starts a new trace. Returns whether a remote parent was adopted.
pub fn set_parent_from(span: &tracing::Span, headers: &HeaderMap) -> bool {
    match remote_context(headers) {
        Some(parent) => span.set_parent(parent).is_ok(),
        None => false,
    }
}

/// The current trace context: the innermost exported span (a span that only the log layer sees
/// does not hide its exported parent).
fn current_context() -> Context {
    let from_span = tracing::Span::current().context();
    if from_span.span().span_context().is_valid() {
        from_span
    } else {
        Context::current()
    }
}

/// `traceparent` (and `tracestate` when not empty) for the current span; empty outside any
/// traced span.
pub fn current_headers() -> Vec<(String, String)> {
    let context = current_context();
    if !context.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut pairs = Pairs(Vec::new());
    TraceContextPropagator::new().inject_context(&context, &mut pairs);
    pairs.0.retain(|(_, value)| !value.is_empty());
    pairs.0
}

/// Writes the current span's `traceparent` / `tracestate` into outgoing HTTP headers, replacing
/// any already there; leaves `headers` alone outside any traced span.
pub fn inject_current(headers: &mut HeaderMap) {
    for (key, value) in current_headers() {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(name, value);
        }
    }
}

/// The 32-hex-digit trace id of `span`, when it is traced (logs, tests).
pub fn trace_id(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_only_valid_traceparents() {
        let mut headers = HeaderMap::new();
        assert!(remote_context(&headers).is_none());
        headers.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let context = remote_context(&headers).unwrap();
        let span = context.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(span.span_context().is_remote());
        headers.insert("traceparent", HeaderValue::from_static("00-zz-yy-01"));
        assert!(remote_context(&headers).is_none());
    }

    #[test]
    fn nothing_is_injected_outside_a_traced_span() {
        let mut headers = HeaderMap::new();
        inject_current(&mut headers);
        assert!(headers.is_empty());
        assert!(current_headers().is_empty());
    }
}
