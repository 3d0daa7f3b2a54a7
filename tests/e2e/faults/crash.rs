//! kill -9 of the real binary mid-turn — during a slow upstream stream (with a run going too) and
//! during a slow tool — then a restart on the same SQLite home: the database opens and passes
//! `integrity_check`, every message committed before the kill is there, no turn is shown as
//! complete that was not, runs are `interrupted`, and sessions and runs work again (a crashed
//! tool call is answered with a placeholder so providers accept the history).

use std::time::Duration;

use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::fault_yaml;
use super::process::{Proc, SseReader, integrity_check, stored, wait_run};

fn chat_body(text: &str, stream: bool) -> Value {
    json!({"stream": stream, "messages": [{"role": "user", "content": text}]})
}

async fn home_for(fake: &FakeUpstream) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.yaml"),
        fault_yaml(&fake.base_url()),
    )
    .unwrap();
    home
}

async fn start_run(proc: &Proc, input: &str) -> String {
    let run: Value = proc
        .post("/v1/runs")
        .json(&json!({"input": input}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    run["run_id"].as_str().unwrap().to_owned()
}

fn triple(role: &str, finish: &str, content: &str) -> (String, String, String) {
    (role.into(), finish.into(), content.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_slow_stream_keeps_committed_turns_and_no_half_turn() {
    let fake = FakeUpstream::start().await;
    let home = home_for(&fake).await;
    let proc = Proc::start(home.path(), 5).await;
    let session = "crash-stream";

    fake.push(Reply::text("first answer"));
    let first = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&chat_body("first question", false))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);

    let slow = |n: usize| {
        let words: Vec<String> = (0..n).map(|i| format!("w{i} ")).collect();
        Reply::slow_chunks(words, Duration::from_millis(300))
    };
    fake.push(slow(30));
    let response = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&chat_body("second question", true))
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(response);
    assert!(stream.until("w1 ").await, "{}", stream.text);
    fake.push(slow(30));
    let run_id = start_run(&proc, "a run that will be cut").await;
    assert!(fake.wait_for_requests(3, Duration::from_secs(5)).await);

    proc.kill9();
    assert_eq!(integrity_check(home.path()).await, "ok");

    let proc = Proc::start(home.path(), 5).await;
    let messages = stored(&proc, session).await;
    assert_eq!(
        messages,
        vec![
            triple("user", "", "first question"),
            triple("assistant", "stop", "first answer"),
            triple("user", "", "second question"),
        ],
        "the committed turn survives; the cut one is not shown as answered"
    );
    let run = wait_run(&proc, &run_id, "interrupted").await;
    assert!(run["error"].is_string(), "{run}");

    // The session and runs work again.
    fake.push(Reply::text("third answer"));
    let third = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&chat_body("third question", false))
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 200);
    let messages = stored(&proc, session).await;
    assert_eq!(
        messages.last().unwrap(),
        &triple("assistant", "stop", "third answer")
    );
    fake.push(Reply::text("run output"));
    let run_id = start_run(&proc, "a fresh run").await;
    let run = wait_run(&proc, &run_id, "completed").await;
    assert_eq!(run["output"], "run output");
    proc.sigterm();
    assert!(proc.wait_exit(Duration::from_secs(10)).await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_a_slow_tool_then_the_session_continues() {
    let fake = FakeUpstream::start().await;
    let home = home_for(&fake).await;
    let proc = Proc::start(home.path(), 5).await;
    let session = "crash-tool";

    fake.push(Reply::tool_call("terminal", json!({"command": "sleep 8"})));
    let response = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&chat_body("run the slow thing", true))
        .send()
        .await
        .unwrap();
    let mut stream = SseReader::new(response);
    assert!(
        stream.until("\"status\":\"running\"").await,
        "{}",
        stream.text
    );

    proc.kill9();
    assert_eq!(integrity_check(home.path()).await, "ok");

    let proc = Proc::start(home.path(), 5).await;
    let messages = stored(&proc, session).await;
    let roles: Vec<(&str, &str)> = messages
        .iter()
        .map(|(role, finish, _)| (role.as_str(), finish.as_str()))
        .collect();
    assert_eq!(
        roles,
        vec![("user", ""), ("assistant", "tool_calls")],
        "the tool call was committed, no answer is shown"
    );

    fake.push(Reply::text("recovered"));
    let next = proc
        .post("/v1/chat/completions")
        .header("X-Hermes-Session-Id", session)
        .json(&chat_body("are you there?", false))
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);
    // The upstream got a well-formed history: the cut call is answered by a placeholder.
    let sent = fake.last_request().unwrap().messages();
    let roles: Vec<&str> = sent.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(sent[3]["tool_call_id"], sent[2]["tool_calls"][0]["id"]);
    assert!(
        sent[3]["content"].as_str().unwrap().contains("interrupted"),
        "{}",
        sent[3]
    );
    proc.sigterm();
    assert!(proc.wait_exit(Duration::from_secs(10)).await.success());
}
