//! The `session_search` tool: full-text search over stored conversations through
//! [`crate::store::Store::search_messages`]. When the caller sent a session key, only that key's
//! sessions are searched, so one client never reads another's history.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, function_definition};

const DEFAULT_LIMIT: u64 = 10;
const MAX_LIMIT: u64 = 50;

pub(crate) struct SessionSearch;

#[async_trait]
impl Tool for SessionSearch {
    fn name(&self) -> &'static str {
        "session_search"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Search the messages of past sessions (case-insensitive substring match). Returns \
             session id, message id, role, a snippet and the time, newest first.",
            json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "Text to look for."},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                          "description": "Most results to return (default 10)."}
            }, "required": ["query"]}),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        run(ctx, &args).await.unwrap_or_else(ToolOutput::error)
    }
}

async fn run(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let query = args.non_empty("query")?;
    let limit = args
        .opt_u64("limit")?
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, MAX_LIMIT);
    let limit = i64::try_from(limit).unwrap_or(10);
    let hits = ctx
        .store
        .search_messages(query, ctx.session_key.as_deref(), limit)
        .await
        .map_err(|err| format!("the search failed: {err}"))?;
    let results: Vec<Value> = hits
        .iter()
        .map(|hit| {
            json!({
                "session_id": hit.session_id,
                "message_id": hit.message_id,
                "role": hit.role,
                "snippet": hit.snippet,
                "timestamp": hit.timestamp,
                "current_session": hit.session_id == ctx.session_id,
            })
        })
        .collect();
    Ok(ToolOutput::json(&json!({
        "query": query,
        "count": results.len(),
        "results": results,
    })))
}
