//! [`ChunkDecoder`]: the pure state machine turning the `data:` payloads of a Chat Completions
//! stream into [`UpstreamEvent`]s — text deltas, tool calls assembled by index (ids generated
//! when missing, reused indexes told apart by id), usage and the finish. No I/O and no panics on
//! any input, so it can be unit-tested and fuzzed; reading SSE off the wire lives in `sse.rs`.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;

use super::error::{UpstreamError, truncate};
use super::wire::Usage;

/// One step of a streamed assistant answer, in arrival order, so callers can relay text live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// More answer text.
    TextDelta(String),
    /// A new tool call: `index` is its position in the turn's tool calls (0, 1, …).
    ToolCallStarted {
        index: u32,
        id: String,
        name: String,
    },
    /// More JSON argument text for the call at `index`.
    ToolCallArgumentsDelta { index: u32, delta: String },
    /// Token usage of the call; sent once, just before `Finished`, when the upstream reported it.
    Usage(Usage),
    /// The last event of a successful stream.
    Finished { finish_reason: Option<String> },
}

/// What the decoder knows about one tool call of the turn.
#[derive(Debug)]
struct Slot {
    id: String,
    /// The id came from the upstream (not generated), so a different id means a different call.
    upstream_id: bool,
    name: Option<String>,
    /// `ToolCallStarted` was emitted (needs a name).
    started: bool,
    /// Argument text received before the name.
    pending: String,
}

/// Decodes stream payloads into events. Feed it every `data:` payload with [`ChunkDecoder::data`]
/// (or parsed chunks with [`ChunkDecoder::chunk`]), then call [`ChunkDecoder::end_of_stream`]
/// if the byte stream ended before `[DONE]`.
#[derive(Debug, Default)]
pub struct ChunkDecoder {
    slots: Vec<Slot>,
    /// Upstream `index` → slot; remapped when a provider reuses an index for a new call.
    by_index: HashMap<u64, usize>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    done: bool,
    /// At least one JSON chunk arrived: a stream that is only `[DONE]` carried no answer.
    seen_chunk: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Chunk {
    choices: Option<Vec<Choice>>,
    usage: Option<RawUsage>,
    error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Choice {
    index: Option<u64>,
    delta: Option<Delta>,
    /// Non-streamed answers (and a few odd providers) carry `message` instead of `delta`.
    message: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Option<Value>,
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ToolCallDelta {
    index: Option<u64>,
    id: Option<String>,
    function: Option<FunctionDelta>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FunctionDelta {
    name: Option<String>,
    /// A string normally; an object from a few providers.
    arguments: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RawUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    total_tokens: Option<u64>,
}

impl RawUsage {
    fn usage(&self) -> Usage {
        let prompt = self.prompt_tokens.unwrap_or(0);
        let completion = self.completion_tokens.unwrap_or(0);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total_tokens
                .unwrap_or_else(|| prompt.saturating_add(completion)),
        }
    }
}

impl ChunkDecoder {
    /// A decoder for one upstream call.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the stream is complete (`[DONE]` seen, or ended after a finish reason).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// One `data:` payload: `[DONE]` finishes the stream; anything else must be a JSON chunk.
    /// Payloads after the end are ignored.
    pub fn data(&mut self, data: &str) -> Result<Vec<UpstreamEvent>, UpstreamError> {
        if self.done {
            return Ok(Vec::new());
        }
        let data = data.trim();
        if data == "[DONE]" {
            return self.finish();
        }
        let value: Value = serde_json::from_str(data).map_err(|e| {
            UpstreamError::Protocol(format!("a stream chunk is not valid JSON ({e})"))
        })?;
        self.chunk(&value)
    }

    /// One parsed chunk. An `{"error": …}` object is returned as [`UpstreamError::Reported`].
    pub fn chunk(&mut self, value: &Value) -> Result<Vec<UpstreamEvent>, UpstreamError> {
        if self.done {
            return Ok(Vec::new());
        }
        let chunk = Chunk::deserialize(value)
            .map_err(|e| UpstreamError::Protocol(format!("unexpected stream chunk shape ({e})")))?;
        self.seen_chunk = true;
        if let Some(error) = chunk.error.filter(|e| !e.is_null()) {
            return Err(reported(&error));
        }
        let mut events = Vec::new();
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index.unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.delta.or(choice.message) {
                if let Some(Value::String(text)) = delta.content
                    && !text.is_empty()
                {
                    events.push(UpstreamEvent::TextDelta(text));
                }
                for call in delta.tool_calls.unwrap_or_default() {
                    self.tool_call(call, &mut events);
                }
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty()) {
                self.finish_reason = Some(reason);
            }
        }
        if let Some(usage) = chunk.usage {
            self.usage = Some(usage.usage());
        }
        Ok(events)
    }

    /// The byte stream ended. Fine after `[DONE]` or a finish reason (some providers omit
    /// `[DONE]`); otherwise the connection was cut mid-answer.
    pub fn end_of_stream(&mut self) -> Result<Vec<UpstreamEvent>, UpstreamError> {
        if self.done {
            Ok(Vec::new())
        } else if self.finish_reason.is_some() {
            self.finish()
        } else {
            self.done = true;
            Err(UpstreamError::Protocol(
                "the stream ended before the model finished (no [DONE])".to_owned(),
            ))
        }
    }

    fn finish(&mut self) -> Result<Vec<UpstreamEvent>, UpstreamError> {
        self.done = true;
        if !self.seen_chunk {
            return Err(UpstreamError::Protocol(
                "the stream ended without any answer chunk".to_owned(),
            ));
        }
        if self.slots.iter().any(|s| !s.started) {
            return Err(UpstreamError::Protocol(
                "a tool call arrived without a function name".to_owned(),
            ));
        }
        let mut events = Vec::new();
        if let Some(usage) = self.usage {
            events.push(UpstreamEvent::Usage(usage));
        }
        events.push(UpstreamEvent::Finished {
            finish_reason: self.finish_reason.clone(),
        });
        Ok(events)
    }

    fn tool_call(&mut self, call: ToolCallDelta, events: &mut Vec<UpstreamEvent>) {
        let id = call.id.filter(|id| !id.is_empty());
        let slot = self.slot_for(call.index, id.as_deref());
        let (name, arguments) = match call.function {
            Some(f) => (f.name.filter(|n| !n.is_empty()), f.arguments),
            None => (None, None),
        };
        let arguments = match arguments {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
        };
        let Some(state) = self.slots.get_mut(slot) else {
            return;
        };
        if let Some(id) = id
            && !state.upstream_id
            && !state.started
        {
            state.id = id;
            state.upstream_id = true;
        }
        if state.name.is_none() {
            state.name = name;
        }
        let index = u32::try_from(slot).unwrap_or(u32::MAX);
        if state.started {
            if !arguments.is_empty() {
                events.push(UpstreamEvent::ToolCallArgumentsDelta {
                    index,
                    delta: arguments,
                });
            }
            return;
        }
        state.pending.push_str(&arguments);
        if let Some(name) = &state.name {
            state.started = true;
            events.push(UpstreamEvent::ToolCallStarted {
                index,
                id: state.id.clone(),
                name: name.clone(),
            });
            if !state.pending.is_empty() {
                events.push(UpstreamEvent::ToolCallArgumentsDelta {
                    index,
                    delta: std::mem::take(&mut state.pending),
                });
            }
        }
    }

    /// Which slot a fragment belongs to: by upstream index, unless it carries a new upstream id
    /// (a provider reusing an index, or sending none, for several calls).
    fn slot_for(&mut self, index: Option<u64>, id: Option<&str>) -> usize {
        let existing = match index {
            Some(index) => self.by_index.get(&index).copied(),
            None => self.slots.len().checked_sub(1),
        };
        let is_other_call = |slot: &Slot| id.is_some_and(|id| slot.upstream_id && slot.id != id);
        match existing {
            Some(slot) if !self.slots.get(slot).is_some_and(is_other_call) => slot,
            _ => {
                let slot = self.slots.len();
                self.slots.push(Slot {
                    id: id.map_or_else(generated_id, str::to_owned),
                    upstream_id: id.is_some(),
                    name: None,
                    started: false,
                    pending: String::new(),
                });
                if let Some(index) = index {
                    self.by_index.insert(index, slot);
                }
                slot
            }
        }
    }
}

/// `call_<uuid simple>` for providers that send tool calls without ids.
fn generated_id() -> String {
    format!("call_{}", uuid::Uuid::new_v4().simple())
}

/// An `{"error": …}` object (or string) as a safe, truncated message.
fn reported(error: &Value) -> UpstreamError {
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .map(truncate)
        .unwrap_or_else(|| "the upstream stream carried an error object".to_owned());
    UpstreamError::Reported { message }
}

/// The events of a non-streamed `chat.completion` body, for providers that ignore
/// `stream: true` and answer with plain JSON.
pub fn completion_events(body: &Value) -> Result<Vec<UpstreamEvent>, UpstreamError> {
    let mut chunk = body.clone();
    // Whole messages list their tool calls without `index`; number them so calls without ids
    // are not merged into one.
    if let Some(choices) = chunk.get_mut("choices").and_then(Value::as_array_mut) {
        for choice in choices {
            let calls = choice
                .get_mut("message")
                .and_then(|m| m.get_mut("tool_calls"))
                .and_then(Value::as_array_mut);
            for (i, call) in calls.into_iter().flatten().enumerate() {
                if let Some(call) = call.as_object_mut() {
                    call.entry("index").or_insert(Value::from(i));
                }
            }
        }
    }
    let mut decoder = ChunkDecoder::new();
    let mut events = decoder.chunk(&chunk)?;
    events.extend(decoder.data("[DONE]")?);
    Ok(events)
}
