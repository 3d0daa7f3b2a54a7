//! The built-in toolset catalogue (API.md §9) and which toolsets this platform enables
//! (`platform_toolsets.api_server`, default: all). The agent loop reads the same table, so what
//! `/v1/toolsets` reports is what the model is offered.

/// One built-in toolset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolsetSpec {
    /// Id used in configuration.
    pub name: &'static str,
    /// Display label.
    pub label: &'static str,
    /// What it offers.
    pub description: &'static str,
    /// Tool names, sorted.
    pub tools: &'static [&'static str],
}

/// Every built-in toolset, in display order.
pub const BUILTIN_TOOLSETS: &[ToolsetSpec] = &[
    ToolsetSpec {
        name: "terminal",
        label: "Terminal",
        description: "Run shell commands in the session's workspace directory",
        tools: &["terminal"],
    },
    ToolsetSpec {
        name: "file",
        label: "Files",
        description: "Read, write, patch and search files in the session's workspace",
        tools: &["patch", "read_file", "search_files", "write_file"],
    },
    ToolsetSpec {
        name: "memory",
        label: "Memory",
        description: "Long-term memory in MEMORY.md and USER.md, scoped by X-Hermes-Session-Key",
        tools: &["memory"],
    },
    ToolsetSpec {
        name: "skills",
        label: "Skills",
        description: "List and read skills from $HERMES_HOME/skills",
        tools: &["skill_view", "skills_list"],
    },
    ToolsetSpec {
        name: "todo",
        label: "Todo",
        description: "A per-session task list",
        tools: &["todo"],
    },
    ToolsetSpec {
        name: "session_search",
        label: "Session search",
        description: "Full-text search over stored sessions",
        tools: &["session_search"],
    },
    ToolsetSpec {
        name: "web",
        label: "Web",
        description: "Fetch a URL and return its text",
        tools: &["web_extract"],
    },
    ToolsetSpec {
        name: "cronjob",
        label: "Cron jobs",
        description: "Create and list scheduled jobs",
        tools: &["cronjob"],
    },
];

/// Whether `toolset` is enabled given `platform_toolsets.api_server` (`None` = all built-ins).
pub fn is_enabled(configured: Option<&[String]>, toolset: &str) -> bool {
    configured.is_none_or(|list| list.iter().any(|name| name == toolset || name == "all"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_sorted_and_unique() {
        let mut all = Vec::new();
        for set in BUILTIN_TOOLSETS {
            let mut sorted = set.tools.to_vec();
            sorted.sort_unstable();
            assert_eq!(sorted, set.tools, "{} tools not sorted", set.name);
            all.extend_from_slice(set.tools);
        }
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a tool belongs to two toolsets");
    }

    #[test]
    fn configured_list_restricts_toolsets() {
        assert!(is_enabled(None, "terminal"));
        let only_files = vec!["file".to_owned()];
        assert!(is_enabled(Some(&only_files), "file"));
        assert!(!is_enabled(Some(&only_files), "terminal"));
    }
}
