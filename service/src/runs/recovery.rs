//! Runs that outlive their process: restart recovery and shutdown.
//!
//! Every process has an instance id written as the `owner` of the runs it executes. On
//! PostgreSQL it also holds a liveness lock (`lease.rs`), so any replica can tell a dead owner
//! from a live one at once; SQLite is single-process, so there every unfinished run of another
//! instance is orphaned. At start-up, and then periodically, orphaned runs become `interrupted`
//! with a final `run.failed` event. On graceful shutdown the runs still executing after the
//! grace period are marked `interrupted` the same way, then cancelled.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::Inner;
use super::events::EventPayload;
use crate::error::Error;
use crate::store::RunEnding;

/// The error of runs found orphaned at start-up.
pub const RESTARTED: &str =
    "The server restarted while this run was in progress; the run was interrupted";
/// The error of runs still executing when the server shut down.
pub const SHUT_DOWN: &str =
    "The server shut down before this run finished; the run was interrupted";
/// How often orphaned runs of crashed replicas are looked for, unless set otherwise
/// ([`super::RunManager::set_sweep_interval`]).
pub(super) const SWEEP_EVERY: Duration = Duration::from_secs(30);

impl Inner {
    /// Marks every unfinished run whose owner is gone as `interrupted`; returns how many.
    pub(super) async fn recover_orphans(&self) -> Result<usize, Error> {
        let mut alive: HashMap<String, bool> = HashMap::new();
        let mut interrupted = 0;
        for (run_id, owner) in self.store.unfinished_runs().await? {
            let owner = owner.unwrap_or_default();
            let is_alive = match alive.get(&owner) {
                Some(known) => *known,
                None => {
                    let known = self.owner_alive(&owner).await?;
                    alive.insert(owner.clone(), known);
                    known
                }
            };
            if !is_alive && self.interrupt(&run_id, RESTARTED).await? {
                interrupted += 1;
            }
        }
        if interrupted > 0 {
            tracing::warn!(
                interrupted,
                "runs left unfinished by a stopped server were marked interrupted"
            );
        }
        Ok(interrupted)
    }

    /// Ends the run as `interrupted` with a `run.failed` event; `false` if it had ended.
    pub(super) async fn interrupt(&self, run_id: &str, why: &str) -> Result<bool, Error> {
        let ending = RunEnding {
            status: "interrupted".into(),
            error: Some(why.to_owned()),
            ..RunEnding::default()
        };
        let payload = EventPayload::RunFailed {
            error: why.to_owned(),
        };
        self.finish(run_id, &ending, payload).await
    }

    /// Waits up to `grace` for local runs to finish, then interrupts and cancels the rest.
    pub(super) async fn drain(&self, grace: Duration) {
        self.background.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while !self.live_ids().is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for run_id in self.live_ids() {
            if let Err(error) = self.interrupt(&run_id, SHUT_DOWN).await {
                tracing::warn!(%run_id, %error, "could not mark a run interrupted");
            }
            if let Some(live) = self.live(&run_id) {
                live.cancel.cancel();
            }
        }
    }

    /// Ends every local run task without recording anything: what a crash does.
    pub(super) fn abort_all(&self) {
        self.background.cancel();
        let runs: Vec<_> = match self.live.lock() {
            Ok(mut live) => live.drain().map(|(_, run)| run).collect(),
            Err(_) => Vec::new(),
        };
        for run in runs {
            if let Ok(mut task) = run.task.lock()
                && let Some(handle) = task.take()
            {
                handle.abort();
            }
        }
        self.gauges.set_active_runs(0);
        self.release_lease();
    }
}

/// Sweeps for orphaned runs of crashed replicas until the manager stops.
pub(super) async fn sweep(inner: Arc<Inner>) {
    let mut every = inner.sweep_every.subscribe();
    loop {
        let period = *every.borrow_and_update();
        tokio::select! {
            () = inner.background.cancelled() => return,
            // A new period applies at once.
            Ok(()) = every.changed() => continue,
            () = tokio::time::sleep(period) => {}
        }
        if let Err(error) = inner.recover_orphans().await {
            tracing::warn!(%error, "orphaned-run sweep failed");
        }
    }
}
