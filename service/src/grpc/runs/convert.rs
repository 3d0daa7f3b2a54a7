//! Domain → proto for runs: [`RunView`] → `Run`, and [`RunEvent`] → the proto event with its
//! typed payload. Requests → domain is `input.rs`.

use caduceus_proto::v1 as pb;
use caduceus_proto::v1::run_event::Payload;

use crate::runs::{EventPayload, RunEvent, RunUsage, RunView};

fn usage(usage: RunUsage) -> pb::Usage {
    pb::Usage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        total_tokens: usage.total_tokens,
    }
}

/// The `hermes.run` message.
pub fn run_proto(view: RunView) -> pb::Run {
    let RunView {
        run,
        pending_approvals,
    } = view;
    pb::Run {
        run_id: run.id,
        status: run.status,
        created_at: run.created_at,
        updated_at: run.updated_at,
        session_id: run.session_id,
        model: run.model,
        last_event: run.last_event,
        output: run.output,
        usage: run.usage.map(|(input, output, total)| {
            usage(RunUsage {
                input_tokens: input,
                output_tokens: output,
                total_tokens: total,
            })
        }),
        error: run.error,
        pending_approvals: pending_approvals
            .into_iter()
            .map(|approval| pb::PendingApproval {
                approval_id: approval.id,
                command: approval.command,
                description: approval.description,
                pattern_key: approval.pattern_key,
                choices: crate::runs::CHOICES
                    .iter()
                    .map(|c| (*c).to_owned())
                    .collect(),
                allow_permanent: true,
                requested_at: approval.requested_at,
            })
            .collect(),
    }
}

/// One event on the wire.
pub fn event_proto(event: RunEvent) -> pb::RunEvent {
    let name = event.payload.name().to_owned();
    let payload = match event.payload {
        EventPayload::RunStarted {} | EventPayload::RunCancelled {} => {
            Payload::Marker(pb::RunMarker {})
        }
        EventPayload::MessageDelta { delta } => {
            Payload::MessageDelta(pb::RunMessageDelta { delta })
        }
        EventPayload::ToolStarted {
            tool,
            tool_call_id,
            preview,
        } => Payload::ToolStarted(pb::RunToolStarted {
            tool,
            tool_call_id,
            preview,
        }),
        EventPayload::ToolCompleted {
            tool,
            tool_call_id,
            duration,
            error,
        } => Payload::ToolCompleted(pb::RunToolCompleted {
            tool,
            tool_call_id,
            duration,
            error,
        }),
        EventPayload::ApprovalRequest {
            approval_id,
            command,
            description,
            pattern_key,
            choices,
            allow_permanent,
        } => Payload::ApprovalRequest(pb::RunApprovalRequest {
            approval_id,
            command,
            description,
            pattern_key,
            choices,
            allow_permanent,
        }),
        EventPayload::ApprovalResponded {
            approval_id,
            choice,
        } => Payload::ApprovalResponded(pb::RunApprovalResponded {
            approval_id,
            choice,
        }),
        EventPayload::RunCompleted {
            output,
            usage: used,
        } => Payload::RunCompleted(pb::RunCompleted {
            output,
            usage: Some(usage(used)),
        }),
        EventPayload::RunFailed { error } => Payload::RunFailed(pb::RunFailed { error }),
    };
    pb::RunEvent {
        event: name,
        run_id: event.run_id,
        seq: event.seq,
        timestamp: event.timestamp,
        payload: Some(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_their_typed_payloads() {
        let event = event_proto(RunEvent {
            run_id: "run_1".into(),
            seq: 3,
            timestamp: 1.5,
            payload: EventPayload::MessageDelta { delta: "hi".into() },
        });
        assert_eq!(event.event, "message.delta");
        assert_eq!(event.seq, 3);
        assert_eq!(
            event.payload,
            Some(Payload::MessageDelta(pb::RunMessageDelta {
                delta: "hi".into()
            }))
        );
        let cancelled = event_proto(RunEvent {
            run_id: "run_1".into(),
            seq: 4,
            timestamp: 2.0,
            payload: EventPayload::RunCancelled {},
        });
        assert_eq!(cancelled.event, "run.cancelled");
        assert_eq!(cancelled.payload, Some(Payload::Marker(pb::RunMarker {})));
    }
}
