//! `/api/sessions` (API.md §6) onto `SessionService`: list, create, get, update, delete, messages,
//! fork, chat and chat/stream. Parsing and rendering only: id/title rules, pagination bounds and
//! the missing-message check are the service's (`session_exists`, `invalid_title`,
//! `missing_message`…). Request parsing lives in
//! `sessions/request.rs`, JSON rendering in `sessions/render.rs`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, patch, post};
use caduceus_proto::v1::{
    CreateSessionRequest, DeleteSessionRequest, ForkSessionRequest, GetSessionRequest,
    ListSessionMessagesRequest, ListSessionsRequest, SessionChatEvent, session_chat_event,
};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::Route;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::metadata::{grpc_request, json_reply, response_headers};
use crate::sse::{first_item, named_event, now_seconds, sse_response};
use crate::state::AppState;

mod render;
pub(crate) mod request;
#[cfg(test)]
mod tests;

use render::{chat_json, message_list, session_list, session_object, stream_event};
use request::{
    ChatBody, CreateBody, ForkBody, ListQuery, MessagesQuery, chat_request, flag, number,
    update_request,
};

/// The sessions family's route table.
pub(crate) fn routes() -> Vec<Route> {
    const ONE: &str = "/api/sessions/{id}";
    vec![
        Route::new("sessions_list", Method::GET, "/api/sessions", get(list)),
        Route::new(
            "sessions_create",
            Method::POST,
            "/api/sessions",
            post(create),
        ),
        Route::new("sessions_get", Method::GET, ONE, get(get_one)),
        Route::new("sessions_update", Method::PATCH, ONE, patch(update)),
        Route::new("sessions_delete", Method::DELETE, ONE, delete(remove)),
        Route::new(
            "sessions_messages",
            Method::GET,
            "/api/sessions/{id}/messages",
            get(messages),
        ),
        Route::new(
            "sessions_fork",
            Method::POST,
            "/api/sessions/{id}/fork",
            post(fork),
        ),
        Route::new(
            "sessions_chat",
            Method::POST,
            "/api/sessions/{id}/chat",
            post(chat),
        ),
        Route::new(
            "sessions_chat_stream",
            Method::POST,
            "/api/sessions/{id}/chat/stream",
            post(chat_stream),
        ),
    ]
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Response, ApiError> {
    let message = ListSessionsRequest {
        limit: number("limit", query.limit)?,
        offset: number("offset", query.offset)?,
        source: query.source.filter(|source| !source.is_empty()),
        include_children: flag("include_children", query.include_children)?,
    };
    let response = state
        .sessions
        .clone()
        .list_sessions(grpc_request(&headers, message)?)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &session_list(response.get_ref()),
    ))
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Option<JsonBody<CreateBody>>,
) -> Result<Response, ApiError> {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    let message = CreateSessionRequest {
        id: body.id,
        title: body.title,
        model: body.model,
        system_prompt: body.system_prompt,
    };
    let response = state
        .sessions
        .clone()
        .create_session(grpc_request(&headers, message)?)
        .await?;
    let body = session_object(response.get_ref().session.as_ref());
    Ok(json_reply(StatusCode::CREATED, response.metadata(), &body))
}

async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, GetSessionRequest { id })?;
    let response = state.sessions.clone().get_session(request).await?;
    let body = session_object(response.get_ref().session.as_ref());
    Ok(json_reply(StatusCode::OK, response.metadata(), &body))
}

async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, update_request(id, body)?)?;
    let response = state.sessions.clone().update_session(request).await?;
    let body = session_object(response.get_ref().session.as_ref());
    Ok(json_reply(StatusCode::OK, response.metadata(), &body))
}

async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, DeleteSessionRequest { id })?;
    let response = state.sessions.clone().delete_session(request).await?;
    let deleted = response.get_ref();
    let body = json!({"object": "hermes.session.deleted", "id": deleted.id, "deleted": true});
    Ok(json_reply(StatusCode::OK, response.metadata(), &body))
}

async fn messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(session_id): Path<String>,
    QueryParams(query): QueryParams<MessagesQuery>,
) -> Result<Response, ApiError> {
    let message = ListSessionMessagesRequest {
        session_id,
        limit: number("limit", query.limit)?,
        after_id: number("after_id", query.after_id)?,
    };
    let request = grpc_request(&headers, message)?;
    let response = state
        .sessions
        .clone()
        .list_session_messages(request)
        .await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &message_list(response.get_ref()),
    ))
}

async fn fork(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<JsonBody<ForkBody>>,
) -> Result<Response, ApiError> {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    let message = ForkSessionRequest {
        id,
        new_id: body.id,
        title: body.title,
    };
    let response = state
        .sessions
        .clone()
        .fork_session(grpc_request(&headers, message)?)
        .await?;
    let body = session_object(response.get_ref().session.as_ref());
    Ok(json_reply(StatusCode::CREATED, response.metadata(), &body))
}

async fn chat(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<JsonBody<ChatBody>>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, chat_request(id, body))?;
    let response = state.sessions.clone().chat_session(request).await?;
    Ok(json_reply(
        StatusCode::OK,
        response.metadata(),
        &chat_json(response.get_ref()),
    ))
}

async fn chat_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Option<JsonBody<ChatBody>>,
) -> Result<Response, ApiError> {
    let request = grpc_request(&headers, chat_request(id.clone(), body))?;
    let response = state.sessions.clone().stream_session_chat(request).await?;
    let (metadata, events, _) = response.into_parts();
    let (first, events) = first_item(events).await?;
    let relay = Relay {
        pending: first,
        events,
        session_id: id,
        run_id: String::new(),
        seq: 0,
        done: false,
    };
    let frames = futures::stream::unfold(Some(relay), |relay| async move {
        let mut relay = relay?;
        let next = match relay.pending.take() {
            Some(event) => Ok(Some(event)),
            None => relay.events.message().await,
        };
        Some(match next {
            Ok(Some(event)) => (vec![relay.render(&event)], Some(relay)),
            Ok(None) if relay.done => (Vec::new(), None),
            Ok(None) => (vec![relay.synthesized("done", json!({}))], None),
            Err(status) => {
                let error = ApiError::from(status);
                let payload =
                    json!({"message": error.message(), "type": error.kind(), "code": error.code()});
                let frames = vec![
                    relay.synthesized("error", payload),
                    relay.synthesized("done", json!({})),
                ];
                (frames, None)
            }
        })
    })
    .flat_map(futures::stream::iter);
    Ok(sse_response(response_headers(&metadata), frames))
}

/// The session chat stream being relayed; remembers ids and `seq` for synthesized events.
struct Relay {
    pending: Option<SessionChatEvent>,
    events: tonic::Streaming<SessionChatEvent>,
    session_id: String,
    run_id: String,
    seq: i64,
    done: bool,
}

impl Relay {
    fn render(&mut self, event: &SessionChatEvent) -> axum::response::sse::Event {
        if !event.session_id.is_empty() {
            self.session_id.clone_from(&event.session_id);
        }
        if !event.run_id.is_empty() {
            self.run_id.clone_from(&event.run_id);
        }
        self.seq = self.seq.max(event.seq);
        let (name, data) = stream_event(event);
        if name == "done" || matches!(event.payload, Some(session_chat_event::Payload::Done(_))) {
            self.done = true;
        }
        named_event(&name, &data)
    }

    /// An event the facade adds itself (failure after the stream began, or a missing `done`).
    fn synthesized(&mut self, name: &str, payload: Value) -> axum::response::sse::Event {
        self.seq += 1;
        let mut data = match payload {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        data.insert("session_id".into(), json!(self.session_id));
        data.insert("run_id".into(), json!(self.run_id));
        data.insert("seq".into(), json!(self.seq));
        data.insert("ts".into(), json!(now_seconds()));
        named_event(name, &Value::Object(data))
    }
}
