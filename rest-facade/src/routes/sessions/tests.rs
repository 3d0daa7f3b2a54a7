//! Unit tests of session rendering (every field present, absent optionals `null`, tool calls as
//! OpenAI objects or `null`), the PATCH field rules, query parsing and stream-event payloads.

use caduceus_proto::v1::{
    FunctionCall, Session, SessionChatEvent, SessionMessage, SessionMessageStarted,
    SessionToolCompleted, ToolCall, session_chat_event,
};
use serde_json::{Map, Value, json};

use super::render::{message_json, session_json, stream_event};
use super::request::{flag, number, update_request};

#[test]
fn session_has_every_field_with_nulls() {
    let json = session_json(&Session {
        id: "s".into(),
        source: "api_server".into(),
        ..Default::default()
    });
    let keys = [
        "id",
        "source",
        "title",
        "model",
        "started_at",
        "ended_at",
        "end_reason",
        "message_count",
        "tool_call_count",
        "input_tokens",
        "output_tokens",
        "parent_session_id",
        "has_system_prompt",
        "last_active",
        "preview",
    ];
    let object = json.as_object().unwrap();
    assert_eq!(object.len(), keys.len());
    for key in keys {
        assert!(object.contains_key(key), "{key}");
    }
    for key in [
        "title",
        "model",
        "ended_at",
        "end_reason",
        "parent_session_id",
        "preview",
    ] {
        assert_eq!(json[key], Value::Null, "{key}");
    }
}

#[test]
fn message_tool_calls_are_openai_objects_or_null() {
    let mut message = SessionMessage {
        id: 1,
        role: "assistant".into(),
        ..Default::default()
    };
    let json = message_json(&message);
    assert_eq!(json["tool_calls"], Value::Null);
    assert_eq!(json["content"], Value::Null);
    assert_eq!(json["token_count"], Value::Null);
    message.tool_calls = vec![ToolCall {
        id: "c".into(),
        r#type: "function".into(),
        function: Some(FunctionCall {
            name: "terminal".into(),
            arguments: "{\"cmd\":\"ls\"}".into(),
        }),
    }];
    assert_eq!(
        message_json(&message)["tool_calls"],
        json!([{"id": "c", "type": "function", "function": {"name": "terminal", "arguments": "{\"cmd\":\"ls\"}"}}])
    );
}

#[test]
fn patch_accepts_title_and_end_reason_only() {
    let body: Map<String, Value> =
        serde_json::from_value(json!({"title": null, "end_reason": "x"})).unwrap();
    let request = update_request("s".into(), body).unwrap();
    assert_eq!(request.title.as_deref(), Some(""));
    assert_eq!(request.end_reason.as_deref(), Some("x"));
    let body: Map<String, Value> =
        serde_json::from_value(json!({"title": "t", "model": "m"})).unwrap();
    let error = update_request("s".into(), body).unwrap_err();
    assert_eq!(
        (error.code(), error.param()),
        (Some("unsupported_session_field"), Some("model"))
    );
    let body: Map<String, Value> = serde_json::from_value(json!({"title": 5})).unwrap();
    let error = update_request("s".into(), body).unwrap_err();
    assert_eq!(
        (error.code(), error.param()),
        (Some("invalid_request"), Some("title"))
    );
    assert!(
        update_request("s".into(), Map::new())
            .unwrap()
            .title
            .is_none()
    );
}

#[test]
fn query_values() {
    assert_eq!(number::<i32>("limit", None).unwrap(), None);
    assert_eq!(number::<i32>("limit", Some(String::new())).unwrap(), None);
    assert_eq!(number::<i32>("limit", Some("7".into())).unwrap(), Some(7));
    assert_eq!(
        number::<i32>("limit", Some("x".into()))
            .unwrap_err()
            .param(),
        Some("limit")
    );
    assert!(!flag("f", Some(String::new())).unwrap());
    assert!(flag("f", Some("TRUE".into())).unwrap());
    assert_eq!(
        flag("f", Some("maybe".into())).unwrap_err().param(),
        Some("f")
    );
}

#[test]
fn stream_payloads() {
    let event = SessionChatEvent {
        event: "message.started".into(),
        session_id: "s".into(),
        run_id: "r".into(),
        seq: 2,
        ts: 1.5,
        payload: Some(session_chat_event::Payload::MessageStarted(
            SessionMessageStarted {
                message_id: "m".into(),
                role: "assistant".into(),
            },
        )),
    };
    let (name, data) = stream_event(&event);
    assert_eq!(name, "message.started");
    assert_eq!(
        data,
        json!({"message": {"id": "m", "role": "assistant"}, "session_id": "s", "run_id": "r", "seq": 2, "ts": 1.5})
    );
    let event = SessionChatEvent {
        event: String::new(),
        payload: Some(session_chat_event::Payload::ToolCompleted(
            SessionToolCompleted {
                message_id: "m".into(),
                tool_name: "terminal".into(),
                duration: 0.5,
                error: None,
            },
        )),
        ..Default::default()
    };
    let (name, data) = stream_event(&event);
    assert_eq!(name, "tool.completed");
    assert_eq!(data["error"], Value::Null);
}
