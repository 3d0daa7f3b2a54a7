//! Tiny in-test gRPC services with canned answers (discovery, chat; sessions are in
//! `fake_sessions.rs`), served in-process through `transport_from_service`, plus a fake key check
//! like the real server's.

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use caduceus_proto::v1::chat_service_server::ChatService;
use caduceus_proto::v1::discovery_service_server::DiscoveryService;
use caduceus_proto::v1::*;
use futures::{Stream, StreamExt};
use tonic::{Code, Request as GrpcRequest, Response as GrpcResponse, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The key the fake server accepts.
pub(crate) const KEY: &str = "Bearer good-key-0123456789";

pub(crate) type EventStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A status carrying an `ErrorInfo` reason (and optional param), like the real service's.
pub(crate) fn status(code: Code, reason: &str, message: &str, param: Option<&str>) -> Status {
    let mut metadata = std::collections::HashMap::new();
    if let Some(param) = param {
        metadata.insert("param".to_owned(), param.to_owned());
    }
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, "caduceus", metadata);
    Status::with_error_details(code, message, details)
}

/// Rejects calls without the right key, except `GetHealth` (as the real server does).
pub(crate) async fn fake_auth(req: Request, next: Next) -> Response {
    let open = req.uri().path() == "/caduceus.v1.DiscoveryService/GetHealth";
    let ok = req.headers().get("authorization").is_some_and(|v| v == KEY);
    if open || ok {
        return next.run(req).await;
    }
    status(
        Code::Unauthenticated,
        "invalid_api_key",
        "Invalid API key",
        None,
    )
    .into_http::<axum::body::Body>()
    .into_response()
}

pub(crate) struct FakeDiscovery;

#[tonic::async_trait]
impl DiscoveryService for FakeDiscovery {
    async fn get_health(
        &self,
        _: GrpcRequest<GetHealthRequest>,
    ) -> Result<GrpcResponse<GetHealthResponse>, Status> {
        Ok(GrpcResponse::new(GetHealthResponse {
            status: "ok".into(),
            platform: "hermes-agent".into(),
            version: "0.1.0".into(),
        }))
    }

    async fn get_health_detailed(
        &self,
        _: GrpcRequest<GetHealthDetailedRequest>,
    ) -> Result<GrpcResponse<GetHealthDetailedResponse>, Status> {
        let mut checks = std::collections::HashMap::new();
        let check = |detail: Option<&str>| HealthCheck {
            status: "ok".into(),
            detail: detail.map(Into::into),
        };
        checks.insert("database".to_owned(), check(None));
        checks.insert("upstream".to_owned(), check(Some("not called yet")));
        Ok(GrpcResponse::new(GetHealthDetailedResponse {
            status: "ok".into(),
            readiness: Some(Readiness {
                status: "ok".into(),
                checks,
            }),
            platform: "hermes-agent".into(),
            version: "0.1.0".into(),
            gateway_state: "running".into(),
            active_agents: 1,
            active_runs: 2,
            uptime_seconds: 3.5,
            pid: 42,
        }))
    }

    async fn list_models(
        &self,
        _: GrpcRequest<ListModelsRequest>,
    ) -> Result<GrpcResponse<ListModelsResponse>, Status> {
        let model = |id: &str, parent: Option<&str>| Model {
            id: id.into(),
            created: 1_700_000_000,
            owned_by: "hermes".into(),
            root: "gpt-x".into(),
            parent: parent.map(Into::into),
        };
        Ok(GrpcResponse::new(ListModelsResponse {
            data: vec![
                model("hermes-agent", None),
                model("fast", Some("hermes-agent")),
            ],
        }))
    }

    async fn get_capabilities(
        &self,
        _: GrpcRequest<GetCapabilitiesRequest>,
    ) -> Result<GrpcResponse<GetCapabilitiesResponse>, Status> {
        let mut endpoints = std::collections::HashMap::new();
        endpoints.insert(
            "grpc_only".to_owned(),
            Endpoint {
                method: "GRPC".into(),
                path: "/x".into(),
            },
        );
        Ok(GrpcResponse::new(GetCapabilitiesResponse {
            platform: "hermes-agent".into(),
            model: "hermes-agent".into(),
            auth: Some(AuthCapabilities {
                r#type: "bearer".into(),
                required: true,
            }),
            runtime: Some(RuntimeCapabilities {
                mode: "server_agent".into(),
                tool_execution: "server".into(),
            }),
            features: [("chat_completions".to_owned(), true)]
                .into_iter()
                .collect(),
            session_continuity_header: "X-Hermes-Session-Id".into(),
            session_key_header: "X-Hermes-Session-Key".into(),
            endpoints,
        }))
    }

    async fn list_skills(
        &self,
        _: GrpcRequest<ListSkillsRequest>,
    ) -> Result<GrpcResponse<ListSkillsResponse>, Status> {
        Ok(GrpcResponse::new(ListSkillsResponse {
            data: vec![Skill {
                name: "deploy".into(),
                description: "Ships it".into(),
                category: None,
            }],
        }))
    }

    async fn list_toolsets(
        &self,
        _: GrpcRequest<ListToolsetsRequest>,
    ) -> Result<GrpcResponse<ListToolsetsResponse>, Status> {
        Ok(GrpcResponse::new(ListToolsetsResponse {
            platform: "api_server".into(),
            data: vec![Toolset {
                name: "file".into(),
                label: "Files".into(),
                description: "Read and write files".into(),
                enabled: true,
                configured: true,
                tools: vec!["read_file".into(), "write_file".into()],
            }],
        }))
    }

    async fn get_metrics(
        &self,
        _: GrpcRequest<GetMetricsRequest>,
    ) -> Result<GrpcResponse<GetMetricsResponse>, Status> {
        Ok(GrpcResponse::new(GetMetricsResponse {
            text: "# TYPE core_up gauge\ncore_up 1\n# EOF\n".into(),
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
        }))
    }
}

/// Chat fake: records the last request; the last message's text picks the stream's script
/// (`hang` streams one chunk then waits forever, and flags `dropped` when its stream is dropped).
#[derive(Clone, Default)]
pub(crate) struct FakeChat {
    pub(crate) last: Arc<Mutex<Option<CreateChatCompletionRequest>>>,
    pub(crate) dropped: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag when dropped: proves the server-side stream was released.
struct DropFlag(Arc<std::sync::atomic::AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn last_text(request: &CreateChatCompletionRequest) -> String {
    match request.messages.last().and_then(|m| m.content.clone()) {
        Some(chat_message::Content::Text(text)) => text,
        _ => String::new(),
    }
}

fn chunk(delta: ChatDelta, finish: Option<&str>, usage: Option<ChatUsage>) -> ChatCompletionEvent {
    ChatCompletionEvent {
        event: Some(chat_completion_event::Event::Chunk(ChatCompletionChunk {
            id: "chatcmpl-1".into(),
            created: 7,
            model: "hermes-agent".into(),
            choices: vec![ChunkChoice {
                index: 0,
                delta: Some(delta),
                finish_reason: finish.map(Into::into),
            }],
            usage,
        })),
    }
}

#[tonic::async_trait]
impl ChatService for FakeChat {
    async fn create_chat_completion(
        &self,
        request: GrpcRequest<CreateChatCompletionRequest>,
    ) -> Result<GrpcResponse<CreateChatCompletionResponse>, Status> {
        let session = request
            .metadata()
            .get("x-hermes-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("api-derived")
            .to_owned();
        let body = request.into_inner();
        *self.last.lock().unwrap() = Some(body.clone());
        if last_text(&body) == "boom" {
            return Err(Status::internal("db exploded at /var/lib/secret"));
        }
        let mut response = GrpcResponse::new(CreateChatCompletionResponse {
            id: "chatcmpl-1".into(),
            created: 7,
            model: body.model.unwrap_or_else(|| "hermes-agent".into()),
            choices: vec![ChatChoice {
                index: 0,
                message: Some(ChatMessage {
                    role: "assistant".into(),
                    content: Some(chat_message::Content::Text("hello".into())),
                    ..Default::default()
                }),
                finish_reason: "stop".into(),
            }],
            usage: Some(ChatUsage {
                prompt_tokens: 3,
                completion_tokens: 2,
                total_tokens: 5,
            }),
            session_id: session.clone(),
        });
        response
            .metadata_mut()
            .insert("x-hermes-session-id", session.parse().unwrap());
        Ok(response)
    }

    type StreamChatCompletionStream = EventStream<ChatCompletionEvent>;

    async fn stream_chat_completion(
        &self,
        request: GrpcRequest<CreateChatCompletionRequest>,
    ) -> Result<GrpcResponse<Self::StreamChatCompletionStream>, Status> {
        let body = request.into_inner();
        let role = ChatDelta {
            role: Some("assistant".into()),
            ..Default::default()
        };
        let text = |t: &str| ChatDelta {
            content: Some(t.into()),
            ..Default::default()
        };
        let usage = ChatUsage {
            prompt_tokens: 3,
            completion_tokens: 2,
            total_tokens: 5,
        };
        if last_text(&body) == "hang" {
            let flag = DropFlag(self.dropped.clone());
            let stream = futures::stream::iter(vec![Ok(chunk(role, None, None))])
                .chain(futures::stream::pending())
                .map(move |item| {
                    let _keep = &flag;
                    item
                });
            return Ok(GrpcResponse::new(Box::pin(stream)));
        }
        let events: Vec<Result<ChatCompletionEvent, Status>> = match last_text(&body).as_str() {
            "fail-first" => {
                return Err(status(
                    Code::InvalidArgument,
                    "no_user_message",
                    "no user message",
                    Some("messages"),
                ));
            }
            "fail-mid" => vec![
                Ok(chunk(role, None, None)),
                Err(status(
                    Code::Unavailable,
                    "upstream_unavailable",
                    "upstream down",
                    None,
                )),
            ],
            _ => vec![
                Ok(chunk(role, None, None)),
                Ok(chunk(text("hi"), None, None)),
                Ok(ChatCompletionEvent {
                    event: Some(chat_completion_event::Event::ToolProgress(ToolProgress {
                        tool: "terminal".into(),
                        emoji: "💻".into(),
                        label: "ls".into(),
                        tool_call_id: "call_1".into(),
                        status: "running".into(),
                    })),
                }),
                Ok(chunk(ChatDelta::default(), Some("stop"), Some(usage))),
                Ok(ChatCompletionEvent {
                    event: Some(chat_completion_event::Event::Chunk(ChatCompletionChunk {
                        id: "chatcmpl-1".into(),
                        created: 7,
                        model: "hermes-agent".into(),
                        choices: vec![],
                        usage: Some(usage),
                    })),
                }),
            ],
        };
        let mut response = GrpcResponse::new(
            Box::pin(futures::stream::iter(events)) as Self::StreamChatCompletionStream
        );
        response
            .metadata_mut()
            .insert("x-hermes-session-id", "api-stream".parse().unwrap());
        Ok(response)
    }
}
