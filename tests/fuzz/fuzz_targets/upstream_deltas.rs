//! Fuzz target: a well-formed OpenAI-style stream built from a fuzzer-chosen script (text
//! deltas and up to four tool calls whose name and argument fragments interleave, role-only and
//! empty chunks, usage, `[DONE]` or not, LF or CRLF, comments, cut into pieces anywhere), through
//! the real SSE parser, `ChunkDecoder` and `Assembler`. The answer must succeed and be exactly
//! what the script carried: text = the content deltas joined; one tool call per call, in order
//! of first appearance, with the id and name of its first fragment and its argument fragments
//! joined; the finish reason and usage as sent.
#![no_main]

use arbitrary::Arbitrary;
use caduceus_service::llm::UpstreamEvent;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

mod common;

#[derive(Debug, Arbitrary)]
enum Step {
    /// A content delta.
    Text(String),
    /// An argument fragment for call `call % 4` (its first fragment also carries id and name).
    Call { call: u8, arguments: String },
    /// A chunk that carries nothing (role only, or no choices).
    Empty { role_only: bool },
}

#[derive(Debug, Arbitrary)]
struct Script {
    steps: Vec<Step>,
    /// Names of the four possible calls (empty → "f").
    names: [String; 4],
    finish_reason: String,
    usage: Option<(u32, u32)>,
    done: bool,
    crlf: bool,
    comments: bool,
    /// Upstream `index` of each call (providers number them in any order).
    indexes: [u8; 4],
    cuts: Vec<u16>,
}

/// One `data:` event; comments and line endings as the script says.
fn event(script: &Script, payload: &str, out: &mut String) {
    let eol = if script.crlf { "\r\n" } else { "\n" };
    if script.comments {
        out.push_str(": keep-alive");
        out.push_str(eol);
    }
    out.push_str("data: ");
    out.push_str(payload);
    out.push_str(eol);
    out.push_str(eol);
}

fn chunk(delta: Value, finish_reason: Value) -> String {
    json!({
        "id": "chatcmpl-fuzz",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    })
    .to_string()
}

fuzz_target!(|script: Script| {
    let mut body = String::new();
    let mut text = String::new();
    // Per call slot: (id, name, arguments), in order of first appearance.
    let mut calls: Vec<(usize, String, String, String)> = Vec::new();
    let mut indexes = script.indexes.to_vec();
    indexes.sort_unstable();
    indexes.dedup();
    for step in &script.steps {
        let payload = match step {
            Step::Text(delta) => {
                text.push_str(delta);
                chunk(json!({"content": delta}), Value::Null)
            }
            Step::Call { call, arguments } => {
                let call = usize::from(*call % 4);
                // Distinct upstream indexes for distinct calls.
                let index = indexes.get(call).copied().map_or(call + 256, usize::from);
                match calls.iter_mut().find(|c| c.0 == call) {
                    Some(slot) => {
                        slot.3.push_str(arguments);
                        chunk(
                            json!({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]}),
                            Value::Null,
                        )
                    }
                    None => {
                        let name = match script.names[call].as_str() {
                            "" => "f".to_owned(),
                            name => name.to_owned(),
                        };
                        let id = format!("call_fuzz_{call}");
                        calls.push((call, id.clone(), name.clone(), arguments.clone()));
                        chunk(
                            json!({"tool_calls": [{"index": index, "id": id, "type": "function",
                                "function": {"name": name, "arguments": arguments}}]}),
                            Value::Null,
                        )
                    }
                }
            }
            Step::Empty { role_only: true } => chunk(json!({"role": "assistant"}), Value::Null),
            Step::Empty { role_only: false } => json!({"id": "x", "choices": []}).to_string(),
        };
        event(&script, &payload, &mut body);
    }
    let finish_reason = match script.finish_reason.as_str() {
        "" => "stop".to_owned(),
        reason => reason.to_owned(),
    };
    event(&script, &chunk(json!({}), json!(finish_reason)), &mut body);
    if let Some((prompt, completion)) = script.usage {
        let usage = json!({"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": u64::from(prompt) + u64::from(completion)});
        event(
            &script,
            &json!({"choices": [], "usage": usage}).to_string(),
            &mut body,
        );
    }
    if script.done {
        event(&script, "[DONE]", &mut body);
    }

    let cuts: Vec<usize> = script.cuts.iter().map(|&c| usize::from(c)).collect();
    let items = common::decode(body.as_bytes(), &cuts);
    // With or without [DONE] (some providers omit it), a stream that sent a finish reason is a
    // success.
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    common::check_well_formed(&items);
    assert!(
        matches!(items.last(), Some(Ok(UpstreamEvent::Finished { .. }))),
        "a well-formed stream must finish: {:?}",
        items.last()
    );
    let turn = common::check_assembly(&items);
    assert_eq!(turn.content, text);
    let got: Vec<(String, String, String)> = turn
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.clone(),
                c.function.name.clone(),
                c.function.arguments.clone(),
            )
        })
        .collect();
    let want: Vec<(String, String, String)> = calls
        .into_iter()
        .map(|(_, id, name, args)| (id, name, args))
        .collect();
    assert_eq!(got, want, "tool calls differ from what the stream carried");
    assert_eq!(turn.finish_reason.as_deref(), Some(finish_reason.as_str()));
    assert_eq!(
        turn.usage.map(|u| (u.prompt_tokens, u.completion_tokens)),
        script.usage.map(|(p, c)| (u64::from(p), u64::from(c)))
    );
});
