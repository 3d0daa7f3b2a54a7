//! Many concurrent writers on one SQLite file — 50 session chats, session creates and deletes
//! and runs, spread over two servers sharing the file — never surface `database is locked` as a
//! 500/503: every request succeeds and every run completes.

use std::time::{Duration, Instant};

use caduceus_tests::app::{TestApp, TestOptions};
use caduceus_tests::fake_upstream::FakeUpstream;
use futures::future::join_all;
use serde_json::{Value, json};

use super::fault_yaml;

const CHATS: usize = 50;

async fn spawn(fake: &FakeUpstream, database_url: Option<String>) -> TestApp {
    let yaml = format!(
        "{}gateway:\n  api_server:\n    max_concurrent_runs: 0\n",
        fault_yaml(&fake.base_url())
    );
    TestApp::spawn_with(TestOptions {
        config_yaml: Some(yaml),
        database_url,
        ..TestOptions::default()
    })
    .await
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_on_one_sqlite_file_never_fail() {
    let fake = FakeUpstream::start().await;
    let first = spawn(&fake, None).await;
    let url = first.state.config.database_url.clone();
    if !url.starts_with("sqlite:") {
        return; // PostgreSQL has no file lock to contend on.
    }
    let second = spawn(&fake, Some(url)).await;
    let apps = [&first, &second];
    let started = Instant::now();

    let chats = (0..CHATS).map(|i| {
        let app = apps[i % 2];
        async move {
            send(
                app.post(&format!("/api/sessions/lock-chat-{i}/chat"))
                    .json(&json!({"message": format!("hello {i}")})),
            )
            .await
        }
    });
    let churn = (0..CHATS).map(|i| {
        let app = apps[(i + 1) % 2];
        async move {
            let id = format!("lock-churn-{i}");
            let created = send(app.post("/api/sessions").json(&json!({"id": id}))).await;
            let deleted = send(
                app.http
                    .delete(app.url(&format!("/api/sessions/{id}")))
                    .bearer_auth(caduceus_tests::app::TEST_KEY),
            )
            .await;
            (created, deleted)
        }
    });
    let runs = (0..10).map(|i| {
        let app = apps[i % 2];
        async move {
            send(
                app.post("/v1/runs")
                    .json(&json!({"input": format!("run {i}")})),
            )
            .await
        }
    });
    let (chats, churn, runs) = tokio::join!(join_all(chats), join_all(churn), join_all(runs));

    for (status, body) in &chats {
        assert_eq!(*status, 200, "{body}");
    }
    for ((created, created_body), (deleted, deleted_body)) in &churn {
        assert_eq!(*created, 201, "{created_body}");
        assert_eq!(*deleted, 200, "{deleted_body}");
    }
    for (status, body) in &runs {
        assert_eq!(*status, 202, "{body}");
        let run_id = body["run_id"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, run) = send(first.get(&format!("/v1/runs/{run_id}"))).await;
            if run["status"] == "completed" {
                break;
            }
            assert_ne!(run["status"], "failed", "{run}");
            assert!(Instant::now() < deadline, "{run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert!(started.elapsed() < Duration::from_secs(30));

    // Every chat turn is stored complete.
    for i in [0, CHATS / 2, CHATS - 1] {
        let (_, body) = send(first.get(&format!("/api/sessions/lock-chat-{i}/messages"))).await;
        let roles: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant"], "{body}");
    }
    second.stop().await;
    first.stop().await;
}
