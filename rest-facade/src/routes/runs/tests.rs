//! Tests of the Runs body/resume translation and of the handlers end to end, over an in-test
//! tonic `RunService` with canned answers.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::http::HeaderValue;
use caduceus_proto::v1::run_service_server::{RunService, RunServiceServer};
use caduceus_proto::v1::{
    CreateRunResponse, RespondApprovalResponse, ResponseInput, Run, RunEvent, RunMessageDelta,
    StopRunResponse, response_input, run_event::Payload,
};
use futures::Stream;
use serde_json::{Value, json};
use tonic::{Request, Status};

use super::*;
use crate::routes::responses::test_support::{call, facade};

#[test]
fn create_body_maps_every_field() {
    let body: CreateBody = serde_json::from_value(json!({
        "input": "do it",
        "instructions": "carefully",
        "session_id": "s1",
        "conversation_history": ["earlier"],
        "previous_response_id": "resp_0",
        "model": "m"
    }))
    .unwrap();
    let request = create_request(body).unwrap();
    assert_eq!(
        request.input,
        Some(ResponseInput {
            input: Some(response_input::Input::Text("do it".into()))
        })
    );
    assert_eq!(request.instructions.as_deref(), Some("carefully"));
    assert_eq!(request.session_id.as_deref(), Some("s1"));
    assert_eq!(request.conversation_history.len(), 1);
    assert_eq!(request.previous_response_id.as_deref(), Some("resp_0"));
    assert_eq!(request.model.as_deref(), Some("m"));
    let err =
        create_request(serde_json::from_value(json!({"input": [true]})).unwrap()).unwrap_err();
    assert_eq!(err.param, "input[0]");
}

#[test]
fn resume_point_prefers_last_event_id() {
    let mut headers = HeaderMap::new();
    assert_eq!(resume_after(&headers, None).unwrap(), None);
    assert_eq!(resume_after(&headers, Some("4")).unwrap(), Some(4));
    assert_eq!(resume_after(&headers, Some("")).unwrap(), None);
    assert_eq!(
        resume_after(&headers, Some("x")).unwrap_err().param,
        "after"
    );
    headers.insert("last-event-id", HeaderValue::from_static("7"));
    assert_eq!(resume_after(&headers, Some("4")).unwrap(), Some(7));
    headers.insert("last-event-id", HeaderValue::from_static("seven"));
    let err = resume_after(&headers, None).unwrap_err();
    assert_eq!(
        (err.code, err.param.as_str()),
        ("invalid_request", "Last-Event-ID")
    );
}

/// Canned answers; remembers the last `after` and approval request it saw.
#[derive(Clone, Default)]
struct Fake {
    after: Arc<Mutex<Option<Option<i64>>>>,
    approval: Arc<Mutex<Option<RespondApprovalRequest>>>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<RunEvent, Status>> + Send>>;

fn delta(seq: i64) -> RunEvent {
    RunEvent {
        event: "message.delta".into(),
        run_id: "run_1".into(),
        seq,
        timestamp: 2.0,
        payload: Some(Payload::MessageDelta(RunMessageDelta { delta: "x".into() })),
    }
}

#[tonic::async_trait]
impl RunService for Fake {
    async fn create_run(
        &self,
        request: Request<CreateRunRequest>,
    ) -> Result<tonic::Response<CreateRunResponse>, Status> {
        let replayed = request.metadata().get("idempotency-key").is_some();
        let mut reply = tonic::Response::new(CreateRunResponse {
            run_id: "run_1".into(),
            status: "queued".into(),
        });
        if replayed {
            reply
                .metadata_mut()
                .insert("idempotency-replayed", "true".parse().unwrap());
        }
        Ok(reply)
    }

    async fn get_run(
        &self,
        request: Request<GetRunRequest>,
    ) -> Result<tonic::Response<Run>, Status> {
        let run_id = request.into_inner().run_id;
        if run_id == "missing" {
            return Err(Status::not_found("Run not found"));
        }
        Ok(tonic::Response::new(Run {
            run_id,
            status: "running".into(),
            ..Run::default()
        }))
    }

    type StreamRunEventsStream = EventStream;

    async fn stream_run_events(
        &self,
        request: Request<StreamRunEventsRequest>,
    ) -> Result<tonic::Response<EventStream>, Status> {
        let request = request.into_inner();
        *self.after.lock().unwrap() = Some(request.after);
        if request.run_id == "quiet" {
            return Ok(tonic::Response::new(Box::pin(futures::stream::pending())));
        }
        let items = match request.run_id.as_str() {
            "missing" => vec![Err(Status::not_found("Run not found"))],
            "flaky" => vec![Ok(delta(1)), Err(Status::internal("db exploded"))],
            _ => vec![
                Ok(delta(request.after.unwrap_or(0) + 1)),
                Ok(RunEvent {
                    event: "run.cancelled".into(),
                    run_id: "run_1".into(),
                    seq: request.after.unwrap_or(0) + 2,
                    timestamp: 3.0,
                    payload: None,
                }),
            ],
        };
        Ok(tonic::Response::new(Box::pin(futures::stream::iter(items))))
    }

    async fn respond_approval(
        &self,
        request: Request<RespondApprovalRequest>,
    ) -> Result<tonic::Response<RespondApprovalResponse>, Status> {
        let request = request.into_inner();
        *self.approval.lock().unwrap() = Some(request.clone());
        if request.choice.is_empty() {
            return Err(Status::invalid_argument("choice is required"));
        }
        Ok(tonic::Response::new(RespondApprovalResponse {
            run_id: request.run_id,
            choice: request.choice,
            resolved: 1,
        }))
    }

    async fn stop_run(
        &self,
        request: Request<StopRunRequest>,
    ) -> Result<tonic::Response<StopRunResponse>, Status> {
        Ok(tonic::Response::new(StopRunResponse {
            run_id: request.into_inner().run_id,
            status: "stopping".into(),
        }))
    }
}

fn app(fake: Fake) -> axum::Router {
    facade(tonic::service::Routes::new(RunServiceServer::new(fake)).into_axum_router())
}

#[tokio::test]
async fn create_answers_202_with_replay_header() {
    let app = app(Fake::default());
    let reply = call(
        &app,
        "POST",
        "/v1/runs",
        &[("idempotency-key", "k")],
        Some(r#"{"input":"go"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    assert_eq!(reply.json(), json!({"run_id": "run_1", "status": "queued"}));
    assert_eq!(reply.headers["idempotency-replayed"], "true");

    let reply = call(
        &app,
        "POST",
        "/v1/runs",
        &[],
        Some(r#"{"input":"go","model":1}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "model");
}

#[tokio::test]
async fn status_and_not_found() {
    let app = app(Fake::default());
    let reply = call(&app, "GET", "/v1/runs/run_1", &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let value = reply.json();
    assert_eq!(value["object"], "hermes.run");
    assert_eq!(value["status"], "running");
    assert_eq!(value["usage"], Value::Null);
    let reply = call(&app, "GET", "/v1/runs/missing", &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn events_stream_unnamed_frames_then_closes() {
    let fake = Fake::default();
    let app = app(fake.clone());
    let reply = call(
        &app,
        "GET",
        "/v1/runs/run_1/events?after=2",
        &[("last-event-id", "5")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    assert_eq!(*fake.after.lock().unwrap(), Some(Some(5)));
    assert_eq!(
        reply.text,
        concat!(
            "id: 6\n",
            r#"data: {"event":"message.delta","run_id":"run_1","seq":6,"timestamp":2.0,"delta":"x"}"#,
            "\n\n",
            "id: 7\n",
            r#"data: {"event":"run.cancelled","run_id":"run_1","seq":7,"timestamp":3.0}"#,
            "\n\n: stream closed\n\n"
        )
    );
}

#[tokio::test]
async fn events_errors() {
    let app = app(Fake::default());
    let reply = call(&app, "GET", "/v1/runs/missing/events", &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    let reply = call(&app, "GET", "/v1/runs/run_1/events?after=abc", &[], None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "after");

    let reply = call(
        &app,
        "GET",
        "/v1/runs/run_1/events",
        &[("last-event-id", "x")],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "Last-Event-ID");

    let reply = call(&app, "GET", "/v1/runs/flaky/events", &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let frames: Vec<&str> = reply.text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{}", reply.text);
    let error: Value = serde_json::from_str(frames[1].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(error["event"], "error");
    assert_eq!(error["type"], "server_error");
    assert_ne!(error["message"], "db exploded", "internals must not leak");
}

#[tokio::test]
async fn approval_and_stop() {
    let fake = Fake::default();
    let app = app(fake.clone());
    let reply = call(
        &app,
        "POST",
        "/v1/runs/run_1/approval",
        &[],
        Some(r#"{"choice":"once","approval_id":"ap_1","all":true}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(
        reply.json(),
        json!({"object": "hermes.run.approval_response", "run_id": "run_1", "choice": "once",
               "resolved": 1})
    );
    let seen = fake.approval.lock().unwrap().clone().unwrap();
    assert_eq!(seen.approval_id.as_deref(), Some("ap_1"));
    assert!(seen.all);

    for body in [Some("{}"), None] {
        let reply = call(&app, "POST", "/v1/runs/run_1/approval", &[], body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        let seen = fake.approval.lock().unwrap().clone().unwrap();
        assert_eq!(seen.choice, "");
    }

    let reply = call(&app, "POST", "/v1/runs/run_1/stop", &[], None).await;
    assert_eq!(
        reply.json(),
        json!({"run_id": "run_1", "status": "stopping"})
    );
}

#[tokio::test]
async fn a_quiet_run_still_gets_its_sse_headers() {
    use tower::ServiceExt;
    let app = app(Fake::default());
    let request = axum::http::Request::builder()
        .uri("/v1/runs/quiet/events")
        .header("authorization", "Bearer test-key")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = tokio::time::timeout(std::time::Duration::from_secs(5), app.oneshot(request))
        .await
        .expect("headers must not wait for the first event")
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
}
