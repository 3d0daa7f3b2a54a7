//! The `todo` tool: a per-session task list the model keeps for itself. The list is stored as
//! JSON in `<workspace>/.todo.json`, so it survives restarts and needs no cache; one lock
//! serialises read-modify-write cycles.

use std::path::Path;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, function_definition};

/// File name of the list inside the session workspace.
const TODO_FILE: &str = ".todo.json";
/// Most items one list may hold.
const MAX_ITEMS: usize = 200;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TodoList {
    next_id: u64,
    items: Vec<TodoItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TodoItem {
    id: u64,
    text: String,
    done: bool,
}

#[derive(Default)]
pub(crate) struct TodoTool {
    lock: Mutex<()>,
}

#[async_trait]
impl Tool for TodoTool {
    fn name(&self) -> &'static str {
        "todo"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "A task list for this session: add items, list them, complete or remove one by id, \
             or clear the list. Every action returns the current list.",
            json!({"type": "object", "properties": {
                "action": {"type": "string", "enum": ["add", "list", "complete", "remove", "clear"]},
                "text": {"type": "string", "description": "Task text (add)."},
                "id": {"type": "integer", "description": "Item id (complete, remove)."}
            }, "required": ["action"]}),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        let _guard = self.lock.lock().await;
        run(ctx, &args).await.unwrap_or_else(ToolOutput::error)
    }
}

async fn run(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let action = args.non_empty("action")?;
    let dir = ctx.ensure_workspace().await?;
    let mut list = load(&dir).await?;
    let changed = match action {
        "list" => false,
        "add" => {
            if list.items.len() >= MAX_ITEMS {
                return Err(format!(
                    "the list already has {MAX_ITEMS} items; clear or remove some"
                ));
            }
            list.next_id = list.next_id.max(1);
            let id = list.next_id;
            list.next_id += 1;
            list.items.push(TodoItem {
                id,
                text: args.non_empty("text")?.trim().to_owned(),
                done: false,
            });
            true
        }
        "complete" | "remove" => {
            let id = args
                .opt_u64("id")?
                .ok_or_else(|| "missing required argument `id` (integer)".to_owned())?;
            let index = list
                .items
                .iter()
                .position(|item| item.id == id)
                .ok_or_else(|| format!("no todo item with id {id}"))?;
            if action == "complete" {
                list.items[index].done = true;
            } else {
                list.items.remove(index);
            }
            true
        }
        "clear" => {
            list.items.clear();
            true
        }
        other => {
            return Err(format!(
                "argument `action` must be add, list, complete, remove or clear, got {other:?}"
            ));
        }
    };
    if changed {
        save(&dir, &list).await?;
    }
    let open = list.items.iter().filter(|item| !item.done).count();
    Ok(ToolOutput::json(&json!({
        "items": list.items,
        "open": open,
        "done": list.items.len() - open,
    })))
}

async fn load(dir: &Path) -> Result<TodoList, String> {
    match tokio::fs::read(dir.join(TODO_FILE)).await {
        // A damaged file starts a fresh list rather than wedging the tool.
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(TodoList::default()),
        Err(err) => Err(format!("cannot read the todo list: {err}")),
    }
}

async fn save(dir: &Path, list: &TodoList) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(list).map_err(|err| err.to_string())?;
    let temp = dir.join(format!("{TODO_FILE}.{}.tmp", uuid::Uuid::new_v4()));
    let fail = |err: std::io::Error| format!("cannot save the todo list: {err}");
    tokio::fs::write(&temp, text).await.map_err(fail)?;
    tokio::fs::rename(&temp, dir.join(TODO_FILE))
        .await
        .map_err(fail)
}
