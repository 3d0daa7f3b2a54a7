//! This process as one replica of several on PostgreSQL: the `LISTEN/NOTIFY` sink that turns
//! other replicas' notices into local wake-ups (run changed → its waiters re-read; cancel a
//! background response → stop it if it runs here; listener reconnected → everybody re-reads),
//! what `/health/detailed` reports about cross-replica coordination, and the run manager's
//! replica-facing knobs (sweep period, instance id, owner liveness). SQLite: no listener, and the
//! replica is always healthy.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::wakeups::Wakeups as _;
use super::{Inner, RunManager};
use crate::error::Error;
use crate::notify::{Notice, Sink, spawn_listener};
use crate::store::Backend;

/// Delivers notices to the run manager (and, for responses, to the Responses core).
struct Notices {
    inner: Weak<Inner>,
}

impl Sink for Notices {
    fn deliver(&self, notice: Notice) {
        let Some(inner) = self.inner.upgrade() else {
            return;
        };
        match notice {
            Notice::Run(run_id) => inner.wakeups.notify(&run_id),
            Notice::CancelResponse(id) => {
                if inner.responses.cancel_here(&id) {
                    tracing::info!(response = %id, "background response cancelled from another replica");
                }
            }
        }
    }

    fn resync(&self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.wakeups.notify_all();
        }
    }
}

impl Inner {
    /// Starts this replica's notification listener (PostgreSQL only); it stops with the manager.
    pub(super) fn start_listener(self: &Arc<Self>) {
        if self.store.backend() != Backend::Postgres || self.listener.get().is_some() {
            return;
        }
        let sink = Arc::new(Notices {
            inner: Arc::downgrade(self),
        });
        let health = spawn_listener(
            self.config.database_url.clone(),
            sink,
            self.background.clone(),
        );
        let _ = self.listener.set(health);
    }

    /// What is wrong with cross-replica coordination, if anything (for the health check).
    pub(super) fn replica_problem(&self) -> Option<&'static str> {
        if self.store.backend() != Backend::Postgres || self.background.is_cancelled() {
            return None;
        }
        if !self.lease_ok.load(Ordering::SeqCst) {
            return Some("liveness lock lost; re-acquiring");
        }
        match self.listener.get() {
            Some(listener) if !listener.is_connected() => {
                Some("notification listener disconnected; reconnecting")
            }
            _ => None,
        }
    }
}

impl RunManager {
    /// Sets how often runs of dead replicas are looked for (default 30 s); applies at once.
    pub fn set_sweep_interval(&self, every: Duration) {
        self.inner
            .sweep_every
            .send_replace(every.max(Duration::from_millis(50)));
    }

    /// What is wrong with cross-replica coordination (liveness lock lost, notification
    /// listener disconnected), for `/health/detailed`; `None` when all is well or on SQLite.
    pub fn replica_problem(&self) -> Option<&'static str> {
        self.inner.replica_problem()
    }

    /// This process's instance id (the `owner` of its runs and job firings).
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    /// Whether the process `owner` is alive: this one always; on PostgreSQL, whoever holds its
    /// liveness lock; on SQLite, no other.
    pub async fn owner_alive(&self, owner: &str) -> Result<bool, Error> {
        self.inner.owner_alive(owner).await
    }
}
