//! Durable runs (API.md §7): long or supervised agent work that answers at once with an id,
//! executes in a task, records every event durably, asks humans to approve risky commands, can be
//! stopped, and survives restarts as `interrupted`. [`RunManager`] is the one entry point (create,
//! status, events, approvals, stop, start-up recovery, drain); the pieces are `execute.rs` (the
//! run task), `log.rs` (persist-then-publish), `subscribe.rs` (replay + live), `gate.rs`
//! (approvals), `prepare.rs` (history and session), `wakeups.rs` (waking waiters),
//! `recovery.rs` (restart and shutdown), `lease.rs` (the PostgreSQL liveness lock) and
//! `replica.rs` (cross-replica notices and health). Nothing here knows about gRPC; the wire lives in
//! `crate::grpc::runs`.

mod events;
mod execute;
mod gate;
mod lease;
mod log;
mod prepare;
mod recovery;
mod replica;
mod subscribe;
mod wakeups;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::AnyConnection;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio_util::sync::CancellationToken;

pub use events::{EventPayload, RunEvent, RunUsage};
pub use gate::{CHOICES, Choice, GateMode};
pub use recovery::{RESTARTED, SHUT_DOWN};
pub use subscribe::EventStream;
pub use wakeups::{LocalWakeups, Waiter, Wakeups};

use crate::agent::{Agent, TurnRequest};
use crate::config::Config;
use crate::error::Error;
use crate::llm::Message;
use crate::notify::ListenerHealth;
use crate::responses::Responses;
use crate::state::Gauges;
use crate::store::{ApprovalRecord, RunRecord, Store};
use log::LiveRun;

/// How often waiters re-read the database when nothing woke them (changes made by other
/// processes).
const CROSS_PROCESS_POLL: Duration = Duration::from_millis(500);

/// What a client (or the scheduler) asks a run to do.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The new user message.
    pub input: Message,
    /// Explicit history (`conversation_history` and earlier input items), oldest first.
    pub history: Vec<Message>,
    /// System text layered on the agent's prompt.
    pub instructions: Option<String>,
    /// Continue this stored session (created if unknown); else a new session per run.
    pub session_id: Option<String>,
    /// Scopes memory.
    pub session_key: Option<String>,
    /// Continue after this stored response.
    pub previous_response_id: Option<String>,
    /// Model id or `model_routes` alias.
    pub model: Option<String>,
    /// Who answers approvals.
    pub approvals: GateMode,
}

/// A run with its pending approvals, as `GetRun` shows it.
#[derive(Debug, Clone)]
pub struct RunView {
    pub run: RunRecord,
    pub pending_approvals: Vec<ApprovalRecord>,
}

/// A validated run, ready for its task.
pub(crate) struct Prepared {
    run_id: String,
    request: TurnRequest,
    mode: GateMode,
}

/// Creates, executes and observes runs. Cheap to clone.
#[derive(Clone)]
pub struct RunManager {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    store: Store,
    agent: Agent,
    /// Resolves `previous_response_id`.
    responses: Responses,
    config: Arc<Config>,
    gauges: Arc<Gauges>,
    wakeups: Arc<LocalWakeups>,
    /// This process's id, written as the owner of its runs.
    instance: String,
    /// Runs executing in this process.
    live: Mutex<HashMap<String, Arc<LiveRun>>>,
    /// PostgreSQL liveness lock (see `lease.rs`).
    lease: Mutex<Option<AnyConnection>>,
    /// Whether the liveness lock is held (always on SQLite once started).
    lease_ok: AtomicBool,
    /// The `LISTEN/NOTIFY` listener (PostgreSQL), once started.
    listener: OnceLock<Arc<ListenerHealth>>,
    /// Period of the orphaned-run sweep.
    sweep_every: watch::Sender<Duration>,
    /// Fired on drain or crash simulation: background loops stop.
    background: CancellationToken,
}

impl Inner {
    fn live_ids(&self) -> Vec<String> {
        self.live
            .lock()
            .map(|live| live.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Removes a finished run from the registry.
    fn forget(&self, run_id: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(run_id);
            self.gauges
                .set_active_runs(i64::try_from(live.len()).unwrap_or(i64::MAX));
        }
    }
}

/// How long start-up waits for the notification listener's first connection.
const LISTENER_START: Duration = Duration::from_secs(5);

/// A fresh run id: `run_` + 32 hex.
pub fn new_run_id() -> String {
    format!("run_{}", uuid::Uuid::new_v4().simple())
}

fn run_not_found(run_id: &str) -> Error {
    Error::not_found(
        "run_not_found",
        format!(
            "Run {:?} not found",
            run_id.chars().take(80).collect::<String>()
        ),
    )
}

fn run_not_active(run: &RunRecord) -> Error {
    Error::conflict(
        "run_not_active",
        format!("Run {} is not active (status: {})", run.id, run.status),
    )
}

impl RunManager {
    /// A manager over the shared store and agent; call [`RunManager::start`] once serving.
    pub fn new(
        store: Store,
        agent: Agent,
        responses: Responses,
        config: Arc<Config>,
        gauges: Arc<Gauges>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                agent,
                responses,
                config,
                gauges,
                wakeups: Arc::new(LocalWakeups::new(CROSS_PROCESS_POLL)),
                instance: uuid::Uuid::new_v4().simple().to_string(),
                live: Mutex::new(HashMap::new()),
                lease: Mutex::new(None),
                lease_ok: AtomicBool::new(false),
                listener: OnceLock::new(),
                sweep_every: watch::channel(recovery::SWEEP_EVERY).0,
                background: CancellationToken::new(),
            }),
        }
    }

    /// Start-up: takes this process's liveness lease, marks runs orphaned by a stopped server
    /// `interrupted`, and starts the periodic sweep for runs of crashed replicas; on PostgreSQL
    /// also the lease watcher and the cross-replica notification listener (waiting briefly for
    /// its first connection, so notices are prompt from the first request).
    pub async fn start(&self) -> Result<(), Error> {
        self.inner.acquire_lease().await?;
        self.inner.recover_orphans().await?;
        tokio::spawn(recovery::sweep(self.inner.clone()));
        if self.inner.store.backend() == crate::store::Backend::Postgres {
            tokio::spawn(lease::watch(self.inner.clone()));
            self.inner.start_listener();
            if let Some(listener) = self.inner.listener.get()
                && !listener.wait_connected(LISTENER_START).await
            {
                tracing::warn!(
                    "notification listener not connected yet; other replicas' changes are polled meanwhile"
                );
            }
        }
        Ok(())
    }

    /// Fired when the manager stops (drain or crash simulation); background loops watch it.
    pub fn stopping(&self) -> CancellationToken {
        self.inner.background.clone()
    }

    /// Graceful shutdown: waits up to `grace` for local runs, then marks the rest
    /// `interrupted` and cancels them.
    pub async fn drain(&self, grace: Duration) {
        self.inner.drain(grace).await;
    }

    /// Simulates a crash: every local run task ends without recording anything and the
    /// liveness lease is dropped (tests of restart recovery; a real crash does the same).
    pub fn abort_all(&self) {
        self.inner.abort_all();
    }

    /// Runs executing in this process.
    pub fn active(&self) -> usize {
        self.inner.live_ids().len()
    }

    /// Validates `spec`, records a `queued` run and starts its task; `permit` (the concurrency
    /// slot from admission) is held by the task until the run ends.
    pub async fn create(
        &self,
        spec: RunSpec,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<RunRecord, Error> {
        self.create_with_id(new_run_id(), spec, permit).await
    }

    /// [`RunManager::create`] with an id chosen beforehand (a job firing records it first, so a
    /// firing whose process dies before the run exists can be re-fired as the same run).
    pub async fn create_with_id(
        &self,
        run_id: String,
        spec: RunSpec,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Result<RunRecord, Error> {
        let (prepared, model) = self.prepare(&run_id, spec).await?;
        let record = self
            .inner
            .store
            .create_run(
                &run_id,
                Some(&prepared.request.session_id),
                &model,
                &self.inner.instance,
            )
            .await?;
        let live = Arc::new(LiveRun::new());
        if let Ok(mut registry) = self.inner.live.lock() {
            registry.insert(run_id.clone(), live.clone());
            self.inner
                .gauges
                .set_active_runs(i64::try_from(registry.len()).unwrap_or(i64::MAX));
        }
        let task = tokio::spawn(crate::telemetry::propagate(execute::execute(
            self.inner.clone(),
            live.clone(),
            prepared,
            permit,
        )));
        if let Ok(mut slot) = live.task.lock() {
            *slot = Some(task.abort_handle());
        }
        Ok(record)
    }

    /// The run and its pending approvals; unknown → 404 `run_not_found`.
    pub async fn get(&self, run_id: &str) -> Result<RunView, Error> {
        let run = self
            .inner
            .store
            .get_run(run_id)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        let pending_approvals = if run.is_finished() {
            Vec::new()
        } else {
            self.inner.store.pending_approvals(run_id).await?
        };
        Ok(RunView {
            run,
            pending_approvals,
        })
    }

    /// The run's events with `seq > after` (all without it), then live ones, ending after the
    /// terminal event. Unknown run → 404 `run_not_found`.
    pub async fn events(&self, run_id: &str, after: Option<i64>) -> Result<EventStream, Error> {
        if self.inner.store.get_run(run_id).await?.is_none() {
            return Err(run_not_found(run_id));
        }
        let subscriber =
            subscribe::Subscriber::new(self.inner.clone(), run_id.to_owned(), after.unwrap_or(0));
        Ok(subscriber.into_stream())
    }

    /// Resolves the named approval, every pending one (`all`), or the oldest; returns the
    /// normalised choice and how many were resolved. Invalid choice → 400
    /// `invalid_approval_choice`; unknown run → 404; finished run → 409 `run_not_active`;
    /// nothing (matching) pending → 409 `approval_not_pending`.
    pub async fn respond(
        &self,
        run_id: &str,
        choice: &str,
        approval_id: Option<&str>,
        all: bool,
    ) -> Result<(Choice, usize), Error> {
        let choice = Choice::parse(choice)?;
        let run = self
            .inner
            .store
            .get_run(run_id)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        if run.is_finished() {
            return Err(run_not_active(&run));
        }
        let pending = self.inner.store.pending_approvals(run_id).await?;
        let targets: Vec<&ApprovalRecord> = match approval_id.filter(|id| !id.is_empty()) {
            Some(id) => pending.iter().filter(|a| a.id == id).collect(),
            None if all => pending.iter().collect(),
            None => pending.iter().take(1).collect(),
        };
        let mut resolved = 0;
        for approval in targets {
            if choice == Choice::Always {
                self.inner
                    .store
                    .approve_pattern(&approval.pattern_key, Some(run_id))
                    .await?;
            }
            if self
                .inner
                .store
                .resolve_approval(&approval.id, choice.as_str(), "human")
                .await?
            {
                resolved += 1;
            }
        }
        if resolved == 0 {
            let what = match approval_id {
                Some(id) if !id.is_empty() => {
                    format!("Approval {id:?} is not pending on run {run_id}")
                }
                _ => format!("Run {run_id} has no pending approval"),
            };
            return Err(Error::conflict("approval_not_pending", what));
        }
        self.inner.wakeups.notify(run_id);
        Ok((choice, resolved))
    }

    /// Stops an active run: its token fires here, or its owner sees the request in the
    /// database. Unknown → 404; finished → 409 `run_not_active`.
    pub async fn stop(&self, run_id: &str) -> Result<(), Error> {
        let run = self
            .inner
            .store
            .get_run(run_id)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        if run.is_finished() || !self.inner.store.request_run_stop(run_id).await? {
            return Err(run_not_active(&run));
        }
        if let Some(live) = self.inner.live(run_id) {
            live.cancel.cancel();
        }
        self.inner.wakeups.notify(run_id);
        Ok(())
    }
}
