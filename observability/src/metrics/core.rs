//! [`CoreMetrics`]: what the core records — gRPC requests by method and status code with their
//! latency, the GenAI client metrics of the semantic conventions (`gen_ai.client.token.usage`,
//! `gen_ai.client.operation.duration`), upstream errors by kind, tool calls, agents and runs
//! in flight, and the gateway's own overhead (request time minus time waiting on the upstream).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::LATENCY_BUCKETS;

/// `gen_ai.client.token.usage` buckets from the GenAI semantic conventions.
const TOKEN_BUCKETS: &[f64] = &[
    1.0,
    4.0,
    16.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// `gen_ai.client.operation.duration` buckets from the GenAI semantic conventions.
const OPERATION_BUCKETS: &[f64] = &[
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/// Overhead buckets: sub-millisecond to a minute (tools count as overhead).
const OVERHEAD_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrpcLabels {
    grpc_service: String,
    grpc_method: String,
    grpc_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    grpc_service: String,
    grpc_method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    gen_ai_operation_name: String,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_response_model: String,
    gen_ai_token_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    gen_ai_operation_name: String,
    gen_ai_provider_name: String,
    gen_ai_request_model: String,
    gen_ai_response_model: String,
    error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamErrorLabels {
    provider: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    outcome: String,
}

/// One upstream LLM call, as the GenAI metrics label it.
#[derive(Debug, Clone, Copy)]
pub struct GenAiCall<'a> {
    /// `gen_ai.operation.name`, e.g. `chat`.
    pub operation: &'a str,
    /// `gen_ai.provider.name`: the configured provider (`openai`, `openrouter`, `custom`…).
    pub provider: &'a str,
    /// `gen_ai.request.model`.
    pub request_model: &'a str,
    /// `gen_ai.response.model` (the model that answered, after fallbacks).
    pub response_model: &'a str,
}

fn histogram(buckets: &'static [f64]) -> Histogram {
    Histogram::new(buckets.iter().copied())
}

fn latency() -> Histogram {
    histogram(LATENCY_BUCKETS)
}

fn tokens() -> Histogram {
    histogram(TOKEN_BUCKETS)
}

fn operation() -> Histogram {
    histogram(OPERATION_BUCKETS)
}

fn overhead() -> Histogram {
    histogram(OVERHEAD_BUCKETS)
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    grpc_handled: Family<GrpcLabels, Counter>,
    grpc_seconds: Family<GrpcLabels, Histogram>,
    token_usage: Family<TokenLabels, Histogram>,
    operation_duration: Family<OperationLabels, Histogram>,
    upstream_errors: Family<UpstreamErrorLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    overhead: Family<MethodLabels, Histogram>,
    active_agents: Gauge,
    active_runs: Gauge,
}

/// The core's metric families; cheap to clone (one registry shared by the clones).
#[derive(Debug, Clone)]
pub struct CoreMetrics {
    inner: Arc<Inner>,
}

impl Default for CoreMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CoreMetrics {
    /// A fresh registry with every family registered.
    pub fn new() -> Self {
        let mut r = Registry::default();
        let grpc_handled = Family::<GrpcLabels, Counter>::default();
        let grpc_seconds =
            Family::<GrpcLabels, Histogram>::new_with_constructor(latency as fn() -> _);
        let token_usage =
            Family::<TokenLabels, Histogram>::new_with_constructor(tokens as fn() -> _);
        let operation_duration =
            Family::<OperationLabels, Histogram>::new_with_constructor(operation as fn() -> _);
        let upstream_errors = Family::<UpstreamErrorLabels, Counter>::default();
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let overhead =
            Family::<MethodLabels, Histogram>::new_with_constructor(overhead as fn() -> _);
        let active_agents = Gauge::default();
        let active_runs = Gauge::default();
        let started = Gauge::<f64, AtomicU64>::default();
        started.set(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default(),
        );
        r.register(
            "grpc_server_handled",
            "gRPC requests completed, by service, method and status code",
            grpc_handled.clone(),
        );
        r.register(
            "grpc_server_handling_seconds",
            "gRPC request duration until the last response message (streams included), seconds",
            grpc_seconds.clone(),
        );
        r.register(
            "gen_ai_client_token_usage",
            "Tokens used per upstream LLM call, by token type (input, output)",
            token_usage.clone(),
        );
        r.register(
            "gen_ai_client_operation_duration_seconds",
            "Upstream LLM call duration, from the request to the end of the streamed answer, \
             seconds",
            operation_duration.clone(),
        );
        r.register(
            "caduceus_upstream_errors",
            "Upstream LLM calls that failed after retries and fallbacks, by provider and kind",
            upstream_errors.clone(),
        );
        r.register(
            "caduceus_tool_calls",
            "Server tool executions, by tool and outcome (ok, error)",
            tool_calls.clone(),
        );
        r.register(
            "caduceus_gateway_overhead_seconds",
            "Request time minus time waiting on the upstream LLM (store, prompt, tools, \
             encoding), for requests that called the upstream, seconds",
            overhead.clone(),
        );
        r.register(
            "caduceus_active_agents",
            "Agent turns executing now",
            active_agents.clone(),
        );
        r.register(
            "caduceus_active_runs",
            "Runs (/v1/runs) not yet finished",
            active_runs.clone(),
        );
        r.register(
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch, seconds",
            started,
        );
        r.register(
            "caduceus_build",
            "Build information",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        Self {
            inner: Arc::new(Inner {
                registry: r,
                grpc_handled,
                grpc_seconds,
                token_usage,
                operation_duration,
                upstream_errors,
                tool_calls,
                overhead,
                active_agents,
                active_runs,
            }),
        }
    }

    /// Counts one finished gRPC request (`code` is the status name, e.g. `OK`, `UNAVAILABLE`).
    pub fn record_grpc(&self, service: &str, method: &str, code: &str, seconds: f64) {
        let labels = GrpcLabels {
            grpc_service: service.to_owned(),
            grpc_method: method.to_owned(),
            grpc_code: code.to_owned(),
        };
        self.inner.grpc_handled.get_or_create(&labels).inc();
        self.inner
            .grpc_seconds
            .get_or_create(&labels)
            .observe(seconds);
    }

    /// Records one upstream call: its duration, its token usage when the upstream reported it,
    /// and `error_type` when it failed.
    pub fn record_gen_ai_call(
        &self,
        call: GenAiCall<'_>,
        seconds: f64,
        usage: Option<(u64, u64)>,
        error_type: Option<&str>,
    ) {
        self.inner
            .operation_duration
            .get_or_create(&OperationLabels {
                gen_ai_operation_name: call.operation.to_owned(),
                gen_ai_provider_name: call.provider.to_owned(),
                gen_ai_request_model: call.request_model.to_owned(),
                gen_ai_response_model: call.response_model.to_owned(),
                error_type: error_type.unwrap_or_default().to_owned(),
            })
            .observe(seconds);
        let Some((input, output)) = usage else { return };
        for (kind, count) in [("input", input), ("output", output)] {
            self.inner
                .token_usage
                .get_or_create(&TokenLabels {
                    gen_ai_operation_name: call.operation.to_owned(),
                    gen_ai_provider_name: call.provider.to_owned(),
                    gen_ai_request_model: call.request_model.to_owned(),
                    gen_ai_response_model: call.response_model.to_owned(),
                    gen_ai_token_type: kind.to_owned(),
                })
                .observe(count as f64);
        }
    }

    /// Counts an upstream failure of `kind` (`timeout`, `rate_limited`, `server_error`…).
    pub fn record_upstream_error(&self, provider: &str, kind: &str) {
        self.inner
            .upstream_errors
            .get_or_create(&UpstreamErrorLabels {
                provider: provider.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts one server tool execution.
    pub fn record_tool_call(&self, tool: &str, ok: bool) {
        self.inner
            .tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.to_owned(),
                outcome: if ok { "ok" } else { "error" }.to_owned(),
            })
            .inc();
    }

    /// Records the gateway overhead of one request to `service`/`method`.
    pub fn record_overhead(&self, service: &str, method: &str, seconds: f64) {
        self.inner
            .overhead
            .get_or_create(&MethodLabels {
                grpc_service: service.to_owned(),
                grpc_method: method.to_owned(),
            })
            .observe(seconds.max(0.0));
    }

    /// Sets the live gauges (read from the process counters right before encoding).
    pub fn set_live(&self, active_agents: i64, active_runs: i64) {
        self.inner.active_agents.set(active_agents);
        self.inner.active_runs.set(active_runs);
    }

    /// The families as OpenMetrics text, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.inner.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_every_family() {
        let metrics = CoreMetrics::new();
        metrics.record_grpc("caduceus.v1.ChatService", "CreateChatCompletion", "OK", 0.5);
        let call = GenAiCall {
            operation: "chat",
            provider: "custom",
            request_model: "m",
            response_model: "m",
        };
        metrics.record_gen_ai_call(call, 0.3, Some((12, 4)), None);
        metrics.record_upstream_error("custom", "timeout");
        metrics.record_tool_call("terminal", true);
        metrics.record_overhead("caduceus.v1.ChatService", "CreateChatCompletion", 0.01);
        metrics.set_live(2, 1);
        let text = metrics.encode();
        for needle in [
            "grpc_server_handled_total{grpc_service=\"caduceus.v1.ChatService\",grpc_method=\"CreateChatCompletion\",grpc_code=\"OK\"} 1",
            "gen_ai_client_token_usage_sum{gen_ai_operation_name=\"chat\",gen_ai_provider_name=\"custom\",gen_ai_request_model=\"m\",gen_ai_response_model=\"m\",gen_ai_token_type=\"input\"} 12",
            "gen_ai_client_operation_duration_seconds_count{",
            "caduceus_upstream_errors_total{provider=\"custom\",kind=\"timeout\"} 1",
            "caduceus_tool_calls_total{tool=\"terminal\",outcome=\"ok\"} 1",
            "caduceus_gateway_overhead_seconds_count{",
            "caduceus_active_agents 2",
            "caduceus_active_runs 1",
            "caduceus_build_info{version=",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(needle), "{needle} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
