//! The session chat stream: agent events → the named events of API.md §6, each stamped with the
//! session id, a `run_<hex>` id for the turn, `seq` from 1 (contiguous) and `ts`. `run.started`
//! and `message.started` open the stream when the turn produces its first event; a turn that
//! fails before that is the stream's only (error) item, so REST answers a plain HTTP error. A
//! failure after it ends with `assistant.completed` (partial), `error`, `done`. Dropping the
//! stream cancels the turn.

use caduceus_proto::json::to_proto_struct;
use caduceus_proto::v1::{
    SessionAssistantCompleted, SessionAssistantDelta, SessionChatDone, SessionChatError,
    SessionChatEvent, SessionMessage, SessionMessageStarted, SessionRunCompleted,
    SessionRunStarted, SessionToolCompleted, SessionToolStarted, session_chat_event::Payload,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::chat::Prepared;
use super::convert::{message_to_proto, usage_to_proto};
use crate::agent::{TurnEvent, failure_without_output};
use crate::error::Error;
use crate::grpc::streaming::BoxStream;
use crate::grpc::streaming::CancelOnDrop;
use crate::state::AppState;
use crate::store::Store;

type Sender = mpsc::Sender<Result<SessionChatEvent, Status>>;

/// Starts the turn in a task and returns its event stream.
pub(super) fn start(state: &AppState, prepared: Prepared) -> BoxStream<SessionChatEvent> {
    let (out, receiver) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let stream = CancelOnDrop::new(receiver, &cancel);
    let emitter = Emitter {
        session_id: prepared.request.session_id.clone(),
        run_id: format!("run_{}", uuid::Uuid::new_v4().simple()),
        message_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        seq: 0,
        out,
        cancel,
    };
    tokio::spawn(crate::telemetry::propagate(run(
        state.clone(),
        prepared,
        emitter,
    )));
    Box::pin(stream)
}

/// Stamps and sends the events of one turn.
struct Emitter {
    session_id: String,
    run_id: String,
    message_id: String,
    seq: i64,
    out: Sender,
    cancel: CancellationToken,
}

impl Emitter {
    /// Sends one event with the next `seq`; a gone client cancels the turn.
    async fn emit(&mut self, name: &str, payload: Payload) {
        self.seq += 1;
        let event = SessionChatEvent {
            event: name.to_owned(),
            session_id: self.session_id.clone(),
            run_id: self.run_id.clone(),
            seq: self.seq,
            ts: crate::store::now(),
            payload: Some(payload),
        };
        if self.out.send(Ok(event)).await.is_err() {
            self.cancel.cancel();
        }
    }

    /// `run.started` then `message.started`.
    async fn open(&mut self, user_message: &str) {
        let started = SessionRunStarted {
            user_message: user_message.to_owned(),
        };
        self.emit("run.started", Payload::RunStarted(started)).await;
        let message = SessionMessageStarted {
            message_id: self.message_id.clone(),
            role: "assistant".into(),
        };
        self.emit("message.started", Payload::MessageStarted(message))
            .await;
    }

    /// One agent event as its named event.
    async fn relay(&mut self, event: TurnEvent) {
        let message_id = self.message_id.clone();
        match event {
            TurnEvent::TextDelta(delta) => {
                let payload = SessionAssistantDelta { message_id, delta };
                self.emit("assistant.delta", Payload::AssistantDelta(payload))
                    .await;
            }
            TurnEvent::ToolStarted {
                name,
                preview,
                arguments,
                ..
            } => {
                let args = match &arguments {
                    serde_json::Value::Object(map) => Some(to_proto_struct(map)),
                    _ => None,
                };
                let payload = SessionToolStarted {
                    message_id,
                    tool_name: name,
                    preview,
                    args,
                };
                self.emit("tool.started", Payload::ToolStarted(payload))
                    .await;
            }
            TurnEvent::ToolCompleted {
                name,
                duration,
                error,
                ..
            } => {
                let payload = SessionToolCompleted {
                    message_id,
                    tool_name: name,
                    duration: duration.as_secs_f64(),
                    error,
                };
                self.emit("tool.completed", Payload::ToolCompleted(payload))
                    .await;
            }
        }
    }

    async fn assistant_completed(&mut self, content: String, failure: Option<&Error>) {
        let payload = SessionAssistantCompleted {
            message_id: self.message_id.clone(),
            partial: failure.is_some() && !content.is_empty(),
            interrupted: matches!(failure, Some(Error::Cancelled)),
            completed: failure.is_none(),
            content,
        };
        self.emit("assistant.completed", Payload::AssistantCompleted(payload))
            .await;
    }

    async fn done(&mut self) {
        self.emit("done", Payload::Done(SessionChatDone {})).await;
    }
}

async fn run(state: AppState, prepared: Prepared, mut emitter: Emitter) {
    let Prepared {
        request,
        user_message,
        after_id,
        permit,
        ..
    } = prepared;
    let (events, mut incoming) = mpsc::channel::<TurnEvent>(64);
    let cancel = emitter.cancel.clone();
    let relay = async {
        let mut opened = false;
        while let Some(event) = incoming.recv().await {
            if !opened {
                opened = true;
                emitter.open(&user_message).await;
            }
            emitter.relay(event).await;
        }
        opened
    };
    let (outcome, opened) = tokio::join!(state.agent.run_turn(request, events, cancel), relay);
    drop(permit);

    if let Some(error) = outcome.error {
        if !opened {
            let status = Status::from(failure_without_output(error));
            let _ = emitter.out.send(Err(status)).await;
            return;
        }
        emitter
            .assistant_completed(outcome.content, Some(&error))
            .await;
        let message = Status::from(error).message().to_owned();
        emitter
            .emit("error", Payload::Error(SessionChatError { message }))
            .await;
        emitter.done().await;
        return;
    }
    if !opened {
        emitter.open(&user_message).await;
    }
    emitter.assistant_completed(outcome.content, None).await;
    let messages = stored_by_turn(&state.store, &emitter.session_id, after_id).await;
    let completed = SessionRunCompleted {
        message_id: emitter.message_id.clone(),
        completed: true,
        messages,
        usage: Some(usage_to_proto(outcome.usage)),
    };
    emitter
        .emit("run.completed", Payload::RunCompleted(completed))
        .await;
    emitter.done().await;
}

/// The rows the turn stored (every message after `after_id`); a read failure is logged and
/// reported as none rather than failing a turn that already succeeded.
async fn stored_by_turn(store: &Store, session_id: &str, after_id: i64) -> Vec<SessionMessage> {
    match store.list_messages(session_id, None, Some(after_id)).await {
        Ok((records, _)) => records.into_iter().map(message_to_proto).collect(),
        Err(error) => {
            tracing::warn!(%error, "could not read the messages of a session turn");
            Vec::new()
        }
    }
}
