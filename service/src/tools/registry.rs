//! [`ToolRegistry`]: the tools of the enabled toolsets, built once per process from
//! `BUILTIN_TOOLSETS`, plus the one entry point the agent loop calls ([`ToolRegistry::execute`])
//! and the progress-event label ([`ToolRegistry::preview`]).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::Value;

use super::cronjob::CronJob;
use super::files::FileTool;
use super::memory::MemoryTool;
use super::session_search::SessionSearch;
use super::skills::{SkillView, SkillsList};
use super::terminal::Terminal;
use super::todo::TodoTool;
use super::web::WebExtract;
use super::{Tool, ToolContext, ToolOutput, clip_chars};
use crate::config::Config;
use crate::discovery::toolsets::{BUILTIN_TOOLSETS, is_enabled};

/// Longest preview label, in characters.
const PREVIEW_CHARS: usize = 80;

/// The server-side tools offered to the model; cheap to clone (shared instances).
#[derive(Clone)]
pub struct ToolRegistry {
    /// In catalogue order, so definitions are stable between turns.
    tools: Vec<Arc<dyn Tool>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tools.iter().map(|tool| tool.name()).collect();
        f.debug_struct("ToolRegistry")
            .field("tools", &names)
            .finish()
    }
}

/// The implementation behind a catalogue tool name.
fn build(name: &str) -> Option<Arc<dyn Tool>> {
    let tool: Arc<dyn Tool> = match name {
        "terminal" => Arc::new(Terminal),
        "read_file" => Arc::new(FileTool::read()),
        "write_file" => Arc::new(FileTool::write()),
        "patch" => Arc::new(FileTool::patch()),
        "search_files" => Arc::new(FileTool::search()),
        "memory" => Arc::new(MemoryTool::default()),
        "skills_list" => Arc::new(SkillsList),
        "skill_view" => Arc::new(SkillView),
        "todo" => Arc::new(TodoTool::default()),
        "session_search" => Arc::new(SessionSearch),
        "web_extract" => Arc::new(WebExtract::new()),
        "cronjob" => Arc::new(CronJob),
        _ => return None,
    };
    Some(tool)
}

/// Whether this build implements `name` (whatever the configuration enables).
pub fn is_implemented(name: &str) -> bool {
    BUILTIN_TOOLSETS.iter().any(|set| set.tools.contains(&name))
}

impl ToolRegistry {
    /// The tools of every toolset `platform_toolsets.api_server` enables (all by default).
    pub fn new(config: &Config) -> Self {
        let configured = config.toolsets.as_deref();
        let tools = BUILTIN_TOOLSETS
            .iter()
            .filter(|set| is_enabled(configured, set.name))
            .flat_map(|set| set.tools.iter())
            .filter_map(|name| build(name))
            .collect();
        ToolRegistry { tools }
    }

    /// OpenAI tool definitions of every registered tool, for the upstream request.
    pub fn definitions(&self) -> Vec<Value> {
        self.tools.iter().map(|tool| tool.definition()).collect()
    }

    /// Whether `name` is a server-side tool here (otherwise it may be a client tool).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Names of the registered tools, in definition order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|tool| tool.name()).collect()
    }

    fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.iter().find(|tool| tool.name() == name)
    }

    /// Runs one tool call from the model's JSON argument text. An unknown tool, bad JSON or a
    /// failing tool all become an error [`ToolOutput`] the model can read — never a panic or an
    /// `Err` that would end the turn. Empty argument text counts as `{}` (some models send nothing for argument-less tools);
    /// a panicking tool is caught and reported as an error result.
    pub async fn execute(&self, ctx: &ToolContext, name: &str, arguments: &str) -> ToolOutput {
        let Some(tool) = self.get(name) else {
            let known = self.names().join(", ");
            return ToolOutput::error(format!("unknown tool {name:?}; available tools: {known}"));
        };
        let args = if arguments.trim().is_empty() {
            Value::Object(serde_json::Map::new())
        } else {
            match serde_json::from_str::<Value>(arguments) {
                Ok(value @ Value::Object(_)) => value,
                Ok(_) => {
                    return ToolOutput::error(format!(
                        "the arguments of {name} must be a JSON object"
                    ));
                }
                Err(err) => {
                    return ToolOutput::error(format!(
                        "the arguments of {name} are not valid JSON ({err}); send a JSON object"
                    ));
                }
            }
        };
        match AssertUnwindSafe(tool.call(ctx, args)).catch_unwind().await {
            Ok(output) => output,
            Err(_) => {
                tracing::error!(tool = name, "tool panicked");
                ToolOutput::error(format!("the {name} tool failed unexpectedly"))
            }
        }
    }

    /// A short, safe label for progress events: the command's first line, a path, a query…
    /// (≤ 80 characters). Never file contents or memory text.
    pub fn preview(name: &str, arguments: &str) -> String {
        let args: Value = serde_json::from_str(arguments).unwrap_or(Value::Null);
        let field = |key: &str| args.get(key).and_then(Value::as_str).map(str::trim);
        let label = match name {
            "terminal" => field("command").map(|c| c.lines().next().unwrap_or("").to_owned()),
            "read_file" | "write_file" | "patch" => field("path").map(str::to_owned),
            "search_files" => field("pattern").map(|p| match field("path") {
                Some(path) => format!("{p} in {path}"),
                None => p.to_owned(),
            }),
            "memory" => field("action").map(|a| match field("target") {
                Some(target) => format!("{a} {target}"),
                None => a.to_owned(),
            }),
            "skill_view" => field("name").map(str::to_owned),
            "todo" => field("action").map(str::to_owned),
            "session_search" => field("query").map(str::to_owned),
            "web_extract" => field("url").map(url_label),
            "cronjob" => field("action").map(|a| match field("name") {
                Some(name) => format!("{a} {name}"),
                None => a.to_owned(),
            }),
            _ => None,
        };
        let label = label
            .filter(|l| !l.is_empty())
            .unwrap_or_else(|| name.to_owned());
        let single_line: String = label
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        clip_chars(&single_line, PREVIEW_CHARS)
    }
}

/// Scheme, host and path of a URL: query strings and credentials may carry secrets.
fn url_label(raw: &str) -> String {
    match reqwest::Url::parse(raw) {
        Ok(url) => format!(
            "{}://{}{}{}",
            url.scheme(),
            url.host_str().unwrap_or(""),
            url.port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default(),
            url.path()
        ),
        Err(_) => raw.split(['?', '#']).next().unwrap_or("").to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_implemented_agrees_with_build() {
        for set in BUILTIN_TOOLSETS {
            for name in set.tools {
                assert_eq!(is_implemented(name), build(name).is_some(), "{name}");
            }
        }
    }
}
