//! `/v1/responses` (API.md §5) onto `caduceus.v1.ResponsesService`: parse the OpenAI body,
//! translate it to the proto request, call, and render the proto answer as OpenAI JSON or SSE.
//! The input grammar lives in `input`, object rendering in `render`, stream events in `events`.
//! No validation of meaning here (required input, `previous_response_id` + `conversation`, …):
//! the service answers those with its own errors.

mod events;
mod input;
mod relay;
mod render;
#[cfg(test)]
pub(crate) mod test_support;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use caduceus_proto::v1::{
    CancelResponseRequest, CreateResponseRequest, DeleteResponseRequest, GetResponseRequest,
    ListResponseInputItemsRequest, StreamStoredResponseRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

use super::Route;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::metadata::{grpc_request, json_reply, response_headers};
use crate::sse::{first_item, sse_response};
use crate::state::AppState;
use events::ResponseRelay;
pub(crate) use input::{FieldError, opt_str, parse_input, parse_items, query_flag};
pub(crate) use relay::{Relay, relay};
pub(crate) use render::{UsageJson, usage_json};

/// The Responses routes.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        Route::new(
            "responses_create",
            Method::POST,
            "/v1/responses",
            post(create),
        ),
        Route::new(
            "responses_get",
            Method::GET,
            "/v1/responses/{id}",
            get(retrieve),
        ),
        Route::new(
            "responses_delete",
            Method::DELETE,
            "/v1/responses/{id}",
            delete(remove),
        ),
        Route::new(
            "responses_cancel",
            Method::POST,
            "/v1/responses/{id}/cancel",
            post(cancel),
        ),
        Route::new(
            "responses_input_items",
            Method::GET,
            "/v1/responses/{id}/input_items",
            get(input_items),
        ),
    ]
}

/// The `POST /v1/responses` body. Fields with one JSON type are typed here (the extractor names a
/// wrong one in `param`); fields with several shapes stay `Value` and go through `input`.
/// Unknown OpenAI fields (`reasoning`, `text`, `user`, …) are ignored. Also the `/openapi.json`
/// request schema (`ToSchema`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CreateResponseBody)]
pub(crate) struct CreateBody {
    #[serde(default)]
    input: Value,
    model: Option<String>,
    instructions: Option<String>,
    previous_response_id: Option<String>,
    #[serde(default)]
    conversation: Value,
    #[serde(default)]
    conversation_history: Value,
    store: Option<bool>,
    truncation: Option<String>,
    metadata: Option<HashMap<String, String>>,
    background: Option<bool>,
    #[serde(default)]
    tools: Value,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    temperature: Option<f64>,
    max_output_tokens: Option<i64>,
    stream: Option<bool>,
}

/// The proto request for a create body (`stream` is the caller's to read first).
pub(crate) fn create_request(body: CreateBody) -> Result<CreateResponseRequest, FieldError> {
    Ok(CreateResponseRequest {
        model: body.model,
        input: parse_input(&body.input, "input")?,
        instructions: body.instructions,
        previous_response_id: body.previous_response_id,
        conversation: input::parse_conversation(&body.conversation)?,
        conversation_history: parse_items(&body.conversation_history, "conversation_history")?,
        store: body.store,
        truncation: body.truncation,
        metadata: body.metadata.unwrap_or_default(),
        background: body.background.unwrap_or(false),
        tools: input::parse_tools(&body.tools)?,
        tool_choice: body
            .tool_choice
            .as_ref()
            .map(caduceus_proto::json::to_proto_value),
        parallel_tool_calls: body.parallel_tool_calls,
        temperature: body.temperature,
        max_output_tokens: body.max_output_tokens,
    })
}

/// `POST /v1/responses`: one turn, as JSON or (with `stream: true`) as the OpenAI event stream.
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, ApiError> {
    let stream = body.stream.unwrap_or(false);
    let request = grpc_request(&headers, create_request(body)?)?;
    let mut client = state.responses.clone();
    if stream {
        let answer = client.stream_response(request).await?;
        let out = response_headers(answer.metadata());
        let (first, rest) = first_item(answer.into_inner()).await?;
        return Ok(sse_response(
            out,
            relay(first, rest, ResponseRelay::default()),
        ));
    }
    let answer = client.create_response(request).await?;
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &render::response_json(answer.get_ref()),
    ))
}

/// `GET /v1/responses/{id}` query: `stream=true` replays then follows the events.
#[derive(Debug, Deserialize)]
struct RetrieveQuery {
    stream: Option<String>,
    starting_after: Option<i64>,
}

/// `GET /v1/responses/{id}`: the stored object, or its event stream.
async fn retrieve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<RetrieveQuery>,
) -> Result<Response, ApiError> {
    let mut client = state.responses.clone();
    if query_flag(query.stream.as_deref(), "stream")? {
        let request = StreamStoredResponseRequest {
            id,
            starting_after: query.starting_after,
        };
        let answer = client
            .stream_stored_response(grpc_request(&headers, request)?)
            .await?;
        let out = response_headers(answer.metadata());
        let (first, rest) = first_item(answer.into_inner()).await?;
        return Ok(sse_response(
            out,
            relay(first, rest, ResponseRelay::default()),
        ));
    }
    let answer = client
        .get_response(grpc_request(&headers, GetResponseRequest { id })?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &render::response_json(answer.get_ref()),
    ))
}

/// `{"id","object":"response","deleted"}`.
#[derive(Debug, Serialize)]
struct DeletedJson<'a> {
    id: &'a str,
    object: &'static str,
    deleted: bool,
}

/// `DELETE /v1/responses/{id}`.
async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .responses
        .clone()
        .delete_response(grpc_request(&headers, DeleteResponseRequest { id })?)
        .await?;
    let body = answer.get_ref();
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &DeletedJson {
            id: &body.id,
            object: "response",
            deleted: body.deleted,
        },
    ))
}

/// `POST /v1/responses/{id}/cancel`: the response object after cancellation.
async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .responses
        .clone()
        .cancel_response(grpc_request(&headers, CancelResponseRequest { id })?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &render::response_json(answer.get_ref()),
    ))
}

/// `GET /v1/responses/{id}/input_items`: one page holding every item.
async fn input_items(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let answer = state
        .responses
        .clone()
        .list_response_input_items(grpc_request(
            &headers,
            ListResponseInputItemsRequest { id },
        )?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        answer.metadata(),
        &render::input_items_json(&answer.get_ref().data),
    ))
}

#[cfg(test)]
mod tests;
