//! The core's observability glue (the subscriber, exporter and metric families themselves live in
//! `caduceus-observability`): the gRPC server span and metrics layer ([`grpc`]), the GenAI spans
//! and metric helpers the agent uses ([`genai`]), and the per-request upstream timer behind
//! `caduceus_gateway_overhead_seconds`.
//!
//! The timer is a task-local set by the gRPC layer around each request; the agent adds the time
//! it spends waiting on the upstream ([`record_upstream_wait`]). Work moved to another task keeps
//! both the span and the timer only when spawned through [`propagate`] — RPCs that run a turn in
//! a spawned task must use it (`tokio::spawn(telemetry::propagate(fut))`), or that turn's spans
//! start a new trace and its upstream time is not subtracted.

pub mod genai;
pub mod grpc;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::Instrument;

tokio::task_local! {
    static REQUEST: Arc<RequestTiming>;
}

/// Upstream time of one request, summed over every upstream call its turns made.
#[derive(Debug, Default)]
pub struct RequestTiming {
    upstream_nanos: AtomicU64,
    upstream_calls: AtomicU64,
}

impl RequestTiming {
    /// Adds one upstream call's waiting time.
    pub fn add_upstream(&self, waited: Duration) {
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.upstream_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.upstream_calls.fetch_add(1, Ordering::Relaxed);
    }

    /// The total, or `None` when the request never called the upstream.
    pub fn upstream(&self) -> Option<Duration> {
        (self.upstream_calls.load(Ordering::Relaxed) > 0)
            .then(|| Duration::from_nanos(self.upstream_nanos.load(Ordering::Relaxed)))
    }
}

/// Runs `future` with `timing` as the current request's timer.
pub(crate) async fn with_timing<F: Future>(timing: Arc<RequestTiming>, future: F) -> F::Output {
    REQUEST.scope(timing, future).await
}

/// Adds `waited` to the current request's upstream time (no-op outside a request).
pub fn record_upstream_wait(waited: Duration) {
    let _ = REQUEST.try_with(|timing| timing.add_upstream(waited));
}

/// Carries the current span and request timer into `future`, for `tokio::spawn`: the spawned
/// work stays in the request's trace and its upstream time counts for the request.
pub fn propagate<F>(future: F) -> impl Future<Output = F::Output> + Send
where
    F: Future + Send,
{
    let timing = REQUEST.try_with(Arc::clone).ok();
    let span = tracing::Span::current();
    async move {
        match timing {
            Some(timing) => REQUEST.scope(timing, future).await,
            None => future.await,
        }
    }
    .instrument(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_work_keeps_the_request_timer() {
        let timing = Arc::new(RequestTiming::default());
        assert_eq!(timing.upstream(), None);
        with_timing(timing.clone(), async {
            record_upstream_wait(Duration::from_millis(5));
            let task = tokio::spawn(propagate(async {
                record_upstream_wait(Duration::from_millis(7));
            }));
            task.await.unwrap();
            // Without `propagate` the timer is not visible in another task.
            tokio::spawn(async { record_upstream_wait(Duration::from_secs(9)) })
                .await
                .unwrap();
        })
        .await;
        assert_eq!(timing.upstream(), Some(Duration::from_millis(12)));
        // Outside any request: nothing happens.
        record_upstream_wait(Duration::from_secs(1));
    }
}
