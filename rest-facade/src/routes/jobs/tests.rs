//! Tests of the Jobs handlers end to end, over an in-test tonic `JobService` with canned
//! answers (rendering and PATCH parsing are unit-tested in `render`).

use std::sync::{Arc, Mutex};

use caduceus_proto::v1::job_service_server::{JobService, JobServiceServer};
use caduceus_proto::v1::{
    DeleteJobResponse, Job, ListJobsResponse, RunJobResponse, Schedule, UpdateJobRequest,
};
use serde_json::{Value, json};
use tonic::{Request, Status};

use super::*;
use crate::routes::responses::test_support::{call, facade};

#[test]
fn create_body_defaults_missing_required_fields_to_empty() {
    let body: CreateBody = serde_json::from_value(json!({"prompt": "p", "repeat": 2})).unwrap();
    assert_eq!(
        create_request(body),
        CreateJobRequest {
            prompt: "p".into(),
            repeat: Some(2),
            ..CreateJobRequest::default()
        }
    );
}

/// Canned answers; remembers the last list filter, create and update requests.
#[derive(Clone, Default)]
struct Fake {
    include_disabled: Arc<Mutex<Option<bool>>>,
    created: Arc<Mutex<Option<CreateJobRequest>>>,
    updated: Arc<Mutex<Option<UpdateJobRequest>>>,
}

fn job(id: &str, state: &str) -> Job {
    Job {
        id: id.into(),
        name: "n".into(),
        schedule: Some(Schedule {
            kind: "once".into(),
            display: "30m".into(),
        }),
        enabled: state != "paused",
        state: state.into(),
        ..Job::default()
    }
}

fn one(job: Job) -> Result<tonic::Response<JobResponse>, Status> {
    Ok(tonic::Response::new(JobResponse { job: Some(job) }))
}

#[tonic::async_trait]
impl JobService for Fake {
    async fn list_jobs(
        &self,
        request: Request<ListJobsRequest>,
    ) -> Result<tonic::Response<ListJobsResponse>, Status> {
        *self.include_disabled.lock().unwrap() = Some(request.into_inner().include_disabled);
        Ok(tonic::Response::new(ListJobsResponse {
            jobs: vec![job("a", "scheduled")],
        }))
    }

    async fn create_job(
        &self,
        request: Request<CreateJobRequest>,
    ) -> Result<tonic::Response<JobResponse>, Status> {
        let request = request.into_inner();
        *self.created.lock().unwrap() = Some(request.clone());
        if request.schedule.is_empty() {
            return Err(Status::invalid_argument("schedule is required"));
        }
        one(job("new", "scheduled"))
    }

    async fn get_job(
        &self,
        request: Request<GetJobRequest>,
    ) -> Result<tonic::Response<JobResponse>, Status> {
        let id = request.into_inner().id;
        if id == "missing" {
            return Err(Status::not_found("Job not found"));
        }
        one(job(&id, "scheduled"))
    }

    async fn update_job(
        &self,
        request: Request<UpdateJobRequest>,
    ) -> Result<tonic::Response<JobResponse>, Status> {
        let request = request.into_inner();
        *self.updated.lock().unwrap() = Some(request.clone());
        one(job(&request.id, "scheduled"))
    }

    async fn delete_job(
        &self,
        request: Request<DeleteJobRequest>,
    ) -> Result<tonic::Response<DeleteJobResponse>, Status> {
        Ok(tonic::Response::new(DeleteJobResponse {
            id: request.into_inner().id,
            deleted: true,
        }))
    }

    async fn pause_job(
        &self,
        request: Request<PauseJobRequest>,
    ) -> Result<tonic::Response<JobResponse>, Status> {
        one(job(&request.into_inner().id, "paused"))
    }

    async fn resume_job(
        &self,
        request: Request<ResumeJobRequest>,
    ) -> Result<tonic::Response<JobResponse>, Status> {
        one(job(&request.into_inner().id, "scheduled"))
    }

    async fn run_job(
        &self,
        request: Request<RunJobRequest>,
    ) -> Result<tonic::Response<RunJobResponse>, Status> {
        Ok(tonic::Response::new(RunJobResponse {
            job: Some(job(&request.into_inner().id, "scheduled")),
            run_id: "run_9".into(),
        }))
    }
}

fn app(fake: Fake) -> axum::Router {
    facade(tonic::service::Routes::new(JobServiceServer::new(fake)).into_axum_router())
}

#[tokio::test]
async fn list_reads_the_flag() {
    let fake = Fake::default();
    let app = app(fake.clone());
    for (uri, expected) in [
        ("/api/jobs", false),
        ("/api/jobs?include_disabled=", false),
        ("/api/jobs?include_disabled=true", true),
    ] {
        let reply = call(&app, "GET", uri, &[], None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}");
        assert_eq!(reply.json()["jobs"][0]["id"], "a");
        assert_eq!(
            *fake.include_disabled.lock().unwrap(),
            Some(expected),
            "{uri}"
        );
    }
    let reply = call(&app, "GET", "/api/jobs?include_disabled=2", &[], None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "include_disabled");
}

#[tokio::test]
async fn create_answers_201_and_missing_fields_reach_the_service_empty() {
    let fake = Fake::default();
    let app = app(fake.clone());
    let reply = call(
        &app,
        "POST",
        "/api/jobs",
        &[],
        Some(r#"{"name":"n","schedule":"30m","prompt":"p","skills":["s"],"deliver":"local"}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let value = reply.json();
    assert_eq!(value["job"]["id"], "new");
    assert_eq!(
        value["job"]["schedule"],
        json!({"kind": "once", "display": "30m"})
    );
    assert_eq!(value["job"]["last_run_id"], Value::Null);
    let seen = fake.created.lock().unwrap().clone().unwrap();
    assert_eq!(seen.skills, vec!["s".to_owned()]);
    assert_eq!(seen.deliver.as_deref(), Some("local"));

    let reply = call(&app, "POST", "/api/jobs", &[], Some(r#"{"name":"n"}"#)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(fake.created.lock().unwrap().clone().unwrap().schedule, "");

    let reply = call(&app, "POST", "/api/jobs", &[], Some(r#"{"repeat":"x"}"#)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"]["param"], "repeat");
}

#[tokio::test]
async fn patch_checks_keys_and_forwards_fields() {
    let fake = Fake::default();
    let app = app(fake.clone());
    let reply = call(
        &app,
        "PATCH",
        "/api/jobs/j1",
        &[],
        Some(r#"{"enabled":false,"skills":[]}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["job"]["id"], "j1");
    let seen = fake.updated.lock().unwrap().clone().unwrap();
    assert_eq!(seen.enabled, Some(false));
    assert_eq!(seen.skills.map(|s| s.values.len()), Some(0));

    let reply = call(&app, "PATCH", "/api/jobs/j1", &[], Some(r#"{"id":"x"}"#)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json()["error"],
        json!({"message": "Field 'id' cannot be updated; allowed: name, schedule, prompt, skills, repeat, enabled, deliver.",
               "type": "invalid_request_error", "param": "id", "code": "unsupported_job_field"})
    );
}

#[tokio::test]
async fn get_delete_pause_resume_run() {
    let app = app(Fake::default());
    let reply = call(&app, "GET", "/api/jobs/j1", &[], None).await;
    assert_eq!(reply.json()["job"]["id"], "j1");
    let reply = call(&app, "GET", "/api/jobs/missing", &[], None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = call(&app, "DELETE", "/api/jobs/j1", &[], None).await;
    assert_eq!(reply.json(), json!({"id": "j1", "deleted": true}));
    let reply = call(&app, "POST", "/api/jobs/j1/pause", &[], None).await;
    assert_eq!(reply.json()["job"]["state"], "paused");
    let reply = call(&app, "POST", "/api/jobs/j1/resume", &[], None).await;
    assert_eq!(reply.json()["job"]["enabled"], true);
    let reply = call(&app, "POST", "/api/jobs/j1/run", &[], None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let value = reply.json();
    assert_eq!(value["run_id"], "run_9");
    assert_eq!(value["job"]["id"], "j1");
}
