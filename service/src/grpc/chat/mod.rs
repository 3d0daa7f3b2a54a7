//! `caduceus.v1.ChatService`: OpenAI Chat Completions on the agent, unary and server-streaming.
//! Admission (draining, concurrency cap) and request validation happen before any work; a
//! streaming failure before the first output is a plain error status (REST: an error envelope),
//! after it an in-stream error event. Dropping the response stream cancels the turn.

mod convert;
mod stream;

use std::sync::Arc;

use caduceus_proto::v1::chat_service_server::ChatService;
use caduceus_proto::v1::{
    ChatChoice, ChatCompletionEvent, ChatMessage, ChatUsage, CreateChatCompletionRequest,
    CreateChatCompletionResponse, FunctionCall, chat_message,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use super::headers::{SessionHeaders, echo_session};
use super::streaming::BoxStream;
use crate::agent::{TurnOutcome, TurnRequest, failure_without_output, record_to_message};
use crate::approvals::NoApprovalChannel;
use crate::error::Error;
use crate::llm::{Message, Usage};
use crate::state::AppState;

/// The chat RPCs over the shared state.
#[derive(Clone)]
pub struct Chat {
    state: AppState,
}

impl Chat {
    /// A chat service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// Validates, admits and converts a request into a turn; loads stored history when the
    /// session header names a session.
    async fn prepare(
        &self,
        request: Request<CreateChatCompletionRequest>,
    ) -> Result<Prepared, Error> {
        let headers = SessionHeaders::from_metadata(request.metadata())?;
        let body = request.into_inner();
        let turn = convert::chat_turn(&body)?;
        self.state.agent.check_route(body.model.as_deref())?;
        let permit = self.state.admission.admit()?;

        let (session_id, history, system_text) = match &headers.session_id {
            Some(id) => {
                let session = self.state.store.get_session(id).await?;
                let (records, _) = self.state.store.list_messages(id, None, None).await?;
                let history: Vec<Message> = records.iter().filter_map(record_to_message).collect();
                let layered = layer(
                    session.and_then(|s| s.system_prompt).as_deref(),
                    &turn.system_text,
                );
                (id.clone(), history, layered)
            }
            None => (
                turn.derived_session_id.clone(),
                turn.history,
                turn.system_text.clone(),
            ),
        };
        let model = body
            .model
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.state.config.model_name.clone());
        Ok(Prepared {
            request: TurnRequest {
                session_id,
                session_key: headers.session_key.clone(),
                requested_model: body.model.clone(),
                system_text: (!system_text.is_empty()).then_some(system_text),
                history,
                input: turn.input,
                client_tools: turn.client_tools,
                sampling: turn.sampling,
                approvals: Arc::new(NoApprovalChannel),
            },
            model,
            include_usage: body.stream_options.is_some_and(|o| o.include_usage),
            session_key: headers.session_key,
            _permit: permit,
        })
    }
}

/// A validated, admitted turn.
struct Prepared {
    request: TurnRequest,
    model: String,
    include_usage: bool,
    session_key: Option<String>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// The session's own system prompt, then the client's system text on top.
fn layer(session_prompt: Option<&str>, client_text: &str) -> String {
    [session_prompt.unwrap_or(""), client_text]
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// OpenAI usage from the agent's.
pub(crate) fn chat_usage(usage: Usage) -> ChatUsage {
    ChatUsage {
        prompt_tokens: i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
        completion_tokens: i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
        total_tokens: i64::try_from(usage.total_tokens).unwrap_or(i64::MAX),
    }
}

/// A new `chatcmpl-…` id and the current Unix time.
pub(crate) fn completion_identity() -> (String, i64) {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
        .unwrap_or_default();
    (id, created)
}

fn final_message(outcome: &TurnOutcome) -> ChatMessage {
    let tool_calls: Vec<caduceus_proto::v1::ToolCall> = outcome
        .client_tool_calls
        .iter()
        .map(|call| caduceus_proto::v1::ToolCall {
            id: call.id.clone(),
            r#type: "function".into(),
            function: Some(FunctionCall {
                name: call.function.name.clone(),
                arguments: call.function.arguments.clone(),
            }),
        })
        .collect();
    let content = if outcome.content.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(chat_message::Content::Text(outcome.content.clone()))
    };
    ChatMessage {
        role: "assistant".into(),
        content,
        name: None,
        tool_calls,
        tool_call_id: None,
    }
}

#[tonic::async_trait]
impl ChatService for Chat {
    type StreamChatCompletionStream = BoxStream<ChatCompletionEvent>;

    async fn create_chat_completion(
        &self,
        request: Request<CreateChatCompletionRequest>,
    ) -> Result<Response<CreateChatCompletionResponse>, Status> {
        // Non-stream completions honour `Idempotency-Key` (API.md §4): replayed, never re-run.
        let fingerprint = crate::idempotency::fingerprint(
            &prost::Message::encode_to_vec(request.get_ref()),
            request.metadata(),
        );
        let complete = |request: Request<CreateChatCompletionRequest>| async move {
            let prepared = self.prepare(request).await?;
            let session_id = prepared.request.session_id.clone();
            let cancel = CancellationToken::new();
            // A client that disconnects drops this future: the guard cancels the turn's tools.
            let _cancel_on_drop = cancel.clone().drop_guard();
            let (events, mut sink) = mpsc::channel(64);
            let drain = tokio::spawn(async move { while sink.recv().await.is_some() {} });
            let outcome = self
                .state
                .agent
                .run_turn(prepared.request, events, cancel)
                .await;
            let _ = drain.await;
            let outcome = outcome
                .into_error_if_empty()
                .map_err(failure_without_output)?;
            let (id, created) = completion_identity();
            let mut response = Response::new(CreateChatCompletionResponse {
                id,
                created,
                model: prepared.model,
                choices: vec![ChatChoice {
                    index: 0,
                    message: Some(final_message(&outcome)),
                    finish_reason: outcome.finish_reason.clone(),
                }],
                usage: Some(chat_usage(outcome.usage)),
                session_id: session_id.clone(),
            });
            echo_session(
                response.metadata_mut(),
                &session_id,
                prepared.session_key.as_deref(),
            );
            Ok::<_, Status>(response)
        };
        crate::idempotency::unary(
            &self.state.idempotency,
            "caduceus.v1.ChatService/CreateChatCompletion",
            request,
            &fingerprint,
            |_| true,
            complete,
        )
        .await
    }

    async fn stream_chat_completion(
        &self,
        request: Request<CreateChatCompletionRequest>,
    ) -> Result<Response<Self::StreamChatCompletionStream>, Status> {
        let prepared = self.prepare(request).await?;
        let session_id = prepared.request.session_id.clone();
        let session_key = prepared.session_key.clone();
        let stream = stream::start(self.state.agent.clone(), prepared);
        let mut response = Response::new(stream);
        echo_session(response.metadata_mut(), &session_id, session_key.as_deref());
        Ok(response)
    }
}
