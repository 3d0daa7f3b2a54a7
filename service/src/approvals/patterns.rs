//! The two command tables behind [`classify`]: *hardline* patterns (always refused, no approval
//! can unlock them) and *dangerous* patterns (each with a stable `pattern_key` the allowlist and
//! approvals refer to). Policy — modes, deny globs, allowlist — lives in `mod.rs`; the tests are
//! in `patterns_tests.rs`.
//!
//! The classifier is deliberately conservative: it matches the raw command text, quotes included,
//! so `echo "rm -rf build"` is flagged like `rm -rf build`. A regex cannot tell a quoted argument
//! from `bash -c "rm -rf build"` or `… | sh`, and a false alarm costs one approval while a miss
//! can cost the machine.

use std::sync::LazyLock;

use regex::Regex;

/// What a command is, before any configuration is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing in the tables matched.
    Safe,
    /// Needs a human approval (or an allowlist entry / `approvals.mode: off`).
    Dangerous {
        /// Stable id, usable in `command_allowlist` and stored "always" approvals.
        pattern_key: &'static str,
        /// Human wording, shown in approval prompts and tool results.
        description: &'static str,
    },
    /// Never runs, whatever the configuration says.
    Hardline { description: &'static str },
}

/// How one table entry recognises a command.
enum Matcher {
    /// Alternatives, joined into one regex.
    Regex(&'static [&'static str]),
    /// Checks a regex cannot express (no look-ahead in the `regex` crate).
    Custom(fn(&str) -> bool),
}

struct Entry {
    key: &'static str,
    description: &'static str,
    matcher: Matcher,
}

/// Token boundary before a command word: start, a shell operator, a quote, `$(`, or a wrapper.
const CMD: &str = r#"(?:^|[;&|({`"'\n]|\$\(|\bsudo\s+|\bexec\s+|\bnohup\s+|\bsystemctl\s+)\s*"#;
/// Block devices whose overwrite destroys a disk.
const DISK: &str = r"/dev/(?:sd[a-z]|nvme\d|hd[a-z]|vd[a-z]|xvd[a-z]|mmcblk\d|disk\d)";
/// Shell start-up files.
const RC_FILE: &str = r#"["']?(?:\S*/)?\.(?:bashrc|bash_profile|bash_login|bash_logout|zshrc|zprofile|zshenv|zlogin|profile)\b"#;
/// `/etc/...` paths.
const ETC: &str = r#"["']?/etc/"#;
/// Dotenv files (`.env`, `.env.local`, `path/.env`).
const ENV_FILE: &str = r#"["']?(?:\S*/)?\.env\b"#;

const HARDLINE: &[Entry] = &[
    Entry {
        key: "delete_root",
        description: "recursive delete of the root filesystem",
        matcher: Matcher::Regex(&[
            r#"\brm\s+(?:-\S*\s+)*(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\s+(?:-\S*\s+)*["']?/\*?["']?(?:\s|$|[;&|)])"#,
        ]),
    },
    Entry {
        key: "fork_bomb",
        description: "fork bomb",
        matcher: Matcher::Regex(&[
            r":\s*\(\s*\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:",
            r"\b\w+\s*\(\s*\)\s*\{\s*\w+\s*\|\s*\w+\s*&\s*\}\s*;",
        ]),
    },
    Entry {
        key: "mkfs_device",
        description: "formatting a block device",
        matcher: Matcher::Regex(&[r"\bmkfs(?:\.\w+)?\s[^;&|\n]*/dev/"]),
    },
    Entry {
        key: "dd_device",
        description: "raw write to a disk device with dd",
        matcher: Matcher::Regex(&[r"\bdd\s[^;&|\n]*\bof=/dev/(?:sd|nvme|hd|vd|xvd|mmcblk|disk)"]),
    },
    Entry {
        key: "chmod_root",
        description: "recursive world-writable permissions on /",
        matcher: Matcher::Regex(&[
            r"\bchmod\s+(?:-\S+\s+)*(?:-\w*R\w*|--recursive)\s+(?:-\S+\s+)*(?:0?777|a\+rwx)\s+/\*?(?:\s|$|[;&|)])",
            r"\bchmod\s+(?:-\S+\s+)*(?:0?777|a\+rwx)\s+(?:-\w*R\w*|--recursive)\s+/\*?(?:\s|$|[;&|)])",
        ]),
    },
    Entry {
        key: "device_redirect",
        description: "redirecting output onto a disk device",
        matcher: Matcher::Regex(&[r">\s*/dev/(?:sd[a-z]|nvme\d|hd[a-z])"]),
    },
];

const DANGEROUS: &[Entry] = &[
    Entry {
        key: "recursive_delete",
        description: "recursive delete",
        matcher: Matcher::Regex(&[
            r"\brm\s(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)(?:\s|$|[;&|)])",
            r"\bfind\s[^;&|\n]*\s-delete\b",
        ]),
    },
    Entry {
        key: "world_writable",
        description: "making files world-writable (chmod 777)",
        matcher: Matcher::Regex(&[r"\bchmod\s(?:[^;&|\n]*\s)?(?:0?777|a\+rwx|ugo\+rwx)\b"]),
    },
    Entry {
        key: "recursive_chown",
        description: "recursive change of ownership",
        matcher: Matcher::Regex(&[
            r"\bchown\s(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*R[a-zA-Z]*|--recursive)\b",
        ]),
    },
    Entry {
        key: "mkfs",
        description: "creating a filesystem (mkfs)",
        matcher: Matcher::Regex(&[r"\bmkfs(?:\.\w+)?\s"]),
    },
    Entry {
        key: "dd_write",
        description: "raw write with dd",
        matcher: Matcher::Regex(&[r"\bdd\s[^;&|\n]*\bof="]),
    },
    Entry {
        key: "sql_drop",
        description: "SQL DROP TABLE/DATABASE",
        matcher: Matcher::Regex(&[r"(?i)\bdrop\s+(?:table|database|schema)\b"]),
    },
    Entry {
        key: "sql_delete_all",
        description: "SQL DELETE without WHERE",
        matcher: Matcher::Custom(delete_without_where),
    },
    Entry {
        key: "sql_truncate",
        description: "SQL TRUNCATE",
        matcher: Matcher::Regex(&[
            r"(?i)\btruncate\s+table\s",
            r#"(?i)\btruncate\s+(?:only\s+)?[a-z_][\w.]*(?:\s*(?:;|$|[)'"`])|\s+(?:cascade|restrict|restart|continue)\b)"#,
        ]),
    },
    Entry {
        key: "pipe_to_shell",
        description: "piping downloaded content into a shell",
        matcher: Matcher::Regex(&[
            r"\b(?:curl|wget)\b[^;&\n]*\|\s*(?:sudo\s+)?(?:\S*/)?(?:ba|z|da|k)?sh\b",
            r"\b(?:(?:ba|z|da|k)?sh|source|\.)\s+<\(\s*(?:curl|wget)\b",
        ]),
    },
    Entry {
        key: "kill_all",
        description: "killing every process (kill -9 -1)",
        matcher: Matcher::Regex(&[
            r"\bkill\s+(?:-9|-KILL|-SIGKILL|-s\s+(?:KILL|SIGKILL|9))\s+-1\b",
        ]),
    },
    Entry {
        key: "killall",
        description: "killing processes by name (killall)",
        matcher: Matcher::Regex(&[r"\bkillall\s"]),
    },
    Entry {
        key: "pkill_kill",
        description: "force-killing processes by name (pkill -9)",
        matcher: Matcher::Regex(&[r"\bpkill\s(?:[^;&|\n]*\s)?-(?:9|KILL|SIGKILL)\b"]),
    },
    Entry {
        key: "shutdown",
        description: "shutting down or rebooting the host",
        matcher: Matcher::Custom(shutdown_command),
    },
    Entry {
        key: "service_stop",
        description: "stopping or disabling a system service",
        matcher: Matcher::Regex(&[r"\bsystemctl\s+(?:-\S+\s+)*(?:stop|disable|mask|kill)\b"]),
    },
    Entry {
        key: "shell_config_write",
        description: "writing to a shell start-up file or /etc",
        matcher: Matcher::Custom(writes_shell_config),
    },
    Entry {
        key: "env_file_write",
        description: "writing to a .env file",
        matcher: Matcher::Custom(writes_env_file),
    },
    Entry {
        key: "git_force_push",
        description: "force-pushing git history",
        matcher: Matcher::Regex(&[r"\bgit\b[^;&|\n]*\spush\b[^;&|\n]*\s(?:--force\b|-f\b|\+\S)"]),
    },
    Entry {
        key: "git_reset_hard",
        description: "discarding uncommitted git changes (reset --hard)",
        matcher: Matcher::Regex(&[r"\bgit\b[^;&|\n]*\sreset\s(?:[^;&|\n]*\s)?--hard\b"]),
    },
    Entry {
        key: "device_write",
        description: "writing directly to a disk device",
        matcher: Matcher::Custom(writes_device),
    },
];

/// Compiled alternatives of every table entry, in table order (`None` for custom matchers).
struct Compiled {
    hardline: Vec<Option<Regex>>,
    dangerous: Vec<Option<Regex>>,
}

fn compile(table: &[Entry]) -> Vec<Option<Regex>> {
    table
        .iter()
        .map(|entry| match entry.matcher {
            Matcher::Regex(alternatives) => {
                let wrapped: Vec<String> =
                    alternatives.iter().map(|a| format!("(?:{a})")).collect();
                regex(&wrapped.join("|"))
            }
            Matcher::Custom(_) => None,
        })
        .collect()
}

/// Compiles a table pattern; they are constants covered by tests, so a failure is a bug that
/// the tests catch — at run time it degrades to "no match" rather than a panic.
fn regex(pattern: &str) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(re) => Some(re),
        Err(err) => {
            tracing::error!(%err, pattern, "invalid command pattern");
            None
        }
    }
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| Compiled {
    hardline: compile(HARDLINE),
    dangerous: compile(DANGEROUS),
});

static DELETE_FROM: LazyLock<Option<Regex>> = LazyLock::new(|| regex(r"(?i)\bdelete\s+from\s"));
static WHERE: LazyLock<Option<Regex>> = LazyLock::new(|| regex(r"(?i)\bwhere\b"));
static SHUTDOWN: LazyLock<Option<Regex>> =
    LazyLock::new(|| regex(&format!(r"{CMD}(?:shutdown|reboot|halt|poweroff)\b")));
static RC_WRITE: LazyLock<Option<Regex>> =
    LazyLock::new(|| write_to(&format!("(?:{RC_FILE}|{ETC})")));
static ENV_WRITE: LazyLock<Option<Regex>> = LazyLock::new(|| write_to(ENV_FILE));
static DEVICE_WRITE: LazyLock<Option<Regex>> = LazyLock::new(|| write_to(DISK));

/// A regex for "something is written to `target`": redirection, `tee`, `sed -i`, or the last
/// argument of `cp`/`mv`/`install`/`ln`.
fn write_to(target: &str) -> Option<Regex> {
    regex(&format!(
        r"(?:>\s*{target}|\btee\s+(?:-\S+\s+)*{target}|\bsed\s+(?:-\S+\s+)*-i\S*\s+(?:[^;&|\n]*\s)?{target}|\b(?:cp|mv|install|ln)\s[^;&|\n]*\s{target}\S*\s*(?:$|[;&|)]))"
    ))
}

fn found(re: &LazyLock<Option<Regex>>, command: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(command))
}

fn delete_without_where(command: &str) -> bool {
    let (Some(delete), Some(where_)) = (DELETE_FROM.as_ref(), WHERE.as_ref()) else {
        return false;
    };
    delete.find_iter(command).any(|m| {
        let rest = &command[m.end()..];
        let statement = rest.split(';').next().unwrap_or(rest);
        !where_.is_match(statement)
    })
}

fn shutdown_command(command: &str) -> bool {
    found(&SHUTDOWN, command)
}

fn writes_shell_config(command: &str) -> bool {
    found(&RC_WRITE, command)
}

fn writes_env_file(command: &str) -> bool {
    found(&ENV_WRITE, command)
}

fn writes_device(command: &str) -> bool {
    found(&DEVICE_WRITE, command)
}

fn matches(entry: &Entry, compiled: &Option<Regex>, command: &str) -> bool {
    match entry.matcher {
        Matcher::Regex(_) => compiled.as_ref().is_some_and(|re| re.is_match(command)),
        Matcher::Custom(check) => check(command),
    }
}

/// Classifies `command` against the hardline table first, then the dangerous table; the first
/// matching entry wins.
pub fn classify(command: &str) -> Verdict {
    let compiled = &*COMPILED;
    for (entry, re) in HARDLINE.iter().zip(&compiled.hardline) {
        if matches(entry, re, command) {
            return Verdict::Hardline {
                description: entry.description,
            };
        }
    }
    dangerous_matches(command).into_iter().next().map_or(
        Verdict::Safe,
        |(pattern_key, description)| Verdict::Dangerous {
            pattern_key,
            description,
        },
    )
}

/// Every dangerous entry `command` matches, as `(pattern_key, description)` in table order, so
/// a command combining two risks needs both approved. Ignores the hardline table.
pub fn dangerous_matches(command: &str) -> Vec<(&'static str, &'static str)> {
    DANGEROUS
        .iter()
        .zip(&COMPILED.dangerous)
        .filter(|(entry, re)| matches(entry, re, command))
        .map(|(entry, _)| (entry.key, entry.description))
        .collect()
}

/// Every dangerous `pattern_key`, for validating configuration and tests.
pub fn dangerous_keys() -> impl Iterator<Item = &'static str> {
    DANGEROUS.iter().map(|entry| entry.key)
}

/// Every hardline entry id (not exposed in verdicts; used by tests).
#[cfg(test)]
pub(super) fn hardline_keys() -> impl Iterator<Item = &'static str> {
    HARDLINE.iter().map(|entry| entry.key)
}

/// The hardline entry id `command` matches, for tests that check which rule fired.
#[cfg(test)]
pub(super) fn hardline_key(command: &str) -> Option<&'static str> {
    HARDLINE
        .iter()
        .zip(&COMPILED.hardline)
        .find(|(entry, re)| matches(entry, re, command))
        .map(|(entry, _)| entry.key)
}

/// Whether every table regex compiles (a test guard: a broken one silently never matches).
#[cfg(test)]
pub(super) fn all_compiled() -> bool {
    let ok = |table: &[Entry], compiled: &[Option<Regex>]| {
        table
            .iter()
            .zip(compiled)
            .all(|(entry, re)| matches!(entry.matcher, Matcher::Custom(_)) || re.is_some())
    };
    ok(HARDLINE, &COMPILED.hardline)
        && ok(DANGEROUS, &COMPILED.dangerous)
        && [
            &DELETE_FROM,
            &WHERE,
            &SHUTDOWN,
            &RC_WRITE,
            &ENV_WRITE,
            &DEVICE_WRITE,
        ]
        .iter()
        .all(|re| re.is_some())
}
