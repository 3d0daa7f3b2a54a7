//! The agent: one turn = the system prompt, the history and the new input sent upstream with the
//! tool schemas; tool calls executed (concurrently when several) and their results appended, until
//! an answer without tool calls or `max_iterations` (then one last call without tools). Every
//! message of the turn is persisted as it happens. Progress goes out as [`TurnEvent`]s on a
//! channel so each route (chat, responses, session chat, runs) renders its own wire format.

mod history;
mod prompt;
mod prompt_cache;
mod turn;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use history::{
    derived_session_id, record_to_message, validate_session_id, validate_session_key,
};
pub use prompt::{CORE_PERSONA, system_prompt};

use crate::approvals::ApprovalGate;
use crate::config::Config;
use crate::error::Error;
use crate::llm::{Message, SharedTools, ToolCall, ToolDefinition, UpstreamClient, Usage};
use crate::state::Gauges;
use crate::store::Store;
use crate::telemetry::genai;
use crate::tools::ToolRegistry;

/// The new input of a turn.
#[derive(Debug, Clone)]
pub enum TurnInput {
    /// A user message (text or parts).
    User(Message),
    /// Results of client-declared tool calls from the previous turn (`tool` messages).
    ToolResults(Vec<Message>),
}

/// Sampling and tool options passed through to the upstream.
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stop: Option<serde_json::Value>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub response_format: Option<serde_json::Value>,
    pub user: Option<String>,
    pub tool_choice: Option<serde_json::Value>,
    pub parallel_tool_calls: Option<bool>,
}

/// Everything one turn needs from its route.
pub struct TurnRequest {
    /// Where the turn is stored (created on first use).
    pub session_id: String,
    /// `X-Hermes-Session-Key`: scopes memory.
    pub session_key: Option<String>,
    /// The client's `model`: a `model_routes` alias selects that upstream.
    pub requested_model: Option<String>,
    /// Client system text (and the session's own system prompt), layered on the agent's prompt.
    pub system_text: Option<String>,
    /// Earlier conversation, oldest first, without system messages.
    pub history: Vec<Message>,
    /// The new input.
    pub input: TurnInput,
    /// Client-declared function tools: when the model calls one, the turn ends and the call goes
    /// back to the client.
    pub client_tools: Vec<ToolDefinition>,
    /// Upstream options.
    pub sampling: Sampling,
    /// The approval channel of the route.
    pub approvals: Arc<dyn ApprovalGate>,
}

/// Progress of a turn, in order.
#[derive(Debug, Clone)]
pub enum TurnEvent {
    /// Answer text as the upstream produces it ("\n\n" starts the text after a tool round).
    TextDelta(String),
    /// A server tool started.
    ToolStarted {
        call_id: String,
        name: String,
        preview: String,
        arguments: serde_json::Value,
    },
    /// A server tool finished.
    ToolCompleted {
        call_id: String,
        name: String,
        duration: Duration,
        error: Option<String>,
    },
}

/// How a turn ended.
#[derive(Debug)]
pub struct TurnOutcome {
    /// All answer text relayed to the client.
    pub content: String,
    /// `stop`, `length`, `tool_calls` or `error`.
    pub finish_reason: String,
    /// Summed over every upstream call of the turn.
    pub usage: Usage,
    /// Client tool calls the client must answer (finish reason `tool_calls`).
    pub client_tool_calls: Vec<ToolCall>,
    /// Set when the turn failed; `content` may still hold partial text.
    pub error: Option<Error>,
}

impl TurnOutcome {
    /// The error to report when the turn failed before producing any text: the upstream's own
    /// (502/504), else `agent_incomplete`.
    pub fn into_error_if_empty(self) -> Result<TurnOutcome, Error> {
        match self.error {
            Some(error) if self.content.is_empty() && self.client_tool_calls.is_empty() => {
                Err(error)
            }
            _ => Ok(self),
        }
    }
}

/// The error a client sees for a turn that failed before producing any output: request,
/// upstream (502/504), availability and cancellation errors keep their meaning; any other fault
/// is reported as 502 `agent_incomplete` (and logged).
pub fn failure_without_output(error: Error) -> Error {
    match error {
        Error::InvalidArgument { .. }
        | Error::BadGateway { .. }
        | Error::Timeout { .. }
        | Error::Unavailable { .. }
        | Error::RateLimited { .. }
        | Error::NotFound { .. }
        | Error::Cancelled => error,
        other => {
            tracing::warn!(error = %other, "agent turn failed without output");
            Error::BadGateway {
                code: "agent_incomplete",
                message: "The agent could not complete this turn".into(),
            }
        }
    }
}

/// The shared agent: upstream client, tools, store. One per process.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    store: Store,
    upstream: UpstreamClient,
    tools: ToolRegistry,
    /// The server tools' definitions, encoded once for every upstream request.
    server_tools: Arc<SharedTools>,
    /// The skills index and memory snapshots, re-read only when their files change.
    prompts: prompt_cache::PromptCache,
    gauges: Arc<Gauges>,
}

impl Agent {
    /// Builds the agent from configuration. Upstream requests carry the W3C trace context of
    /// their `chat` span (`traceparent`), so the provider's traces join ours.
    pub fn new(config: Arc<Config>, store: Store, gauges: Arc<Gauges>) -> Result<Self, Error> {
        let upstream = UpstreamClient::from_config(&config)?.with_header_hook(Arc::new(
            caduceus_observability::propagation::inject_current,
        ));
        let tools = ToolRegistry::new(&config);
        let definitions: Vec<ToolDefinition> = tools
            .definitions()
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Internal(format!("a server tool definition is invalid: {e}")))?;
        let server_tools = SharedTools::new(&definitions)
            .map_err(|e| Error::Internal(format!("cannot encode the tool definitions: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                upstream,
                tools,
                server_tools: Arc::new(server_tools),
                prompts: prompt_cache::PromptCache::default(),
                gauges,
            }),
        })
    }

    /// Fails fast (before any work) when no upstream is configured for `requested_model`.
    pub fn check_route(&self, requested_model: Option<&str>) -> Result<(), Error> {
        self.inner.upstream.resolve(requested_model).map(|_| ())
    }

    /// Runs one turn, sending progress on `events` (a closed channel is not an error: the turn
    /// still completes and is stored unless `cancel` fires). The turn is an `invoke_agent` span,
    /// a child of the current span: callers that spawn the turn wrap it in
    /// [`crate::telemetry::propagate`].
    pub async fn run_turn(
        &self,
        request: TurnRequest,
        events: mpsc::Sender<TurnEvent>,
        cancel: CancellationToken,
    ) -> TurnOutcome {
        let _active = self.inner.gauges.agent_started();
        let span = genai::invoke_agent_span(&request.session_id, &self.inner.config.model_name);
        // Boxed: every caller (unary, stream task, run, job) then holds a pointer, not the whole
        // turn state machine, and moving its future stays cheap.
        let outcome =
            Box::pin(turn::run(&self.inner, request, events, cancel).instrument(span.clone()))
                .await;
        let failure = outcome.error.as_ref().map(genai::error_type);
        genai::record_turn(
            &span,
            outcome.usage,
            &outcome.finish_reason,
            failure,
            &outcome.content,
        );
        outcome
    }
}
