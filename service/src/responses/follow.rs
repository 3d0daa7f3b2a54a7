//! Replay then follow (`GET /v1/responses/{id}?stream=true&starting_after=N`): the stored events
//! after N, then live ones until the terminal event. Subscribing to the live broadcast *before*
//! reading the store, and skipping what was already sent, leaves no gap and no duplicate; a
//! follower that falls behind the broadcast, or a response running in another process, is served
//! from the store (polled), where every event lands before it is broadcast.

use std::sync::Arc;
use std::time::Duration;

use caduceus_proto::v1::ResponseStreamEvent;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::Inner;
use super::record::{self, event_of, is_terminal};
use crate::error::Error;
use crate::store::responses::LIVE_STATUSES;

/// How often a response running elsewhere is polled.
const POLL: Duration = Duration::from_millis(250);

/// Starts a follower task; the receiver ends after the terminal event (or when the response is
/// deleted). Unknown response → 404.
pub(super) async fn follow(
    inner: Arc<Inner>,
    id: &str,
    starting_after: i64,
) -> Result<mpsc::Receiver<ResponseStreamEvent>, Error> {
    // Subscribe first: anything stored after our read is also in the broadcast.
    let live = inner.hub.get(id).map(|live| live.events.subscribe());
    record::load(&inner.store, id).await?;
    let (out, receiver) = mpsc::channel(64);
    let id = id.to_owned();
    tokio::spawn(async move {
        let mut follower = Follower {
            inner,
            id,
            last: starting_after,
            out,
        };
        if let Err(error) = follower.run(live).await {
            tracing::debug!(%error, "response follower ended early");
        }
    });
    Ok(receiver)
}

struct Follower {
    inner: Arc<Inner>,
    id: String,
    /// The last sequence number sent (or asked to start after).
    last: i64,
    out: mpsc::Sender<ResponseStreamEvent>,
}

/// Why a follower stops before the terminal event.
#[derive(Debug, thiserror::Error)]
enum Stop {
    #[error("the client went away")]
    Gone,
    #[error(transparent)]
    Failed(#[from] Error),
}

impl Follower {
    async fn run(
        &mut self,
        live: Option<broadcast::Receiver<ResponseStreamEvent>>,
    ) -> Result<(), Stop> {
        if self.catch_up().await? {
            return Ok(());
        }
        if let Some(mut live) = live {
            loop {
                match live.recv().await {
                    Ok(event) if event.sequence_number <= self.last => {}
                    Ok(event) => {
                        if event.sequence_number > self.last + 1 && self.catch_up().await? {
                            return Ok(());
                        }
                        if event.sequence_number > self.last && self.send(event).await? {
                            return Ok(());
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        if self.catch_up().await? {
                            return Ok(());
                        }
                    }
                    // The runner finished here: whatever is left is in the store.
                    Err(RecvError::Closed) => break,
                }
            }
        }
        self.poll().await
    }

    /// Polls the store until the terminal event, or the response is gone or no longer live.
    async fn poll(&mut self) -> Result<(), Stop> {
        loop {
            if self.catch_up().await? {
                return Ok(());
            }
            let stored = record::load(&self.inner.store, &self.id).await?;
            if !LIVE_STATUSES.contains(&stored.object.status.as_str()) {
                // Finished: its terminal event was stored before its status.
                self.catch_up().await?;
                return Ok(());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends every stored event after `last`; `true` once the terminal one was sent.
    async fn catch_up(&mut self) -> Result<bool, Stop> {
        let rows = self
            .inner
            .store
            .response_events_after(&self.id, self.last)
            .await
            .map_err(Error::from)?;
        for row in rows {
            if let Some(event) = event_of(&row)
                && self.send(event).await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Sends one event; `true` if it was the terminal one.
    async fn send(&mut self, event: ResponseStreamEvent) -> Result<bool, Stop> {
        self.last = event.sequence_number;
        let terminal = is_terminal(&event.r#type);
        self.out.send(event).await.map_err(|_| Stop::Gone)?;
        Ok(terminal)
    }
}
