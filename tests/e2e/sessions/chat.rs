//! Unary session chat: the seed guide's curl flow, history carried between turns, the session's
//! system prompt under the per-call `system_message`, first-use creation, and each error
//! (`missing_message`, bad id, upstream failure, concurrency cap, no upstream).

use std::time::Duration;

use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_proto::v1::{ChatSessionRequest, chat_message};
use caduceus_tests::app::{TestApp, TestOptions, authed, upstream_config};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use tonic::Code;

use super::{app_with, assert_error, create, send};

fn system_text(messages: &[Value]) -> String {
    assert_eq!(messages[0]["role"], "system");
    messages[0]["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn seed_guide_flow_then_history_carries_over() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("Tres hero sections").with_usage(20, 6));
    fake.push(Reply::text("Versión corta"));
    let app = app_with(&fake).await;

    // The guide's curl flow: create with title + system_prompt, read `session.id`, then chat.
    let session = create(
        &app,
        json!({"title": "Brainstorm landing Junio", "system_prompt": "Eres experto en copy para desarrolladores."}),
    )
    .await;
    let id = session["id"].as_str().unwrap().to_owned();
    let message = json!({"message": "Propón 3 hero sections para una landing de IA."});
    let (status, answer) = send(app.post(&format!("/api/sessions/{id}/chat")).json(&message)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({
            "object": "hermes.session.chat.completion",
            "session_id": id,
            "message": {"role": "assistant", "content": "Tres hero sections"},
            "usage": {"input_tokens": 20, "output_tokens": 6, "total_tokens": 26},
        })
    );
    let first = fake.requests()[0].messages();
    assert!(
        system_text(&first).ends_with("Eres experto en copy para desarrolladores."),
        "the session's system prompt reaches the upstream"
    );
    assert_eq!(first.last().unwrap()["content"], message["message"]);

    // Second turn (with `input` and a per-call instruction): the first exchange is history, and
    // the call's text is layered over the session's prompt.
    let body = json!({"input": "Ahora más corta.", "instructions": "Responde en una línea."});
    let response = app
        .post(&format!("/api/sessions/{id}/chat"))
        .header("X-Hermes-Session-Key", "visitor-42")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-hermes-session-key"], "visitor-42");
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["message"]["content"], "Versión corta");
    let second = fake.requests()[1].messages();
    let roles: Vec<&str> = second.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(second[1]["content"], message["message"]);
    assert_eq!(second[2]["content"], "Tres hero sections");
    assert_eq!(second[3]["content"], "Ahora más corta.");
    assert!(
        system_text(&second)
            .ends_with("Eres experto en copy para desarrolladores.\n\nResponde en una línea."),
        "{}",
        system_text(&second)
    );

    let (_, stored) = send(app.get(&format!("/api/sessions/{id}"))).await;
    assert_eq!(stored["session"]["message_count"], 4);
    assert_eq!(stored["session"]["input_tokens"], 30);
    app.stop().await;
}

#[tokio::test]
async fn chat_creates_the_session_on_first_use() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("hello"));
    let app = app_with(&fake).await;
    let (status, answer) = send(
        app.post("/api/sessions/fresh-one/chat")
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, session) = send(app.get("/api/sessions/fresh-one")).await;
    assert_eq!(status, 200);
    assert_eq!(session["session"]["source"], "api_server");
    assert_eq!(session["session"]["message_count"], 2);
    assert_eq!(session["session"]["preview"], "hi");
    app.stop().await;
}

#[tokio::test]
async fn chat_errors() {
    let fake = FakeUpstream::start().await;
    for _ in 0..3 {
        fake.push(Reply::http_error(500, "boom"));
    }
    let app = app_with(&fake).await;
    create(&app, json!({"id": "s"})).await;
    for body in [
        json!({}),
        json!({"message": "   "}),
        json!({"system_message": "x"}),
    ] {
        let (status, reply) = send(app.post("/api/sessions/s/chat").json(&body)).await;
        assert_error(status, &reply, 400, "missing_message");
    }
    let response = app.post("/api/sessions/s/chat").send().await.unwrap();
    assert_eq!(response.status(), 400, "no body at all");
    let (status, reply) = send(
        app.post("/api/sessions/a..b/chat")
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_error(status, &reply, 400, "invalid_session_id");
    assert_eq!(fake.request_count(), 0, "nothing reached the upstream");

    let (status, reply) = send(
        app.post("/api/sessions/s/chat")
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_error(status, &reply, 502, "upstream_unavailable");
    assert_eq!(reply["error"]["type"], "server_error");
    app.stop().await;
}

#[tokio::test]
async fn no_upstream_is_503() {
    let app = TestApp::spawn().await;
    let (status, reply) = send(
        app.post("/api/sessions/s/chat")
            .json(&json!({"message": "hi"})),
    )
    .await;
    assert_error(status, &reply, 503, "no_upstream_configured");
    app.stop().await;
}

#[tokio::test]
async fn over_the_concurrency_cap_gets_429() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["slow"; 10],
        Duration::from_millis(200),
    ));
    let yaml = upstream_config(
        &fake.base_url(),
        "gateway:\n  api_server:\n    max_concurrent_runs: 1\n",
    );
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(yaml),
        ..TestOptions::default()
    })
    .await;
    let first = {
        let request = app
            .post("/api/sessions/one/chat/stream")
            .json(&json!({"message": "one"}));
        tokio::spawn(async move { request.send().await.unwrap().text().await.unwrap() })
    };
    assert!(fake.wait_for_requests(1, Duration::from_secs(10)).await);
    let response = app
        .post("/api/sessions/two/chat")
        .json(&json!({"message": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(first.await.unwrap().contains("event: done"));
    app.stop().await;
}

#[tokio::test]
async fn chat_over_grpc() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("grpc answer"));
    let app = app_with(&fake).await;
    let mut client = SessionServiceClient::new(app.channel().await);
    let response = client
        .chat_session(authed(ChatSessionRequest {
            session_id: "grpc-chat".into(),
            message: "hi".into(),
            ..ChatSessionRequest::default()
        }))
        .await
        .unwrap();
    let echoed = response.metadata().get("x-hermes-session-id").unwrap();
    assert_eq!(echoed.to_str().unwrap(), "grpc-chat");
    let answer = response.into_inner();
    assert_eq!(answer.session_id, "grpc-chat");
    let message = answer.message.unwrap();
    assert_eq!(message.role, "assistant");
    assert_eq!(
        message.content,
        Some(chat_message::Content::Text("grpc answer".into()))
    );
    let status = client
        .chat_session(authed(ChatSessionRequest {
            session_id: "grpc-chat".into(),
            ..ChatSessionRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    app.stop().await;
}
