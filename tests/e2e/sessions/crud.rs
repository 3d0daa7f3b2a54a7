//! Session CRUD over REST and gRPC: create (generated and chosen ids, every validation error),
//! get, list (paging, bounds, source filter, children, activity order), PATCH, DELETE and the
//! paginated message list.

use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_proto::v1::{
    CreateSessionRequest, GetSessionRequest, ListSessionMessagesRequest, ListSessionsRequest,
};
use caduceus_tests::app::{TestApp, authed};
use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;

use super::{assert_error, create, delete, patch, seed_messages, send};

#[tokio::test]
async fn create_get_patch_delete_round_trip() {
    let app = TestApp::spawn().await;
    let session = create(
        &app,
        json!({"title": "Brainstorm", "model": "m1", "system_prompt": "Be terse."}),
    )
    .await;
    let id = session["id"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = id.split('_').collect();
    assert_eq!(parts.len(), 3, "{id}");
    assert_eq!(parts[0], "api");
    assert!(parts[1].parse::<u64>().is_ok(), "{id}");
    assert!(parts[2].len() == 8 && parts[2].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(session["source"], "api_server");
    assert_eq!(session["title"], "Brainstorm");
    assert_eq!(session["model"], "m1");
    assert_eq!(session["has_system_prompt"], true);
    assert_eq!(session["message_count"], 0);
    assert_eq!(session["ended_at"], Value::Null);
    assert_eq!(session["parent_session_id"], Value::Null);
    assert!(session["started_at"].as_f64().unwrap() > 1.6e9);

    let (status, got) = send(app.get(&format!("/api/sessions/{id}"))).await;
    assert_eq!(status, 200);
    assert_eq!(got["object"], "hermes.session");
    assert_eq!(got["session"], session);

    let path = format!("/api/sessions/{id}");
    let body = json!({"title": "Renamed", "end_reason": "done"});
    let (status, updated) = send(patch(&app, &path).json(&body)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["session"]["title"], "Renamed");
    assert_eq!(updated["session"]["end_reason"], "done");
    assert!(updated["session"]["ended_at"].as_f64().is_some());

    // Empty strings (and null) clear.
    let body = json!({"title": "", "end_reason": null});
    let (status, cleared) = send(patch(&app, &path).json(&body)).await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["session"]["title"], Value::Null);
    assert_eq!(cleared["session"]["end_reason"], Value::Null);
    assert_eq!(cleared["session"]["ended_at"], Value::Null);

    seed_messages(&app, &id, 2).await;
    let (status, deleted) = send(delete(&app, &path)).await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({"object": "hermes.session.deleted", "id": id, "deleted": true})
    );
    let (messages, _) = app
        .state
        .store
        .list_messages(&id, None, None)
        .await
        .unwrap();
    assert!(messages.is_empty(), "messages deleted too");
    let (status, body) = send(app.get(&path)).await;
    assert_error(status, &body, 404, "session_not_found");
    let (status, body) = send(delete(&app, &path)).await;
    assert_error(status, &body, 404, "session_not_found");
    app.stop().await;
}

#[tokio::test]
async fn create_and_patch_errors() {
    let app = TestApp::spawn().await;
    let first = create(&app, json!({"id": "api_1234abcd", "title": "Taken"})).await;
    assert_eq!(first["id"], "api_1234abcd");
    create(&app, json!({"id": "other", "title": "Other"})).await;

    let cases = [
        (json!({"id": "api_1234abcd"}), 409, "session_exists"),
        (json!({"id": "a/b"}), 400, "invalid_session_id"),
        (json!({"id": "x..y"}), 400, "invalid_session_id"),
        (json!({"id": "x".repeat(257)}), 400, "invalid_session_id"),
        (json!({"title": "t".repeat(101)}), 400, "invalid_title"),
        (json!({"title": "Taken"}), 400, "invalid_title"),
    ];
    for (body, status_code, code) in cases {
        let (status, reply) = send(app.post("/api/sessions").json(&body)).await;
        assert_error(status, &reply, status_code, code);
    }
    let (status, reply) = send(app.post("/api/sessions").json(&json!({"title": "Taken"}))).await;
    assert_eq!(reply["error"]["param"], "title");
    assert_eq!(status, 400);
    // A 100-character title is fine.
    create(&app, json!({"title": "t".repeat(100)})).await;

    let path = "/api/sessions/other";
    let (status, reply) = send(patch(&app, path).json(&json!({"title": "Taken"}))).await;
    assert_error(status, &reply, 400, "invalid_title");
    let long = json!({"title": "t".repeat(101)});
    let (status, reply) = send(patch(&app, path).json(&long)).await;
    assert_error(status, &reply, 400, "invalid_title");
    let (status, reply) = send(patch(&app, path).json(&json!({"model": "x"}))).await;
    assert_error(status, &reply, 400, "unsupported_session_field");
    // Keeping its own title is not a clash.
    let (status, reply) = send(patch(&app, path).json(&json!({"title": "Other"}))).await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) =
        send(patch(&app, "/api/sessions/nope").json(&json!({"title": "x"}))).await;
    assert_error(status, &reply, 404, "session_not_found");
    let (status, reply) =
        send(patch(&app, "/api/sessions/nope").json(&json!({"end_reason": "x"}))).await;
    assert_error(status, &reply, 404, "session_not_found");
    app.stop().await;
}

#[tokio::test]
async fn list_pages_filters_and_orders_by_activity() {
    let app = TestApp::spawn().await;
    for id in ["s1", "s2", "s3"] {
        create(&app, json!({"id": id})).await;
    }
    // Activity in the oldest makes it the most recent.
    seed_messages(&app, "s1", 1).await;
    let store = &app.state.store;
    store
        .ensure_session("cli1", "cli", None, None)
        .await
        .unwrap();

    let (status, page) = send(app.get("/api/sessions?limit=2")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["object"], "list");
    assert_eq!(
        (page["limit"].clone(), page["offset"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(page["has_more"], true);
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), ["cli1", "s1"]);
    let (_, page) = send(app.get("/api/sessions?limit=2&offset=2")).await;
    assert_eq!(ids(&page), ["s3", "s2"]);
    assert_eq!(page["has_more"], false);
    let (_, page) = send(app.get("/api/sessions")).await;
    assert_eq!(page["limit"], 50);
    assert_eq!(page["has_more"], false);
    assert_eq!(ids(&page).len(), 4);
    assert_eq!(page["data"][1]["preview"], "message 0");

    let (_, page) = send(app.get("/api/sessions?source=api_server&include_children=")).await;
    assert_eq!(ids(&page), ["s1", "s3", "s2"]);
    let (_, page) = send(app.get("/api/sessions?source=cli")).await;
    assert_eq!(ids(&page), ["cli1"]);

    // Forks are children: hidden unless asked for.
    let (status, _) = send(
        app.post("/api/sessions/s2/fork")
            .json(&json!({"id": "kid"})),
    )
    .await;
    assert_eq!(status, 201);
    let (_, page) = send(app.get("/api/sessions")).await;
    assert!(!ids(&page).contains(&"kid".to_owned()));
    let (_, page) = send(app.get("/api/sessions?include_children=true")).await;
    assert_eq!(ids(&page)[0], "kid");

    for query in ["limit=0", "limit=201", "limit=-3"] {
        let (status, body) = send(app.get(&format!("/api/sessions?{query}"))).await;
        assert_error(status, &body, 400, "invalid_request");
        assert_eq!(body["error"]["param"], "limit", "{query}");
    }
    let (status, body) = send(app.get("/api/sessions?offset=-1")).await;
    assert_error(status, &body, 400, "invalid_request");
    assert_eq!(body["error"]["param"], "offset");
    app.stop().await;
}

#[tokio::test]
async fn messages_are_paginated() {
    let app = TestApp::spawn().await;
    create(&app, json!({"id": "paged"})).await;
    seed_messages(&app, "paged", 5).await;

    let (status, page) = send(app.get("/api/sessions/paged/messages")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["object"], "list");
    assert_eq!(page["session_id"], "paged");
    assert_eq!(page["has_more"], false);
    let all = page["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 5);
    let first = &all[0];
    assert_eq!(first["role"], "user");
    assert_eq!(first["content"], "message 0");
    assert_eq!(first["session_id"], "paged");
    for key in [
        "tool_call_id",
        "tool_calls",
        "tool_name",
        "token_count",
        "finish_reason",
    ] {
        assert_eq!(first[key], Value::Null, "{key}");
    }
    assert!(first["timestamp"].as_f64().is_some());

    let (_, page) = send(app.get("/api/sessions/paged/messages?limit=2")).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["has_more"], true);
    let cursor = page["data"][1]["id"].as_i64().unwrap();
    let path = format!("/api/sessions/paged/messages?limit=2&after_id={cursor}");
    let (_, page) = send(app.get(&path)).await;
    assert_eq!(page["data"][0]["content"], "message 2");
    assert_eq!(page["has_more"], true);
    let cursor = all[3]["id"].as_i64().unwrap();
    let path = format!("/api/sessions/paged/messages?limit=2&after_id={cursor}");
    let (_, page) = send(app.get(&path)).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_more"], false);

    let (status, body) = send(app.get("/api/sessions/nope/messages")).await;
    assert_error(status, &body, 404, "session_not_found");
    let (status, body) = send(app.get("/api/sessions/paged/messages?limit=0")).await;
    assert_error(status, &body, 400, "invalid_request");
    let (status, body) = send(app.get("/api/sessions/paged/messages?after_id=-1")).await;
    assert_error(status, &body, 400, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn crud_over_grpc() {
    let app = TestApp::spawn().await;
    let mut client = SessionServiceClient::new(app.channel().await);
    let created = client
        .create_session(authed(CreateSessionRequest {
            title: Some("gRPC".into()),
            ..CreateSessionRequest::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert!(created.id.starts_with("api_"));
    assert_eq!(created.source, "api_server");

    let got = client
        .get_session(authed(GetSessionRequest {
            id: created.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.session.unwrap().title.as_deref(), Some("gRPC"));
    let page = client
        .list_sessions(authed(ListSessionsRequest::default()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.limit, 50);
    assert_eq!(page.data.len(), 1);

    let status = client
        .get_session(authed(GetSessionRequest { id: "nope".into() }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "session_not_found"
    );
    let status = client
        .create_session(authed(CreateSessionRequest {
            id: Some(created.id.clone()),
            ..CreateSessionRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    let status = client
        .list_session_messages(authed(ListSessionMessagesRequest {
            session_id: "nope".into(),
            ..ListSessionMessagesRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let status = client
        .list_sessions(authed(ListSessionsRequest {
            limit: Some(500),
            ..ListSessionsRequest::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    app.stop().await;
}
