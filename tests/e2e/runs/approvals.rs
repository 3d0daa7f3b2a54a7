//! Human approvals of a run end to end: the run waits (`waiting_for_approval`, pending approval
//! in `GetRun`, `approval.request` event) and resumes on `once`, `session` (later matching
//! commands of the run not asked), `always` (durable: later runs not asked), `deny` and timeout;
//! plus every error of `POST /v1/runs/{id}/approval`.

use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::*;

/// A dangerous (recursive delete) but not hardline command that prints `tag` when it runs.
fn risky(tag: &str) -> Value {
    json!({"command": format!("rm -rf ./scratch-dir && echo {tag}")})
}

/// Starts a run whose model calls `risky(tag)` and then answers; waits for its approval request.
async fn run_until_asked(
    app: &caduceus_tests::app::TestApp,
    fake: &FakeUpstream,
    tag: &str,
) -> (String, EventReader, Value) {
    fake.push(Reply::tool_call("terminal", risky(tag)));
    fake.push(Reply::text("finished"));
    let run_id = start(app, "clean up").await;
    let mut reader = EventReader::open(app, &run_id, None).await;
    let frames = reader.until("approval.request").await;
    let request = frames.last().unwrap().data.clone();
    (run_id, reader, request)
}

#[tokio::test]
async fn approve_once_runs_the_command() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let tag = marker("approved");
    let (run_id, mut reader, request) = run_until_asked(&app, &fake, &tag).await;
    assert_eq!(request["pattern_key"], "recursive_delete");
    assert_eq!(request["command"], risky(&tag)["command"]);
    assert!(
        request["description"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(
        request["choices"],
        json!(["once", "session", "always", "deny"])
    );
    assert_eq!(request["allow_permanent"], true);
    let approval_id = request["approval_id"].as_str().unwrap().to_owned();
    assert!(approval_id.starts_with("apr_"));

    let run = wait_status(&app, &run_id, "waiting_for_approval").await;
    assert_eq!(run["last_event"], "approval.request");
    let pending = &run["pending_approvals"][0];
    assert_eq!(pending["approval_id"], approval_id.as_str());
    assert_eq!(pending["pattern_key"], "recursive_delete");
    assert!(pending["requested_at"].as_f64().unwrap() > 0.0);

    let (status, body) = answer(&app, &run_id, json!({"choice": "approve"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"object": "hermes.run.approval_response", "run_id": run_id, "choice": "once",
               "resolved": 1})
    );
    let rest = reader.rest().await;
    let kinds = kinds(&rest);
    assert_eq!(kinds[0], "approval.responded");
    assert_eq!(rest[0].data["approval_id"], approval_id.as_str());
    assert_eq!(rest[0].data["choice"], "once");
    assert_eq!(kinds[1], "tool.completed");
    assert_eq!(kinds.last().unwrap(), "run.completed");
    assert!(
        tool_results(&fake, 1)[0].contains(&tag),
        "the command must have run"
    );
    let run = get_run(&app, &run_id).await;
    assert_eq!(run["status"], "completed");
    assert_eq!(run["pending_approvals"], json!([]));
    // The approval is over, and so is the run.
    let (status, body) = answer(&app, &run_id, json!({"choice": "once"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("run_not_active"))
    );
    app.stop().await;
}

#[tokio::test]
async fn deny_does_not_run_the_command() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let tag = marker("denied");
    let (run_id, mut reader, request) = run_until_asked(&app, &fake, &tag).await;
    let (status, body) = answer(
        &app,
        &run_id,
        json!({"choice": "deny", "approval_id": request["approval_id"]}),
    )
    .await;
    assert_eq!((status, body["resolved"].clone()), (200, json!(1)));
    let rest = reader.rest().await;
    assert_eq!(rest[0].data["choice"], "deny");
    assert_eq!(kinds(&rest).last().unwrap(), "run.completed");
    let result = &tool_results(&fake, 1)[0];
    assert!(!result.contains(&tag), "{result}");
    assert!(
        result.contains("denied") && result.contains("Do not retry"),
        "{result}"
    );
    app.stop().await;
}

#[tokio::test]
async fn session_approval_covers_the_rest_of_the_run() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let first = marker("first");
    let second = marker("second");
    fake.push(Reply::tool_call("terminal", risky(&first)));
    fake.push(Reply::tool_call("terminal", risky(&second)));
    fake.push(Reply::text("both done"));
    let run_id = start(&app, "twice").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    reader.until("approval.request").await;
    let (status, _) = answer(&app, &run_id, json!({"choice": "session"})).await;
    assert_eq!(status, 200);
    let rest = reader.rest().await;
    assert_eq!(kinds(&rest).last().unwrap(), "run.completed");
    let asked = kinds(&all_events(&app, &run_id).await)
        .iter()
        .filter(|k| *k == "approval.request")
        .count();
    assert_eq!(asked, 1, "the second matching command must not be asked");
    assert!(tool_results(&fake, 2).join("\n").contains(&second));
    app.stop().await;
}

#[tokio::test]
async fn always_approval_is_durable_across_runs() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let (run_id, mut reader, _) = run_until_asked(&app, &fake, &marker("one")).await;
    let (status, body) = answer(&app, &run_id, json!({"choice": "always"})).await;
    assert_eq!((status, body["choice"].clone()), (200, json!("always")));
    reader.rest().await;

    let tag = marker("later");
    fake.push(Reply::tool_call("terminal", risky(&tag)));
    fake.push(Reply::text("again"));
    let later = start(&app, "clean up again").await;
    let frames = all_events(&app, &later).await;
    assert!(!kinds(&frames).contains(&"approval.request".to_owned()));
    assert_eq!(kinds(&frames).last().unwrap(), "run.completed");
    assert!(tool_results(&fake, 3)[0].contains(&tag));
    assert_eq!(
        app.state.store.approved_patterns().await.unwrap(),
        ["recursive_delete"]
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unanswered_approval_times_out_as_a_denial() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "approvals:\n  timeout: 1\n").await;
    let tag = marker("timeout");
    let (run_id, mut reader, _) = run_until_asked(&app, &fake, &tag).await;
    let rest = reader.rest().await;
    assert_eq!(rest[0].event(), "approval.responded");
    assert_eq!(rest[0].data["choice"], "deny");
    assert_eq!(kinds(&rest).last().unwrap(), "run.completed");
    let result = &tool_results(&fake, 1)[0];
    assert!(!result.contains(&tag));
    assert!(result.contains("timed out"), "{result}");
    assert_eq!(get_run(&app, &run_id).await["status"], "completed");
    app.stop().await;
}

#[tokio::test]
async fn approval_errors() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let (status, body) = answer(&app, "run_missing", json!({"choice": "once"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("run_not_found"))
    );

    fake.push(Reply::tool_calls(vec![
        ("terminal", risky(&marker("a"))),
        (
            "terminal",
            json!({"command": "chmod -R 777 ./scratch-dir; echo b"}),
        ),
    ]));
    fake.push(Reply::text("done"));
    let run_id = start(&app, "two risky things").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    reader.until("approval.request").await;
    reader.until("approval.request").await;
    for choice in ["", "yes", "denied"] {
        let (status, body) = answer(&app, &run_id, json!({"choice": choice})).await;
        assert_eq!(status, 400, "{choice:?}");
        assert_eq!(body["error"]["code"], "invalid_approval_choice");
        assert_eq!(body["error"]["param"], "choice");
    }
    let (status, body) = answer(
        &app,
        &run_id,
        json!({"choice": "once", "approval_id": "apr_nope"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("approval_not_pending"))
    );
    let (status, body) = answer(&app, &run_id, json!({"choice": "deny", "all": true})).await;
    assert_eq!((status, body["resolved"].clone()), (200, json!(2)));
    let (status, body) = answer(&app, &run_id, json!({"choice": "deny"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(matches!(
        body["error"]["code"].as_str(),
        Some("approval_not_pending" | "run_not_active")
    ));
    let rest = reader.rest().await;
    let responded = kinds(&rest)
        .iter()
        .filter(|k| *k == "approval.responded")
        .count();
    assert_eq!(responded, 2);
    app.stop().await;
}
