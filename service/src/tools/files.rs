//! The `file` toolset: `read_file` (line-numbered slices), `write_file`, `patch` (exact string
//! replacement) and `search_files` (regex over a directory tree). Paths resolve through
//! `args::resolve_path` (relative → session workspace). The walk for `search_files` runs on the
//! blocking pool; its limits are constants below.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use globset::{Glob, GlobMatcher};
use regex::{Regex, RegexBuilder};
use serde_json::{Value, json};

use super::args::{Args, resolve_path};
use super::{Tool, ToolContext, ToolOutput, clip_chars, function_definition};

/// Most text `read_file` returns in one call.
const READ_CAP: usize = 100 * 1024;
/// Files larger than this are not read whole (use `terminal` with `sed -n`).
const READ_MAX_FILE: u64 = 20 * 1024 * 1024;
/// Longest line `read_file` shows, in characters.
const MAX_LINE_CHARS: usize = 2000;
const DEFAULT_READ_LINES: u64 = 2000;
/// `search_files` limits: matches, output bytes, files visited, size of a searched file.
const SEARCH_MAX_MATCHES: usize = 200;
const SEARCH_MAX_OUTPUT: usize = 50 * 1024;
const SEARCH_MAX_FILES: usize = 20_000;
const SEARCH_MAX_FILE_SIZE: u64 = 2 * 1024 * 1024;
/// Directories `search_files` never enters.
const SKIP_DIRS: &[&str] = &[".git", ".hg", ".svn", "node_modules"];

/// One of the four file tools; `kind` picks which.
pub(crate) struct FileTool {
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    Write,
    Patch,
    Search,
}

impl FileTool {
    pub(crate) fn read() -> FileTool {
        FileTool { kind: Kind::Read }
    }
    pub(crate) fn write() -> FileTool {
        FileTool { kind: Kind::Write }
    }
    pub(crate) fn patch() -> FileTool {
        FileTool { kind: Kind::Patch }
    }
    pub(crate) fn search() -> FileTool {
        FileTool { kind: Kind::Search }
    }
}

#[async_trait]
impl Tool for FileTool {
    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Read => "read_file",
            Kind::Write => "write_file",
            Kind::Patch => "patch",
            Kind::Search => "search_files",
        }
    }

    fn definition(&self) -> Value {
        let path = json!({"type": "string",
            "description": "File path; relative paths are inside the session workspace."});
        let (description, parameters) = match self.kind {
            Kind::Read => (
                "Read a text file, returned with line numbers. Use offset/limit to page through large files.",
                json!({"type": "object", "properties": {
                    "path": path,
                    "offset": {"type": "integer", "minimum": 1, "description": "First line to show (1-based, default 1)."},
                    "limit": {"type": "integer", "minimum": 1, "description": "How many lines to show (default 2000)."}
                }, "required": ["path"]}),
            ),
            Kind::Write => (
                "Write a file (replacing its content), creating parent directories as needed.",
                json!({"type": "object", "properties": {
                    "path": path,
                    "content": {"type": "string", "description": "The complete new content."}
                }, "required": ["path", "content"]}),
            ),
            Kind::Patch => (
                "Replace an exact string in a file. old_string must occur exactly once unless replace_all is true.",
                json!({"type": "object", "properties": {
                    "path": path,
                    "old_string": {"type": "string", "description": "Exact text to replace (include enough context to be unique)."},
                    "new_string": {"type": "string", "description": "Replacement text."},
                    "replace_all": {"type": "boolean", "description": "Replace every occurrence (default false)."}
                }, "required": ["path", "old_string", "new_string"]}),
            ),
            Kind::Search => (
                "Search file contents with a regular expression. Returns path:line: text for each match.",
                json!({"type": "object", "properties": {
                    "pattern": {"type": "string", "description": "Regular expression (Rust regex syntax)."},
                    "path": {"type": "string", "description": "Directory or file to search (default: the workspace)."},
                    "glob": {"type": "string", "description": "Only files whose name or relative path matches, e.g. *.rs"}
                }, "required": ["pattern"]}),
            ),
        };
        function_definition(self.name(), description, parameters)
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        let result = match self.kind {
            Kind::Read => read_file(ctx, &args).await,
            Kind::Write => write_file(ctx, &args).await,
            Kind::Patch => patch(ctx, &args).await,
            Kind::Search => search_files(ctx, &args).await,
        };
        result.unwrap_or_else(ToolOutput::error)
    }
}

async fn read_file(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let path = resolve_path(ctx, "path", args.string("path")?).await?;
    let offset = args.opt_u64("offset")?.unwrap_or(1).max(1);
    let limit = args.opt_u64("limit")?.unwrap_or(DEFAULT_READ_LINES).max(1);
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a directory, not a file", path.display()));
    }
    if meta.len() > READ_MAX_FILE {
        return Err(format!(
            "{} is too large to read ({} bytes); use the terminal (e.g. sed -n '1,100p')",
            path.display(),
            meta.len()
        ));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    if is_binary(&bytes) {
        return Err(format!("{} looks like a binary file", path.display()));
    }
    let text = String::from_utf8_lossy(&bytes);
    let total_lines = text.lines().count();
    let mut out = String::new();
    let mut last_shown = 0;
    let skip = usize::try_from(offset - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    for (index, line) in text.lines().enumerate().skip(skip).take(take) {
        let line = clip_chars(line, MAX_LINE_CHARS);
        let entry = format!("{:>6}\t{line}\n", index + 1);
        if out.len() + entry.len() > READ_CAP {
            break;
        }
        out.push_str(&entry);
        last_shown = index + 1;
    }
    if total_lines == 0 {
        out.push_str("[empty file]\n");
    } else if last_shown == 0 && skip >= total_lines {
        return Err(format!(
            "offset {offset} is past the end of the file ({total_lines} lines)"
        ));
    } else if last_shown < total_lines {
        out.push_str(&format!(
            "[showing lines {offset}-{last_shown} of {total_lines}; continue with offset={}]\n",
            last_shown + 1
        ));
    }
    Ok(ToolOutput::text(out))
}

async fn write_file(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let path = resolve_path(ctx, "path", args.string("path")?).await?;
    let content = args.string("content")?;
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    }
    tokio::fs::write(&path, content)
        .await
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(ToolOutput::json(&json!({
        "path": path.display().to_string(),
        "bytes_written": content.len(),
    })))
}

async fn patch(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let path = resolve_path(ctx, "path", args.string("path")?).await?;
    let old = args.string("old_string")?;
    let new = args.string("new_string")?;
    let replace_all = args.opt_bool("replace_all")?.unwrap_or(false);
    if old.is_empty() {
        return Err("argument `old_string` must not be empty".to_owned());
    }
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let count = text.matches(old).count();
    if count == 0 {
        return Err(format!(
            "`old_string` was not found in {}; read the file and copy the text exactly",
            path.display()
        ));
    }
    if count > 1 && !replace_all {
        return Err(format!(
            "`old_string` occurs {count} times in {}; add surrounding context to make it unique, \
             or set replace_all",
            path.display()
        ));
    }
    let patched = if replace_all {
        text.replace(old, new)
    } else {
        text.replacen(old, new, 1)
    };
    tokio::fs::write(&path, patched)
        .await
        .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    Ok(ToolOutput::json(&json!({
        "path": path.display().to_string(),
        "replacements": count,
    })))
}

async fn search_files(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let pattern = args.non_empty("pattern")?;
    let regex = RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|err| format!("argument `pattern` is not a valid regex: {err}"))?;
    let root = match args.opt_string("path")? {
        Some(path) => resolve_path(ctx, "path", path).await?,
        None => ctx.ensure_workspace().await?,
    };
    let glob = match args.opt_string("glob")? {
        Some(glob) => Some(
            Glob::new(glob)
                .map_err(|err| format!("argument `glob` is not a valid glob: {err}"))?
                .compile_matcher(),
        ),
        None => None,
    };
    if !root.exists() {
        return Err(format!("{} does not exist", root.display()));
    }
    let report = tokio::task::spawn_blocking(move || search(&root, &regex, glob.as_ref()))
        .await
        .map_err(|err| format!("the search failed: {err}"))?;
    Ok(ToolOutput::text(report))
}

/// Walks `root` (no symlinks followed), returning `path:line: text` lines and a summary.
fn search(root: &Path, regex: &Regex, glob: Option<&GlobMatcher>) -> String {
    let mut out = String::new();
    let mut matches = 0usize;
    let mut visited = 0usize;
    let mut stopped = None;
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    'walk: while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let skip = path != root
                && path
                    .file_name()
                    .is_some_and(|name| SKIP_DIRS.iter().any(|d| name == *d));
            if skip {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&path) {
                let mut children: Vec<PathBuf> =
                    entries.filter_map(Result::ok).map(|e| e.path()).collect();
                children.sort_unstable_by(|a, b| b.cmp(a));
                stack.extend(children);
            }
            continue;
        }
        if !meta.is_file() || meta.len() > SEARCH_MAX_FILE_SIZE {
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        if let Some(glob) = glob {
            let name_hit = path.file_name().is_some_and(|name| glob.is_match(name));
            if !name_hit && !glob.is_match(relative) {
                continue;
            }
        }
        visited += 1;
        if visited > SEARCH_MAX_FILES {
            stopped = Some("too many files");
            break;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if is_binary(&bytes) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for (index, line) in text.lines().enumerate() {
            if !regex.is_match(line) {
                continue;
            }
            let entry = format!(
                "{}:{}: {}\n",
                path.display(),
                index + 1,
                clip_chars(line.trim(), 200)
            );
            if matches >= SEARCH_MAX_MATCHES || out.len() + entry.len() > SEARCH_MAX_OUTPUT {
                stopped = Some("result limit reached");
                break 'walk;
            }
            out.push_str(&entry);
            matches += 1;
        }
    }
    match (matches, stopped) {
        (0, None) => "No matches.".to_owned(),
        (_, None) => format!("{out}[{matches} matches]"),
        (_, Some(why)) => format!(
            "{out}[{matches} matches shown; stopped early: {why} — narrow the pattern, path or glob]"
        ),
    }
}

/// A NUL byte in the first 8 KB: the usual "binary file" heuristic.
fn is_binary(bytes: &[u8]) -> bool {
    bytes.iter().take(8192).any(|&b| b == 0)
}
