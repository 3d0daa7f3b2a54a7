//! The retry policy for opening an upstream call: how many attempts, the exponential backoff
//! with jitter (a `backon` schedule) and how far a `Retry-After` header may stretch a wait.
//! Retries only ever happen before the first streamed byte; which errors qualify is
//! [`UpstreamError::is_retryable`](super::UpstreamError::is_retryable).

use std::time::Duration;

use backon::ExponentialBuilder;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Bounded retries per upstream target (the fallbacks get the same policy each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per target, including the first (at least 1).
    pub attempts: usize,
    /// Delay before the first retry; doubles each time, plus up to 100 % jitter.
    pub min_delay: Duration,
    /// Cap on the computed backoff.
    pub max_delay: Duration,
    /// Cap on a `Retry-After` the upstream asks for.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The `backon` schedule: `attempts - 1` retries, exponential, jittered, capped.
    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_factor(2.0)
            .with_jitter()
            .with_max_times(self.attempts.saturating_sub(1))
    }

    /// The wait before the next attempt: the upstream's `Retry-After` (capped) when it sent
    /// one, else the backoff's; `None` (no more attempts) stays `None`.
    pub(crate) fn delay(
        &self,
        retry_after: Option<Duration>,
        backoff: Option<Duration>,
    ) -> Option<Duration> {
        backoff.map(|d| retry_after.map_or(d, |r| r.min(self.max_retry_after)))
    }
}

/// `Retry-After` in seconds (integer or decimal). HTTP dates are ignored: the backoff applies.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let seconds: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_seconds_only() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn retry_after_is_capped_and_never_extends_the_attempts() {
        let policy = RetryPolicy::default();
        let long = Some(Duration::from_secs(3600));
        let backoff = Some(Duration::from_millis(200));
        assert_eq!(policy.delay(long, backoff), Some(Duration::from_secs(10)));
        assert_eq!(policy.delay(None, backoff), backoff);
        assert_eq!(policy.delay(long, None), None);
    }

    #[test]
    fn schedule_has_attempts_minus_one_waits_with_jitter_in_range() {
        use backon::BackoffBuilder;
        let delays: Vec<_> = RetryPolicy::default().backoff().build().collect();
        assert_eq!(delays.len(), 2);
        assert!(delays[0] >= Duration::from_millis(200) && delays[0] <= Duration::from_millis(400));
        assert!(delays[1] >= Duration::from_millis(400) && delays[1] <= Duration::from_millis(800));
    }
}
