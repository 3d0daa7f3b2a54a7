//! Scheduled jobs (API.md §8): agent prompts fired as runs on a schedule. This file is the core
//! the gRPC layer and the `cronjob` tool call — validation of every field (a 400 naming it,
//! never a 500), create / list / get / update / delete / pause / resume, and firing a job as a
//! run whose approvals are always denied (no human present). The grammar is `schedule.rs`, the
//! in-server loop that fires due jobs (once, across processes) is `scheduler.rs`, the table is
//! `crate::store::jobs`.

mod schedule;
mod scheduler;

#[cfg(test)]
mod tests;

pub use schedule::Schedule;
pub use scheduler::{ORPHAN_CHECK_EVERY, TICK, refire_orphans, spawn_scheduler, tick};

use crate::error::Error;
use crate::llm::Message;
use crate::runs::{GateMode, RunManager, RunSpec};
use crate::state::Admission;
use crate::store::{JobRecord, Store, now};

/// Longest job name, in characters.
const MAX_NAME: usize = 200;

/// A new job as a client describes it.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    pub name: String,
    pub schedule: String,
    pub prompt: String,
    pub skills: Vec<String>,
    /// Total firings; `None` = once for one-shot schedules, forever for recurring ones.
    pub repeat: Option<i64>,
    pub deliver: Option<String>,
}

/// A partial update; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default)]
pub struct JobChanges {
    pub name: Option<String>,
    pub schedule: Option<String>,
    pub prompt: Option<String>,
    pub skills: Option<Vec<String>>,
    pub repeat: Option<i64>,
    /// `false` pauses, `true` resumes.
    pub enabled: Option<bool>,
    pub deliver: Option<String>,
}

fn job_not_found(id: &str) -> Error {
    Error::not_found(
        "job_not_found",
        format!(
            "Job {:?} not found",
            id.chars().take(40).collect::<String>()
        ),
    )
}

fn required(value: &str, field: &str, max: usize) -> Result<String, Error> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid_param(
            "invalid_request",
            format!("`{field}` is required and must not be empty"),
            field,
        ));
    }
    if value.chars().count() > max {
        return Err(Error::invalid_param(
            "invalid_request",
            format!("`{field}` is longer than {max} characters"),
            field,
        ));
    }
    Ok(value.to_owned())
}

fn skills(values: &[String]) -> Result<Vec<String>, Error> {
    values
        .iter()
        .enumerate()
        .map(|(index, skill)| required(skill, &format!("skills[{index}]"), MAX_NAME))
        .collect()
}

/// The total firings for `schedule` given the client's `repeat`: ≥ 1; one-shot schedules fire
/// once (asking for more is an error rather than silently ignored).
fn repeat_times(schedule: &Schedule, repeat: Option<i64>) -> Result<Option<i64>, Error> {
    match repeat {
        Some(times) if times < 1 => Err(Error::invalid_param(
            "invalid_request",
            "`repeat` must be at least 1",
            "repeat",
        )),
        Some(times) if times > 1 && !schedule.recurs() => Err(Error::invalid_param(
            "invalid_request",
            "a one-shot schedule fires once; use `every …` or a cron expression to repeat",
            "repeat",
        )),
        Some(times) => Ok(Some(times)),
        None if schedule.recurs() => Ok(None),
        None => Ok(Some(1)),
    }
}

/// Validates and stores a new job, scheduled from now.
pub async fn create(store: &Store, spec: JobSpec) -> Result<JobRecord, Error> {
    let name = required(&spec.name, "name", MAX_NAME)?;
    let prompt = required(&spec.prompt, "prompt", usize::MAX)?;
    let parsed = Schedule::parse(&spec.schedule)?;
    let at = now();
    let next = parsed.first(at)?;
    let job = JobRecord {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        name,
        prompt,
        skills: skills(&spec.skills)?,
        schedule_kind: parsed.kind().to_owned(),
        schedule_display: spec.schedule.trim().to_owned(),
        repeat_times: repeat_times(&parsed, spec.repeat)?,
        repeat_completed: 0,
        enabled: true,
        state: "scheduled".into(),
        deliver: spec.deliver.filter(|d| !d.trim().is_empty()),
        created_at: at,
        next_run_at: Some(next),
        last_run_at: None,
        last_status: None,
        last_error: None,
        last_run_id: None,
    };
    store.insert_job(&job).await?;
    Ok(job)
}

/// Jobs by creation time; paused and completed ones only with `include_disabled`.
pub async fn list(store: &Store, include_disabled: bool) -> Result<Vec<JobRecord>, Error> {
    Ok(store.list_jobs(include_disabled).await?)
}

/// One job; unknown → 404 `job_not_found`.
pub async fn get(store: &Store, id: &str) -> Result<JobRecord, Error> {
    store.get_job(id).await?.ok_or_else(|| job_not_found(id))
}

/// Deletes a job; unknown → 404.
pub async fn delete(store: &Store, id: &str) -> Result<(), Error> {
    if store.delete_job(id).await? {
        Ok(())
    } else {
        Err(job_not_found(id))
    }
}

/// Applies `changes` (each validated like on create), then `enabled` (pause/resume).
pub async fn update(store: &Store, id: &str, changes: JobChanges) -> Result<JobRecord, Error> {
    let mut job = get(store, id).await?;
    if let Some(name) = &changes.name {
        job.name = required(name, "name", MAX_NAME)?;
    }
    if let Some(prompt) = &changes.prompt {
        job.prompt = required(prompt, "prompt", usize::MAX)?;
    }
    if let Some(list) = &changes.skills {
        job.skills = skills(list)?;
    }
    if let Some(deliver) = changes.deliver {
        job.deliver = Some(deliver).filter(|d| !d.trim().is_empty());
    }
    let at = now();
    let rescheduled = changes.schedule.is_some() || changes.repeat.is_some();
    if let Some(text) = &changes.schedule {
        let parsed = Schedule::parse(text)?;
        let was_recurring = job.schedule_kind != "once";
        job.repeat_times = match changes.repeat {
            Some(_) => repeat_times(&parsed, changes.repeat)?,
            None if parsed.recurs() && was_recurring => job.repeat_times,
            None => repeat_times(&parsed, None)?,
        };
        job.next_run_at = Some(parsed.first(at)?);
        job.schedule_kind = parsed.kind().to_owned();
        job.schedule_display = text.trim().to_owned();
    } else if changes.repeat.is_some() {
        let parsed = Schedule::parse(&job.schedule_display)?;
        job.repeat_times = repeat_times(&parsed, changes.repeat)?;
    }
    if rescheduled && job.state != "paused" {
        let exhausted = job.repeat_times.is_some_and(|t| job.repeat_completed >= t);
        job.state = if exhausted { "completed" } else { "scheduled" }.to_owned();
        job.enabled = !exhausted;
        if !exhausted && job.next_run_at.is_none() {
            job.next_run_at = Some(Schedule::parse(&job.schedule_display)?.first(at)?);
        }
    }
    match changes.enabled {
        Some(false) => pause_record(&mut job),
        Some(true) => resume_record(&mut job, at)?,
        None => {}
    }
    save(store, &job).await?;
    Ok(job)
}

async fn save(store: &Store, job: &JobRecord) -> Result<(), Error> {
    if store.save_job(job).await? {
        Ok(())
    } else {
        Err(job_not_found(&job.id))
    }
}

fn pause_record(job: &mut JobRecord) {
    if job.state == "scheduled" {
        job.state = "paused".into();
        job.enabled = false;
    }
}

fn resume_record(job: &mut JobRecord, at: f64) -> Result<(), Error> {
    if job.state != "paused" {
        return Ok(());
    }
    let parsed = Schedule::parse(&job.schedule_display)?;
    job.next_run_at = Some(if parsed.recurs() {
        parsed.first(at)?
    } else {
        // A one-shot time that passed while paused fires now.
        job.next_run_at.unwrap_or(at).max(at)
    });
    job.state = "scheduled".into();
    job.enabled = true;
    Ok(())
}

/// Stops firing until resumed (a completed job stays completed).
pub async fn pause(store: &Store, id: &str) -> Result<JobRecord, Error> {
    let mut job = get(store, id).await?;
    pause_record(&mut job);
    save(store, &job).await?;
    Ok(job)
}

/// Fires again from now on (a completed job stays completed).
pub async fn resume(store: &Store, id: &str) -> Result<JobRecord, Error> {
    let mut job = get(store, id).await?;
    resume_record(&mut job, now())?;
    save(store, &job).await?;
    Ok(job)
}

/// Fires the job now, whatever its schedule or state (the schedule is not moved and the
/// firing does not count towards `repeat`); returns the job after recording it, and the run id.
pub async fn run_now(
    store: &Store,
    runs: &RunManager,
    admission: &Admission,
    id: &str,
) -> Result<(JobRecord, String), Error> {
    let job = get(store, id).await?;
    let permit = admission.admit()?;
    let run = runs.create(run_spec(&job), permit).await?;
    store.record_job_run(&job.id, &run.id, now()).await?;
    Ok((get(store, id).await?, run.id))
}

/// The run a firing of `job` starts: its prompt, with approvals denied (nobody is watching).
pub fn run_spec(job: &JobRecord) -> RunSpec {
    let mut instructions = format!(
        "You are running the scheduled job {:?}. No human is watching this run: commands that \
         need approval are denied, so choose safe ways to do the task.",
        job.name
    );
    if !job.skills.is_empty() {
        instructions.push_str(&format!(
            " Before starting, read these skills with skill_view: {}.",
            job.skills.join(", ")
        ));
    }
    RunSpec {
        input: Message::user(job.prompt.clone()),
        history: Vec::new(),
        instructions: Some(instructions),
        session_id: None,
        session_key: None,
        previous_response_id: None,
        model: None,
        approvals: GateMode::DenyAll,
    }
}
