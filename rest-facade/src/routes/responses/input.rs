//! The JSON shapes of a Responses request that serde alone cannot type: the `input` /
//! `conversation_history` item grammar (shared with `POST /v1/runs`), `conversation` (string or
//! `{id}`) and `tools` (flat Responses shape or nested Chat shape). Pure JSON → proto mapping:
//! what the values mean (missing input, unknown roles, unknown ids) is the service's to judge.

use caduceus_proto::json::to_proto_struct;
use caduceus_proto::v1::{
    ContentPart, ContentParts, FunctionCallInput, FunctionCallOutputInput, FunctionDefinition,
    ImageUrl, InputItem, InputItems, InputMessage, ResponseInput, ToolDefinition, content_part,
    input_item, input_message, response_input,
};
use serde_json::{Map, Value};

/// A body field whose JSON shape was rejected. It becomes a 400 whose `param` names the field, so
/// a client sees which of many nested items was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    /// OpenAI error `code`.
    pub(crate) code: &'static str,
    /// Human-readable message.
    pub(crate) message: String,
    /// The field path, e.g. `input[2].content[0].type`.
    pub(crate) param: String,
}

impl FieldError {
    /// A value of the wrong JSON type; same code as the body extractor's type errors.
    pub(crate) fn wrong_type(param: impl Into<String>, expected: &str) -> Self {
        let param = param.into();
        Self {
            code: "invalid_request",
            message: format!("Invalid value for '{param}': expected {expected}."),
            param,
        }
    }

    /// A content part whose `type` the API does not accept.
    fn unsupported_content(param: String, message: String) -> Self {
        Self {
            code: "unsupported_content_type",
            message,
            param,
        }
    }
}

impl From<FieldError> for crate::error::ApiError {
    fn from(error: FieldError) -> Self {
        crate::error::ApiError::bad_request(error.code, error.message).with_param(error.param)
    }
}

/// Parses `input`: a string (one user message) or an array of items. Absent/`null` gives `None`
/// and the service answers that input is required.
pub(crate) fn parse_input(value: &Value, param: &str) -> Result<Option<ResponseInput>, FieldError> {
    let input = match value {
        Value::Null => return Ok(None),
        Value::String(text) => response_input::Input::Text(text.clone()),
        Value::Array(_) => response_input::Input::Items(InputItems {
            items: parse_items(value, param)?,
        }),
        _ => {
            return Err(FieldError::wrong_type(
                param,
                "a string or an array of items",
            ));
        }
    };
    Ok(Some(ResponseInput { input: Some(input) }))
}

/// Parses an item array (`input` items, `conversation_history`); `null`/absent is empty.
pub(crate) fn parse_items(value: &Value, param: &str) -> Result<Vec<InputItem>, FieldError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_item(item, &format!("{param}[{i}]")))
            .collect(),
        _ => Err(FieldError::wrong_type(param, "an array of items")),
    }
}

/// One item: a bare string (user message), a `{role, content}` message, or a typed item.
fn parse_item(value: &Value, param: &str) -> Result<InputItem, FieldError> {
    let item = match value {
        Value::String(text) => input_item::Item::Message(InputMessage {
            role: "user".to_owned(),
            content: Some(input_message::Content::Text(text.clone())),
        }),
        Value::Object(object) => match opt_str(object, "type", param)?.as_deref() {
            None | Some("message") => input_item::Item::Message(parse_message(object, param)?),
            Some("function_call_output") => {
                input_item::Item::FunctionCallOutput(FunctionCallOutputInput {
                    call_id: opt_str(object, "call_id", param)?.unwrap_or_default(),
                    output: parse_output(object.get("output"), &format!("{param}.output"))?,
                })
            }
            Some("function_call") => input_item::Item::FunctionCall(FunctionCallInput {
                call_id: opt_str(object, "call_id", param)?.unwrap_or_default(),
                name: opt_str(object, "name", param)?.unwrap_or_default(),
                arguments: opt_str(object, "arguments", param)?.unwrap_or_default(),
            }),
            Some(other) => {
                return Err(FieldError {
                    code: "unsupported_input_type",
                    message: format!(
                        "Input item type '{other}' is not supported; use message, \
                         function_call or function_call_output."
                    ),
                    param: format!("{param}.type"),
                });
            }
        },
        _ => return Err(FieldError::wrong_type(param, "a string or an object")),
    };
    Ok(InputItem {
        id: String::new(),
        item: Some(item),
    })
}

/// A message item: `role` (missing → empty, for the service to reject) and `content`.
fn parse_message(object: &Map<String, Value>, param: &str) -> Result<InputMessage, FieldError> {
    let role = opt_str(object, "role", param)?.unwrap_or_default();
    let content_param = format!("{param}.content");
    let content = match object.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(input_message::Content::Text(text.clone())),
        Some(Value::Array(parts)) => Some(input_message::Content::Parts(ContentParts {
            parts: parts
                .iter()
                .enumerate()
                .map(|(i, part)| parse_part(part, &format!("{content_param}[{i}]")))
                .collect::<Result<_, _>>()?,
        })),
        Some(_) => {
            return Err(FieldError::wrong_type(
                content_param,
                "a string or an array of content parts",
            ));
        }
    };
    Ok(InputMessage { role, content })
}

/// One content part: text-like parts become text, `input_image` with a URL becomes an image.
fn parse_part(value: &Value, param: &str) -> Result<ContentPart, FieldError> {
    let Value::Object(object) = value else {
        return Err(FieldError::wrong_type(param, "a content part object"));
    };
    let type_param = format!("{param}.type");
    let part = match opt_str(object, "type", param)?.as_deref() {
        Some("input_text" | "output_text" | "text") => {
            content_part::Part::Text(opt_str(object, "text", param)?.unwrap_or_default())
        }
        Some("input_image") => {
            let Some(url) = opt_str(object, "image_url", param)? else {
                return Err(FieldError::unsupported_content(
                    format!("{param}.image_url"),
                    "input_image parts need an image_url (file_id is not supported).".to_owned(),
                ));
            };
            content_part::Part::ImageUrl(ImageUrl {
                url,
                detail: opt_str(object, "detail", param)?,
            })
        }
        Some(other) => {
            return Err(FieldError::unsupported_content(
                type_param,
                format!(
                    "Content part type '{other}' is not supported; use input_text, \
                     output_text or input_image."
                ),
            ));
        }
        None => {
            return Err(FieldError::unsupported_content(
                type_param,
                "Content parts need a type.".to_owned(),
            ));
        }
    };
    Ok(ContentPart { part: Some(part) })
}

/// A `function_call_output` output: a string, or text parts (joined).
fn parse_output(value: Option<&Value>, param: &str) -> Result<String, FieldError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (i, part) in parts.iter().enumerate() {
                let part = parse_part(part, &format!("{param}[{i}]"))?;
                if let Some(content_part::Part::Text(piece)) = part.part {
                    text.push_str(&piece);
                }
            }
            Ok(text)
        }
        Some(_) => Err(FieldError::wrong_type(param, "a string")),
    }
}

/// `conversation`: a name, or an object `{id}` (the OpenAI SDK's shape).
pub(crate) fn parse_conversation(value: &Value) -> Result<Option<String>, FieldError> {
    match value {
        Value::Null => Ok(None),
        Value::String(name) => Ok(Some(name.clone())),
        Value::Object(object) => opt_str(object, "id", "conversation"),
        _ => Err(FieldError::wrong_type(
            "conversation",
            "a string or an object with an id",
        )),
    }
}

/// `tools`: function tools in the flat Responses shape `{type, name, description, parameters,
/// strict}` or the Chat shape `{type, function:{…}}`. Other tool types pass through (without a
/// function) so the service can name them in its refusal.
pub(crate) fn parse_tools(value: &Value) -> Result<Vec<ToolDefinition>, FieldError> {
    let tools = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(tools) => tools,
        _ => return Err(FieldError::wrong_type("tools", "an array of tools")),
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let param = format!("tools[{i}]");
            let Value::Object(object) = tool else {
                return Err(FieldError::wrong_type(param, "a tool object"));
            };
            let kind = opt_str(object, "type", &param)?.unwrap_or_default();
            let function = match object.get("function") {
                Some(Value::Object(nested)) => {
                    Some(parse_function(nested, &format!("{param}.function"))?)
                }
                None | Some(Value::Null) if kind == "function" => {
                    Some(parse_function(object, &param)?)
                }
                None | Some(Value::Null) => None,
                Some(_) => {
                    return Err(FieldError::wrong_type(
                        format!("{param}.function"),
                        "an object",
                    ));
                }
            };
            Ok(ToolDefinition {
                r#type: kind,
                function,
            })
        })
        .collect()
}

/// The function fields, wherever they sit.
fn parse_function(
    object: &Map<String, Value>,
    param: &str,
) -> Result<FunctionDefinition, FieldError> {
    let parameters = match object.get("parameters") {
        None | Some(Value::Null) => None,
        Some(Value::Object(schema)) => Some(to_proto_struct(schema)),
        Some(_) => {
            return Err(FieldError::wrong_type(
                format!("{param}.parameters"),
                "a JSON Schema object",
            ));
        }
    };
    let strict = match object.get("strict") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(strict)) => Some(*strict),
        Some(_) => {
            return Err(FieldError::wrong_type(
                format!("{param}.strict"),
                "a boolean",
            ));
        }
    };
    Ok(FunctionDefinition {
        name: opt_str(object, "name", param)?.unwrap_or_default(),
        description: opt_str(object, "description", param)?,
        parameters,
        strict,
    })
}

/// An optional string member: absent/`null` → `None`, another type → 400 naming `param.key`
/// (just `key` when `param` is empty, i.e. a top-level body field).
pub(crate) fn opt_str(
    object: &Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<Option<String>, FieldError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) if param.is_empty() => Err(FieldError::wrong_type(key, "a string")),
        Some(_) => Err(FieldError::wrong_type(format!("{param}.{key}"), "a string")),
    }
}

/// A boolean query flag: `true`/`1`/`yes`, or `false`/`0`/`no`/empty (`?include_disabled=`);
/// anything else is a 400 naming `param`. Query strings have no JSON types, so this is the one
/// place their booleans are read.
pub(crate) fn query_flag(value: Option<&str>, param: &str) -> Result<bool, FieldError> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(_) => Err(FieldError::wrong_type(param, "true or false")),
    }
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
