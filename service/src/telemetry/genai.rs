//! GenAI semantic conventions for the agent: the `invoke_agent` span around a turn, the
//! `execute_tool {name}` span around each server tool call, and [`CallTimer`], which turns one
//! upstream call into the `gen_ai_client_*` metrics, `caduceus_upstream_errors_total` and the
//! request's upstream time. (The `chat {model}` client span itself lives in `llm/client.rs`.)
//!
//! Message contents (final answer, tool arguments and results) are attached only when content
//! capture is on, as OpenTelemetry attributes — never as `tracing` fields, so never in logs.

use std::future::Future;
use std::time::{Duration, Instant};

use caduceus_observability::content;
use caduceus_observability::metrics::{CoreMetrics, GenAiCall};
use tracing::Span;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::Error;
use crate::llm::{AssistantTurn, Route, UpstreamError, Usage};

/// `gen_ai.operation.name` of every upstream call the agent makes.
const CHAT: &str = "chat";

/// The span of one agent turn; `conversation_id` is the session id.
pub fn invoke_agent_span(conversation_id: &str, agent_name: &str) -> Span {
    tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent",
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = %agent_name,
        gen_ai.conversation.id = %conversation_id,
        gen_ai.provider.name = Empty,
        gen_ai.request.model = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.response.finish_reasons = Empty,
        error.type = Empty,
    )
}

/// Records the resolved upstream on the current `invoke_agent` span.
pub fn record_route(route: &Route) {
    let span = Span::current();
    span.record("gen_ai.request.model", route.model());
    if let Some(target) = route.primary() {
        span.record("gen_ai.provider.name", target.provider.as_str());
    }
}

/// Records how a turn ended on its `invoke_agent` span.
pub fn record_turn(
    span: &Span,
    usage: Usage,
    finish_reason: &str,
    failure: Option<&str>,
    content_text: &str,
) {
    // As i64: OpenTelemetry has no unsigned attributes (u64 would become text).
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    span.record("gen_ai.usage.input_tokens", tokens(usage.prompt_tokens));
    span.record(
        "gen_ai.usage.output_tokens",
        tokens(usage.completion_tokens),
    );
    span.record("gen_ai.response.finish_reasons", finish_reason);
    if let Some(kind) = failure {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", kind);
    }
    capture(span, "gen_ai.output.messages", || {
        let part = serde_json::json!({"type": "text", "content": content_text});
        serde_json::json!([{"role": "assistant", "parts": [part], "finish_reason": finish_reason}])
            .to_string()
    });
}

/// The span of one server tool call.
pub fn execute_tool_span(name: &str, call_id: &str) -> Span {
    tracing::info_span!(
        "execute_tool",
        otel.name = %format!("execute_tool {name}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %name,
        gen_ai.tool.call.id = %call_id,
        gen_ai.tool.type = "function",
        error.type = Empty,
    )
}

/// Records a tool call's outcome on its span and in the metrics. Unknown tool names (the model
/// may invent any) are counted as `_OTHER` so the label stays bounded.
pub fn record_tool(
    span: &Span,
    metrics: &CoreMetrics,
    name: &str,
    ok: bool,
    arguments: &str,
    result: &str,
) {
    if !ok {
        span.record("otel.status_code", "ERROR");
        span.record("error.type", "tool_error");
    }
    let label = if crate::tools::is_implemented(name) {
        name
    } else {
        "_OTHER"
    };
    metrics.record_tool_call(label, ok);
    capture(span, "gen_ai.tool.call.arguments", || arguments.to_owned());
    capture(span, "gen_ai.tool.call.result", || result.to_owned());
}

/// Sets `key` to the content `text()` on `span` when content capture is on (bounded length).
pub fn capture(span: &Span, key: &'static str, text: impl FnOnce() -> String) {
    if content::enabled() {
        span.set_attribute(key, content::bounded(&text()));
    }
}

/// `error.type` of a failed turn: the API error code (`upstream_unavailable`,
/// `upstream_timeout`…), `cancelled`, or `internal_error`.
pub fn error_type(error: &Error) -> &'static str {
    match error {
        Error::InvalidArgument { code, .. }
        | Error::NotFound { code, .. }
        | Error::Conflict { code, .. }
        | Error::Unavailable { code, .. }
        | Error::BadGateway { code, .. }
        | Error::Timeout { code, .. } => code,
        Error::Cancelled => "cancelled",
        Error::RateLimited { .. } => "rate_limit_exceeded",
        Error::Unauthenticated => "invalid_api_key",
        Error::Unimplemented(_) => "not_implemented",
        Error::Internal(_) => "internal_error",
    }
}

/// The `kind` label of an upstream failure.
pub fn upstream_error_kind(error: &UpstreamError) -> &'static str {
    match error {
        UpstreamError::Unreachable(_) => "unreachable",
        UpstreamError::Timeout => "timeout",
        UpstreamError::Rejected { .. } => "rejected",
        UpstreamError::RateLimited => "rate_limited",
        UpstreamError::Server { .. } => "server_error",
        UpstreamError::Protocol(_) => "protocol",
        UpstreamError::Reported { .. } => "reported",
    }
}

/// Times one upstream call: the time spent waiting on the upstream (opening the call and each
/// wait for the next streamed event — not the time relaying events to the client) and the
/// outcome, recorded once by [`CallTimer::finish`].
pub struct CallTimer {
    metrics: CoreMetrics,
    started: Instant,
    waited: Duration,
    provider: String,
    request_model: String,
    response_model: Option<String>,
    failure: Option<&'static str>,
}

impl CallTimer {
    /// Starts timing a call along `route`.
    pub fn start(metrics: &CoreMetrics, route: &Route) -> Self {
        Self {
            metrics: metrics.clone(),
            started: Instant::now(),
            waited: Duration::ZERO,
            provider: route
                .primary()
                .map(|target| target.provider.clone())
                .unwrap_or_default(),
            request_model: route.model().to_owned(),
            response_model: None,
            failure: None,
        }
    }

    /// Awaits `future`, counting the time as upstream waiting.
    pub async fn wait<F: Future>(&mut self, future: F) -> F::Output {
        let started = Instant::now();
        let output = future.await;
        self.waited += started.elapsed();
        output
    }

    /// The provider and model that answered (after fallbacks).
    pub fn answered_by(&mut self, provider: &str, model: &str) {
        provider.clone_into(&mut self.provider);
        self.response_model = Some(model.to_owned());
    }

    /// Notes the upstream failure that ends the call.
    pub fn failed(&mut self, error: &UpstreamError) {
        self.failure = Some(upstream_error_kind(error));
    }

    /// Records the metrics and the request's upstream time. A call that neither answered nor
    /// failed upstream was cancelled by the client.
    pub fn finish(self, answer: Option<&AssistantTurn>) {
        super::record_upstream_wait(self.waited);
        let call = GenAiCall {
            operation: CHAT,
            provider: &self.provider,
            request_model: &self.request_model,
            response_model: self
                .response_model
                .as_deref()
                .unwrap_or(&self.request_model),
        };
        let usage = answer
            .and_then(|turn| turn.usage)
            .map(|usage| (usage.prompt_tokens, usage.completion_tokens));
        let error_type = match (answer, self.failure) {
            (Some(_), _) => None,
            (None, Some(kind)) => Some(kind),
            (None, None) => Some("cancelled"),
        };
        if let (None, Some(kind)) = (answer, self.failure) {
            self.metrics.record_upstream_error(&self.provider, kind);
        }
        self.metrics.record_gen_ai_call(
            call,
            self.started.elapsed().as_secs_f64(),
            usage,
            error_type,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_are_bounded_labels() {
        assert_eq!(upstream_error_kind(&UpstreamError::Timeout), "timeout");
        assert_eq!(
            upstream_error_kind(&UpstreamError::Server { status: 503 }),
            "server_error"
        );
        assert_eq!(
            upstream_error_kind(&UpstreamError::Rejected {
                status: 400,
                message: "secret-free".into()
            }),
            "rejected"
        );
    }
}
