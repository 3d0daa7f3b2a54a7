//! The Responses event stream end to end: the exact OpenAI sequence with contiguous sequence
//! numbers, replay after `starting_after`, a live follower of a background response, and a client
//! that disconnects mid-stream (stored `incomplete`).

use std::time::Duration;

use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::json;

use super::{app_with, create, get, sse_events, wait_for_status};

#[tokio::test]
async fn stream_follows_the_openai_event_schema() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "echo from-the-tool"}),
    ));
    fake.push(Reply::text_chunks(vec!["Hel", "lo"]).with_usage(7, 3));
    let app = app_with(&fake).await;
    let response = app
        .post("/v1/responses")
        .json(&json!({"input": "run it", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    assert!(response.headers().get("x-hermes-session-id").is_some());
    let text = response.text().await.unwrap();
    assert!(!text.contains("[DONE]"));
    let events = sse_events(&text);
    let kinds: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ],
        "{text}"
    );
    for (n, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], n as u64, "contiguous from 0");
    }
    assert_eq!(events[0].1["response"]["status"], "in_progress");
    let call = &events[2].1["item"];
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("function_call"), Some("terminal"))
    );
    assert!(call["id"].as_str().unwrap().starts_with("fc_"));
    assert_eq!(
        events[4].1["arguments"],
        json!({"command": "echo from-the-tool"}).to_string()
    );
    let result = &events[7].1["item"];
    assert_eq!(result["type"], "function_call_output");
    assert!(result["id"].as_str().unwrap().starts_with("fco_"));
    assert_eq!(result["call_id"], call["call_id"]);
    assert!(result["output"].as_str().unwrap().contains("from-the-tool"));
    assert_eq!(events[10].1["delta"], "Hel");
    assert_eq!(events[10].1["logprobs"], json!([]));
    assert_eq!(events[12].1["text"], "Hello");
    let done = &events[15].1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output_text"], "Hello");
    let output = done["output"].as_array().unwrap();
    assert_eq!(
        output
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["function_call", "function_call_output", "message"]
    );
    assert_eq!(done["usage"]["output_tokens"], 3 + 5);

    // The stored object is the final one.
    let (_, stored) = get(
        &app,
        &format!("/v1/responses/{}", done["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(&stored, done);
    app.stop().await;
}

#[tokio::test]
async fn stored_events_replay_after_starting_after_then_end() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text_chunks(vec!["a", "b", "c"]));
    let app = app_with(&fake).await;
    let (_, _, created) = create(&app, &json!({"input": "x"})).await;
    let id = created["id"].as_str().unwrap();
    let text = app
        .get(&format!("/v1/responses/{id}?stream=true&starting_after=4"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    let numbers: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    // created, in_progress, item.added, part.added, 3 deltas, text.done, part.done, item.done,
    // completed: 0..=10.
    assert_eq!(numbers, (5..=10).collect::<Vec<_>>(), "{text}");
    assert_eq!(events[0].0, "response.output_text.delta");
    assert_eq!(events.last().unwrap().0, "response.completed");
    let all = sse_events(
        &app.get(&format!("/v1/responses/{id}?stream=true"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    assert_eq!(all.len(), 11);
    assert_eq!(all[0].0, "response.created");
    app.stop().await;
}

#[tokio::test]
async fn background_runs_detached_and_a_follower_sees_every_event_live() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(vec!["x"; 8], Duration::from_millis(100)));
    let app = app_with(&fake).await;
    let (status, _, queued) = create(&app, &json!({"input": "slow", "background": true})).await;
    assert_eq!(status, 200, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["background"], true);
    let id = queued["id"].as_str().unwrap().to_owned();
    fake.wait_for_requests(1, Duration::from_secs(10)).await;
    let text = app
        .get(&format!("/v1/responses/{id}?stream=true&starting_after=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    let numbers: Vec<u64> = events
        .iter()
        .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (2..2 + numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "no gap, no duplicate: {text}");
    assert_eq!(events.last().unwrap().0, "response.completed");
    let done = wait_for_status(&app, &id, &["completed"]).await;
    assert_eq!(done["output_text"], "xxxxxxxx");
    app.stop().await;
}

#[tokio::test]
async fn a_disconnected_stream_is_stored_incomplete() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["partial "; 50],
        Duration::from_millis(100),
    ));
    let app = app_with(&fake).await;
    let mut response = app
        .post("/v1/responses")
        .json(&json!({"input": "long", "stream": true}))
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("response.output_text.delta") {
        let chunk = response.chunk().await.unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let created = &sse_events(&seen)[0].1["response"];
    let id = created["id"].as_str().unwrap().to_owned();
    drop(response);
    assert!(fake.wait_for_disconnect(Duration::from_secs(10)).await);
    let stored = wait_for_status(&app, &id, &["incomplete"]).await;
    let message = &stored["output"][0];
    assert_eq!(message["type"], "message");
    assert_eq!(message["status"], "incomplete");
    assert!(
        message["content"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("partial")
    );
    app.stop().await;
}
