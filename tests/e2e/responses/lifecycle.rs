//! Stored-response lifecycle end to end: background cancel (and who may be cancelled), delete,
//! least-recently-used eviction at capacity, and failed turns (`status: failed` with `error`).

use std::time::Duration;

use caduceus_tests::app::{TEST_KEY, TestApp, TestOptions, upstream_config};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::{app_with, create, get, sse_events, wait_for_status};

#[tokio::test]
async fn cancel_stops_a_background_response() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::slow_chunks(
        vec!["y"; 100],
        Duration::from_millis(100),
    ));
    fake.push(Reply::text("quick"));
    let app = app_with(&fake).await;
    let (_, _, queued) = create(&app, &json!({"input": "long", "background": true})).await;
    let id = queued["id"].as_str().unwrap().to_owned();
    wait_for_status(&app, &id, &["in_progress"]).await;
    assert!(fake.wait_for_requests(1, Duration::from_secs(10)).await);
    let response = app
        .post(&format!("/v1/responses/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled");
    assert!(
        fake.wait_for_disconnect(Duration::from_secs(10)).await,
        "the turn was not stopped"
    );
    let (_, stored) = get(&app, &format!("/v1/responses/{id}")).await;
    assert_eq!(stored["status"], "cancelled");
    // Cancelling again answers the same; a finished or foreground response is not cancellable.
    let again = app
        .post(&format!("/v1/responses/{id}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let (_, _, done) = create(&app, &json!({"input": "short"})).await;
    let refused = app
        .post(&format!(
            "/v1/responses/{}/cancel",
            done["id"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "response_not_cancellable");
    let missing = app
        .post("/v1/responses/resp_missing/cancel")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn delete_then_get_is_404() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let (_, _, created) = create(&app, &json!({"input": "x"})).await;
    let id = created["id"].as_str().unwrap();
    let response = app
        .http
        .delete(app.url(&format!("/v1/responses/{id}")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"id": id, "object": "response", "deleted": true})
    );
    let (status, body) = get(&app, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "response_not_found");
    let again = app
        .http
        .delete(app.url(&format!("/v1/responses/{id}")))
        .bearer_auth(TEST_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let (status, _, _) = create(&app, &json!({"input": "y", "previous_response_id": id})).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_least_recently_used_response_is_evicted_at_capacity() {
    let fake = FakeUpstream::start().await;
    let yaml = upstream_config(&fake.base_url(), "responses:\n  max_stored: 2\n");
    let app = TestApp::spawn_with(TestOptions {
        config_yaml: Some(yaml),
        ..TestOptions::default()
    })
    .await;
    let mut ids = Vec::new();
    for input in ["one", "two"] {
        let (_, _, body) = create(&app, &json!({"input": input})).await;
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    // Touch the oldest: the other one becomes least recently used.
    assert_eq!(get(&app, &format!("/v1/responses/{}", ids[0])).await.0, 200);
    let (_, _, third) = create(&app, &json!({"input": "three"})).await;
    ids.push(third["id"].as_str().unwrap().to_owned());
    assert_eq!(get(&app, &format!("/v1/responses/{}", ids[1])).await.0, 404);
    assert_eq!(get(&app, &format!("/v1/responses/{}", ids[0])).await.0, 200);
    assert_eq!(get(&app, &format!("/v1/responses/{}", ids[2])).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_turn_is_status_failed_with_an_error() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error_message(
        400,
        "model `fake-model` does not exist",
    ));
    fake.push(Reply::http_error_message(400, "still missing"));
    let app = app_with(&fake).await;
    let (status, _, body) = create(&app, &json!({"input": "x"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["code"], "upstream_rejected");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(body["output"], json!([]));
    let (_, stored) = get(
        &app,
        &format!("/v1/responses/{}", body["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(stored["status"], "failed");

    let text = app
        .post("/v1/responses")
        .json(&json!({"input": "x", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_events(&text);
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "response.failed", "{text}");
    assert_eq!(last["response"]["error"]["code"], "upstream_rejected");
    app.stop().await;
}

#[tokio::test]
async fn a_response_orphaned_by_a_dead_process_ends_failed_and_can_be_continued() {
    use caduceus_proto::v1::Response as ResponseObject;
    use caduceus_service::store::responses::ResponseRow;
    use prost::Message as _;

    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("continued"));
    let app = app_with(&fake).await;
    // What a process that died mid-turn leaves behind: a live row nobody heartbeats any more.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let object = ResponseObject {
        id: "resp_orphan".into(),
        status: "in_progress".into(),
        background: true,
        ..ResponseObject::default()
    };
    let row = ResponseRow {
        id: object.id.clone(),
        status: object.status.clone(),
        background: true,
        session_id: "resp_orphan".into(),
        conversation: None,
        previous_response_id: None,
        created_at: now - 300.0,
        updated_at: now - 300.0,
        object: object.encode_to_vec(),
        transcript: json!([{"role": "user", "content": "before the crash"}]).to_string(),
        input_items: Vec::new(),
    };
    app.state.store.insert_response(&row, 0).await.unwrap();

    let (status, stored) = get(&app, "/v1/responses/resp_orphan").await;
    assert_eq!(status, 200);
    assert_eq!(stored["status"], "failed");
    assert_eq!(stored["error"]["code"], "response_interrupted");
    let (status, _, next) = create(
        &app,
        &json!({"input": "again", "previous_response_id": "resp_orphan"}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["output_text"], "continued");
    let sent = fake.requests()[0].messages();
    assert_eq!(sent[1]["content"], "before the crash");
    app.stop().await;
}
