//! How a waiting task learns that a run's durable state changed (an approval was answered, a
//! stop requested, an event appended): [`Wakeups`] hands out armed [`Waiter`]s and is notified
//! by writers. The waiting side always re-reads the database after waking, and a waiter also
//! wakes after its poll interval, so a change made by another process is seen within that
//! interval even with the in-process [`LocalWakeups`]. On PostgreSQL the replica's
//! `LISTEN/NOTIFY` listener (`crate::notify`, wired in `replica.rs`) feeds the same watch
//! channels with the notices of every replica, and [`LocalWakeups::notify_all`] after it
//! reconnects.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;

/// Entries kept before pruning those nobody waits on.
const PRUNE_ABOVE: usize = 1024;

/// Wakes waiters of a run when its state may have changed.
pub trait Wakeups: Send + Sync {
    /// A waiter armed now: a [`Wakeups::notify`] for `run_id` after this call wakes it.
    fn waiter(&self, run_id: &str) -> Waiter;

    /// Something about `run_id` changed.
    fn notify(&self, run_id: &str);
}

/// One armed wait; wakes on a notification or after the poll interval, whichever is first.
#[derive(Debug)]
pub struct Waiter {
    changed: Option<watch::Receiver<()>>,
    poll: Duration,
}

impl Waiter {
    /// A waiter with no notification source: it only sleeps for the poll interval.
    pub fn polling(poll: Duration) -> Self {
        Self {
            changed: None,
            poll,
        }
    }

    /// Waits for a notification, at most `limit` (and at most the poll interval).
    pub async fn wait(&mut self, limit: Duration) {
        let limit = limit.min(self.poll);
        match &mut self.changed {
            Some(changed) => {
                if let Ok(Err(_)) = tokio::time::timeout(limit, changed.changed()).await {
                    // The sender is gone: fall back to polling rather than spinning.
                    self.changed = None;
                    tokio::time::sleep(limit).await;
                }
            }
            None => tokio::time::sleep(limit).await,
        }
    }
}

/// In-process wake-ups: one watch channel per run someone waits on.
#[derive(Debug)]
pub struct LocalWakeups {
    channels: Mutex<HashMap<String, watch::Sender<()>>>,
    poll: Duration,
}

impl LocalWakeups {
    /// Waiters wake at least every `poll` to see changes made by other processes.
    pub fn new(poll: Duration) -> Self {
        Self {
            channels: Mutex::new(HashMap::new()),
            poll,
        }
    }
}

impl LocalWakeups {
    /// Wakes every waiter of every run (they re-read the database): used when notices from
    /// other processes may have been missed, e.g. after the listener reconnected.
    pub fn notify_all(&self) {
        let Ok(mut channels) = self.channels.lock() else {
            return;
        };
        channels.retain(|_, sender| sender.receiver_count() > 0);
        for sender in channels.values() {
            sender.send_replace(());
        }
    }
}

impl Wakeups for LocalWakeups {
    fn waiter(&self, run_id: &str) -> Waiter {
        let Ok(mut channels) = self.channels.lock() else {
            return Waiter::polling(self.poll);
        };
        if channels.len() > PRUNE_ABOVE {
            channels.retain(|_, sender| sender.receiver_count() > 0);
        }
        let sender = channels
            .entry(run_id.to_owned())
            .or_insert_with(|| watch::channel(()).0);
        Waiter {
            changed: Some(sender.subscribe()),
            poll: self.poll,
        }
    }

    fn notify(&self, run_id: &str) {
        let Ok(mut channels) = self.channels.lock() else {
            return;
        };
        if let Some(sender) = channels.get(run_id) {
            if sender.receiver_count() == 0 {
                channels.remove(run_id);
            } else {
                sender.send_replace(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[tokio::test]
    async fn a_notification_after_arming_wakes_the_waiter() {
        let wakeups = LocalWakeups::new(Duration::from_secs(30));
        let mut waiter = wakeups.waiter("run_1");
        wakeups.notify("run_1");
        let started = Instant::now();
        waiter.wait(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn other_runs_do_not_wake_and_the_poll_interval_bounds_the_wait() {
        let wakeups = LocalWakeups::new(Duration::from_millis(50));
        let mut waiter = wakeups.waiter("run_1");
        wakeups.notify("run_2");
        let started = Instant::now();
        waiter.wait(Duration::from_secs(10)).await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(45) && waited < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn notify_all_wakes_every_waiter() {
        let wakeups = LocalWakeups::new(Duration::from_secs(30));
        let mut first = wakeups.waiter("run_1");
        let mut second = wakeups.waiter("run_2");
        wakeups.notify_all();
        let started = Instant::now();
        first.wait(Duration::from_secs(10)).await;
        second.wait(Duration::from_secs(10)).await;
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn channels_without_waiters_are_dropped() {
        let wakeups = LocalWakeups::new(Duration::from_millis(10));
        drop(wakeups.waiter("run_1"));
        wakeups.notify("run_1");
        assert!(wakeups.channels.lock().unwrap().is_empty());
    }
}
