//! A Responses request body → what a turn needs, validated: `input` (string or items) split into
//! the new input (the last user message, or trailing `function_call_output` items continuing a
//! client-tool turn) and earlier items; `conversation_history` items; system/developer items
//! joined as system text; client function tools; sampling; `metadata` and `truncation` rules.
//! Which history applies (chain, conversation, session) is decided in `prepare`.

use caduceus_proto::json::from_proto_value;
use caduceus_proto::v1::{
    CreateResponseRequest, InputItem, InputMessage, content_part, input_item, input_message,
    response_input,
};

use super::new_id;
use crate::agent::{Sampling, TurnInput};
use crate::error::Error;
use crate::llm::{ContentPart, ImageUrl, Message, MessageContent, Role, ToolCall, ToolDefinition};

/// OpenAI's limits on `metadata`.
const MAX_METADATA_PAIRS: usize = 16;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 512;

/// The parts of a request the turn needs.
#[derive(Debug)]
pub(super) struct Parsed {
    /// System/developer items of `input`, joined (may be empty).
    pub system_text: String,
    /// Items of `input` that are not the new input, in order.
    pub history: Vec<Message>,
    /// The new input.
    pub input: TurnInput,
    /// The new input as messages (for the stored transcript).
    pub input_messages: Vec<Message>,
    /// `input` as stored items, with ids (`GET …/input_items`).
    pub input_items: Vec<InputItem>,
    /// `conversation_history`, converted.
    pub explicit_history: Vec<Message>,
    /// Client-declared function tools.
    pub client_tools: Vec<ToolDefinition>,
    /// Upstream options.
    pub sampling: Sampling,
    /// `truncation: auto`.
    pub truncate: bool,
}

/// Validates and converts a request body.
pub(super) fn parse(request: &CreateResponseRequest) -> Result<Parsed, Error> {
    if request.previous_response_id.is_some() && request.conversation.is_some() {
        return Err(Error::invalid_param(
            "invalid_request",
            "Use either `previous_response_id` or `conversation`, not both",
            "conversation",
        ));
    }
    let chaining = request.previous_response_id.is_some() || request.conversation.is_some();
    if chaining && !request.conversation_history.is_empty() {
        return Err(Error::invalid_param(
            "invalid_request",
            "`conversation_history` is only for requests that do not chain; drop it or drop \
             `previous_response_id`/`conversation`",
            "conversation_history",
        ));
    }
    validate_metadata(request)?;
    let truncate = match request.truncation.as_deref() {
        None | Some("disabled") => false,
        Some("auto") => true,
        Some(other) => {
            return Err(Error::invalid_param(
                "invalid_request",
                format!("Unknown truncation {other:?}: use \"auto\" or \"disabled\""),
                "truncation",
            ));
        }
    };

    let items = input_items(request)?;
    let mut system_parts = Vec::new();
    let mut conversation = Vec::new();
    for message in to_messages(&items, "input")? {
        match message.role {
            Role::System | Role::Developer => {
                let text = message.text().unwrap_or_default();
                if !text.trim().is_empty() {
                    system_parts.push(text);
                }
            }
            _ => conversation.push(message),
        }
    }
    let trailing_results = conversation
        .iter()
        .rev()
        .take_while(|m| m.role == Role::Tool)
        .count();
    let (history, input, input_messages) = if trailing_results > 0 {
        let results = conversation.split_off(conversation.len() - trailing_results);
        (
            conversation,
            TurnInput::ToolResults(results.clone()),
            results,
        )
    } else {
        let Some(last_user) = conversation.iter().rposition(|m| m.role == Role::User) else {
            return Err(Error::invalid_param(
                "no_user_message",
                "`input` has no user message to answer (nor function_call_output items to continue a turn)",
                "input",
            ));
        };
        let message = conversation.remove(last_user);
        (
            conversation,
            TurnInput::User(message.clone()),
            vec![message],
        )
    };

    Ok(Parsed {
        system_text: system_parts.join("\n\n"),
        history,
        input,
        input_messages,
        input_items: items,
        explicit_history: to_messages(&request.conversation_history, "conversation_history")?,
        client_tools: client_tools(request)?,
        sampling: Sampling {
            temperature: request.temperature,
            max_tokens: request
                .max_output_tokens
                .map(|n| u32::try_from(n.max(1)).unwrap_or(u32::MAX)),
            tool_choice: request.tool_choice.as_ref().map(from_proto_value),
            parallel_tool_calls: request.parallel_tool_calls,
            ..Sampling::default()
        },
        truncate,
    })
}

/// `input` as items with ids; a string is one user message. Missing or empty → 400.
fn input_items(request: &CreateResponseRequest) -> Result<Vec<InputItem>, Error> {
    let missing = || {
        Error::invalid_param(
            "invalid_request",
            "`input` is required: a string or a non-empty array of items",
            "input",
        )
    };
    let input = request
        .input
        .as_ref()
        .and_then(|input| input.input.as_ref())
        .ok_or_else(missing)?;
    let mut items = match input {
        response_input::Input::Text(text) if text.trim().is_empty() => return Err(missing()),
        response_input::Input::Text(text) => vec![InputItem {
            id: String::new(),
            item: Some(input_item::Item::Message(InputMessage {
                role: "user".into(),
                content: Some(input_message::Content::Text(text.clone())),
            })),
        }],
        response_input::Input::Items(items) if items.items.is_empty() => return Err(missing()),
        response_input::Input::Items(items) => items.items.clone(),
    };
    for item in &mut items {
        let prefix = match &item.item {
            Some(input_item::Item::FunctionCall(_)) => "fc",
            Some(input_item::Item::FunctionCallOutput(_)) => "fco",
            _ => "msg",
        };
        item.id = new_id(prefix);
    }
    Ok(items)
}

/// Items as chat messages: a `function_call` joins the assistant message right before it (or
/// starts one), a `function_call_output` is a `tool` message.
pub(super) fn to_messages(items: &[InputItem], field: &str) -> Result<Vec<Message>, Error> {
    let mut messages: Vec<Message> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let param = format!("{field}[{index}]");
        match &item.item {
            None => {
                return Err(Error::invalid_param(
                    "invalid_request",
                    "empty input item",
                    param,
                ));
            }
            Some(input_item::Item::Message(message)) => {
                messages.push(message_of(message, &param)?);
            }
            Some(input_item::Item::FunctionCall(call)) => {
                if call.call_id.is_empty() || call.name.is_empty() {
                    return Err(Error::invalid_param(
                        "invalid_request",
                        "a function_call item needs `call_id` and `name`",
                        param,
                    ));
                }
                let tool_call = ToolCall::function(&call.call_id, &call.name, &call.arguments);
                match messages.last_mut() {
                    Some(last) if last.role == Role::Assistant => last.tool_calls.push(tool_call),
                    _ => messages.push(Message::assistant_tool_calls("", vec![tool_call])),
                }
            }
            Some(input_item::Item::FunctionCallOutput(result)) => {
                if result.call_id.is_empty() {
                    return Err(Error::invalid_param(
                        "invalid_request",
                        "a function_call_output item needs the `call_id` it answers",
                        format!("{param}.call_id"),
                    ));
                }
                messages.push(Message::tool(&result.call_id, &result.output));
            }
        }
    }
    Ok(messages)
}

/// One message item, validating role and content parts.
fn message_of(message: &InputMessage, param: &str) -> Result<Message, Error> {
    let role = match message.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        "developer" => Role::Developer,
        other => {
            return Err(Error::invalid_param(
                "invalid_request",
                format!("unknown role {other:?}: use user, assistant, system or developer"),
                format!("{param}.role"),
            ));
        }
    };
    let content = match &message.content {
        None => MessageContent::Text(String::new()),
        Some(input_message::Content::Text(text)) => MessageContent::Text(text.clone()),
        Some(input_message::Content::Parts(parts)) => {
            let mut converted = Vec::with_capacity(parts.parts.len());
            for (j, part) in parts.parts.iter().enumerate() {
                let part_param = format!("{param}.content[{j}]");
                match &part.part {
                    Some(content_part::Part::Text(text)) => {
                        converted.push(ContentPart::Text { text: text.clone() });
                    }
                    Some(content_part::Part::ImageUrl(image)) => {
                        let url = image.url.trim();
                        let ok = url.starts_with("http://")
                            || url.starts_with("https://")
                            || url.starts_with("data:image/");
                        if !ok || role != Role::User {
                            return Err(Error::invalid_param(
                                "unsupported_content_type",
                                "input_image parts belong to user messages and need an http(s) or data:image/… URL",
                                format!("{part_param}.image_url"),
                            ));
                        }
                        converted.push(ContentPart::ImageUrl {
                            image_url: ImageUrl {
                                url: url.to_owned(),
                                detail: image.detail.clone(),
                            },
                        });
                    }
                    None => {
                        return Err(Error::invalid_param(
                            "unsupported_content_type",
                            "empty content part",
                            part_param,
                        ));
                    }
                }
            }
            let only_text = converted
                .iter()
                .all(|part| matches!(part, ContentPart::Text { .. }));
            let parts = MessageContent::Parts(converted);
            if only_text {
                MessageContent::Text(parts.text())
            } else {
                parts
            }
        }
    };
    Ok(Message {
        role,
        content: Some(content),
        name: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
    })
}

/// Client-declared tools; only `function` tools with a name are accepted.
fn client_tools(request: &CreateResponseRequest) -> Result<Vec<ToolDefinition>, Error> {
    request
        .tools
        .iter()
        .enumerate()
        .map(|(index, tool)| {
            let function = match (&tool.r#type[..], &tool.function) {
                ("function", Some(function)) => function,
                (kind, _) => {
                    return Err(Error::invalid_param(
                        "unsupported_tool_type",
                        format!("Tool type {kind:?} is not supported: declare `function` tools (the server's own tools are always available)"),
                        format!("tools[{index}].type"),
                    ));
                }
            };
            if function.name.trim().is_empty() {
                return Err(Error::invalid_param(
                    "invalid_request",
                    "a function tool needs a `name`",
                    format!("tools[{index}].name"),
                ));
            }
            Ok(ToolDefinition::from(function))
        })
        .collect()
}

/// At most 16 pairs, keys ≤ 64 and values ≤ 512 characters (OpenAI's limits).
fn validate_metadata(request: &CreateResponseRequest) -> Result<(), Error> {
    let bad = request.metadata.len() > MAX_METADATA_PAIRS
        || request.metadata.iter().any(|(key, value)| {
            key.chars().count() > MAX_METADATA_KEY || value.chars().count() > MAX_METADATA_VALUE
        });
    if bad {
        return Err(Error::invalid_param(
            "invalid_request",
            "`metadata` holds at most 16 pairs, keys up to 64 and values up to 512 characters",
            "metadata",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
