//! Proto → domain for run creation: `CreateRunRequest` → [`RunSpec`] (input text or items: the
//! last user message is the new input, everything else history, after `conversation_history`),
//! with each bad field a 400 naming it.

use caduceus_proto::v1 as pb;

use crate::error::Error;
use crate::grpc::headers::SessionHeaders;
use crate::llm::{ContentPart, ImageUrl, Message, MessageContent, Role, ToolCall};
use crate::runs::{GateMode, RunSpec};

/// Validates a create request into a run spec (approvals answered by a human).
pub fn run_spec(request: pb::CreateRunRequest, headers: SessionHeaders) -> Result<RunSpec, Error> {
    let mut history = items_to_messages(&request.conversation_history, "conversation_history")?;
    let input = match request.input.and_then(|input| input.input) {
        None => None,
        Some(pb::response_input::Input::Text(text)) => {
            (!text.trim().is_empty()).then(|| Message::user(text))
        }
        Some(pb::response_input::Input::Items(items)) => {
            let mut messages = items_to_messages(&items.items, "input")?;
            let last_user = messages.iter().rposition(|m| m.role == Role::User);
            match last_user {
                Some(index) => {
                    let input = messages.remove(index);
                    history.extend(messages);
                    Some(input)
                }
                None => {
                    return Err(Error::invalid_param(
                        "no_user_message",
                        "`input` has no user message to act on",
                        "input",
                    ));
                }
            }
        }
    };
    let Some(input) = input else {
        return Err(Error::invalid_param(
            "invalid_request",
            "`input` is required: a string or an array of input items",
            "input",
        ));
    };
    let non_empty = |value: Option<String>| value.filter(|text| !text.trim().is_empty());
    if let Some(id) = non_empty(request.previous_response_id.clone()) {
        crate::grpc::validate::object_id(
            &id,
            "previous_response_id",
            "response_not_found",
            "stored response",
        )?;
    }
    Ok(RunSpec {
        input,
        history,
        instructions: non_empty(request.instructions),
        session_id: non_empty(request.session_id).or(headers.session_id),
        session_key: headers.session_key,
        previous_response_id: non_empty(request.previous_response_id),
        model: non_empty(request.model),
        approvals: GateMode::Human,
    })
}

/// Input items as wire messages; consecutive `function_call` items become one assistant message.
fn items_to_messages(items: &[pb::InputItem], field: &str) -> Result<Vec<Message>, Error> {
    let mut messages: Vec<Message> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let param = format!("{field}[{index}]");
        match &item.item {
            Some(pb::input_item::Item::Message(message)) => {
                messages.push(input_message(message, &param)?);
            }
            Some(pb::input_item::Item::FunctionCall(call)) => {
                let call = ToolCall::function(
                    call.call_id.clone(),
                    call.name.clone(),
                    call.arguments.clone(),
                );
                match messages.last_mut() {
                    Some(last) if last.role == Role::Assistant && !last.tool_calls.is_empty() => {
                        last.tool_calls.push(call);
                    }
                    _ => messages.push(Message::assistant_tool_calls("", vec![call])),
                }
            }
            Some(pb::input_item::Item::FunctionCallOutput(output)) => {
                if output.call_id.is_empty() {
                    return Err(Error::invalid_param(
                        "invalid_request",
                        "a function_call_output needs a `call_id`",
                        format!("{param}.call_id"),
                    ));
                }
                messages.push(Message::tool(output.call_id.clone(), output.output.clone()));
            }
            None => {
                return Err(Error::invalid_param(
                    "invalid_request",
                    "empty input item",
                    param,
                ));
            }
        }
    }
    Ok(messages)
}

fn input_message(message: &pb::InputMessage, param: &str) -> Result<Message, Error> {
    let role = match message.role.as_str() {
        "user" | "" => Role::User,
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
        Some(pb::input_message::Content::Text(text)) => MessageContent::Text(text.clone()),
        Some(pb::input_message::Content::Parts(parts)) => {
            let mut converted = Vec::with_capacity(parts.parts.len());
            for (j, part) in parts.parts.iter().enumerate() {
                match &part.part {
                    Some(pb::content_part::Part::Text(text)) => {
                        converted.push(ContentPart::Text { text: text.clone() });
                    }
                    Some(pb::content_part::Part::ImageUrl(image)) => {
                        let url = image.url.trim();
                        if !(url.starts_with("http://")
                            || url.starts_with("https://")
                            || url.starts_with("data:image/"))
                        {
                            return Err(Error::invalid_param(
                                "invalid_request",
                                "image URLs must be http(s) or data:image/… URLs",
                                format!("{param}.content[{j}]"),
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
                            format!("{param}.content[{j}]"),
                        ));
                    }
                }
            }
            MessageContent::Parts(converted)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text_input(text: &str) -> Option<pb::ResponseInput> {
        Some(pb::ResponseInput {
            input: Some(pb::response_input::Input::Text(text.into())),
        })
    }

    fn message(role: &str, text: &str) -> pb::InputItem {
        pb::InputItem {
            id: String::new(),
            item: Some(pb::input_item::Item::Message(pb::InputMessage {
                role: role.into(),
                content: Some(pb::input_message::Content::Text(text.into())),
            })),
        }
    }

    #[test]
    fn text_input_and_fields() {
        let spec = run_spec(
            pb::CreateRunRequest {
                input: text_input("do it"),
                instructions: Some("carefully".into()),
                session_id: Some("".into()),
                conversation_history: vec![message("user", "before"), message("assistant", "ok")],
                previous_response_id: None,
                model: Some("alias".into()),
            },
            SessionHeaders {
                session_id: Some("from-header".into()),
                session_key: Some("key".into()),
            },
        )
        .unwrap();
        assert_eq!(spec.input.text().as_deref(), Some("do it"));
        assert_eq!(spec.history.len(), 2);
        assert_eq!(spec.instructions.as_deref(), Some("carefully"));
        assert_eq!(spec.session_id.as_deref(), Some("from-header"));
        assert_eq!(spec.session_key.as_deref(), Some("key"));
        assert_eq!(spec.model.as_deref(), Some("alias"));
        assert_eq!(spec.approvals, GateMode::Human);
    }

    #[test]
    fn items_input_takes_the_last_user_message() {
        let items = pb::InputItems {
            items: vec![
                message("user", "first"),
                pb::InputItem {
                    id: String::new(),
                    item: Some(pb::input_item::Item::FunctionCall(pb::FunctionCallInput {
                        call_id: "c1".into(),
                        name: "terminal".into(),
                        arguments: "{}".into(),
                    })),
                },
                pb::InputItem {
                    id: String::new(),
                    item: Some(pb::input_item::Item::FunctionCallOutput(
                        pb::FunctionCallOutputInput {
                            call_id: "c1".into(),
                            output: "out".into(),
                        },
                    )),
                },
                message("user", "second"),
            ],
        };
        let spec = run_spec(
            pb::CreateRunRequest {
                input: Some(pb::ResponseInput {
                    input: Some(pb::response_input::Input::Items(items)),
                }),
                ..pb::CreateRunRequest::default()
            },
            SessionHeaders::default(),
        )
        .unwrap();
        assert_eq!(spec.input.text().as_deref(), Some("second"));
        let roles: Vec<Role> = spec.history.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool]);
    }

    #[test]
    fn missing_or_userless_input_is_a_400_naming_input() {
        for input in [None, text_input("  ")] {
            let error = run_spec(
                pb::CreateRunRequest {
                    input,
                    ..pb::CreateRunRequest::default()
                },
                SessionHeaders::default(),
            )
            .unwrap_err();
            assert!(
                matches!(error, Error::InvalidArgument { param: Some(ref p), .. } if p == "input")
            );
        }
        let error = run_spec(
            pb::CreateRunRequest {
                input: Some(pb::ResponseInput {
                    input: Some(pb::response_input::Input::Items(pb::InputItems {
                        items: vec![message("assistant", "x")],
                    })),
                }),
                ..pb::CreateRunRequest::default()
            },
            SessionHeaders::default(),
        )
        .unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidArgument {
                code: "no_user_message",
                ..
            }
        ));
        let error = run_spec(
            pb::CreateRunRequest {
                input: text_input("x"),
                conversation_history: vec![message("wizard", "x")],
                ..pb::CreateRunRequest::default()
            },
            SessionHeaders::default(),
        )
        .unwrap_err();
        assert!(
            matches!(error, Error::InvalidArgument { param: Some(ref p), .. } if p == "conversation_history[0].role")
        );
    }
}
