//! Rendering a [`Reply`] the way an OpenAI-compatible provider would: `chat.completion.chunk`
//! payloads for streams (usage in a `choices: []` chunk when `include_usage` was asked, else on
//! the finish chunk) or one `chat.completion` object for non-streamed requests.

use serde_json::{Value, json};

use super::reply::{End, Part, Reply, Script};

/// What the request asked for that shapes the answer.
pub(super) struct Asked {
    pub model: String,
    pub include_usage: bool,
    /// Distinguishes ids across replies (`chatcmpl-fake-N`, `call_fake_N_i`).
    pub serial: u64,
}

/// The `data:` payloads of a streamed reply, in order (ending with `[DONE]` for `End::Done`).
pub(super) fn frames(
    reply: &Reply,
    parts: &[Part],
    end: End,
    finish: &str,
    asked: &Asked,
) -> Vec<String> {
    let id = format!("chatcmpl-fake-{}", asked.serial);
    let chunk = |choices: Value| {
        json!({
            "id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64,
            "model": asked.model, "choices": choices,
        })
    };
    let delta = |delta: Value, finish: Value| {
        chunk(json!([{"index": 0, "delta": delta, "finish_reason": finish}]))
    };
    // A stall or reset with nothing scripted sends no bytes at all after the headers.
    let mut out = Vec::new();
    if !parts.is_empty() || end == End::Done {
        out.push(delta(json!({"role": "assistant", "content": ""}), Value::Null).to_string());
    }
    for part in parts {
        out.push(match part {
            Part::Text(text) => delta(json!({"content": text}), Value::Null).to_string(),
            Part::Call {
                index,
                first,
                name,
                args,
            } => {
                let mut call = json!({"index": index, "function": {"arguments": args}});
                if *first {
                    call["type"] = json!("function");
                    call["function"]["name"] = json!(name);
                    if reply.tool_call_ids {
                        call["id"] = json!(call_id(asked.serial, *index));
                    }
                }
                delta(json!({"tool_calls": [call]}), Value::Null).to_string()
            }
            Part::Raw(raw) => raw.clone(),
        });
    }
    if end == End::Done {
        let usage = usage(reply);
        let mut last = delta(json!({}), json!(finish));
        if asked.include_usage {
            out.push(last.to_string());
            let mut tail = chunk(json!([]));
            tail["usage"] = usage;
            out.push(tail.to_string());
        } else {
            last["usage"] = usage;
            out.push(last.to_string());
        }
        out.push("[DONE]".to_owned());
    }
    out
}

/// A non-streamed `chat.completion` body for a stream script.
pub(super) fn completion(reply: &Reply, asked: &Asked) -> Value {
    let Script::Stream {
        parts,
        finish_reason,
        ..
    } = &reply.script
    else {
        return Value::Null;
    };
    let mut content = String::new();
    let mut calls: Vec<Value> = Vec::new();
    for part in parts {
        match part {
            Part::Text(text) | Part::Raw(text) => content.push_str(text),
            Part::Call {
                index, name, args, ..
            } => match calls.get_mut(*index) {
                Some(call) => {
                    let joined = format!(
                        "{}{args}",
                        call["function"]["arguments"].as_str().unwrap_or_default()
                    );
                    call["function"]["arguments"] = json!(joined);
                }
                None => {
                    let mut call = json!({"type": "function",
                        "function": {"name": name, "arguments": args}});
                    if reply.tool_call_ids {
                        call["id"] = json!(call_id(asked.serial, *index));
                    }
                    calls.push(call);
                }
            },
        }
    }
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls);
        if content.is_empty() {
            message["content"] = Value::Null;
        }
    }
    json!({
        "id": format!("chatcmpl-fake-{}", asked.serial),
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": asked.model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage(reply),
    })
}

fn usage(reply: &Reply) -> Value {
    let (prompt, completion) = reply.usage;
    json!({"prompt_tokens": prompt, "completion_tokens": completion,
           "total_tokens": prompt + completion})
}

fn call_id(serial: u64, index: usize) -> String {
    format!("call_fake_{serial}_{index}")
}
