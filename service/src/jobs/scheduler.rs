//! The in-server scheduler: every [`TICK`] it reads the due jobs and fires each one as a run.
//! A firing is claimed first with a compare-and-set on the job's `next_run_at` (see
//! `Store::claim_job_firing`), moving the schedule on, counting the firing and recording the id
//! of the run it will start and who claimed it, in the same statement, so several processes on
//! one database fire each due time exactly once and a restart simply continues from the stored
//! state. A process that dies between the claim and creating the run leaves an orphaned firing
//! (`running`, run id recorded, no such run); every [`ORPHAN_CHECK_EVERY`] ticks the scheduler
//! takes over the orphans of dead claimers (liveness as for runs: the PostgreSQL lock, or on
//! SQLite any previous process) and starts the run under the recorded id — the run id is the
//! primary key, so a firing never starts two runs. Stops when the run manager stops (drain).

use std::time::Duration;

use super::{Schedule, run_spec};
use crate::error::Error;
use crate::runs::{RunManager, new_run_id};
use crate::state::{Admission, AppState};
use crate::store::{JobFiring, JobRecord, Store, now};

/// How often due jobs are looked for.
pub const TICK: Duration = Duration::from_millis(500);
/// Most jobs fired per tick (the rest wait for the next one).
const PER_TICK: i64 = 32;
/// Orphaned firings are looked for on the first tick and then every this many ticks.
pub const ORPHAN_CHECK_EVERY: u32 = 10;

/// Starts the scheduler loop of this process.
pub fn spawn_scheduler(state: &AppState) -> tokio::task::JoinHandle<()> {
    let store = state.store.clone();
    let runs = state.runs.clone();
    let admission = state.admission.clone();
    let stopping = state.runs.stopping();
    tokio::spawn(async move {
        let mut ticks: u32 = 0;
        loop {
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(TICK) => {}
            }
            if ticks.is_multiple_of(ORPHAN_CHECK_EVERY)
                && let Err(error) = refire_orphans(&store, &runs, &admission).await
            {
                tracing::warn!(%error, "looking for orphaned job firings failed");
            }
            ticks = ticks.wrapping_add(1);
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
        let run_id = new_run_id();
        let firing = JobFiring {
            due,
            next,
            state,
            at,
            run_id: &run_id,
            owner: runs.instance(),
        };
        if store.claim_job_firing(&job.id, &firing).await? {
            fired += 1;
            fire(store, runs, admission, &job, run_id, at).await;
        }
    }
    Ok(fired)
}

/// Starts the runs of firings whose claimer died before creating them; returns how many.
pub async fn refire_orphans(
    store: &Store,
    runs: &RunManager,
    admission: &Admission,
) -> Result<usize, Error> {
    let mut refired = 0;
    for (job_id, run_id, claimer) in store.orphaned_job_firings().await? {
        if runs.owner_alive(&claimer).await? {
            continue;
        }
        if !store
            .take_over_job_firing(&job_id, &run_id, &claimer, runs.instance())
            .await?
        {
            continue;
        }
        let Some(job) = store.get_job(&job_id).await? else {
            continue;
        };
        tracing::warn!(job = %job_id, %run_id, "re-firing a job firing whose process died before starting its run");
        fire(store, runs, admission, &job, run_id, now()).await;
        refired += 1;
    }
    Ok(refired)
}

/// Starts the run of one claimed firing and records it on the job (or why it could not start).
async fn fire(
    store: &Store,
    runs: &RunManager,
    admission: &Admission,
    job: &JobRecord,
    run_id: String,
    at: f64,
) {
    let started = match admission.admit() {
        Ok(permit) => runs.create_with_id(run_id, run_spec(job), permit).await,
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
