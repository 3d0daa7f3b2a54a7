//! Human-in-the-loop approval of risky shell commands (API.md §9): the [`ApprovalGate`] a route
//! provides (supervised runs ask a human; chat-like routes have [`NoApprovalChannel`]), and the
//! policy [`guard`] that combines the pattern tables (`patterns.rs`) with `approvals.mode`,
//! `approvals.deny` and `command_allowlist`. Running the command is the terminal tool's job;
//! storing "always" approvals belongs to the runs module.

mod patterns;

#[cfg(test)]
mod patterns_tests;

use async_trait::async_trait;
use globset::{Glob, GlobMatcher};

use crate::config::{ApprovalMode, Config};

pub use patterns::{Verdict, classify, dangerous_keys, dangerous_matches};

/// What the terminal tool asks a human to approve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRequest {
    /// The full command, exactly as it would run.
    pub command: String,
    /// The dangerous pattern that matched (`recursive_delete`, …); "session"/"always" approvals
    /// are remembered per key.
    pub pattern_key: String,
    /// Human wording of the risk.
    pub description: String,
}

/// The answer to an [`ApprovalRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalDecision {
    /// Run this one command.
    Once,
    /// Run it, and pre-approve the pattern for the rest of the session.
    Session,
    /// Run it, and pre-approve the pattern durably.
    Always,
    /// The human refused.
    Deny,
    /// Nobody answered within `approvals.timeout`: counts as a denial.
    TimedOut,
    /// This route cannot ask anyone (chat completions, responses, session chat, jobs).
    NoChannel,
}

impl ApprovalDecision {
    /// Whether the command may run.
    pub fn allows(self) -> bool {
        matches!(
            self,
            ApprovalDecision::Once | ApprovalDecision::Session | ApprovalDecision::Always
        )
    }
}

/// The approval channel of one route/turn; the agent loop hands it to tools via `ToolContext`.
#[async_trait]
pub trait ApprovalGate: Send + Sync {
    /// Asks for approval and waits for the answer (the gate applies its own timeout).
    async fn request(&self, request: ApprovalRequest) -> ApprovalDecision;

    /// Whether `pattern_key` was already approved for this session or durably ("always"), so
    /// the command runs without asking again.
    fn is_preapproved(&self, _pattern_key: &str) -> bool {
        false
    }
}

/// The gate of routes with nobody to ask: every request answers [`ApprovalDecision::NoChannel`],
/// so the dangerous command is not run and the model is told why.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoApprovalChannel;

#[async_trait]
impl ApprovalGate for NoApprovalChannel {
    async fn request(&self, _request: ApprovalRequest) -> ApprovalDecision {
        ApprovalDecision::NoChannel
    }
}

/// What the policy says about a command, before any human is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guard {
    /// Run it.
    Allow,
    /// Never run it (hardline pattern or an `approvals.deny` glob); no approval can change that.
    Refuse { reason: String },
    /// Run it only after approval of this pattern.
    NeedsApproval {
        pattern_key: &'static str,
        description: &'static str,
    },
}

/// The policy for `command` with nothing pre-approved; see [`guard_with`].
pub fn guard(config: &Config, command: &str) -> Guard {
    guard_with(config, command, |_| false)
}

/// The policy, in order:
/// 1. a hardline pattern → `Refuse`;
/// 2. an `approvals.deny` glob matching the whole command or one of its `;`/`&&`/`||`/`|`
///    segments → `Refuse` (checked before `mode: off`, because the config documents off as
///    "everything not denied runs");
/// 3. `approvals.mode: off` → `Allow`;
/// 4. a `command_allowlist` glob matching the whole command → `Allow`;
/// 5. otherwise the first dangerous pattern that is neither allowlisted by key nor
///    `preapproved` → `NeedsApproval`; none left → `Allow`.
///
/// Globs use `globset` syntax on the trimmed command text, where `*` also spans `/` and spaces:
/// `git *` allowlists every command starting with `git `, chained commands included.
pub fn guard_with(config: &Config, command: &str, preapproved: impl Fn(&str) -> bool) -> Guard {
    let command = command.trim();
    if let Verdict::Hardline { description } = classify(command) {
        return Guard::Refuse {
            reason: format!("hardline: {description} is never allowed"),
        };
    }
    let segments = segments(command);
    for pattern in &config.approvals.deny {
        let hit = glob_matches(pattern, command)
            || segments
                .iter()
                .any(|segment| glob_matches(pattern, segment));
        if hit {
            return Guard::Refuse {
                reason: format!("the command matches the deny pattern `{pattern}`"),
            };
        }
    }
    if config.approvals.mode == ApprovalMode::Off {
        return Guard::Allow;
    }
    let allowlist = &config.command_allowlist;
    if allowlist
        .iter()
        .any(|pattern| glob_matches(pattern, command))
    {
        return Guard::Allow;
    }
    dangerous_matches(command)
        .into_iter()
        .find(|(key, _)| !allowlist.iter().any(|entry| entry == key) && !preapproved(key))
        .map_or(Guard::Allow, |(pattern_key, description)| {
            Guard::NeedsApproval {
                pattern_key,
                description,
            }
        })
}

/// The simple commands of a command line, split on `;`, `&&`, `||`, `|`, `&` and newlines (no
/// quote awareness: a split inside quotes only yields extra segments to check).
fn segments(command: &str) -> Vec<&str> {
    command
        .split([';', '&', '|', '\n'])
        .map(str::trim)
        .filter(|segment| !segment.is_empty())
        .collect()
}

/// Whether glob `pattern` matches `text`; a pattern that is not a valid glob matches only its
/// exact text (so a typo in `approvals.deny` still refuses that exact command).
fn glob_matches(pattern: &str, text: &str) -> bool {
    match compile_glob(pattern) {
        Some(matcher) => matcher.is_match(text),
        None => pattern.trim() == text,
    }
}

fn compile_glob(pattern: &str) -> Option<GlobMatcher> {
    Glob::new(pattern.trim())
        .ok()
        .map(|glob| glob.compile_matcher())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::Overrides;

    fn config() -> (tempfile::TempDir, Config) {
        let home = tempfile::tempdir().unwrap();
        let env = HashMap::from([(
            "API_SERVER_KEY".to_owned(),
            "0123456789abcdef0123456789abcdef".to_owned(),
        )]);
        let overrides = Overrides {
            home: Some(home.path().to_path_buf()),
            ..Default::default()
        };
        let config = Config::load(&env, &overrides).unwrap();
        (home, config)
    }

    #[test]
    fn default_policy_needs_approval_for_dangerous_and_refuses_hardline() {
        let (_home, config) = config();
        assert_eq!(guard(&config, "ls -la"), Guard::Allow);
        assert!(matches!(
            guard(&config, "rm -rf build"),
            Guard::NeedsApproval {
                pattern_key: "recursive_delete",
                ..
            }
        ));
        assert!(matches!(guard(&config, "rm -rf /"), Guard::Refuse { .. }));
    }

    #[test]
    fn mode_off_allows_dangerous_but_not_hardline_or_denied() {
        let (_home, mut config) = config();
        config.approvals.mode = ApprovalMode::Off;
        config.approvals.deny = vec!["shutdown*".to_owned()];
        assert_eq!(guard(&config, "rm -rf build"), Guard::Allow);
        assert!(matches!(guard(&config, "rm -rf /*"), Guard::Refuse { .. }));
        assert!(matches!(
            guard(&config, "shutdown -h now"),
            Guard::Refuse { .. }
        ));
    }

    #[test]
    fn deny_globs_refuse_whole_commands_and_segments() {
        let (_home, mut config) = config();
        config.approvals.deny = vec!["sudo *".to_owned(), "npm publish*".to_owned()];
        assert!(matches!(guard(&config, "sudo ls"), Guard::Refuse { .. }));
        assert!(matches!(
            guard(&config, "cd pkg && npm publish --access public"),
            Guard::Refuse { .. }
        ));
        assert_eq!(guard(&config, "npm test"), Guard::Allow);
    }

    #[test]
    fn allowlist_by_glob_or_pattern_key() {
        let (_home, mut config) = config();
        config.command_allowlist = vec!["rm -rf ./build*".to_owned(), "git_force_push".to_owned()];
        assert_eq!(guard(&config, "rm -rf ./build/out"), Guard::Allow);
        assert!(matches!(
            guard(&config, "rm -rf ./src"),
            Guard::NeedsApproval { .. }
        ));
        assert_eq!(guard(&config, "git push --force origin main"), Guard::Allow);
        // A second risk in the same command still needs its own approval.
        assert!(matches!(
            guard(&config, "git push -f && git reset --hard HEAD~1"),
            Guard::NeedsApproval {
                pattern_key: "git_reset_hard",
                ..
            }
        ));
        // The allowlist never unlocks hardline commands.
        config.command_allowlist = vec!["*".to_owned()];
        assert!(matches!(guard(&config, "rm -rf /"), Guard::Refuse { .. }));
    }

    #[test]
    fn preapproved_keys_skip_approval() {
        let (_home, config) = config();
        let verdict = guard_with(&config, "rm -rf tmp", |key| key == "recursive_delete");
        assert_eq!(verdict, Guard::Allow);
    }

    #[test]
    fn invalid_deny_glob_still_refuses_its_exact_text() {
        let (_home, mut config) = config();
        config.approvals.deny = vec!["make [deploy".to_owned()];
        assert!(matches!(
            guard(&config, "make [deploy"),
            Guard::Refuse { .. }
        ));
        assert_eq!(guard(&config, "make test"), Guard::Allow);
    }

    #[tokio::test]
    async fn no_channel_gate_answers_no_channel() {
        let gate = NoApprovalChannel;
        let decision = gate
            .request(ApprovalRequest {
                command: "rm -rf x".into(),
                pattern_key: "recursive_delete".into(),
                description: "recursive delete".into(),
            })
            .await;
        assert_eq!(decision, ApprovalDecision::NoChannel);
        assert!(!decision.allows());
        assert!(!gate.is_preapproved("recursive_delete"));
    }
}
