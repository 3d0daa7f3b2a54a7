//! Shared state of one server process: configuration, the store, and the live gauges that
//! `/health/detailed` and the concurrency cap read. Cheap to clone (everything is behind `Arc`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::Config;
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
        }
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

    /// Records an upstream call's outcome.
    pub fn record_upstream(&self, outcome: UpstreamOutcome) {
        if let Ok(mut guard) = self.upstream.lock() {
            *guard = outcome;
        }
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
}

impl AppState {
    /// Builds the state for a freshly started server.
    pub fn new(config: Config, store: Store) -> Self {
        Self {
            config: Arc::new(config),
            store,
            gauges: Arc::new(Gauges::new()),
        }
    }
}
