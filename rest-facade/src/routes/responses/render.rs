//! Proto → OpenAI JSON for Responses objects: the `response` object, its `output` items, and the
//! stored input items of `GET /v1/responses/{id}/input_items`. Field order follows OpenAI's docs
//! (serde structs, not `json!`, so the order is stable); absent optionals are `null`.

use std::collections::BTreeMap;

use caduceus_proto::v1::{
    ContentPart, InputItem, OutputItem, Response, ResponseError, Usage, content_part, input_item,
    input_message, output_item,
};
use serde::Serialize;

/// The OpenAI `response` object (API.md §5).
#[derive(Debug, Serialize)]
pub(crate) struct ResponseJson<'a> {
    id: &'a str,
    object: &'static str,
    status: &'a str,
    created_at: i64,
    model: &'a str,
    instructions: Option<&'a str>,
    previous_response_id: Option<&'a str>,
    metadata: BTreeMap<&'a str, &'a str>,
    output: Vec<OutputItemJson<'a>>,
    usage: Option<UsageJson>,
    error: Option<ErrorJson<'a>>,
    output_text: &'a str,
    background: bool,
    conversation: Option<ConversationJson<'a>>,
}

/// `usage` of a response or run.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct UsageJson {
    input_tokens: i64,
    output_tokens: i64,
    total_tokens: i64,
}

/// `usage` from its proto (the service fills every field).
pub(crate) fn usage_json(usage: &Usage) -> UsageJson {
    UsageJson {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        total_tokens: usage.total_tokens,
    }
}

/// `error` of a failed response.
#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    code: &'a str,
    message: &'a str,
}

/// `conversation`: OpenAI's `{id}` object, so SDK models parse it.
#[derive(Debug, Serialize)]
struct ConversationJson<'a> {
    id: &'a str,
}

/// One `output` item; the `type` tag comes first, as in OpenAI's payloads.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputItemJson<'a> {
    /// Assistant text.
    Message {
        id: &'a str,
        role: &'a str,
        status: &'a str,
        content: Vec<OutputTextJson<'a>>,
    },
    /// A tool call.
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
        status: &'a str,
    },
    /// A server tool's result.
    FunctionCallOutput {
        id: &'a str,
        call_id: &'a str,
        output: &'a str,
    },
}

/// An `output_text` content part.
#[derive(Debug, Serialize)]
pub(crate) struct OutputTextJson<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
}

/// An `output_text` part holding `text`.
pub(crate) fn output_text(text: &str) -> OutputTextJson<'_> {
    OutputTextJson {
        kind: "output_text",
        text,
        annotations: [],
    }
}

/// The `response` object for a proto `Response`.
pub(crate) fn response_json(response: &Response) -> ResponseJson<'_> {
    ResponseJson {
        id: &response.id,
        object: "response",
        status: &response.status,
        created_at: response.created_at,
        model: &response.model,
        instructions: response.instructions.as_deref(),
        previous_response_id: response.previous_response_id.as_deref(),
        metadata: response
            .metadata
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        output: response
            .output
            .iter()
            .filter_map(output_item_json)
            .collect(),
        usage: response.usage.as_ref().map(usage_json),
        error: response
            .error
            .as_ref()
            .map(|ResponseError { code, message }| ErrorJson { code, message }),
        output_text: &response.output_text,
        background: response.background,
        conversation: response
            .conversation
            .as_deref()
            .map(|id| ConversationJson { id }),
    }
}

/// One output item; `None` when the oneof is unset (nothing to show).
pub(crate) fn output_item_json(item: &OutputItem) -> Option<OutputItemJson<'_>> {
    Some(match item.item.as_ref()? {
        output_item::Item::Message(message) => OutputItemJson::Message {
            id: &message.id,
            role: non_empty_or(&message.role, "assistant"),
            status: &message.status,
            content: message
                .content
                .iter()
                .map(|part| output_text(&part.text))
                .collect(),
        },
        output_item::Item::FunctionCall(call) => OutputItemJson::FunctionCall {
            id: &call.id,
            call_id: &call.call_id,
            name: &call.name,
            arguments: &call.arguments,
            status: &call.status,
        },
        output_item::Item::FunctionCallOutput(result) => OutputItemJson::FunctionCallOutput {
            id: &result.id,
            call_id: &result.call_id,
            output: &result.output,
        },
    })
}

fn non_empty_or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() { default } else { value }
}

/// `GET /v1/responses/{id}/input_items`: an OpenAI list (one page: `has_more` is false).
#[derive(Debug, Serialize)]
pub(crate) struct InputItemListJson<'a> {
    object: &'static str,
    data: Vec<InputItemJson<'a>>,
    first_id: Option<&'a str>,
    last_id: Option<&'a str>,
    has_more: bool,
}

/// One stored input item.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum InputItemJson<'a> {
    /// A message; user/system text is `input_text`, assistant text `output_text`.
    Message {
        id: &'a str,
        role: &'a str,
        content: Vec<InputContentJson<'a>>,
    },
    /// A function result.
    FunctionCallOutput {
        id: &'a str,
        call_id: &'a str,
        output: &'a str,
    },
    /// A function call.
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
}

/// A content part of a stored input message.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum InputContentJson<'a> {
    /// User-side text.
    InputText { text: &'a str },
    /// Assistant text replayed as input.
    OutputText { text: &'a str, annotations: [(); 0] },
    /// An image.
    InputImage { image_url: &'a str, detail: &'a str },
}

/// The input-item list for the service's items.
pub(crate) fn input_items_json(items: &[InputItem]) -> InputItemListJson<'_> {
    let data: Vec<_> = items.iter().filter_map(input_item_json).collect();
    InputItemListJson {
        object: "list",
        first_id: items.first().map(|item| item.id.as_str()),
        last_id: items.last().map(|item| item.id.as_str()),
        data,
        has_more: false,
    }
}

/// A text part of a stored input message: assistant text replays as `output_text`.
fn input_text(text: &str, assistant: bool) -> InputContentJson<'_> {
    if assistant {
        InputContentJson::OutputText {
            text,
            annotations: [],
        }
    } else {
        InputContentJson::InputText { text }
    }
}

/// One input item; `None` when the oneof is unset.
fn input_item_json(item: &InputItem) -> Option<InputItemJson<'_>> {
    Some(match item.item.as_ref()? {
        input_item::Item::Message(message) => {
            let assistant = message.role == "assistant";
            let text = |body| input_text(body, assistant);
            let content = match &message.content {
                None => Vec::new(),
                Some(input_message::Content::Text(body)) => vec![text(body)],
                Some(input_message::Content::Parts(parts)) => parts
                    .parts
                    .iter()
                    .filter_map(|ContentPart { part }| match part.as_ref()? {
                        content_part::Part::Text(body) => Some(text(body)),
                        content_part::Part::ImageUrl(image) => Some(InputContentJson::InputImage {
                            image_url: &image.url,
                            detail: image.detail.as_deref().unwrap_or("auto"),
                        }),
                    })
                    .collect(),
            };
            InputItemJson::Message {
                id: &item.id,
                role: &message.role,
                content,
            }
        }
        input_item::Item::FunctionCallOutput(result) => InputItemJson::FunctionCallOutput {
            id: &item.id,
            call_id: &result.call_id,
            output: &result.output,
        },
        input_item::Item::FunctionCall(call) => InputItemJson::FunctionCall {
            id: &item.id,
            call_id: &call.call_id,
            name: &call.name,
            arguments: &call.arguments,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use caduceus_proto::v1::{
        ContentParts, FunctionCallInput, FunctionCallItem, FunctionCallOutputInput,
        FunctionCallOutputItem, ImageUrl, InputMessage, OutputMessage, OutputText,
    };
    use serde_json::json;

    fn to_json<T: Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap()
    }

    fn full_response() -> Response {
        Response {
            id: "resp_1".into(),
            status: "completed".into(),
            created_at: 1_700_000_000,
            model: "m".into(),
            instructions: Some("be brief".into()),
            previous_response_id: Some("resp_0".into()),
            metadata: [("k".to_owned(), "v".to_owned())].into(),
            output: vec![
                OutputItem {
                    item: Some(output_item::Item::FunctionCall(FunctionCallItem {
                        id: "fc_1".into(),
                        call_id: "call_1".into(),
                        name: "terminal".into(),
                        arguments: "{\"command\":\"ls\"}".into(),
                        status: "completed".into(),
                    })),
                },
                OutputItem {
                    item: Some(output_item::Item::FunctionCallOutput(
                        FunctionCallOutputItem {
                            id: "fco_1".into(),
                            call_id: "call_1".into(),
                            output: "a b".into(),
                        },
                    )),
                },
                OutputItem {
                    item: Some(output_item::Item::Message(OutputMessage {
                        id: "msg_1".into(),
                        role: "assistant".into(),
                        status: "completed".into(),
                        content: vec![OutputText {
                            text: "done".into(),
                        }],
                    })),
                },
                OutputItem { item: None },
            ],
            usage: Some(Usage {
                input_tokens: 3,
                output_tokens: 4,
                total_tokens: 7,
            }),
            error: None,
            background: false,
            conversation: Some("chat".into()),
            session_id: Some("sess".into()),
            output_text: "done".into(),
        }
    }

    #[test]
    fn full_response_renders_in_openai_order() {
        assert_eq!(
            to_json(&response_json(&full_response())),
            concat!(
                r#"{"id":"resp_1","object":"response","status":"completed","created_at":1700000000,"#,
                r#""model":"m","instructions":"be brief","previous_response_id":"resp_0","#,
                r#""metadata":{"k":"v"},"output":["#,
                r#"{"type":"function_call","id":"fc_1","call_id":"call_1","name":"terminal","arguments":"{\"command\":\"ls\"}","status":"completed"},"#,
                r#"{"type":"function_call_output","id":"fco_1","call_id":"call_1","output":"a b"},"#,
                r#"{"type":"message","id":"msg_1","role":"assistant","status":"completed","content":[{"type":"output_text","text":"done","annotations":[]}]}"#,
                r#"],"usage":{"input_tokens":3,"output_tokens":4,"total_tokens":7},"error":null,"#,
                r#""output_text":"done","background":false,"conversation":{"id":"chat"}}"#
            )
        );
    }

    #[test]
    fn absent_optionals_are_null() {
        let response = Response {
            id: "resp_2".into(),
            status: "failed".into(),
            error: Some(ResponseError {
                code: "upstream_unavailable".into(),
                message: "down".into(),
            }),
            background: true,
            ..Response::default()
        };
        let value = serde_json::to_value(response_json(&response)).unwrap();
        assert_eq!(
            value,
            json!({
                "id": "resp_2", "object": "response", "status": "failed", "created_at": 0,
                "model": "", "instructions": null, "previous_response_id": null, "metadata": {},
                "output": [], "usage": null,
                "error": {"code": "upstream_unavailable", "message": "down"},
                "output_text": "", "background": true, "conversation": null
            })
        );
    }

    #[test]
    fn input_items_render_as_a_list() {
        let items = vec![
            InputItem {
                id: "msg_1".into(),
                item: Some(input_item::Item::Message(InputMessage {
                    role: "user".into(),
                    content: Some(input_message::Content::Parts(ContentParts {
                        parts: vec![
                            ContentPart {
                                part: Some(content_part::Part::Text("look".into())),
                            },
                            ContentPart {
                                part: Some(content_part::Part::ImageUrl(ImageUrl {
                                    url: "https://x/i.png".into(),
                                    detail: None,
                                })),
                            },
                        ],
                    })),
                })),
            },
            InputItem {
                id: "msg_2".into(),
                item: Some(input_item::Item::Message(InputMessage {
                    role: "assistant".into(),
                    content: Some(input_message::Content::Text("ok".into())),
                })),
            },
            InputItem {
                id: "fc_1".into(),
                item: Some(input_item::Item::FunctionCall(FunctionCallInput {
                    call_id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                })),
            },
            InputItem {
                id: "fco_1".into(),
                item: Some(input_item::Item::FunctionCallOutput(
                    FunctionCallOutputInput {
                        call_id: "c".into(),
                        output: "1".into(),
                    },
                )),
            },
        ];
        assert_eq!(
            serde_json::to_value(input_items_json(&items)).unwrap(),
            json!({
                "object": "list",
                "data": [
                    {"type": "message", "id": "msg_1", "role": "user", "content": [
                        {"type": "input_text", "text": "look"},
                        {"type": "input_image", "image_url": "https://x/i.png", "detail": "auto"}
                    ]},
                    {"type": "message", "id": "msg_2", "role": "assistant", "content": [
                        {"type": "output_text", "text": "ok", "annotations": []}
                    ]},
                    {"type": "function_call", "id": "fc_1", "call_id": "c", "name": "f", "arguments": "{}"},
                    {"type": "function_call_output", "id": "fco_1", "call_id": "c", "output": "1"}
                ],
                "first_id": "msg_1", "last_id": "fco_1", "has_more": false
            })
        );
        assert_eq!(
            serde_json::to_value(input_items_json(&[])).unwrap(),
            json!({"object": "list", "data": [], "first_id": null, "last_id": null, "has_more": false})
        );
    }
}
