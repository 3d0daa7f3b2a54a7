//! The in-server scheduler: every [`TICK`] it reads the due jobs and fires each one as a run.
//! A firing is claimed first with a compare-and-set on the job's `next_run_at` (see
//! `Store::claim_job_firing`), moving the schedule on and counting the firing in the same
//! statement, so several processes on one database fire each due time exactly once and a restart
//! simply continues from the stored state. Stops when the run manager stops (drain).

use std::time::Duration;

use super::{Schedule, run_spec};
use crate::error::Error;
use crate::runs::RunManager;
use crate::state::{Admission, AppState};
use crate::store::{JobRecord, Store, now};

/// How often due jobs are looked for.
pub const TICK: Duration = Duration::from_millis(500);
/// Most jobs fired per tick (the rest wait for the next one).
const PER_TICK: i64 = 32;

/// Starts the scheduler loop of this process.
pub fn spawn_scheduler(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let runs = state.runs.clone();
    let admission = state.admission.clone();
    let stopping = state.runs.stopping();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            if let Err(error) = tick(&store, &runs, &admission).await {
                tracing::warn!(%error, "job scheduler tick failed");
            }
        }
    })
}

/// Fires every job due now; returns how many firings this process claimed.
pub async fn tick(store: &Store, runs: &RunManager, admission: &Admission) -> Result<usize, Error> {
    let at = now();
    let mut fired = 0;
    for job in store.due_jobs(at, PER_TICK).await? {
        let Some(due) = job.next_run_at else {
            continue;
        };
        let (next, state) = match Schedule::parse(&job.schedule_display) {
            Ok(schedule) => {
                let count = job.repeat_completed + 1;
                let next = schedule.after(due, at);
                let exhausted = job.repeat_times.is_some_and(|times| count >= times);
                match next {
                    Some(next) if !exhausted => (Some(next), "scheduled"),
                    _ => (None, "completed"),
                }
            }
            // Stored schedules were validated; one that no longer parses fires a last time.
            Err(_) => (None, "completed"),
        };
        if store
            .claim_job_firing(&job.id, due, next, state, at)
            .await?
        {
            fired += 1;
            fire(store, runs, admission, &job, at).await;
        }
    }
    Ok(fired)
}

/// Starts the run of one claimed firing and records it on the job (or why it could not start).
async fn fire(store: &Store, runs: &RunManager, admission: &Admission, job: &JobRecord, at: f64) {
    let started = match admission.admit() {
        Ok(permit) => runs.create(run_spec(job), permit).await,
        Err(error) => Err(error),
    };
    let recorded = match started {
        Ok(run) => store.record_job_run(&job.id, &run.id, at).await,
        Err(error) => {
            tracing::warn!(job = %job.id, %error, "a due job could not start its run");
            let why = match &error {
                Error::Internal(_) => "internal error (logged)".to_owned(),
                other => other.to_string(),
            };
            store.record_job_failure(&job.id, at, &why).await
        }
    };
    if let Err(error) = recorded {
        tracing::warn!(job = %job.id, %error, "could not record a job firing");
    }
}
