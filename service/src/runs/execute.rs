//! The task that executes one run: `running` + `run.started`, the agent turn with the run's
//! approval gate, agent progress relayed into the event log (batched: whatever is queued is
//! stored in one transaction), a watch for stop requests made on other replicas, and the terminal
//! transition — `completed` with output and usage, `failed` with a client-safe error, or
//! `cancelled` (pending approvals are resolved as denials first). A run whose task dies without
//! finishing is caught by restart recovery (`recovery.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::events::{EventPayload, RunUsage};
use super::gate::RunGate;
use super::log::LiveRun;
use super::wakeups::Wakeups as _;
use super::{Inner, Prepared};
use crate::agent::{TurnEvent, TurnOutcome};
use crate::error::Error;
use crate::store::RunEnding;

/// Agent events stored per transaction at most.
const MAX_BATCH: usize = 256;
/// How often a run checks the database for a stop requested on another replica.
const STOP_POLL: Duration = Duration::from_secs(1);
/// Attempts at writing the terminal state before leaving it to recovery.
const FINISH_ATTEMPTS: u32 = 3;

/// Executes `prepared` to its end; the permit (concurrency slot) is held until then.
pub(super) async fn execute(
    inner: Arc<Inner>,
    live: Arc<LiveRun>,
    prepared: Prepared,
    permit: Option<OwnedSemaphorePermit>,
) {
    let run_id = prepared.run_id.clone();
    let ending = match inner
        .append(&run_id, &[EventPayload::RunStarted {}], Some("running"))
        .await
    {
        Ok(_) => drive(&inner, &live, prepared).await,
        Err(error) => Err(error),
    };
    let (ending, payload) = match ending {
        Ok(outcome) => judge(outcome, live.cancel.is_cancelled()),
        Err(error) => failed(&error),
    };
    if ending.status == "cancelled" {
        deny_pending(&inner, &run_id).await;
    }
    for attempt in 1..=FINISH_ATTEMPTS {
        match inner.finish(&run_id, &ending, payload.clone()).await {
            Ok(_) => break,
            Err(error) => {
                tracing::warn!(%run_id, %error, attempt, "could not record the end of a run");
                tokio::time::sleep(Duration::from_millis(500) * attempt).await;
            }
        }
    }
    inner.forget(&run_id);
    drop(permit);
}

/// Runs the turn while relaying its events and watching for remote stops.
async fn drive(
    inner: &Arc<Inner>,
    live: &Arc<LiveRun>,
    prepared: Prepared,
) -> Result<TurnOutcome, Error> {
    let Prepared {
        run_id,
        mut request,
        mode,
    } = prepared;
    let (flush_tx, flush_rx) = mpsc::channel::<oneshot::Sender<()>>(8);
    let always = inner.store.approved_patterns().await?;
    request.approvals = Arc::new(RunGate::new(
        inner.clone(),
        live.clone(),
        run_id.clone(),
        mode,
        flush_tx,
        always,
    ));
    let (events, incoming) = mpsc::channel::<TurnEvent>(MAX_BATCH);
    let turn = inner.agent.run_turn(request, events, live.cancel.clone());
    let relay = relay(inner, &run_id, incoming, flush_rx);
    let work = async { tokio::join!(turn, relay).0 };
    tokio::select! {
        outcome = work => Ok(outcome),
        never = watch_stop(inner, live, &run_id) => match never {},
    }
}

/// Stores agent events as they come, in batches; answers flush requests of the gate after
/// storing everything already queued.
async fn relay(
    inner: &Inner,
    run_id: &str,
    mut incoming: mpsc::Receiver<TurnEvent>,
    mut flush: mpsc::Receiver<oneshot::Sender<()>>,
) {
    loop {
        let mut batch = Vec::new();
        let mut reply = None;
        tokio::select! {
            biased;
            Some(done) = flush.recv() => reply = Some(done),
            event = incoming.recv() => match event {
                Some(event) => batch.push(event),
                None => break,
            },
        }
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        let payloads: Vec<EventPayload> = batch.into_iter().map(to_payload).collect();
        if !payloads.is_empty()
            && let Err(error) = inner.append(run_id, &payloads, None).await
        {
            tracing::warn!(%run_id, %error, "could not store run events");
        }
        if let Some(done) = reply {
            let _ = done.send(());
        }
    }
}

/// Cancels the run when a stop request shows up in the database, or the run was ended by
/// someone else (another replica interrupted it while our liveness lock was lost: see
/// `lease.rs`); never returns.
async fn watch_stop(inner: &Inner, live: &LiveRun, run_id: &str) -> std::convert::Infallible {
    loop {
        let mut waiter = inner.wakeups.waiter(run_id);
        if !live.cancel.is_cancelled()
            && let Ok(Some(run)) = inner.store.get_run(run_id).await
            && (run.stop_requested || run.is_finished())
        {
            live.cancel.cancel();
        }
        tokio::select! {
            () = waiter.wait(STOP_POLL) => {}
            () = live.cancel.cancelled() => std::future::pending::<()>().await,
        }
    }
}

fn to_payload(event: TurnEvent) -> EventPayload {
    match event {
        TurnEvent::TextDelta(delta) => EventPayload::MessageDelta { delta },
        TurnEvent::ToolStarted {
            call_id,
            name,
            preview,
            ..
        } => EventPayload::ToolStarted {
            tool: name,
            tool_call_id: call_id,
            preview,
        },
        TurnEvent::ToolCompleted {
            call_id,
            name,
            duration,
            error,
        } => EventPayload::ToolCompleted {
            tool: name,
            tool_call_id: call_id,
            duration: duration.as_secs_f64(),
            error,
        },
    }
}

/// The ending of a finished turn.
fn judge(outcome: TurnOutcome, cancelled: bool) -> (RunEnding, EventPayload) {
    match outcome.error {
        None => {
            let usage = RunUsage {
                input_tokens: i64::try_from(outcome.usage.prompt_tokens).unwrap_or(i64::MAX),
                output_tokens: i64::try_from(outcome.usage.completion_tokens).unwrap_or(i64::MAX),
                total_tokens: i64::try_from(outcome.usage.total_tokens).unwrap_or(i64::MAX),
            };
            let ending = RunEnding {
                status: "completed".into(),
                output: Some(outcome.content.clone()),
                usage: Some((usage.input_tokens, usage.output_tokens, usage.total_tokens)),
                error: None,
            };
            let payload = EventPayload::RunCompleted {
                output: outcome.content,
                usage,
            };
            (ending, payload)
        }
        Some(Error::Cancelled) => cancelled_ending(),
        Some(_) if cancelled => cancelled_ending(),
        Some(error) => failed(&error),
    }
}

fn cancelled_ending() -> (RunEnding, EventPayload) {
    let ending = RunEnding {
        status: "cancelled".into(),
        error: Some("The run was stopped".into()),
        ..RunEnding::default()
    };
    (ending, EventPayload::RunCancelled {})
}

fn failed(error: &Error) -> (RunEnding, EventPayload) {
    let message = client_message(error);
    let ending = RunEnding {
        status: "failed".into(),
        error: Some(message.clone()),
        ..RunEnding::default()
    };
    (ending, EventPayload::RunFailed { error: message })
}

/// What a client may read about a failure: the domain message, except for internal faults.
pub(super) fn client_message(error: &Error) -> String {
    match error {
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "run failed with an internal error");
            "The run failed with an internal error; it has been logged.".to_owned()
        }
        other => other.to_string(),
    }
}

/// Resolves the run's pending approvals as denials (it was stopped), with their events.
async fn deny_pending(inner: &Inner, run_id: &str) {
    let pending = match inner.store.pending_approvals(run_id).await {
        Ok(pending) => pending,
        Err(error) => {
            tracing::warn!(%run_id, %error, "could not read pending approvals");
            return;
        }
    };
    for approval in pending {
        if let Ok(true) = inner
            .store
            .resolve_approval(&approval.id, "deny", "stopped")
            .await
        {
            let payload = EventPayload::ApprovalResponded {
                approval_id: approval.id,
                choice: "deny".into(),
            };
            if let Err(error) = inner.append(run_id, &[payload], None).await {
                tracing::warn!(%run_id, %error, "could not store an approval event");
            }
        }
    }
}
