//! Faults as a user of the server sees them (issue #7 parts 2 and 3): every upstream fault through
//! `POST /v1/chat/completions` (JSON and SSE) and `ChatService` (unary and stream) with a stored
//! session whose history must stay consistent; SIGTERM draining and kill -9 of the real binary;
//! SQLite under many concurrent writers. This file holds the shared driver: one call per
//! transport, normalised into [`Seen`], and the session-history check.

mod crash;
mod drain;
mod process;
mod sqlite_lock;
mod upstream_before_output;
mod upstream_mid_stream;

use std::time::{Duration, Instant};

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::{
    ChatMessage, CreateChatCompletionRequest, chat_completion_event::Event, chat_message,
};
use caduceus_tests::app::{TestApp, TestOptions, authed};
use serde_json::{Value, json};
use tonic_types::StatusExt;

/// Largest upstream answer the fault apps accept (`model.max_response_bytes`).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Every fault case must end — with a clean error — well within this.
pub const BOUND: Duration = Duration::from_secs(10);

/// `config.yaml` for fault tests: test-sized timeouts and limits.
pub fn fault_yaml(base_url: &str) -> String {
    format!(
        "model:\n  provider: custom\n  base_url: {base_url}\n  default: fake-model\n  \
         connect_timeout: 1\n  read_timeout: 1\n  max_response_bytes: {MAX_RESPONSE_BYTES}\n  \
         max_response_seconds: 5\n"
    )
}

/// An in-process server whose upstream is `base_url`, with [`fault_yaml`].
pub async fn fault_app(base_url: &str) -> TestApp {
    TestApp::spawn_with(TestOptions {
        config_yaml: Some(fault_yaml(base_url)),
        ..TestOptions::default()
    })
    .await
}

/// The four ways a user reaches a chat turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    RestJson,
    RestStream,
    GrpcUnary,
    GrpcStream,
}

impl Transport {
    pub const ALL: [Transport; 4] = [
        Transport::RestJson,
        Transport::RestStream,
        Transport::GrpcUnary,
        Transport::GrpcStream,
    ];

    fn tag(self) -> &'static str {
        match self {
            Transport::RestJson => "rest-json",
            Transport::RestStream => "rest-sse",
            Transport::GrpcUnary => "grpc-unary",
            Transport::GrpcStream => "grpc-stream",
        }
    }
}

/// What the user saw, whatever the transport.
#[derive(Debug, Default)]
pub struct Seen {
    /// HTTP status (REST) of the response.
    pub http: Option<u16>,
    /// gRPC status code when the call failed as a whole.
    pub grpc: Option<tonic::Code>,
    /// The error `code` (REST envelope or in-stream error, gRPC `ErrorInfo.reason` or stream error).
    pub code: Option<String>,
    /// The error message, if any.
    pub message: Option<String>,
    /// Answer text received.
    pub content: String,
    /// The final `finish_reason`, if one arrived.
    pub finish_reason: Option<String>,
    /// SSE only: the stream ended with `data: [DONE]`.
    pub done: bool,
    pub elapsed: Duration,
}

/// How a fault must look to the user.
#[derive(Debug, Clone, Copy)]
pub struct Expect {
    /// The error code (REST `code`, gRPC reason).
    pub code: &'static str,
    /// HTTP status when the turn fails before any output (502, 504).
    pub http: u16,
    /// Some answer text was relayed before the fault: the turn ends with `finish_reason:
    /// "error"` (and an in-stream error on streams) instead of a plain error response.
    pub after_output: bool,
}

fn grpc_code_for(http: u16) -> tonic::Code {
    match http {
        504 => tonic::Code::DeadlineExceeded,
        503 | 502 => tonic::Code::Unavailable,
        other => panic!("no gRPC code for HTTP {other}"),
    }
}

/// One chat turn "hello" in `session` over `transport`.
pub async fn chat(app: &TestApp, transport: Transport, session: &str) -> Seen {
    let started = Instant::now();
    let mut seen = match transport {
        Transport::RestJson => rest_json(app, session).await,
        Transport::RestStream => rest_stream(app, session).await,
        Transport::GrpcUnary => grpc_unary(app, session).await,
        Transport::GrpcStream => grpc_stream(app, session).await,
    };
    seen.elapsed = started.elapsed();
    seen
}

fn body(stream: bool) -> Value {
    json!({"model": "hermes-agent", "stream": stream,
           "messages": [{"role": "user", "content": "hello"}]})
}

async fn rest_json(app: &TestApp, session: &str) -> Seen {
    let response = app
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&body(false))
        .send()
        .await
        .unwrap();
    let http = response.status().as_u16();
    let json: Value = response.json().await.unwrap();
    let error = &json["error"];
    Seen {
        http: Some(http),
        code: error["code"].as_str().map(str::to_owned),
        message: error["message"].as_str().map(str::to_owned),
        content: json["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        finish_reason: json["choices"][0]["finish_reason"]
            .as_str()
            .map(str::to_owned),
        ..Seen::default()
    }
}

async fn rest_stream(app: &TestApp, session: &str) -> Seen {
    let response = app
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&body(true))
        .send()
        .await
        .unwrap();
    let http = response.status().as_u16();
    let is_sse = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    let mut seen = Seen {
        http: Some(http),
        ..Seen::default()
    };
    if !is_sse {
        let json: Value = serde_json::from_str(&text).unwrap();
        seen.code = json["error"]["code"].as_str().map(str::to_owned);
        seen.message = json["error"]["message"].as_str().map(str::to_owned);
        return seen;
    }
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        assert!(!seen.done, "nothing may follow [DONE]: {data}");
        if data == "[DONE]" {
            seen.done = true;
            continue;
        }
        let chunk: Value = serde_json::from_str(data).unwrap();
        if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str() {
            seen.content.push_str(text);
        }
        if let Some(reason) = chunk["choices"][0]["finish_reason"].as_str() {
            seen.finish_reason = Some(reason.to_owned());
        }
        if chunk["error"].is_object() {
            assert!(seen.code.is_none(), "one error chunk only");
            seen.code = chunk["error"]["code"].as_str().map(str::to_owned);
            seen.message = chunk["error"]["message"].as_str().map(str::to_owned);
        }
    }
    seen
}

fn grpc_request(session: &str) -> tonic::Request<CreateChatCompletionRequest> {
    let mut request = authed(CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: Some(chat_message::Content::Text("hello".into())),
            ..ChatMessage::default()
        }],
        ..CreateChatCompletionRequest::default()
    });
    request
        .metadata_mut()
        .insert("x-hermes-session-id", session.parse().unwrap());
    request
}

fn failed_call(status: &tonic::Status) -> Seen {
    Seen {
        grpc: Some(status.code()),
        code: status.get_details_error_info().map(|info| info.reason),
        message: Some(status.message().to_owned()),
        ..Seen::default()
    }
}

async fn grpc_unary(app: &TestApp, session: &str) -> Seen {
    let mut client = ChatServiceClient::new(app.channel().await);
    match client.create_chat_completion(grpc_request(session)).await {
        Err(status) => failed_call(&status),
        Ok(response) => {
            let response = response.into_inner();
            let choice = &response.choices[0];
            let content = match choice.message.as_ref().and_then(|m| m.content.clone()) {
                Some(chat_message::Content::Text(text)) => text,
                _ => String::new(),
            };
            Seen {
                content,
                finish_reason: Some(choice.finish_reason.clone()),
                ..Seen::default()
            }
        }
    }
}

async fn grpc_stream(app: &TestApp, session: &str) -> Seen {
    let mut client = ChatServiceClient::new(app.channel().await);
    let mut stream = match client.stream_chat_completion(grpc_request(session)).await {
        Err(status) => return failed_call(&status),
        Ok(response) => response.into_inner(),
    };
    let mut seen = Seen::default();
    loop {
        match stream.message().await {
            Err(status) => {
                assert!(
                    seen.content.is_empty(),
                    "after output a failure is an in-stream error event, not a status"
                );
                return failed_call(&status);
            }
            Ok(None) => return seen,
            Ok(Some(event)) => match event.event {
                Some(Event::Chunk(chunk)) => {
                    for choice in chunk.choices {
                        if let Some(delta) = choice.delta
                            && let Some(text) = delta.content
                        {
                            seen.content.push_str(&text);
                        }
                        if let Some(reason) = choice.finish_reason {
                            seen.finish_reason = Some(reason);
                        }
                    }
                }
                Some(Event::Error(error)) => {
                    assert!(seen.code.is_none(), "one error event only");
                    seen.code = Some(error.code);
                    seen.message = Some(error.message);
                }
                Some(Event::ToolProgress(_)) | None => {}
            },
        }
    }
}

/// Asserts that `seen` is the clean, bounded ending `expect` describes for `transport`.
pub fn assert_fault(case: &str, transport: Transport, seen: &Seen, expect: Expect) {
    let what = format!("{case} over {}: {seen:?}", transport.tag());
    assert!(seen.elapsed < BOUND, "{what}: took too long");
    if !expect.after_output {
        match transport {
            Transport::RestJson | Transport::RestStream => {
                assert_eq!(seen.http, Some(expect.http), "{what}");
            }
            Transport::GrpcUnary | Transport::GrpcStream => {
                assert_eq!(seen.grpc, Some(grpc_code_for(expect.http)), "{what}");
            }
        }
        assert_eq!(seen.code.as_deref(), Some(expect.code), "{what}");
        assert!(seen.content.is_empty(), "{what}");
        return;
    }
    assert_eq!(seen.grpc, None, "{what}");
    assert!(!seen.content.is_empty(), "{what}: the partial text arrives");
    assert!(
        seen.content.len() <= MAX_RESPONSE_BYTES,
        "{what}: output bounded"
    );
    match transport {
        Transport::RestJson | Transport::GrpcUnary => {
            assert_eq!(seen.http.unwrap_or(200), 200, "{what}");
            assert_eq!(seen.finish_reason.as_deref(), Some("error"), "{what}");
        }
        Transport::RestStream => {
            assert_eq!(seen.http, Some(200), "{what}");
            assert_eq!(seen.finish_reason.as_deref(), Some("error"), "{what}");
            assert_eq!(seen.code.as_deref(), Some(expect.code), "{what}");
            assert!(seen.done, "{what}: the stream ends with [DONE]");
        }
        Transport::GrpcStream => {
            assert_eq!(seen.code.as_deref(), Some(expect.code), "{what}");
        }
    }
}

/// The stored messages of `session`.
pub async fn messages(app: &TestApp, session: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/sessions/{session}/messages?limit=200"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["data"].as_array().unwrap().clone()
}

/// Assistant messages stored as finished answers (`stop` / `length`).
pub fn complete_answers(messages: &[Value]) -> Vec<&Value> {
    messages
        .iter()
        .filter(|m| m["role"] == "assistant")
        .filter(|m| matches!(m["finish_reason"].as_str(), Some("stop" | "length")))
        .collect()
}

/// After a failed turn: the user message may be stored, an answer never as complete; partial
/// text, if stored, is marked `error`.
pub async fn assert_no_half_turn(app: &TestApp, session: &str, seen: &Seen) {
    let stored = messages(app, session).await;
    assert!(
        complete_answers(&stored).is_empty(),
        "a failed turn is stored as complete: {stored:?}"
    );
    for message in stored.iter().filter(|m| m["role"] == "assistant") {
        assert_eq!(message["finish_reason"], "error", "{message}");
        assert!(
            seen.content
                .contains(message["content"].as_str().unwrap_or("")),
            "stored partial text is what the user saw: {message}"
        );
    }
    let users = stored.iter().filter(|m| m["role"] == "user").count();
    assert!(users <= 1, "{stored:?}");
}

/// Runs one fault over every transport: `push` scripts the upstream for one call, each call uses
/// its own session, and each must end as `expect` says with a consistent stored history.
pub async fn each_transport<F>(app: &TestApp, case: &str, expect: Expect, mut push: F)
where
    F: FnMut(),
{
    for transport in Transport::ALL {
        push();
        let session = format!("fault-{case}-{}", transport.tag());
        let seen = chat(app, transport, &session).await;
        assert_fault(case, transport, &seen, expect);
        assert_no_half_turn(app, &session, &seen).await;
    }
}
