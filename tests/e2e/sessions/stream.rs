//! `POST /api/sessions/{id}/chat/stream` and `StreamSessionChat`: the named events in order with
//! contiguous `seq`, the tool events of a tool round, `run.completed` carrying the stored rows,
//! failures (HTTP error before any event; `error` then `done` after) and disconnect cancelling.

use std::time::Duration;

use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_proto::v1::{ChatSessionRequest, session_chat_event::Payload};
use caduceus_tests::app::{TestApp, authed};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use super::{SseEvent, app_with, assert_error, create, parse_events};

async fn stream(
    app: &TestApp,
    session: &str,
    body: Value,
) -> (StatusCode, HeaderMap, Vec<SseEvent>) {
    let response = app
        .post(&format!("/api/sessions/{session}/chat/stream"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = tokio::time::timeout(Duration::from_secs(20), response.text())
        .await
        .expect("no hang")
        .unwrap();
    (status, headers, parse_events(&text))
}

/// The data of the only event named `name`.
fn only<'a>(events: &'a [SseEvent], name: &str) -> &'a Value {
    let found: Vec<&SseEvent> = events.iter().filter(|e| e.name == name).collect();
    assert_eq!(found.len(), 1, "{name}: {events:?}");
    &found[0].data
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.name.as_str()).collect()
}

/// Every event carries the session id, one `run_…` id, `seq` 1, 2, 3… and a `ts`.
fn assert_stamped(events: &[SseEvent], session: &str) {
    let run_id = events[0].data["run_id"].as_str().unwrap().to_owned();
    assert!(run_id.starts_with("run_") && run_id.len() > 4, "{run_id}");
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.data["session_id"], session, "{event:?}");
        assert_eq!(event.data["run_id"], run_id.as_str(), "{event:?}");
        assert_eq!(event.data["seq"], json!(i + 1), "{event:?}");
        assert!(event.data["ts"].as_f64().unwrap() > 1.6e9, "{event:?}");
    }
}

#[tokio::test]
async fn events_arrive_in_order_with_contiguous_seq() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("terminal", json!({"command": "echo hi"})).with_usage(10, 2));
    fake.push(Reply::text_chunks(vec!["Hel", "lo"]).with_usage(7, 3));
    let app = app_with(&fake).await;
    create(
        &app,
        json!({"id": "streamed", "system_prompt": "Session rules."}),
    )
    .await;

    let (status, headers, events) = stream(&app, "streamed", json!({"message": "run echo"})).await;
    assert_eq!(status, 200);
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/event-stream"),
        "{content_type}"
    );
    assert_eq!(
        names(&events),
        [
            "run.started",
            "message.started",
            "tool.started",
            "tool.completed",
            "assistant.delta",
            "assistant.delta",
            "assistant.completed",
            "run.completed",
            "done",
        ]
    );
    assert_stamped(&events, "streamed");
    assert_eq!(only(&events, "run.started")["user_message"], "run echo");
    let message = &only(&events, "message.started")["message"];
    assert_eq!(message["role"], "assistant");
    let message_id = message["id"].as_str().unwrap();
    assert!(message_id.starts_with("msg_"), "{message_id}");
    let tool = only(&events, "tool.started");
    assert_eq!(tool["message_id"], message_id);
    assert_eq!(tool["tool_name"], "terminal");
    assert_eq!(tool["args"], json!({"command": "echo hi"}));
    assert!(tool["preview"].is_string());
    let tool_done = only(&events, "tool.completed");
    assert_eq!(tool_done["message_id"], message_id);
    assert_eq!(tool_done["tool_name"], "terminal");
    assert!(tool_done["duration"].as_f64().is_some());
    assert_eq!(tool_done["error"], Value::Null);
    let text: String = events
        .iter()
        .filter(|e| e.name == "assistant.delta")
        .inspect(|e| assert_eq!(e.data["message_id"], message_id))
        .map(|e| e.data["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello");
    let completed = only(&events, "assistant.completed");
    assert_eq!(completed["message_id"], message_id);
    assert_eq!(completed["content"], "Hello");
    assert_eq!(completed["completed"], true);
    assert_eq!(completed["partial"], false);
    assert_eq!(completed["interrupted"], false);
    let run = only(&events, "run.completed");
    assert_eq!(run["message_id"], message_id);
    assert_eq!(run["completed"], true);
    assert_eq!(
        run["usage"],
        json!({"input_tokens": 17, "output_tokens": 5, "total_tokens": 22})
    );
    let roles: Vec<&str> = run["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(
        run["messages"][1]["tool_calls"][0]["function"]["name"],
        "terminal"
    );
    assert_eq!(run["messages"][2]["tool_name"], "terminal");
    assert_eq!(run["messages"][0]["session_id"], "streamed");
    let done = only(&events, "done").as_object().unwrap();
    assert_eq!(done.len(), 4, "done has no payload of its own: {done:?}");
    // The session prompt reached the upstream here too.
    let system = fake.requests()[0].messages()[0]["content"].clone();
    assert!(system.as_str().unwrap().ends_with("Session rules."));

    // A second turn: `run.completed` holds only this turn's rows, history holds the first.
    fake.push(Reply::text("again"));
    let (_, _, events) = stream(&app, "streamed", json!({"message": "more"})).await;
    assert_stamped(&events, "streamed");
    let run = only(&events, "run.completed");
    assert_eq!(run["messages"].as_array().unwrap().len(), 2);
    assert_eq!(fake.requests()[2].messages().len(), 1 + 4 + 1);
    app.stop().await;
}

#[tokio::test]
async fn failure_before_any_event_is_an_http_error() {
    let fake = FakeUpstream::start().await;
    for _ in 0..3 {
        fake.push(Reply::http_error(500, "boom"));
    }
    let app = app_with(&fake).await;
    let response = app
        .post("/api/sessions/broken/chat/stream")
        .json(&json!({"message": "hi"}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 502, "upstream_unavailable");

    let response = app
        .post("/api/sessions/broken/chat/stream")
        .json(&json!({"message": ""}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_error(status, &body, 400, "missing_message");
    app.stop().await;
}

#[tokio::test]
async fn failure_after_output_sends_error_then_done() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::reset_after(vec!["partial ", "answer"]));
    let app = app_with(&fake).await;
    let (status, _, events) = stream(&app, "cut", json!({"message": "hi"})).await;
    assert_eq!(status, 200);
    let names = names(&events);
    assert_eq!(&names[..2], ["run.started", "message.started"]);
    assert_eq!(
        &names[names.len() - 3..],
        ["assistant.completed", "error", "done"]
    );
    assert!(!names.contains(&"run.completed"));
    assert_stamped(&events, "cut");
    let completed = &events[names.len() - 3].data;
    assert_eq!(completed["completed"], false);
    assert_eq!(completed["partial"], true);
    assert!(
        events[names.len() - 2].data["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    app.stop().await;
}

#[tokio::test]
async fn client_disconnect_cancels_the_turn() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["a"; 50],
        Duration::from_millis(200),
    ));
    let app = app_with(&fake).await;
    let mut response = app
        .post("/api/sessions/gone/chat/stream")
        .json(&json!({"message": "long"}))
        .send()
        .await
        .unwrap();
    assert!(response.chunk().await.unwrap().is_some());
    drop(response);
    assert!(
        fake.wait_for_disconnect(Duration::from_secs(10)).await,
        "the upstream request was not cancelled"
    );
    app.stop().await;
}

#[tokio::test]
async fn stream_over_grpc() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text_chunks(vec!["a", "b"]));
    let app = app_with(&fake).await;
    let mut client = SessionServiceClient::new(app.channel().await);
    let mut events = client
        .stream_session_chat(authed(ChatSessionRequest {
            session_id: "grpc-stream".into(),
            message: "hi".into(),
            ..ChatSessionRequest::default()
        }))
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(event) = events.message().await.unwrap() {
        assert_eq!(event.seq, i64::try_from(seen.len() + 1).unwrap());
        assert_eq!(event.session_id, "grpc-stream");
        if let Some(Payload::RunCompleted(run)) = &event.payload {
            assert_eq!(run.messages.len(), 2);
        }
        seen.push(event.event);
    }
    assert_eq!(
        seen,
        [
            "run.started",
            "message.started",
            "assistant.delta",
            "assistant.delta",
            "assistant.completed",
            "run.completed",
            "done"
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn disconnect_before_any_event_cancels_too() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::stall());
    let app = app_with(&fake).await;
    let gave_up = app
        .post("/api/sessions/quiet/chat/stream")
        .json(&json!({"message": "long"}))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(gave_up.is_err(), "nothing is sent before the first event");
    // Well before the upstream read timeout (5 s) would end the call by itself.
    assert!(
        fake.wait_for_disconnect(Duration::from_secs(3)).await,
        "the upstream request was not cancelled"
    );
    app.stop().await;
}
