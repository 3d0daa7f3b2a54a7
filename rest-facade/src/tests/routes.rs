//! Route families through the whole router: discovery JSON shapes, chat completions (unary,
//! stream, errors before and after the first byte, request translation as the server receives
//! it) and the nine session routes.

use super::*;

/// SSE frames as `(event name, data)`, comments dropped.
fn sse_frames(text: &str) -> Vec<(Option<String>, String)> {
    text.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut event = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    event = Some(name.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(value.to_owned());
                }
            }
            data.map(|data| (event, data))
        })
        .collect()
}

#[tokio::test]
async fn discovery_routes_render_the_contract_shapes() {
    let reply = send(app(), req("GET", "/health/detailed", Body::empty())).await;
    let json = reply.json();
    assert_eq!(
        json["readiness"]["checks"]["database"],
        json!({"status": "ok"})
    );
    assert_eq!(
        json["readiness"]["checks"]["upstream"],
        json!({"status": "ok", "detail": "not called yet"})
    );
    assert_eq!(json["gateway_state"], "running");
    assert_eq!(json["pid"], 42);

    let json = send(app(), req("GET", "/v1/models", Body::empty()))
        .await
        .json();
    assert_eq!(json["object"], "list");
    assert_eq!(json["data"][0]["parent"], Value::Null);
    assert_eq!(json["data"][0]["object"], "model");
    assert_eq!(json["data"][1]["parent"], "hermes-agent");

    let json = send(app(), req("GET", "/v1/capabilities", Body::empty()))
        .await
        .json();
    assert_eq!(json["object"], "hermes.api_server.capabilities");
    assert_eq!(json["auth"], json!({"type": "bearer", "required": true}));
    assert_eq!(json["features"]["chat_completions"], true);
    assert_eq!(
        json["features"]["session_key_header"],
        "X-Hermes-Session-Key"
    );
    assert_eq!(
        json["endpoints"]["chat_completions"],
        json!({"method": "POST", "path": "/v1/chat/completions"})
    );
    assert_eq!(
        json["endpoints"]["sessions_update"],
        json!({"method": "PATCH", "path": "/api/sessions/{id}"})
    );
    assert!(
        json["endpoints"].get("grpc_only").is_none(),
        "replaced by the route table"
    );

    let json = send(app(), req("GET", "/v1/skills", Body::empty()))
        .await
        .json();
    assert_eq!(json["data"][0]["category"], Value::Null);
    let json = send(app(), req("GET", "/v1/toolsets", Body::empty()))
        .await
        .json();
    assert_eq!(json["platform"], "api_server");
    assert_eq!(json["data"][0]["tools"], json!(["read_file", "write_file"]));
}

#[tokio::test]
async fn chat_non_stream_translates_both_ways() {
    let chat = FakeChat::default();
    let body = json!({
        "model": "fast",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "c1", "content": "42"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "stop": "END",
        "temperature": 0.5,
        "some_future_field": {"x": 1}
    });
    let mut request = req("POST", "/v1/chat/completions", body.to_string());
    request
        .headers_mut()
        .insert("x-hermes-session-id", "s-1".parse().unwrap());
    let reply = send(app_with(&[], chat.clone()), request).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("x-hermes-session-id"), Some("s-1"));
    let json = reply.json();
    assert_eq!(json["object"], "chat.completion");
    assert_eq!(json["model"], "fast");
    assert_eq!(
        json["choices"][0]["message"],
        json!({"role": "assistant", "content": "hello"})
    );
    assert_eq!(json["choices"][0]["logprobs"], Value::Null);
    assert_eq!(json["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        json["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    );

    let seen = chat.last.lock().unwrap().clone().unwrap();
    assert_eq!(seen.messages.len(), 4);
    assert_eq!(seen.messages[2].content, None);
    assert_eq!(seen.messages[2].tool_calls[0].id, "c1");
    assert_eq!(seen.messages[3].tool_call_id.as_deref(), Some("c1"));
    assert_eq!(seen.stop, vec!["END".to_owned()]);
    assert_eq!(seen.tools[0].function.as_ref().unwrap().name, "f");
    assert_eq!(seen.temperature, Some(0.5));
}

#[tokio::test]
async fn chat_stream_relays_chunks_progress_and_done() {
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let reply = send(app(), req("POST", "/v1/chat/completions", body.to_string())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert_eq!(reply.header("x-accel-buffering"), Some("no"));
    assert_eq!(reply.header("x-hermes-session-id"), Some("api-stream"));
    assert!(
        reply.header("x-frame-options").is_none(),
        "no security headers on SSE"
    );
    assert!(reply.header("x-request-id").is_some());
    let frames = sse_frames(&reply.text);
    assert_eq!(frames.len(), 6, "{}", reply.text);
    let first: Value = serde_json::from_str(&frames[0].1).unwrap();
    assert_eq!(frames[0].0, None);
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"], json!({"role": "assistant"}));
    assert_eq!(first["choices"][0]["finish_reason"], Value::Null);
    assert!(first.get("usage").is_none());
    assert_eq!(frames[2].0.as_deref(), Some("hermes.tool.progress"));
    let progress: Value = serde_json::from_str(&frames[2].1).unwrap();
    assert_eq!(progress["toolCallId"], "call_1");
    let last: Value = serde_json::from_str(&frames[3].1).unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert_eq!(last["usage"]["total_tokens"], 5);
    let usage_only: Value = serde_json::from_str(&frames[4].1).unwrap();
    assert_eq!(usage_only["choices"], json!([]));
    assert_eq!(frames[5], (None, "[DONE]".to_owned()));
}

#[tokio::test]
async fn chat_stream_failure_before_output_is_a_plain_http_error() {
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "fail-first"}]});
    let reply = send(app(), req("POST", "/v1/chat/completions", body.to_string())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": {"message": "no user message", "type": "invalid_request_error", "param": "messages", "code": "no_user_message"}})
    );
}

#[tokio::test]
async fn chat_stream_failure_midway_sends_an_error_chunk_then_done() {
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "fail-mid"}]});
    let reply = send(app(), req("POST", "/v1/chat/completions", body.to_string())).await;
    assert_eq!(reply.status, StatusCode::OK);
    let frames = sse_frames(&reply.text);
    assert_eq!(frames.len(), 3, "{}", reply.text);
    let error: Value = serde_json::from_str(&frames[1].1).unwrap();
    assert_eq!(error["id"], "chatcmpl-1");
    assert_eq!(
        error["choices"],
        json!([{"index": 0, "delta": {}, "finish_reason": "error"}])
    );
    assert_eq!(
        error["error"],
        json!({"message": "upstream down", "type": "server_error", "code": "upstream_unavailable"})
    );
    assert_eq!(frames[2].1, "[DONE]");
}

#[tokio::test]
async fn dropping_the_sse_body_drops_the_grpc_stream() {
    let chat = FakeChat::default();
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "hang"}]});
    let request = req("POST", "/v1/chat/completions", body.to_string());
    let response = app_with(&[], chat.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let frame = body.frame().await.unwrap().unwrap();
    let text = String::from_utf8_lossy(frame.data_ref().unwrap()).into_owned();
    assert!(text.contains("chat.completion.chunk"), "{text}");
    assert!(!chat.dropped.load(std::sync::atomic::Ordering::SeqCst));
    drop(body);
    for _ in 0..100 {
        if chat.dropped.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the server-side stream outlived the client");
}

#[tokio::test]
async fn path_rejections_become_envelopes() {
    let reply = send(app(), req("GET", "/api/sessions/%FF%FE", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    assert_eq!(error_of(&reply)["code"], "invalid_request");
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn chat_unsupported_part_type_is_400_with_param() {
    let body = json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]});
    let reply = send(app(), req("POST", "/v1/chat/completions", body.to_string())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let error = error_of(&reply);
    assert_eq!(error["code"], "unsupported_content_type");
    assert_eq!(error["param"], "messages[0].content[0].type");
}

#[tokio::test]
async fn sessions_crud_routes() {
    let reply = send(
        app(),
        req(
            "GET",
            "/api/sessions?limit=5&offset=2&source=&include_children=true",
            Body::empty(),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let json = reply.json();
    assert_eq!(
        (
            json["object"].as_str(),
            json["limit"].as_i64(),
            json["offset"].as_i64()
        ),
        (Some("list"), Some(5), Some(2))
    );
    assert_eq!(json["has_more"], true);
    assert_eq!(json["data"][0]["title"], Value::Null);

    let reply = send(app(), req("GET", "/api/sessions?limit=abc", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&reply)["param"], "limit");

    let reply = send(
        app(),
        req("POST", "/api/sessions", r#"{"id":"s1","title":"T"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["object"], "hermes.session");
    assert_eq!(reply.json()["session"]["title"], "T");
    let reply = send(app(), req("POST", "/api/sessions", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::CREATED);

    let reply = send(app(), req("GET", "/api/sessions/missing", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&reply)["code"], "session_not_found");

    let reply = send(
        app(),
        req(
            "PATCH",
            "/api/sessions/s1",
            r#"{"title":null,"end_reason":"done"}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["session"]["end_reason"], "done");
    let reply = send(app(), req("PATCH", "/api/sessions/s1", r#"{"model":"x"}"#)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&reply)["code"], "unsupported_session_field");
    assert_eq!(error_of(&reply)["param"], "model");

    let reply = send(app(), req("DELETE", "/api/sessions/s1", Body::empty())).await;
    assert_eq!(
        reply.json(),
        json!({"object": "hermes.session.deleted", "id": "s1", "deleted": true})
    );

    let reply = send(
        app(),
        req(
            "GET",
            "/api/sessions/s1/messages?limit=1&after_id=4",
            Body::empty(),
        ),
    )
    .await;
    let json = reply.json();
    assert_eq!(json["session_id"], "s1");
    assert_eq!(json["data"][0]["id"], 5);
    assert_eq!(json["data"][0]["tool_calls"], Value::Null);
    assert_eq!(json["has_more"], true);

    let reply = send(app(), req("POST", "/api/sessions/s1/fork", Body::empty())).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.json()["session"]["parent_session_id"], "s1");
}

#[tokio::test]
async fn session_chat_and_missing_message() {
    let body = r#"{"input":"hello","instructions":"sys"}"#;
    let reply = send(app(), req("POST", "/api/sessions/s1/chat", body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({
            "object": "hermes.session.chat.completion",
            "session_id": "s1",
            "message": {"role": "assistant", "content": "echo hello / sys"},
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
        })
    );
    let reply = send(app(), req("POST", "/api/sessions/s1/chat", "{}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&reply)["code"], "missing_message");
}

#[tokio::test]
async fn session_chat_stream_named_events_and_midway_failure() {
    let reply = send(
        app(),
        req(
            "POST",
            "/api/sessions/s1/chat/stream",
            r#"{"message":"hi"}"#,
        ),
    )
    .await;
    let frames = sse_frames(&reply.text);
    let names: Vec<_> = frames.iter().map(|f| f.0.clone().unwrap()).collect();
    assert_eq!(names, ["run.started", "assistant.delta", "done"]);
    let started: Value = serde_json::from_str(&frames[0].1).unwrap();
    assert_eq!(
        started,
        json!({"user_message": "hi", "session_id": "s1", "run_id": "run-1", "seq": 1, "ts": 10.0})
    );

    let reply = send(
        app(),
        req(
            "POST",
            "/api/sessions/broken/chat/stream",
            r#"{"message":"hi"}"#,
        ),
    )
    .await;
    let frames = sse_frames(&reply.text);
    let names: Vec<_> = frames.iter().map(|f| f.0.clone().unwrap()).collect();
    assert_eq!(names, ["run.started", "assistant.delta", "error", "done"]);
    let error: Value = serde_json::from_str(&frames[2].1).unwrap();
    assert_eq!(error["message"], "upstream down");
    assert_eq!(error["seq"], 3);
    assert_eq!(error["run_id"], "run-1");
}
