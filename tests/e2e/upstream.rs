//! The upstream LLM client (`caduceus_service::llm::UpstreamClient`) driven directly against the
//! scripted `FakeUpstream`: assembly of text and tool calls, retries and `Retry-After`, rejection,
//! fallback providers, model-route aliases, broken and stalled streams, and request abort on drop.

// Test helpers outside `#[test]` fns are not covered by clippy's allow-unwrap-in-tests.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use caduceus_service::config::{Config, Overrides};
use caduceus_service::error::Error;
use caduceus_service::llm::{
    ChatRequest, Message, UpstreamClient, UpstreamError, UpstreamEvent, UpstreamStream,
};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply, closed_base_url};
use futures::StreamExt;
use serde_json::{Value, json};
use tempfile::TempDir;

const UPSTREAM_KEY: &str = "sk-upstream-test-key-1234";

/// A client loaded the way the server loads it: `Config::load` over a temp home's config.yaml.
struct Setup {
    _home: TempDir,
    client: UpstreamClient,
}

fn setup(yaml: &str) -> Setup {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("config.yaml"), yaml).unwrap();
    let env: HashMap<String, String> = [(
        "API_SERVER_KEY".to_owned(),
        "test-key-0123456789abcdef".to_owned(),
    )]
    .into();
    let overrides = Overrides {
        home: Some(home.path().to_path_buf()),
        ..Default::default()
    };
    let config = Config::load(&env, &overrides).unwrap();
    let client = UpstreamClient::from_config(&config).unwrap();
    Setup {
        _home: home,
        client,
    }
}

fn primary_yaml(base_url: &str) -> String {
    format!(
        "model:\n  provider: custom\n  default: up-model\n  base_url: {base_url}\n  \
         api_key: {UPSTREAM_KEY}\n  connect_timeout: 2\n  read_timeout: 1\n"
    )
}

fn request() -> ChatRequest {
    ChatRequest::new(vec![Message::system("be brief"), Message::user("hi")])
}

async fn open(setup: &Setup) -> Result<UpstreamStream, UpstreamError> {
    let route = setup.client.resolve(None).unwrap();
    setup.client.stream_chat(&route, request()).await
}

fn args(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap()
}

#[tokio::test]
async fn upstream_plain_text_is_assembled_and_request_is_well_formed() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("hello world").with_usage(7, 3));
    let s = setup(&primary_yaml(&fake.base_url()));
    let route = s.client.resolve(Some("hermes-agent")).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    assert_eq!(turn.content, "hello world");
    assert_eq!(turn.finish_reason.as_deref(), Some("stop"));
    assert_eq!(
        turn.usage.map(|u| (u.prompt_tokens, u.total_tokens)),
        Some((7, 10))
    );

    let sent = fake.last_request().unwrap();
    assert_eq!(sent.body["model"], "up-model");
    assert_eq!(sent.body["stream"], true);
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert_eq!(
        sent.messages()[0],
        json!({"role": "system", "content": "be brief"})
    );
    let bearer = format!("Bearer {UPSTREAM_KEY}");
    assert_eq!(sent.header("authorization"), Some(bearer.as_str()));
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn upstream_text_is_relayed_as_deltas() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text_chunks(vec!["a", "b", "c"]));
    let s = setup(&primary_yaml(&fake.base_url()));
    let events: Vec<_> = open(&s).await.unwrap().collect().await;
    let texts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(UpstreamEvent::TextDelta(t)) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["a", "b", "c"]);
    assert!(matches!(
        events.last(),
        Some(Ok(UpstreamEvent::Finished { .. }))
    ));
}

#[tokio::test]
async fn upstream_two_tool_calls_with_split_arguments() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_calls(vec![
        ("read_file", json!({"path": "notes.txt"})),
        ("terminal", json!({"command": "ls -la"})),
    ]));
    let s = setup(&primary_yaml(&fake.base_url()));
    let route = s.client.resolve(None).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    assert_eq!(turn.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(turn.tool_calls.len(), 2);
    assert_eq!(turn.tool_calls[0].function.name, "read_file");
    assert_eq!(
        args(&turn.tool_calls[0].function.arguments),
        json!({"path": "notes.txt"})
    );
    assert_eq!(turn.tool_calls[1].function.name, "terminal");
    assert_eq!(
        args(&turn.tool_calls[1].function.arguments),
        json!({"command": "ls -la"})
    );
    assert_ne!(turn.tool_calls[0].id, turn.tool_calls[1].id);
}

#[tokio::test]
async fn upstream_missing_tool_call_ids_are_generated() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("todo", json!({"item": "x"})).without_tool_call_ids());
    let s = setup(&primary_yaml(&fake.base_url()));
    let route = s.client.resolve(None).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    let id = &turn.tool_calls[0].id;
    assert!(id.starts_with("call_") && id.len() > 10, "{id}");
}

#[tokio::test]
async fn upstream_5xx_is_retried_then_succeeds() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error(500, "boom"))
        .push(Reply::http_error(502, "boom"))
        .push(Reply::text("third time"));
    let s = setup(&primary_yaml(&fake.base_url()));
    let route = s.client.resolve(None).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    assert_eq!(turn.content, "third time");
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn upstream_5xx_three_times_is_upstream_unavailable() {
    let fake = FakeUpstream::start().await;
    fake.push_all((0..3).map(|_| Reply::http_error(503, "down")));
    let s = setup(&primary_yaml(&fake.base_url()));
    let error = open(&s).await.unwrap_err();
    assert_eq!(error, UpstreamError::Server { status: 503 });
    assert_eq!(fake.request_count(), 3);
    assert!(matches!(
        Error::from(error),
        Error::BadGateway {
            code: "upstream_unavailable",
            ..
        }
    ));
}

#[tokio::test]
async fn upstream_429_retry_after_is_honoured() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error(429, "slow down").with_retry_after("1"))
        .push(Reply::text("ok"));
    let s = setup(&primary_yaml(&fake.base_url()));
    let started = Instant::now();
    let route = s.client.resolve(None).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(turn.content, "ok");
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test]
async fn upstream_400_is_not_retried_and_keeps_the_message() {
    let fake = FakeUpstream::start().await;
    let message = format!("model 'up-model' does not support tools (key {UPSTREAM_KEY})");
    fake.push(Reply::http_error_message(400, &message));
    let s = setup(&primary_yaml(&fake.base_url()));
    let error = open(&s).await.unwrap_err();
    assert_eq!(fake.request_count(), 1);
    let UpstreamError::Rejected { status, message } = &error else {
        panic!("expected a rejection, got {error:?}");
    };
    assert_eq!(*status, 400);
    assert!(message.contains("does not support tools"));
    assert!(!message.contains(UPSTREAM_KEY), "{message}");
    match Error::from(error) {
        Error::BadGateway {
            code: "upstream_rejected",
            message,
        } => assert!(
            message.starts_with("upstream model rejected the request (HTTP 400): model"),
            "{message}"
        ),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn upstream_primary_down_uses_the_fallback_provider() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("from fallback"));
    let dead = closed_base_url().await;
    let yaml = format!(
        "{}fallback_providers:\n  - provider: custom\n    model: fb-model\n    base_url: {}\n    \
         api_key: sk-fallback-key-000000\n",
        primary_yaml(&dead),
        fake.base_url()
    );
    let s = setup(&yaml);
    let stream = open(&s).await.unwrap();
    assert_eq!(stream.model(), "fb-model");
    let events: Vec<_> = stream.collect().await;
    assert!(events.iter().all(Result::is_ok));
    let sent = fake.last_request().unwrap();
    assert_eq!(sent.body["model"], "fb-model");
    assert_eq!(
        sent.header("authorization"),
        Some("Bearer sk-fallback-key-000000")
    );
}

#[tokio::test]
async fn upstream_connection_refused_without_fallback_is_unreachable() {
    let dead = closed_base_url().await;
    let s = setup(&primary_yaml(&dead));
    let error = open(&s).await.unwrap_err();
    assert_eq!(
        error,
        UpstreamError::Unreachable("connection refused".into())
    );
    assert_eq!(error.summary(), "connection refused");
    assert!(!Error::from(error).to_string().contains("127.0.0.1"));
}

#[tokio::test]
async fn upstream_alias_routes_to_its_own_base_url_and_model() {
    let primary = FakeUpstream::start().await;
    let aliased = FakeUpstream::start().await;
    let yaml = format!(
        "{}platforms:\n  api_server:\n    extra:\n      model_routes:\n        fast:\n          \
         model: fast-model\n          base_url: {}\n",
        primary_yaml(&primary.base_url()),
        aliased.base_url()
    );
    let s = setup(&yaml);
    let route = s.client.resolve(Some("fast")).unwrap();
    assert_eq!(route.alias.as_deref(), Some("fast"));
    s.client.complete(&route, request()).await.unwrap();
    assert_eq!(aliased.last_request().unwrap().body["model"], "fast-model");
    // The primary's key is not sent to another endpoint.
    assert_eq!(
        aliased.last_request().unwrap().header("authorization"),
        None
    );
    assert_eq!(primary.request_count(), 0);

    let route = s.client.resolve(Some("not-an-alias")).unwrap();
    s.client.complete(&route, request()).await.unwrap();
    assert_eq!(primary.last_request().unwrap().body["model"], "up-model");
}

#[tokio::test]
async fn upstream_reset_mid_stream_is_a_protocol_error_after_the_deltas() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::reset_after(vec!["one ", "two"]));
    let s = setup(&primary_yaml(&fake.base_url()));
    let stream = open(&s).await.unwrap();
    let events: Vec<_> = stream.collect().await;
    assert_eq!(events[0], Ok(UpstreamEvent::TextDelta("one ".into())));
    assert_eq!(events[1], Ok(UpstreamEvent::TextDelta("two".into())));
    assert!(
        matches!(events.last(), Some(Err(UpstreamError::Protocol(_)))),
        "{events:?}"
    );
    assert_eq!(events.len(), 3);
    assert_eq!(fake.request_count(), 1, "no retry after output");
}

#[tokio::test]
async fn upstream_malformed_json_is_an_error_item() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::malformed());
    let s = setup(&primary_yaml(&fake.base_url()));
    let mut stream = open(&s).await.unwrap();
    assert_eq!(
        stream.next().await,
        Some(Ok(UpstreamEvent::TextDelta("partial".into())))
    );
    assert!(stream.first_byte_received());
    assert!(matches!(
        stream.next().await,
        Some(Err(UpstreamError::Protocol(_)))
    ));
    assert_eq!(stream.next().await, None);
}

#[tokio::test]
async fn upstream_error_object_in_stream_is_reported() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::stream_error("model overloaded"));
    let s = setup(&primary_yaml(&fake.base_url()));
    let events: Vec<_> = open(&s).await.unwrap().collect().await;
    assert_eq!(
        events.last(),
        Some(&Err(UpstreamError::Reported {
            message: "model overloaded".into()
        }))
    );
}

#[tokio::test]
async fn upstream_stalled_stream_times_out_and_is_aborted() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::stall());
    let s = setup(&primary_yaml(&fake.base_url()));
    let started = Instant::now();
    let mut stream = open(&s).await.unwrap();
    assert_eq!(stream.next().await, Some(Err(UpstreamError::Timeout)));
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(!stream.first_byte_received());
    assert!(matches!(
        Error::from(UpstreamError::Timeout),
        Error::Timeout {
            code: "upstream_timeout",
            ..
        }
    ));
    drop(stream);
    assert!(fake.wait_for_disconnect(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn upstream_dropping_the_stream_aborts_the_request() {
    let fake = FakeUpstream::start().await;
    let chunks: Vec<String> = (0..50).map(|i| format!("chunk {i} ")).collect();
    fake.push(Reply::slow_chunks(chunks, Duration::from_millis(100)));
    let s = setup(&primary_yaml(&fake.base_url()));
    let mut stream = open(&s).await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(UpstreamEvent::TextDelta(_)))
    ));
    assert_eq!(fake.disconnects(), 0);
    drop(stream);
    assert!(fake.wait_for_disconnect(Duration::from_secs(5)).await);
    assert_eq!(fake.disconnects(), 1);
}

#[tokio::test]
async fn upstream_completed_streams_are_not_counted_as_disconnects() {
    let fake = FakeUpstream::start().await;
    let s = setup(&primary_yaml(&fake.base_url()));
    let route = s.client.resolve(None).unwrap();
    let turn = s.client.complete(&route, request()).await.unwrap();
    assert_eq!(turn.content, caduceus_tests::fake_upstream::DEFAULT_REPLY);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.disconnects(), 0);
}

#[tokio::test]
async fn upstream_header_hook_adds_trace_context() {
    let fake = FakeUpstream::start().await;
    let s = setup(&primary_yaml(&fake.base_url()));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let client = s.client.clone().with_header_hook(Arc::new(
        move |headers: &mut reqwest::header::HeaderMap| {
            headers.insert(
                "traceparent",
                reqwest::header::HeaderValue::from_static(traceparent),
            );
        },
    ));
    let route = client.resolve(None).unwrap();
    client.complete(&route, request()).await.unwrap();
    assert_eq!(
        fake.last_request().unwrap().header("traceparent"),
        Some(traceparent)
    );
}

#[tokio::test]
async fn upstream_not_configured_names_the_config_keys() {
    let s = setup("");
    assert!(!s.client.is_configured());
    match s.client.resolve(None).unwrap_err() {
        Error::Unavailable {
            code: "no_upstream_configured",
            message,
            retry_after: None,
        } => assert!(message.contains("model.base_url") && message.contains("model.default")),
        other => panic!("unexpected {other:?}"),
    }
}
