//! The `terminal` tool: one shell command in the session workspace, after the approval policy
//! (`crate::approvals::guard_with`) and, when needed, the route's approval gate. The command runs
//! as `bash -c` (not a login shell: profiles add start-up time and noise; the server's
//! environment is inherited minus `API_SERVER_KEY`) in its own process group with stdin closed;
//! stdout and stderr share one pipe so the model sees them interleaved. A timeout or a cancelled
//! turn kills the whole group with SIGKILL.
//!
//! Background jobs (`server &`) keep running after the shell exits; output they write after a
//! short drain window is not collected, so such jobs should redirect their output to a file.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep_until};

use super::args::{Args, resolve_path};
use super::{Tool, ToolContext, ToolOutput, function_definition};
use crate::approvals::{ApprovalDecision, ApprovalRequest, Guard, guard_with};

/// Default and maximum `timeout` argument, in seconds.
const DEFAULT_TIMEOUT_SECS: u64 = 180;
const MAX_TIMEOUT_SECS: u64 = 600;
/// Output kept for the model; the rest is counted and dropped.
pub(crate) const OUTPUT_CAP: usize = 50 * 1024;
/// How long to keep reading after the shell exited while background jobs hold the pipe open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);
/// How long to wait for the killed group to release the pipe and be reaped.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

pub(crate) struct Terminal;

#[async_trait]
impl Tool for Terminal {
    fn name(&self) -> &'static str {
        "terminal"
    }

    fn definition(&self) -> Value {
        function_definition(
            self.name(),
            "Run a shell command (bash) on the server in this session's workspace directory. \
             Returns JSON {exit_code, output, truncated}; stdout and stderr are combined and capped \
             at 50 KB. Dangerous commands may need human approval; some are always refused.",
            json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string", "description": "The shell command to run."},
                    "timeout": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECS,
                                "description": "Seconds before the command is killed (default 180)."},
                    "workdir": {"type": "string",
                                "description": "Directory to run in, relative to the workspace (default: the workspace)."}
                },
                "required": ["command"]
            }),
        )
    }

    async fn call(&self, ctx: &ToolContext, args: Value) -> ToolOutput {
        run(ctx, &args).await.unwrap_or_else(ToolOutput::error)
    }
}

async fn run(ctx: &ToolContext, args: &Value) -> Result<ToolOutput, String> {
    let args = Args::new(args)?;
    let command = args.non_empty("command")?;
    if command.contains('\0') {
        return Err("argument `command` contains a NUL byte".to_owned());
    }
    let timeout = args
        .opt_u64("timeout")?
        .unwrap_or(DEFAULT_TIMEOUT_SECS)
        .clamp(1, MAX_TIMEOUT_SECS);
    let workdir = match args.opt_string("workdir")? {
        Some(dir) => {
            let dir = resolve_path(ctx, "workdir", dir).await?;
            if !dir.is_dir() {
                return Err(format!("`workdir` {} is not a directory", dir.display()));
            }
            dir
        }
        None => ctx.ensure_workspace().await?,
    };
    if let Some(refusal) = approve(ctx, command).await {
        return Ok(refusal);
    }
    execute(ctx, command, &workdir, Duration::from_secs(timeout)).await
}

/// Applies the policy, asking the gate for each dangerous pattern still unapproved. `None` means
/// the command may run; `Some` is the result to give the model instead.
async fn approve(ctx: &ToolContext, command: &str) -> Option<ToolOutput> {
    let mut approved: Vec<&'static str> = Vec::new();
    loop {
        let verdict = guard_with(&ctx.config, command, |key| {
            approved.contains(&key) || ctx.approvals.is_preapproved(key)
        });
        let (pattern_key, description) = match verdict {
            Guard::Allow => return None,
            Guard::Refuse { reason } => {
                return Some(ToolOutput::json_error(&json!({
                    "status": "blocked",
                    "reason": reason,
                    "message": "This command is blocked by policy and was NOT executed. Do not retry it."
                })));
            }
            Guard::NeedsApproval {
                pattern_key,
                description,
            } => (pattern_key, description),
        };
        let request = ApprovalRequest {
            command: command.to_owned(),
            pattern_key: pattern_key.to_owned(),
            description: description.to_owned(),
        };
        let decision = tokio::select! {
            decision = ctx.approvals.request(request) => decision,
            () = ctx.cancel.cancelled() => return Some(cancelled_output(None)),
        };
        let refusal = match decision {
            ApprovalDecision::Once | ApprovalDecision::Session | ApprovalDecision::Always => {
                approved.push(pattern_key);
                continue;
            }
            ApprovalDecision::Deny => json!({
                "status": "denied",
                "message": "The user denied this command. Do not retry it."
            }),
            ApprovalDecision::TimedOut => json!({
                "status": "denied",
                "message": format!("Approval for this command ({description}) timed out, so it was \
                                    denied and NOT executed. Do not retry it without asking the user.")
            }),
            ApprovalDecision::NoChannel => json!({
                "status": "pending_approval",
                "pattern_key": pattern_key,
                "message": format!("This command was flagged as dangerous ({description}) and needs \
                                    human approval, which this endpoint cannot provide; it was NOT \
                                    executed. Use POST /v1/runs for supervised execution, or ask the \
                                    operator to allowlist it.")
            }),
        };
        return Some(ToolOutput::json_error(&refusal));
    }
}

/// Why the wait loop ended.
enum Ending {
    Exited(std::io::Result<ExitStatus>),
    TimedOut,
    Cancelled,
}

/// Output kept so far plus the total byte count.
#[derive(Default)]
struct Capture {
    kept: Vec<u8>,
    total: usize,
}

impl Capture {
    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        let room = OUTPUT_CAP.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn render(&self) -> (String, bool) {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        let truncated = self.total > self.kept.len();
        if truncated {
            text.push_str(&format!(
                "\n[output truncated: showing the first {} of {} bytes]",
                self.kept.len(),
                self.total
            ));
        }
        (text, truncated)
    }
}

/// Kills the process group if the call is dropped mid-run (e.g. the turn's task is aborted).
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // ESRCH (already gone) is fine.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn execute(
    ctx: &ToolContext,
    command: &str,
    workdir: &Path,
    timeout: Duration,
) -> Result<ToolOutput, String> {
    let (mut child, mut reader) = spawn(command, workdir)?;
    let mut group = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw),
    );
    let mut capture = Capture::default();
    let mut buf = vec![0u8; 16 * 1024];
    let deadline = Instant::now() + timeout;
    let mut exit: Option<std::io::Result<ExitStatus>> = None;
    let mut drain_until = deadline;
    let mut eof = false;

    let ending = loop {
        if eof && exit.is_some() {
            break Ending::Exited(
                exit.take()
                    .unwrap_or_else(|| Err(std::io::Error::other("lost status"))),
            );
        }
        tokio::select! {
            read = reader.read(&mut buf), if !eof => match read {
                Ok(0) | Err(_) => eof = true,
                Ok(n) => capture.push(&buf[..n]),
            },
            status = child.wait(), if exit.is_none() => {
                exit = Some(status);
                drain_until = Instant::now() + DRAIN_AFTER_EXIT;
            }
            () = sleep_until(drain_until), if exit.is_some() => {
                break Ending::Exited(exit.take().unwrap_or_else(|| Err(std::io::Error::other("lost status"))));
            }
            () = sleep_until(deadline), if exit.is_none() => break Ending::TimedOut,
            () = ctx.cancel.cancelled(), if exit.is_none() => break Ending::Cancelled,
        }
    };

    match ending {
        Ending::Exited(status) => {
            // The shell is done; background jobs it started may keep running by design.
            group.0 = None;
            let status = status.map_err(|err| format!("waiting for the command failed: {err}"))?;
            let (output, truncated) = capture.render();
            Ok(ToolOutput::json(&json!({
                "exit_code": exit_code(status),
                "output": output,
                "truncated": truncated,
            })))
        }
        Ending::TimedOut | Ending::Cancelled => {
            group.kill();
            let _ = child.start_kill();
            let until = Instant::now() + DRAIN_AFTER_KILL;
            let _ = tokio::time::timeout_at(until, child.wait()).await;
            if !eof {
                let _ = tokio::time::timeout_at(until, async {
                    loop {
                        match reader.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => capture.push(&buf[..n]),
                        }
                    }
                })
                .await;
            }
            let (output, truncated) = capture.render();
            if matches!(ending, Ending::Cancelled) {
                return Ok(cancelled_output(Some((output, truncated))));
            }
            Ok(ToolOutput::json_error(&json!({
                "exit_code": null,
                "output": output,
                "truncated": truncated,
                "timed_out": true,
                "error": format!("The command timed out after {} s and was killed.", timeout.as_secs()),
            })))
        }
    }
}

fn cancelled_output(partial: Option<(String, bool)>) -> ToolOutput {
    let (output, truncated) = partial.unwrap_or_default();
    ToolOutput::json_error(&json!({
        "exit_code": null,
        "output": output,
        "truncated": truncated,
        "cancelled": true,
        "error": "The turn was cancelled; the command was stopped.",
    }))
}

/// Exit code, or 128 + signal number when a signal ended the shell (the shell convention).
fn exit_code(status: ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|sig| 128 + sig))
}

/// Starts the shell with stdout and stderr on one pipe. The `Command` (which holds the pipe's
/// write end) is dropped before returning, so the reader sees EOF once the group is done.
fn spawn(command: &str, workdir: &Path) -> Result<(Child, pipe::Receiver), String> {
    let (sender, receiver) = pipe::pipe().map_err(|err| format!("cannot create a pipe: {err}"))?;
    let writer = sender
        .into_blocking_fd()
        .map_err(|err| format!("cannot create a pipe: {err}"))?;
    let writer_err = writer
        .try_clone()
        .map_err(|err| format!("cannot create a pipe: {err}"))?;
    let mut cmd = Command::new(shell());
    cmd.arg("-c")
        .arg(command)
        .current_dir(workdir)
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer_err))
        .env_remove("API_SERVER_KEY")
        .env("PAGER", "cat")
        .env("GIT_PAGER", "cat")
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .map_err(|err| format!("cannot start the shell: {err}"))?;
    drop(cmd);
    Ok((child, receiver))
}

/// `bash` when installed, else POSIX `sh`.
fn shell() -> PathBuf {
    ["/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"))
}
