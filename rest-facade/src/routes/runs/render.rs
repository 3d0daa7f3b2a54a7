//! Proto → JSON for runs: the `hermes.run` object and the event stream's unnamed SSE frames
//! (`id: <seq>` + `data: {"event","run_id","seq","timestamp",…payload}`), ended by the comment
//! `: stream closed`, or by one `{"event":"error",…}` frame when the gRPC stream fails midway.

use axum::response::sse::Event;
use caduceus_proto::v1::{PendingApproval, Run, RunEvent, run_event::Payload};
use serde::Serialize;

use crate::error::ApiError;
use crate::routes::responses::{Relay, UsageJson, usage_json};

/// The `hermes.run` object (API.md §7); absent optionals are `null`.
#[derive(Debug, Serialize)]
pub(crate) struct RunJson<'a> {
    object: &'static str,
    run_id: &'a str,
    status: &'a str,
    created_at: f64,
    updated_at: f64,
    session_id: Option<&'a str>,
    model: &'a str,
    last_event: Option<&'a str>,
    output: Option<&'a str>,
    usage: Option<UsageJson>,
    error: Option<&'a str>,
    pending_approvals: Vec<ApprovalJson<'a>>,
}

/// One approval the run waits for.
#[derive(Debug, Serialize)]
struct ApprovalJson<'a> {
    approval_id: &'a str,
    command: &'a str,
    description: &'a str,
    pattern_key: &'a str,
    choices: &'a [String],
    allow_permanent: bool,
    requested_at: f64,
}

/// The `hermes.run` object for a proto `Run`.
pub(crate) fn run_json(run: &Run) -> RunJson<'_> {
    RunJson {
        object: "hermes.run",
        run_id: &run.run_id,
        status: &run.status,
        created_at: run.created_at,
        updated_at: run.updated_at,
        session_id: run.session_id.as_deref(),
        model: &run.model,
        last_event: run.last_event.as_deref(),
        output: run.output.as_deref(),
        usage: run.usage.as_ref().map(usage_json),
        error: run.error.as_deref(),
        pending_approvals: run.pending_approvals.iter().map(approval_json).collect(),
    }
}

fn approval_json(approval: &PendingApproval) -> ApprovalJson<'_> {
    ApprovalJson {
        approval_id: &approval.approval_id,
        command: &approval.command,
        description: &approval.description,
        pattern_key: &approval.pattern_key,
        choices: &approval.choices,
        allow_permanent: approval.allow_permanent,
        requested_at: approval.requested_at,
    }
}

/// One event's JSON: the envelope fields first, then the payload's.
#[derive(Debug, Serialize)]
struct EventJson<'a> {
    event: &'a str,
    run_id: &'a str,
    seq: i64,
    timestamp: f64,
    #[serde(flatten)]
    payload: PayloadJson<'a>,
}

/// The payload fields of each event type.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum PayloadJson<'a> {
    MessageDelta {
        delta: &'a str,
    },
    ToolStarted {
        tool: &'a str,
        tool_call_id: &'a str,
        preview: &'a str,
    },
    ToolCompleted {
        tool: &'a str,
        tool_call_id: &'a str,
        duration: f64,
        error: Option<&'a str>,
    },
    ApprovalRequest {
        approval_id: &'a str,
        command: &'a str,
        description: &'a str,
        pattern_key: &'a str,
        choices: &'a [String],
        allow_permanent: bool,
    },
    ApprovalResponded {
        approval_id: &'a str,
        choice: &'a str,
    },
    RunCompleted {
        output: &'a str,
        usage: Option<UsageJson>,
    },
    RunFailed {
        error: &'a str,
    },
    Empty {},
}

/// The `data:` JSON of one run event.
pub(crate) fn event_json(event: &RunEvent) -> String {
    let payload = match &event.payload {
        None | Some(Payload::Marker(_)) => PayloadJson::Empty {},
        Some(Payload::MessageDelta(delta)) => PayloadJson::MessageDelta {
            delta: &delta.delta,
        },
        Some(Payload::ToolStarted(tool)) => PayloadJson::ToolStarted {
            tool: &tool.tool,
            tool_call_id: &tool.tool_call_id,
            preview: &tool.preview,
        },
        Some(Payload::ToolCompleted(tool)) => PayloadJson::ToolCompleted {
            tool: &tool.tool,
            tool_call_id: &tool.tool_call_id,
            duration: tool.duration,
            error: tool.error.as_deref(),
        },
        Some(Payload::ApprovalRequest(request)) => PayloadJson::ApprovalRequest {
            approval_id: &request.approval_id,
            command: &request.command,
            description: &request.description,
            pattern_key: &request.pattern_key,
            choices: &request.choices,
            allow_permanent: request.allow_permanent,
        },
        Some(Payload::ApprovalResponded(answer)) => PayloadJson::ApprovalResponded {
            approval_id: &answer.approval_id,
            choice: &answer.choice,
        },
        Some(Payload::RunCompleted(done)) => PayloadJson::RunCompleted {
            output: &done.output,
            usage: done.usage.as_ref().map(usage_json),
        },
        Some(Payload::RunFailed(failed)) => PayloadJson::RunFailed {
            error: &failed.error,
        },
    };
    to_json(&EventJson {
        event: &event.event,
        run_id: &event.run_id,
        seq: event.seq,
        timestamp: event.timestamp,
        payload,
    })
}

/// The frame sent when the gRPC stream fails after it started (not a durable event: no `seq`).
#[derive(Debug, Serialize)]
struct FailureJson<'a> {
    event: &'static str,
    run_id: &'a str,
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    code: Option<&'a str>,
}

/// Serialises a frame; only strings and numbers inside, so the fallback is never used, but it
/// keeps the stream panic-free.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

/// Renders a run's event stream.
#[derive(Debug)]
pub(crate) struct RunRelay {
    /// The run watched, for the failure frame.
    pub(crate) run_id: String,
}

impl Relay<RunEvent> for RunRelay {
    fn frame(&mut self, event: RunEvent) -> Event {
        Event::default()
            .id(event.seq.to_string())
            .data(event_json(&event))
    }

    fn failed(&mut self, status: tonic::Status) -> Event {
        let error = ApiError::from(status);
        Event::default().data(to_json(&FailureJson {
            event: "error",
            run_id: &self.run_id,
            message: error.message(),
            kind: error.kind(),
            code: error.code(),
        }))
    }

    fn closed(&mut self) -> Option<Event> {
        Some(Event::default().comment("stream closed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::responses::relay;
    use crate::routes::responses::test_support::sse_text;
    use caduceus_proto::v1::{
        RunApprovalRequest, RunApprovalResponded, RunCompleted, RunFailed, RunMarker,
        RunMessageDelta, RunToolCompleted, RunToolStarted, Usage,
    };
    use futures::stream;
    use serde_json::{Value, json};

    fn event(kind: &str, seq: i64, payload: Option<Payload>) -> RunEvent {
        RunEvent {
            event: kind.into(),
            run_id: "run_1".into(),
            seq,
            timestamp: 1.5,
            payload,
        }
    }

    fn rendered(kind: &str, payload: Option<Payload>) -> Value {
        serde_json::from_str(&event_json(&event(kind, 3, payload))).unwrap()
    }

    fn with_envelope(kind: &str, fields: Value) -> Value {
        let mut value = json!({"event": kind, "run_id": "run_1", "seq": 3, "timestamp": 1.5});
        for (key, field) in fields.as_object().unwrap() {
            value[key] = field.clone();
        }
        value
    }

    #[test]
    fn run_object_renders_with_nulls() {
        let run = Run {
            run_id: "run_1".into(),
            status: "queued".into(),
            created_at: 10.5,
            updated_at: 11.0,
            model: "m".into(),
            ..Run::default()
        };
        assert_eq!(
            to_json(&run_json(&run)),
            concat!(
                r#"{"object":"hermes.run","run_id":"run_1","status":"queued","created_at":10.5,"#,
                r#""updated_at":11.0,"session_id":null,"model":"m","last_event":null,"output":null,"#,
                r#""usage":null,"error":null,"pending_approvals":[]}"#
            )
        );
    }

    #[test]
    fn finished_run_with_pending_approval_renders_every_field() {
        let run = Run {
            run_id: "run_1".into(),
            status: "waiting_for_approval".into(),
            session_id: Some("s".into()),
            last_event: Some("approval.request".into()),
            output: Some("out".into()),
            usage: Some(Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            }),
            error: Some("e".into()),
            pending_approvals: vec![PendingApproval {
                approval_id: "ap_1".into(),
                command: "rm -rf x".into(),
                description: "deletes".into(),
                pattern_key: "rm".into(),
                choices: vec!["once".into(), "deny".into()],
                allow_permanent: false,
                requested_at: 12.25,
            }],
            ..Run::default()
        };
        let value = serde_json::to_value(run_json(&run)).unwrap();
        assert_eq!(value["session_id"], "s");
        assert_eq!(value["last_event"], "approval.request");
        assert_eq!(value["output"], "out");
        assert_eq!(
            value["usage"],
            json!({"input_tokens": 1, "output_tokens": 2, "total_tokens": 3})
        );
        assert_eq!(value["error"], "e");
        assert_eq!(
            value["pending_approvals"],
            json!([{"approval_id": "ap_1", "command": "rm -rf x", "description": "deletes",
                    "pattern_key": "rm", "choices": ["once", "deny"], "allow_permanent": false,
                    "requested_at": 12.25}])
        );
    }

    #[test]
    fn every_event_type_renders_its_fields() {
        let cases = [
            (
                "run.started",
                Some(Payload::Marker(RunMarker {})),
                json!({}),
            ),
            ("run.cancelled", None, json!({})),
            (
                "message.delta",
                Some(Payload::MessageDelta(RunMessageDelta {
                    delta: "hi".into(),
                })),
                json!({"delta": "hi"}),
            ),
            (
                "tool.started",
                Some(Payload::ToolStarted(RunToolStarted {
                    tool: "terminal".into(),
                    tool_call_id: "call_1".into(),
                    preview: "ls".into(),
                })),
                json!({"tool": "terminal", "tool_call_id": "call_1", "preview": "ls"}),
            ),
            (
                "tool.completed",
                Some(Payload::ToolCompleted(RunToolCompleted {
                    tool: "terminal".into(),
                    tool_call_id: "call_1".into(),
                    duration: 0.25,
                    error: None,
                })),
                json!({"tool": "terminal", "tool_call_id": "call_1", "duration": 0.25, "error": null}),
            ),
            (
                "approval.request",
                Some(Payload::ApprovalRequest(RunApprovalRequest {
                    approval_id: "ap_1".into(),
                    command: "rm x".into(),
                    description: "d".into(),
                    pattern_key: "rm".into(),
                    choices: vec!["once".into()],
                    allow_permanent: true,
                })),
                json!({"approval_id": "ap_1", "command": "rm x", "description": "d",
                       "pattern_key": "rm", "choices": ["once"], "allow_permanent": true}),
            ),
            (
                "approval.responded",
                Some(Payload::ApprovalResponded(RunApprovalResponded {
                    approval_id: "ap_1".into(),
                    choice: "deny".into(),
                })),
                json!({"approval_id": "ap_1", "choice": "deny"}),
            ),
            (
                "run.completed",
                Some(Payload::RunCompleted(RunCompleted {
                    output: "done".into(),
                    usage: Some(Usage {
                        input_tokens: 1,
                        output_tokens: 1,
                        total_tokens: 2,
                    }),
                })),
                json!({"output": "done",
                       "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}),
            ),
            (
                "run.failed",
                Some(Payload::RunFailed(RunFailed {
                    error: "boom".into(),
                })),
                json!({"error": "boom"}),
            ),
        ];
        for (kind, payload, fields) in cases {
            assert_eq!(
                rendered(kind, payload),
                with_envelope(kind, fields),
                "{kind}"
            );
        }
    }

    #[tokio::test]
    async fn one_event_renders_to_exact_sse_bytes() {
        let delta = event(
            "message.delta",
            3,
            Some(Payload::MessageDelta(RunMessageDelta {
                delta: "hi".into(),
            })),
        );
        let text = sse_text(relay(
            Some(delta),
            stream::empty(),
            RunRelay {
                run_id: "run_1".into(),
            },
        ))
        .await;
        assert_eq!(
            text,
            concat!(
                "id: 3\n",
                r#"data: {"event":"message.delta","run_id":"run_1","seq":3,"timestamp":1.5,"delta":"hi"}"#,
                "\n\n: stream closed\n\n"
            )
        );
    }

    #[tokio::test]
    async fn a_midway_failure_is_one_error_frame_without_closing_comment() {
        let rest = stream::iter(vec![Err(tonic::Status::unavailable("lost"))]);
        let text = sse_text(relay(
            Some(event("run.started", 1, None)),
            rest,
            RunRelay {
                run_id: "run_1".into(),
            },
        ))
        .await;
        assert_eq!(
            text,
            concat!(
                "id: 1\n",
                r#"data: {"event":"run.started","run_id":"run_1","seq":1,"timestamp":1.5}"#,
                "\n\n",
                r#"data: {"event":"error","run_id":"run_1","message":"lost","type":"server_error","code":"unavailable"}"#,
                "\n\n"
            )
        );
    }
}
