//! `/v1/chat/completions` and `ChatService` end to end against the scripted fake upstream: the
//! agent loop, tools really running, system prompt layering, sessions, stream framing, upstream
//! failures, cancellation, approvals on a route without an approval channel, the concurrency cap
//! and client-declared tools.

use std::time::Duration;

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::{
    ChatMessage, CreateChatCompletionRequest, chat_completion_event::Event, chat_message,
};
use caduceus_tests::app::{TestApp, TestOptions, authed, upstream_config};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

async fn app_with(fake: &FakeUpstream) -> TestApp {
    TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await
}

fn user(text: &str) -> Value {
    json!({"model": "hermes-agent", "messages": [{"role": "user", "content": text}]})
}

async fn complete(
    app: &TestApp,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let response = app
        .post("/v1/chat/completions")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, headers, json)
}

/// The `messages` array of the n-th request the fake upstream received.
fn upstream_messages(fake: &FakeUpstream, n: usize) -> Vec<Value> {
    fake.requests()[n].body["messages"]
        .as_array()
        .unwrap()
        .clone()
}

fn tool_results(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn plain_answer_over_rest() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("Hola desde Hermes").with_usage(12, 4));
    let app = app_with(&fake).await;
    let (status, headers, body) = complete(&app, &user("Hola")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "hermes-agent");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hola desde Hermes"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    assert_eq!(body["usage"]["total_tokens"], 16);
    let session = headers["x-hermes-session-id"].to_str().unwrap();
    assert!(session.starts_with("api-"), "{session}");
    // The upstream got the configured model, streaming, and our tool schemas.
    let sent = &fake.requests()[0].body;
    assert_eq!(sent["model"], "fake-model");
    assert_eq!(sent["stream"], true);
    assert!(sent["tools"].as_array().is_some_and(|t| !t.is_empty()));
    app.stop().await;
}

#[tokio::test]
async fn plain_answer_over_grpc_unary_and_stream() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("unary answer"));
    fake.push(Reply::text_chunks(vec!["str", "eamed"]));
    let app = app_with(&fake).await;
    let mut client = ChatServiceClient::new(app.channel().await);
    let request = CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: Some(chat_message::Content::Text("hi".into())),
            ..ChatMessage::default()
        }],
        ..CreateChatCompletionRequest::default()
    };
    let response = client
        .create_chat_completion(authed(request.clone()))
        .await
        .unwrap();
    assert!(response.metadata().get("x-hermes-session-id").is_some());
    let answer = response.into_inner();
    let Some(chat_message::Content::Text(text)) =
        answer.choices[0].message.as_ref().unwrap().content.clone()
    else {
        panic!("text expected")
    };
    assert_eq!(text, "unary answer");

    let mut stream = client
        .stream_chat_completion(authed(request))
        .await
        .unwrap()
        .into_inner();
    let mut text = String::new();
    let mut finish = None;
    while let Some(event) = stream.message().await.unwrap() {
        if let Some(Event::Chunk(chunk)) = event.event {
            for choice in chunk.choices {
                if let Some(delta) = choice.delta {
                    text.push_str(delta.content.as_deref().unwrap_or(""));
                }
                if choice.finish_reason.is_some() {
                    finish = choice.finish_reason;
                }
            }
        }
    }
    assert_eq!(text, "streamed");
    assert_eq!(finish.as_deref(), Some("stop"));
    app.stop().await;
}

#[tokio::test]
async fn terminal_tool_really_runs_and_its_output_reaches_the_upstream() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "echo caduceus-$((40+2))"}),
    ));
    fake.push(Reply::text("The answer is 42"));
    let app = app_with(&fake).await;
    let (status, _, body) = complete(&app, &user("run it")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "The answer is 42");
    assert_eq!(fake.request_count(), 2);
    let results = tool_results(&upstream_messages(&fake, 1));
    assert_eq!(results.len(), 1);
    assert!(results[0].contains("caduceus-42"), "{results:?}");
    app.stop().await;
}

#[tokio::test]
async fn two_tool_calls_in_one_turn_both_run() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_calls(vec![
        ("terminal", json!({"command": "echo first-call"})),
        ("terminal", json!({"command": "echo second-call"})),
    ]));
    fake.push(Reply::text("both done"));
    let app = app_with(&fake).await;
    let (status, _, body) = complete(&app, &user("two things")).await;
    assert_eq!(status, 200, "{body}");
    let results = tool_results(&upstream_messages(&fake, 1)).join("\n");
    assert!(
        results.contains("first-call") && results.contains("second-call"),
        "{results}"
    );
    app.stop().await;
}

#[tokio::test]
async fn max_iterations_ends_with_one_tools_free_call() {
    let fake = FakeUpstream::start().await;
    for _ in 0..2 {
        fake.push(Reply::tool_call(
            "terminal",
            json!({"command": "echo again"}),
        ));
    }
    fake.push(Reply::text("giving up politely"));
    let app = TestApp::spawn_with(
        TestOptions::upstream(&fake.base_url()).env("HERMES_MAX_ITERATIONS", "2"),
    )
    .await;
    let (status, _, body) = complete(&app, &user("loop")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "giving up politely"
    );
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[0].body.get("tools").is_some());
    assert!(
        requests[2].body.get("tools").is_none(),
        "final call must be tools-free"
    );
    app.stop().await;
}

#[tokio::test]
async fn client_system_text_is_layered_on_the_agent_prompt() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("ok"));
    let app = app_with(&fake).await;
    let body = json!({"messages": [
        {"role": "system", "content": "Eres un asistente creativo."},
        {"role": "user", "content": "Dame 3 ideas"}
    ]});
    let (status, _, _) = complete(&app, &body).await;
    assert_eq!(status, 200);
    let messages = upstream_messages(&fake, 0);
    assert_eq!(messages[0]["role"], "system");
    let system = messages[0]["content"].as_str().unwrap();
    assert!(system.starts_with(caduceus_service::agent::CORE_PERSONA));
    assert!(
        system.trim_end().ends_with("Eres un asistente creativo."),
        "{system}"
    );
    assert_eq!(messages.iter().filter(|m| m["role"] == "system").count(), 1);
    assert_eq!(messages.last().unwrap()["content"], "Dame 3 ideas");
    app.stop().await;
}

#[tokio::test]
async fn session_header_continues_stored_history() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("first answer"));
    fake.push(Reply::text("second answer"));
    let app = app_with(&fake).await;
    for text in ["first question", "second question"] {
        let response = app
            .post("/v1/chat/completions")
            .header("X-Hermes-Session-Id", "api_1234abcd")
            .header("X-Hermes-Session-Key", "visitor:42")
            .json(&user(text))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-hermes-session-id"], "api_1234abcd");
        assert_eq!(response.headers()["x-hermes-session-key"], "visitor:42");
    }
    let contents: Vec<(String, String)> = upstream_messages(&fake, 1)
        .iter()
        .skip(1)
        .map(|m| {
            (
                m["role"].as_str().unwrap().to_owned(),
                m["content"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        contents,
        vec![
            ("user".to_owned(), "first question".to_owned()),
            ("assistant".to_owned(), "first answer".to_owned()),
            ("user".to_owned(), "second question".to_owned()),
        ]
    );
    let bad = app
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", "../etc")
        .json(&user("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_session_id");
    app.stop().await;
}

#[tokio::test]
async fn derived_session_id_is_stable_for_the_same_conversation() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("a"));
    fake.push(Reply::text("b"));
    let app = app_with(&fake).await;
    let (_, first, _) = complete(&app, &user("same opening")).await;
    let (_, second, _) = complete(&app, &user("same opening")).await;
    let expected = caduceus_service::agent::derived_session_id("", "same opening");
    assert_eq!(first["x-hermes-session-id"], expected.as_str());
    assert_eq!(second["x-hermes-session-id"], expected.as_str());
    app.stop().await;
}

#[tokio::test]
async fn dangerous_command_is_not_executed_on_chat() {
    let fake = FakeUpstream::start().await;
    let victim = tempfile::tempdir().unwrap();
    let target = victim.path().join("precious");
    std::fs::create_dir_all(&target).unwrap();
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": format!("rm -rf {}", target.display())}),
    ));
    fake.push(Reply::text("I could not delete it"));
    let app = app_with(&fake).await;
    let (status, _, _) = complete(&app, &user("delete it")).await;
    assert_eq!(status, 200);
    assert!(target.exists(), "the dangerous command ran");
    let results = tool_results(&upstream_messages(&fake, 1)).join("\n");
    assert!(results.contains("pending_approval"), "{results}");
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
        let request = app.post("/v1/chat/completions").json(&user("one"));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = app
        .post("/v1/chat/completions")
        .json(&user("two"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(first.await.unwrap(), 200);
    app.stop().await;
}

#[tokio::test]
async fn client_declared_tools_round_trip() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("get_weather", json!({"city": "Madrid"})));
    fake.push(Reply::text("It is sunny in Madrid"));
    let app = app_with(&fake).await;
    let tools = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather by city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }}]);
    let first =
        json!({"messages": [{"role": "user", "content": "Weather in Madrid?"}], "tools": tools});
    let (status, _, body) = complete(&app, &first).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["city"], "Madrid");
    // The upstream saw the client's tool next to the server's.
    let offered: Vec<String> = fake.requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        offered.contains(&"get_weather".to_owned()) && offered.contains(&"terminal".to_owned())
    );

    let second = json!({"messages": [
        {"role": "user", "content": "Weather in Madrid?"},
        body["choices"][0]["message"].clone(),
        {"role": "tool", "tool_call_id": call["id"], "content": "{\"sky\":\"sunny\"}"}
    ], "tools": tools});
    let (status, _, body) = complete(&app, &second).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "It is sunny in Madrid"
    );
    let results = tool_results(&upstream_messages(&fake, 1));
    assert_eq!(results, vec!["{\"sky\":\"sunny\"}".to_owned()]);
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_specific_codes() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let cases = [
        (json!({"messages": []}), "invalid_request"),
        (
            json!({"messages": [{"role": "system", "content": "only system"}]}),
            "no_user_message",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
            "unsupported_content_type",
        ),
    ];
    for (body, code) in cases {
        let (status, _, answer) = complete(&app, &body).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(answer["error"]["code"], code, "{body}");
    }
    assert_eq!(fake.request_count(), 0);
    app.stop().await;
}

#[tokio::test]
async fn no_upstream_configured_is_503_naming_the_keys() {
    let app = TestApp::spawn().await;
    let (status, _, body) = complete(&app, &user("hi")).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "no_upstream_configured");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("model.base_url") && message.contains("model.default"),
        "{message}"
    );
    app.stop().await;
}

mod grpc;
mod persistence;
mod stream;
