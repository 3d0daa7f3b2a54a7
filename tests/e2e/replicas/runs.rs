//! Runs across replicas: events of a run executing on B reach a subscriber on A promptly; an
//! approval and a stop posted on A reach the run on B; a run that another replica ended stops on
//! its owner without writing after its terminal event; a crashed replica's run is interrupted
//! by the survivor's sweep within the sweep period. Every pair sweeps every 300 ms, so these
//! also show that a live replica's runs are never taken for orphans.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caduceus_service::runs::{EventPayload, RESTARTED};
use caduceus_service::store::RunEnding;
use caduceus_tests::app::TestApp;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::json;

use super::{eventually, pair, postgres};
use crate::runs::support::*;

/// Sweep period of every replica in these tests.
const SWEEP: Duration = Duration::from_millis(300);

async fn swept_pair(fake: &FakeUpstream) -> (TestApp, TestApp) {
    let (a, b) = pair(fake).await;
    a.state.runs.set_sweep_interval(SWEEP);
    b.state.runs.set_sweep_interval(SWEEP);
    (a, b)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A `sleep` command unique to this test, and its `pgrep` pattern.
fn slow_command() -> (String, String) {
    let unique = format!(
        "sleep 60.{}",
        uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000
    );
    (format!("{unique} && echo never"), unique)
}

async fn wait_process(pattern: &str, running: bool) {
    eventually(Duration::from_secs(5), "the tool process state", || async {
        process_running(pattern) == running
    })
    .await;
}

#[tokio::test]
async fn events_of_a_run_on_b_reach_a_subscriber_on_a_within_a_second() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["tick "; 8],
        Duration::from_millis(150),
    ));
    let (a, b) = swept_pair(&fake).await;
    let run_id = start(&b, "count slowly").await;
    assert_eq!(a.state.runs.active(), 0, "the run executes on B only");
    let mut reader = EventReader::open(&a, &run_id, None).await;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next().await {
        let stored_at = frame.data["timestamp"].as_f64().unwrap();
        let lag = unix_now() - stored_at;
        assert!(
            lag < 1.0,
            "{} reached replica A {lag:.3} s after replica B stored it",
            frame.event()
        );
        frames.push(frame);
    }
    assert!(reader.closed);
    assert_contiguous(&frames, &run_id);
    let kinds = kinds(&frames);
    assert_eq!(kinds.last().unwrap(), "run.completed", "{kinds:?}");
    assert!(kinds.iter().filter(|k| *k == "message.delta").count() >= 2);
    assert_eq!(get_run(&a, &run_id).await["output"], "tick ".repeat(8));
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn an_approval_posted_on_a_reaches_the_run_on_b() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "rm -rf ./scratch-never-made && echo nope"}),
    ));
    fake.push(Reply::text("understood"));
    let (a, b) = swept_pair(&fake).await;
    let run_id = start(&b, "risky").await;
    let mut reader = EventReader::open(&a, &run_id, None).await;
    let request = reader.until("approval.request").await.pop().unwrap();
    assert_eq!(get_run(&a, &run_id).await["status"], "waiting_for_approval");
    let posted = Instant::now();
    let (status, body) = answer(&a, &run_id, json!({"choice": "deny"})).await;
    assert_eq!(status, 200, "{body}");
    let responded = reader.until("approval.responded").await.pop().unwrap();
    assert!(
        posted.elapsed() < Duration::from_secs(1),
        "the run on B took {:?} to see the answer",
        posted.elapsed()
    );
    assert_eq!(responded.data["approval_id"], request.data["approval_id"]);
    assert_eq!(responded.data["choice"], "deny");
    let rest = reader.rest().await;
    assert_eq!(kinds(&rest).last().unwrap(), "run.completed");
    assert!(tool_results(&fake, 1)[0].to_lowercase().contains("den"));
    wait_status(&b, &run_id, "completed").await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_stop_posted_on_a_stops_the_run_on_b() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let (a, b) = swept_pair(&fake).await;
    let run_id = start(&b, "wait a minute").await;
    let mut reader = EventReader::open(&a, &run_id, None).await;
    reader.until("tool.started").await;
    wait_process(&pattern, true).await;
    let stopped_at = Instant::now();
    let response = a
        .post(&format!("/v1/runs/{run_id}/stop"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let rest = reader.rest().await;
    assert_eq!(kinds(&rest).last().unwrap(), "run.cancelled", "{rest:?}");
    assert!(
        stopped_at.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopped_at.elapsed()
    );
    wait_process(&pattern, false).await;
    assert_eq!(
        wait_status(&b, &run_id, "cancelled").await["last_event"],
        "run.cancelled"
    );
    assert_eq!(fake.request_count(), 1, "nothing runs after a stop");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_run_ended_by_another_replica_stops_on_its_owner_and_writes_nothing_more() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let (a, b) = swept_pair(&fake).await;
    let run_id = start(&b, "long job").await;
    let mut reader = EventReader::open(&a, &run_id, None).await;
    reader.until("tool.started").await;
    wait_process(&pattern, true).await;
    // What A's sweep does if it judged B dead (B's liveness lock was lost for a while).
    let ending = RunEnding {
        status: "interrupted".into(),
        error: Some(RESTARTED.into()),
        ..RunEnding::default()
    };
    let payload = EventPayload::RunFailed {
        error: RESTARTED.into(),
    };
    let row = (
        "run.failed".to_owned(),
        serde_json::to_string(&payload).unwrap(),
    );
    assert!(
        a.state
            .store
            .finish_run(&run_id, &ending, &row)
            .await
            .unwrap()
            .is_some()
    );
    wait_process(&pattern, false).await;
    eventually(Duration::from_secs(5), "B forgets the run", || async {
        b.state.runs.active() == 0
    })
    .await;
    let frames = all_events(&a, &run_id).await;
    assert_contiguous(&frames, &run_id);
    assert_eq!(frames.last().unwrap().event(), "run.failed", "{frames:?}");
    assert_eq!(get_run(&b, &run_id).await["status"], "interrupted");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_crashed_replicas_run_is_interrupted_by_the_survivor_within_the_sweep_period() {
    let Some(_) = postgres() else { return };
    let fake = FakeUpstream::start().await;
    let (command, pattern) = slow_command();
    fake.push(Reply::tool_call("terminal", json!({"command": command})));
    let (a, b) = swept_pair(&fake).await;
    let run_id = start(&b, "long job").await;
    let mut reader = EventReader::open(&a, &run_id, None).await;
    reader.until("tool.started").await;
    // Several sweeps pass while B is alive: its run is left alone.
    tokio::time::sleep(SWEEP * 3).await;
    assert_eq!(get_run(&a, &run_id).await["status"], "running");
    // B crashes: its run task dies unrecorded and its liveness lock goes with its connection.
    b.state.runs.abort_all();
    let crashed = Instant::now();
    let run = wait_status(&a, &run_id, "interrupted").await;
    assert!(
        crashed.elapsed() < SWEEP * 3 + Duration::from_secs(1),
        "interrupted after {:?}",
        crashed.elapsed()
    );
    assert_eq!(run["error"], RESTARTED);
    let rest = reader.rest().await;
    assert_eq!(rest.last().unwrap().event(), "run.failed", "{rest:?}");
    wait_process(&pattern, false).await;
    b.stop().await;
    a.stop().await;
}
