//! The system prompt of a turn: the agent's core persona, the skills index, the memory snapshot
//! (scoped by `X-Hermes-Session-Key`), then the client's own system text layered on top, so the
//! client's instructions come last and win where they conflict.

use std::path::Path;

use crate::tools::{memory_snapshot, skills_index};

/// Who the agent is and how it works, before any client instruction.
pub const CORE_PERSONA: &str = "You are Hermes, a capable assistant that runs on a server and can use tools on that \
host: a terminal, files in a per-session workspace, long-term memory, skills, a todo list, \
search over past sessions and web page extraction. Use tools when they help you answer \
accurately; do not invent tool results. Keep answers clear and concise. Dangerous commands may \
need human approval; when a command is refused or pending approval, do not retry it — explain \
what you would do instead.";

/// Builds the system prompt. Reads skills and memory from disk (call off the async runtime);
/// turns go through [`super::prompt_cache::PromptCache`], which reads them only when they changed.
pub fn system_prompt(home: &Path, session_key: Option<&str>, client_text: Option<&str>) -> String {
    compose(
        &skills_index(home),
        &memory_snapshot(home, session_key),
        client_text,
    )
}

/// The prompt from its parts: persona, skills index, memory snapshot, then the client's text.
pub(super) fn compose(skills: &str, memory: &str, client_text: Option<&str>) -> String {
    let mut prompt = String::from(CORE_PERSONA);
    if !skills.trim().is_empty() {
        prompt.push_str("\n\n## Skills\nUse `skill_view` to read one before following it.\n");
        prompt.push_str(skills.trim_end());
    }
    if !memory.trim().is_empty() {
        prompt.push_str("\n\n## Memory\n");
        prompt.push_str(memory.trim_end());
    }
    if let Some(text) = client_text.map(str::trim).filter(|text| !text.is_empty()) {
        prompt.push_str("\n\n## Instructions from the client (these take precedence)\n");
        prompt.push_str(text);
    }
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_text_is_layered_last() {
        let home = tempfile::tempdir().unwrap();
        let prompt = system_prompt(home.path(), None, Some("Eres un asistente creativo."));
        assert!(prompt.starts_with(CORE_PERSONA));
        assert!(prompt.ends_with("Eres un asistente creativo."));
        let without = system_prompt(home.path(), None, Some("   "));
        assert_eq!(without, CORE_PERSONA);
    }

    #[test]
    fn skills_appear_in_the_index() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("skills/deploy");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("SKILL.md"),
            "---\nname: deploy\ndescription: Ship it\n---\n",
        )
        .unwrap();
        let prompt = system_prompt(home.path(), None, None);
        assert!(prompt.contains("deploy"), "{prompt}");
        assert!(prompt.contains("Ship it"), "{prompt}");
    }
}
