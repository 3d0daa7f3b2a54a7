//! Chat streaming: exact OpenAI framing, the usage-only chunk, a reset mid-stream, and client
//! disconnects cancelling the upstream request and killing a running tool.

use super::*;

async fn stream_text(app: &TestApp, body: &Value) -> (reqwest::StatusCode, String) {
    let response = app
        .post("/v1/chat/completions")
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

fn data_frames(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn stream_framing_is_openai_exact() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("terminal", json!({"command": "echo hi"})).with_usage(10, 2));
    fake.push(Reply::text_chunks(vec!["Hel", "lo"]).with_usage(7, 3));
    let app = app_with(&fake).await;
    let mut body = user("stream please");
    body["stream"] = json!(true);
    let (status, text) = stream_text(&app, &body).await;
    assert_eq!(status, 200);
    // Chunks carry no `event:` line; tool progress is a named event.
    for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
        if block.starts_with("event: ") {
            assert!(
                block.starts_with("event: hermes.tool.progress\ndata: "),
                "{block}"
            );
            let data: Value = serde_json::from_str(block.split_once("data: ").unwrap().1).unwrap();
            assert_eq!(data["tool"], "terminal");
            assert!(data["toolCallId"].is_string());
            assert!(["running", "completed", "failed"].contains(&data["status"].as_str().unwrap()));
        } else {
            assert!(
                block.starts_with("data: ") || block.starts_with(':'),
                "{block}"
            );
        }
    }
    let frames = data_frames(&text);
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = frames
        .iter()
        .filter(|f| *f != "[DONE]")
        .map(|f| serde_json::from_str(f).unwrap())
        .filter(|v: &Value| v["object"] == "chat.completion.chunk")
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        content, "Hello",
        "text after a tool round with no earlier text has no prefix"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    // Usage is summed over both upstream calls of the turn.
    assert_eq!(last["usage"]["prompt_tokens"], 17);
    assert_eq!(last["usage"]["completion_tokens"], 5);
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty()),
        "no usage-only chunk unless asked"
    );
    assert!(text.contains("event: hermes.tool.progress"));
    app.stop().await;
}

#[tokio::test]
async fn include_usage_adds_one_usage_only_chunk() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("x").with_usage(5, 1));
    let app = app_with(&fake).await;
    let mut body = user("usage");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let (_, text) = stream_text(&app, &body).await;
    let frames = data_frames(&text);
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let usage_chunk: Value = serde_json::from_str(&frames[frames.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["total_tokens"], 6);
    app.stop().await;
}

#[tokio::test]
async fn upstream_500_is_retried_then_502() {
    let fake = FakeUpstream::start().await;
    for _ in 0..3 {
        fake.push(Reply::http_error(500, "boom"));
    }
    let app = app_with(&fake).await;
    let (status, _, body) = complete(&app, &user("hi")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(fake.request_count(), 3, "retried before giving up");
    let health: Value = app
        .get("/health/detailed")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["readiness"]["checks"]["upstream"]["status"], "error");
    app.stop().await;
}

#[tokio::test]
async fn reset_mid_stream_sends_an_error_chunk_then_done() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::reset_after(vec!["partial ", "answer"]));
    let app = app_with(&fake).await;
    let mut body = user("hi");
    body["stream"] = json!(true);
    let (status, text) = tokio::time::timeout(Duration::from_secs(20), stream_text(&app, &body))
        .await
        .expect("no hang");
    assert_eq!(status, 200);
    let frames = data_frames(&text);
    assert_eq!(frames.last().unwrap(), "[DONE]");
    let error_chunk: Value = serde_json::from_str(&frames[frames.len() - 2]).unwrap();
    assert_eq!(error_chunk["choices"][0]["finish_reason"], "error");
    assert!(error_chunk["error"]["message"].is_string());
    assert_eq!(error_chunk["error"]["code"], "upstream_unavailable");
    app.stop().await;
}

#[tokio::test]
async fn client_disconnect_cancels_the_upstream_request() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["a"; 50],
        Duration::from_millis(200),
    ));
    let app = app_with(&fake).await;
    let mut body = user("long");
    body["stream"] = json!(true);
    let mut response = app
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap();
    assert!(first.is_some());
    drop(response);
    assert!(
        fake.wait_for_disconnect(Duration::from_secs(10)).await,
        "the upstream request was not cancelled"
    );
    app.stop().await;
}

fn process_running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .output()
        .map(|out| !out.stdout.is_empty())
        .unwrap_or(false)
}

#[tokio::test]
async fn client_disconnect_kills_the_running_tool() {
    let fake = FakeUpstream::start().await;
    let marker = format!("caduceus-marker-{}", std::process::id());
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": format!("sleep 120 && echo {marker}")}),
    ));
    let app = app_with(&fake).await;
    let mut body = user("run something slow");
    body["stream"] = json!(true);
    let mut response = app
        .post("/v1/chat/completions")
        .json(&body)
        .send()
        .await
        .unwrap();
    // Wait until the tool is running (its progress event arrives), then hang up.
    let mut seen = String::new();
    while !seen.contains("\"running\"") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The progress event precedes the spawn by a hair: wait for the process to appear.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !process_running(&marker) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process_running(&marker), "tool process should be running");
    drop(response);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while process_running(&marker) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !process_running(&marker),
        "tool process survived the disconnect"
    );
    app.stop().await;
}
