//! Run lifecycle over REST and gRPC: 202 + id, ordered durable events, several subscribers,
//! resuming with `Last-Event-ID` / `?after=`, replay after completion, status object, validation
//! errors, idempotency and the concurrency cap.

use std::time::Duration;

use caduceus_proto::v1::run_service_client::RunServiceClient;
use caduceus_proto::v1::{
    CreateRunRequest, GetRunRequest, ResponseInput, StreamRunEventsRequest, response_input,
    run_event::Payload,
};
use caduceus_tests::app::authed;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::*;

#[tokio::test]
async fn a_run_completes_with_every_event_in_order() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "echo run-tool-$((20+1))"}),
    ));
    fake.push(Reply::text_chunks(vec!["All ", "done"]).with_usage(7, 3));
    let app = app_with(&fake, "").await;
    let response = app
        .post("/v1/runs")
        .json(&json!({"input": "do the thing", "instructions": "Be terse."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let created: Value = response.json().await.unwrap();
    let run_id = created["run_id"].as_str().unwrap().to_owned();
    assert_eq!(run_id.len(), 4 + 32, "{run_id}");
    assert!(run_id.starts_with("run_") && run_id[4..].chars().all(|c| c.is_ascii_hexdigit()));

    let frames = all_events(&app, &run_id).await;
    assert_contiguous(&frames, &run_id);
    let kinds = kinds(&frames);
    assert_eq!(
        kinds[..3],
        ["run.started", "tool.started", "tool.completed"]
    );
    assert_eq!(kinds.last().unwrap(), "run.completed");
    assert!(
        kinds[3..kinds.len() - 1]
            .iter()
            .all(|k| k == "message.delta")
    );
    let started = &frames[1].data;
    assert_eq!(started["tool"], "terminal");
    assert_eq!(started["preview"], "echo run-tool-$((20+1))");
    assert!(
        started["tool_call_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    let completed = &frames[2].data;
    assert_eq!(completed["tool_call_id"], started["tool_call_id"]);
    assert!(completed["duration"].as_f64().unwrap() >= 0.0);
    assert_eq!(completed["error"], Value::Null);
    let text: String = frames
        .iter()
        .filter(|f| f.event() == "message.delta")
        .map(|f| f.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "All done");
    let last = &frames.last().unwrap().data;
    assert_eq!(last["output"], "All done");
    assert_eq!(last["usage"]["input_tokens"], 17);
    assert_eq!(last["usage"]["output_tokens"], 8);
    assert_eq!(last["usage"]["total_tokens"], 25);
    assert!(tool_results(&fake, 1)[0].contains("run-tool-21"));
    // The instructions were layered on the system prompt.
    let system = fake.requests()[0].messages()[0]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(system.contains("Be terse."));

    let run = get_run(&app, &run_id).await;
    assert_eq!(run["object"], "hermes.run");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["output"], "All done");
    assert_eq!(run["last_event"], "run.completed");
    assert_eq!(run["usage"]["total_tokens"], 25);
    assert_eq!(run["error"], Value::Null);
    assert_eq!(run["model"], "hermes-agent");
    assert_eq!(run["pending_approvals"], json!([]));
    assert!(run["updated_at"].as_f64().unwrap() >= run["created_at"].as_f64().unwrap());
    // A run without session_id gets a session of its own holding its turn.
    let session = run["session_id"].as_str().unwrap();
    let (messages, _) = app
        .state
        .store
        .list_messages(session, None, None)
        .await
        .unwrap();
    assert_eq!(
        messages.first().unwrap().content.as_deref(),
        Some("do the thing")
    );
    app.stop().await;
}

#[tokio::test]
async fn two_subscribers_both_get_every_event_and_late_ones_replay() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["one ", "two ", "three ", "four"],
        Duration::from_millis(150),
    ));
    let app = app_with(&fake, "").await;
    let run_id = start(&app, "count").await;
    let (first, second) = tokio::join!(all_events(&app, &run_id), all_events(&app, &run_id));
    assert_contiguous(&first, &run_id);
    assert_eq!(first, second);
    assert_eq!(kinds(&first).last().unwrap(), "run.completed");

    // After completion: everything is replayed, then `: stream closed`.
    let text = app
        .get(&format!("/v1/runs/{run_id}/events"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.starts_with("id: 1\ndata: "), "{text}");
    assert!(text.ends_with(": stream closed\n\n"), "{text}");
    assert_eq!(all_events(&app, &run_id).await, first);
    app.stop().await;
}

#[tokio::test]
async fn reconnecting_with_last_event_id_resumes_after_it() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["a", "b", "c", "d", "e", "f"],
        Duration::from_millis(150),
    ));
    let app = app_with(&fake, "").await;
    let run_id = start(&app, "letters").await;
    let mut reader = EventReader::open(&app, &run_id, None).await;
    let head = vec![reader.next().await.unwrap(), reader.next().await.unwrap()];
    drop(reader);
    assert_eq!(head[1].id, Some(2));
    // Mid-run: only the events after 2, then live ones.
    let mut resumed = EventReader::open(&app, &run_id, Some(2)).await;
    let tail = resumed.rest().await;
    assert!(resumed.closed);
    assert_eq!(tail[0].id, Some(3), "{tail:?}");
    let whole: Vec<Frame> = head.into_iter().chain(tail).collect();
    assert_contiguous(&whole, &run_id);
    assert_eq!(whole, all_events(&app, &run_id).await);
    // `?after=` works the same; past the end there is nothing but the close.
    let mut after =
        EventReader::from_request(app.get(&format!("/v1/runs/{run_id}/events?after=4"))).await;
    assert_eq!(after.next().await.unwrap().id, Some(5));
    let total = i64::try_from(whole.len()).unwrap();
    let mut none = EventReader::open(&app, &run_id, Some(total)).await;
    assert!(none.next().await.is_none() && none.closed);
    app.stop().await;
}

#[tokio::test]
async fn runs_over_grpc() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("grpc run answer"));
    let app = app_with(&fake, "").await;
    let mut client = RunServiceClient::new(app.channel().await);
    let created = client
        .create_run(authed(CreateRunRequest {
            input: Some(ResponseInput {
                input: Some(response_input::Input::Text("hi".into())),
            }),
            ..CreateRunRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.status, "queued");
    let mut stream = client
        .stream_run_events(authed(StreamRunEventsRequest {
            run_id: created.run_id.clone(),
            after: None,
        }))
        .await
        .unwrap()
        .into_inner();
    let mut events = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        events.push(event);
    }
    let last = events.last().unwrap();
    assert_eq!(last.event, "run.completed");
    let Some(Payload::RunCompleted(done)) = &last.payload else {
        panic!("run.completed payload expected: {last:?}")
    };
    assert_eq!(done.output, "grpc run answer");
    let run = client
        .get_run(authed(GetRunRequest {
            run_id: created.run_id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(run.status, "completed");
    let missing = client
        .get_run(authed(GetRunRequest {
            run_id: "run_nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_are_clear_errors() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake, "").await;
    let cases = [
        (json!({}), 400, "invalid_request", Some("input")),
        (json!({"input": ""}), 400, "invalid_request", Some("input")),
        (json!({"input": 5}), 400, "invalid_request", Some("input")),
        (
            json!({"input": "x", "session_id": "../etc"}),
            400,
            "invalid_session_id",
            Some("session_id"),
        ),
        (
            json!({"input": "x", "previous_response_id": "resp_missing"}),
            404,
            "response_not_found",
            None,
        ),
    ];
    for (body, status, code, param) in cases {
        let response = app.post("/v1/runs").json(&body).send().await.unwrap();
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], code, "{body}: {error}");
        if let Some(param) = param {
            assert_eq!(error["error"]["param"], param, "{body}");
        }
    }
    for path in ["/v1/runs/run_missing", "/v1/runs/run_missing/events"] {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "run_not_found");
    }
    let response = app
        .get("/v1/runs/run_missing/events?after=-3")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(fake.request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn idempotency_key_replays_the_same_run() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("once"));
    let app = app_with(&fake, "").await;
    let send = || {
        app.post("/v1/runs")
            .header("idempotency-key", "run-key-1")
            .json(&json!({"input": "only once"}))
            .send()
    };
    let first = send().await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotency-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let second = send().await.unwrap();
    assert_eq!(second.status(), 202);
    assert_eq!(second.headers()["idempotency-replayed"], "true");
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["run_id"], second["run_id"]);
    let other = app
        .post("/v1/runs")
        .header("idempotency-key", "run-key-1")
        .json(&json!({"input": "something else"}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
    wait_status(&app, first["run_id"].as_str().unwrap(), "completed").await;
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_concurrency_cap_answers_429_while_a_run_holds_the_slot() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["a", "b", "c"],
        Duration::from_millis(300),
    ));
    let app = app_with(
        &fake,
        "gateway:\n  api_server:\n    max_concurrent_runs: 1\n",
    )
    .await;
    let run_id = start(&app, "slow").await;
    let response = app
        .post("/v1/runs")
        .json(&json!({"input": "second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    wait_status(&app, &run_id, "completed").await;
    // The slot is released when the run ends.
    tokio::time::sleep(Duration::from_millis(100)).await;
    start(&app, "third").await;
    app.stop().await;
}
