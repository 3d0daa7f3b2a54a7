//! Runs one response turn in its own task, detached from the request that started it: the
//! lifecycle events (`response.created`, `response.in_progress`), the builder's item events while
//! the agent works, then the final object and its terminal event (`response.completed` |
//! `.failed` | `.incomplete`). Every event gets the next sequence number (from 0, no gaps), is
//! stored (stored responses) before it is broadcast to live followers and sent to the caller's
//! stream, so a follower that reads the store and then listens never misses or repeats one.
//! The terminal event is stored before the final object, and published after it.

use std::sync::Arc;

use caduceus_proto::v1::response_stream_event::Payload;
use caduceus_proto::v1::{
    Response as ResponseObject, ResponseError, ResponseStreamEvent, Usage as UsageProto,
};
use prost::Message as _;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::builder::{self, Builder, Draft};
use super::hub::Live;
use super::{Inner, Plan, Started, record};
use crate::agent::{TurnEvent, TurnOutcome, failure_without_output};
use crate::error::Error;
use crate::llm::Message;
use crate::store::Store;

/// Saves a stored response, registers it, and spawns its runner.
pub(super) async fn start(
    inner: Arc<Inner>,
    plan: Plan,
    client: Option<mpsc::Sender<ResponseStreamEvent>>,
) -> Result<Started, Error> {
    if plan.store {
        let row = record::new_row(
            &plan.object,
            plan.session_id(),
            &plan.prefix,
            &plan.input_items,
        );
        let evicted = inner
            .store
            .insert_response(&row, inner.config.response_store_capacity)
            .await?;
        if !evicted.is_empty() {
            tracing::debug!(
                count = evicted.len(),
                "evicted least recently used responses"
            );
        }
    }
    let cancel = CancellationToken::new();
    let live = plan
        .store
        .then(|| inner.hub.register(plan.id(), cancel.clone()));
    let (done_tx, done_rx) = oneshot::channel();
    let initial = plan.object.clone();
    let token = cancel.clone();
    // The turn outlives the request, but stays in its trace.
    tokio::spawn(crate::telemetry::propagate(async move {
        let (live, guard) = live.unzip();
        let emitter = Emitter {
            store: plan.store.then(|| inner.store.clone()),
            live: live.as_ref().map(|l| l.events.clone()),
            client,
            next: 0,
        };
        let object = run(&inner, plan, emitter, live, token).await;
        drop(guard);
        let _ = done_tx.send(object);
    }));
    Ok(Started {
        initial,
        cancel,
        done: done_rx,
    })
}

/// Numbers, stores and delivers events.
struct Emitter {
    store: Option<Store>,
    live: Option<broadcast::Sender<ResponseStreamEvent>>,
    client: Option<mpsc::Sender<ResponseStreamEvent>>,
    next: i64,
}

impl Emitter {
    fn stamp(&mut self, (kind, payload): Draft) -> ResponseStreamEvent {
        let event = ResponseStreamEvent {
            r#type: kind.to_owned(),
            sequence_number: self.next,
            payload: Some(payload),
        };
        self.next += 1;
        event
    }

    async fn persist(&self, response_id: &str, event: &ResponseStreamEvent) {
        if let Some(store) = &self.store
            && let Err(error) = store
                .append_response_event(response_id, &record::event_row(event))
                .await
        {
            tracing::warn!(%error, "could not store a response event");
        }
    }

    async fn publish(&mut self, event: ResponseStreamEvent) {
        if let Some(live) = &self.live {
            let _ = live.send(event.clone());
        }
        if let Some(client) = &self.client
            && client.send(event).await.is_err()
        {
            self.client = None;
        }
    }

    async fn emit(&mut self, response_id: &str, draft: Draft) {
        let event = self.stamp(draft);
        self.persist(response_id, &event).await;
        self.publish(event).await;
    }
}

async fn run(
    inner: &Inner,
    plan: Plan,
    mut emitter: Emitter,
    live: Option<Live>,
    cancel: CancellationToken,
) -> ResponseObject {
    let Plan {
        mut object,
        store: stored,
        turn,
        prefix,
        input_rows,
        permit: _permit,
        ..
    } = plan;
    let id = object.id.clone();
    let session_id = turn.session_id.clone();
    let heartbeat = stored.then(|| tokio::spawn(heartbeat(inner.store.clone(), id.clone())));
    emitter
        .emit(&id, ("response.created", Payload::Response(object.clone())))
        .await;

    // One response turn per session at a time: the turn's rows are read back as its output.
    let lock = inner.hub.session_lock(&session_id);
    let turn_lock = tokio::select! {
        held = lock.lock_owned() => Some(held),
        () = cancel.cancelled() => None,
    };
    let after_id = if turn_lock.is_some() {
        inner.store.last_message_id(&session_id).await
    } else {
        Err(crate::store::StoreError::NotFound)
    };
    object.status = "in_progress".into();
    if stored
        && object.background
        && let Err(error) = inner
            .store
            .update_response(&id, "in_progress", &object.encode_to_vec(), None)
            .await
    {
        tracing::warn!(%error, "could not mark a response in progress");
    }
    emitter
        .emit(
            &id,
            ("response.in_progress", Payload::Response(object.clone())),
        )
        .await;

    let (mut builder, outcome) = match after_id {
        Ok(after_id) => {
            let mut builder = Builder::new(inner.store.clone(), session_id, after_id, input_rows);
            let (events, mut incoming) = mpsc::channel::<TurnEvent>(64);
            let relay = async {
                while let Some(event) = incoming.recv().await {
                    for draft in builder.on_event(event).await {
                        emitter.emit(&id, draft).await;
                    }
                }
            };
            let (outcome, ()) =
                tokio::join!(inner.agent.run_turn(turn, events, cancel.clone()), relay);
            (builder, outcome)
        }
        Err(error) => {
            let error = if cancel.is_cancelled() {
                Error::Cancelled
            } else {
                Error::from(error)
            };
            let builder = Builder::new(inner.store.clone(), session_id, i64::MAX, 0);
            (builder, failed_outcome(error))
        }
    };

    let cancel_requested = live.as_ref().is_some_and(Live::cancel_requested);
    let mut outcome = outcome;
    let (status, error) = conclude(
        outcome.error.take(),
        &outcome.finish_reason,
        cancel_requested,
    );
    let message_status = if status == "completed" {
        "completed"
    } else {
        "incomplete"
    };
    for draft in builder.finish(message_status).await {
        emitter.emit(&id, draft).await;
    }
    object.status = status.to_owned();
    object.error = error;
    object.output = builder.items().to_vec();
    object.output_text = builder::output_text(&object.output);
    object.usage = Some(usage(&outcome));

    let terminal_kind = match status {
        "completed" => "response.completed",
        "failed" => "response.failed",
        _ => "response.incomplete",
    };
    let terminal = emitter.stamp((terminal_kind, Payload::Response(object.clone())));
    emitter.persist(&id, &terminal).await;
    if stored {
        let mut transcript: Vec<Message> = prefix;
        transcript.extend(builder.turn_messages());
        let saved = inner
            .store
            .update_response(
                &id,
                status,
                &object.encode_to_vec(),
                Some(&record::transcript_json(&transcript)),
            )
            .await;
        if let Err(error) = saved {
            tracing::warn!(%error, "could not save a finished response");
        }
    }
    emitter.publish(terminal).await;
    if let Some(heartbeat) = heartbeat {
        heartbeat.abort();
    }
    object
}

/// Tells the store this response's runner is alive, until it is not live any more.
async fn heartbeat(store: Store, id: String) {
    let mut every = tokio::time::interval(record::HEARTBEAT_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        match store.heartbeat_response(&id).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(error) => tracing::warn!(%error, "could not record a response heartbeat"),
        }
    }
}

/// The status a turn ends with, and its error: a requested cancel → `cancelled`; a caller that
/// went away → `incomplete`; the upstream's length limit → `incomplete`; any other failure →
/// `failed` with the code and message a client would have seen as an HTTP error.
fn conclude(
    error: Option<Error>,
    finish_reason: &str,
    cancel_requested: bool,
) -> (&'static str, Option<ResponseError>) {
    match error {
        Some(Error::Cancelled) if cancel_requested => ("cancelled", None),
        Some(Error::Cancelled) => ("incomplete", None),
        Some(error) => (
            "failed",
            Some(response_error(failure_without_output(error))),
        ),
        None if finish_reason == "length" => ("incomplete", None),
        None => ("completed", None),
    }
}

/// The `error` object of a failed response: the same code (ErrorInfo reason) and message the
/// error has everywhere else; internal details stay in the log.
fn response_error(error: Error) -> ResponseError {
    let code = match &error {
        Error::InvalidArgument { code, .. }
        | Error::NotFound { code, .. }
        | Error::Conflict { code, .. }
        | Error::Unavailable { code, .. }
        | Error::BadGateway { code, .. }
        | Error::Timeout { code, .. } => code,
        Error::Unauthenticated => "invalid_api_key",
        Error::RateLimited { .. } => "rate_limit_exceeded",
        Error::Unimplemented(_) => "not_implemented",
        Error::Cancelled => "request_cancelled",
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "response turn failed");
            return ResponseError {
                code: "internal_error".into(),
                message: "The server hit an internal error; it has been logged.".into(),
            };
        }
    };
    ResponseError {
        code: code.to_string(),
        message: error.to_string(),
    }
}

fn failed_outcome(error: Error) -> TurnOutcome {
    TurnOutcome {
        content: String::new(),
        finish_reason: "error".into(),
        usage: crate::llm::Usage::default(),
        client_tool_calls: Vec::new(),
        error: Some(error),
    }
}

fn usage(outcome: &TurnOutcome) -> UsageProto {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    UsageProto {
        input_tokens: count(outcome.usage.prompt_tokens),
        output_tokens: count(outcome.usage.completion_tokens),
        total_tokens: count(outcome.usage.total_tokens),
    }
}
