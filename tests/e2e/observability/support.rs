//! Shared helpers of the observability tests: the test binary's one global subscriber
//! ([`capture`]: OpenTelemetry layer over an in-memory exporter, log lines into a buffer), span
//! lookups by trace id, attribute accessors, and a config pointing at the fake upstream with an
//! upstream API key.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use caduceus_tests::app::TestOptions;
use caduceus_tests::fake_upstream::FakeUpstream;
use opentelemetry::trace::SpanId;
use opentelemetry::{Key, Value as OtelValue};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The upstream key configured in these tests; must never be recorded anywhere.
pub const UPSTREAM_KEY: &str = "sk-upstream-secret-6d1f0a9e";

/// A prompt marker: message contents must not be recorded while content capture is off.
pub const PROMPT_MARKER: &str = "prompt-marker-7c2b";

/// Log lines written by every test of this binary.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// What the global subscriber collected.
pub struct Capture {
    pub spans: InMemorySpanExporter,
    pub logs: LogBuffer,
    _provider: SdkTracerProvider,
}

/// Installs the test binary's subscriber once and returns what it collects.
pub fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let provider = caduceus_observability::tracer_provider_with_exporter(spans.clone());
        let logs = LogBuffer::default();
        let log_layer = tracing_subscriber::fmt::layer()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_filter(EnvFilter::new(
                "info,caduceus_service=debug,caduceus_rest=debug",
            ));
        let subscriber = tracing_subscriber::registry()
            .with(caduceus_observability::otel_layer(&provider))
            .with(log_layer);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other test installs a global subscriber");
        Capture {
            spans,
            logs,
            _provider: provider,
        }
    })
}

/// Finished spans of `trace_id` (hex).
pub fn spans_of(trace_id: &str) -> Vec<SpanData> {
    capture()
        .spans
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|span| span.span_context.trace_id().to_string() == trace_id)
        .collect()
}

/// Waits until the trace holds a span with each of `names`; panics with what it has otherwise.
pub async fn wait_for_spans(trace_id: &str, names: &[&str]) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = spans_of(trace_id);
        if names
            .iter()
            .all(|name| spans.iter().any(|span| span.name == *name))
        {
            return spans;
        }
        if Instant::now() > deadline {
            let have: Vec<&str> = spans.iter().map(|span| span.name.as_ref()).collect();
            panic!("trace {trace_id}: expected {names:?}, have {have:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The one span called `name`.
pub fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found: Vec<&SpanData> = spans.iter().filter(|span| span.name == name).collect();
    assert_eq!(found.len(), 1, "exactly one {name} span");
    found[0]
}

/// An attribute's value.
pub fn attr(span: &SpanData, key: &str) -> Option<OtelValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == Key::new(key.to_owned()))
        .map(|kv| kv.value.clone())
}

/// A string attribute.
pub fn attr_str(span: &SpanData, key: &str) -> String {
    attr(span, key)
        .map(|value| value.as_str().into_owned())
        .unwrap_or_else(|| panic!("{} lacks {key}: {:?}", span.name, span.attributes))
}

/// An integer attribute.
pub fn attr_i64(span: &SpanData, key: &str) -> i64 {
    match attr(span, key) {
        Some(OtelValue::I64(value)) => value,
        other => panic!("{} {key} = {other:?}", span.name),
    }
}

pub fn span_id(span: &SpanData) -> SpanId {
    span.span_context.span_id()
}

/// `(trace id, parent span id)` of a `traceparent` header.
pub fn parse_traceparent(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00");
    (parts[1].to_owned(), parts[2].to_owned())
}

/// Config pointing at `fake` with an upstream API key.
pub fn options(fake: &FakeUpstream) -> TestOptions {
    TestOptions {
        config_yaml: Some(format!(
            "model:\n  provider: custom\n  base_url: {}\n  default: fake-model\n  api_key: {UPSTREAM_KEY}\n  read_timeout: 5\n",
            fake.base_url()
        )),
        ..TestOptions::default()
    }
}
