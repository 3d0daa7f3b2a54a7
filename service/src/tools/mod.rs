//! The agent's built-in tools (API.md §9): the [`Tool`] trait, the per-call [`ToolContext`], the
//! [`ToolRegistry`] the agent loop offers to the model, and one file per toolset (`terminal.rs`,
//! `files.rs`, `memory.rs`, `skills.rs`, `todo.rs`, `session_search.rs`, `web.rs`). Argument
//! parsing helpers are in `args.rs`. The loop itself (calling the upstream, persisting messages)
//! and the approval policy (`crate::approvals`) live elsewhere.
//!
//! Every failure a model can cause — bad arguments, missing files, non-zero exits, refused
//! commands — comes back as a [`ToolOutput`] for the model to read, never as a Rust error that
//! would end the turn.

mod args;
mod cronjob;
mod files;
mod memory;
mod registry;
mod session_search;
mod skills;
mod terminal;
mod todo;
mod web;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::approvals::ApprovalGate;
use crate::config::Config;
use crate::store::Store;

pub use memory::{memory_dir, memory_snapshot};
pub use registry::{ToolRegistry, is_implemented};
pub use skills::skills_index;

/// Everything a tool call may need about the turn it runs in; built by the agent loop per turn.
#[derive(Clone)]
pub struct ToolContext {
    pub session_id: String,
    /// `X-Hermes-Session-Key` of the caller: scopes memory and `session_search`.
    pub session_key: Option<String>,
    /// Home directory, approval policy, allowlist, enabled toolsets.
    pub config: Arc<Config>,
    pub store: Store,
    /// Fired when the turn is cancelled (client gone, run stopped): long tools stop at once.
    pub cancel: tokio_util::sync::CancellationToken,
    /// The approval channel of this route ([`crate::approvals::NoApprovalChannel`] on chat-like
    /// routes).
    pub approvals: Arc<dyn ApprovalGate>,
}

impl ToolContext {
    /// The session's working directory, `<home>/workspaces/<sanitised session id>/`; not
    /// created here (see [`ToolContext::ensure_workspace`]).
    pub fn workspace(&self) -> PathBuf {
        workspace_dir(&self.config.home, &self.session_id)
    }

    /// The workspace directory, created if missing.
    pub async fn ensure_workspace(&self) -> Result<PathBuf, String> {
        let dir = self.workspace();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|err| format!("cannot create the workspace {}: {err}", dir.display()))?;
        Ok(dir)
    }
}

/// What the model receives as the tool message of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutput {
    pub content: String,
    /// The call failed (bad arguments, refused, timed out…); the content says why.
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful result with plain-text content.
    pub fn text(content: impl Into<String>) -> ToolOutput {
        ToolOutput {
            content: content.into(),
            is_error: false,
        }
    }

    /// A successful result with JSON content.
    pub fn json(value: &Value) -> ToolOutput {
        ToolOutput::text(value.to_string())
    }

    /// A failed call: `{"error": message}`.
    pub fn error(message: impl Into<String>) -> ToolOutput {
        ToolOutput {
            content: serde_json::json!({ "error": message.into() }).to_string(),
            is_error: true,
        }
    }

    /// A failed call with structured JSON content (refusals, timeouts).
    pub fn json_error(value: &Value) -> ToolOutput {
        ToolOutput {
            content: value.to_string(),
            is_error: true,
        }
    }
}

/// One built-in tool. Implementations are stateless or keep their own locks; the registry
/// shares one instance between all sessions.
#[async_trait]
pub trait Tool: Send + Sync {
    /// The function name the model calls; one of the names in `BUILTIN_TOOLSETS`.
    fn name(&self) -> &'static str;
    /// OpenAI tool definition: `{"type":"function","function":{name, description, parameters}}`.
    fn definition(&self) -> Value;
    /// Runs the call; `args` is the parsed JSON object of arguments.
    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput;
}

/// Builds an OpenAI function definition from its parts.
pub(crate) fn function_definition(name: &str, description: &str, parameters: Value) -> Value {
    serde_json::json!({
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": parameters,
        }
    })
}

/// `<home>/workspaces/<sanitised session id>`: the session's working directory. Characters
/// outside `[A-Za-z0-9._-]` become `_` (and `.`/`..` are neutralised); when anything was
/// changed, a short hash of the real id is appended so two ids never share a directory.
pub fn workspace_dir(home: &Path, session_id: &str) -> PathBuf {
    home.join("workspaces").join(sanitise(session_id))
}

fn sanitise(id: &str) -> String {
    let mut clean: String = id
        .chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.trim_matches('.').is_empty() {
        clean = "_".repeat(clean.len().max(1));
    }
    if clean != id {
        clean.push('-');
        clean.push_str(&short_hash(id));
    }
    clean
}

/// First 16 hex digits of SHA-256: a stable, filesystem-safe name for arbitrary text.
pub(crate) fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(digest)[..16].to_owned()
}

/// Cuts `text` to at most `max` bytes on a char boundary; returns whether it was cut.
pub(crate) fn truncate_utf8(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// At most `max` characters of `text`, with `…` when cut.
pub(crate) fn clip_chars(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let clipped: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{clipped}…")
    } else {
        clipped
    }
}
