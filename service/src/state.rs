//! Shared state of one server process: configuration, the store, and the live gauges that
//! `/health/detailed`, `/metrics` and the concurrency cap read. Cheap to clone (everything is
//! behind `Arc`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use caduceus_observability::metrics::CoreMetrics;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::agent::Agent;
use crate::config::Config;
use crate::error::Error;
use crate::idempotency::Idempotency;
use crate::responses::Responses;
use crate::runs::RunManager;
use crate::store::Store;

/// The outcome of the most recent upstream LLM call, for the `upstream` readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamOutcome {
    /// No call made since start.
    NotCalledYet,
    /// The last call succeeded.
    Ok,
    /// The last call failed; a short, safe description (no URLs, keys or raw bodies).
    Failed(String),
}

/// Process-wide counters and flags.
#[derive(Debug)]
pub struct Gauges {
    started: Instant,
    started_unix: i64,
    draining: AtomicBool,
    active_agents: AtomicI64,
    active_runs: AtomicI64,
    upstream: Mutex<UpstreamOutcome>,
    metrics: CoreMetrics,
}

impl Gauges {
    fn new() -> Self {
        let started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or_default();
        Self {
            started: Instant::now(),
            started_unix,
            draining: AtomicBool::new(false),
            active_agents: AtomicI64::new(0),
            active_runs: AtomicI64::new(0),
            upstream: Mutex::new(UpstreamOutcome::NotCalledYet),
            metrics: CoreMetrics::new(),
        }
    }

    /// The core's Prometheus families (`/metrics`): recorded by the gRPC layer and the agent.
    pub fn metrics(&self) -> &CoreMetrics {
        &self.metrics
    }

    /// Seconds since the process started serving.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// Unix seconds at start (the `created` of advertised models).
    pub fn started_unix(&self) -> i64 {
        self.started_unix
    }

    /// Whether SIGTERM was received and new agent work is refused.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Enters draining mode (idempotent).
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Agent turns executing now.
    pub fn active_agents(&self) -> i64 {
        self.active_agents.load(Ordering::SeqCst)
    }

    /// Runs not yet finished.
    pub fn active_runs(&self) -> i64 {
        self.active_runs.load(Ordering::SeqCst)
    }

    /// The last upstream call's outcome.
    pub fn upstream(&self) -> UpstreamOutcome {
        self.upstream
            .lock()
            .map(|guard| guard.clone())
            .unwrap_or(UpstreamOutcome::NotCalledYet)
    }

    /// Sets the number of unfinished runs executing in this process (kept by the run manager).
    pub fn set_active_runs(&self, count: i64) {
        self.active_runs.store(count, Ordering::SeqCst);
    }

    /// Counts an agent turn as active until the guard drops.
    pub fn agent_started(&self) -> ActiveGuard<'_> {
        self.active_agents.fetch_add(1, Ordering::SeqCst);
        ActiveGuard(&self.active_agents)
    }

    /// Records an upstream call's outcome.
    pub fn record_upstream(&self, outcome: UpstreamOutcome) {
        if let Ok(mut guard) = self.upstream.lock() {
            *guard = outcome;
        }
    }
}

/// Decrements its counter when dropped, so early returns and panics never leak a count.
#[derive(Debug)]
pub struct ActiveGuard<'a>(&'a AtomicI64);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Admission of agent work: refused while draining (503) or beyond `max_concurrent_runs` (429).
#[derive(Debug, Clone)]
pub struct Admission {
    slots: Option<Arc<Semaphore>>,
    gauges: Arc<Gauges>,
}

impl Admission {
    fn new(max_concurrent: u32, gauges: Arc<Gauges>) -> Self {
        let slots = (max_concurrent > 0).then(|| Arc::new(Semaphore::new(max_concurrent as usize)));
        Self { slots, gauges }
    }

    /// A slot for one agent turn, held until the permit drops.
    pub fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, Error> {
        if self.gauges.is_draining() {
            return Err(Error::Unavailable {
                code: "gateway_draining",
                message: "The server is shutting down and accepts no new agent work; retry on another replica or shortly".into(),
                retry_after: Some(Duration::from_secs(1)),
            });
        }
        let Some(slots) = &self.slots else {
            return Ok(None);
        };
        slots
            .clone()
            .try_acquire_owned()
            .map(Some)
            .map_err(|_| Error::RateLimited {
                message: "Too many concurrent agent runs; retry shortly".into(),
                retry_after: Duration::from_secs(1),
            })
    }
}

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// Loaded configuration.
    pub config: Arc<Config>,
    /// Persistence.
    pub store: Store,
    /// Live counters.
    pub gauges: Arc<Gauges>,
    /// The agent (upstream client, tools).
    pub agent: Agent,
    /// Draining and concurrency cap for agent work.
    pub admission: Admission,
    /// Durable runs (and the job runs the scheduler starts).
    pub runs: RunManager,
    /// The Responses API core (stored responses, background turns, live followers).
    pub responses: Responses,
    /// Durable `Idempotency-Key` handling for unary agent routes.
    pub idempotency: Idempotency,
}

impl AppState {
    /// Builds the state for a freshly started server.
    pub fn new(config: Config, store: Store) -> Result<Self, Error> {
        let config = Arc::new(config);
        let gauges = Arc::new(Gauges::new());
        let agent = Agent::new(config.clone(), store.clone(), gauges.clone())?;
        let admission = Admission::new(config.max_concurrent_runs, gauges.clone());
        let responses = Responses::new(
            config.clone(),
            store.clone(),
            agent.clone(),
            admission.clone(),
        );
        let runs = RunManager::new(
            store.clone(),
            agent.clone(),
            responses.clone(),
            config.clone(),
            gauges.clone(),
        );
        let idempotency = Idempotency::new(store.clone());
        Ok(Self {
            config,
            store,
            gauges,
            agent,
            admission,
            runs,
            responses,
            idempotency,
        })
    }
}
