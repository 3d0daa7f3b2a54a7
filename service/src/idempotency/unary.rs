//! The tonic face of [`Idempotency::run`](super::Idempotency::run): wraps a unary RPC body so the
//! `idempotency-key` metadata is honoured — validated, scoped to the caller's API key, the work
//! run at most once, and replays answered with `idempotency-replayed: true`.

use std::future::Future;

use tonic::{Request, Response, Status};

use super::key::{KEY_METADATA, key_from_metadata, scope_of};
use super::{Call, Idempotency};

/// Runs `handler(request)` under the request's `idempotency-key` (if any) for `route`.
/// `fingerprint` is the request's canonical bytes (see [`super::fingerprint`]); `cacheable`
/// says whether a successful answer may be replayed. Without a key this is just
/// `handler(request)`.
///
/// ```ignore
/// let fingerprint = idempotency::fingerprint(&request.get_ref().encode_to_vec(), request.metadata());
/// idempotency::unary(&state.idempotency, "caduceus.v1.RunService/CreateRun", request,
///     &fingerprint, |_| true, |request| self.create(request)).await
/// ```
pub async fn unary<T, M, F, Fut>(
    idempotency: &Idempotency,
    route: &str,
    request: Request<T>,
    fingerprint: &[u8],
    cacheable: impl FnOnce(&M) -> bool,
    handler: F,
) -> Result<Response<M>, Status>
where
    M: prost::Message + Default,
    F: FnOnce(Request<T>) -> Fut,
    Fut: Future<Output = Result<Response<M>, Status>>,
{
    if request.metadata().get(KEY_METADATA).is_none() {
        return handler(request).await;
    }
    let key = key_from_metadata(request.metadata())?;
    let scope = scope_of(request.metadata());
    let call = Call {
        scope: &scope,
        route,
        key: key.as_deref(),
        fingerprint,
    };
    let work = async move {
        let (metadata, message, _) = handler(request).await?.into_parts();
        Ok::<_, Status>((message, metadata))
    };
    let (message, metadata, _replayed) = idempotency.run(call, cacheable, work).await?;
    let mut response = Response::new(message);
    *response.metadata_mut() = metadata;
    Ok(response)
}
