//! `Idempotency-Key` end to end (API.md §4): byte-identical replays with `Idempotency-Replayed`,
//! the agent run once (also for concurrent duplicates), 409 on a reused key with another body,
//! 400 on a bad key, failures not cached, streams ignoring the key, and records surviving a
//! restart (a second server on the same database).

use std::time::Duration;

use caduceus_tests::app::{TestApp, TestOptions, test_database_url};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

async fn app_with(fake: &FakeUpstream) -> TestApp {
    TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await
}

fn chat(text: &str) -> Value {
    json!({"model": "hermes-agent", "messages": [{"role": "user", "content": text}]})
}

struct Answer {
    status: reqwest::StatusCode,
    replayed: Option<String>,
    session: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn post(app: &TestApp, path: &str, key: Option<&str>, body: &Value) -> Answer {
    let mut request = app.post(path).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status(),
        replayed: header("idempotency-replayed"),
        session: header("x-hermes-session-id"),
        body: response.bytes().await.unwrap().to_vec(),
    }
}

#[tokio::test]
async fn a_chat_completion_is_replayed_byte_for_byte() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("only once"));
    let app = app_with(&fake).await;
    let first = post(&app, "/v1/chat/completions", Some("order-1"), &chat("hi")).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.replayed, None);
    let second = post(&app, "/v1/chat/completions", Some("order-1"), &chat("hi")).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.replayed.as_deref(), Some("true"));
    assert_eq!(second.body, first.body, "identical bytes");
    assert_eq!(second.session, first.session);
    assert_eq!(fake.request_count(), 1, "the agent ran once");
    // Without a key (or with another key) the agent runs again.
    let third = post(&app, "/v1/chat/completions", Some("order-2"), &chat("hi")).await;
    assert_eq!(third.replayed, None);
    assert_eq!(fake.request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_response_is_replayed_byte_for_byte() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let body = json!({"input": "hello", "metadata": {"a": "1", "b": "2", "c": "3"}});
    let first = post(&app, "/v1/responses", Some("resp-key"), &body).await;
    assert_eq!(first.status, 200);
    let second = post(&app, "/v1/responses", Some("resp-key"), &body).await;
    assert_eq!(second.replayed.as_deref(), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn concurrent_duplicates_run_the_agent_once() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["slow ", "answer"],
        Duration::from_millis(300),
    ));
    let app = app_with(&fake).await;
    let body = chat("concurrent");
    let (a, b) = tokio::join!(
        post(&app, "/v1/chat/completions", Some("dup-1"), &body),
        async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            post(&app, "/v1/chat/completions", Some("dup-1"), &body).await
        }
    );
    assert_eq!((a.status.as_u16(), b.status.as_u16()), (200, 200));
    assert_eq!(a.body, b.body);
    assert_eq!(b.replayed.as_deref(), Some("true"));
    assert_eq!(a.json()["choices"][0]["message"]["content"], "slow answer");
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    assert_eq!(
        post(&app, "/v1/chat/completions", Some("k"), &chat("one"))
            .await
            .status,
        200
    );
    let conflict = post(&app, "/v1/chat/completions", Some("k"), &chat("two")).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json()["error"]["code"], "idempotency_key_conflict");
    // Another session header is another request too.
    let mut request = app.post("/v1/chat/completions").json(&chat("one"));
    request = request
        .header("Idempotency-Key", "k")
        .header("X-Hermes-Session-Id", "elsewhere");
    assert_eq!(request.send().await.unwrap().status(), 409);
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn invalid_keys_are_400() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let long = "k".repeat(256);
    for key in ["has space", long.as_str(), ""] {
        let answer = post(&app, "/v1/chat/completions", Some(key), &chat("x")).await;
        assert_eq!(answer.status, 400, "{key:?}");
        assert_eq!(
            answer.json()["error"]["code"],
            "invalid_idempotency_key",
            "{key:?}"
        );
        let answer = post(&app, "/v1/responses", Some(key), &json!({"input": "x"})).await;
        assert_eq!(answer.status, 400, "{key:?}");
    }
    assert_eq!(
        post(
            &app,
            "/v1/chat/completions",
            Some(&"k".repeat(255)),
            &chat("x")
        )
        .await
        .status,
        200
    );
    // Bytes that are not visible ASCII never reach the service: the facade answers the same code.
    let answer = app
        .post("/v1/chat/completions")
        .header(
            "Idempotency-Key",
            reqwest::header::HeaderValue::from_bytes(b"clave-\xc3\xb1").unwrap(),
        )
        .json(&chat("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_idempotency_key");
    assert_eq!(fake.request_count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn failures_are_not_cached() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error_message(400, "bad model"));
    fake.push(Reply::text("second try works"));
    fake.push(Reply::http_error_message(400, "bad model"));
    let app = app_with(&fake).await;
    let failed = post(&app, "/v1/chat/completions", Some("retry-me"), &chat("x")).await;
    assert_eq!(failed.status, 502);
    let retried = post(&app, "/v1/chat/completions", Some("retry-me"), &chat("x")).await;
    assert_eq!(retried.status, 200);
    assert_eq!(retried.replayed, None);
    // A failed response object is not replayed either.
    let failed = post(
        &app,
        "/v1/responses",
        Some("resp-retry"),
        &json!({"input": "x"}),
    )
    .await;
    assert_eq!(failed.json()["status"], "failed");
    let retried = post(
        &app,
        "/v1/responses",
        Some("resp-retry"),
        &json!({"input": "x"}),
    )
    .await;
    assert_eq!(retried.json()["status"], "completed");
    assert_eq!(retried.replayed, None);
    assert_eq!(fake.request_count(), 4);
    app.stop().await;
}

#[tokio::test]
async fn streaming_requests_ignore_the_key() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let mut body = chat("stream");
    body["stream"] = json!(true);
    for _ in 0..2 {
        let answer = post(&app, "/v1/chat/completions", Some("stream-key"), &body).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.replayed, None);
    }
    assert_eq!(fake.request_count(), 2);
    app.stop().await;
}

#[tokio::test]
async fn records_survive_a_restart() {
    let fake = FakeUpstream::start().await;
    let data = tempfile::tempdir().unwrap();
    let database_url = test_database_url(data.path()).await;
    let options = TestOptions {
        database_url: Some(database_url),
        ..TestOptions::upstream(&fake.base_url())
    };
    let first_app = TestApp::spawn_with(options.clone()).await;
    let first = post(
        &first_app,
        "/v1/chat/completions",
        Some("durable"),
        &chat("x"),
    )
    .await;
    assert_eq!(first.status, 200);
    first_app.stop().await;

    let second_app = TestApp::spawn_with(options).await;
    let second = post(
        &second_app,
        "/v1/chat/completions",
        Some("durable"),
        &chat("x"),
    )
    .await;
    assert_eq!(second.replayed.as_deref(), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(fake.request_count(), 1);
    second_app.stop().await;
}
