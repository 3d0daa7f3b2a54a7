//! `caduceus.v1.JobService`: scheduled jobs CRUD, pause/resume and fire-now. Each RPC converts
//! the proto message, calls one `crate::jobs` function and converts the job back; validation
//! (400s naming the field) is the core's.

use caduceus_proto::v1 as pb;
use caduceus_proto::v1::job_service_server::JobService;
use tonic::{Request, Response, Status};

use crate::jobs::{self, JobChanges, JobSpec};
use crate::state::AppState;
use crate::store::JobRecord;

/// The job RPCs over the shared state.
#[derive(Clone)]
pub struct Jobs {
    state: AppState,
}

impl Jobs {
    /// A job service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

/// The proto job; `next_run_at` only while it is scheduled.
pub fn job_proto(job: JobRecord) -> pb::Job {
    let scheduled = job.state == "scheduled";
    pb::Job {
        id: job.id,
        name: job.name,
        prompt: job.prompt,
        skills: job.skills,
        schedule: Some(pb::Schedule {
            kind: job.schedule_kind,
            display: job.schedule_display,
        }),
        repeat: Some(pb::Repeat {
            times: job.repeat_times,
            completed: job.repeat_completed,
        }),
        enabled: job.enabled,
        state: job.state,
        created_at: job.created_at,
        next_run_at: job.next_run_at.filter(|_| scheduled),
        last_run_at: job.last_run_at,
        last_status: job.last_status,
        last_error: job.last_error,
        last_run_id: job.last_run_id,
        deliver: job.deliver,
    }
}

fn one(job: JobRecord) -> Response<pb::JobResponse> {
    Response::new(pb::JobResponse {
        job: Some(job_proto(job)),
    })
}

#[tonic::async_trait]
impl JobService for Jobs {
    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let include_disabled = request.get_ref().include_disabled;
        let jobs = jobs::list(&self.state.store, include_disabled).await?;
        Ok(Response::new(pb::ListJobsResponse {
            jobs: jobs.into_iter().map(job_proto).collect(),
        }))
    }

    async fn create_job(
        &self,
        request: Request<pb::CreateJobRequest>,
    ) -> Result<Response<pb::JobResponse>, Status> {
        let body = request.into_inner();
        stored_texts(
            Some(&body.name),
            Some(&body.prompt),
            body.deliver.as_ref(),
            &body.skills,
        )?;
        let spec = JobSpec {
            name: body.name,
            schedule: body.schedule,
            prompt: body.prompt,
            skills: body.skills,
            repeat: body.repeat,
            deliver: body.deliver,
        };
        Ok(one(jobs::create(&self.state.store, spec).await?))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::JobResponse>, Status> {
        job_id(&request.get_ref().id)?;
        Ok(one(
            jobs::get(&self.state.store, &request.get_ref().id).await?
        ))
    }

    async fn update_job(
        &self,
        request: Request<pb::UpdateJobRequest>,
    ) -> Result<Response<pb::JobResponse>, Status> {
        let body = request.into_inner();
        job_id(&body.id)?;
        let no_skills = Vec::new();
        stored_texts(
            body.name.as_ref(),
            body.prompt.as_ref(),
            body.deliver.as_ref(),
            body.skills.as_ref().map_or(&no_skills, |list| &list.values),
        )?;
        let changes = JobChanges {
            name: body.name,
            schedule: body.schedule,
            prompt: body.prompt,
            skills: body.skills.map(|list| list.values),
            repeat: body.repeat,
            enabled: body.enabled,
            deliver: body.deliver,
        };
        Ok(one(
            jobs::update(&self.state.store, &body.id, changes).await?
        ))
    }

    async fn delete_job(
        &self,
        request: Request<pb::DeleteJobRequest>,
    ) -> Result<Response<pb::DeleteJobResponse>, Status> {
        let id = request.into_inner().id;
        job_id(&id)?;
        jobs::delete(&self.state.store, &id).await?;
        Ok(Response::new(pb::DeleteJobResponse { id, deleted: true }))
    }

    async fn pause_job(
        &self,
        request: Request<pb::PauseJobRequest>,
    ) -> Result<Response<pb::JobResponse>, Status> {
        job_id(&request.get_ref().id)?;
        Ok(one(
            jobs::pause(&self.state.store, &request.get_ref().id).await?
        ))
    }

    async fn resume_job(
        &self,
        request: Request<pb::ResumeJobRequest>,
    ) -> Result<Response<pb::JobResponse>, Status> {
        job_id(&request.get_ref().id)?;
        Ok(one(
            jobs::resume(&self.state.store, &request.get_ref().id).await?
        ))
    }

    async fn run_job(
        &self,
        request: Request<pb::RunJobRequest>,
    ) -> Result<Response<pb::RunJobResponse>, Status> {
        job_id(&request.get_ref().id)?;
        let (job, run_id) = jobs::run_now(
            &self.state.store,
            &self.state.runs,
            &self.state.admission,
            &request.get_ref().id,
        )
        .await?;
        Ok(Response::new(pb::RunJobResponse {
            job: Some(job_proto(job)),
            run_id,
        }))
    }
}

/// The `{id}` of a job RPC (see `grpc::validate`).
fn job_id(id: &str) -> Result<(), crate::error::Error> {
    crate::grpc::validate::object_id(id, "id", "job_not_found", "job")
}

/// Job text that will be stored must not hold NUL (`invalid_request` naming the field).
fn stored_texts(
    name: Option<&String>,
    prompt: Option<&String>,
    deliver: Option<&String>,
    skills: &[String],
) -> Result<(), crate::error::Error> {
    use crate::grpc::validate::stored_text;
    for (value, param) in [(name, "name"), (prompt, "prompt"), (deliver, "deliver")] {
        if let Some(value) = value {
            stored_text(value, "invalid_request", param)?;
        }
    }
    for (index, skill) in skills.iter().enumerate() {
        stored_text(skill, "invalid_request", &format!("skills[{index}]"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_run_at_is_shown_only_while_scheduled() {
        let job = JobRecord {
            id: "0123456789ab".into(),
            name: "n".into(),
            prompt: "p".into(),
            skills: vec![],
            schedule_kind: "interval".into(),
            schedule_display: "every 1h".into(),
            repeat_times: None,
            repeat_completed: 2,
            enabled: false,
            state: "paused".into(),
            deliver: None,
            created_at: 1.0,
            next_run_at: Some(5.0),
            last_run_at: None,
            last_status: None,
            last_error: None,
            last_run_id: None,
        };
        let paused = job_proto(job.clone());
        assert_eq!(paused.next_run_at, None);
        assert_eq!(
            paused.repeat,
            Some(pb::Repeat {
                times: None,
                completed: 2
            })
        );
        let scheduled = job_proto(JobRecord {
            state: "scheduled".into(),
            ..job
        });
        assert_eq!(scheduled.next_run_at, Some(5.0));
    }
}
