//! In-process coordination of running responses: per response a broadcast of its events (live
//! followers), its cancellation token (with whether a cancel was *requested*, which makes the
//! result `cancelled` rather than `incomplete`) and a "finished" signal; per session a lock so one
//! session runs one response turn at a time (a turn's stored rows are read back as its output).
//! Everything durable lives in the store; this only spans the life of the runner tasks. A cancel
//! posted on another replica reaches the runner here through a PostgreSQL notice
//! (`crate::notify::RESPONSE_CANCEL_CHANNEL`, delivered by the run manager's listener to
//! `Responses::cancel_here`), which calls [`Live::request_cancel`] like a local cancel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use caduceus_proto::v1::ResponseStreamEvent;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Live events buffered per response for slow followers (a lagging one re-reads the store).
const LIVE_BUFFER: usize = 256;

/// One running response.
#[derive(Clone)]
pub(super) struct Live {
    /// Every event, after it was stored.
    pub events: broadcast::Sender<ResponseStreamEvent>,
    /// Fires to stop the turn.
    pub cancel: CancellationToken,
    /// Set by an explicit cancel (vs. a client that went away).
    requested: Arc<AtomicBool>,
    /// Becomes `true` once the final object is saved.
    finished: watch::Receiver<bool>,
}

impl Live {
    /// Requests cancellation: the turn stops and ends `cancelled`.
    pub fn request_cancel(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.cancel.cancel();
    }

    /// Whether [`Live::request_cancel`] was called.
    pub fn cancel_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Waits until the runner saved the final object (or went away).
    pub async fn finished(&self) {
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }
}

/// Held by the runner: marks the response finished and unregisters it when dropped.
pub(super) struct LiveGuard {
    hub: Hub,
    id: String,
    finished: watch::Sender<bool>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.hub.remove(&self.id);
        let _ = self.finished.send(true);
    }
}

#[derive(Default)]
struct State {
    live: HashMap<String, Live>,
    sessions: HashMap<String, Weak<tokio::sync::Mutex<()>>>,
}

/// The registry. Cheap to clone.
#[derive(Clone, Default)]
pub(super) struct Hub {
    state: Arc<Mutex<State>>,
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a running response; the guard unregisters it.
    pub fn register(&self, id: &str, cancel: CancellationToken) -> (Live, LiveGuard) {
        let (events, _) = broadcast::channel(LIVE_BUFFER);
        let (finished_tx, finished_rx) = watch::channel(false);
        let live = Live {
            events,
            cancel,
            requested: Arc::new(AtomicBool::new(false)),
            finished: finished_rx,
        };
        self.lock().live.insert(id.to_owned(), live.clone());
        let guard = LiveGuard {
            hub: self.clone(),
            id: id.to_owned(),
            finished: finished_tx,
        };
        (live, guard)
    }

    /// The running response `id`, if it runs in this process.
    pub fn get(&self, id: &str) -> Option<Live> {
        self.lock().live.get(id).cloned()
    }

    fn remove(&self, id: &str) {
        self.lock().live.remove(id);
    }

    /// The lock serialising response turns of one session.
    pub fn session_lock(&self, session_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut state = self.lock();
        if let Some(lock) = state.sessions.get(session_id).and_then(Weak::upgrade) {
            return lock;
        }
        state.sessions.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        state
            .sessions
            .insert(session_id.to_owned(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn register_cancel_and_finish() {
        let hub = Hub::default();
        let (live, guard) = hub.register("r", CancellationToken::new());
        let seen = hub.get("r").unwrap();
        assert!(!seen.cancel_requested());
        seen.request_cancel();
        assert!(live.cancel_requested() && live.cancel.is_cancelled());
        let waiter = tokio::spawn(async move { seen.finished().await });
        drop(guard);
        waiter.await.unwrap();
        assert!(hub.get("r").is_none());
    }

    #[tokio::test]
    async fn session_locks_are_shared_then_dropped() {
        let hub = Hub::default();
        let a = hub.session_lock("s");
        let b = hub.session_lock("s");
        assert!(Arc::ptr_eq(&a, &b));
        let held = a.clone().lock_owned().await;
        assert!(b.try_lock().is_err());
        drop(held);
        drop((a, b));
        let c = hub.session_lock("t");
        assert_eq!(hub.lock().sessions.len(), 1);
        drop(c);
    }
}
