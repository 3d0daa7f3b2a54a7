//! `/v1/runs` (API.md §7) onto `caduceus.v1.RunService`: start a run (202), read its status,
//! follow its durable event stream (SSE, resumable with `Last-Event-ID` / `?after=`), answer its
//! approvals, stop it. Rendering lives in `render`; run semantics (states, approval choices,
//! "run not active") are the service's.

mod render;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use caduceus_proto::v1::{
    CreateRunRequest, GetRunRequest, RespondApprovalRequest, StopRunRequest, StreamRunEventsRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Route;
use super::responses::{FieldError, parse_input, parse_items, relay};
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::metadata::{grpc_request, json_reply, response_headers};
use crate::sse::sse_response;
use crate::state::AppState;
use render::RunRelay;

/// The Runs routes.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new("runs_create", Method::POST, "/v1/runs", post(create)),
        Route::new("runs_get", Method::GET, "/v1/runs/{id}", get(retrieve)),
        Route::new(
            "runs_events",
            Method::GET,
            "/v1/runs/{id}/events",
            get(events),
        ),
        Route::new(
            "runs_approval",
            Method::POST,
            "/v1/runs/{id}/approval",
            post(approval),
        ),
        Route::new("runs_stop", Method::POST, "/v1/runs/{id}/stop", post(stop)),
    ]
}

/// The `POST /v1/runs` body; `input` and `conversation_history` use the Responses item grammar.
/// Also the `/openapi.json` request schema (`ToSchema`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CreateRunBody)]
pub(crate) struct CreateBody {
    #[serde(default)]
    input: Value,
    instructions: Option<String>,
    session_id: Option<String>,
    #[serde(default)]
    conversation_history: Value,
    previous_response_id: Option<String>,
    model: Option<String>,
}

/// The proto request for a create body.
pub(crate) fn create_request(body: CreateBody) -> Result<CreateRunRequest, FieldError> {
    Ok(CreateRunRequest {
        input: parse_input(&body.input, "input")?,
        instructions: body.instructions,
        session_id: body.session_id,
        conversation_history: parse_items(&body.conversation_history, "conversation_history")?,
        previous_response_id: body.previous_response_id,
        model: body.model,
    })
}

/// `{"run_id","status"}` (create and stop).
#[derive(Debug, Serialize)]
struct RunStatusJson<'a> {
    run_id: &'a str,
    status: &'a str,
}

/// `POST /v1/runs`: 202 with the queued run's id (plus `Idempotency-Replayed` on a replay).
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, create_request(body)?)?;
    let answer = state.runs.clone().create_run(request).await?;
    let run = answer.get_ref();
    Ok(json_reply(
        StatusCode::ACCEPTED,
        answer.metadata(),
        &RunStatusJson {
            run_id: &run.run_id,
            status: &run.status,
        },
    ))
}

/// `GET /v1/runs/{id}`: the `hermes.run` object.
async fn retrieve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .runs
        .clone()
        .get_run(grpc_request(&headers, GetRunRequest { run_id })?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &render::run_json(answer.get_ref()),
    ))
}

/// `GET /v1/runs/{id}/events` query.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    after: Option<String>,
}

/// Where a subscriber resumes: `Last-Event-ID` (what a reconnecting `EventSource` sends) wins
/// over `?after=`; neither means from the first event. A non-numeric value is a 400 naming it.
pub(crate) fn resume_after(
    headers: &HeaderMap,
    query_after: Option<&str>,
) -> Result<Option<i64>, FieldError> {
    let parse = |text: &str, param: &str| {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>()
            .map(Some)
            .map_err(|_| FieldError::wrong_type(param, "an event sequence number"))
    };
    if let Some(value) = headers.get("last-event-id") {
        let text = value
            .to_str()
            .map_err(|_| FieldError::wrong_type("Last-Event-ID", "an event sequence number"))?;
        if let Some(after) = parse(text, "Last-Event-ID")? {
            return Ok(Some(after));
        }
    }
    query_after.map_or(Ok(None), |text| parse(text, "after"))
}

/// `GET /v1/runs/{id}/events`: stored events after the resume point, then live ones, as unnamed
/// SSE frames; `: stream closed` once the service ends the stream. A run outlives its watchers:
/// a disconnect only drops this subscription. Headers go out after the first event or
/// [`FIRST_EVENT_WAIT`], whichever comes first.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Response, ApiError> {
    let request = StreamRunEventsRequest {
        run_id: run_id.clone(),
        after: resume_after(&headers, query.after.as_deref())?,
    };
    let answer = state
        .runs
        .clone()
        .stream_run_events(grpc_request(&headers, request)?)
        .await?;
    let out = response_headers(answer.metadata());
    let mut stream = answer.into_inner();
    // A failure before the first event is still a plain HTTP error, but a run with nothing new
    // to say (e.g. waiting for an approval) must not hold back the headers and keep-alives.
    let first = match tokio::time::timeout(FIRST_EVENT_WAIT, stream.message()).await {
        Ok(Ok(first)) => first,
        Ok(Err(status)) => return Err(ApiError::from(status)),
        Err(_) => None,
    };
    Ok(sse_response(out, relay(first, stream, RunRelay { run_id })))
}

/// How long the events route waits for a first event before it starts the SSE response anyway.
const FIRST_EVENT_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// The `POST /v1/runs/{id}/approval` body. A missing `choice` travels as empty so the service
/// answers its own `invalid_approval_choice`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ApprovalBody {
    choice: Option<String>,
    approval_id: Option<String>,
    all: Option<bool>,
}

/// `hermes.run.approval_response`.
#[derive(Debug, Serialize)]
struct ApprovalJson<'a> {
    object: &'static str,
    run_id: &'a str,
    choice: &'a str,
    resolved: i32,
}

/// `POST /v1/runs/{id}/approval`: resolves the oldest (or the named, or every) pending approval.
async fn approval(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
    body: Option<JsonBody<ApprovalBody>>,
) -> Result<Response, ApiError> {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    let request = RespondApprovalRequest {
        run_id,
        choice: body.choice.unwrap_or_default(),
        approval_id: body.approval_id,
        all: body.all.unwrap_or(false),
    };
    let answer = state
        .runs
        .clone()
        .respond_approval(grpc_request(&headers, request)?)
        .await?;
    let resolved = answer.get_ref();
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &ApprovalJson {
            object: "hermes.run.approval_response",
            run_id: &resolved.run_id,
            choice: &resolved.choice,
            resolved: resolved.resolved,
        },
    ))
}

/// `POST /v1/runs/{id}/stop`: `{"run_id","status":"stopping"}`.
async fn stop(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(run_id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .runs
        .clone()
        .stop_run(grpc_request(&headers, StopRunRequest { run_id })?)
        .await?;
    let stopped = answer.get_ref();
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &RunStatusJson {
            run_id: &stopped.run_id,
            status: &stopped.status,
        },
    ))
}

#[cfg(test)]
mod tests;
