//! The per-process `LISTEN` loop: a dedicated PostgreSQL connection (outside the store's pool)
//! listening on every channel in [`super::CHANNELS`], delivering each notice to the [`Sink`].
//! When the connection fails it is dropped and re-opened with exponential backoff (100 ms up to
//! 5 s, jittered) — never a panic, never a busy loop — and after every successful (re)connect
//! the sink resyncs, because notices sent meanwhile are lost. [`ListenerHealth`] tells
//! `/health/detailed` whether the listener is connected.

use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{CHANNELS, Notice, Sink};

/// Longest a (re)connect attempt may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Delays between reconnect attempts: 100 ms doubling to 5 s, jittered, forever.
pub fn reconnect_backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// Whether the listener currently holds a live connection.
#[derive(Debug)]
pub struct ListenerHealth {
    connected: watch::Sender<bool>,
}

impl ListenerHealth {
    fn new() -> Self {
        Self {
            connected: watch::channel(false).0,
        }
    }

    /// `true` while notices from other replicas arrive at once (else only the poll interval
    /// bounds how late they are seen).
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Waits until connected, at most `limit`; whether it is.
    pub async fn wait_connected(&self, limit: Duration) -> bool {
        let mut connected = self.connected.subscribe();
        tokio::time::timeout(limit, connected.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok())
    }

    fn set(&self, connected: bool) {
        self.connected.send_replace(connected);
    }
}

/// Starts the listener of this process on `url` (a `postgres://` URL); it runs until `stop`.
pub fn spawn_listener(
    url: String,
    sink: Arc<dyn Sink>,
    stop: CancellationToken,
) -> Arc<ListenerHealth> {
    let health = Arc::new(ListenerHealth::new());
    tokio::spawn(run(url, sink, stop, health.clone()));
    health
}

async fn connect(url: &str) -> Result<PgListener, sqlx::Error> {
    // A private one-connection pool: the listener re-opens connections through it.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(CONNECT_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_lazy(url)?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen_all(CHANNELS).await?;
    Ok(listener)
}

async fn run(
    url: String,
    sink: Arc<dyn Sink>,
    stop: CancellationToken,
    health: Arc<ListenerHealth>,
) {
    let mut backoff = reconnect_backoff();
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = tokio::time::timeout(CONNECT_TIMEOUT, connect(&url)) => attempt,
        };
        let mut listener = match attempt {
            Ok(Ok(listener)) => listener,
            failed => {
                let why = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => "timed out".to_owned(),
                };
                let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                tracing::warn!(error = %why, ?delay, "notification listener cannot connect; retrying");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        health.set(true);
        backoff = reconnect_backoff();
        tracing::debug!("notification listener connected");
        // Anything sent while we were not listening is only in the database: re-read it.
        sink.resync();
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => {
                    health.set(false);
                    return;
                }
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => {
                    if let Some(notice) =
                        Notice::parse(notification.channel(), notification.payload())
                    {
                        sink.deliver(notice);
                    }
                }
                Ok(None) => {
                    tracing::warn!("notification listener lost its connection; reconnecting");
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "notification listener failed; reconnecting");
                    break;
                }
            }
        }
        health.set(false);
        drop(listener);
        // Wake everybody now too: they fall back to polling until we are back.
        sink.resync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_never_ends() {
        let delays: Vec<Duration> = reconnect_backoff().take(20).collect();
        assert_eq!(delays.len(), 20);
        assert!(delays[0] >= Duration::from_millis(100) && delays[0] < Duration::from_millis(300));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)));
        assert!(delays[19] >= Duration::from_secs(5));
    }
}
