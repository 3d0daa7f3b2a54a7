//! SIGTERM on the real binary during a streaming chat and a running run: while draining, new
//! agent work gets 503 `gateway_draining` with `Retry-After: 1` (REST and gRPC), the streaming turn
//! finishes within the grace period, the run still going at the end of the grace period is
//! `interrupted`, the process exits 0, and after a restart everything committed is there.

use std::time::{Duration, Instant};

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::{ChatMessage, CreateChatCompletionRequest, chat_message};
use caduceus_tests::app::authed;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};
use tonic_types::StatusExt;

use super::fault_yaml;
use super::process::{Proc, SseReader, stored, wait_run};

const GRACE_SECONDS: u64 = 3;

fn chat_body(stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": "count for me"}]})
}

async fn assert_draining_refusal(proc: &Proc) {
    let response = proc
        .post("/v1/chat/completions")
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "gateway_draining", "{body}");
    let response = proc
        .post("/v1/runs")
        .json(&json!({"input": "more work"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let channel = tonic::transport::Endpoint::from_shared(proc.url(""))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = ChatServiceClient::new(channel)
        .create_chat_completion(authed(CreateChatCompletionRequest {
            messages: vec![ChatMessage {
                role: "user".into(),
                content: Some(chat_message::Content::Text("hi".into())),
                ..ChatMessage::default()
            }],
            ..CreateChatCompletionRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "gateway_draining"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_new_work_finishes_the_turn_interrupts_the_run_and_exits_zero() {
    let fake = FakeUpstream::start().await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        fault_yaml(&fake.base_url()),
    )
    .unwrap();
    let proc = Proc::start(home.path(), GRACE_SECONDS).await;

    // A run busy in a tool that outlasts the grace period.
    fake.push(Reply::tool_call("terminal", json!({"command": "sleep 12"})));
    let run: Value = proc
        .post("/v1/runs")
        .json(&json!({"input": "long job"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let run_id = run["run_id"].as_str().unwrap().to_owned();
    assert!(fake.wait_for_requests(1, Duration::from_secs(5)).await);

    // A streaming chat, a word every 200 ms.
    let words = ["one ", "two ", "three ", "four ", "five ", "six"];
    fake.push(Reply::slow_chunks(
        words.to_vec(),
        Duration::from_millis(200),
    ));
    let response = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", "drain-session")
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = SseReader::new(response);
    assert!(stream.until("one").await, "{}", stream.text);

    proc.sigterm();
    let signalled = Instant::now();
    let deadline = signalled + Duration::from_secs(5);
    while proc.json("/health/detailed").await["gateway_state"] != "draining" {
        assert!(Instant::now() < deadline, "never reported draining");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_draining_refusal(&proc).await;

    // The running turn finishes normally.
    let text = stream.rest().await.to_owned();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
    assert!(!text.contains("\"error\""), "{text}");

    let status = proc.wait_exit(Duration::from_secs(GRACE_SECONDS + 5)).await;
    assert!(status.success(), "exit status {status:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(GRACE_SECONDS + 2),
        "exited {:?} after SIGTERM",
        signalled.elapsed()
    );

    // Nothing committed was lost; the run was interrupted, not left running.
    let proc = Proc::start(home.path(), GRACE_SECONDS).await;
    let messages = stored(&proc, "drain-session").await;
    let answer: String = words.concat();
    assert_eq!(
        messages,
        vec![
            ("user".into(), String::new(), "count for me".into()),
            ("assistant".into(), "stop".into(), answer),
        ]
    );
    wait_run(&proc, &run_id, "interrupted").await;
    proc.sigterm();
    assert!(proc.wait_exit(Duration::from_secs(10)).await.success());
}
