//! The chat stream: agent events → `chat.completion.chunk` events (role delta first, content
//! deltas, tool progress, client tool-call deltas, the final chunk with `finish_reason` and usage,
//! the usage-only chunk when asked). A failure before any output becomes the stream's first
//! (error) item so the facade can answer with a plain HTTP error.

use caduceus_proto::v1::{
    ChatCompletionChunk, ChatCompletionEvent, ChatDelta, ChunkChoice, FunctionCallDelta,
    ToolCallDelta, ToolProgress, chat_completion_event::Event,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::{Prepared, chat_usage, completion_identity};
use crate::agent::{Agent, TurnEvent, failure_without_output};
use crate::grpc::streaming::BoxStream;
use crate::grpc::streaming::{CancelOnDrop, stream_error};

/// Chunk identity shared by every chunk of one completion.
struct Chunks {
    id: String,
    created: i64,
    model: String,
}

impl Chunks {
    fn chunk(&self, delta: ChatDelta, finish_reason: Option<String>) -> ChatCompletionEvent {
        ChatCompletionEvent {
            event: Some(Event::Chunk(ChatCompletionChunk {
                id: self.id.clone(),
                created: self.created,
                model: self.model.clone(),
                choices: vec![ChunkChoice {
                    index: 0,
                    delta: Some(delta),
                    finish_reason,
                }],
                usage: None,
            })),
        }
    }

    fn role(&self) -> ChatCompletionEvent {
        self.chunk(
            ChatDelta {
                role: Some("assistant".into()),
                ..ChatDelta::default()
            },
            None,
        )
    }
}

/// Emoji shown next to a tool's progress in UIs.
fn emoji(tool: &str) -> &'static str {
    match tool {
        "terminal" => "💻",
        "read_file" => "📖",
        "write_file" => "✍️",
        "patch" => "🩹",
        "search_files" => "🔎",
        "memory" => "🧠",
        "skills_list" | "skill_view" => "📚",
        "todo" => "📝",
        "session_search" => "🗂️",
        "web_extract" => "🌐",
        _ => "🔧",
    }
}

/// Starts the turn in a task and returns its event stream.
pub(super) fn start(agent: Agent, prepared: Prepared) -> BoxStream<ChatCompletionEvent> {
    let (out, receiver) = mpsc::channel::<Result<ChatCompletionEvent, Status>>(64);
    let cancel = CancellationToken::new();
    let stream = CancelOnDrop::new(receiver, &cancel);
    // `propagate`: the turn stays in this request's trace and upstream timer.
    tokio::spawn(crate::telemetry::propagate(run(
        agent, prepared, out, cancel,
    )));
    Box::pin(stream)
}

async fn run(
    agent: Agent,
    prepared: Prepared,
    out: mpsc::Sender<Result<ChatCompletionEvent, Status>>,
    cancel: CancellationToken,
) {
    let Prepared {
        request,
        model,
        include_usage,
        _permit,
        ..
    } = prepared;
    let (id, created) = completion_identity();
    let chunks = Chunks { id, created, model };
    let (events, mut incoming) = mpsc::channel::<TurnEvent>(64);

    let relay = async {
        let mut started = false;
        while let Some(event) = incoming.recv().await {
            if !started {
                started = true;
                let _ = out.send(Ok(chunks.role())).await;
            }
            let item = match event {
                TurnEvent::TextDelta(text) => chunks.chunk(
                    ChatDelta {
                        content: Some(text),
                        ..ChatDelta::default()
                    },
                    None,
                ),
                TurnEvent::ToolStarted {
                    call_id,
                    name,
                    preview,
                    ..
                } => progress(&name, preview, call_id, "running"),
                TurnEvent::ToolCompleted {
                    call_id,
                    name,
                    error,
                    ..
                } => {
                    let status = if error.is_some() {
                        "failed"
                    } else {
                        "completed"
                    };
                    progress(&name, String::new(), call_id, status)
                }
            };
            if out.send(Ok(item)).await.is_err() {
                cancel.cancel();
            }
        }
        started
    };
    let (mut outcome, started) =
        tokio::join!(agent.run_turn(request, events, cancel.clone()), relay);

    if !started
        && outcome.client_tool_calls.is_empty()
        && let Some(error) = outcome.error.take()
    {
        let _ = out
            .send(Err(Status::from(failure_without_output(error))))
            .await;
        return;
    }
    if !started {
        let _ = out.send(Ok(chunks.role())).await;
    }
    if !outcome.client_tool_calls.is_empty() {
        let deltas = outcome
            .client_tool_calls
            .iter()
            .enumerate()
            .map(|(index, call)| ToolCallDelta {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                id: Some(call.id.clone()),
                r#type: Some("function".into()),
                function: Some(FunctionCallDelta {
                    name: Some(call.function.name.clone()),
                    arguments: Some(call.function.arguments.clone()),
                }),
            })
            .collect();
        let delta = ChatDelta {
            tool_calls: deltas,
            ..ChatDelta::default()
        };
        let _ = out.send(Ok(chunks.chunk(delta, None))).await;
    }
    if let Some(error) = outcome.error {
        let status = Status::from(error);
        let event = ChatCompletionEvent {
            event: Some(Event::Error(stream_error(&status))),
        };
        let _ = out.send(Ok(event)).await;
        return;
    }
    let usage = chat_usage(outcome.usage);
    let mut last = chunks.chunk(ChatDelta::default(), Some(outcome.finish_reason.clone()));
    if let Some(Event::Chunk(chunk)) = &mut last.event {
        chunk.usage = Some(usage);
    }
    let _ = out.send(Ok(last)).await;
    if include_usage {
        let usage_only = ChatCompletionEvent {
            event: Some(Event::Chunk(ChatCompletionChunk {
                id: chunks.id.clone(),
                created: chunks.created,
                model: chunks.model.clone(),
                choices: Vec::new(),
                usage: Some(usage),
            })),
        };
        let _ = out.send(Ok(usage_only)).await;
    }
}

fn progress(tool: &str, label: String, call_id: String, status: &str) -> ChatCompletionEvent {
    ChatCompletionEvent {
        event: Some(Event::ToolProgress(ToolProgress {
            tool: tool.to_owned(),
            emoji: emoji(tool).to_owned(),
            label,
            tool_call_id: call_id,
            status: status.to_owned(),
        })),
    }
}
