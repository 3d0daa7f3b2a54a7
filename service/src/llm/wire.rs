//! OpenAI Chat Completions wire types as Caduceus sends them upstream: messages, tool calls, tool
//! definitions, the request body and token usage. They are the agent loop's vocabulary for a
//! conversation. Parsing the streamed answer lives in `assemble.rs`; HTTP lives in `client.rs`.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tool_list::ToolList;

/// Who wrote a message. `developer` is the newer OpenAI name for a system message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One conversation message in the Chat Completions shape, so history, tool results and the
/// system prompt travel upstream exactly as OpenAI-compatible providers expect them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    /// `None` is sent as `null` (an assistant message that only calls tools).
    #[serde(default)]
    pub content: Option<MessageContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Which call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    fn new(role: Role, content: Option<MessageContent>) -> Self {
        Message {
            role,
            content,
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// A system message (the agent's prompt layers).
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, Some(MessageContent::Text(text.into())))
    }

    /// A user message with plain text.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, Some(MessageContent::Text(text.into())))
    }

    /// A user message with content parts (text and images).
    pub fn user_parts(parts: Vec<ContentPart>) -> Self {
        Self::new(Role::User, Some(MessageContent::Parts(parts)))
    }

    /// An assistant message with plain text and no tool calls.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, Some(MessageContent::Text(text.into())))
    }

    /// An assistant message that calls tools; empty text is sent as `null` content.
    pub fn assistant_tool_calls(text: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        let text = text.into();
        let content = (!text.is_empty()).then_some(MessageContent::Text(text));
        Message {
            tool_calls,
            ..Self::new(Role::Assistant, content)
        }
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, Some(MessageContent::Text(content.into())))
        }
    }

    /// The text of the message (text parts joined with newlines), if it has any.
    pub fn text(&self) -> Option<String> {
        self.content.as_ref().map(MessageContent::text)
    }
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text, joining text parts with newlines and ignoring images.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::ImageUrl { .. } => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// One part of a multi-part message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
}

/// An image reference: an http(s) URL or a `data:image/…` URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn function_type() -> String {
    "function".to_owned()
}

/// A tool call the model made. Ids come from the upstream (or are generated when it sends none)
/// and are not assumed unique across turns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionCall,
}

impl ToolCall {
    /// A function call with its JSON arguments as text.
    pub fn function(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        ToolCall {
            id: id.into(),
            kind: function_type(),
            function: FunctionCall {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The function part of a tool call; `arguments` is JSON text exactly as the model produced it
/// (it may be invalid JSON — the agent reports that back to the model as a tool error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// A tool the model may call, described by a JSON Schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Always `"function"`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionDefinition,
}

impl ToolDefinition {
    /// A function tool with a JSON Schema for its parameters.
    pub fn function(
        name: impl Into<String>,
        description: impl Into<String>,
        parameters: Value,
    ) -> Self {
        ToolDefinition {
            kind: function_type(),
            function: FunctionDefinition {
                name: name.into(),
                description: Some(description.into()),
                parameters,
                strict: None,
            },
        }
    }
}

impl From<&caduceus_proto::v1::FunctionDefinition> for ToolDefinition {
    /// A client-declared function tool from the API (chat and responses alike); a missing schema
    /// becomes an empty object schema, as OpenAI accepts.
    fn from(function: &caduceus_proto::v1::FunctionDefinition) -> Self {
        ToolDefinition {
            kind: function_type(),
            function: FunctionDefinition {
                name: function.name.clone(),
                description: function.description.clone(),
                parameters: function.parameters.as_ref().map_or_else(
                    || serde_json::json!({"type": "object", "properties": {}}),
                    |p| Value::Object(caduceus_proto::json::from_proto_struct(p)),
                ),
                strict: function.strict,
            },
        }
    }
}

/// Name, description and parameter schema of a function tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// `stream_options`: Caduceus always asks for usage so turns can report token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

/// The Chat Completions request body. The upstream client always sends it with `stream: true`,
/// `stream_options.include_usage: true` and the route's upstream model, whatever is set here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Overwritten by the client with the resolved upstream model.
    #[serde(default)]
    pub model: String,
    pub messages: Vec<Message>,
    /// The server's shared definitions, then the request's own.
    #[serde(default, skip_serializing_if = "ToolList::is_empty")]
    pub tools: ToolList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A string or a list of strings, passed through as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Forced to `true` by the client.
    #[serde(default)]
    pub stream: bool,
    /// Forced to `include_usage: true` by the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

impl ChatRequest {
    /// A streaming request for `messages` with every optional field unset.
    pub fn new(messages: Vec<Message>) -> Self {
        ChatRequest {
            messages,
            stream: true,
            stream_options: Some(StreamOptions {
                include_usage: true,
            }),
            ..Default::default()
        }
    }
}

/// Token usage of one upstream call; summed with `+=` over the calls of a turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_skips_unset_fields_and_keeps_null_content() {
        let call = ToolCall::function("call_1", "terminal", r#"{"command":"ls"}"#);
        let mut request = ChatRequest::new(vec![
            Message::system("be brief"),
            Message::user("hi"),
            Message::assistant_tool_calls("", vec![call]),
            Message::tool("call_1", "a b"),
        ]);
        request.model = "m".into();
        let value = serde_json::to_value(&request).unwrap();
        assert_eq!(
            value,
            json!({
                "model": "m",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "terminal", "arguments": "{\"command\":\"ls\"}"}}
                    ]},
                    {"role": "tool", "content": "a b", "tool_call_id": "call_1"}
                ],
                "stream": true,
                "stream_options": {"include_usage": true}
            })
        );
    }

    #[test]
    fn content_parts_round_trip() {
        let raw = json!({"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]});
        let message: Message = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(message.text().as_deref(), Some("what is this"));
        assert_eq!(serde_json::to_value(&message).unwrap(), raw);
    }

    #[test]
    fn tool_definition_shape() {
        let tool = ToolDefinition::function("read_file", "Read a file", json!({"type": "object"}));
        assert_eq!(
            serde_json::to_value(&tool).unwrap(),
            json!({"type": "function", "function": {
                "name": "read_file", "description": "Read a file", "parameters": {"type": "object"}
            }})
        );
    }

    #[test]
    fn usage_sums() {
        let mut total = Usage::default();
        total += Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15,
        };
        total += Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
        };
        assert_eq!(total.total_tokens, 18);
    }
}
