//! The real `caduceus` binary exporting spans over OTLP/gRPC: a minimal collector (the
//! `TraceService` of `opentelemetry-proto`, served by tonic) receives them; resource attributes
//! follow the standard `OTEL_*` variables; `RUST_LOG=warn` does not stop span export; batched
//! spans are flushed on SIGTERM (exit 0); content capture puts the prompt on the `chat` span
//! (never in a log line); `LOG_FORMAT=json` logs are JSON; the keys appear nowhere.

use std::io::Read;
use std::time::{Duration, Instant};

use caduceus_tests::binary::Server;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::json;
use tokio::sync::mpsc;

use super::support::UPSTREAM_KEY;

const KEY: &str = "otlp-test-key-0123456789abcdef";
const MARKER: &str = "captured-prompt-91ae";

struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let _ = self.0.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Starts the collector; returns its endpoint and what it receives.
async fn start_collector() -> (String, mpsc::UnboundedReceiver<ExportTraceServiceRequest>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(tx)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (endpoint, rx)
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn find(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| text(kv.value.as_ref()))
}

/// A received span, flattened.
struct Received {
    name: String,
    trace_id: Vec<u8>,
    attributes: Vec<KeyValue>,
    resource: Vec<KeyValue>,
}

fn flatten(requests: &[ExportTraceServiceRequest]) -> Vec<Received> {
    let mut out = Vec::new();
    for request in requests {
        for resource_spans in &request.resource_spans {
            let resource = resource_spans
                .resource
                .as_ref()
                .map(|r| r.attributes.clone())
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in &scope.spans {
                    out.push(Received {
                        name: span.name.clone(),
                        trace_id: span.trace_id.clone(),
                        attributes: span.attributes.clone(),
                        resource: resource.clone(),
                    });
                }
            }
        }
    }
    out
}

// Multi-threaded: the collector must keep serving while `terminate` blocks this thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_spans_over_otlp() {
    let (endpoint, mut received) = start_collector().await;
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("exported").with_usage(5, 1));
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        format!(
            "model:\n  provider: custom\n  base_url: {}\n  default: fake-model\n  api_key: {UPSTREAM_KEY}\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let home_text = home.path().display().to_string();
    let mut server = Server::start(&[
        ("HERMES_HOME", &home_text),
        ("API_SERVER_KEY", KEY),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        // Batches leave only on shutdown: the guard's flush is what delivers them.
        ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=e2e",
        ),
        ("CADUCEUS_CAPTURE_CONTENT", "true"),
        // A quiet log must not break traces (the OpenTelemetry layer has its own filter).
        ("RUST_LOG", "warn"),
        ("LOG_FORMAT", "json"),
    ])
    .await;
    // Drain stderr so the child never blocks on a full pipe.
    let mut stderr = server.child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.base()))
        .bearer_auth(KEY)
        .json(&json!({"messages": [{"role": "user", "content": MARKER}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        received.try_recv().is_err(),
        "nothing is exported before the flush"
    );
    let status = server.terminate(Duration::from_secs(20));
    let logs = logs.join().unwrap();
    assert!(status.success(), "exit status {status:?}: {logs}");

    let wanted = [
        "POST /v1/chat/completions",
        "caduceus.v1.ChatService/CreateChatCompletion",
        "invoke_agent",
        "chat fake-model",
    ];
    let mut requests = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !wanted
        .iter()
        .all(|name| flatten(&requests).iter().any(|s| s.name == *name))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, received.recv()).await {
            Ok(Some(request)) => requests.push(request),
            _ => {
                let names: Vec<String> = flatten(&requests).into_iter().map(|s| s.name).collect();
                panic!("spans were not flushed on shutdown; got {names:?}; logs: {logs}");
            }
        }
    }
    let spans = flatten(&requests);
    let chat = spans.iter().find(|s| s.name == "chat fake-model").unwrap();
    let http = spans
        .iter()
        .find(|s| s.name == "POST /v1/chat/completions")
        .unwrap();
    assert_eq!(chat.trace_id, http.trace_id, "one trace");
    assert_eq!(
        find(&chat.resource, "service.name").as_deref(),
        Some("caduceus")
    );
    assert_eq!(
        find(&chat.resource, "deployment.environment.name").as_deref(),
        Some("e2e")
    );
    assert_eq!(
        find(&chat.attributes, "gen_ai.usage.input_tokens").as_deref(),
        Some("5")
    );
    let input = find(&chat.attributes, "gen_ai.input.messages").expect("content capture on");
    assert!(input.contains(MARKER), "{input}");
    let upstream_trace = fake.requests()[0].header("traceparent").unwrap().to_owned();
    assert!(
        upstream_trace.contains(&hex(&chat.trace_id)),
        "{upstream_trace}"
    );

    for line in logs.lines().filter(|line| !line.trim().is_empty()) {
        let parsed: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    assert!(logs.contains("content capture is on"), "{logs}");
    assert!(
        !logs.contains(MARKER),
        "captured content goes to spans, never to log lines"
    );
    for secret in [KEY, UPSTREAM_KEY] {
        assert!(!logs.contains(secret), "a log line leaks a key");
        for span in &spans {
            for kv in span.attributes.iter().chain(&span.resource) {
                assert!(
                    !text(kv.value.as_ref()).contains(secret),
                    "{} leaks a key",
                    span.name
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
