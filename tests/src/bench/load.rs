//! Load shapes: [`open_loop`] sends at a fixed rate from a pacing thread and measures each
//! request from its *scheduled* time (so a stalled server cannot hide its queueing: no coordinated
//! omission), and [`closed_loop`] keeps N requests in flight to find the maximum throughput.
//! Both are bounded in count and time (a request timeout, and an in-flight cap past which an
//! open loop counts sends as failed instead of queueing them). What a request is comes from the
//! caller.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// No single bench request may take longer than this (counted as an error).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one open-loop segment measured.
#[derive(Debug)]
pub struct OpenLoop<T> {
    /// What each successful request returned, in send order.
    pub values: Vec<T>,
    /// Microseconds from the scheduled send until the request's task started (pacer accuracy).
    pub lag_us: Vec<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Successful requests per second of wall time (including the drain of the last ones).
    pub achieved_rps: f64,
}

/// Sends `rate` requests per second for `duration` (exactly `rate × duration` requests), each
/// made by `op`, which is given the request's *scheduled* instant to measure from and returns
/// its measurements — or an error.
pub async fn open_loop<T, F, Fut>(rate: f64, duration: Duration, op: F) -> OpenLoop<T>
where
    T: Send + 'static,
    F: Fn(Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    // Past two seconds' worth of requests in flight the target is saturated: further sends
    // would only queue, so they are counted as failures instead (keeps a run bounded).
    let cap = ((rate * 2.0) as usize).max(64);
    open_loop_capped(rate, duration, cap, op).await
}

/// [`open_loop`] with an explicit in-flight cap.
async fn open_loop_capped<T, F, Fut>(
    rate: f64,
    duration: Duration,
    cap: usize,
    op: F,
) -> OpenLoop<T>
where
    T: Send + 'static,
    F: Fn(Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as u64;
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let op = Arc::new(op);
    let runtime = tokio::runtime::Handle::current();
    let started = Instant::now();
    let in_flight = Arc::new(AtomicUsize::new(0));
    // A plain thread paces the sends: `thread::sleep` wakes within tens of microseconds, where
    // the runtime's timer has millisecond ticks.
    let pacer = tokio::task::spawn_blocking(move || {
        let start = Instant::now() + Duration::from_millis(1);
        let mut tasks: Vec<JoinHandle<Outcome<T>>> = Vec::with_capacity(total as usize);
        for i in 0..total {
            let scheduled = start + period.mul_f64(i as f64);
            let now = Instant::now();
            if scheduled > now {
                std::thread::sleep(scheduled - now);
            }
            let op = Arc::clone(&op);
            let in_flight = Arc::clone(&in_flight);
            let busy = in_flight.fetch_add(1, Ordering::Relaxed);
            tasks.push(runtime.spawn(async move {
                let lag = micros(scheduled.elapsed());
                let outcome = if busy >= cap {
                    Outcome::Failed(format!("not sent: {busy} requests in flight (saturated)"))
                } else {
                    match tokio::time::timeout(REQUEST_TIMEOUT, op(scheduled)).await {
                        Ok(Ok(value)) => Outcome::Done { lag, value },
                        Ok(Err(error)) => Outcome::Failed(format!("{error:#}")),
                        Err(_) => Outcome::Failed(format!("timed out after {REQUEST_TIMEOUT:?}")),
                    }
                };
                in_flight.fetch_sub(1, Ordering::Relaxed);
                outcome
            }));
        }
        tasks
    });
    let mut result = OpenLoop {
        values: Vec::with_capacity(total as usize),
        lag_us: Vec::with_capacity(total as usize),
        errors: 0,
        first_error: None,
        achieved_rps: 0.0,
    };
    let tasks = match pacer.await {
        Ok(tasks) => tasks,
        Err(error) => {
            result.errors = total;
            result.first_error = Some(format!("pacer failed: {error}"));
            return result;
        }
    };
    for task in tasks {
        match task.await {
            Ok(Outcome::Done { lag, value }) => {
                result.lag_us.push(lag);
                result.values.push(value);
            }
            Ok(Outcome::Failed(error)) => result.fail(error),
            Err(error) => result.fail(format!("task failed: {error}")),
        }
    }
    result.achieved_rps = result.values.len() as f64 / started.elapsed().as_secs_f64();
    result
}

impl<T> OpenLoop<T> {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }
}

enum Outcome<T> {
    Done { lag: u64, value: T },
    Failed(String),
}

/// What one closed-loop segment measured.
#[derive(Debug, Default)]
pub struct ClosedLoop {
    pub completed: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub rps: f64,
}

/// `concurrency` workers each run `op` back to back until `duration` is over.
pub async fn closed_loop<F, Fut>(concurrency: usize, duration: Duration, op: F) -> ClosedLoop
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<JoinHandle<ClosedLoop>> = (0..concurrency.max(1))
        .map(|_| {
            let op = Arc::clone(&op);
            tokio::spawn(async move {
                let mut mine = ClosedLoop::default();
                while Instant::now() < deadline {
                    match tokio::time::timeout(REQUEST_TIMEOUT, op()).await {
                        Ok(Ok(())) => mine.completed += 1,
                        Ok(Err(error)) => {
                            mine.errors += 1;
                            mine.first_error.get_or_insert(format!("{error:#}"));
                        }
                        Err(_) => mine.errors += 1,
                    }
                }
                mine
            })
        })
        .collect();
    let mut total = ClosedLoop::default();
    for worker in workers {
        if let Ok(mine) = worker.await {
            total.completed += mine.completed;
            total.errors += mine.errors;
            if total.first_error.is_none() {
                total.first_error = mine.first_error;
            }
        }
    }
    total.rps = total.completed as f64 / started.elapsed().as_secs_f64();
    total
}

/// Microseconds, saturating.
pub fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_loop_sends_exactly_rate_times_duration_and_counts_errors() {
        let result = open_loop(200.0, Duration::from_millis(100), |scheduled| async move {
            Ok(micros(scheduled.elapsed()))
        })
        .await;
        assert_eq!(result.values.len(), 20);
        assert_eq!(result.errors, 0);
        assert!(result.achieved_rps > 0.0);

        let failing = open_loop(100.0, Duration::from_millis(50), |_| async {
            Err::<(), _>(anyhow::anyhow!("refused"))
        })
        .await;
        assert_eq!(failing.errors, 5);
        assert_eq!(failing.first_error.as_deref(), Some("refused"));
    }

    #[tokio::test]
    async fn open_loop_measures_from_the_scheduled_time() {
        // A slow operation makes every later request late too: latency keeps the queueing.
        let result = open_loop(1000.0, Duration::from_millis(20), |scheduled| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(micros(scheduled.elapsed()))
        })
        .await;
        assert!(result.values.iter().all(|&us| us >= 5_000));
    }

    #[tokio::test]
    async fn a_saturated_target_is_not_queued_forever() {
        // 200 sends at 1000/s to an operation far slower than that: past the in-flight cap
        // (10 here) sends fail at once instead of queueing.
        let started = Instant::now();
        let result = open_loop_capped(1000.0, Duration::from_millis(200), 10, |_| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(())
        })
        .await;
        assert_eq!(result.values.len(), 10);
        assert_eq!(result.errors, 190);
        assert!(result.first_error.unwrap().contains("saturated"));
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn closed_loop_is_bounded_in_time() {
        let started = Instant::now();
        let result = closed_loop(4, Duration::from_millis(50), || async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(())
        })
        .await;
        assert!(result.completed > 0);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
