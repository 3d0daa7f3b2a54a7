//! Unit tests of the chat translation: request JSON → proto (parts, tools, stop, tool_choice,
//! shape errors with their `param`) and proto → completion / chunk / error-chunk JSON.

use caduceus_proto::v1::{
    ChatChoice, ChatCompletionChunk, ChatCompletionEvent, ChatDelta, ChatMessage, ChunkChoice,
    CreateChatCompletionResponse, FunctionCall, FunctionCallDelta, StreamError, ToolCall,
    ToolCallDelta, chat_completion_event, chat_message, content_part,
};
use serde_json::{Value, json};

use super::convert::{ChatBody, to_request};
use super::render::{chunk_json, completion_json};
use super::{ChunkContext, Rendered};
use crate::extract::parse_json;

fn translate(
    body: Value,
) -> Result<caduceus_proto::v1::CreateChatCompletionRequest, crate::error::ApiError> {
    let body: ChatBody = parse_json(body.to_string().as_bytes())?;
    to_request(body)
}

#[test]
fn content_parts_and_image_forms() {
    let request = translate(
        json!({"messages": [{"role": "user", "name": "ann", "content": [
            {"type": "text", "text": "a"},
            {"type": "image_url", "image_url": "data:image/png;base64,xx"},
            {"type": "image_url", "image_url": {"url": "https://i/x.png", "detail": "high"}}
        ]}]}),
    )
    .unwrap();
    let message = &request.messages[0];
    assert_eq!(message.name.as_deref(), Some("ann"));
    let Some(chat_message::Content::Parts(parts)) = &message.content else {
        panic!("parts")
    };
    assert_eq!(parts.parts.len(), 3);
    assert!(matches!(&parts.parts[0].part, Some(content_part::Part::Text(t)) if t == "a"));
    let Some(content_part::Part::ImageUrl(image)) = &parts.parts[2].part else {
        panic!("image")
    };
    assert_eq!(
        (image.url.as_str(), image.detail.as_deref()),
        ("https://i/x.png", Some("high"))
    );
    let Some(content_part::Part::ImageUrl(image)) = &parts.parts[1].part else {
        panic!("image")
    };
    assert_eq!(image.detail, None);
}

#[test]
fn shape_errors_name_the_param() {
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": [{"type": "file"}]}]}),
            "unsupported_content_type",
            "messages[0].content[0].type",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}, {"role": "user", "content": [{"type": "text"}]}]}),
            "invalid_request",
            "messages[1].content[0].text",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"detail": "low"}}]}]}),
            "invalid_request",
            "messages[0].content[0].image_url.url",
        ),
        (
            json!({"messages": [{"role": "user", "content": [5]}]}),
            "invalid_request",
            "messages[0].content[0]",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "invalid_request",
            "messages[0].content",
        ),
        (
            json!({"messages": [], "tools": [{"type": "retrieval"}]}),
            "invalid_request",
            "tools[0].type",
        ),
        (
            json!({"messages": [], "tools": [{"type": "function"}]}),
            "invalid_request",
            "tools[0].function",
        ),
        (
            json!({"messages": [], "temperature": "hot"}),
            "invalid_request",
            "temperature",
        ),
        (
            json!({"messages": [{"content": "x"}]}),
            "invalid_request",
            "messages[0].role",
        ),
    ];
    for (body, code, param) in cases {
        let error = translate(body.clone()).unwrap_err();
        assert_eq!(error.code(), Some(code), "{body}");
        assert_eq!(error.param(), Some(param), "{body}");
    }
}

#[test]
fn options_tools_and_semantics_left_to_the_service() {
    let request = translate(json!({
        "messages": [],
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": false,
        "stream_options": {"include_usage": true},
        "stop": ["a", "b"],
        "max_tokens": 10, "max_completion_tokens": 11, "seed": 3, "top_p": 0.9,
        "presence_penalty": 0.1, "frequency_penalty": 0.2, "user": "u",
        "response_format": {"type": "json_object"}
    }))
    .unwrap();
    assert!(
        request.messages.is_empty(),
        "empty messages are the service's to refuse"
    );
    let function = request.tools[0].function.clone().unwrap();
    assert_eq!((function.name.as_str(), function.strict), ("f", Some(true)));
    let parameters = caduceus_proto::json::from_proto_struct(&function.parameters.unwrap());
    assert_eq!(Value::Object(parameters), json!({"type": "object"}));
    let choice = caduceus_proto::json::from_proto_value(&request.tool_choice.unwrap());
    assert_eq!(
        choice,
        json!({"type": "function", "function": {"name": "f"}})
    );
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert!(request.stream_options.unwrap().include_usage);
    assert_eq!(request.stop, ["a", "b"]);
    assert_eq!(
        (
            request.max_tokens,
            request.max_completion_tokens,
            request.seed
        ),
        (Some(10), Some(11), Some(3))
    );
    assert_eq!(request.user.as_deref(), Some("u"));
    assert!(request.response_format.is_some());
}

#[test]
fn assistant_tool_calls_arguments_may_be_objects() {
    let request = translate(
        json!({"messages": [{"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": {"x": 1}}}
        ]}]}),
    )
    .unwrap();
    let call = &request.messages[0].tool_calls[0];
    assert_eq!(call.r#type, "function");
    assert_eq!(call.function.as_ref().unwrap().arguments, r#"{"x":1}"#);
    assert_eq!(request.messages[0].content, None);
}

#[test]
fn completion_with_tool_calls() {
    let response = CreateChatCompletionResponse {
        id: "c".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChatChoice {
            index: 0,
            message: Some(ChatMessage {
                role: "assistant".into(),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    r#type: "function".into(),
                    function: Some(FunctionCall {
                        name: "f".into(),
                        arguments: "{}".into(),
                    }),
                }],
                ..Default::default()
            }),
            finish_reason: "tool_calls".into(),
        }],
        usage: None,
        session_id: String::new(),
    };
    let json = completion_json(&response);
    assert_eq!(
        json["choices"][0]["message"],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]})
    );
    assert_eq!(json["usage"]["total_tokens"], 0);
}

#[test]
fn chunk_delta_has_only_set_fields() {
    let chunk = ChatCompletionChunk {
        id: "c".into(),
        created: 1,
        model: "m".into(),
        choices: vec![ChunkChoice {
            index: 0,
            delta: Some(ChatDelta {
                role: None,
                content: None,
                tool_calls: vec![ToolCallDelta {
                    index: 0,
                    id: Some("call_1".into()),
                    r#type: Some("function".into()),
                    function: Some(FunctionCallDelta {
                        name: Some("f".into()),
                        arguments: None,
                    }),
                }],
            }),
            finish_reason: None,
        }],
        usage: None,
    };
    let json = chunk_json(&chunk);
    assert_eq!(
        json["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}]})
    );
    assert!(json.get("usage").is_none());
}

#[test]
fn stream_error_event_becomes_an_error_chunk_and_stops() {
    let mut context = ChunkContext::new("m".into());
    let event = ChatCompletionEvent {
        event: Some(chat_completion_event::Event::Error(StreamError {
            message: "upstream timed out".into(),
            r#type: "server_error".into(),
            code: "upstream_timeout".into(),
        })),
    };
    assert!(matches!(context.render(event), Rendered::Stop(frames) if frames.len() == 1));
    let chunk = context.error_chunk("x", "server_error", "c");
    assert!(chunk["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(chunk["model"], "m");
    assert_eq!(chunk["choices"][0]["finish_reason"], "error");
}
