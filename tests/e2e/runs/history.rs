//! Where a run's history comes from: a stored session (`session_id`, its turn stored there too)
//! or a stored response (`previous_response_id`: its transcript, then the run's input).

use caduceus_service::store::NewMessage;
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

use super::support::*;

#[tokio::test]
async fn session_id_loads_stored_history_and_keeps_the_turn() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("continuing"));
    let app = app_with(&fake, "").await;
    let store = &app.state.store;
    store
        .ensure_session("proj-42", "api_server", None, None)
        .await
        .unwrap();
    store
        .append_message(
            "proj-42",
            NewMessage::text("user", "remember the number 42"),
        )
        .await
        .unwrap();
    store
        .append_message("proj-42", NewMessage::text("assistant", "noted"))
        .await
        .unwrap();
    let run_id = start_run(
        &app,
        json!({"input": "what number?", "session_id": "proj-42",
               "conversation_history": [{"role": "user", "content": "ignored"}]}),
    )
    .await;
    let run = wait_status(&app, &run_id, "completed").await;
    assert_eq!(run["session_id"], "proj-42");
    let sent: Vec<String> = fake.requests()[0]
        .messages()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent, ["remember the number 42", "noted", "what number?"]);
    let (messages, _) = store.list_messages("proj-42", None, None).await.unwrap();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[3].content.as_deref(), Some("continuing"));
    app.stop().await;
}

#[tokio::test]
async fn previous_response_id_continues_a_stored_response() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("Paris"));
    fake.push(Reply::text("About two million"));
    let app = app_with(&fake, "").await;
    let response = app
        .post("/v1/responses")
        .json(&json!({"input": "Capital of France?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stored: Value = response.json().await.unwrap();
    let previous = stored["id"].as_str().unwrap();
    let run_id = start_run(
        &app,
        json!({"input": "How many people live there?", "previous_response_id": previous}),
    )
    .await;
    let run = wait_status(&app, &run_id, "completed").await;
    assert_eq!(run["output"], "About two million");
    let sent: Vec<String> = fake.requests()[1]
        .messages()
        .iter()
        .skip(1)
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        sent,
        ["Capital of France?", "Paris", "How many people live there?"]
    );
    app.stop().await;
}
