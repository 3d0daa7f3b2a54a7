//! `caduceus.v1` session messages → the JSON of API.md §6: session objects (every field present,
//! absent optionals as `null`), stored messages (tool calls as OpenAI objects or `null`), and the
//! named events of the session chat stream.

use caduceus_proto::json::from_proto_struct;
use caduceus_proto::v1::{
    ChatMessage, ChatSessionResponse, ListSessionMessagesResponse, ListSessionsResponse, Session,
    SessionChatEvent, SessionMessage, Usage, chat_message, content_part, session_chat_event,
};
use serde_json::{Map, Value, json};

use crate::routes::chat::tool_calls_json;

/// One session's fields.
pub(crate) fn session_json(session: &Session) -> Value {
    json!({
        "id": session.id,
        "source": session.source,
        "title": session.title,
        "model": session.model,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "end_reason": session.end_reason,
        "message_count": session.message_count,
        "tool_call_count": session.tool_call_count,
        "input_tokens": session.input_tokens,
        "output_tokens": session.output_tokens,
        "parent_session_id": session.parent_session_id,
        "has_system_prompt": session.has_system_prompt,
        "last_active": session.last_active,
        "preview": session.preview,
    })
}

/// `{"object":"hermes.session","session":{…}}`.
pub(crate) fn session_object(session: Option<&Session>) -> Value {
    let session = session.cloned().unwrap_or_default();
    json!({"object": "hermes.session", "session": session_json(&session)})
}

/// `GET /api/sessions` body.
pub(crate) fn session_list(page: &ListSessionsResponse) -> Value {
    let data: Vec<Value> = page.data.iter().map(session_json).collect();
    json!({
        "object": "list",
        "data": data,
        "limit": page.limit,
        "offset": page.offset,
        "has_more": page.has_more,
    })
}

/// One stored message.
pub(crate) fn message_json(message: &SessionMessage) -> Value {
    let tool_calls = if message.tool_calls.is_empty() {
        Value::Null
    } else {
        tool_calls_json(&message.tool_calls)
    };
    json!({
        "id": message.id,
        "session_id": message.session_id,
        "role": message.role,
        "content": message.content,
        "tool_call_id": message.tool_call_id,
        "tool_calls": tool_calls,
        "tool_name": message.tool_name,
        "timestamp": message.timestamp,
        "token_count": message.token_count,
        "finish_reason": message.finish_reason,
    })
}

/// `GET /api/sessions/{id}/messages` body.
pub(crate) fn message_list(page: &ListSessionMessagesResponse) -> Value {
    let data: Vec<Value> = page.data.iter().map(message_json).collect();
    json!({
        "object": "list",
        "session_id": page.session_id,
        "data": data,
        "has_more": page.has_more,
    })
}

fn usage_json(usage: Option<&Usage>) -> Value {
    let usage = usage.cloned().unwrap_or_default();
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    })
}

/// The assistant's text: plain content, or the text parts joined.
fn message_text(message: &ChatMessage) -> Value {
    match &message.content {
        None => Value::Null,
        Some(chat_message::Content::Text(text)) => json!(text),
        Some(chat_message::Content::Parts(parts)) => json!(
            parts
                .parts
                .iter()
                .filter_map(|part| match &part.part {
                    Some(content_part::Part::Text(text)) => Some(text.as_str()),
                    _ => None,
                })
                .collect::<String>()
        ),
    }
}

/// `POST /api/sessions/{id}/chat` body.
pub(crate) fn chat_json(response: &ChatSessionResponse) -> Value {
    let message = response.message.clone().unwrap_or_default();
    let role = if message.role.is_empty() {
        "assistant"
    } else {
        message.role.as_str()
    };
    json!({
        "object": "hermes.session.chat.completion",
        "session_id": response.session_id,
        "message": {"role": role, "content": message_text(&message)},
        "usage": usage_json(response.usage.as_ref()),
    })
}

/// One stream event: its SSE name and its data (payload fields + `session_id`, `run_id`, `seq`,
/// `ts`).
pub(crate) fn stream_event(event: &SessionChatEvent) -> (String, Value) {
    use session_chat_event::Payload;
    let (default_name, payload) = match &event.payload {
        Some(Payload::RunStarted(p)) => ("run.started", json!({"user_message": p.user_message})),
        Some(Payload::MessageStarted(p)) => (
            "message.started",
            json!({"message": {"id": p.message_id, "role": p.role}}),
        ),
        Some(Payload::AssistantDelta(p)) => (
            "assistant.delta",
            json!({"message_id": p.message_id, "delta": p.delta}),
        ),
        Some(Payload::ToolStarted(p)) => (
            "tool.started",
            json!({
                "message_id": p.message_id,
                "tool_name": p.tool_name,
                "preview": p.preview,
                "args": p.args.as_ref().map(|args| Value::Object(from_proto_struct(args))),
            }),
        ),
        Some(Payload::ToolCompleted(p)) => (
            "tool.completed",
            json!({
                "message_id": p.message_id,
                "tool_name": p.tool_name,
                "duration": p.duration,
                "error": p.error,
            }),
        ),
        Some(Payload::AssistantCompleted(p)) => (
            "assistant.completed",
            json!({
                "message_id": p.message_id,
                "content": p.content,
                "completed": p.completed,
                "partial": p.partial,
                "interrupted": p.interrupted,
            }),
        ),
        Some(Payload::RunCompleted(p)) => (
            "run.completed",
            json!({
                "message_id": p.message_id,
                "completed": p.completed,
                "messages": p.messages.iter().map(message_json).collect::<Vec<_>>(),
                "usage": usage_json(p.usage.as_ref()),
            }),
        ),
        Some(Payload::Error(p)) => ("error", json!({"message": p.message})),
        Some(Payload::Done(_)) => ("done", json!({})),
        None => ("", json!({})),
    };
    let mut data = match payload {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    data.insert("session_id".into(), json!(event.session_id));
    data.insert("run_id".into(), json!(event.run_id));
    data.insert("seq".into(), json!(event.seq));
    data.insert("ts".into(), json!(event.ts));
    let name = if event.event.is_empty() {
        default_name.to_owned()
    } else {
        event.event.clone()
    };
    (name, Value::Object(data))
}
