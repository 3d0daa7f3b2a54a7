//! Following a run's events: the stored events after the resume point, then live ones, with no
//! gap and no duplicate, ending after the terminal event. The subscriber joins the run's live
//! broadcast (when the run executes in this process) *before* reading the backlog, skips what it
//! already sent by `seq`, and re-reads the database whenever it sees a gap (it lagged, or the
//! broadcast closed). For a run executing elsewhere it polls the database, woken early by
//! [`super::wakeups::Wakeups`]. Dropping the stream only drops the subscription.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::broadcast;

use super::Inner;
use super::events::RunEvent;
use super::wakeups::Wakeups as _;
use crate::error::Error;

/// Events read from the database per query.
const PAGE: i64 = 500;
/// Upper bound on one wait of a polling subscriber.
const POLL: Duration = Duration::from_secs(1);

/// A run's events, in `seq` order, ending after the terminal one.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<RunEvent, Error>> + Send + 'static>>;

/// One subscription.
pub(super) struct Subscriber {
    inner: Arc<Inner>,
    run_id: String,
    /// Highest seq sent (or skipped by the resume point).
    last: i64,
    live: Option<broadcast::Receiver<RunEvent>>,
    pending: VecDeque<RunEvent>,
    done: bool,
}

impl Subscriber {
    /// Subscribes first, so nothing stored after the backlog read can be missed.
    pub(super) fn new(inner: Arc<Inner>, run_id: String, after: i64) -> Self {
        let live = inner.live(&run_id).map(|live| live.events.subscribe());
        Self {
            inner,
            run_id,
            last: after.max(0),
            live,
            pending: VecDeque::new(),
            done: false,
        }
    }

    /// The subscription as a stream.
    pub(super) fn into_stream(self) -> EventStream {
        Box::pin(futures::stream::unfold(self, |mut subscriber| async move {
            subscriber.next().await.map(|item| (item, subscriber))
        }))
    }

    /// Loads stored events after `last` into `pending`; whether any were found.
    async fn read_backlog(&mut self) -> Result<bool, Error> {
        let stored = self
            .inner
            .store
            .run_events_after(&self.run_id, self.last, PAGE)
            .await?;
        let found = !stored.is_empty();
        for row in stored {
            let event = RunEvent::try_from(row)?;
            self.push(event);
        }
        Ok(found)
    }

    /// Queues `event` unless already sent or queued.
    fn push(&mut self, event: RunEvent) {
        let newest = self.pending.back().map_or(self.last, |queued| queued.seq);
        if event.seq > newest {
            self.pending.push_back(event);
        }
    }

    async fn next(&mut self) -> Option<Result<RunEvent, Error>> {
        let mut backlog_read = false;
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.last = event.seq;
                if event.is_terminal() {
                    self.done = true;
                    self.pending.clear();
                }
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            if !backlog_read {
                backlog_read = true;
                match self.read_backlog().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => return Some(Err(error)),
                }
            }
            let result = match self.live.as_mut() {
                Some(live) => match live.recv().await {
                    Ok(event) if event.seq == self.last + 1 => {
                        self.push(event);
                        Ok(())
                    }
                    Ok(event) if event.seq <= self.last => Ok(()),
                    // A gap (we lagged, or events were stored before we subscribed): re-read.
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.read_backlog().await.map(|_| ())
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        self.live = None;
                        self.read_backlog().await.map(|_| ())
                    }
                },
                None => self.poll().await,
            };
            if let Err(error) = result {
                return Some(Err(error));
            }
        }
    }

    /// One polling round for a run not executing in this process.
    async fn poll(&mut self) -> Result<(), Error> {
        let mut waiter = self.inner.wakeups.waiter(&self.run_id);
        if self.read_backlog().await? {
            return Ok(());
        }
        // A run that is executing here now (e.g. it was queued when we subscribed) has a
        // broadcast: switch to it.
        if let Some(live) = self.inner.live(&self.run_id) {
            self.live = Some(live.events.subscribe());
            return self.read_backlog().await.map(|_| ());
        }
        // Resumed at or past the terminal event of a finished run: nothing more will come.
        let finished = self
            .inner
            .store
            .get_run(&self.run_id)
            .await?
            .is_none_or(|run| run.is_finished());
        if finished {
            if !self.read_backlog().await? {
                self.done = true;
            }
            return Ok(());
        }
        waiter.wait(POLL).await;
        Ok(())
    }
}
