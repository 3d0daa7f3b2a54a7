//! `ChatService` over gRPC: tool progress events, session metadata, and errors carrying the REST
//! code as `ErrorInfo.reason`; plus an upstream 4xx failing the turn.

use super::*;

fn grpc_user(text: &str) -> CreateChatCompletionRequest {
    CreateChatCompletionRequest {
        messages: vec![ChatMessage {
            role: "user".into(),
            content: Some(chat_message::Content::Text(text.into())),
            ..ChatMessage::default()
        }],
        ..CreateChatCompletionRequest::default()
    }
}

#[tokio::test]
async fn grpc_stream_reports_tool_progress_and_the_tool_really_runs() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call(
        "terminal",
        json!({"command": "echo grpc-$((6*7))"}),
    ));
    fake.push(Reply::text("done"));
    let app = app_with(&fake).await;
    let mut client = ChatServiceClient::new(app.channel().await);
    let mut stream = client
        .stream_chat_completion(authed(grpc_user("run")))
        .await
        .unwrap()
        .into_inner();
    let mut statuses = Vec::new();
    while let Some(event) = stream.message().await.unwrap() {
        if let Some(Event::ToolProgress(progress)) = event.event {
            assert_eq!(progress.tool, "terminal");
            statuses.push(progress.status);
        }
    }
    assert_eq!(statuses, vec!["running", "completed"]);
    let results = tool_results(&upstream_messages(&fake, 1)).join("\n");
    assert!(results.contains("grpc-42"), "{results}");
    app.stop().await;
}

#[tokio::test]
async fn grpc_session_metadata_continues_history() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("uno"));
    fake.push(Reply::text("dos"));
    let app = app_with(&fake).await;
    let mut client = ChatServiceClient::new(app.channel().await);
    for text in ["primero", "segundo"] {
        let mut request = authed(grpc_user(text));
        request
            .metadata_mut()
            .insert("x-hermes-session-id", "grpc-session-1".parse().unwrap());
        let response = client.create_chat_completion(request).await.unwrap();
        assert_eq!(
            response.metadata().get("x-hermes-session-id").unwrap(),
            "grpc-session-1"
        );
        assert_eq!(response.into_inner().session_id, "grpc-session-1");
    }
    let roles: Vec<String> = upstream_messages(&fake, 1)
        .iter()
        .map(|m| m["role"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(roles, vec!["system", "user", "assistant", "user"]);
    app.stop().await;
}

#[tokio::test]
async fn grpc_errors_carry_the_rest_code_as_reason() {
    use tonic_types::StatusExt;
    let fake = FakeUpstream::start().await;
    for _ in 0..3 {
        fake.push(Reply::http_error(503, "overloaded"));
    }
    let app = app_with(&fake).await;
    let mut client = ChatServiceClient::new(app.channel().await);
    let status = client
        .create_chat_completion(authed(grpc_user("hi")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "upstream_unavailable"
    );

    let status = client
        .create_chat_completion(authed(CreateChatCompletionRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "invalid_request");
    assert_eq!(
        info.metadata.get("param").map(String::as_str),
        Some("messages")
    );
    app.stop().await;
}

#[tokio::test]
async fn upstream_400_fails_the_turn_with_its_message() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::http_error_message(
        400,
        "model `fake-model` does not exist",
    ));
    let app = app_with(&fake).await;
    let (status, _, body) = complete(&app, &user("hi")).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_rejected");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
    assert_eq!(fake.request_count(), 1, "a 4xx is not retried");
    app.stop().await;
}
