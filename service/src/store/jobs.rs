//! The `jobs` table: [`JobRecord`] and its queries — insert, read, list, save a client's
//! changes, delete, the scheduler's due list and its compare-and-set claim of one firing (so
//! several processes on one database fire a job once), recording which run a firing started, and
//! finding firings whose claimer died before their run existed (so they are re-fired, not lost).
//! Schedule grammar, validation and firing belong to `crate::jobs`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};

/// One scheduled job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    /// 12 hex.
    pub id: String,
    pub name: String,
    pub prompt: String,
    pub skills: Vec<String>,
    /// `once`, `interval` or `cron`.
    pub schedule_kind: String,
    /// The schedule as the client wrote it (re-parsed to compute firings).
    pub schedule_display: String,
    /// Total firings allowed; `None` = unlimited.
    pub repeat_times: Option<i64>,
    pub repeat_completed: i64,
    pub enabled: bool,
    /// `scheduled`, `paused` or `completed`.
    pub state: String,
    pub deliver: Option<String>,
    /// Float Unix seconds.
    pub created_at: f64,
    pub next_run_at: Option<f64>,
    pub last_run_at: Option<f64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub last_run_id: Option<String>,
}

/// One claimed firing: the due time it claims, where the schedule moves on to, and the run it
/// will start, recorded with the claim (`last_run_id`, `claimed_by`) so that a crash before the
/// run exists leaves a visible orphan ([`Store::orphaned_job_firings`]) rather than nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFiring<'a> {
    /// The `next_run_at` the claim expects (compare-and-set).
    pub due: f64,
    /// The next due time, or `None` when this is the last firing.
    pub next: Option<f64>,
    /// The job's state after the claim: `scheduled` or `completed`.
    pub state: &'a str,
    /// Float Unix seconds of the claim.
    pub at: f64,
    /// The run this firing starts.
    pub run_id: &'a str,
    /// Instance id of the claiming process.
    pub owner: &'a str,
}

/// A firing whose run was never created: `(job id, run id, claimer instance)`.
pub type OrphanFiring = (String, String, String);

macro_rules! select_jobs {
    () => {
        "SELECT id, name, prompt, skills, schedule_kind, schedule_display, repeat_times, \
         repeat_completed, enabled, state, deliver, created_at, next_run_at, last_run_at, \
         last_status, last_error, last_run_id FROM jobs"
    };
}

impl Store {
    /// Inserts a new job.
    pub async fn insert_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO jobs (id, name, prompt, skills, schedule_kind, schedule_display, \
             repeat_times, repeat_completed, enabled, state, deliver, created_at, next_run_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(&job.id)
        .bind(&job.name)
        .bind(&job.prompt)
        .bind(skills_json(&job.skills))
        .bind(&job.schedule_kind)
        .bind(&job.schedule_display)
        .bind(job.repeat_times)
        .bind(job.repeat_completed)
        .bind(i64::from(job.enabled))
        .bind(&job.state)
        .bind(&job.deliver)
        .bind(job.created_at)
        .bind(job.next_run_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One job, or `None`.
    pub async fn get_job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(concat!(select_jobs!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(job_from_row).transpose()?)
    }

    /// Jobs by creation time; only `scheduled` ones unless `include_disabled`.
    pub async fn list_jobs(&self, include_disabled: bool) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_jobs!(),
            " WHERE ($1 = 1 OR state = 'scheduled') ORDER BY created_at, id"
        ))
        .bind(i64::from(include_disabled))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)
    }

    /// Saves what a client may change (definition, schedule, state, next firing); firing
    /// bookkeeping (`repeat_completed`, `last_*`) is left alone. `false` if the job is gone.
    pub async fn save_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET name = $2, prompt = $3, skills = $4, schedule_kind = $5, \
             schedule_display = $6, repeat_times = $7, enabled = $8, state = $9, deliver = $10, \
             next_run_at = $11 WHERE id = $1",
        )
        .bind(&job.id)
        .bind(&job.name)
        .bind(&job.prompt)
        .bind(skills_json(&job.skills))
        .bind(&job.schedule_kind)
        .bind(&job.schedule_display)
        .bind(job.repeat_times)
        .bind(i64::from(job.enabled))
        .bind(&job.state)
        .bind(&job.deliver)
        .bind(job.next_run_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a job; `false` if it did not exist.
    pub async fn delete_job(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `scheduled` jobs whose `next_run_at <= now`, most overdue first, at most `limit`.
    pub async fn due_jobs(&self, now: f64, limit: i64) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_jobs!(),
            " WHERE state = 'scheduled' AND next_run_at IS NOT NULL AND next_run_at <= $1 \
             ORDER BY next_run_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(job_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)
    }

    /// Claims the firing due at `firing.due`: moves the job to `firing.next` / `firing.state`,
    /// counts the firing, marks it `running` and records its run id and claimer. Only one caller
    /// (in any process) gets `true` for one due time; the others see the row already moved on.
    pub async fn claim_job_firing(
        &self,
        id: &str,
        firing: &JobFiring<'_>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET next_run_at = $3, state = $4, enabled = $5, \
             repeat_completed = repeat_completed + 1, last_run_at = $6, last_status = 'running', \
             last_error = NULL, last_run_id = $7, claimed_by = $8 \
             WHERE id = $1 AND state = 'scheduled' AND next_run_at = $2",
        )
        .bind(id)
        .bind(firing.due)
        .bind(firing.next)
        .bind(firing.state)
        .bind(i64::from(firing.state == "scheduled"))
        .bind(firing.at)
        .bind(firing.run_id)
        .bind(firing.owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Claimed firings still `running` whose run does not exist: their claimer died between
    /// claim and run creation (or is still creating it — the caller checks it is dead).
    pub async fn orphaned_job_firings(&self) -> Result<Vec<OrphanFiring>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, last_run_id, claimed_by FROM jobs WHERE last_status = 'running' \
             AND last_run_id IS NOT NULL AND claimed_by IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.id = jobs.last_run_id) \
             ORDER BY last_run_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Takes over the orphaned firing `(id, run_id)` of the dead `from` for `to`; only one
    /// caller gets `true`.
    pub async fn take_over_job_firing(
        &self,
        id: &str,
        run_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET claimed_by = $4 WHERE id = $1 AND last_run_id = $2 \
             AND claimed_by = $3 AND last_status = 'running'",
        )
        .bind(id)
        .bind(run_id)
        .bind(from)
        .bind(to)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that a firing started run `run_id`. `last_status` / `last_error` are taken from
    /// the run in the same statement — `running` until it ends — so a run that ended before
    /// this write is not shown as running (the run's own end updates the job afterwards).
    pub async fn record_job_run(&self, id: &str, run_id: &str, at: f64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET last_run_id = $2, last_run_at = $3, \
             last_status = COALESCE((SELECT r.status FROM runs r WHERE r.id = $2 AND r.status \
             IN ('completed', 'failed', 'cancelled', 'interrupted')), 'running'), \
             last_error = (SELECT r.error FROM runs r WHERE r.id = $2 AND r.status \
             IN ('completed', 'failed', 'cancelled', 'interrupted')) \
             WHERE id = $1",
        )
        .bind(id)
        .bind(run_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a firing that could not start a run.
    pub async fn record_job_failure(
        &self,
        id: &str,
        at: f64,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET last_run_at = $2, last_status = 'failed', last_error = $3, \
             last_run_id = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(at)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn skills_json(skills: &[String]) -> String {
    serde_json::to_string(skills).unwrap_or_else(|_| "[]".to_owned())
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord, sqlx::Error> {
    let skills: String = row.try_get("skills")?;
    let enabled: i64 = row.try_get("enabled")?;
    Ok(JobRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        prompt: row.try_get("prompt")?,
        // Written by us as a JSON array; an unreadable value reads as no skills.
        skills: serde_json::from_str(&skills).unwrap_or_default(),
        schedule_kind: row.try_get("schedule_kind")?,
        schedule_display: row.try_get("schedule_display")?,
        repeat_times: row.try_get("repeat_times")?,
        repeat_completed: row.try_get("repeat_completed")?,
        enabled: enabled != 0,
        state: row.try_get("state")?,
        deliver: row.try_get("deliver")?,
        created_at: row.try_get("created_at")?,
        next_run_at: row.try_get("next_run_at")?,
        last_run_at: row.try_get("last_run_at")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        last_run_id: row.try_get("last_run_id")?,
    })
}
