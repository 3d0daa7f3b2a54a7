//! The `jobs` table: [`JobRecord`] and its queries — insert, read, list, save a client's
//! changes, delete, the scheduler's due list and its compare-and-set claim of one firing (so
//! several processes on one database fire a job once), and recording which run a firing started.
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

    /// Claims the firing due at `expected_next`: moves the job to `next_next` / `state`, counts
    /// the firing and marks it `running`. Only one caller (in any process) gets `true` for one
    /// `expected_next`; the others see the row already moved on.
    pub async fn claim_job_firing(
        &self,
        id: &str,
        expected_next: f64,
        next_next: Option<f64>,
        state: &str,
        now: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET next_run_at = $3, state = $4, enabled = $5, \
             repeat_completed = repeat_completed + 1, last_run_at = $6, last_status = 'running', \
             last_error = NULL, last_run_id = NULL \
             WHERE id = $1 AND state = 'scheduled' AND next_run_at = $2",
        )
        .bind(id)
        .bind(expected_next)
        .bind(next_next)
        .bind(state)
        .bind(i64::from(state == "scheduled"))
        .bind(now)
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
