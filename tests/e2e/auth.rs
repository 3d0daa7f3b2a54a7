//! Every route family refuses a missing or wrong key — the exact OpenAI envelope on REST,
//! `UNAUTHENTICATED` on gRPC — while `/health` and gRPC health stay open.

use caduceus_proto::v1::chat_service_client::ChatServiceClient;
use caduceus_proto::v1::discovery_service_client::DiscoveryServiceClient;
use caduceus_proto::v1::job_service_client::JobServiceClient;
use caduceus_proto::v1::responses_service_client::ResponsesServiceClient;
use caduceus_proto::v1::run_service_client::RunServiceClient;
use caduceus_proto::v1::session_service_client::SessionServiceClient;
use caduceus_proto::v1::*;
use caduceus_tests::app::{TestApp, authed};
use serde_json::{Value, json};
use tonic_types::StatusExt;

/// One route of each family (and more), with a body where the route takes one.
const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/health/detailed"),
    ("GET", "/v1/models"),
    ("GET", "/v1/capabilities"),
    ("GET", "/v1/skills"),
    ("GET", "/v1/toolsets"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/resp_x"),
    ("DELETE", "/v1/responses/resp_x"),
    ("GET", "/api/sessions"),
    ("POST", "/api/sessions"),
    ("GET", "/api/sessions/s1"),
    ("PATCH", "/api/sessions/s1"),
    ("DELETE", "/api/sessions/s1"),
    ("GET", "/api/sessions/s1/messages"),
    ("POST", "/api/sessions/s1/fork"),
    ("POST", "/api/sessions/s1/chat"),
    ("POST", "/api/sessions/s1/chat/stream"),
    ("POST", "/v1/runs"),
    ("GET", "/v1/runs/run_x"),
    ("GET", "/v1/runs/run_x/events"),
    ("POST", "/v1/runs/run_x/approval"),
    ("POST", "/v1/runs/run_x/stop"),
    ("GET", "/api/jobs"),
    ("POST", "/api/jobs"),
    ("GET", "/api/jobs/abc"),
    ("PATCH", "/api/jobs/abc"),
    ("DELETE", "/api/jobs/abc"),
    ("POST", "/api/jobs/abc/pause"),
    ("POST", "/api/jobs/abc/resume"),
    ("POST", "/api/jobs/abc/run"),
];

fn expected_envelope() -> Value {
    json!({"error": {"message": "Invalid API key", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
}

#[tokio::test]
async fn every_rest_route_rejects_missing_and_wrong_keys() {
    let app = TestApp::spawn().await;
    for (method, path) in PROTECTED {
        for key in [None, Some("wrong-key-0123456789abcdef")] {
            let mut request = app
                .http
                .request(method.parse().unwrap(), app.url(path))
                .header("content-type", "application/json");
            if *method != "GET" && *method != "DELETE" {
                request = request.body(r#"{"messages":[{"role":"user","content":"hi"}]}"#);
            }
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} key={key:?}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body, expected_envelope(), "{method} {path} key={key:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn health_is_open_on_rest_and_grpc() {
    let app = TestApp::spawn().await;
    for path in ["/health", "/v1/health"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["platform"], "hermes-agent");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    }
    let channel = app.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let answer = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "caduceus.v1.ChatService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let mut discovery = DiscoveryServiceClient::new(channel);
    let health = discovery
        .get_health(GetHealthRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, "ok");
    app.stop().await;
}

fn assert_unauthenticated<T: std::fmt::Debug>(result: Result<T, tonic::Status>, what: &str) {
    let status = result.expect_err(what);
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{what}");
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("invalid_api_key"), "{what}");
}

fn wrong_key<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        "Bearer wrong-key-0123456789abcdef".parse().unwrap(),
    );
    request
}

#[tokio::test]
async fn every_grpc_service_rejects_missing_and_wrong_keys() {
    let app = TestApp::spawn().await;
    let channel = app.channel().await;
    let mut discovery = DiscoveryServiceClient::new(channel.clone());
    let mut chat = ChatServiceClient::new(channel.clone());
    let mut responses = ResponsesServiceClient::new(channel.clone());
    let mut sessions = SessionServiceClient::new(channel.clone());
    let mut runs = RunServiceClient::new(channel.clone());
    let mut jobs = JobServiceClient::new(channel);

    assert_unauthenticated(discovery.list_models(ListModelsRequest {}).await, "models");
    assert_unauthenticated(
        discovery.list_models(wrong_key(ListModelsRequest {})).await,
        "models wrong key",
    );
    assert_unauthenticated(
        discovery
            .get_health_detailed(GetHealthDetailedRequest {})
            .await,
        "health detailed",
    );
    assert_unauthenticated(
        chat.create_chat_completion(CreateChatCompletionRequest::default())
            .await,
        "chat",
    );
    assert_unauthenticated(
        chat.stream_chat_completion(wrong_key(CreateChatCompletionRequest::default()))
            .await,
        "chat stream",
    );
    assert_unauthenticated(
        responses
            .get_response(GetResponseRequest {
                id: "resp_x".into(),
            })
            .await,
        "responses",
    );
    assert_unauthenticated(
        sessions.list_sessions(ListSessionsRequest::default()).await,
        "sessions",
    );
    assert_unauthenticated(
        runs.get_run(GetRunRequest {
            run_id: "run_x".into(),
        })
        .await,
        "runs",
    );
    assert_unauthenticated(jobs.list_jobs(ListJobsRequest::default()).await, "jobs");

    // The right key passes auth (and reaches the service).
    let models = discovery
        .list_models(authed(ListModelsRequest {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(models.data[0].id, "hermes-agent");
    app.stop().await;
}
