//! Proto `ResponseStreamEvent` → the OpenAI Responses SSE frame: `event: <type>` plus `data:` JSON
//! `{"type","sequence_number",…payload}` in OpenAI's event schema. A gRPC failure midway becomes
//! one OpenAI `error` event (message/code/param from [`ApiError`]'s table). No `[DONE]`.

use axum::response::sse::Event;
use caduceus_proto::v1::{ResponseStreamEvent, response_stream_event::Payload};
use serde::Serialize;

use super::relay::{Relay, event_name};
use super::render::{OutputItemJson, OutputTextJson, ResponseJson, output_item_json, output_text};
use crate::error::ApiError;

/// One frame's JSON: the type and sequence number first, then the payload's fields.
#[derive(Debug, Serialize)]
struct FrameJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    sequence_number: i64,
    #[serde(flatten)]
    payload: PayloadJson<'a>,
}

/// The payload fields of each event family.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum PayloadJson<'a> {
    Response {
        response: ResponseJson<'a>,
    },
    OutputItem {
        output_index: i32,
        item: Option<OutputItemJson<'a>>,
    },
    ContentPart {
        item_id: &'a str,
        output_index: i32,
        content_index: i32,
        part: OutputTextJson<'a>,
    },
    TextDelta {
        item_id: &'a str,
        output_index: i32,
        content_index: i32,
        delta: &'a str,
        logprobs: [(); 0],
    },
    TextDone {
        item_id: &'a str,
        output_index: i32,
        content_index: i32,
        text: &'a str,
        logprobs: [(); 0],
    },
    ArgumentsDelta {
        item_id: &'a str,
        output_index: i32,
        delta: &'a str,
    },
    ArgumentsDone {
        item_id: &'a str,
        output_index: i32,
        arguments: &'a str,
        name: &'a str,
    },
    Error {
        code: Option<&'a str>,
        message: &'a str,
        param: Option<&'a str>,
    },
    Empty {},
}

/// The `data:` JSON of one event. `.delta` events carry the increment, the others the whole.
pub(crate) fn event_json(event: &ResponseStreamEvent) -> String {
    let delta = event.r#type.ends_with(".delta");
    let payload = match &event.payload {
        None => PayloadJson::Empty {},
        Some(Payload::Response(response)) => PayloadJson::Response {
            response: super::render::response_json(response),
        },
        Some(Payload::OutputItem(added)) => PayloadJson::OutputItem {
            output_index: added.output_index,
            item: added.item.as_ref().and_then(output_item_json),
        },
        Some(Payload::ContentPart(part)) => PayloadJson::ContentPart {
            item_id: &part.item_id,
            output_index: part.output_index,
            content_index: part.content_index,
            part: output_text(part.part.as_ref().map_or("", |part| part.text.as_str())),
        },
        Some(Payload::OutputText(text)) if delta => PayloadJson::TextDelta {
            item_id: &text.item_id,
            output_index: text.output_index,
            content_index: text.content_index,
            delta: &text.delta,
            logprobs: [],
        },
        Some(Payload::OutputText(text)) => PayloadJson::TextDone {
            item_id: &text.item_id,
            output_index: text.output_index,
            content_index: text.content_index,
            text: &text.text,
            logprobs: [],
        },
        Some(Payload::FunctionCallArguments(args)) if delta => PayloadJson::ArgumentsDelta {
            item_id: &args.item_id,
            output_index: args.output_index,
            delta: &args.delta,
        },
        Some(Payload::FunctionCallArguments(args)) => PayloadJson::ArgumentsDone {
            item_id: &args.item_id,
            output_index: args.output_index,
            arguments: &args.arguments,
            name: &args.name,
        },
        Some(Payload::Error(error)) => PayloadJson::Error {
            code: Some(&error.code)
                .filter(|code| !code.is_empty())
                .map(String::as_str),
            message: &error.message,
            param: None,
        },
    };
    to_json(&FrameJson {
        kind: &event.r#type,
        sequence_number: event.sequence_number,
        payload,
    })
}

/// The `error` event for a gRPC failure after the stream started.
fn failure_json(status: tonic::Status, sequence_number: i64) -> String {
    let error = ApiError::from(status);
    to_json(&FrameJson {
        kind: "error",
        sequence_number,
        payload: PayloadJson::Error {
            code: error.code(),
            message: error.message(),
            param: error.param(),
        },
    })
}

/// Serialises a frame; these structs hold only strings and numbers, so it cannot fail, but a
/// panic-free fallback keeps the stream alive if that ever changes.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// Renders a Responses stream; remembers the last sequence number so a failure frame continues it.
#[derive(Debug, Default)]
pub(crate) struct ResponseRelay {
    next_sequence: i64,
}

impl Relay<ResponseStreamEvent> for ResponseRelay {
    fn frame(&mut self, event: ResponseStreamEvent) -> Event {
        self.next_sequence = event.sequence_number.saturating_add(1);
        Event::default()
            .event(event_name(&event.r#type))
            .data(event_json(&event))
    }

    fn failed(&mut self, status: tonic::Status) -> Event {
        Event::default()
            .event("error")
            .data(failure_json(status, self.next_sequence))
    }
}

#[cfg(test)]
mod tests {
    use super::super::relay::relay;
    use super::super::test_support::sse_text;
    use super::*;
    use caduceus_proto::v1::{
        ContentPartEvent, FunctionCallArgumentsEvent, FunctionCallItem, OutputItem,
        OutputItemEvent, OutputText, OutputTextEvent, Response, StreamError, output_item,
    };
    use futures::stream;
    use serde_json::{Value, json};

    fn event(kind: &str, sequence_number: i64, payload: Option<Payload>) -> ResponseStreamEvent {
        ResponseStreamEvent {
            r#type: kind.into(),
            sequence_number,
            payload,
        }
    }

    fn rendered(kind: &str, payload: Payload) -> Value {
        serde_json::from_str(&event_json(&event(kind, 4, Some(payload)))).unwrap()
    }

    #[test]
    fn lifecycle_events_carry_the_response_object() {
        for kind in [
            "response.created",
            "response.in_progress",
            "response.completed",
            "response.failed",
            "response.incomplete",
        ] {
            let response = Response {
                id: "resp_1".into(),
                status: "in_progress".into(),
                ..Response::default()
            };
            let value = rendered(kind, Payload::Response(response));
            assert_eq!(value["type"], kind);
            assert_eq!(value["sequence_number"], 4);
            assert_eq!(value["response"]["id"], "resp_1");
            assert_eq!(value["response"]["object"], "response");
            assert_eq!(value["response"]["error"], Value::Null);
        }
    }

    #[test]
    fn output_item_events() {
        let item = OutputItem {
            item: Some(output_item::Item::FunctionCall(FunctionCallItem {
                id: "fc_1".into(),
                call_id: "c".into(),
                name: "f".into(),
                arguments: String::new(),
                status: "in_progress".into(),
            })),
        };
        let value = rendered(
            "response.output_item.added",
            Payload::OutputItem(OutputItemEvent {
                output_index: 1,
                item: Some(item),
            }),
        );
        assert_eq!(
            value,
            json!({"type": "response.output_item.added", "sequence_number": 4, "output_index": 1,
                   "item": {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f",
                            "arguments": "", "status": "in_progress"}})
        );
    }

    #[test]
    fn content_part_events() {
        let value = rendered(
            "response.content_part.done",
            Payload::ContentPart(ContentPartEvent {
                item_id: "msg_1".into(),
                output_index: 0,
                content_index: 0,
                part: Some(OutputText { text: "hi".into() }),
            }),
        );
        assert_eq!(
            value,
            json!({"type": "response.content_part.done", "sequence_number": 4, "item_id": "msg_1",
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "output_text", "text": "hi", "annotations": []}})
        );
        let added = rendered(
            "response.content_part.added",
            Payload::ContentPart(ContentPartEvent::default()),
        );
        assert_eq!(
            added["part"],
            json!({"type": "output_text", "text": "", "annotations": []})
        );
    }

    #[test]
    fn output_text_delta_and_done() {
        let payload = OutputTextEvent {
            item_id: "msg_1".into(),
            output_index: 2,
            content_index: 0,
            delta: "lo".into(),
            text: "hello".into(),
        };
        assert_eq!(
            rendered(
                "response.output_text.delta",
                Payload::OutputText(payload.clone())
            ),
            json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": "msg_1",
                   "output_index": 2, "content_index": 0, "delta": "lo", "logprobs": []})
        );
        assert_eq!(
            rendered("response.output_text.done", Payload::OutputText(payload)),
            json!({"type": "response.output_text.done", "sequence_number": 4, "item_id": "msg_1",
                   "output_index": 2, "content_index": 0, "text": "hello", "logprobs": []})
        );
    }

    #[test]
    fn function_call_arguments_delta_and_done() {
        let payload = FunctionCallArgumentsEvent {
            item_id: "fc_1".into(),
            output_index: 0,
            delta: "{\"a".into(),
            arguments: "{\"a\":1}".into(),
            name: "f".into(),
        };
        assert_eq!(
            rendered(
                "response.function_call_arguments.delta",
                Payload::FunctionCallArguments(payload.clone())
            ),
            json!({"type": "response.function_call_arguments.delta", "sequence_number": 4,
                   "item_id": "fc_1", "output_index": 0, "delta": "{\"a"})
        );
        assert_eq!(
            rendered(
                "response.function_call_arguments.done",
                Payload::FunctionCallArguments(payload)
            ),
            json!({"type": "response.function_call_arguments.done", "sequence_number": 4,
                   "item_id": "fc_1", "output_index": 0, "arguments": "{\"a\":1}", "name": "f"})
        );
    }

    #[test]
    fn error_event_has_code_message_and_null_param() {
        let value = rendered(
            "error",
            Payload::Error(StreamError {
                message: "upstream down".into(),
                r#type: "server_error".into(),
                code: "upstream_unavailable".into(),
            }),
        );
        assert_eq!(
            value,
            json!({"type": "error", "sequence_number": 4, "code": "upstream_unavailable",
                   "message": "upstream down", "param": null})
        );
    }

    #[test]
    fn event_without_payload_is_type_and_sequence() {
        assert_eq!(
            event_json(&event("response.queued", 0, None)),
            r#"{"type":"response.queued","sequence_number":0}"#
        );
    }

    #[tokio::test]
    async fn sse_framing_and_midway_failure() {
        let first = event(
            "response.output_text.delta",
            5,
            Some(Payload::OutputText(OutputTextEvent {
                item_id: "msg_1".into(),
                delta: "hi".into(),
                ..OutputTextEvent::default()
            })),
        );
        let rest = stream::iter(vec![Err(tonic::Status::unavailable("upstream went away"))]);
        let text = sse_text(relay(Some(first), rest, ResponseRelay::default())).await;
        assert_eq!(
            text,
            concat!(
                "event: response.output_text.delta\n",
                r#"data: {"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"hi","logprobs":[]}"#,
                "\n\n",
                "event: error\n",
                r#"data: {"type":"error","sequence_number":6,"code":"unavailable","message":"upstream went away","param":null}"#,
                "\n\n"
            )
        );
    }
}
