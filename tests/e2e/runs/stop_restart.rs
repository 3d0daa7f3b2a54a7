//! Stopping runs (the running tool's process is killed, pending approvals resolve as denials,
//! the run ends `cancelled`) and restart safety: a run whose server died is `interrupted` once a
//! new server starts on the same database; a graceful shutdown interrupts runs still going after
//! the grace period.

use std::time::{Duration, Instant};

use caduceus_service::runs::{RESTARTED, SHUT_DOWN};
use caduceus_tests::app::{TestApp, TestOptions, upstream_config};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::*;

/// A `sleep` whose command line is unique to this test, and the text to `pgrep` for.
fn slow_command() -> (String, String) {
    let unique = format!("sleep 60.{}", rand_digits());
    (format!("{unique} && echo never"), unique)
}

fn rand_digits() -> String {
    let raw = uuid::Uuid::new_v4().as_u128();
    format!("{:012}", raw % 1_000_000_000_000)
}

async fn wait_gone(pattern: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !process_running(pattern) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn stop_during_a_slow_tool_cancels_within_two_seconds() {
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let app = app_with(&fake, "").await;
    let run_id = start(&app, "wait a minute").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    reader.until("tool.started").await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_running(&pattern) {
        assert!(Instant::now() < deadline, "the command never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopped_at = Instant::now();
    let response = app
        .post(&format!("/v1/runs/{run_id}/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"run_id": run_id, "status": "stopping"}));
    let rest = reader.rest().await;
    assert_eq!(kinds(&rest).last().unwrap(), "run.cancelled", "{rest:?}");
    let run = wait_status(&app, &run_id, "cancelled").await;
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopped_at.elapsed()
    );
    assert_eq!(run["last_event"], "run.cancelled");
    assert!(
        wait_gone(&pattern).await,
        "the tool's process must be killed"
    );
    assert_eq!(fake.request_count(), 1, "nothing runs after a stop");

    let again = app
        .post(&format!("/v1/runs/{run_id}/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    let error: Value = again.json().await.unwrap();
    assert_eq!(error["error"]["code"], "run_not_active");
    let missing = app.post("/v1/runs/run_missing/stop").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn stop_while_waiting_for_approval_denies_it() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "rm -rf ./scratch-dir && echo nope"}),
    ));
    let app = app_with(&fake, "").await;
    let run_id = start(&app, "risky").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    let request = reader.until("approval.request").await.pop().unwrap();
    let response = app
        .post(&format!("/v1/runs/{run_id}/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rest = reader.rest().await;
    let responded = rest
        .iter()
        .find(|f| f.event() == "approval.responded")
        .unwrap();
    assert_eq!(responded.data["approval_id"], request.data["approval_id"]);
    assert_eq!(responded.data["choice"], "deny");
    assert_eq!(kinds(&rest).last().unwrap(), "run.cancelled");
    let run = wait_status(&app, &run_id, "cancelled").await;
    assert_eq!(run["pending_approvals"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn a_run_of_a_crashed_server_is_interrupted_by_the_next_one() {
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let first = app_with(&fake, "").await;
    let run_id = start(&first, "long job").await;
    let mut reader = EventReader::open(&first, &run_id, None).await;
    reader.until("tool.started").await;
    drop(reader);
    let database_url = first.state.config.database_url.clone();
    // Crash: the run task dies without recording anything. (The first app itself stays up only
    // because its temp home holds the SQLite file.)
    first.state.runs.abort_all();
    assert!(wait_gone(&pattern).await);

    let second = TestApp::spawn_with(TestOptions {
        config_yaml: Some(upstream_config(&fake.base_url(), "")),
        database_url: Some(database_url),
        ..TestOptions::default()
    })
    .await;
    let run = wait_status(&second, &run_id, "interrupted").await;
    assert_eq!(run["error"], RESTARTED);
    let frames = all_events(&second, &run_id).await;
    assert_contiguous(&frames, &run_id);
    let last = frames.last().unwrap();
    assert_eq!(last.event(), "run.failed");
    assert_eq!(last.data["error"], RESTARTED);
    let stop = second
        .post(&format!("/v1/runs/{run_id}/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(stop.status(), 409);
    second.stop().await;
    first.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_interrupts_runs_still_going_after_the_grace_period() {
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let app = app_with(&fake, "").await;
    let run_id = start(&app, "long job").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    reader.until("tool.started").await;
    let store = app.state.store.clone();
    app.stop().await;
    let run = store.get_run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.status, "interrupted");
    assert_eq!(run.error.as_deref(), Some(SHUT_DOWN));
    assert!(
        wait_gone(&pattern).await,
        "the tool's process must be killed"
    );
    // The live subscriber saw the end too.
    let rest = reader.rest().await;
    assert_eq!(kinds(&rest).last().unwrap(), "run.failed");
}
