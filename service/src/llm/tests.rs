//! Unit tests of the pure stream pieces: [`ChunkDecoder`] and [`Assembler`] fed raw chunk JSON
//! the way real providers send it (OpenAI, providers without ids, reused indexes, usage-only
//! final chunks, error objects, garbage). HTTP behaviour is tested end-to-end in the tests crate.

use serde_json::{Value, json};

use super::*;

fn text(s: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {"content": s}, "finish_reason": null}]})
}

fn finish(reason: &str) -> Value {
    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]})
}

fn call(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut function = json!({"arguments": args});
    if let Some(name) = name {
        function["name"] = json!(name);
    }
    let mut call = json!({"index": index, "type": "function", "function": function});
    if let Some(id) = id {
        call["id"] = json!(id);
    }
    json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
}

#[test]
fn plain_text_with_usage_in_final_empty_choices_chunk() {
    let chunks = [
        json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}),
        text("Hel"),
        text("lo"),
        finish("stop"),
        json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
    ];
    let turn = Assembler::from_chunks(&chunks).unwrap();
    assert_eq!(turn.content, "Hello");
    assert!(turn.tool_calls.is_empty());
    assert_eq!(turn.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        turn.usage,
        Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
            total_tokens: 15
        })
    );
    assert_eq!(turn.to_message(), Message::assistant("Hello"));
}

#[test]
fn two_tool_calls_assembled_by_index() {
    let chunks = [
        call(0, Some("call_a"), Some("read_file"), ""),
        call(0, None, None, "{\"pa"),
        call(1, Some("call_b"), Some("terminal"), "{\"comm"),
        call(0, None, None, "th\":\"x\"}"),
        call(1, None, None, "and\":\"ls\"}"),
        finish("tool_calls"),
    ];
    let turn = Assembler::from_chunks(&chunks).unwrap();
    assert_eq!(
        turn.tool_calls,
        vec![
            ToolCall::function("call_a", "read_file", r#"{"path":"x"}"#),
            ToolCall::function("call_b", "terminal", r#"{"command":"ls"}"#),
        ]
    );
    assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn missing_ids_are_generated_and_distinct() {
    let chunks = [
        call(0, None, Some("a"), "{}"),
        call(1, Some(""), Some("b"), "{}"),
        finish("tool_calls"),
    ];
    let turn = Assembler::from_chunks(&chunks).unwrap();
    let ids: Vec<_> = turn.tool_calls.iter().map(|c| c.id.as_str()).collect();
    assert!(
        ids.iter()
            .all(|id| id.starts_with("call_") && id.len() == 37)
    );
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn reused_index_with_new_id_is_a_new_call() {
    // Some providers send each complete call at index 0.
    let chunks = [
        call(0, Some("x1"), Some("a"), "{\"n\":1}"),
        call(0, Some("x2"), Some("b"), "{\"n\":2}"),
        finish("tool_calls"),
    ];
    let turn = Assembler::from_chunks(&chunks).unwrap();
    assert_eq!(turn.tool_calls.len(), 2);
    assert_eq!(turn.tool_calls[1].function.name, "b");
    assert_eq!(turn.tool_calls[1].function.arguments, "{\"n\":2}");
}

#[test]
fn ids_repeated_on_every_fragment_stay_one_call() {
    let chunks = [
        call(0, Some("same"), Some("a"), "{\"k\":"),
        call(0, Some("same"), None, "1}"),
        finish("tool_calls"),
    ];
    let turn = Assembler::from_chunks(&chunks).unwrap();
    assert_eq!(
        turn.tool_calls,
        vec![ToolCall::function("same", "a", "{\"k\":1}")]
    );
}

#[test]
fn arguments_before_the_name_are_held_back() {
    let mut decoder = ChunkDecoder::new();
    assert_eq!(
        decoder.chunk(&call(0, Some("c"), None, "{")).unwrap(),
        vec![]
    );
    let events = decoder.chunk(&call(0, None, Some("f"), "}")).unwrap();
    assert_eq!(
        events,
        vec![
            UpstreamEvent::ToolCallStarted {
                index: 0,
                id: "c".into(),
                name: "f".into()
            },
            UpstreamEvent::ToolCallArgumentsDelta {
                index: 0,
                delta: "{}".into()
            },
        ]
    );
}

#[test]
fn a_stream_of_only_done_is_a_protocol_error() {
    let mut decoder = ChunkDecoder::new();
    assert!(matches!(
        decoder.data("[DONE]"),
        Err(UpstreamError::Protocol(_))
    ));
}

#[test]
fn a_call_that_never_gets_a_name_is_a_protocol_error() {
    let mut decoder = ChunkDecoder::new();
    decoder.chunk(&call(0, Some("c"), None, "{}")).unwrap();
    assert!(matches!(
        decoder.data("[DONE]"),
        Err(UpstreamError::Protocol(_))
    ));
}

#[test]
fn object_arguments_are_serialized() {
    let chunk = json!({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "c", "function": {"name": "f", "arguments": {"a": 1}}}
    ]}, "finish_reason": "tool_calls"}]});
    let turn = Assembler::from_chunks([&chunk]).unwrap();
    assert_eq!(turn.tool_calls[0].function.arguments, r#"{"a":1}"#);
}

#[test]
fn usage_on_the_finish_chunk_and_missing_total() {
    let mut chunk = finish("length");
    chunk["usage"] = json!({"prompt_tokens": 3, "completion_tokens": 4});
    let turn = Assembler::from_chunks([&text("x"), &chunk]).unwrap();
    assert_eq!(turn.usage.map(|u| u.total_tokens), Some(7));
    assert_eq!(turn.finish_reason.as_deref(), Some("length"));
}

#[test]
fn events_arrive_in_order_and_finish_last() {
    let mut decoder = ChunkDecoder::new();
    let mut events = Vec::new();
    for data in [
        r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        "[DONE]",
        r#"{"choices":[{"index":0,"delta":{"content":"ignored after done"}}]}"#,
    ] {
        events.extend(decoder.data(data).unwrap());
    }
    assert!(decoder.is_done());
    assert_eq!(events.len(), 3);
    assert_eq!(events[0], UpstreamEvent::TextDelta("a".into()));
    assert!(matches!(events[1], UpstreamEvent::Usage(_)));
    assert_eq!(
        events[2],
        UpstreamEvent::Finished {
            finish_reason: Some("stop".into())
        }
    );
}

#[test]
fn malformed_json_and_error_objects_are_errors() {
    let mut decoder = ChunkDecoder::new();
    assert!(matches!(
        decoder.data("{not json"),
        Err(UpstreamError::Protocol(_))
    ));
    let mut decoder = ChunkDecoder::new();
    let error = decoder
        .data(r#"{"error":{"message":"model overloaded","type":"server_error"}}"#)
        .unwrap_err();
    assert_eq!(
        error,
        UpstreamError::Reported {
            message: "model overloaded".into()
        }
    );
    assert!(matches!(
        ChunkDecoder::new().data("42"),
        Err(UpstreamError::Protocol(_))
    ));
}

#[test]
fn end_of_stream_needs_done_or_a_finish_reason() {
    let mut cut = ChunkDecoder::new();
    cut.chunk(&text("partial")).unwrap();
    assert!(matches!(
        cut.end_of_stream(),
        Err(UpstreamError::Protocol(_))
    ));

    let mut no_done = ChunkDecoder::new();
    no_done.chunk(&finish("stop")).unwrap();
    assert_eq!(
        no_done.end_of_stream().unwrap(),
        vec![UpstreamEvent::Finished {
            finish_reason: Some("stop".into())
        }]
    );
}

#[test]
fn other_choices_are_ignored() {
    let chunk = json!({"choices": [
        {"index": 1, "delta": {"content": "other"}},
        {"index": 0, "delta": {"content": "mine"}}
    ]});
    let turn = Assembler::from_chunks([&chunk]).unwrap();
    assert_eq!(turn.content, "mine");
}

#[test]
fn non_streamed_completion_becomes_events() {
    let body = json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null,
            "tool_calls": [
                {"type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"type": "function", "function": {"name": "b", "arguments": "{}"}}
            ]
        }}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    });
    let mut assembler = Assembler::new();
    for event in completion_events(&body).unwrap() {
        assembler.apply(&event);
    }
    assert!(assembler.is_finished());
    let turn = assembler.into_turn();
    assert_eq!(turn.tool_calls.len(), 2);
    assert_ne!(turn.tool_calls[0].id, turn.tool_calls[1].id);
    assert_eq!(turn.usage.map(|u| u.total_tokens), Some(3));
}

#[test]
fn arbitrary_json_never_panics() {
    let odd = [
        json!(null),
        json!([]),
        json!([1, 2, 3]),
        json!({"choices": null}),
        json!({"choices": [null]}),
        json!({"choices": [{"delta": null}]}),
        json!({"choices": [{"delta": {"content": 5}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"index": 18446744073709551615u64}]}}]}),
        json!({"usage": {"prompt_tokens": "x"}}),
        json!({"error": "plain string"}),
        json!({"choices": [{"index": 0, "delta": {"tool_calls": "nope"}}]}),
    ];
    for value in &odd {
        let mut assembler = Assembler::new();
        let _ = assembler.push_chunk(value);
        let _ = assembler.push_data("[DONE]");
        let _ = assembler.into_turn();
    }
}
