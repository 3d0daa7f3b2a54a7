//! The PostgreSQL liveness lock of this process: a session-level advisory lock derived from the
//! instance id, held on a dedicated connection for the process's whole life, so any replica can
//! tell a dead owner (lock free) from a live one (lock held) at once (`recovery.rs` sweeps runs
//! of dead owners). SQLite is single-process: there is no lock and every other instance is dead.
//!
//! The lock lives as long as its connection. A watcher checks that connection every second; when
//! it is gone (PostgreSQL restarted, the connection was terminated or cut) the lock is re-taken
//! with `pg_try_advisory_lock` and exponential backoff (100 ms up to 5 s), so a live replica
//! is not seen as dead for longer than the outage, and a stale session still holding the lock
//! (a half-open connection the server has not reaped yet) is waited out rather than fought.
//! Meanwhile `/health/detailed` reports the database degraded.
//!
//! Runs of this process may have been interrupted by another replica's sweep while the lock was
//! lost. Policy: the owner keeps executing its runs through a short outage (a database blip must
//! not kill work), but as soon as it learns that a run of its own has ended elsewhere — when the
//! lock is re-taken it re-reads every local run, and any write refused because the run already
//! ended (see `log.rs`) — it cancels that run's task, which writes nothing more: a run never
//! gets events after its terminal `run.failed`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use super::Inner;
use crate::error::Error;
use crate::notify::reconnect_backoff;
use crate::store::Backend;

/// How often the lock's connection is checked.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// A check that takes longer than this counts as a lost connection.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The advisory-lock key of an instance id.
pub(super) fn lock_key(instance: &str) -> i64 {
    let digest = Sha256::digest(instance.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

impl Inner {
    /// Takes this instance's liveness lock at start-up (PostgreSQL; a no-op on SQLite).
    pub(super) async fn acquire_lease(&self) -> Result<(), Error> {
        if self.store.backend() != Backend::Postgres {
            self.lease_ok.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if self.try_acquire_lease().await? {
            Ok(())
        } else {
            Err(Error::Internal(
                "the liveness lock of this new instance is already held".into(),
            ))
        }
    }

    /// One attempt at the lock on a fresh connection; `false` if another session holds it.
    async fn try_acquire_lease(&self) -> Result<bool, Error> {
        let mut conn: AnyConnection = self.store.pool().acquire().await.map_err(store)?.detach();
        let row = sqlx::query(
            "SELECT CAST(CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS BIGINT)",
        )
        .bind(lock_key(&self.instance))
        .fetch_one(&mut conn)
        .await
        .map_err(store)?;
        let got: i64 = row.try_get(0).map_err(store)?;
        if got != 1 {
            return Ok(false);
        }
        self.keep_lease(conn);
        Ok(true)
    }

    /// Stores the lock's connection, unless the manager stopped (then it closes, as in a crash).
    fn keep_lease(&self, conn: AnyConnection) {
        if let Ok(mut lease) = self.lease.lock()
            && !self.background.is_cancelled()
        {
            *lease = Some(conn);
            self.lease_ok.store(true, Ordering::SeqCst);
        }
    }

    /// Drops the liveness lock (its connection closes), as a crashed process would.
    pub(super) fn release_lease(&self) {
        if let Ok(mut lease) = self.lease.lock() {
            lease.take();
        }
        self.lease_ok.store(false, Ordering::SeqCst);
    }

    /// Whether the lock's connection still answers (so the lock is still ours).
    async fn lease_alive(&self) -> bool {
        let taken = self.lease.lock().ok().and_then(|mut lease| lease.take());
        let Some(mut conn) = taken else {
            return false;
        };
        let ping = sqlx::query("SELECT 1").execute(&mut conn);
        match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
            Ok(Ok(_)) => {
                self.keep_lease(conn);
                true
            }
            _ => false,
        }
    }

    /// Whether the process `owner` is still alive.
    pub(super) async fn owner_alive(&self, owner: &str) -> Result<bool, Error> {
        if owner == self.instance {
            return Ok(true);
        }
        if self.store.backend() != Backend::Postgres {
            return Ok(false);
        }
        let key = lock_key(owner);
        let mut conn = self.store.pool().acquire().await.map_err(store)?;
        let row = sqlx::query(
            "SELECT CAST(CASE WHEN pg_try_advisory_lock($1) THEN 1 ELSE 0 END AS BIGINT)",
        )
        .bind(key)
        .fetch_one(&mut *conn)
        .await
        .map_err(store)?;
        let got: i64 = row.try_get(0).map_err(store)?;
        if got == 1 {
            sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await
                .map_err(store)?;
        }
        Ok(got == 0)
    }

    /// Cancels the local runs that ended elsewhere (e.g. interrupted by another replica while
    /// our lock was lost); their tasks write nothing more.
    async fn stop_runs_ended_elsewhere(&self) {
        for run_id in self.live_ids() {
            match self.store.get_run(&run_id).await {
                Ok(Some(run)) if !run.is_finished() => {}
                Ok(_) => {
                    tracing::warn!(%run_id, "a run of this replica was ended by another one while the liveness lock was lost; stopping it");
                    if let Some(live) = self.live(&run_id) {
                        live.cancel.cancel();
                    }
                }
                Err(error) => tracing::warn!(%run_id, %error, "could not re-read a local run"),
            }
        }
    }
}

/// Watches the liveness lock and re-takes it after a connection loss, until the manager stops.
pub(super) async fn watch(inner: Arc<Inner>) {
    loop {
        tokio::select! {
            () = inner.background.cancelled() => return,
            () = tokio::time::sleep(CHECK_EVERY) => {}
        }
        if inner.lease_alive().await || inner.background.is_cancelled() {
            continue;
        }
        inner.lease_ok.store(false, Ordering::SeqCst);
        tracing::warn!("liveness lock lost (its database connection closed); re-acquiring");
        let mut backoff = reconnect_backoff();
        loop {
            match inner.try_acquire_lease().await {
                Ok(true) => {
                    tracing::info!("liveness lock re-acquired");
                    inner.stop_runs_ended_elsewhere().await;
                    break;
                }
                Ok(false) => {
                    tracing::warn!("liveness lock still held by a stale session; retrying");
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot re-acquire the liveness lock; retrying")
                }
            }
            let delay = backoff.next().unwrap_or(Duration::from_secs(5));
            tokio::select! {
                () = inner.background.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

fn store(error: sqlx::Error) -> Error {
    Error::from(crate::store::StoreError::from(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("a"), lock_key("a"));
        assert_ne!(lock_key("a"), lock_key("b"));
    }
}
