//! `caduceus.v1` chat answers → OpenAI JSON: the `chat.completion` object, `chat.completion.chunk`
//! frames (deltas carry only the fields that are set) and tool calls. The SSE framing and the
//! error chunk are in `chat.rs`; request translation is in `convert.rs`.

use caduceus_proto::v1::{
    ChatCompletionChunk, ChatUsage, CreateChatCompletionResponse, ToolCall, chat_message,
    content_part,
};
use serde_json::{Map, Value, json};

/// A message's content as OpenAI JSON (string, parts array, or null).
pub(crate) fn content_json(content: Option<&chat_message::Content>) -> Value {
    match content {
        None => Value::Null,
        Some(chat_message::Content::Text(text)) => json!(text),
        Some(chat_message::Content::Parts(parts)) => Value::Array(
            parts
                .parts
                .iter()
                .filter_map(|part| match part.part.as_ref()? {
                    content_part::Part::Text(text) => Some(json!({"type": "text", "text": text})),
                    content_part::Part::ImageUrl(image) => {
                        let mut url = Map::new();
                        url.insert("url".into(), json!(image.url));
                        if let Some(detail) = &image.detail {
                            url.insert("detail".into(), json!(detail));
                        }
                        Some(json!({"type": "image_url", "image_url": url}))
                    }
                })
                .collect(),
        ),
    }
}

/// Tool calls as OpenAI objects.
pub(crate) fn tool_calls_json(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .map(|call| {
                let function = call.function.clone().unwrap_or_default();
                let kind = if call.r#type.is_empty() {
                    "function"
                } else {
                    call.r#type.as_str()
                };
                json!({
                    "id": call.id,
                    "type": kind,
                    "function": {"name": function.name, "arguments": function.arguments},
                })
            })
            .collect(),
    )
}

fn usage_json(usage: Option<&ChatUsage>) -> Value {
    let usage = usage.cloned().unwrap_or_default();
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    })
}

/// A `chat.completion` object.
pub(crate) fn completion_json(response: &CreateChatCompletionResponse) -> Value {
    let choices: Vec<Value> = response
        .choices
        .iter()
        .map(|choice| {
            let message = choice.message.clone().unwrap_or_default();
            let role = if message.role.is_empty() {
                "assistant"
            } else {
                message.role.as_str()
            };
            let mut out = Map::new();
            out.insert("role".into(), json!(role));
            out.insert("content".into(), content_json(message.content.as_ref()));
            if !message.tool_calls.is_empty() {
                out.insert("tool_calls".into(), tool_calls_json(&message.tool_calls));
            }
            json!({
                "index": choice.index,
                "message": out,
                "logprobs": null,
                "finish_reason": choice.finish_reason,
            })
        })
        .collect();
    json!({
        "id": response.id,
        "object": "chat.completion",
        "created": response.created,
        "model": response.model,
        "choices": choices,
        "usage": usage_json(response.usage.as_ref()),
    })
}

/// A `chat.completion.chunk` object; the delta carries only the fields that are set.
pub(crate) fn chunk_json(chunk: &ChatCompletionChunk) -> Value {
    let choices: Vec<Value> = chunk
        .choices
        .iter()
        .map(|choice| {
            let delta = choice.delta.clone().unwrap_or_default();
            let mut out = Map::new();
            if let Some(role) = delta.role {
                out.insert("role".into(), json!(role));
            }
            if let Some(content) = delta.content {
                out.insert("content".into(), json!(content));
            }
            if !delta.tool_calls.is_empty() {
                let calls: Vec<Value> = delta
                    .tool_calls
                    .iter()
                    .map(|call| {
                        let mut entry = Map::new();
                        entry.insert("index".into(), json!(call.index));
                        if let Some(id) = &call.id {
                            entry.insert("id".into(), json!(id));
                        }
                        if let Some(kind) = &call.r#type {
                            entry.insert("type".into(), json!(kind));
                        }
                        if let Some(function) = &call.function {
                            let mut f = Map::new();
                            if let Some(name) = &function.name {
                                f.insert("name".into(), json!(name));
                            }
                            if let Some(arguments) = &function.arguments {
                                f.insert("arguments".into(), json!(arguments));
                            }
                            entry.insert("function".into(), Value::Object(f));
                        }
                        Value::Object(entry)
                    })
                    .collect();
                out.insert("tool_calls".into(), Value::Array(calls));
            }
            json!({
                "index": choice.index,
                "delta": out,
                "logprobs": null,
                "finish_reason": choice.finish_reason,
            })
        })
        .collect();
    let mut out = json!({
        "id": chunk.id,
        "object": "chat.completion.chunk",
        "created": chunk.created,
        "model": chunk.model,
        "choices": choices,
    });
    if let (Some(usage), Some(map)) = (chunk.usage.as_ref(), out.as_object_mut()) {
        map.insert("usage".into(), usage_json(Some(usage)));
    }
    out
}
