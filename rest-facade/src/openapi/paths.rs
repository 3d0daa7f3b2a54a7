//! One `#[utoipa::path]` per REST route: method, path, parameters, request body and main answers.
//! The functions are never called; they only carry the attributes (utoipa describes functions).
//! `operation_id` is the route's name in `routes::all()` (and `/v1/capabilities`); a unit test in
//! `openapi/mod.rs` checks that this list and the served route table are the same set.
//! Error answers, the bearer requirement and `additionalProperties` are added once, by
//! `super::Conventions`, not here.

#![allow(dead_code)]

use super::schemas::*;
use crate::routes::chat::convert::ChatBody;
use crate::routes::jobs::CreateBody as JobCreate;
use crate::routes::responses::CreateBody as ResponseCreate;
use crate::routes::runs::{ApprovalBody, CreateBody as RunCreate};
use crate::routes::sessions::request::{
    ChatBody as SessionChatBody, CreateBody as SessionCreate, ForkBody,
};

#[utoipa::path(get, path = "/health", operation_id = "health", tag = "discovery",
    responses((status = 200, description = "Liveness (no auth)", body = Health)))]
fn health() {}

#[utoipa::path(get, path = "/v1/health", operation_id = "health_v1", tag = "discovery",
    responses((status = 200, description = "Liveness (no auth)", body = Health)))]
fn health_v1() {}

#[utoipa::path(get, path = "/health/detailed", operation_id = "health_detailed", tag = "discovery",
    responses((status = 200, description = "Readiness checks; always 200", body = HealthDetailed)))]
fn health_detailed() {}

#[utoipa::path(get, path = "/v1/models", operation_id = "models", tag = "discovery",
    responses((status = 200, description = "The advertised model, then each alias", body = ObjectList)))]
fn models() {}

#[utoipa::path(get, path = "/v1/capabilities", operation_id = "capabilities", tag = "discovery",
    responses((status = 200, description = "Features and every endpoint", body = Capabilities)))]
fn capabilities() {}

#[utoipa::path(get, path = "/v1/skills", operation_id = "skills", tag = "discovery",
    responses((status = 200, description = "Installed skills", body = ObjectList)))]
fn skills() {}

#[utoipa::path(get, path = "/v1/toolsets", operation_id = "toolsets", tag = "discovery",
    responses((status = 200, description = "Toolsets and their tools", body = ToolsetList)))]
fn toolsets() {}

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "discovery",
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain")))]
fn metrics() {}

#[utoipa::path(post, path = "/v1/chat/completions", operation_id = "chat_completions", tag = "chat",
    params(SessionHeaders, IdempotencyHeader),
    request_body = ChatBody,
    responses((status = 200, description = "`chat.completion`, or with `stream: true` \
        `chat.completion.chunk` frames, `hermes.tool.progress` events and `data: [DONE]`",
        content((ChatCompletion = "application/json"), (String = "text/event-stream")))))]
fn chat_completions() {}

#[utoipa::path(post, path = "/v1/responses", operation_id = "responses_create", tag = "responses",
    params(SessionHeaders, IdempotencyHeader),
    request_body = ResponseCreate,
    responses((status = 200, description = "The response object, or with `stream: true` the \
        OpenAI Responses event stream", content((ResponseObject = "application/json"), (String = "text/event-stream")))))]
fn responses_create() {}

#[utoipa::path(get, path = "/v1/responses/{id}", operation_id = "responses_get", tag = "responses",
    params(Id,
        ("stream" = Option<bool>, Query, description = "Replay the stored events, then follow live ones"),
        ("starting_after" = Option<i64>, Query, description = "Replay after this sequence number")),
    responses((status = 200, description = "The stored response, or its event stream",
        content((ResponseObject = "application/json"), (String = "text/event-stream")))))]
fn responses_get() {}

#[utoipa::path(delete, path = "/v1/responses/{id}", operation_id = "responses_delete", tag = "responses",
    params(Id), responses((status = 200, description = "Deleted", body = ResponseDeleted)))]
fn responses_delete() {}

#[utoipa::path(post, path = "/v1/responses/{id}/cancel", operation_id = "responses_cancel",
    tag = "responses", params(Id),
    responses((status = 200, description = "The response after cancellation", body = ResponseObject)))]
fn responses_cancel() {}

#[utoipa::path(get, path = "/v1/responses/{id}/input_items", operation_id = "responses_input_items",
    tag = "responses", params(Id),
    responses((status = 200, description = "The response's input items", body = ObjectList)))]
fn responses_input_items() {}

#[utoipa::path(get, path = "/api/sessions", operation_id = "sessions_list", tag = "sessions",
    params(("limit" = Option<i64>, Query, description = "Page size, at most 200"),
        ("offset" = Option<i64>, Query), ("source" = Option<String>, Query),
        ("include_children" = Option<bool>, Query)),
    responses((status = 200, description = "Most recent activity first", body = SessionList)))]
fn sessions_list() {}

#[utoipa::path(post, path = "/api/sessions", operation_id = "sessions_create", tag = "sessions",
    request_body(content = Option<SessionCreate>, description = "May be empty"),
    responses((status = 201, description = "Created", body = SessionEnvelope)))]
fn sessions_create() {}

#[utoipa::path(get, path = "/api/sessions/{id}", operation_id = "sessions_get", tag = "sessions",
    params(Id), responses((status = 200, description = "The session", body = SessionEnvelope)))]
fn sessions_get() {}

#[utoipa::path(patch, path = "/api/sessions/{id}", operation_id = "sessions_update", tag = "sessions",
    params(Id), request_body = SessionPatch,
    responses((status = 200, description = "The updated session", body = SessionEnvelope)))]
fn sessions_update() {}

#[utoipa::path(delete, path = "/api/sessions/{id}", operation_id = "sessions_delete", tag = "sessions",
    params(Id), responses((status = 200, description = "Deleted with its messages", body = SessionDeleted)))]
fn sessions_delete() {}

#[utoipa::path(get, path = "/api/sessions/{id}/messages", operation_id = "sessions_messages",
    tag = "sessions",
    params(Id, ("limit" = Option<i64>, Query), ("after_id" = Option<i64>, Query)),
    responses((status = 200, description = "Stored messages, oldest first", body = MessageList)))]
fn sessions_messages() {}

#[utoipa::path(post, path = "/api/sessions/{id}/fork", operation_id = "sessions_fork", tag = "sessions",
    params(Id), request_body(content = Option<ForkBody>, description = "May be empty"),
    responses((status = 201, description = "The new session", body = SessionEnvelope)))]
fn sessions_fork() {}

#[utoipa::path(post, path = "/api/sessions/{id}/chat", operation_id = "sessions_chat", tag = "sessions",
    params(Id, SessionHeaders), request_body = SessionChatBody,
    responses((status = 200, description = "The assistant's answer", body = SessionChat)))]
fn sessions_chat() {}

#[utoipa::path(post, path = "/api/sessions/{id}/chat/stream", operation_id = "sessions_chat_stream",
    tag = "sessions", params(Id, SessionHeaders), request_body = SessionChatBody,
    responses((status = 200, description = "Named events `run.started` … `done`",
        body = String, content_type = "text/event-stream")))]
fn sessions_chat_stream() {}

#[utoipa::path(post, path = "/v1/runs", operation_id = "runs_create", tag = "runs",
    params(SessionHeaders, IdempotencyHeader), request_body = RunCreate,
    responses((status = 202, description = "Queued", body = RunStatus)))]
fn runs_create() {}

#[utoipa::path(get, path = "/v1/runs/{id}", operation_id = "runs_get", tag = "runs",
    params(Id), responses((status = 200, description = "The run", body = RunObject)))]
fn runs_get() {}

#[utoipa::path(get, path = "/v1/runs/{id}/events", operation_id = "runs_events", tag = "runs",
    params(Id, ("after" = Option<i64>, Query, description = "Resume after this `seq`"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this `seq` (wins)")),
    responses((status = 200, description = "`id: <seq>` + `data: <event>` frames until the run ends",
        body = String, content_type = "text/event-stream")))]
fn runs_events() {}

#[utoipa::path(post, path = "/v1/runs/{id}/approval", operation_id = "runs_approval", tag = "runs",
    params(Id), request_body = ApprovalBody,
    responses((status = 200, description = "How many approvals were resolved", body = ApprovalResponse)))]
fn runs_approval() {}

#[utoipa::path(post, path = "/v1/runs/{id}/stop", operation_id = "runs_stop", tag = "runs",
    params(Id), responses((status = 200, description = "Stopping", body = RunStatus)))]
fn runs_stop() {}

#[utoipa::path(get, path = "/api/jobs", operation_id = "jobs_list", tag = "jobs",
    params(("include_disabled" = Option<bool>, Query)),
    responses((status = 200, description = "Scheduled jobs", body = JobList)))]
fn jobs_list() {}

#[utoipa::path(post, path = "/api/jobs", operation_id = "jobs_create", tag = "jobs",
    request_body = JobCreate, responses((status = 201, description = "Created", body = JobEnvelope)))]
fn jobs_create() {}

#[utoipa::path(get, path = "/api/jobs/{id}", operation_id = "jobs_get", tag = "jobs",
    params(Id), responses((status = 200, description = "The job", body = JobEnvelope)))]
fn jobs_get() {}

#[utoipa::path(patch, path = "/api/jobs/{id}", operation_id = "jobs_update", tag = "jobs",
    params(Id), request_body = JobPatch,
    responses((status = 200, description = "The updated job", body = JobEnvelope)))]
fn jobs_update() {}

#[utoipa::path(delete, path = "/api/jobs/{id}", operation_id = "jobs_delete", tag = "jobs",
    params(Id), responses((status = 200, description = "Deleted", body = JobDeleted)))]
fn jobs_delete() {}

#[utoipa::path(post, path = "/api/jobs/{id}/pause", operation_id = "jobs_pause", tag = "jobs",
    params(Id), responses((status = 200, description = "Paused", body = JobEnvelope)))]
fn jobs_pause() {}

#[utoipa::path(post, path = "/api/jobs/{id}/resume", operation_id = "jobs_resume", tag = "jobs",
    params(Id), responses((status = 200, description = "Resumed", body = JobEnvelope)))]
fn jobs_resume() {}

#[utoipa::path(post, path = "/api/jobs/{id}/run", operation_id = "jobs_run", tag = "jobs",
    params(Id), responses((status = 200, description = "Fired now as a run", body = JobFired)))]
fn jobs_run() {}

#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "discovery",
    responses((status = 200, description = "This document (no auth)", body = Object)))]
fn openapi() {}

/// `{id}` in a path.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
struct Id {
    /// The object's id.
    id: String,
}

/// The session headers of the agent routes (API.md §2).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
struct SessionHeaders {
    /// Continue (or create) this stored session: ≤ 256 chars; no CR, LF, NUL, `..`, `/`, `\`.
    #[param(rename = "X-Hermes-Session-Id")]
    session_id: Option<String>,
    /// Caller identity scoping long-term memory: ≤ 256 chars; no CR, LF, NUL.
    #[param(rename = "X-Hermes-Session-Key")]
    session_key: Option<String>,
}

/// `Idempotency-Key` (non-stream requests): 1–255 visible ASCII characters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
struct IdempotencyHeader {
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}
