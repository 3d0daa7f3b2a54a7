//! Tests of the Responses body translation and of the handlers end to end, over an in-test
//! tonic `ResponsesService` with canned answers.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use caduceus_proto::v1::responses_service_server::{ResponsesService, ResponsesServiceServer};
use caduceus_proto::v1::{
    CancelResponseRequest, ContentPartEvent, CreateResponseRequest, DeleteResponseRequest,
    DeleteResponseResponse, GetResponseRequest, InputItem, InputMessage,
    ListResponseInputItemsRequest, ListResponseInputItemsResponse, OutputText, OutputTextEvent,
    Response, ResponseInput, ResponseStreamEvent, StreamStoredResponseRequest, input_item,
    input_message, response_input, response_stream_event::Payload,
};
use futures::Stream;
use serde_json::{Value, json};
use tonic::{Request, Status};

use super::test_support::{call, facade};
use super::*;

fn body(value: Value) -> CreateBody {
    serde_json::from_value(value).unwrap()
}

#[test]
fn create_body_maps_every_field() {
    let request = create_request(body(json!({
        "model": "gpt-x",
        "input": "hello",
        "instructions": "be brief",
        "previous_response_id": "resp_0",
        "conversation": {"id": "conv"},
        "conversation_history": [{"role": "assistant", "content": "earlier"}],
        "store": false,
        "truncation": "auto",
        "metadata": {"k": "v"},
        "background": true,
        "tools": [{"type": "function", "name": "f"}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "temperature": 0.5,
        "max_output_tokens": 64,
        "stream": true,
        "reasoning": {"effort": "low"}
    })))
    .unwrap();
    assert_eq!(request.model.as_deref(), Some("gpt-x"));
    assert_eq!(
        request.input,
        Some(ResponseInput {
            input: Some(response_input::Input::Text("hello".into()))
        })
    );
    assert_eq!(request.instructions.as_deref(), Some("be brief"));
    assert_eq!(request.previous_response_id.as_deref(), Some("resp_0"));
    assert_eq!(request.conversation.as_deref(), Some("conv"));
    assert_eq!(request.conversation_history.len(), 1);
    assert_eq!(request.store, Some(false));
    assert_eq!(request.truncation.as_deref(), Some("auto"));
    assert_eq!(request.metadata.get("k").map(String::as_str), Some("v"));
    assert!(request.background);
    assert_eq!(request.tools[0].function.as_ref().unwrap().name, "f");
    assert_eq!(
        request
            .tool_choice
            .map(|v| caduceus_proto::json::from_proto_value(&v)),
        Some(json!("auto"))
    );
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.max_output_tokens, Some(64));
}

#[test]
fn empty_body_maps_to_defaults() {
    let request = create_request(body(json!({"input": null, "tool_choice": null}))).unwrap();
    assert_eq!(request, CreateResponseRequest::default());
}

#[test]
fn shape_errors_surface_with_their_param() {
    let err = create_request(body(
        json!({"input": [{"role": "user", "content": [{"type": "audio"}]}]}),
    ))
    .unwrap_err();
    assert_eq!(err.param, "input[0].content[0].type");
    let err = create_request(body(json!({"conversation_history": [1]}))).unwrap_err();
    assert_eq!(err.param, "conversation_history[0]");
    let err = create_request(body(
        json!({"tools": [{"type": "function", "parameters": 1}]}),
    ))
    .unwrap_err();
    assert_eq!(err.param, "tools[0].parameters");
}

/// Canned answers; remembers the last create request it saw.
#[derive(Clone, Default)]
struct Fake {
    seen: Arc<Mutex<Option<CreateResponseRequest>>>,
}

type EventStream = Pin<Box<dyn Stream<Item = Result<ResponseStreamEvent, Status>> + Send>>;

fn canned(id: &str, status: &str) -> Response {
    Response {
        id: id.into(),
        status: status.into(),
        created_at: 1,
        model: "m".into(),
        ..Response::default()
    }
}

fn text_of(request: &CreateResponseRequest) -> String {
    match request
        .input
        .as_ref()
        .and_then(|input| input.input.as_ref())
    {
        Some(response_input::Input::Text(text)) => text.clone(),
        _ => String::new(),
    }
}

fn events(script: &str, starting_after: i64) -> EventStream {
    let delta = |seq: i64| ResponseStreamEvent {
        r#type: "response.output_text.delta".into(),
        sequence_number: seq,
        payload: Some(Payload::OutputText(OutputTextEvent {
            item_id: "msg_1".into(),
            delta: "hi".into(),
            ..OutputTextEvent::default()
        })),
    };
    let items: Vec<Result<ResponseStreamEvent, Status>> = match script {
        "fail-first" => vec![Err(Status::not_found("Response not found"))],
        "fail-late" => vec![
            Ok(delta(starting_after + 1)),
            Err(Status::unavailable("gone")),
        ],
        _ => vec![
            Ok(ResponseStreamEvent {
                r#type: "response.created".into(),
                sequence_number: starting_after + 1,
                payload: Some(Payload::Response(canned("resp_s", "in_progress"))),
            }),
            Ok(ResponseStreamEvent {
                r#type: "response.content_part.added".into(),
                sequence_number: starting_after + 2,
                payload: Some(Payload::ContentPart(ContentPartEvent {
                    item_id: "msg_1".into(),
                    output_index: 0,
                    content_index: 0,
                    part: Some(OutputText::default()),
                })),
            }),
        ],
    };
    Box::pin(futures::stream::iter(items))
}

#[tonic::async_trait]
impl ResponsesService for Fake {
    async fn create_response(
        &self,
        request: Request<CreateResponseRequest>,
    ) -> Result<tonic::Response<Response>, Status> {
        let replayed = request.metadata().get("idempotency-key").is_some();
        let message = request.into_inner();
        if text_of(&message) == "boom" {
            return Err(Status::invalid_argument("bad input"));
        }
        let mut answer = canned("resp_1", "completed");
        answer.metadata = message.metadata.clone();
        answer.background = message.background;
        *self.seen.lock().unwrap() = Some(message);
        let mut reply = tonic::Response::new(answer);
        reply
            .metadata_mut()
            .insert("x-hermes-session-id", "sess-1".parse().unwrap());
        if replayed {
            reply
                .metadata_mut()
                .insert("idempotency-replayed", "true".parse().unwrap());
        }
        Ok(reply)
    }

    type StreamResponseStream = EventStream;

    async fn stream_response(
        &self,
        request: Request<CreateResponseRequest>,
    ) -> Result<tonic::Response<EventStream>, Status> {
        let script = text_of(request.get_ref());
        let mut reply = tonic::Response::new(events(&script, -1));
        reply
            .metadata_mut()
            .insert("x-hermes-session-id", "sess-s".parse().unwrap());
        Ok(reply)
    }

    async fn get_response(
        &self,
        request: Request<GetResponseRequest>,
    ) -> Result<tonic::Response<Response>, Status> {
        let id = request.into_inner().id;
        if id == "missing" {
            return Err(Status::not_found("Response not found"));
        }
        Ok(tonic::Response::new(canned(&id, "completed")))
    }

    type StreamStoredResponseStream = EventStream;

    async fn stream_stored_response(
        &self,
        request: Request<StreamStoredResponseRequest>,
    ) -> Result<tonic::Response<EventStream>, Status> {
        let request = request.into_inner();
        Ok(tonic::Response::new(events(
            &request.id,
            request.starting_after.unwrap_or(-1),
        )))
    }

    async fn delete_response(
        &self,
        request: Request<DeleteResponseRequest>,
    ) -> Result<tonic::Response<DeleteResponseResponse>, Status> {
        Ok(tonic::Response::new(DeleteResponseResponse {
            id: request.into_inner().id,
            deleted: true,
        }))
    }

    async fn cancel_response(
        &self,
        request: Request<CancelResponseRequest>,
    ) -> Result<tonic::Response<Response>, Status> {
        Ok(tonic::Response::new(canned(
            &request.into_inner().id,
            "cancelled",
        )))
    }

    async fn list_response_input_items(
        &self,
        _request: Request<ListResponseInputItemsRequest>,
    ) -> Result<tonic::Response<ListResponseInputItemsResponse>, Status> {
        Ok(tonic::Response::new(ListResponseInputItemsResponse {
            data: vec![InputItem {
                id: "msg_1".into(),
                item: Some(input_item::Item::Message(InputMessage {
                    role: "user".into(),
                    content: Some(input_message::Content::Text("hi".into())),
                })),
            }],
        }))
    }
}

fn app(fake: Fake) -> axum::Router {
    facade(tonic::service::Routes::new(ResponsesServiceServer::new(fake)).into_axum_router())
}

#[tokio::test]
async fn create_answers_the_response_object_with_session_headers() {
    let fake = Fake::default();
    let app = app(fake.clone());
    let reply = call(
        &app,
        "POST",
        "/v1/responses",
        &[("idempotency-key", "k1")],
        Some(
            r#"{"input":[{"role":"user","content":"hi"}],"metadata":{"a":"b"},"background":true}"#,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["x-hermes-session-id"], "sess-1");
    assert_eq!(reply.headers["idempotency-replayed"], "true");
    let value = reply.json();
    assert_eq!(value["id"], "resp_1");
    assert_eq!(value["object"], "response");
    assert_eq!(value["metadata"], json!({"a": "b"}));
    assert_eq!(value["background"], true);
    assert_eq!(value["instructions"], Value::Null);
    let seen = fake.seen.lock().unwrap().clone().unwrap();
    assert!(matches!(
        seen.input.and_then(|input| input.input),
        Some(response_input::Input::Items(_))
    ));
}

#[tokio::test]
async fn shape_errors_are_400_envelopes_with_param() {
    let app = app(Fake::default());
    for (body, param) in [
        (r#"{"input":"x","metadata":{"n":1}}"#, "metadata.n"),
        (
            r#"{"input":[{"role":"user","content":[{"type":"input_file"}]}]}"#,
            "input[0].content[0].type",
        ),
        (r#"{"input":"x","temperature":"hot"}"#, "temperature"),
    ] {
        let reply = call(&app, "POST", "/v1/responses", &[], Some(body)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
        let error = &reply.json()["error"];
        assert_eq!(error["param"], param, "{body}");
        assert_eq!(error["type"], "invalid_request_error");
    }
    let reply = call(
        &app,
        "POST",
        "/v1/responses",
        &[],
        Some(r#"{"input":"boom"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["message"], "bad input");
}

#[tokio::test]
async fn stream_renders_openai_events() {
    let app = app(Fake::default());
    let reply = call(
        &app,
        "POST",
        "/v1/responses",
        &[],
        Some(r#"{"input":"ok","stream":true}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    assert_eq!(reply.headers["x-hermes-session-id"], "sess-s");
    let frames: Vec<&str> = reply.text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{}", reply.text);
    assert!(frames[0].starts_with(
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_s\""
    ));
    assert_eq!(
        frames[1],
        concat!(
            "event: response.content_part.added\n",
            r#"data: {"type":"response.content_part.added","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#
        )
    );
    assert!(!reply.text.contains("[DONE]"));
}

#[tokio::test]
async fn stream_failure_before_output_is_an_http_error() {
    let app = app(Fake::default());
    let reply = call(
        &app,
        "POST",
        "/v1/responses",
        &[],
        Some(r#"{"input":"fail-first","stream":true}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"]["code"], "not_found");
}

#[tokio::test]
async fn stream_failure_midway_is_one_error_event() {
    let app = app(Fake::default());
    let reply = call(
        &app,
        "POST",
        "/v1/responses",
        &[],
        Some(r#"{"input":"fail-late","stream":true}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let frames: Vec<&str> = reply.text.split("\n\n").filter(|f| !f.is_empty()).collect();
    assert_eq!(frames.len(), 2, "{}", reply.text);
    assert_eq!(
        frames[1],
        concat!(
            "event: error\n",
            r#"data: {"type":"error","sequence_number":1,"code":"unavailable","message":"gone","param":null}"#
        )
    );
}

#[tokio::test]
async fn retrieve_delete_cancel_and_input_items() {
    let app = app(Fake::default());
    let reply = call(&app, "GET", "/v1/responses/resp_9", &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["id"], "resp_9");

    let reply = call(&app, "GET", "/v1/responses/missing", &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    let reply = call(&app, "DELETE", "/v1/responses/resp_9", &[], None).await;
    assert_eq!(
        reply.json(),
        json!({"id": "resp_9", "object": "response", "deleted": true})
    );

    let reply = call(&app, "POST", "/v1/responses/resp_9/cancel", &[], None).await;
    assert_eq!(reply.json()["status"], "cancelled");

    let reply = call(&app, "GET", "/v1/responses/resp_9/input_items", &[], None).await;
    assert_eq!(
        reply.json(),
        json!({"object": "list", "data": [{"type": "message", "id": "msg_1", "role": "user",
               "content": [{"type": "input_text", "text": "hi"}]}],
               "first_id": "msg_1", "last_id": "msg_1", "has_more": false})
    );
}

#[tokio::test]
async fn retrieve_with_stream_replays_after_the_given_sequence() {
    let app = app(Fake::default());
    let reply = call(
        &app,
        "GET",
        "/v1/responses/resp_9?stream=true&starting_after=4",
        &[],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.text.starts_with(
            "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":5,"
        ),
        "{}",
        reply.text
    );
    let reply = call(
        &app,
        "GET",
        "/v1/responses/resp_9?stream=perhaps",
        &[],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "stream");
    let reply = call(
        &app,
        "GET",
        "/v1/responses/resp_9?starting_after=x",
        &[],
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "starting_after");
}
