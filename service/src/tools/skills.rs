//! The `skills` toolset (`skills_list`, `skill_view`) and the skills index for the system
//! prompt, over `crate::discovery::skills::scan(<home>/skills)`. Discovery (front matter,
//! categories) belongs to that module; this one only presents skills to the model.

use std::path::Path;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::args::Args;
use super::{Tool, ToolContext, ToolOutput, clip_chars, function_definition, truncate_utf8};
use crate::discovery::skills::{SkillInfo, scan};

/// Most SKILL.md text `skill_view` returns, in bytes.
const MAX_SKILL_BYTES: usize = 64 * 1024;
/// Most text the skills index adds to the system prompt, in bytes.
const MAX_INDEX_BYTES: usize = 8 * 1024;

/// One line per skill, `- name: description`, for the system prompt; bounded to 8 KB, empty
/// when there are no skills. Blocking directory scan: call it once per turn.
pub fn skills_index(home: &Path) -> String {
    let mut out = String::new();
    for skill in scan(&home.join("skills")) {
        let line = if skill.description.is_empty() {
            format!("- {}\n", skill.name)
        } else {
            format!(
                "- {}: {}\n",
                skill.name,
                clip_chars(&skill.description, 200)
            )
        };
        if out.len() + line.len() > MAX_INDEX_BYTES {
            out.push_str("- … (more skills: call skills_list)\n");
            break;
        }
        out.push_str(&line);
    }
    out.trim_end().to_owned()
}

async fn skills(ctx: &ToolContext) -> Result<Vec<SkillInfo>, String> {
    let dir = ctx.config.home.join("skills");
    tokio::task::spawn_blocking(move || scan(&dir))
        .await
        .map_err(|err| format!("cannot scan skills: {err}"))
}

pub(crate) struct SkillsList;

#[async_trait]
impl Tool for SkillsList {
    fn name(&self) -> &'static str {
        "skills_list"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "List the available skills (reusable instructions) with their descriptions.",
            json!({"type": "object", "properties": {}}),
        )
    }

    async fn call(&self, ctx: &ToolContext, _args: Value) -> ToolOutput {
        match skills(ctx).await {
            Ok(found) => {
                let list: Vec<Value> = found
                    .iter()
                    .map(|s| json!({"name": s.name, "description": s.description, "category": s.category}))
                    .collect();
                ToolOutput::json(&json!({ "skills": list }))
            }
            Err(err) => ToolOutput::error(err),
        }
    }
}

pub(crate) struct SkillView;

#[async_trait]
impl Tool for SkillView {
    fn name(&self) -> &'static str {
        "skill_view"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Show the full instructions (SKILL.md) of one skill.",
            json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "Skill name as listed by skills_list (or category/name)."}
            }, "required": ["name"]}),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        view(ctx, &args).await.unwrap_or_else(ToolOutput::error)
    }
}

async fn view(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let name = Args::new(args)?.non_empty("name")?.trim();
    let found = skills(ctx).await?;
    let skill = found
        .iter()
        .find(|s| {
            s.name == name
                || s.category
                    .as_ref()
                    .is_some_and(|c| format!("{c}/{}", s.name) == name)
        })
        .ok_or_else(|| format!("no skill named {name:?}; call skills_list"))?;
    let mut text = tokio::fs::read_to_string(&skill.path)
        .await
        .map_err(|err| format!("cannot read the skill {name:?}: {err}"))?;
    if truncate_utf8(&mut text, MAX_SKILL_BYTES) {
        text.push_str("\n[skill truncated]");
    }
    Ok(ToolOutput::text(text))
}
