//! OpenAI Chat Completions request JSON → `CreateChatCompletionRequest`. Shape checks only (types,
//! part kinds, tool kinds, each error naming its `param`); whether the conversation makes sense is
//! the service's call. The way back (answers → JSON) is in `render.rs`.

use caduceus_proto::json::{to_proto_struct, to_proto_value};
use caduceus_proto::v1::{
    ChatMessage, ContentPart, ContentParts, CreateChatCompletionRequest, FunctionCall,
    FunctionDefinition, ImageUrl, StreamOptions, ToolCall, ToolDefinition, chat_message,
    content_part,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The request body; unknown fields are ignored (OpenAI SDKs send extras). `ToSchema` makes this
/// type the `/openapi.json` request schema, so the document cannot drift from the parser.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ChatCompletionRequest)]
pub(crate) struct ChatBody {
    pub(crate) model: Option<String>,
    #[serde(default)]
    messages: Vec<MessageBody>,
    pub(crate) stream: Option<bool>,
    stream_options: Option<StreamOptionsBody>,
    tools: Option<Vec<ToolBody>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<i64>,
    max_completion_tokens: Option<i64>,
    stop: Option<Stop>,
    user: Option<String>,
    seed: Option<i64>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    #[schema(value_type = Option<Object>)]
    response_format: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct MessageBody {
    role: String,
    #[serde(default)]
    content: Value,
    name: Option<String>,
    tool_calls: Option<Vec<ToolCallBody>>,
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ToolCallBody {
    id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    function: FunctionCallBody,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct FunctionCallBody {
    name: String,
    #[serde(default)]
    arguments: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct StreamOptionsBody {
    #[serde(default)]
    include_usage: Option<bool>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct ToolBody {
    #[serde(rename = "type")]
    kind: String,
    function: Option<FunctionBody>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct FunctionBody {
    name: String,
    description: Option<String>,
    #[schema(value_type = Option<Object>)]
    parameters: Option<Map<String, Value>>,
    strict: Option<bool>,
}

/// `stop`: one string or several.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Translates the body into the gRPC request (errors name the field at fault).
pub(crate) fn to_request(body: ChatBody) -> Result<CreateChatCompletionRequest, ApiError> {
    let messages = body
        .messages
        .into_iter()
        .enumerate()
        .map(|(index, message)| to_message(index, message))
        .collect::<Result<Vec<_>, _>>()?;
    let tools = body
        .tools
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(index, tool)| to_tool(index, tool))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CreateChatCompletionRequest {
        model: body.model,
        messages,
        stream_options: body.stream_options.map(|options| StreamOptions {
            include_usage: options.include_usage.unwrap_or(false),
        }),
        tools,
        tool_choice: body.tool_choice.as_ref().map(to_proto_value),
        parallel_tool_calls: body.parallel_tool_calls,
        temperature: body.temperature,
        top_p: body.top_p,
        max_tokens: body.max_tokens,
        stop: match body.stop {
            None => Vec::new(),
            Some(Stop::One(stop)) => vec![stop],
            Some(Stop::Many(stops)) => stops,
        },
        user: body.user,
        response_format: body.response_format.as_ref().map(to_proto_struct),
        seed: body.seed,
        presence_penalty: body.presence_penalty,
        frequency_penalty: body.frequency_penalty,
        max_completion_tokens: body.max_completion_tokens,
    })
}

fn to_message(index: usize, message: MessageBody) -> Result<ChatMessage, ApiError> {
    let content = to_content(&format!("messages[{index}].content"), message.content)?;
    let tool_calls = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| ToolCall {
            id: call.id.unwrap_or_default(),
            r#type: call.kind.unwrap_or_else(|| "function".to_owned()),
            function: Some(FunctionCall {
                name: call.function.name,
                arguments: match call.function.arguments {
                    Value::String(text) => text,
                    Value::Null => String::new(),
                    other => other.to_string(),
                },
            }),
        })
        .collect();
    Ok(ChatMessage {
        role: message.role,
        content,
        name: message.name,
        tool_calls,
        tool_call_id: message.tool_call_id,
    })
}

/// `content`: null, a string, or an array of `text` / `image_url` parts.
fn to_content(path: &str, content: Value) -> Result<Option<chat_message::Content>, ApiError> {
    match content {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(chat_message::Content::Text(text))),
        Value::Array(parts) => {
            let parts = parts
                .into_iter()
                .enumerate()
                .map(|(index, part)| to_part(&format!("{path}[{index}]"), part))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(chat_message::Content::Parts(ContentParts { parts })))
        }
        _ => Err(invalid(
            path,
            "must be a string, an array of content parts, or null",
        )),
    }
}

fn to_part(path: &str, part: Value) -> Result<ContentPart, ApiError> {
    let Value::Object(mut part) = part else {
        return Err(invalid(path, "must be a content part object"));
    };
    let part = match part.get("type").and_then(Value::as_str) {
        Some("text") => match part.remove("text") {
            Some(Value::String(text)) => content_part::Part::Text(text),
            _ => return Err(invalid(&format!("{path}.text"), "must be a string")),
        },
        Some("image_url") => {
            content_part::Part::ImageUrl(to_image(path, part.remove("image_url"))?)
        }
        Some(other) => {
            return Err(ApiError::bad_request(
                "unsupported_content_type",
                format!("Content part type '{other}' is not supported; use 'text' or 'image_url'."),
            )
            .with_param(format!("{path}.type")));
        }
        None => return Err(invalid(&format!("{path}.type"), "must be a string")),
    };
    Ok(ContentPart { part: Some(part) })
}

/// `image_url`: a URL string or `{url, detail?}`.
fn to_image(path: &str, image: Option<Value>) -> Result<ImageUrl, ApiError> {
    let path = format!("{path}.image_url");
    match image {
        Some(Value::String(url)) => Ok(ImageUrl { url, detail: None }),
        Some(Value::Object(mut image)) => {
            let Some(Value::String(url)) = image.remove("url") else {
                return Err(invalid(&format!("{path}.url"), "must be a string"));
            };
            let detail = match image.remove("detail") {
                None | Some(Value::Null) => None,
                Some(Value::String(detail)) => Some(detail),
                Some(_) => return Err(invalid(&format!("{path}.detail"), "must be a string")),
            };
            Ok(ImageUrl { url, detail })
        }
        _ => Err(invalid(
            &path,
            "must be a URL string or an object with 'url'",
        )),
    }
}

fn to_tool(index: usize, tool: ToolBody) -> Result<ToolDefinition, ApiError> {
    if tool.kind != "function" {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!(
                "Tool type '{}' is not supported; only 'function' tools are.",
                tool.kind
            ),
        )
        .with_param(format!("tools[{index}].type")));
    }
    let Some(function) = tool.function else {
        return Err(invalid(&format!("tools[{index}].function"), "is required"));
    };
    Ok(ToolDefinition {
        r#type: tool.kind,
        function: Some(FunctionDefinition {
            name: function.name,
            description: function.description,
            parameters: function.parameters.as_ref().map(to_proto_struct),
            strict: function.strict,
        }),
    })
}

fn invalid(param: &str, what: &str) -> ApiError {
    ApiError::bad_request(
        "invalid_request",
        format!("Invalid value for '{param}': {what}."),
    )
    .with_param(param)
}
