//! `terminal`: output and exit codes, the 50 KB cap, timeout and cancellation killing the whole
//! process group, and the approval paths (no channel, approved, denied, timed out, hardline).

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;

/// Whether `pid` is gone (no such process, or a zombie nobody reaped yet).
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

async fn wait_gone(pid: u32) -> bool {
    for _ in 0..50 {
        if process_gone(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn read_pid(fx: &Fixture) -> u32 {
    std::fs::read_to_string(fx.workspace().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn runs_in_the_workspace_and_reports_output_and_exit_code() {
    let fx = fixture().await;
    let out = fx
        .call("terminal", json!({"command": "echo hi; pwd"}))
        .await;
    assert!(!out.is_error, "{}", out.content);
    let value = json_of(&out);
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["truncated"], false);
    let output = value["output"].as_str().unwrap();
    assert!(output.starts_with("hi\n"), "{output}");
    let workspace = fx.workspace().canonicalize().unwrap();
    assert!(output.contains(workspace.to_str().unwrap()), "{output}");

    let out = fx
        .call(
            "terminal",
            json!({"command": "echo out; echo oops >&2; exit 3"}),
        )
        .await;
    assert!(!out.is_error);
    let value = json_of(&out);
    assert_eq!(value["exit_code"], 3);
    assert_eq!(value["output"], "out\noops\n");
}

#[tokio::test]
async fn workdir_and_argument_errors() {
    let fx = fixture().await;
    std::fs::create_dir_all(fx.workspace().join("sub")).unwrap();
    let out = fx
        .call(
            "terminal",
            json!({"command": "basename \"$PWD\"", "workdir": "sub"}),
        )
        .await;
    assert_eq!(json_of(&out)["output"], "sub\n");
    let out = fx
        .call("terminal", json!({"command": "true", "workdir": "missing"}))
        .await;
    assert!(error_of(&out).contains("workdir"));
    let out = fx.call("terminal", json!({})).await;
    assert!(error_of(&out).contains("`command`"));
    let out = fx
        .call("terminal", json!({"command": "true", "timeout": "soon"}))
        .await;
    assert!(error_of(&out).contains("`timeout`"));
}

#[tokio::test]
async fn output_is_capped_at_50_kb() {
    let fx = fixture().await;
    let out = fx
        .call(
            "terminal",
            json!({"command": "head -c 204800 /dev/zero | tr '\\0' a"}),
        )
        .await;
    let value = json_of(&out);
    assert_eq!(value["exit_code"], 0);
    assert_eq!(value["truncated"], true);
    let output = value["output"].as_str().unwrap();
    assert!(output.starts_with(&"a".repeat(1000)));
    assert!(output.len() < 51 * 1024, "{}", output.len());
    assert!(
        output.contains("204800 bytes"),
        "{}",
        &output[output.len() - 100..]
    );
}

#[tokio::test]
async fn timeout_kills_the_process_group() {
    let fx = fixture().await;
    let started = Instant::now();
    let out = fx
        .call(
            "terminal",
            json!({"command": "sleep 30 & echo $! > pid; echo started; wait", "timeout": 1}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(out.is_error);
    let value = json_of(&out);
    assert_eq!(value["timed_out"], true);
    assert_eq!(value["output"], "started\n");
    assert!(wait_gone(read_pid(&fx)).await, "background sleep survived");
}

#[tokio::test]
async fn cancellation_kills_the_process_group() {
    let fx = fixture().await;
    let cancel = fx.ctx.cancel.clone();
    let trigger = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let out = fx
        .call(
            "terminal",
            json!({"command": "sleep 30 & echo $! > pid; wait"}),
        )
        .await;
    trigger.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(out.is_error);
    assert_eq!(json_of(&out)["cancelled"], true);
    assert!(wait_gone(read_pid(&fx)).await, "background sleep survived");
}

#[tokio::test]
async fn dangerous_command_without_channel_is_not_run() {
    let fx = fixture().await;
    let victim = fx.workspace().join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    let out = fx
        .call("terminal", json!({"command": "rm -rf ./victim"}))
        .await;
    assert!(out.is_error);
    let value = json_of(&out);
    assert_eq!(value["status"], "pending_approval");
    let message = value["message"].as_str().unwrap();
    assert!(message.contains("recursive delete") && message.contains("POST /v1/runs"));
    assert!(victim.is_dir());
}

#[tokio::test]
async fn hardline_command_is_blocked_even_with_mode_off() {
    let fx = fixture_with(|c| c.approvals.mode = crate::config::ApprovalMode::Off).await;
    // Harmless if it ever ran (no such device), but hardline by pattern.
    let out = fx
        .call(
            "terminal",
            json!({"command": "dd if=/dev/zero of=/dev/sdzz count=0"}),
        )
        .await;
    assert!(out.is_error);
    assert_eq!(json_of(&out)["status"], "blocked");
}

#[tokio::test]
async fn approval_decisions_are_honoured() {
    let mut fx = fixture().await;
    let victim = fx.workspace().join("victim");

    for (decision, status) in [
        (ApprovalDecision::Deny, "denied"),
        (ApprovalDecision::TimedOut, "denied"),
    ] {
        std::fs::create_dir_all(&victim).unwrap();
        let gate = ScriptedGate::new(decision);
        fx.ctx.approvals = gate.clone();
        let out = fx
            .call("terminal", json!({"command": "rm -r ./victim"}))
            .await;
        let value = json_of(&out);
        assert_eq!(value["status"], status, "{decision:?}");
        if decision == ApprovalDecision::TimedOut {
            assert!(value["message"].as_str().unwrap().contains("timed out"));
        }
        assert!(victim.is_dir());
        assert_eq!(gate.asked().len(), 1);
        assert_eq!(gate.asked()[0].pattern_key, "recursive_delete");
        assert_eq!(gate.asked()[0].command, "rm -r ./victim");
    }

    let gate = ScriptedGate::new(ApprovalDecision::Once);
    fx.ctx.approvals = gate.clone();
    let out = fx
        .call("terminal", json!({"command": "rm -r ./victim"}))
        .await;
    assert_eq!(json_of(&out)["exit_code"], 0, "{}", out.content);
    assert!(!victim.exists());

    // Pre-approved patterns run without asking.
    std::fs::create_dir_all(&victim).unwrap();
    let gate = Arc::new(ScriptedGate {
        decision: ApprovalDecision::Deny,
        preapproved: vec!["recursive_delete"],
        asked: Mutex::new(Vec::new()),
    });
    fx.ctx.approvals = gate.clone();
    let out = fx
        .call("terminal", json!({"command": "rm -r ./victim"}))
        .await;
    assert_eq!(json_of(&out)["exit_code"], 0);
    assert!(gate.asked().is_empty());
    assert!(!victim.exists());
}
