//! `POST /v1/chat/completions` (API.md §4) onto `ChatService`: `stream: true` →
//! `StreamChatCompletion` relayed as OpenAI chunks (no `event:` line) plus named
//! `hermes.tool.progress` events and a final `data: [DONE]`; otherwise `CreateChatCompletion`.
//! JSON translation lives in `chat/convert.rs` (in) and `chat/render.rs` (out); session and message rules are the service's.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::response::sse::Event;
use axum::routing::post;
use caduceus_proto::v1::{ChatCompletionEvent, StreamError, chat_completion_event};
use futures::StreamExt;
use serde_json::{Value, json};

use super::Route;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::metadata::{grpc_request, json_reply, response_headers};
use crate::sse::{data_event, done_event, first_item, named_event, sse_response};
use crate::state::AppState;

pub(crate) mod convert;
mod render;
#[cfg(test)]
mod tests;

use convert::{ChatBody, to_request};
pub(crate) use render::tool_calls_json;
use render::{chunk_json, completion_json};

/// The chat family's route table.
pub(crate) fn routes() -> Vec<Route> {
    vec![Route::new(
        "chat_completions",
        Method::POST,
        "/v1/chat/completions",
        post(create),
    )]
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<ChatBody>,
) -> Result<Response, ApiError> {
    let stream = body.stream.unwrap_or(false);
    let model = body.model.clone().unwrap_or_default();
    let request = grpc_request(&headers, to_request(body)?)?;
    let mut client = state.chat.clone();
    if !stream {
        let response = client.create_chat_completion(request).await?;
        let mut reply = json_reply(
            StatusCode::OK,
            response.metadata(),
            &completion_json(response.get_ref()),
        );
        let session = &response.get_ref().session_id;
        let name = HeaderName::from_static("x-hermes-session-id");
        if !reply.headers().contains_key(&name)
            && !session.is_empty()
            && let Ok(value) = HeaderValue::from_str(session)
        {
            reply.headers_mut().insert(name, value);
        }
        return Ok(reply);
    }
    let (metadata, events, _) = client.stream_chat_completion(request).await?.into_parts();
    let (first, events) = first_item(events).await?;
    let relay = Relay {
        pending: first,
        events,
        context: ChunkContext::new(model),
    };
    let frames = futures::stream::unfold(Some(relay), |relay| async move {
        let mut relay = relay?;
        let next = match relay.pending.take() {
            Some(event) => Ok(Some(event)),
            None => relay.events.message().await,
        };
        Some(match next {
            Ok(Some(event)) => match relay.context.render(event) {
                Rendered::Continue(frames) => (frames, Some(relay)),
                Rendered::Stop(mut frames) => {
                    frames.push(done_event());
                    (frames, None)
                }
            },
            Ok(None) => (vec![done_event()], None),
            Err(status) => {
                let error = ApiError::from(status);
                let chunk = relay.context.error_chunk(
                    error.message(),
                    error.kind(),
                    error.code().unwrap_or("internal_error"),
                );
                (vec![data_event(&chunk), done_event()], None)
            }
        })
    })
    .flat_map(futures::stream::iter);
    Ok(sse_response(response_headers(&metadata), frames))
}

/// The gRPC stream being relayed, with the item already read by `first_item`.
struct Relay {
    pending: Option<ChatCompletionEvent>,
    events: tonic::Streaming<ChatCompletionEvent>,
    context: ChunkContext,
}

/// What one gRPC event becomes: frames, and whether the stream ends after them.
pub(crate) enum Rendered {
    Continue(Vec<Event>),
    Stop(Vec<Event>),
}

/// The id/created/model of the completion, remembered from the chunks so that an error chunk
/// synthesized by the facade carries the same ones.
pub(crate) struct ChunkContext {
    id: String,
    created: i64,
    model: String,
}

impl ChunkContext {
    /// Defaults used until the first chunk arrives.
    pub(crate) fn new(model: String) -> Self {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(0));
        Self {
            id: format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
            created,
            model,
        }
    }

    /// Renders one gRPC event as SSE frames.
    pub(crate) fn render(&mut self, event: ChatCompletionEvent) -> Rendered {
        match event.event {
            Some(chat_completion_event::Event::Chunk(chunk)) => {
                if !chunk.id.is_empty() {
                    self.id.clone_from(&chunk.id);
                }
                if chunk.created != 0 {
                    self.created = chunk.created;
                }
                if !chunk.model.is_empty() {
                    self.model.clone_from(&chunk.model);
                }
                Rendered::Continue(vec![data_event(&chunk_json(&chunk))])
            }
            Some(chat_completion_event::Event::ToolProgress(progress)) => {
                let data = json!({
                    "tool": progress.tool,
                    "emoji": progress.emoji,
                    "label": progress.label,
                    "toolCallId": progress.tool_call_id,
                    "status": progress.status,
                });
                Rendered::Continue(vec![named_event("hermes.tool.progress", &data)])
            }
            Some(chat_completion_event::Event::Error(StreamError {
                message,
                r#type,
                code,
            })) => {
                let kind = if r#type.is_empty() {
                    "server_error"
                } else {
                    r#type.as_str()
                };
                let code = if code.is_empty() {
                    "internal_error"
                } else {
                    code.as_str()
                };
                Rendered::Stop(vec![data_event(&self.error_chunk(&message, kind, code))])
            }
            None => Rendered::Continue(Vec::new()),
        }
    }

    /// The OpenAI-shaped error chunk sent when the turn fails after streaming began.
    pub(crate) fn error_chunk(&self, message: &str, kind: &str, code: &str) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "error"}],
            "error": {"message": message, "type": kind, "code": code},
        })
    }
}
