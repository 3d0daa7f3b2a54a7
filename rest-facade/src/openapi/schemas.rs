//! Response (and PATCH-body) schemas of `/openapi.json`. The facade renders most answers with
//! `serde_json::json!` from proto messages, so these types exist only to describe those shapes
//! (API.md §3–§8); the request bodies are described by the real serde types in `routes/`.
//! Nothing here is ever serialized or parsed at run time.

#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;

/// The error envelope every 4xx/5xx carries (API.md §2): all four keys are always present.
#[derive(ToSchema)]
pub(crate) struct ErrorEnvelope {
    error: ErrorBody,
}

/// `{"message","type","param","code"}`; `param` and `code` may be null.
#[derive(ToSchema)]
pub(crate) struct ErrorBody {
    /// Human-readable; never internals.
    message: String,
    /// `invalid_request_error`, `rate_limit_error` or `server_error`.
    #[schema(rename = "type")]
    kind: String,
    /// The offending field, when one is to blame.
    #[schema(required = true)]
    param: Option<String>,
    /// Machine-readable code (`invalid_json`, `session_not_found`, …).
    #[schema(required = true)]
    code: Option<String>,
}

/// `GET /health`.
#[derive(ToSchema)]
pub(crate) struct Health {
    status: String,
    platform: String,
    version: String,
}

/// `GET /health/detailed`: always 200; `status` is `ok` or `degraded`.
#[derive(ToSchema)]
pub(crate) struct HealthDetailed {
    status: String,
    /// `{status, checks: {database, upstream, disk, config}}`, each check `{status, detail?}`.
    #[schema(value_type = Object)]
    readiness: Value,
    platform: String,
    version: String,
    gateway_state: String,
    active_agents: i64,
    active_runs: i64,
    uptime_seconds: f64,
    pid: i64,
}

/// `{"object":"list","data":[…]}` (models, skills, input items).
#[derive(ToSchema)]
pub(crate) struct ObjectList {
    object: String,
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
}

/// `GET /v1/toolsets`.
#[derive(ToSchema)]
pub(crate) struct ToolsetList {
    object: String,
    platform: String,
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
}

/// `GET /v1/capabilities`: platform, model, auth, runtime, features, endpoints.
#[derive(ToSchema)]
pub(crate) struct Capabilities {
    object: String,
    platform: String,
    model: String,
    #[schema(value_type = Object)]
    auth: Value,
    #[schema(value_type = Object)]
    runtime: Value,
    #[schema(value_type = Object)]
    features: Value,
    /// `name → {method, path}` for every route.
    #[schema(value_type = Object)]
    endpoints: Value,
}

/// A `chat.completion` object (non-stream answer).
#[derive(ToSchema)]
pub(crate) struct ChatCompletion {
    id: String,
    object: String,
    created: i64,
    model: String,
    #[schema(value_type = Vec<Object>)]
    choices: Vec<Value>,
    #[schema(value_type = Object)]
    usage: Value,
}

/// A Responses API `response` object.
#[derive(ToSchema)]
pub(crate) struct ResponseObject {
    id: String,
    object: String,
    /// completed, failed, in_progress, incomplete, cancelled or queued.
    status: String,
    created_at: f64,
    model: String,
    instructions: Option<String>,
    previous_response_id: Option<String>,
    #[schema(value_type = Object)]
    metadata: Value,
    #[schema(value_type = Vec<Object>)]
    output: Vec<Value>,
    #[schema(value_type = Option<Object>)]
    usage: Option<Value>,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
}

/// `{"id","object","deleted"}` (responses).
#[derive(ToSchema)]
pub(crate) struct ResponseDeleted {
    id: String,
    object: String,
    deleted: bool,
}

/// `{"object":"hermes.session","session":{…}}`.
#[derive(ToSchema)]
pub(crate) struct SessionEnvelope {
    object: String,
    session: SessionInfo,
}

/// One stored session.
#[derive(ToSchema)]
pub(crate) struct SessionInfo {
    id: String,
    source: String,
    title: Option<String>,
    model: Option<String>,
    started_at: f64,
    ended_at: Option<f64>,
    end_reason: Option<String>,
    message_count: i64,
    tool_call_count: i64,
    input_tokens: i64,
    output_tokens: i64,
    parent_session_id: Option<String>,
    has_system_prompt: bool,
    last_active: Option<f64>,
    preview: Option<String>,
}

/// `GET /api/sessions`.
#[derive(ToSchema)]
pub(crate) struct SessionList {
    object: String,
    data: Vec<SessionInfo>,
    limit: i64,
    offset: i64,
    has_more: bool,
}

/// `DELETE /api/sessions/{id}`.
#[derive(ToSchema)]
pub(crate) struct SessionDeleted {
    object: String,
    id: String,
    deleted: bool,
}

/// `GET /api/sessions/{id}/messages`.
#[derive(ToSchema)]
pub(crate) struct MessageList {
    object: String,
    session_id: String,
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
    has_more: bool,
}

/// `POST /api/sessions/{id}/chat`.
#[derive(ToSchema)]
pub(crate) struct SessionChat {
    object: String,
    session_id: String,
    #[schema(value_type = Object)]
    message: Value,
    #[schema(value_type = Object)]
    usage: Value,
}

/// `PATCH /api/sessions/{id}`: only these keys; any other → 400 `unsupported_session_field`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SessionPatch {
    /// Null clears it.
    title: Option<String>,
    end_reason: Option<String>,
}

/// `{"run_id","status"}` (start: 202 `queued`; stop: `stopping`).
#[derive(ToSchema)]
pub(crate) struct RunStatus {
    run_id: String,
    status: String,
}

/// `GET /v1/runs/{id}`: the `hermes.run` object.
#[derive(ToSchema)]
pub(crate) struct RunObject {
    object: String,
    run_id: String,
    status: String,
    created_at: f64,
    updated_at: f64,
    session_id: Option<String>,
    model: String,
    last_event: Option<String>,
    output: Option<String>,
    #[schema(value_type = Option<Object>)]
    usage: Option<Value>,
    error: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pending_approvals: Vec<Value>,
}

/// `POST /v1/runs/{id}/approval`.
#[derive(ToSchema)]
pub(crate) struct ApprovalResponse {
    object: String,
    run_id: String,
    choice: String,
    resolved: i32,
}

/// `{"jobs":[…]}`.
#[derive(ToSchema)]
pub(crate) struct JobList {
    #[schema(value_type = Vec<Object>)]
    jobs: Vec<Value>,
}

/// `{"job":{…}}` (create, get, patch, pause, resume).
#[derive(ToSchema)]
pub(crate) struct JobEnvelope {
    #[schema(value_type = Object)]
    job: Value,
}

/// `POST /api/jobs/{id}/run`: the job and the run it started.
#[derive(ToSchema)]
pub(crate) struct JobFired {
    #[schema(value_type = Object)]
    job: Value,
    run_id: String,
}

/// `{"id","deleted":true}` (jobs).
#[derive(ToSchema)]
pub(crate) struct JobDeleted {
    id: String,
    deleted: bool,
}

/// `PATCH /api/jobs/{id}`: only these keys; any other → 400 `unsupported_job_field`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobPatch {
    name: Option<String>,
    schedule: Option<String>,
    prompt: Option<String>,
    skills: Option<Vec<String>>,
    repeat: Option<i64>,
    enabled: Option<bool>,
    deliver: Option<String>,
}
