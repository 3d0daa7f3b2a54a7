//! The run event vocabulary (API.md §7): [`EventPayload`] — each type with exactly the fields the
//! contract names — and [`RunEvent`], a payload with its run, `seq` and time. Stored as JSON in
//! `run_events.payload`; converting to the wire (proto) is the gRPC layer's job, persisting and
//! publishing is `log.rs`'.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::store::StoredEvent;

/// Token usage of a finished run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub total_tokens: i64,
}

/// What happened, with the fields of its type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum EventPayload {
    /// The run left the queue.
    #[serde(rename = "run.started")]
    RunStarted {},
    /// A piece of answer text.
    #[serde(rename = "message.delta")]
    MessageDelta { delta: String },
    /// A tool call began.
    #[serde(rename = "tool.started")]
    ToolStarted {
        tool: String,
        tool_call_id: String,
        preview: String,
    },
    /// A tool call ended; `duration` in seconds.
    #[serde(rename = "tool.completed")]
    ToolCompleted {
        tool: String,
        tool_call_id: String,
        duration: f64,
        error: Option<String>,
    },
    /// The run waits for a human.
    #[serde(rename = "approval.request")]
    ApprovalRequest {
        approval_id: String,
        command: String,
        description: String,
        pattern_key: String,
        choices: Vec<String>,
        allow_permanent: bool,
    },
    /// An approval was resolved (by a human, a timeout or a stop).
    #[serde(rename = "approval.responded")]
    ApprovalResponded { approval_id: String, choice: String },
    /// Terminal: the answer.
    #[serde(rename = "run.completed")]
    RunCompleted { output: String, usage: RunUsage },
    /// Terminal: failed or interrupted.
    #[serde(rename = "run.failed")]
    RunFailed { error: String },
    /// Terminal: stopped by a client.
    #[serde(rename = "run.cancelled")]
    RunCancelled {},
}

impl EventPayload {
    /// The event type, e.g. `message.delta`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::RunStarted {} => "run.started",
            Self::MessageDelta { .. } => "message.delta",
            Self::ToolStarted { .. } => "tool.started",
            Self::ToolCompleted { .. } => "tool.completed",
            Self::ApprovalRequest { .. } => "approval.request",
            Self::ApprovalResponded { .. } => "approval.responded",
            Self::RunCompleted { .. } => "run.completed",
            Self::RunFailed { .. } => "run.failed",
            Self::RunCancelled {} => "run.cancelled",
        }
    }

    /// Whether nothing can follow this event.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::RunCompleted { .. } | Self::RunFailed { .. } | Self::RunCancelled {}
        )
    }

    /// The `(type, payload JSON)` row to store.
    pub(crate) fn to_row(&self) -> (String, String) {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        (self.name().to_owned(), json)
    }
}

/// One durable event of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub run_id: String,
    /// From 1, contiguous within the run.
    pub seq: i64,
    /// Float Unix seconds.
    pub timestamp: f64,
    pub payload: EventPayload,
}

impl RunEvent {
    /// Whether this event ends the run's stream.
    pub fn is_terminal(&self) -> bool {
        self.payload.is_terminal()
    }
}

impl TryFrom<StoredEvent> for RunEvent {
    type Error = Error;

    /// A stored row back into an event; a row that does not parse is an internal fault.
    fn try_from(stored: StoredEvent) -> Result<Self, Error> {
        let payload: EventPayload = serde_json::from_str(&stored.payload).map_err(|error| {
            Error::Internal(format!(
                "run {} event {} is unreadable: {error}",
                stored.run_id, stored.seq
            ))
        })?;
        Ok(RunEvent {
            run_id: stored.run_id,
            seq: stored.seq,
            timestamp: stored.timestamp,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn payloads_round_trip_with_their_type_names() {
        let cases = vec![
            EventPayload::RunStarted {},
            EventPayload::MessageDelta { delta: "hi".into() },
            EventPayload::ToolStarted {
                tool: "terminal".into(),
                tool_call_id: "c1".into(),
                preview: "ls".into(),
            },
            EventPayload::ToolCompleted {
                tool: "terminal".into(),
                tool_call_id: "c1".into(),
                duration: 0.5,
                error: None,
            },
            EventPayload::ApprovalRequest {
                approval_id: "apr_1".into(),
                command: "rm -rf x".into(),
                description: "recursive delete".into(),
                pattern_key: "recursive_delete".into(),
                choices: vec!["once".into()],
                allow_permanent: true,
            },
            EventPayload::ApprovalResponded {
                approval_id: "apr_1".into(),
                choice: "deny".into(),
            },
            EventPayload::RunCompleted {
                output: "done".into(),
                usage: RunUsage {
                    input_tokens: 1,
                    output_tokens: 2,
                    total_tokens: 3,
                },
            },
            EventPayload::RunFailed {
                error: "boom".into(),
            },
            EventPayload::RunCancelled {},
        ];
        for payload in cases {
            let (name, json) = payload.to_row();
            let value: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["event"], name);
            let stored = StoredEvent {
                run_id: "run_1".into(),
                seq: 1,
                event: name,
                timestamp: 1.0,
                payload: json,
            };
            assert_eq!(RunEvent::try_from(stored).unwrap().payload, payload);
        }
    }

    #[test]
    fn only_completed_failed_and_cancelled_are_terminal() {
        assert!(EventPayload::RunCancelled {}.is_terminal());
        assert!(EventPayload::RunFailed { error: "x".into() }.is_terminal());
        assert!(!EventPayload::RunStarted {}.is_terminal());
        let value = serde_json::to_value(EventPayload::RunStarted {}).unwrap();
        assert_eq!(value, json!({"event": "run.started"}));
    }

    #[test]
    fn unreadable_rows_are_internal_errors() {
        let stored = StoredEvent {
            run_id: "run_1".into(),
            seq: 4,
            event: "x".into(),
            timestamp: 1.0,
            payload: "not json".into(),
        };
        assert!(matches!(
            RunEvent::try_from(stored),
            Err(Error::Internal(_))
        ));
    }
}
