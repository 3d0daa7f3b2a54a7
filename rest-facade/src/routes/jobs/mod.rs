//! `/api/jobs` (API.md §8) onto `caduceus.v1.JobService`: list, create (201), read, patch,
//! delete, pause, resume and fire-now of scheduled agent prompts. Job rendering and the PATCH key
//! check live in `render`; schedules, states and required fields are the service's to judge
//! (missing required fields travel as empty strings and come back as its 400s).

pub(crate) mod render;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use caduceus_proto::v1::{
    CreateJobRequest, DeleteJobRequest, GetJobRequest, JobResponse, ListJobsRequest,
    PauseJobRequest, ResumeJobRequest, RunJobRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Route;
use super::responses::query_flag;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::metadata::{grpc_request, json_reply};
use crate::state::AppState;
use render::{JobJson, job_json};

/// The Jobs routes.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new("jobs_list", Method::GET, "/api/jobs", get(list)),
        Route::new("jobs_create", Method::POST, "/api/jobs", post(create)),
        Route::new("jobs_get", Method::GET, "/api/jobs/{id}", get(retrieve)),
        Route::new(
            "jobs_update",
            Method::PATCH,
            "/api/jobs/{id}",
            patch(update),
        ),
        Route::new(
            "jobs_delete",
            Method::DELETE,
            "/api/jobs/{id}",
            delete(remove),
        ),
        Route::new(
            "jobs_pause",
            Method::POST,
            "/api/jobs/{id}/pause",
            post(pause),
        ),
        Route::new(
            "jobs_resume",
            Method::POST,
            "/api/jobs/{id}/resume",
            post(resume),
        ),
        Route::new("jobs_run", Method::POST, "/api/jobs/{id}/run", post(run)),
    ]
}

/// `{"jobs":[…]}`.
#[derive(Debug, Serialize)]
struct JobsJson<'a> {
    jobs: Vec<JobJson<'a>>,
}

/// `{"job":…}`.
#[derive(Debug, Serialize)]
struct OneJobJson<'a> {
    job: Option<JobJson<'a>>,
}

/// `{"job":…,"run_id"}`.
#[derive(Debug, Serialize)]
struct RunJobJson<'a> {
    job: Option<JobJson<'a>>,
    run_id: &'a str,
}

/// `{"id","deleted"}`.
#[derive(Debug, Serialize)]
struct DeletedJson<'a> {
    id: &'a str,
    deleted: bool,
}

/// A `{"job"}` reply with `status`.
fn job_reply(status: StatusCode, answer: &tonic::Response<JobResponse>) -> Response {
    let body = OneJobJson {
        job: answer.get_ref().job.as_ref().map(job_json),
    };
    json_reply(status, answer.metadata(), &body)
}

/// `GET /api/jobs` query.
#[derive(Debug, Deserialize)]
struct ListQuery {
    include_disabled: Option<String>,
}

/// `GET /api/jobs?include_disabled=`.
async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    let request = ListJobsRequest {
        include_disabled: query_flag(query.include_disabled.as_deref(), "include_disabled")?,
    };
    let answer = state
        .jobs
        .clone()
        .list_jobs(grpc_request(&headers, request)?)
        .await?;
    let body = JobsJson {
        jobs: answer.get_ref().jobs.iter().map(job_json).collect(),
    };
    Ok(json_reply(StatusCode::OK, answer.metadata(), &body))
}

/// The `POST /api/jobs` body (also its `/openapi.json` schema).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CreateJobBody)]
pub(crate) struct CreateBody {
    name: Option<String>,
    schedule: Option<String>,
    prompt: Option<String>,
    skills: Option<Vec<String>>,
    repeat: Option<i64>,
    deliver: Option<String>,
}

/// The proto request for a create body; missing required fields are empty for the service to
/// reject.
pub(crate) fn create_request(body: CreateBody) -> CreateJobRequest {
    CreateJobRequest {
        name: body.name.unwrap_or_default(),
        schedule: body.schedule.unwrap_or_default(),
        prompt: body.prompt.unwrap_or_default(),
        skills: body.skills.unwrap_or_default(),
        repeat: body.repeat,
        deliver: body.deliver,
    }
}

/// `POST /api/jobs`: 201 `{"job"}`.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .create_job(grpc_request(&headers, create_request(body))?)
        .await?;
    Ok(job_reply(StatusCode::CREATED, &answer))
}

/// `GET /api/jobs/{id}`.
async fn retrieve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .get_job(grpc_request(&headers, GetJobRequest { id })?)
        .await?;
    Ok(job_reply(StatusCode::OK, &answer))
}

/// `PATCH /api/jobs/{id}`: the updated `{"job"}`.
async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let request = render::update_request(id, &body)?;
    let answer = state
        .jobs
        .clone()
        .update_job(grpc_request(&headers, request)?)
        .await?;
    Ok(job_reply(StatusCode::OK, &answer))
}

/// `DELETE /api/jobs/{id}`: `{"id","deleted":true}`.
async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .delete_job(grpc_request(&headers, DeleteJobRequest { id })?)
        .await?;
    let deleted = answer.get_ref();
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &DeletedJson {
            id: &deleted.id,
            deleted: deleted.deleted,
        },
    ))
}

/// `POST /api/jobs/{id}/pause`.
async fn pause(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .pause_job(grpc_request(&headers, PauseJobRequest { id })?)
        .await?;
    Ok(job_reply(StatusCode::OK, &answer))
}

/// `POST /api/jobs/{id}/resume`.
async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .resume_job(grpc_request(&headers, ResumeJobRequest { id })?)
        .await?;
    Ok(job_reply(StatusCode::OK, &answer))
}

/// `POST /api/jobs/{id}/run`: fires now as a run; `{"job","run_id"}`.
async fn run(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .jobs
        .clone()
        .run_job(grpc_request(&headers, RunJobRequest { id })?)
        .await?;
    let fired = answer.get_ref();
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &RunJobJson {
            job: fired.job.as_ref().map(job_json),
            run_id: &fired.run_id,
        },
    ))
}

#[cfg(test)]
mod tests;
