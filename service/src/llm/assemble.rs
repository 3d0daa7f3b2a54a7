//! [`Assembler`]: folds [`UpstreamEvent`]s (or raw stream chunks, through its own
//! [`ChunkDecoder`]) into the finished [`AssistantTurn`] the agent loop acts on. Pure and
//! panic-free so it can be unit-tested and fuzzed; decoding rules live in `decode.rs`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::decode::{ChunkDecoder, UpstreamEvent};
use super::error::UpstreamError;
use super::wire::{Message, ToolCall, Usage};

/// One complete assistant answer from one upstream call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssistantTurn {
    /// All text deltas joined.
    pub content: String,
    /// Tool calls in index order, arguments fully concatenated.
    pub tool_calls: Vec<ToolCall>,
    /// As the upstream sent it (`stop`, `length`, `tool_calls`, …); `None` if it sent none.
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

impl AssistantTurn {
    /// The turn as a history message to send back upstream on the next iteration.
    pub fn to_message(&self) -> Message {
        if self.tool_calls.is_empty() {
            Message::assistant(self.content.clone())
        } else {
            Message::assistant_tool_calls(self.content.clone(), self.tool_calls.clone())
        }
    }
}

/// Accumulates one upstream call's events into an [`AssistantTurn`].
#[derive(Debug, Default)]
pub struct Assembler {
    decoder: ChunkDecoder,
    content: String,
    calls: BTreeMap<u32, ToolCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    finished: bool,
}

impl Assembler {
    /// An empty assembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one event in. Argument deltas for a call that never started are dropped.
    pub fn apply(&mut self, event: &UpstreamEvent) {
        match event {
            UpstreamEvent::TextDelta(text) => self.content.push_str(text),
            UpstreamEvent::ToolCallStarted { index, id, name } => {
                self.calls
                    .insert(*index, ToolCall::function(id.clone(), name.clone(), ""));
            }
            UpstreamEvent::ToolCallArgumentsDelta { index, delta } => {
                if let Some(call) = self.calls.get_mut(index) {
                    call.function.arguments.push_str(delta);
                }
            }
            UpstreamEvent::Usage(usage) => self.usage = Some(*usage),
            UpstreamEvent::Finished { finish_reason } => {
                self.finish_reason.clone_from(finish_reason);
                self.finished = true;
            }
        }
    }

    /// Decodes one raw stream chunk (a parsed `data:` JSON object) and folds its events in.
    pub fn push_chunk(&mut self, chunk: &Value) -> Result<(), UpstreamError> {
        for event in self.decoder.chunk(chunk)? {
            self.apply(&event);
        }
        Ok(())
    }

    /// Decodes one raw `data:` payload (JSON or `[DONE]`) and folds its events in.
    pub fn push_data(&mut self, data: &str) -> Result<(), UpstreamError> {
        for event in self.decoder.data(data)? {
            self.apply(&event);
        }
        Ok(())
    }

    /// True once a `Finished` event was applied.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The turn so far (complete once [`Assembler::is_finished`]).
    pub fn into_turn(self) -> AssistantTurn {
        AssistantTurn {
            content: self.content,
            tool_calls: self.calls.into_values().collect(),
            finish_reason: self.finish_reason,
            usage: self.usage,
        }
    }

    /// Assembles a whole answer from raw chunks; the end of `chunks` counts as `[DONE]`.
    pub fn from_chunks<'a>(
        chunks: impl IntoIterator<Item = &'a Value>,
    ) -> Result<AssistantTurn, UpstreamError> {
        let mut assembler = Assembler::new();
        for chunk in chunks {
            assembler.push_chunk(chunk)?;
        }
        assembler.push_data("[DONE]")?;
        Ok(assembler.into_turn())
    }
}
