//! [`HttpMetrics`]: what the REST facade records — requests by method, route template and
//! status, their latency (until the last body byte, so SSE streams count in full), and the
//! number of SSE streams open right now.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::LATENCY_BUCKETS;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
    sse_open: Gauge,
}

/// The facade's metric families; cheap to clone (one registry shared by the clones).
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    inner: Arc<Inner>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpMetrics {
    /// A fresh registry with every family registered (and empty).
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> _,
        );
        let sse_open = Gauge::default();
        registry.register(
            "http_server_requests",
            "HTTP requests served by the REST facade, by method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_server_request_duration_seconds",
            "HTTP request duration until the last response byte (SSE streams included), seconds",
            duration.clone(),
        );
        registry.register(
            "caduceus_sse_streams_open",
            "Server-sent-event responses currently streaming",
            sse_open.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                requests,
                duration,
                sse_open,
            }),
        }
    }

    /// Counts one finished request. `route` is the matched template (`/v1/runs/{id}`), never
    /// the raw path.
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status: status.to_string(),
        };
        self.inner.requests.get_or_create(&labels).inc();
        self.inner.duration.get_or_create(&labels).observe(seconds);
    }

    /// Counts an SSE stream as open until the guard drops.
    pub fn sse_stream_opened(&self) -> SseStreamGuard {
        self.inner.sse_open.inc();
        SseStreamGuard(self.inner.sse_open.clone())
    }

    /// SSE streams open now.
    pub fn sse_streams_open(&self) -> i64 {
        self.inner.sse_open.get()
    }

    /// The families as OpenMetrics text, without the `# EOF` line (see
    /// [`join_expositions`](super::join_expositions)).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.inner.registry);
        out
    }
}

/// Decrements the open-SSE gauge when dropped (stream finished or client gone).
#[derive(Debug)]
pub struct SseStreamGuard(Gauge);

impl Drop for SseStreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_requests_and_sse_streams() {
        let metrics = HttpMetrics::new();
        metrics.record_request("POST", "/v1/chat/completions", 200, 0.2);
        let guard = metrics.sse_stream_opened();
        assert_eq!(metrics.sse_streams_open(), 1);
        let text = metrics.encode();
        assert!(text.contains(
            "http_server_requests_total{method=\"POST\",route=\"/v1/chat/completions\",status=\"200\"} 1"
        ), "{text}");
        assert!(text.contains("http_server_request_duration_seconds_bucket{"));
        assert!(text.contains("caduceus_sse_streams_open 1"));
        assert!(!text.contains("# EOF"));
        drop(guard);
        assert_eq!(metrics.sse_streams_open(), 0);
    }
}
