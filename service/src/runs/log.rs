//! Writing a run's events: persisted first (one transaction per batch, seq allocated by the
//! store), then published to this process's live subscribers and wake-ups. [`LiveRun`] is the
//! in-process handle of a run executing here: its cancellation token, its broadcast of events
//! and the lock that keeps publish order equal to seq order. Subscribers are in `subscribe.rs`.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::events::{EventPayload, RunEvent};
use super::wakeups::Wakeups as _;
use crate::error::Error;
use crate::store::RunEnding;

/// Events a slow live subscriber may fall behind before it re-reads the database.
const LIVE_BUFFER: usize = 1024;

/// A run executing in this process.
#[derive(Debug)]
pub(crate) struct LiveRun {
    /// Fired by StopRun, a stop seen in the database, or shutdown.
    pub(crate) cancel: CancellationToken,
    /// Every event of the run after it is stored.
    pub(crate) events: broadcast::Sender<RunEvent>,
    /// Held while storing + publishing, so subscribers see seq order.
    write: tokio::sync::Mutex<()>,
    /// The task executing the run (aborted only to simulate a crash).
    pub(crate) task: std::sync::Mutex<Option<tokio::task::AbortHandle>>,
}

impl LiveRun {
    pub(crate) fn new() -> Self {
        Self {
            cancel: CancellationToken::new(),
            events: broadcast::channel(LIVE_BUFFER).0,
            write: tokio::sync::Mutex::new(()),
            task: std::sync::Mutex::new(None),
        }
    }
}

impl Inner {
    /// The live handle of a run executing in this process.
    pub(crate) fn live(&self, run_id: &str) -> Option<Arc<LiveRun>> {
        self.live
            .lock()
            .ok()
            .and_then(|live| live.get(run_id).cloned())
    }

    /// Stores `payloads` as the run's next events (setting `status` when given) and publishes
    /// them. Nothing is written once the run has ended; that is not an error.
    pub(crate) async fn append(
        &self,
        run_id: &str,
        payloads: &[EventPayload],
        status: Option<&str>,
    ) -> Result<Vec<RunEvent>, Error> {
        let live = self.live(run_id);
        let _order = match &live {
            Some(live) => Some(live.write.lock().await),
            None => None,
        };
        let rows: Vec<(String, String)> = payloads.iter().map(EventPayload::to_row).collect();
        let Some(stored) = self.store.append_run_events(run_id, &rows, status).await? else {
            // The run ended without us (another replica interrupted it while our liveness lock
            // was lost, see `lease.rs`): stop executing it rather than keep working unseen.
            if let Some(live) = &live
                && !live.cancel.is_cancelled()
            {
                tracing::warn!(%run_id, "a run executing here already ended elsewhere; stopping it");
                live.cancel.cancel();
            }
            return Ok(Vec::new());
        };
        let events = stored
            .into_iter()
            .zip(payloads.iter().cloned())
            .map(|(stored, payload)| RunEvent {
                run_id: stored.run_id,
                seq: stored.seq,
                timestamp: stored.timestamp,
                payload,
            })
            .collect::<Vec<_>>();
        self.publish(live.as_deref(), run_id, &events);
        Ok(events)
    }

    /// Ends the run with `ending` and its terminal `payload`; `false` when it had already ended.
    pub(crate) async fn finish(
        &self,
        run_id: &str,
        ending: &RunEnding,
        payload: EventPayload,
    ) -> Result<bool, Error> {
        let live = self.live(run_id);
        let _order = match &live {
            Some(live) => Some(live.write.lock().await),
            None => None,
        };
        let Some(stored) = self
            .store
            .finish_run(run_id, ending, &payload.to_row())
            .await?
        else {
            return Ok(false);
        };
        let event = RunEvent {
            run_id: stored.run_id,
            seq: stored.seq,
            timestamp: stored.timestamp,
            payload,
        };
        self.publish(live.as_deref(), run_id, std::slice::from_ref(&event));
        Ok(true)
    }

    fn publish(&self, live: Option<&LiveRun>, run_id: &str, events: &[RunEvent]) {
        if let Some(live) = live {
            for event in events {
                // No subscriber is fine: the events are in the database.
                let _ = live.events.send(event.clone());
            }
        }
        self.wakeups.notify(run_id);
    }
}
