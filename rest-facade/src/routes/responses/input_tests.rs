//! Tests of the Responses input grammar, `conversation`, `tools` and query flags.

use super::*;
use serde_json::json;

fn text(role: &str, text: &str) -> InputItem {
    InputItem {
        id: String::new(),
        item: Some(input_item::Item::Message(InputMessage {
            role: role.to_owned(),
            content: Some(input_message::Content::Text(text.to_owned())),
        })),
    }
}

fn items(value: Value) -> Vec<InputItem> {
    match parse_input(&value, "input")
        .unwrap()
        .unwrap()
        .input
        .unwrap()
    {
        response_input::Input::Items(items) => items.items,
        other => panic!("items expected, got {other:?}"),
    }
}

fn error(value: Value) -> FieldError {
    parse_input(&value, "input").unwrap_err()
}

#[test]
fn query_flags_are_lenient_booleans() {
    for (value, expected) in [
        (None, false),
        (Some(""), false),
        (Some("false"), false),
        (Some("0"), false),
        (Some("true"), true),
        (Some("TRUE"), true),
        (Some("1"), true),
    ] {
        assert_eq!(query_flag(value, "stream").unwrap(), expected, "{value:?}");
    }
    let err = query_flag(Some("maybe"), "stream").unwrap_err();
    assert_eq!(
        (err.code, err.param.as_str()),
        ("invalid_request", "stream")
    );
}

#[test]
fn string_input_is_text_and_null_is_absent() {
    assert_eq!(
        parse_input(&json!("hi"), "input").unwrap(),
        Some(ResponseInput {
            input: Some(response_input::Input::Text("hi".into()))
        })
    );
    assert_eq!(parse_input(&Value::Null, "input").unwrap(), None);
    let err = error(json!(5));
    assert_eq!((err.code, err.param.as_str()), ("invalid_request", "input"));
}

#[test]
fn strings_and_role_messages_become_messages() {
    let parsed = items(json!([
        "first",
        {"role": "assistant", "content": "reply"},
        {"type": "message", "role": "user", "content": "second"}
    ]));
    assert_eq!(
        parsed,
        vec![
            text("user", "first"),
            text("assistant", "reply"),
            text("user", "second")
        ]
    );
}

#[test]
fn content_parts_map_to_text_and_image_parts() {
    let parsed = items(json!([{"role": "user", "content": [
        {"type": "input_text", "text": "a"},
        {"type": "output_text", "text": "b"},
        {"type": "text", "text": "c"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA"}
    ]}]));
    let Some(input_item::Item::Message(message)) = &parsed[0].item else {
        panic!("message expected")
    };
    let Some(input_message::Content::Parts(parts)) = &message.content else {
        panic!("parts expected")
    };
    let kinds: Vec<_> = parts
        .parts
        .iter()
        .map(|p| p.part.clone().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec![
            content_part::Part::Text("a".into()),
            content_part::Part::Text("b".into()),
            content_part::Part::Text("c".into()),
            content_part::Part::ImageUrl(ImageUrl {
                url: "https://x/y.png".into(),
                detail: Some("low".into())
            }),
            content_part::Part::ImageUrl(ImageUrl {
                url: "data:image/png;base64,AA".into(),
                detail: None
            }),
        ]
    );
}

#[test]
fn function_items_map_and_missing_fields_are_empty() {
    let parsed = items(json!([
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "function_call_output", "call_id": "c2",
         "output": [{"type": "input_text", "text": "x"}, {"type": "input_text", "text": "y"}]},
        {"type": "function_call_output"}
    ]));
    assert_eq!(
        parsed[0].item,
        Some(input_item::Item::FunctionCall(FunctionCallInput {
            call_id: "c1".into(),
            name: "f".into(),
            arguments: "{}".into()
        }))
    );
    assert_eq!(
        parsed[1].item,
        Some(input_item::Item::FunctionCallOutput(
            FunctionCallOutputInput {
                call_id: "c1".into(),
                output: "42".into()
            }
        ))
    );
    assert_eq!(
        parsed[2].item,
        Some(input_item::Item::FunctionCallOutput(
            FunctionCallOutputInput {
                call_id: "c2".into(),
                output: "xy".into()
            }
        ))
    );
    assert_eq!(
        parsed[3].item,
        Some(input_item::Item::FunctionCallOutput(
            FunctionCallOutputInput::default()
        ))
    );
}

#[test]
fn message_without_role_or_content_passes_through_empty() {
    let parsed = items(json!([{"type": "message"}]));
    assert_eq!(
        parsed[0].item,
        Some(input_item::Item::Message(InputMessage::default()))
    );
}

#[test]
fn shape_errors_name_the_field() {
    let cases = [
        (
            json!([{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]),
            "unsupported_content_type",
            "input[0].content[0].type",
        ),
        (
            json!(["ok", {"role": "user", "content": [{"text": "no type"}]}]),
            "unsupported_content_type",
            "input[1].content[0].type",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]),
            "unsupported_content_type",
            "input[0].content[0].image_url",
        ),
        (
            json!([{"type": "reasoning", "summary": []}]),
            "unsupported_input_type",
            "input[0].type",
        ),
        (json!([{"role": 7}]), "invalid_request", "input[0].role"),
        (
            json!([{"role": "user", "content": 7}]),
            "invalid_request",
            "input[0].content",
        ),
        (
            json!([{"role": "user", "content": ["bare"]}]),
            "invalid_request",
            "input[0].content[0]",
        ),
        (
            json!([{"role": "user", "content": [{"type": "input_text", "text": 1}]}]),
            "invalid_request",
            "input[0].content[0].text",
        ),
        (json!([null]), "invalid_request", "input[0]"),
        (
            json!([{"type": "function_call_output", "call_id": "c", "output": 3}]),
            "invalid_request",
            "input[0].output",
        ),
        (
            json!([{"type": "function_call", "arguments": {}}]),
            "invalid_request",
            "input[0].arguments",
        ),
    ];
    for (value, code, param) in cases {
        let err = error(value.clone());
        assert_eq!((err.code, err.param.as_str()), (code, param), "{value}");
    }
}

#[test]
fn history_uses_its_own_param_prefix() {
    assert_eq!(
        parse_items(&Value::Null, "conversation_history").unwrap(),
        vec![]
    );
    let err = parse_items(&json!([{"role": []}]), "conversation_history").unwrap_err();
    assert_eq!(err.param, "conversation_history[0].role");
    let err = parse_items(&json!("x"), "conversation_history").unwrap_err();
    assert_eq!(err.param, "conversation_history");
}

#[test]
fn conversation_is_a_name_or_an_object_id() {
    assert_eq!(parse_conversation(&json!("c")).unwrap(), Some("c".into()));
    assert_eq!(
        parse_conversation(&json!({"id": "c"})).unwrap(),
        Some("c".into())
    );
    assert_eq!(parse_conversation(&Value::Null).unwrap(), None);
    assert_eq!(
        parse_conversation(&json!(1)).unwrap_err().param,
        "conversation"
    );
    assert_eq!(
        parse_conversation(&json!({"id": 1})).unwrap_err().param,
        "conversation.id"
    );
}

#[test]
fn tools_accept_flat_and_nested_function_shapes() {
    let schema = json!({"type": "object", "properties": {"q": {"type": "string"}}});
    let tools = parse_tools(&json!([
        {"type": "function", "name": "flat", "description": "d", "parameters": schema, "strict": true},
        {"type": "function", "function": {"name": "nested", "parameters": schema}},
        {"type": "web_search"}
    ]))
    .unwrap();
    let Value::Object(schema) = schema else {
        unreachable!()
    };
    assert_eq!(
        tools,
        vec![
            ToolDefinition {
                r#type: "function".into(),
                function: Some(FunctionDefinition {
                    name: "flat".into(),
                    description: Some("d".into()),
                    parameters: Some(to_proto_struct(&schema)),
                    strict: Some(true),
                }),
            },
            ToolDefinition {
                r#type: "function".into(),
                function: Some(FunctionDefinition {
                    name: "nested".into(),
                    description: None,
                    parameters: Some(to_proto_struct(&schema)),
                    strict: None,
                }),
            },
            ToolDefinition {
                r#type: "web_search".into(),
                function: None
            },
        ]
    );
}

#[test]
fn tool_shape_errors_name_the_field() {
    let cases = [
        (json!({}), "tools"),
        (json!(["f"]), "tools[0]"),
        (
            json!([{"type": "function", "name": "f", "parameters": "x"}]),
            "tools[0].parameters",
        ),
        (
            json!([{"type": "function", "function": {"name": 1}}]),
            "tools[0].function.name",
        ),
        (
            json!([{"type": "function", "function": 1}]),
            "tools[0].function",
        ),
        (
            json!([{"type": "function", "name": "f", "strict": "yes"}]),
            "tools[0].strict",
        ),
    ];
    for (value, param) in cases {
        assert_eq!(parse_tools(&value).unwrap_err().param, param, "{value}");
    }
}
