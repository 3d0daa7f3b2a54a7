//! `/v1/responses` and `ResponsesService` end to end against the scripted fake upstream. Here:
//! create/get, chaining without duplicated history, conversations, request errors, `store:
//! false`, client function tools, input items, session headers and the gRPC surface, plus the
//! helpers the sibling files share. `streaming`: the exact OpenAI event stream, replay-then-follow
//! and client disconnects. `lifecycle`: background cancel, delete, LRU eviction, failed turns.

mod lifecycle;
mod streaming;

use std::time::Duration;

use caduceus_proto::v1::responses_service_client::ResponsesServiceClient;
use caduceus_proto::v1::{
    CreateResponseRequest, GetResponseRequest, ResponseInput, response_input,
};
use caduceus_tests::app::{TestApp, TestOptions, authed};
use caduceus_tests::fake_upstream::{FakeUpstream, Reply};
use serde_json::{Value, json};

pub(super) async fn app_with(fake: &FakeUpstream) -> TestApp {
    TestApp::spawn_with(TestOptions::upstream(&fake.base_url())).await
}

pub(super) async fn create(
    app: &TestApp,
    body: &Value,
) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
    let response = app.post("/v1/responses").json(body).send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

pub(super) async fn get(app: &TestApp, path: &str) -> (reqwest::StatusCode, Value) {
    let response = app.get(path).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `(event name, data JSON)` of every SSE frame.
pub(super) fn sse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|frame| {
            let mut name = None;
            let mut data = None;
            for line in frame.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_owned());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(value).ok();
                }
            }
            Some((name?, data?))
        })
        .collect()
}

/// Role and text of each upstream message (tool calls as `calls:<names>`).
pub(super) fn transcript(messages: &[Value]) -> Vec<(String, String)> {
    messages
        .iter()
        .map(|m| {
            let role = m["role"].as_str().unwrap_or_default().to_owned();
            let text = match (&m["content"], m["tool_calls"].as_array()) {
                (Value::String(text), _) => text.clone(),
                (_, Some(calls)) => format!(
                    "calls:{}",
                    calls
                        .iter()
                        .map(|c| c["function"]["name"].as_str().unwrap_or(""))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                _ => String::new(),
            };
            (role, text)
        })
        .collect()
}

pub(super) fn pair(role: &str, text: &str) -> (String, String) {
    (role.to_owned(), text.to_owned())
}

pub(super) async fn wait_for_status(app: &TestApp, id: &str, wanted: &[&str]) -> Value {
    for _ in 0..200 {
        let (_, body) = get(app, &format!("/v1/responses/{id}")).await;
        if wanted.contains(&body["status"].as_str().unwrap_or_default()) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("response {id} never reached {wanted:?}");
}

#[tokio::test]
async fn create_get_and_chain_twice_without_duplicating_history() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("answer one").with_usage(11, 3));
    fake.push(Reply::text("answer two"));
    fake.push(Reply::text("answer three"));
    let app = app_with(&fake).await;

    let (status, headers, first) = create(
        &app,
        &json!({"model": "hermes-agent", "input": "question one", "instructions": "Be brief.",
                "metadata": {"ticket": "42"}}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let id1 = first["id"].as_str().unwrap().to_owned();
    assert!(id1.starts_with("resp_"), "{id1}");
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["model"], "hermes-agent");
    assert_eq!(first["instructions"], "Be brief.");
    assert_eq!(first["metadata"], json!({"ticket": "42"}));
    assert_eq!(first["error"], Value::Null);
    assert_eq!(first["output_text"], "answer one");
    assert_eq!(
        first["usage"],
        json!({"input_tokens": 11, "output_tokens": 3, "total_tokens": 14})
    );
    let output = first["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "only this turn's items: {first}");
    assert_eq!(output[0]["type"], "message");
    assert!(output[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(output[0]["role"], "assistant");
    assert_eq!(output[0]["status"], "completed");
    assert_eq!(
        output[0]["content"],
        json!([{"type": "output_text", "text": "answer one", "annotations": []}])
    );
    let session = headers["x-hermes-session-id"].to_str().unwrap().to_owned();

    let (status, stored) = get(&app, &format!("/v1/responses/{id1}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored, first, "GET returns the stored object");

    let (status, headers, second) = create(
        &app,
        &json!({"input": "question two", "previous_response_id": id1}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["previous_response_id"], id1.as_str());
    assert_eq!(
        second["instructions"], "Be brief.",
        "instructions are inherited"
    );
    assert_eq!(second["output"].as_array().unwrap().len(), 1);
    assert_eq!(
        headers["x-hermes-session-id"].to_str().unwrap(),
        session,
        "one session per chain"
    );
    let id2 = second["id"].as_str().unwrap().to_owned();

    let (status, _, third) = create(
        &app,
        &json!({"input": "question three", "previous_response_id": id2}),
    )
    .await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["output_text"], "answer three");

    let sent = fake.requests()[2].messages();
    assert_eq!(sent[0]["role"], "system");
    assert!(sent[0]["content"].as_str().unwrap().contains("Be brief."));
    assert_eq!(
        transcript(&sent[1..]),
        vec![
            pair("user", "question one"),
            pair("assistant", "answer one"),
            pair("user", "question two"),
            pair("assistant", "answer two"),
            pair("user", "question three"),
        ],
        "each earlier turn exactly once"
    );
    app.stop().await;
}

#[tokio::test]
async fn conversation_names_chain_to_their_latest_response() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("first"));
    fake.push(Reply::text("second"));
    let app = app_with(&fake).await;
    let (status, _, one) = create(&app, &json!({"input": "a", "conversation": "support-7"})).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["conversation"], json!({"id": "support-7"}));
    let (status, _, two) = create(
        &app,
        &json!({"input": "b", "conversation": {"id": "support-7"}}),
    )
    .await;
    assert_eq!(status, 200, "{two}");
    assert_eq!(two["previous_response_id"], one["id"]);
    assert_eq!(
        transcript(&fake.requests()[1].messages()[1..]),
        vec![
            pair("user", "a"),
            pair("assistant", "first"),
            pair("user", "b")
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn request_errors_are_http_errors() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let cases = [
        (
            json!({"input": "x", "previous_response_id": "resp_nope"}),
            404,
            "response_not_found",
        ),
        (
            json!({"input": "x", "previous_response_id": "resp_1", "conversation": "c"}),
            400,
            "invalid_request",
        ),
        (json!({}), 400, "invalid_request"),
        (
            json!({"input": [{"role": "assistant", "content": "hi"}]}),
            400,
            "no_user_message",
        ),
        (
            json!({"input": "x", "background": true, "store": false}),
            400,
            "invalid_request",
        ),
        (
            json!({"input": "x", "tools": [{"type": "web_search"}]}),
            400,
            "unsupported_tool_type",
        ),
    ];
    for (body, status, code) in cases {
        let (got, _, answer) = create(&app, &body).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{body} → {answer}");
    }
    assert_eq!(fake.request_count(), 0);
    let (status, body) = get(&app, "/v1/responses/resp_missing").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "response_not_found");
    app.stop().await;
}

#[tokio::test]
async fn store_false_is_not_retrievable() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let (status, _, body) = create(&app, &json!({"input": "x", "store": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "completed");
    let (status, _) = get(
        &app,
        &format!("/v1/responses/{}", body["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn client_function_tools_round_trip() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::tool_call("get_weather", json!({"city": "Madrid"})));
    fake.push(Reply::text("Sunny in Madrid"));
    let app = app_with(&fake).await;
    let tools = json!([{"type": "function", "name": "get_weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let (status, _, first) = create(&app, &json!({"input": "weather?", "tools": tools})).await;
    assert_eq!(status, 200, "{first}");
    let call = &first["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["arguments"], json!({"city": "Madrid"}).to_string());
    let call_id = call["call_id"].as_str().unwrap();
    let (status, _, second) = create(
        &app,
        &json!({"previous_response_id": first["id"], "tools": tools,
                "input": [{"type": "function_call_output", "call_id": call_id, "output": "sunny, 25C"}]}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["output_text"], "Sunny in Madrid");
    let sent = fake.requests()[1].messages();
    let tool = sent.iter().find(|m| m["role"] == "tool").unwrap();
    assert_eq!(tool["tool_call_id"], call_id);
    assert_eq!(tool["content"], "sunny, 25C");
    assert_eq!(sent.iter().filter(|m| m["role"] == "user").count(), 1);
    app.stop().await;
}

#[tokio::test]
async fn input_items_and_session_header() {
    let fake = FakeUpstream::start().await;
    let app = app_with(&fake).await;
    let response = app
        .post("/v1/responses")
        .header("X-Hermes-Session-Id", "my-responses-session")
        .json(&json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "hi there"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-hermes-session-id"],
        "my-responses-session"
    );
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    let (status, items) = get(&app, &format!("/v1/responses/{id}/input_items")).await;
    assert_eq!(status, 200);
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["type"], "message");
    assert_eq!(items["data"][0]["role"], "user");
    assert_eq!(
        items["data"][0]["content"][0],
        json!({"type": "input_text", "text": "hi there"})
    );
    let (messages, _) = app
        .state
        .store
        .list_messages("my-responses-session", None, None)
        .await
        .unwrap();
    assert_eq!(
        messages.len(),
        2,
        "the turn is stored under the header's session"
    );
    assert_eq!(get(&app, "/v1/responses/resp_x/input_items").await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn grpc_create_and_get() {
    let fake = FakeUpstream::start().await;
    fake.push(Reply::text("over grpc"));
    let app = app_with(&fake).await;
    let mut client = ResponsesServiceClient::new(app.channel().await);
    let request = CreateResponseRequest {
        input: Some(ResponseInput {
            input: Some(response_input::Input::Text("hi".into())),
        }),
        ..CreateResponseRequest::default()
    };
    let response = client.create_response(authed(request)).await.unwrap();
    assert!(response.metadata().get("x-hermes-session-id").is_some());
    let created = response.into_inner();
    assert_eq!(created.output_text, "over grpc");
    let got = client
        .get_response(authed(GetResponseRequest {
            id: created.id.clone(),
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, created);
    let missing = client
        .get_response(authed(GetResponseRequest {
            id: "resp_nope".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);
    app.stop().await;
}
