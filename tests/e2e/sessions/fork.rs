//! Forking: every message copied, `parent_session_id` set, the source ended `branched`, default
//! titles `"<title> #2"`, `#3`… (`"fork"` when untitled), chosen ids and titles, and each error.

use caduceus_proto::v1::ForkSessionRequest;
use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_tests::app::{TestApp, authed};
use serde_json::{Value, json};
use tonic::Code;

use super::{assert_error, create, seed_messages, send};

async fn fork(app: &TestApp, source: &str, body: Value) -> (reqwest::StatusCode, Value) {
    send(
        app.post(&format!("/api/sessions/{source}/fork"))
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn fork_copies_messages_and_numbers_titles() {
    let app = TestApp::spawn().await;
    create(
        &app,
        json!({"id": "plan", "title": "Plan", "model": "m1", "system_prompt": "Be kind."}),
    )
    .await;
    seed_messages(&app, "plan", 3).await;

    let (status, forked) = fork(&app, "plan", json!({})).await;
    assert_eq!(status, 201, "{forked}");
    assert_eq!(forked["object"], "hermes.session");
    let child = &forked["session"];
    let child_id = child["id"].as_str().unwrap().to_owned();
    assert!(child_id.starts_with("api_"), "{child_id}");
    assert_eq!(child["parent_session_id"], "plan");
    assert_eq!(child["title"], "Plan #2");
    assert_eq!(child["model"], "m1");
    assert_eq!(child["has_system_prompt"], true);
    assert_eq!(child["message_count"], 3);
    assert_eq!(child["ended_at"], Value::Null);

    let (_, source) = send(app.get("/api/sessions/plan")).await;
    assert_eq!(source["session"]["end_reason"], "branched");
    assert!(source["session"]["ended_at"].as_f64().is_some());

    let (_, original) = send(app.get("/api/sessions/plan/messages")).await;
    let (_, copied) = send(app.get(&format!("/api/sessions/{child_id}/messages"))).await;
    let text = |page: &Value| -> Vec<(String, String)> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let role = m["role"].as_str().unwrap().to_owned();
                (role, m["content"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    assert_eq!(text(&copied).len(), 3);
    assert_eq!(text(&copied), text(&original));
    assert_eq!(copied["data"][0]["session_id"], child_id.as_str());

    let (status, third) = fork(&app, "plan", json!({})).await;
    assert_eq!(status, 201, "{third}");
    assert_eq!(third["session"]["title"], "Plan #3");
    // Forking a fork continues the numbering of the base title.
    let (_, fourth) = fork(&app, &child_id, json!({})).await;
    assert_eq!(fourth["session"]["title"], "Plan #4");

    let (status, chosen) = fork(&app, "plan", json!({"id": "chosen", "title": "Mine"})).await;
    assert_eq!(status, 201, "{chosen}");
    assert_eq!(chosen["session"]["id"], "chosen");
    assert_eq!(chosen["session"]["title"], "Mine");

    create(&app, json!({"id": "untitled"})).await;
    let (_, first) = fork(&app, "untitled", json!({})).await;
    assert_eq!(first["session"]["title"], "fork");
    let (_, second) = fork(&app, "untitled", json!({})).await;
    assert_eq!(second["session"]["title"], "fork #2");
    app.stop().await;
}

#[tokio::test]
async fn fork_errors() {
    let app = TestApp::spawn().await;
    create(&app, json!({"id": "src", "title": "Source"})).await;
    create(&app, json!({"id": "taken"})).await;

    let (status, body) = fork(&app, "nope", json!({})).await;
    assert_error(status, &body, 404, "session_not_found");
    let (status, body) = fork(&app, "src", json!({"id": "taken"})).await;
    assert_error(status, &body, 409, "session_exists");
    let (status, body) = fork(&app, "src", json!({"id": "../etc"})).await;
    assert_error(status, &body, 400, "invalid_session_id");
    let (status, body) = fork(&app, "src", json!({"title": "t".repeat(101)})).await;
    assert_error(status, &body, 400, "invalid_title");
    let (status, body) = fork(&app, "src", json!({"title": "Source"})).await;
    assert_error(status, &body, 400, "invalid_title");
    // Nothing above touched the source.
    let (_, source) = send(app.get("/api/sessions/src")).await;
    assert_eq!(source["session"]["end_reason"], Value::Null);

    // A body is optional.
    let response = app.post("/api/sessions/src/fork").send().await.unwrap();
    assert_eq!(response.status(), 201);

    let mut client = SessionServiceClient::new(app.channel().await);
    let forked = client
        .fork_session(authed(ForkSessionRequest {
            id: "src".into(),
            new_id: Some("grpc-fork".into()),
            title: None,
        }))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(forked.parent_session_id.as_deref(), Some("src"));
    assert_eq!(forked.title.as_deref(), Some("Source #3"));
    let status = client
        .fork_session(authed(ForkSessionRequest {
            id: "nope".into(),
            ..ForkSessionRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    app.stop().await;
}
