//! In-test `SessionService` with canned answers: `missing` is not found, `broken` fails its chat
//! stream midway, an empty chat message is refused with `missing_message`.

use caduceus_proto::v1::session_service_server::SessionService;
use caduceus_proto::v1::*;
use tonic::{Code, Request as GrpcRequest, Response as GrpcResponse, Status};

use super::fakes::{EventStream, status};

pub(crate) fn session(id: &str) -> Session {
    Session {
        id: id.into(),
        source: "api_server".into(),
        started_at: 1.5,
        last_active: 2.5,
        ..Default::default()
    }
}

fn one(session: Session) -> Result<GrpcResponse<SessionResponse>, Status> {
    Ok(GrpcResponse::new(SessionResponse {
        session: Some(session),
    }))
}

pub(crate) struct FakeSessions;

#[tonic::async_trait]
impl SessionService for FakeSessions {
    async fn list_sessions(
        &self,
        request: GrpcRequest<ListSessionsRequest>,
    ) -> Result<GrpcResponse<ListSessionsResponse>, Status> {
        let request = request.into_inner();
        Ok(GrpcResponse::new(ListSessionsResponse {
            data: vec![session("a")],
            limit: request.limit.unwrap_or(50),
            offset: request.offset.unwrap_or(0),
            has_more: request.include_children,
        }))
    }

    async fn create_session(
        &self,
        request: GrpcRequest<CreateSessionRequest>,
    ) -> Result<GrpcResponse<SessionResponse>, Status> {
        let request = request.into_inner();
        let mut created = session(request.id.as_deref().unwrap_or("api_1_abcdef01"));
        created.title = request.title;
        one(created)
    }

    async fn get_session(
        &self,
        request: GrpcRequest<GetSessionRequest>,
    ) -> Result<GrpcResponse<SessionResponse>, Status> {
        let id = request.into_inner().id;
        if id == "missing" {
            return Err(status(
                Code::NotFound,
                "session_not_found",
                "Session not found",
                None,
            ));
        }
        one(session(&id))
    }

    async fn update_session(
        &self,
        request: GrpcRequest<UpdateSessionRequest>,
    ) -> Result<GrpcResponse<SessionResponse>, Status> {
        let request = request.into_inner();
        let mut updated = session(&request.id);
        updated.title = request.title.filter(|t| !t.is_empty());
        updated.end_reason = request.end_reason;
        one(updated)
    }

    async fn delete_session(
        &self,
        request: GrpcRequest<DeleteSessionRequest>,
    ) -> Result<GrpcResponse<DeleteSessionResponse>, Status> {
        Ok(GrpcResponse::new(DeleteSessionResponse {
            id: request.into_inner().id,
            deleted: true,
        }))
    }

    async fn list_session_messages(
        &self,
        request: GrpcRequest<ListSessionMessagesRequest>,
    ) -> Result<GrpcResponse<ListSessionMessagesResponse>, Status> {
        let request = request.into_inner();
        Ok(GrpcResponse::new(ListSessionMessagesResponse {
            session_id: request.session_id.clone(),
            data: vec![SessionMessage {
                id: request.after_id.unwrap_or(0) + 1,
                session_id: request.session_id,
                role: "user".into(),
                content: Some("hi".into()),
                timestamp: 3.0,
                ..Default::default()
            }],
            has_more: request.limit == Some(1),
        }))
    }

    async fn fork_session(
        &self,
        request: GrpcRequest<ForkSessionRequest>,
    ) -> Result<GrpcResponse<SessionResponse>, Status> {
        let request = request.into_inner();
        let mut forked = session(request.new_id.as_deref().unwrap_or("api_2_00000000"));
        forked.parent_session_id = Some(request.id);
        forked.title = Some(request.title.unwrap_or_else(|| "fork".into()));
        one(forked)
    }

    async fn chat_session(
        &self,
        request: GrpcRequest<ChatSessionRequest>,
    ) -> Result<GrpcResponse<ChatSessionResponse>, Status> {
        let request = request.into_inner();
        if request.message.is_empty() {
            return Err(status(
                Code::InvalidArgument,
                "missing_message",
                "message is required",
                Some("message"),
            ));
        }
        Ok(GrpcResponse::new(ChatSessionResponse {
            session_id: request.session_id,
            message: Some(ChatMessage {
                role: "assistant".into(),
                content: Some(chat_message::Content::Text(format!(
                    "echo {} / {}",
                    request.message,
                    request.system_message.unwrap_or_default()
                ))),
                ..Default::default()
            }),
            usage: Some(Usage {
                input_tokens: 1,
                output_tokens: 2,
                total_tokens: 3,
            }),
        }))
    }

    type StreamSessionChatStream = EventStream<SessionChatEvent>;

    async fn stream_session_chat(
        &self,
        request: GrpcRequest<ChatSessionRequest>,
    ) -> Result<GrpcResponse<Self::StreamSessionChatStream>, Status> {
        use session_chat_event::Payload;
        let request = request.into_inner();
        let sid = request.session_id.clone();
        let event = |seq: i64, name: &str, payload: Payload| SessionChatEvent {
            event: name.into(),
            session_id: sid.clone(),
            run_id: "run-1".into(),
            seq,
            ts: 10.0,
            payload: Some(payload),
        };
        let mut events = vec![
            Ok(event(
                1,
                "run.started",
                Payload::RunStarted(SessionRunStarted {
                    user_message: request.message.clone(),
                }),
            )),
            Ok(event(
                2,
                "assistant.delta",
                Payload::AssistantDelta(SessionAssistantDelta {
                    message_id: "m1".into(),
                    delta: "he".into(),
                }),
            )),
        ];
        if sid == "broken" {
            events.push(Err(status(
                Code::Unavailable,
                "upstream_unavailable",
                "upstream down",
                None,
            )));
        } else {
            events.push(Ok(event(3, "done", Payload::Done(SessionChatDone {}))));
        }
        Ok(GrpcResponse::new(
            Box::pin(futures::stream::iter(events)) as Self::StreamSessionChatStream
        ))
    }
}
