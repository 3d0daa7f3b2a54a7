//! The Responses API core (API.md §5), independent of gRPC: preparing a turn from a request
//! (`prepare`: validation in `input`, chaining by `previous_response_id` or `conversation`,
//! history, instructions, session), running it detached from the caller (`runner`: every event
//! numbered, stored and broadcast; the final object saved), and the stored-response operations —
//! get, delete, cancel, input items, replay-then-follow (`follow`). The durable store is
//! `store::responses`; live coordination is `hub`; output items and events come from `builder`.
//!
//! Each stored response keeps its *transcript* (history + this turn as chat messages), so a
//! chained response continues from exactly that, never duplicating earlier turns.

mod builder;
mod follow;
mod hub;
mod input;
mod prepare;
mod record;
mod runner;

use std::sync::Arc;
use std::time::Duration;

use caduceus_proto::v1::{InputItem, Response as ResponseObject, ResponseStreamEvent};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use prepare::Plan;

use crate::agent::Agent;
use crate::config::Config;
use crate::error::Error;
use crate::llm::Message;
use crate::state::Admission;
use crate::store::Store;
use crate::store::responses::LIVE_STATUSES;
use hub::Hub;

/// How long a cancel waits for the running turn to wind down before answering.
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// A stored response that a new turn continues from (`previous_response_id`, also for runs).
#[derive(Debug, Clone)]
pub struct Chain {
    /// The response continued.
    pub id: String,
    /// Its transcript: the whole conversation up to and including its turn.
    pub history: Vec<Message>,
    /// Its instructions (inherited when the new request gives none).
    pub instructions: Option<String>,
    /// Its session (the chain's turns are stored there unless a session header says otherwise).
    pub session_id: String,
    /// Its conversation name, if any.
    pub conversation: Option<String>,
}

/// The Responses core of one process. Cheap to clone.
#[derive(Clone)]
pub struct Responses {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<Config>,
    store: Store,
    agent: Agent,
    admission: Admission,
    hub: Hub,
}

/// A started response: its initial object, and how to wait for or stop it.
pub struct Started {
    /// The object as stored at start (`queued` or `in_progress`).
    pub initial: ResponseObject,
    /// Stops the turn (the result is `incomplete`).
    pub cancel: CancellationToken,
    /// The final object, once the turn ended.
    pub done: oneshot::Receiver<ResponseObject>,
}

/// A new response id (`resp_…`) or item id (`msg_…`, `fc_…`, `fco_…`).
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Responses {
    /// The core over the shared pieces of [`crate::state::AppState`].
    pub fn new(config: Arc<Config>, store: Store, agent: Agent, admission: Admission) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                agent,
                admission,
                hub: Hub::default(),
            }),
        }
    }

    /// Validates a request and resolves everything the turn needs (chain, history, session),
    /// then takes an admission slot. No side effect besides touching the chained response.
    pub async fn prepare(
        &self,
        request: caduceus_proto::v1::CreateResponseRequest,
        session_id: Option<String>,
        session_key: Option<String>,
    ) -> Result<Plan, Error> {
        prepare::prepare(&self.inner, request, session_id, session_key).await
    }

    /// Starts the turn in its own task. With `events`, every stream event is also sent there.
    /// Stored responses are saved before this returns, so they are visible at once.
    pub async fn start(
        &self,
        plan: Plan,
        events: Option<mpsc::Sender<ResponseStreamEvent>>,
    ) -> Result<Started, Error> {
        runner::start(self.inner.clone(), plan, events).await
    }

    /// Runs a non-background turn to its end; dropping the future stops the turn.
    pub async fn run(&self, plan: Plan) -> Result<ResponseObject, Error> {
        let started = self.start(plan, None).await?;
        let _stop_if_dropped = started.cancel.clone().drop_guard();
        started
            .done
            .await
            .map_err(|_| Error::Internal("a response runner ended without a result".into()))
    }

    /// A stored response (touched for LRU). Unknown → 404 `response_not_found`.
    pub async fn get(&self, id: &str) -> Result<ResponseObject, Error> {
        let stored = record::load(&self.inner.store, id).await?;
        self.inner.store.touch_response(id).await?;
        Ok(stored.object)
    }

    /// Deletes a stored response (stopping it first if it runs here).
    pub async fn delete(&self, id: &str) -> Result<(), Error> {
        if let Some(live) = self.inner.hub.get(id) {
            live.request_cancel();
        }
        if self.inner.store.delete_response(id).await? {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// Cancels a background response that has not finished: its turn stops and it ends
    /// `cancelled`. Finished, or not a background response → 409 `response_not_cancellable`;
    /// cancelling an already cancelled response answers it unchanged.
    pub async fn cancel(&self, id: &str) -> Result<ResponseObject, Error> {
        let stored = record::load(&self.inner.store, id).await?;
        if stored.object.status == "cancelled" {
            return Ok(stored.object);
        }
        if !stored.object.background || !LIVE_STATUSES.contains(&stored.object.status.as_str()) {
            return Err(Error::conflict(
                "response_not_cancellable",
                format!(
                    "Response {id} cannot be cancelled: only background responses that are queued or in progress can (it is {})",
                    stored.object.status
                ),
            ));
        }
        if let Some(live) = self.inner.hub.get(id) {
            live.request_cancel();
            let _ = tokio::time::timeout(CANCEL_WAIT, live.finished()).await;
            let now = record::load(&self.inner.store, id).await?;
            if now.object.status != "cancelled" {
                return Err(Error::conflict(
                    "response_not_cancellable",
                    format!(
                        "Response {id} finished ({}) before it could be cancelled",
                        now.object.status
                    ),
                ));
            }
            return Ok(now.object);
        }
        // Running elsewhere (another replica) or orphaned by a restart: mark it cancelled (the
        // store never lets a later save overwrite that), then tell every replica, so the one
        // running it stops the turn (see `hub.rs`).
        let mut object = stored.object;
        object.status = "cancelled".into();
        if self
            .inner
            .store
            .cancel_live_response(id, &prost::Message::encode_to_vec(&object))
            .await?
        {
            if let Err(error) = self
                .inner
                .store
                .notify(crate::notify::RESPONSE_CANCEL_CHANNEL, id)
                .await
            {
                tracing::warn!(%error, response = %id, "could not tell other replicas to stop a cancelled response");
            }
            Ok(object)
        } else {
            Box::pin(self.cancel(id)).await
        }
    }

    /// Stops the background response `id` if its turn runs in this process (a cancel posted
    /// on another replica, relayed by `crate::notify`); whether it did. It ends `cancelled`.
    pub fn cancel_here(&self, id: &str) -> bool {
        match self.inner.hub.get(id) {
            Some(live) => {
                live.request_cancel();
                true
            }
            None => false,
        }
    }

    /// The input items of a stored response.
    pub async fn input_items(&self, id: &str) -> Result<Vec<InputItem>, Error> {
        Ok(record::load(&self.inner.store, id).await?.input_items)
    }

    /// Stored events after `starting_after` (all without it), then live ones until the
    /// terminal event. Unknown → 404.
    pub async fn follow(
        &self,
        id: &str,
        starting_after: Option<i64>,
    ) -> Result<mpsc::Receiver<ResponseStreamEvent>, Error> {
        follow::follow(self.inner.clone(), id, starting_after.unwrap_or(-1)).await
    }

    /// The stored response a new turn continues from (touched for LRU): unknown → 404
    /// `response_not_found`, still running → 409 `response_in_progress`.
    pub async fn chain(&self, previous_response_id: &str) -> Result<Chain, Error> {
        prepare::chain(&self.inner, previous_response_id).await
    }
}

/// The 404 for an unknown or no-longer-stored response.
pub(crate) fn not_found(id: &str) -> Error {
    Error::not_found(
        "response_not_found",
        format!(
            "No stored response with id {id:?} (it may have been deleted, evicted, or created with store: false)"
        ),
    )
}
