//! The `memory` tool and the memory snapshot for the system prompt: long-term notes in
//! `MEMORY.md` (facts about the work) and `USER.md` (facts about the user) under
//! `<home>/memories/`, or `<home>/memories/keys/<sha256(session key), 16 hex>/` when the caller
//! sent `X-Hermes-Session-Key`, so callers never see each other's memory.
//!
//! File format: entries separated by a line holding only `§`, so one entry may span several
//! lines; hand edits in that format are picked up. Writes are atomic (temp file + rename) and
//! serialised by one lock.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, function_definition, short_hash, truncate_utf8};

/// Entry separator line.
const SEPARATOR: &str = "§";
/// Largest size of one memory file, in bytes; adding past it asks the model to consolidate.
const MAX_FILE_BYTES: usize = 10 * 1024;
/// Largest memory snapshot injected into the system prompt, in bytes.
const MAX_SNAPSHOT_BYTES: usize = 16 * 1024;

/// Where the memory files of `session_key` (or the shared ones) live.
pub fn memory_dir(home: &Path, session_key: Option<&str>) -> PathBuf {
    let root = home.join("memories");
    match session_key {
        Some(key) => root.join("keys").join(short_hash(key)),
        None => root,
    }
}

/// The memory files rendered for the system prompt (`MEMORY.md` then `USER.md`, each under a
/// `###` heading so the caller can put its own `##` section title above), bounded to
/// 16 KB; empty when there is nothing remembered. Blocking file reads: call it once per turn.
pub fn memory_snapshot(home: &Path, session_key: Option<&str>) -> String {
    let dir = memory_dir(home, session_key);
    let mut out = String::new();
    for target in [Target::Memory, Target::User] {
        let text = std::fs::read_to_string(dir.join(target.file())).unwrap_or_default();
        let entries = parse(&text);
        if entries.is_empty() {
            continue;
        }
        out.push_str(&format!("### {}\n", target.heading()));
        for entry in entries {
            out.push_str(&format!("- {}\n", entry.replace('\n', "\n  ")));
        }
        out.push('\n');
    }
    if truncate_utf8(&mut out, MAX_SNAPSHOT_BYTES) {
        out.push_str("\n[memory truncated]");
    }
    out.trim_end().to_owned()
}

#[derive(Clone, Copy)]
enum Target {
    Memory,
    User,
}

impl Target {
    fn parse(name: &str) -> Result<Target, String> {
        match name {
            "memory" => Ok(Target::Memory),
            "user" => Ok(Target::User),
            other => Err(format!(
                "argument `target` must be \"memory\" or \"user\", got {other:?}"
            )),
        }
    }
    fn file(self) -> &'static str {
        match self {
            Target::Memory => "MEMORY.md",
            Target::User => "USER.md",
        }
    }
    fn heading(self) -> &'static str {
        match self {
            Target::Memory => "Memory (notes from earlier sessions)",
            Target::User => "User profile",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Target::Memory => "memory",
            Target::User => "user",
        }
    }
}

fn parse(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim() == SEPARATOR {
            entries.push(std::mem::take(&mut current));
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    entries.push(current);
    entries
        .into_iter()
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect()
}

fn render(entries: &[String]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut text = entries.join(&format!("\n{SEPARATOR}\n"));
    text.push('\n');
    text
}

/// The `memory` tool; the lock serialises read-modify-write cycles of every memory file.
#[derive(Default)]
pub(crate) struct MemoryTool {
    lock: Mutex<()>,
}

#[async_trait]
impl Tool for MemoryTool {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Long-term memory that persists across sessions. target \"memory\" holds notes about \
             the environment and work, \"user\" holds facts and preferences about the user. \
             Actions: read, add (content), replace (old_text identifies one entry, content is \
             its new text), remove (old_text identifies one entry). Keep entries short.",
            json!({"type": "object", "properties": {
                "action": {"type": "string", "enum": ["add", "replace", "remove", "read"]},
                "target": {"type": "string", "enum": ["memory", "user"]},
                "content": {"type": "string", "description": "The entry text (add, replace)."},
                "old_text": {"type": "string", "description": "A unique substring of the entry to replace or remove."}
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
    let dir = memory_dir(&ctx.config.home, ctx.session_key.as_deref());
    if action == "read" {
        let targets = match args.opt_string("target")? {
            Some(name) => vec![Target::parse(name)?],
            None => vec![Target::Memory, Target::User],
        };
        let mut result = serde_json::Map::new();
        for target in targets {
            result.insert(target.name().to_owned(), json!(load(&dir, target).await?));
        }
        return Ok(ToolOutput::json(&Value::Object(result)));
    }
    let target = Target::parse(args.non_empty("target")?)?;
    let mut entries = load(&dir, target).await?;
    let message = match action {
        "add" => {
            let content = args.non_empty("content")?.trim().to_owned();
            if content.lines().any(|line| line.trim() == SEPARATOR) {
                return Err(format!(
                    "`content` must not contain a line with only {SEPARATOR}"
                ));
            }
            if entries.contains(&content) {
                return Ok(ToolOutput::json(
                    &json!({"status": "unchanged", "message": "already remembered"}),
                ));
            }
            entries.push(content);
            "added"
        }
        "replace" => {
            let index = find_one(&entries, args.non_empty("old_text")?)?;
            let content = args.non_empty("content")?.trim().to_owned();
            if content.lines().any(|line| line.trim() == SEPARATOR) {
                return Err(format!(
                    "`content` must not contain a line with only {SEPARATOR}"
                ));
            }
            entries[index] = content;
            "replaced"
        }
        "remove" => {
            let index = find_one(&entries, args.non_empty("old_text")?)?;
            entries.remove(index);
            "removed"
        }
        other => {
            return Err(format!(
                "argument `action` must be add, replace, remove or read, got {other:?}"
            ));
        }
    };
    let text = render(&entries);
    if text.len() > MAX_FILE_BYTES && action != "remove" {
        return Err(format!(
            "{} would exceed {MAX_FILE_BYTES} bytes; remove or merge old entries first",
            target.file()
        ));
    }
    save(&dir, target, &text).await?;
    Ok(ToolOutput::json(&json!({
        "status": message,
        "target": target.name(),
        "entries": entries.len(),
    })))
}

fn find_one(entries: &[String], needle: &str) -> Result<usize, String> {
    let hits: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.contains(needle))
        .map(|(index, _)| index)
        .collect();
    match hits.as_slice() {
        [index] => Ok(*index),
        [] => Err("no entry contains `old_text`; read the memory first".to_owned()),
        _ => Err(format!(
            "`old_text` matches {} entries; make it more specific",
            hits.len()
        )),
    }
}

async fn load(dir: &Path, target: Target) -> Result<Vec<String>, String> {
    match tokio::fs::read_to_string(dir.join(target.file())).await {
        Ok(text) => Ok(parse(&text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(err) => Err(format!("cannot read {}: {err}", target.file())),
    }
}

async fn save(dir: &Path, target: Target, text: &str) -> Result<(), String> {
    let fail = |err: std::io::Error| format!("cannot write {}: {err}", target.file());
    tokio::fs::create_dir_all(dir).await.map_err(fail)?;
    let path = dir.join(target.file());
    let temp = dir.join(format!(".{}.{}.tmp", target.file(), uuid::Uuid::new_v4()));
    tokio::fs::write(&temp, text).await.map_err(fail)?;
    if let Err(err) = tokio::fs::rename(&temp, &path).await {
        let _ = tokio::fs::remove_file(&temp).await;
        return Err(fail(err));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_the_file_format() {
        let entries = vec!["one".to_owned(), "two\nlines".to_owned()];
        let text = render(&entries);
        assert_eq!(text, "one\n§\ntwo\nlines\n");
        assert_eq!(parse(&text), entries);
        assert_eq!(parse("\n§\n§\n  \n"), Vec::<String>::new());
    }
}
