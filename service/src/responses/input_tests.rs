//! Request validation and conversion for the Responses API.

use caduceus_proto::v1::{
    ContentPart, ContentParts, FunctionCallInput, FunctionCallOutputInput, FunctionDefinition,
    ImageUrl, InputItems, ResponseInput, ToolDefinition as ProtoTool,
};

use super::*;

fn text_request(text: &str) -> CreateResponseRequest {
    CreateResponseRequest {
        input: Some(ResponseInput {
            input: Some(response_input::Input::Text(text.into())),
        }),
        ..CreateResponseRequest::default()
    }
}

fn items_request(items: Vec<input_item::Item>) -> CreateResponseRequest {
    CreateResponseRequest {
        input: Some(ResponseInput {
            input: Some(response_input::Input::Items(InputItems {
                items: items
                    .into_iter()
                    .map(|item| InputItem {
                        id: String::new(),
                        item: Some(item),
                    })
                    .collect(),
            })),
        }),
        ..CreateResponseRequest::default()
    }
}

fn message(role: &str, text: &str) -> input_item::Item {
    input_item::Item::Message(InputMessage {
        role: role.into(),
        content: Some(input_message::Content::Text(text.into())),
    })
}

fn code_of(error: Error) -> (&'static str, Option<String>) {
    match error {
        Error::InvalidArgument { code, param, .. } => (code, param),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[test]
fn a_string_is_one_user_message() {
    let parsed = parse(&text_request("Hola")).unwrap();
    let TurnInput::User(input) = parsed.input else {
        panic!("user input expected")
    };
    assert_eq!(input.text().as_deref(), Some("Hola"));
    assert!(parsed.history.is_empty());
    assert_eq!(parsed.input_items.len(), 1);
    assert!(parsed.input_items[0].id.starts_with("msg_"));
    assert_eq!(parsed.input_messages.len(), 1);
}

#[test]
fn items_split_into_system_history_and_input() {
    let parsed = parse(&items_request(vec![
        message("developer", "Be brief."),
        message("user", "first"),
        message("assistant", "answer"),
        message("system", "Spanish."),
        message("user", "second"),
    ]))
    .unwrap();
    assert_eq!(parsed.system_text, "Be brief.\n\nSpanish.");
    assert_eq!(parsed.history.len(), 2);
    let TurnInput::User(input) = parsed.input else {
        panic!()
    };
    assert_eq!(input.text().as_deref(), Some("second"));
    assert_eq!(parsed.input_items.len(), 5);
}

#[test]
fn function_call_outputs_continue_a_client_tool_turn() {
    let parsed = parse(&items_request(vec![
        message("user", "weather?"),
        input_item::Item::FunctionCall(FunctionCallInput {
            call_id: "call_1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        }),
        input_item::Item::FunctionCallOutput(FunctionCallOutputInput {
            call_id: "call_1".into(),
            output: "sunny".into(),
        }),
    ]))
    .unwrap();
    let TurnInput::ToolResults(results) = parsed.input else {
        panic!("tool results expected")
    };
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].tool_call_id.as_deref(), Some("call_1"));
    assert_eq!(parsed.history.len(), 2);
    assert_eq!(parsed.history[1].tool_calls[0].function.name, "get_weather");
    assert!(parsed.input_items[1].id.starts_with("fc_"));
    assert!(parsed.input_items[2].id.starts_with("fco_"));
}

#[test]
fn a_function_call_joins_the_assistant_message_before_it() {
    let messages = to_messages(
        &[
            InputItem {
                id: String::new(),
                item: Some(message("assistant", "let me check")),
            },
            InputItem {
                id: String::new(),
                item: Some(input_item::Item::FunctionCall(FunctionCallInput {
                    call_id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                })),
            },
        ],
        "input",
    )
    .unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].tool_calls.len(), 1);
}

#[test]
fn images_become_parts() {
    let item = input_item::Item::Message(InputMessage {
        role: "user".into(),
        content: Some(input_message::Content::Parts(ContentParts {
            parts: vec![
                ContentPart {
                    part: Some(content_part::Part::Text("look".into())),
                },
                ContentPart {
                    part: Some(content_part::Part::ImageUrl(ImageUrl {
                        url: "https://example.com/a.png".into(),
                        detail: None,
                    })),
                },
            ],
        })),
    });
    let parsed = parse(&items_request(vec![item])).unwrap();
    let TurnInput::User(input) = parsed.input else {
        panic!()
    };
    assert!(matches!(input.content, Some(MessageContent::Parts(ref p)) if p.len() == 2));
}

#[test]
fn bad_requests_are_400s_naming_the_field() {
    let cases: Vec<(CreateResponseRequest, &str, &str)> = vec![
        (CreateResponseRequest::default(), "invalid_request", "input"),
        (text_request("  "), "invalid_request", "input"),
        (items_request(vec![]), "invalid_request", "input"),
        (
            items_request(vec![message("assistant", "hi")]),
            "no_user_message",
            "input",
        ),
        (
            items_request(vec![message("wizard", "hi")]),
            "invalid_request",
            "input[0].role",
        ),
        (
            items_request(vec![input_item::Item::FunctionCallOutput(
                FunctionCallOutputInput {
                    call_id: String::new(),
                    output: "x".into(),
                },
            )]),
            "invalid_request",
            "input[0].call_id",
        ),
        (
            CreateResponseRequest {
                previous_response_id: Some("resp_1".into()),
                conversation: Some("c".into()),
                ..text_request("x")
            },
            "invalid_request",
            "conversation",
        ),
        (
            CreateResponseRequest {
                previous_response_id: Some("resp_1".into()),
                conversation_history: vec![InputItem {
                    id: String::new(),
                    item: Some(message("user", "old")),
                }],
                ..text_request("x")
            },
            "invalid_request",
            "conversation_history",
        ),
        (
            CreateResponseRequest {
                truncation: Some("sometimes".into()),
                ..text_request("x")
            },
            "invalid_request",
            "truncation",
        ),
        (
            CreateResponseRequest {
                metadata: (0..17).map(|i| (format!("k{i}"), "v".to_owned())).collect(),
                ..text_request("x")
            },
            "invalid_request",
            "metadata",
        ),
        (
            CreateResponseRequest {
                tools: vec![ProtoTool {
                    r#type: "web_search".into(),
                    function: None,
                }],
                ..text_request("x")
            },
            "unsupported_tool_type",
            "tools[0].type",
        ),
        (
            CreateResponseRequest {
                tools: vec![ProtoTool {
                    r#type: "function".into(),
                    function: Some(FunctionDefinition::default()),
                }],
                ..text_request("x")
            },
            "invalid_request",
            "tools[0].name",
        ),
    ];
    for (request, code, param) in cases {
        let (got_code, got_param) = code_of(parse(&request).unwrap_err());
        assert_eq!((got_code, got_param.as_deref()), (code, Some(param)));
    }
}

#[test]
fn tools_and_sampling_pass_through() {
    let request = CreateResponseRequest {
        tools: vec![ProtoTool {
            r#type: "function".into(),
            function: Some(FunctionDefinition {
                name: "get_weather".into(),
                ..FunctionDefinition::default()
            }),
        }],
        temperature: Some(0.2),
        max_output_tokens: Some(0),
        truncation: Some("auto".into()),
        ..text_request("x")
    };
    let parsed = parse(&request).unwrap();
    assert_eq!(parsed.client_tools[0].function.name, "get_weather");
    assert_eq!(parsed.sampling.temperature, Some(0.2));
    assert_eq!(parsed.sampling.max_tokens, Some(1));
    assert!(parsed.truncate);
}
