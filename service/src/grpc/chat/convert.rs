//! Chat Completions request → agent turn: system/developer messages joined and layered, the last
//! `user` message as the input (trailing `tool` messages instead continue a client-tool turn),
//! everything else as history; content parts, client tools and sampling options converted.

use caduceus_proto::json::{from_proto_struct, from_proto_value};
use caduceus_proto::v1::{ChatMessage, CreateChatCompletionRequest, chat_message, content_part};

use crate::agent::{Sampling, TurnInput, derived_session_id};
use crate::error::Error;
use crate::llm::{ContentPart, ImageUrl, Message, MessageContent, Role, ToolCall, ToolDefinition};

/// The parts of a chat request the agent needs.
#[derive(Debug)]
pub struct ChatTurn {
    /// Joined system/developer text (may be empty).
    pub system_text: String,
    /// Earlier conversation from the body.
    pub history: Vec<Message>,
    /// The new input.
    pub input: TurnInput,
    /// The session id derived from the body when no header names one.
    pub derived_session_id: String,
    /// Client-declared tools.
    pub client_tools: Vec<ToolDefinition>,
    /// Upstream options.
    pub sampling: Sampling,
}

/// Validates and converts a request body.
pub fn chat_turn(request: &CreateChatCompletionRequest) -> Result<ChatTurn, Error> {
    if request.messages.is_empty() {
        return Err(Error::invalid_param(
            "invalid_request",
            "`messages` must be a non-empty array",
            "messages",
        ));
    }
    let mut system_parts = Vec::new();
    let mut conversation = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        let converted = to_wire(message, index)?;
        match converted.role {
            Role::System | Role::Developer => {
                let text = converted
                    .content
                    .as_ref()
                    .map(MessageContent::text)
                    .unwrap_or_default();
                if !text.trim().is_empty() {
                    system_parts.push(text);
                }
            }
            _ => conversation.push(converted),
        }
    }
    let system_text = system_parts.join("\n\n");
    let first_user = conversation
        .iter()
        .find(|m| m.role == Role::User)
        .and_then(|m| m.content.as_ref().map(MessageContent::text))
        .unwrap_or_default();

    let trailing_tools = conversation
        .iter()
        .rev()
        .take_while(|m| m.role == Role::Tool)
        .count();
    let (history, input) = if trailing_tools > 0 {
        let split = conversation.len() - trailing_tools;
        let results = conversation.split_off(split);
        (conversation, TurnInput::ToolResults(results))
    } else {
        let Some(last_user) = conversation.iter().rposition(|m| m.role == Role::User) else {
            return Err(Error::invalid_param(
                "no_user_message",
                "The conversation has no `user` message to answer: include at least one user message with content",
                "messages",
            ));
        };
        let input = conversation.remove(last_user);
        (conversation, TurnInput::User(input))
    };

    let client_tools = request
        .tools
        .iter()
        .enumerate()
        .map(|(index, tool)| {
            let function = tool.function.as_ref().ok_or_else(|| {
                Error::invalid_param(
                    "invalid_request",
                    "a tool needs a `function`",
                    format!("tools[{index}].function"),
                )
            })?;
            if function.name.trim().is_empty() {
                return Err(Error::invalid_param(
                    "invalid_request",
                    "a tool function needs a `name`",
                    format!("tools[{index}].function.name"),
                ));
            }
            Ok(ToolDefinition::from(function))
        })
        .collect::<Result<Vec<_>, Error>>()?;

    check_sampling(request)?;
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    let sampling = Sampling {
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: max_tokens.map(|n| u32::try_from(n.max(1)).unwrap_or(u32::MAX)),
        stop: (!request.stop.is_empty()).then(|| serde_json::json!(request.stop)),
        seed: request.seed,
        presence_penalty: request.presence_penalty,
        frequency_penalty: request.frequency_penalty,
        response_format: request
            .response_format
            .as_ref()
            .map(|f| serde_json::Value::Object(from_proto_struct(f))),
        user: request.user.clone(),
        tool_choice: request.tool_choice.as_ref().map(from_proto_value),
        parallel_tool_calls: request.parallel_tool_calls,
    };

    Ok(ChatTurn {
        derived_session_id: derived_session_id(&system_text, &first_user),
        system_text,
        history,
        input,
        client_tools,
        sampling,
    })
}

/// Numbers the upstream cannot take: a token limit below 1, a NaN or infinite sampling value
/// (JSON has no such number). Larger token limits are clamped to `u32::MAX`.
fn check_sampling(request: &CreateChatCompletionRequest) -> Result<(), Error> {
    for (value, param) in [
        (request.max_tokens, "max_tokens"),
        (request.max_completion_tokens, "max_completion_tokens"),
    ] {
        if value.is_some_and(|n| n < 1) {
            return Err(Error::invalid_param(
                "invalid_request",
                format!("'{param}' must be at least 1"),
                param,
            ));
        }
    }
    for (value, param) in [
        (request.temperature, "temperature"),
        (request.top_p, "top_p"),
        (request.presence_penalty, "presence_penalty"),
        (request.frequency_penalty, "frequency_penalty"),
    ] {
        if value.is_some_and(|x| !x.is_finite()) {
            return Err(Error::invalid_param(
                "invalid_request",
                format!("'{param}' must be a finite number"),
                param,
            ));
        }
    }
    Ok(())
}

/// One proto message as a wire message, validating role and content.
pub fn to_wire(message: &ChatMessage, index: usize) -> Result<Message, Error> {
    let role = match message.role.as_str() {
        "system" => Role::System,
        "developer" => Role::Developer,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        other => {
            return Err(Error::invalid_param(
                "invalid_request",
                format!("unknown role {other:?}: use system, developer, user, assistant or tool"),
                format!("messages[{index}].role"),
            ));
        }
    };
    let content = match &message.content {
        None => None,
        Some(chat_message::Content::Text(text)) => Some(MessageContent::Text(text.clone())),
        Some(chat_message::Content::Parts(parts)) => {
            let mut converted = Vec::with_capacity(parts.parts.len());
            for (j, part) in parts.parts.iter().enumerate() {
                match &part.part {
                    Some(content_part::Part::Text(text)) => {
                        converted.push(ContentPart::Text { text: text.clone() });
                    }
                    Some(content_part::Part::ImageUrl(image)) => {
                        let url = image.url.trim();
                        let ok = url.starts_with("http://")
                            || url.starts_with("https://")
                            || url.starts_with("data:image/");
                        if !ok {
                            return Err(Error::invalid_param(
                                "invalid_request",
                                "image_url must be an http(s) URL or a data:image/… URL",
                                format!("messages[{index}].content[{j}].image_url.url"),
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
                            format!("messages[{index}].content[{j}]"),
                        ));
                    }
                }
            }
            Some(MessageContent::Parts(converted))
        }
    };
    if role == Role::Tool && message.tool_call_id.as_deref().unwrap_or("").is_empty() {
        return Err(Error::invalid_param(
            "invalid_request",
            "a `tool` message needs `tool_call_id`",
            format!("messages[{index}].tool_call_id"),
        ));
    }
    let tool_calls = message
        .tool_calls
        .iter()
        .map(|call| {
            let function = call.function.clone().unwrap_or_default();
            ToolCall::function(call.id.clone(), function.name, function.arguments)
        })
        .collect();
    Ok(Message {
        role,
        content,
        name: message.name.clone(),
        tool_calls,
        tool_call_id: message.tool_call_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(role: &str, text: &str) -> ChatMessage {
        ChatMessage {
            role: role.into(),
            content: Some(chat_message::Content::Text(text.into())),
            ..ChatMessage::default()
        }
    }

    fn request(messages: Vec<ChatMessage>) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            messages,
            ..CreateChatCompletionRequest::default()
        }
    }

    #[test]
    fn last_user_message_is_the_input_and_system_is_joined() {
        let turn = chat_turn(&request(vec![
            text("system", "Eres un asistente creativo."),
            text("user", "first"),
            text("assistant", "answer"),
            text("developer", "Be brief."),
            text("user", "second"),
        ]))
        .unwrap();
        assert_eq!(turn.system_text, "Eres un asistente creativo.\n\nBe brief.");
        assert_eq!(turn.history.len(), 2);
        let TurnInput::User(input) = turn.input else {
            panic!("user input expected")
        };
        assert_eq!(input.text().as_deref(), Some("second"));
        assert_eq!(
            turn.derived_session_id,
            derived_session_id(&turn.system_text, "first")
        );
    }

    #[test]
    fn trailing_assistant_is_history_not_input() {
        let turn = chat_turn(&request(vec![text("user", "q"), text("assistant", "a")])).unwrap();
        let TurnInput::User(input) = turn.input else {
            panic!()
        };
        assert_eq!(input.text().as_deref(), Some("q"));
        assert_eq!(turn.history.len(), 1);
    }

    #[test]
    fn empty_and_userless_conversations_are_400s() {
        let error = chat_turn(&request(vec![])).unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument {
                code: "invalid_request",
                ..
            }
        ));
        let error = chat_turn(&request(vec![text("system", "s")])).unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument {
                code: "no_user_message",
                ..
            }
        ));
        let error = chat_turn(&request(vec![text("wizard", "s")])).unwrap_err();
        assert!(
            matches!(error, Error::InvalidArgument { param: Some(p), .. } if p == "messages[0].role")
        );
    }

    #[test]
    fn trailing_tool_messages_continue_a_client_tool_turn() {
        let mut call = text("assistant", "");
        call.content = None;
        call.tool_calls = vec![caduceus_proto::v1::ToolCall {
            id: "call_1".into(),
            r#type: "function".into(),
            function: Some(caduceus_proto::v1::FunctionCall {
                name: "get_weather".into(),
                arguments: "{}".into(),
            }),
        }];
        let mut result = text("tool", "sunny");
        result.tool_call_id = Some("call_1".into());
        let turn = chat_turn(&request(vec![text("user", "weather?"), call, result])).unwrap();
        let TurnInput::ToolResults(results) = turn.input else {
            panic!()
        };
        assert_eq!(results.len(), 1);
        assert_eq!(turn.history.len(), 2);
    }
}
