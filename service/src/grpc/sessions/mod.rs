//! `caduceus.v1.SessionService` (API.md §6): stored sessions listed, created, read, updated,
//! deleted, paged through and forked, plus one agent turn inside a session (unary and as named
//! events). Each RPC validates (`convert.rs`), calls one store operation or the agent, and
//! converts back; the turn itself is prepared in `chat.rs` and streamed by `stream.rs`.

mod chat;
mod convert;
mod stream;

use caduceus_proto::v1::session_service_server::SessionService;
use caduceus_proto::v1::{
    ChatSessionRequest, ChatSessionResponse, CreateSessionRequest, DeleteSessionRequest,
    DeleteSessionResponse, ForkSessionRequest, GetSessionRequest, ListSessionMessagesRequest,
    ListSessionMessagesResponse, ListSessionsRequest, ListSessionsResponse, SessionChatEvent,
    SessionResponse, UpdateSessionRequest,
};
use tonic::{Request, Response, Status};

use super::headers::{SessionHeaders, echo_session};
use super::streaming::BoxStream;
use super::validate;
use crate::error::Error;
use crate::state::AppState;
use crate::store::NewSession;
use convert::{
    SOURCE_API_SERVER, checked_title, list_limit, list_offset, message_cursor, message_limit,
    message_to_proto, new_session_id, session_not_found, session_to_proto, store_error,
};

/// The session RPCs over the shared state.
#[derive(Clone)]
pub struct Sessions {
    state: AppState,
}

impl Sessions {
    /// A session service over `state`.
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    async fn list(&self, request: ListSessionsRequest) -> Result<ListSessionsResponse, Error> {
        let limit = list_limit(request.limit)?;
        let offset = list_offset(request.offset)?;
        let source = request.source.filter(|source| !source.is_empty());
        let (sessions, has_more) = self
            .state
            .store
            .list_sessions(
                i64::from(limit),
                i64::from(offset),
                source.as_deref(),
                request.include_children,
            )
            .await?;
        Ok(ListSessionsResponse {
            data: sessions.into_iter().map(session_to_proto).collect(),
            limit,
            offset,
            has_more,
        })
    }

    async fn create(
        &self,
        request: CreateSessionRequest,
        session_key: Option<String>,
    ) -> Result<SessionResponse, Error> {
        let id = new_session_id(request.id, "id")?;
        let title = checked_title(request.title)?;
        for (value, param) in [
            (&request.model, "model"),
            (&request.system_prompt, "system_prompt"),
        ] {
            if let Some(value) = value {
                validate::stored_text(value, "invalid_request", param)?;
            }
        }
        let store = &self.state.store;
        // Checked up front for a clear answer; the unique indexes still settle races.
        if store.get_session(&id).await?.is_some() {
            return Err(Error::conflict(
                "session_exists",
                format!("Session '{id}' already exists"),
            ));
        }
        if let Some(title) = &title
            && store.title_in_use(title, None).await?
        {
            return Err(title_taken());
        }
        let record = store
            .create_session(NewSession {
                id,
                source: SOURCE_API_SERVER.to_owned(),
                title,
                model: request.model.filter(|model| !model.trim().is_empty()),
                system_prompt: request
                    .system_prompt
                    .filter(|prompt| !prompt.trim().is_empty()),
                session_key,
                parent_session_id: None,
            })
            .await?;
        Ok(wrap(record))
    }

    async fn get(&self, id: &str) -> Result<SessionResponse, Error> {
        validate::session_id(id, "id")?;
        let record = self.state.store.get_session(id).await?;
        record.map(wrap).ok_or_else(|| session_not_found(id))
    }

    async fn update(&self, request: UpdateSessionRequest) -> Result<SessionResponse, Error> {
        let id = request.id;
        validate::session_id(&id, "id")?;
        if let Some(reason) = &request.end_reason {
            validate::stored_text(reason, "invalid_request", "end_reason")?;
        }
        let title = match request.title {
            None => None,
            Some(title) => Some(checked_title(Some(title))?),
        };
        if let Some(Some(title)) = &title
            && self.state.store.title_in_use(title, Some(&id)).await?
        {
            return Err(title_taken());
        }
        let end_reason = request
            .end_reason
            .map(|reason| Some(reason.trim().to_owned()).filter(|reason| !reason.is_empty()));
        let record = self
            .state
            .store
            .update_session(&id, title, end_reason)
            .await?;
        record.map(wrap).ok_or_else(|| session_not_found(&id))
    }

    async fn delete(&self, id: String) -> Result<DeleteSessionResponse, Error> {
        validate::session_id(&id, "id")?;
        if !self.state.store.delete_session(&id).await? {
            return Err(session_not_found(&id));
        }
        Ok(DeleteSessionResponse { id, deleted: true })
    }

    async fn messages(
        &self,
        request: ListSessionMessagesRequest,
    ) -> Result<ListSessionMessagesResponse, Error> {
        let limit = message_limit(request.limit)?;
        let after_id = message_cursor(request.after_id)?;
        let id = request.session_id;
        validate::session_id(&id, "session_id")?;
        let store = &self.state.store;
        if store.get_session(&id).await?.is_none() {
            return Err(session_not_found(&id));
        }
        let (records, has_more) = store.list_messages(&id, limit, after_id).await?;
        Ok(ListSessionMessagesResponse {
            session_id: id,
            data: records.into_iter().map(message_to_proto).collect(),
            has_more,
        })
    }

    async fn fork(&self, request: ForkSessionRequest) -> Result<SessionResponse, Error> {
        validate::session_id(&request.id, "id")?;
        let new_id = new_session_id(request.new_id, "id")?;
        let title = checked_title(request.title)?;
        let store = &self.state.store;
        if store.get_session(&request.id).await?.is_none() {
            return Err(session_not_found(&request.id));
        }
        if store.get_session(&new_id).await?.is_some() {
            return Err(Error::conflict(
                "session_exists",
                format!("Session '{new_id}' already exists"),
            ));
        }
        if let Some(title) = &title
            && store.title_in_use(title, None).await?
        {
            return Err(title_taken());
        }
        let record = store
            .fork_session(&request.id, &new_id, title)
            .await
            .map_err(|error| store_error(&request.id, error))?;
        Ok(wrap(record))
    }
}

fn wrap(record: crate::store::SessionRecord) -> SessionResponse {
    SessionResponse {
        session: Some(session_to_proto(record)),
    }
}

fn title_taken() -> Error {
    Error::invalid_param(
        "invalid_title",
        "This title is already used by another session",
        "title",
    )
}

#[tonic::async_trait]
impl SessionService for Sessions {
    type StreamSessionChatStream = BoxStream<SessionChatEvent>;

    async fn list_sessions(
        &self,
        request: Request<ListSessionsRequest>,
    ) -> Result<Response<ListSessionsResponse>, Status> {
        Ok(Response::new(self.list(request.into_inner()).await?))
    }

    async fn create_session(
        &self,
        request: Request<CreateSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        let headers = SessionHeaders::from_metadata(request.metadata())?;
        let created = self
            .create(request.into_inner(), headers.session_key)
            .await?;
        Ok(Response::new(created))
    }

    async fn get_session(
        &self,
        request: Request<GetSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        Ok(Response::new(self.get(&request.into_inner().id).await?))
    }

    async fn update_session(
        &self,
        request: Request<UpdateSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        Ok(Response::new(self.update(request.into_inner()).await?))
    }

    async fn delete_session(
        &self,
        request: Request<DeleteSessionRequest>,
    ) -> Result<Response<DeleteSessionResponse>, Status> {
        Ok(Response::new(self.delete(request.into_inner().id).await?))
    }

    async fn list_session_messages(
        &self,
        request: Request<ListSessionMessagesRequest>,
    ) -> Result<Response<ListSessionMessagesResponse>, Status> {
        Ok(Response::new(self.messages(request.into_inner()).await?))
    }

    async fn fork_session(
        &self,
        request: Request<ForkSessionRequest>,
    ) -> Result<Response<SessionResponse>, Status> {
        Ok(Response::new(self.fork(request.into_inner()).await?))
    }

    async fn chat_session(
        &self,
        request: Request<ChatSessionRequest>,
    ) -> Result<Response<ChatSessionResponse>, Status> {
        let prepared = chat::prepare(&self.state, request).await?;
        let session_key = prepared.session_key.clone();
        let answer = chat::complete(&self.state, prepared).await?;
        let session_id = answer.session_id.clone();
        let mut response = Response::new(answer);
        echo_session(response.metadata_mut(), &session_id, session_key.as_deref());
        Ok(response)
    }

    async fn stream_session_chat(
        &self,
        request: Request<ChatSessionRequest>,
    ) -> Result<Response<Self::StreamSessionChatStream>, Status> {
        let prepared = chat::prepare(&self.state, request).await?;
        let session_id = prepared.request.session_id.clone();
        let session_key = prepared.session_key.clone();
        let events = stream::start(&self.state, prepared);
        let mut response = Response::new(events);
        echo_session(response.metadata_mut(), &session_id, session_key.as_deref());
        Ok(response)
    }
}
