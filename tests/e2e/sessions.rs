//! `/api/sessions` and `SessionService` end to end (API.md §6). Shared helpers here; the cases
//! live in `sessions/crud.rs` (list, create, get, patch, delete, messages), `sessions/fork.rs`,
//! `sessions/chat.rs` (unary session chat, the seed guide's curl flow) and `sessions/stream.rs`
//! (named events, failures, disconnects).

mod chat;
mod crud;
mod fork;
mod stream;

use caduceus_service::store::NewMessage;
use caduceus_tests::app::{TEST_KEY, TestApp, TestOptions};
use caduceus_tests::fake_upstream::FakeUpstream;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// A server whose agent talks to `fake`.
async fn app_with(fake: &FakeUpstream) -> TestApp {
    TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await
}

/// Sends and returns the status and the JSON body (`null` if none).
async fn send(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn patch(app: &TestApp, path: &str) -> RequestBuilder {
    app.http.patch(app.url(path)).bearer_auth(TEST_KEY)
}

fn delete(app: &TestApp, path: &str) -> RequestBuilder {
    app.http.delete(app.url(path)).bearer_auth(TEST_KEY)
}

/// `POST /api/sessions` that must answer 201; returns the `session` object.
async fn create(app: &TestApp, body: Value) -> Value {
    let (status, reply) = send(app.post("/api/sessions").json(&body)).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["object"], "hermes.session");
    reply["session"].clone()
}

/// Asserts an OpenAI error envelope with this status and code.
fn assert_error(status: StatusCode, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    for key in ["message", "type", "param", "code"] {
        assert!(body["error"].get(key).is_some(), "missing {key}: {body}");
    }
}

/// Stores `n` alternating user/assistant messages in `session` directly.
async fn seed_messages(app: &TestApp, session: &str, n: usize) {
    for i in 0..n {
        let role = if i % 2 == 0 { "user" } else { "assistant" };
        app.state
            .store
            .append_message(session, NewMessage::text(role, format!("message {i}")))
            .await
            .unwrap();
    }
}

/// One named SSE event.
#[derive(Debug, Clone)]
struct SseEvent {
    name: String,
    data: Value,
}

/// Parses `event: <name>` + `data: <json>` blocks (comments and unnamed frames are skipped).
fn parse_events(text: &str) -> Vec<SseEvent> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(value).ok();
                }
            }
            Some(SseEvent {
                name: name?,
                data: data?,
            })
        })
        .collect()
}
