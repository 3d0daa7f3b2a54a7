//! Durable `Idempotency-Key` handling (API.md §4, last paragraph) for any unary operation whose
//! answer is a protobuf message: chat completions, responses, runs.
//!
//! Protocol, over the `idempotency_keys` table (so it holds across processes and replicas):
//! 1. The first request with a key claims it (`INSERT … ON CONFLICT DO NOTHING`) as `in_flight`
//!    with a 30 s lease it renews every 10 s while it works.
//! 2. Its successful answer (encoded message + response metadata) is stored as `done` for 24 h;
//!    a failure (an error, or an answer the caller marks not cacheable) deletes the claim, so a
//!    retry runs again. A request that is dropped (client gone) releases its claim too.
//! 3. A later request with the same key and the same fingerprint replays the stored answer with
//!    `idempotency-replayed: true`, without running the work; one arriving while the first is in
//!    flight polls the row until it is done (or freed, or its lease lapses — a crashed owner —
//!    and it takes over). A different fingerprint → 409 `idempotency_key_conflict`.
//!
//! Key validation, scoping and fingerprints are in `key`, the tonic wrapper in `unary`.

mod key;
mod unary;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tonic::metadata::MetadataMap;

pub use key::{
    KEY_METADATA, MAX_KEY_LEN, REPLAYED_METADATA, fingerprint, key_from_metadata, scope_of,
    validate_key,
};
pub use unary::unary;

use crate::error::Error;
use crate::store::Store;
use crate::store::idempotency::IdemKey;

/// How long a finished answer is replayed.
pub const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);
/// How long an in-flight claim holds without renewal.
const LEASE: Duration = Duration::from_secs(30);
/// How often the owner renews its lease.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a waiting duplicate looks at the row.
const POLL: Duration = Duration::from_millis(100);
/// Expired rows are purged at most this often per process.
const PURGE_EVERY_SECS: i64 = 600;

/// The idempotency store of one process. Cheap to clone.
#[derive(Clone)]
pub struct Idempotency {
    store: Store,
    last_purge: Arc<AtomicI64>,
}

impl std::fmt::Debug for Idempotency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Idempotency").finish_non_exhaustive()
    }
}

/// What `run` was asked to do once.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The caller's scope ([`scope_of`]).
    pub scope: &'a str,
    /// The operation, e.g. `caduceus.v1.ChatService/CreateChatCompletion`.
    pub route: &'a str,
    /// The client's key; `None` runs the work without any bookkeeping.
    pub key: Option<&'a str>,
    /// The canonical request bytes ([`fingerprint`]).
    pub fingerprint: &'a [u8],
}

impl Idempotency {
    /// Idempotency over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            last_purge: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Runs `work` at most once per (scope, route, key): returns its answer and response
    /// metadata, or the stored ones with `replayed = true`. `cacheable` decides whether a
    /// successful answer is kept (e.g. a `failed` response object is not). Errors of `work` are
    /// returned as they are and never stored.
    pub async fn run<M, E, Fut>(
        &self,
        call: Call<'_>,
        cacheable: impl FnOnce(&M) -> bool,
        work: Fut,
    ) -> Result<(M, MetadataMap, bool), E>
    where
        M: prost::Message + Default,
        E: From<Error>,
        Fut: Future<Output = Result<(M, MetadataMap), E>>,
    {
        let Some(key) = call.key else {
            let (message, metadata) = work.await?;
            return Ok((message, metadata, false));
        };
        validate_key(key)?;
        let id = IdemKey {
            scope: call.scope,
            route: call.route,
            key,
        };
        let fingerprint = key::digest(call.fingerprint);
        self.purge_now_and_then().await;
        let owner = uuid::Uuid::new_v4().simple().to_string();
        if let Some(replay) = self.claim_or_wait::<M>(id, &fingerprint, &owner).await? {
            return Ok(replay);
        }

        let mut guard = ReleaseOnDrop {
            store: self.store.clone(),
            scope: call.scope.to_owned(),
            route: call.route.to_owned(),
            key: key.to_owned(),
            owner: owner.clone(),
            armed: true,
        };
        let result = self.with_lease(id, &owner, work).await;
        guard.armed = false;
        match result {
            Ok((message, metadata)) => {
                if cacheable(&message) {
                    let expires = crate::store::now() + RETENTION.as_secs_f64();
                    let stored = self
                        .store
                        .finish_idempotency_key(
                            id,
                            &owner,
                            &message.encode_to_vec(),
                            &key::metadata_to_json(&metadata),
                            expires,
                        )
                        .await;
                    if !matches!(stored, Ok(true)) {
                        tracing::warn!(?stored, "could not store an idempotent answer");
                        self.release(id, &owner).await;
                    }
                } else {
                    self.release(id, &owner).await;
                }
                Ok((message, metadata, false))
            }
            Err(error) => {
                self.release(id, &owner).await;
                Err(error)
            }
        }
    }

    /// Claims the key for `owner` (→ `None`: go and do the work), or waits for the request that
    /// holds it and returns its stored answer.
    async fn claim_or_wait<M>(
        &self,
        id: IdemKey<'_>,
        fingerprint: &str,
        owner: &str,
    ) -> Result<Option<(M, MetadataMap, bool)>, Error>
    where
        M: prost::Message + Default,
    {
        loop {
            let at = crate::store::now();
            let claimed = self
                .store
                .claim_idempotency_key(
                    id,
                    fingerprint,
                    owner,
                    at + LEASE.as_secs_f64(),
                    at + RETENTION.as_secs_f64(),
                )
                .await?;
            if claimed {
                return Ok(None);
            }
            // Someone holds the key: poll until it is done, freed or abandoned.
            loop {
                let at = crate::store::now();
                let Some(record) = self.store.get_idempotency_key(id).await? else {
                    break;
                };
                if record.fingerprint != fingerprint {
                    return Err(Error::conflict(
                        "idempotency_key_conflict",
                        "This Idempotency-Key was already used with a different request; use a new key for a new request",
                    ));
                }
                let void = record.expires_at < at || (!record.done && record.lease_until < at);
                if void {
                    self.store
                        .discard_void_idempotency_key(id, &record.owner, at)
                        .await?;
                    break;
                }
                if record.done {
                    let bytes = record.response.unwrap_or_default();
                    let message = M::decode(bytes.as_slice()).map_err(|error| {
                        Error::Internal(format!(
                            "stored idempotent answer does not decode: {error}"
                        ))
                    })?;
                    let metadata = key::replayed_metadata(record.metadata.as_deref());
                    return Ok(Some((message, metadata, true)));
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }

    /// Drives `work`, renewing the claim's lease while it runs.
    async fn with_lease<T>(
        &self,
        id: IdemKey<'_>,
        owner: &str,
        work: impl Future<Output = T>,
    ) -> T {
        tokio::pin!(work);
        let mut ticker = tokio::time::interval(RENEW_EVERY);
        ticker.tick().await;
        loop {
            tokio::select! {
                result = &mut work => return result,
                _ = ticker.tick() => {
                    let until = crate::store::now() + LEASE.as_secs_f64();
                    if let Err(error) = self.store.renew_idempotency_lease(id, owner, until).await {
                        tracing::warn!(%error, "could not renew an idempotency lease");
                    }
                }
            }
        }
    }

    async fn release(&self, id: IdemKey<'_>, owner: &str) {
        if let Err(error) = self.store.release_idempotency_key(id, owner).await {
            tracing::warn!(%error, "could not release an idempotency key");
        }
    }

    /// Deletes expired records, at most once per `PURGE_EVERY_SECS` in this process.
    async fn purge_now_and_then(&self) {
        let at = crate::store::now();
        let now_secs = at as i64;
        let last = self.last_purge.load(Ordering::Relaxed);
        if now_secs - last < PURGE_EVERY_SECS {
            return;
        }
        let won = self
            .last_purge
            .compare_exchange(last, now_secs, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok();
        if won && let Err(error) = self.store.purge_expired_idempotency_keys(at).await {
            tracing::warn!(%error, "could not purge expired idempotency keys");
        }
    }
}

/// Frees an in-flight claim whose request was dropped before it finished (client gone).
struct ReleaseOnDrop {
    store: Store,
    scope: String,
    route: String,
    key: String,
    owner: String,
    armed: bool,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let (scope, route, key, owner) = (
            std::mem::take(&mut self.scope),
            std::mem::take(&mut self.route),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.owner),
        );
        runtime.spawn(async move {
            let id = IdemKey {
                scope: &scope,
                route: &route,
                key: &key,
            };
            let _ = store.release_idempotency_key(id, &owner).await;
        });
    }
}

#[cfg(test)]
mod tests;
