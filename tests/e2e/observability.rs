//! Observability end to end (API.md §11): one trace from the facade's HTTP span through the
//! gRPC span, `invoke_agent`, `chat {model}` and `execute_tool` to the upstream's `traceparent`;
//! an incoming `traceparent` (REST or gRPC) becomes the parent; secrets and message contents never
//! reach spans or logs. `/metrics` lives in `observability/metrics.rs`, `/health/detailed` in
//! `observability/health.rs`, the real binary exporting OTLP in `observability/otlp.rs`.
//!
//! One global subscriber per test binary (installed once, `support::capture`): the OpenTelemetry
//! layer over an in-memory exporter plus a log layer writing into a buffer. Every test in the
//! binary reports into it, so each test filters spans by its own trace id.

mod health;
mod metrics;
mod otlp;
mod support;

use std::time::Duration;

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::{ChatMessage, CreateChatCompletionRequest, chat_message};
use caduceus_tests::app::{TEST_KEY, TestApp, authed};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::SpanData;
use serde_json::{Value, json};

use support::{
    PROMPT_MARKER, UPSTREAM_KEY, attr, attr_i64, attr_str, capture, named, options,
    parse_traceparent, span_id, wait_for_spans,
};

fn chat_body(text: &str, stream: bool) -> Value {
    json!({"model": "hermes-agent", "stream": stream,
           "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn rest_chat_with_a_tool_call_is_one_trace() {
    capture();
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("terminal", json!({"command": "echo hi"})).with_usage(11, 3));
    fake.push(Reply::text("all done").with_usage(7, 2));
    let app = TestApp::spawn_with(options(&fake)).await;
    let response = app
        .post("/v1/chat/completions")
        .json(&chat_body(&format!("run it {PROMPT_MARKER}"), false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["x-hermes-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "all done");

    // The upstream saw a traceparent on both calls, in one trace.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let upstream: Vec<(String, String)> = requests
        .iter()
        .map(|r| parse_traceparent(r.header("traceparent").expect("traceparent upstream")))
        .collect();
    let trace = upstream[0].0.clone();
    assert_eq!(upstream[1].0, trace);
    assert!(requests[0].header("authorization").is_some());

    let spans = wait_for_spans(
        &trace,
        &[
            "POST /v1/chat/completions",
            "caduceus.v1.ChatService/CreateChatCompletion",
            "invoke_agent",
            "chat fake-model",
            "execute_tool terminal",
        ],
    )
    .await;
    let http = named(&spans, "POST /v1/chat/completions");
    let grpc = named(&spans, "caduceus.v1.ChatService/CreateChatCompletion");
    let agent = named(&spans, "invoke_agent");
    let tool = named(&spans, "execute_tool terminal");
    let chats: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.name == "chat fake-model")
        .collect();
    assert_eq!(chats.len(), 2);

    // Parentage: HTTP → gRPC → invoke_agent → {chat, execute_tool}; upstream → chat.
    assert_eq!(http.parent_span_id, SpanId::INVALID, "a fresh root");
    assert_eq!(grpc.parent_span_id, span_id(http));
    assert_eq!(agent.parent_span_id, span_id(grpc));
    assert_eq!(tool.parent_span_id, span_id(agent));
    for (chat, (_, parent)) in chats.iter().zip(&upstream) {
        assert_eq!(chat.parent_span_id, span_id(agent));
        assert_eq!(chat.span_context.span_id().to_string(), *parent);
    }
    assert_eq!(http.span_kind, SpanKind::Server);
    assert_eq!(grpc.span_kind, SpanKind::Server);
    assert_eq!(chats[0].span_kind, SpanKind::Client);

    assert_eq!(attr_str(http, "http.route"), "/v1/chat/completions");
    assert_eq!(attr_str(http, "http.request.method"), "POST");
    assert_eq!(attr_i64(http, "http.response.status_code"), 200);
    assert_eq!(attr_str(grpc, "rpc.system"), "grpc");
    assert_eq!(attr_str(grpc, "rpc.service"), "caduceus.v1.ChatService");
    assert_eq!(attr_str(grpc, "rpc.method"), "CreateChatCompletion");
    assert_eq!(attr_i64(grpc, "rpc.grpc.status_code"), 0);
    assert_eq!(attr_str(agent, "gen_ai.conversation.id"), session);
    assert_eq!(attr_i64(agent, "gen_ai.usage.input_tokens"), 18);
    assert_eq!(attr_str(tool, "gen_ai.tool.name"), "terminal");
    let call_id = requests[1].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()["tool_call_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(attr_str(tool, "gen_ai.tool.call.id"), call_id);

    // GenAI attributes of each chat span equal what the fake upstream reported.
    let chat = |i: usize| {
        chats
            .iter()
            .find(|c| c.span_context.span_id().to_string() == upstream[i].1)
            .unwrap()
    };
    for (i, (input, output, finish)) in [(11, 3, "tool_calls"), (7, 2, "stop")]
        .into_iter()
        .enumerate()
    {
        let span = chat(i);
        assert_eq!(attr_str(span, "gen_ai.operation.name"), "chat");
        assert_eq!(attr_str(span, "gen_ai.provider.name"), "custom");
        assert_eq!(attr_str(span, "gen_ai.request.model"), "fake-model");
        assert_eq!(attr_str(span, "gen_ai.response.model"), "fake-model");
        assert_eq!(attr_str(span, "gen_ai.conversation.id"), session);
        assert_eq!(attr_str(span, "server.address"), "127.0.0.1");
        assert_eq!(attr_i64(span, "gen_ai.usage.input_tokens"), input);
        assert_eq!(attr_i64(span, "gen_ai.usage.output_tokens"), output);
        assert_eq!(attr_str(span, "gen_ai.response.finish_reasons"), finish);
        assert!(
            attr(span, "gen_ai.input.messages").is_none(),
            "content capture is off"
        );
    }
    assert!(attr(tool, "gen_ai.tool.call.arguments").is_none());
    app.stop().await;
}

#[tokio::test]
async fn incoming_traceparent_is_the_parent_over_rest_streaming() {
    capture();
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text_chunks(vec!["str", "eamed"]));
    let app = TestApp::spawn_with(options(&fake)).await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let text = app
        .post("/v1/chat/completions")
        .header("traceparent", format!("00-{trace}-{parent}-01"))
        .json(&chat_body("hi", true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("[DONE]"), "{text}");
    let (upstream_trace, _) = parse_traceparent(fake.requests()[0].header("traceparent").unwrap());
    assert_eq!(upstream_trace, trace);
    let spans = wait_for_spans(
        trace,
        &[
            "POST /v1/chat/completions",
            "caduceus.v1.ChatService/StreamChatCompletion",
            "invoke_agent",
            "chat fake-model",
        ],
    )
    .await;
    let http = named(&spans, "POST /v1/chat/completions");
    assert_eq!(http.parent_span_id.to_string(), parent);
    assert!(http.parent_span_is_remote);
    let grpc = named(&spans, "caduceus.v1.ChatService/StreamChatCompletion");
    assert_eq!(grpc.parent_span_id, span_id(http));
    // The turn runs in a spawned task and still belongs to the request's trace.
    let agent = named(&spans, "invoke_agent");
    assert_eq!(agent.parent_span_id, span_id(grpc));
    assert_eq!(
        named(&spans, "chat fake-model").parent_span_id,
        span_id(agent)
    );
    app.stop().await;
}

#[tokio::test]
async fn grpc_clients_traceparent_is_honoured() {
    capture();
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("over grpc"));
    let app = TestApp::spawn_with(options(&fake)).await;
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let parent = "b7ad6b7169203331";
    let mut request = authed(CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: Some(chat_message::Content::Text("hi".into())),
            ..ChatMessage::default()
        }],
        ..CreateChatCompletionRequest::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace}-{parent}-01").parse().unwrap(),
    );
    ChatServiceClient::new(app.channel().await)
        .create_chat_completion(request)
        .await
        .unwrap();
    let spans = wait_for_spans(
        trace,
        &[
            "caduceus.v1.ChatService/CreateChatCompletion",
            "invoke_agent",
            "chat fake-model",
        ],
    )
    .await;
    let grpc = named(&spans, "caduceus.v1.ChatService/CreateChatCompletion");
    assert_eq!(grpc.parent_span_id.to_string(), parent);
    assert_eq!(named(&spans, "invoke_agent").parent_span_id, span_id(grpc));
    let (upstream_trace, _) = parse_traceparent(fake.requests()[0].header("traceparent").unwrap());
    assert_eq!(upstream_trace, trace);
    app.stop().await;
}

#[tokio::test]
async fn secrets_and_contents_are_never_recorded() {
    let capture = capture();
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("terminal", json!({"command": "echo hi"})));
    fake.push(Reply::text("fine"));
    fake.push(Reply::http_error_message(401, "bad key"));
    let app = TestApp::spawn_with(options(&fake)).await;
    let ok = app
        .post("/v1/chat/completions")
        .json(&chat_body(PROMPT_MARKER, false))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let rejected = app
        .post("/v1/chat/completions")
        .json(&chat_body(PROMPT_MARKER, true))
        .send()
        .await
        .unwrap();
    assert_eq!(rejected.status(), 502);
    let wrong_key = app
        .http
        .get(app.url("/v1/models"))
        .bearer_auth("wrong-key-0123456789abcdef")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401);
    // Let the spans of those requests end.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let forbidden = [
        TEST_KEY,
        UPSTREAM_KEY,
        "wrong-key-0123456789abcdef",
        "Bearer ",
    ];
    for span in capture.spans.get_finished_spans().unwrap() {
        let mut texts: Vec<String> = span
            .attributes
            .iter()
            .map(|kv| format!("{}={}", kv.key, kv.value))
            .collect();
        texts.push(span.name.to_string());
        for event in span.events.iter() {
            texts.push(event.name.to_string());
            texts.extend(event.attributes.iter().map(|kv| kv.value.to_string()));
        }
        for text in &texts {
            for secret in forbidden {
                assert!(
                    !text.contains(secret),
                    "span {} records a secret: {text}",
                    span.name
                );
            }
            assert!(
                !text.contains(PROMPT_MARKER),
                "span {} records content: {text}",
                span.name
            );
        }
    }
    let logs = capture.logs.text();
    assert!(!logs.is_empty(), "the log layer captured nothing");
    for line in logs.lines() {
        for secret in forbidden {
            assert!(!line.contains(secret), "log line leaks a secret: {line}");
        }
        assert!(
            !line.contains(PROMPT_MARKER),
            "log line leaks content: {line}"
        );
    }
    app.stop().await;
}
