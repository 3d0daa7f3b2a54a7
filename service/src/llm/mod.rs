//! The upstream LLM client: OpenAI Chat Completions wire types ([`wire`]), the pure stream
//! decoder and assembler (`decode.rs`, `assemble.rs`), SSE reading with idle timeouts (`sse.rs`),
//! routing over `model_routes` / `fallback_providers` (`route.rs`), retries (`retry.rs`) and the
//! [`UpstreamClient`] tying them together. Upstream failures are [`UpstreamError`]s, which map
//! into the domain [`Error`](crate::error::Error). The agent loop that uses it lives elsewhere.

mod assemble;
mod client;
mod decode;
mod error;
mod repair;
mod retry;
mod route;
mod sse;
mod tool_list;
pub mod wire;

#[cfg(test)]
mod tests;

pub use assemble::{Assembler, AssistantTurn};
pub use client::{HeaderHook, UpstreamClient};
pub use decode::{ChunkDecoder, UpstreamEvent, completion_events};
pub use error::{MAX_UPSTREAM_MESSAGE, UpstreamError};
pub use repair::{MISSING_TOOL_RESULT, close_dangling_tool_calls};
pub use retry::RetryPolicy;
pub use route::{Route, Secret, Target, not_configured};
pub use sse::{UpstreamStream, decode_pieces};
pub use tool_list::{SharedTools, ToolList};
pub use wire::{
    ChatRequest, ContentPart, FunctionCall, FunctionDefinition, ImageUrl, Message, MessageContent,
    Role, StreamOptions, ToolCall, ToolDefinition, Usage,
};
