//! The loop of one turn: call the upstream with the tool schemas, relay text as it streams,
//! execute server tool calls (concurrently), append their results, repeat — until an answer
//! without tool calls, a client tool call (handed back to the client), or `max_iterations`
//! (then one final call without tools). Each message is stored the moment it exists.

use std::collections::HashSet;
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::history::message_to_record;
use super::prompt::{CORE_PERSONA, system_prompt};
use super::{Inner, TurnEvent, TurnInput, TurnOutcome, TurnRequest};
use crate::error::Error;
use crate::llm::{
    Assembler, AssistantTurn, ChatRequest, Message, Route, ToolCall, ToolDefinition, Usage,
};
use crate::state::UpstreamOutcome;
use crate::telemetry::genai::{self, CallTimer};
use crate::tools::{ToolContext, ToolRegistry};

/// Where the turn's messages go and what it has produced so far.
struct Turn<'a> {
    inner: &'a Inner,
    session_id: String,
    events: mpsc::Sender<TurnEvent>,
    cancel: CancellationToken,
    outcome: TurnOutcome,
}

pub(super) async fn run(
    inner: &Inner,
    request: TurnRequest,
    events: mpsc::Sender<TurnEvent>,
    cancel: CancellationToken,
) -> TurnOutcome {
    let mut turn = Turn {
        inner,
        session_id: request.session_id.clone(),
        events,
        cancel: cancel.clone(),
        outcome: TurnOutcome {
            content: String::new(),
            finish_reason: "stop".into(),
            usage: Usage::default(),
            client_tool_calls: Vec::new(),
            error: None,
        },
    };
    if let Err(error) = turn.drive(request).await {
        turn.outcome.finish_reason = "error".into();
        turn.outcome.error = Some(error);
    }
    let usage = turn.outcome.usage;
    if usage.total_tokens > 0 || usage.prompt_tokens > 0 {
        let stored = inner
            .store
            .add_usage(
                &turn.session_id,
                i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
                i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
            )
            .await;
        if let Err(error) = stored {
            tracing::warn!(%error, "could not record token usage");
        }
    }
    turn.outcome
}

impl Turn<'_> {
    async fn drive(&mut self, request: TurnRequest) -> Result<(), Error> {
        let route = self
            .inner
            .upstream
            .resolve(request.requested_model.as_deref())?;
        genai::record_route(&route);
        self.inner
            .store
            .ensure_session(
                &request.session_id,
                "api_server",
                request.session_key.as_deref(),
                Some(route.model()),
            )
            .await?;

        let home = self.inner.config.home.clone();
        let key = request.session_key.clone();
        let client_text = request.system_text.clone();
        let system = tokio::task::spawn_blocking(move || {
            system_prompt(&home, key.as_deref(), client_text.as_deref())
        })
        .await
        .unwrap_or_else(|_| CORE_PERSONA.to_owned());

        let mut messages = Vec::with_capacity(request.history.len() + 2);
        messages.push(Message::system(system));
        messages.extend(request.history.iter().cloned());
        match request.input {
            TurnInput::User(message) => {
                self.store(&message, None, None).await?;
                messages.push(message);
            }
            TurnInput::ToolResults(results) => {
                for message in results {
                    let name = tool_name_for(&messages, message.tool_call_id.as_deref());
                    self.store(&message, name.as_deref(), None).await?;
                    messages.push(message);
                }
            }
        }

        let client_names: HashSet<String> = request
            .client_tools
            .iter()
            .map(|tool| tool.function.name.clone())
            .collect();
        let mut definitions: Vec<ToolDefinition> = self
            .inner
            .tools
            .definitions()
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .filter(|tool: &ToolDefinition| !client_names.contains(&tool.function.name))
            .collect();
        definitions.extend(request.client_tools.iter().cloned());
        let context = ToolContext {
            session_id: request.session_id.clone(),
            session_key: request.session_key.clone(),
            config: self.inner.config.clone(),
            store: self.inner.store.clone(),
            cancel: self.cancel.clone(),
            approvals: request.approvals.clone(),
        };

        let max_iterations = self.inner.config.max_iterations.max(1);
        for iteration in 0..=max_iterations {
            let final_call = iteration == max_iterations;
            let mut call = ChatRequest::new(messages.clone());
            let sampling = &request.sampling;
            if !final_call && !definitions.is_empty() {
                call.tools = definitions.clone();
                call.tool_choice = sampling.tool_choice.clone();
                call.parallel_tool_calls = sampling.parallel_tool_calls;
            }
            call.temperature = sampling.temperature;
            call.top_p = sampling.top_p;
            call.max_tokens = sampling.max_tokens.or(self.inner.config.model.max_tokens);
            call.stop = sampling.stop.clone();
            call.seed = sampling.seed;
            call.presence_penalty = sampling.presence_penalty;
            call.frequency_penalty = sampling.frequency_penalty;
            call.response_format = sampling.response_format.clone();
            call.user = sampling.user.clone();

            let answer = self.call_upstream(&route, call).await?;
            if let Some(usage) = answer.usage {
                self.outcome.usage += usage;
            }
            if answer.tool_calls.is_empty() || final_call {
                let finish = if answer.finish_reason.as_deref() == Some("length") {
                    "length"
                } else {
                    "stop"
                };
                self.outcome.finish_reason = finish.into();
                self.store(
                    &Message::assistant(answer.content.clone()),
                    None,
                    Some(finish),
                )
                .await?;
                return Ok(());
            }

            let assistant = answer.to_message();
            self.store(&assistant, None, Some("tool_calls")).await?;
            messages.push(assistant);
            let (client_calls, server_calls): (Vec<ToolCall>, Vec<ToolCall>) = answer
                .tool_calls
                .into_iter()
                .partition(|call| client_names.contains(&call.function.name));
            let results = self.execute_tools(&context, &server_calls).await;
            for (call, result) in server_calls.iter().zip(results) {
                messages.push(Message::tool(call.id.clone(), result));
            }
            if !client_calls.is_empty() {
                self.outcome.finish_reason = "tool_calls".into();
                self.outcome.client_tool_calls = client_calls;
                return Ok(());
            }
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
        }
        Ok(())
    }

    /// One upstream call, timed for the GenAI metrics and the request's upstream time.
    async fn call_upstream(
        &mut self,
        route: &Route,
        call: ChatRequest,
    ) -> Result<AssistantTurn, Error> {
        let mut timer = CallTimer::start(self.inner.gauges.metrics(), route);
        let result = self.relay_upstream(route, call, &mut timer).await;
        timer.finish(result.as_ref().ok());
        result
    }

    /// Opens the call and relays its text deltas; cancellation drops the stream (aborting the
    /// HTTP request). Only the waits on the upstream count as upstream time in `timer`.
    async fn relay_upstream(
        &mut self,
        route: &Route,
        call: ChatRequest,
        timer: &mut CallTimer,
    ) -> Result<AssistantTurn, Error> {
        let gauges = &self.inner.gauges;
        let upstream = &self.inner.upstream;
        let cancel = &self.cancel;
        let conversation = Some(self.session_id.as_str());
        let opened = timer
            .wait(async {
                tokio::select! {
                    opened = upstream.stream_chat_in_conversation(route, call, conversation) => Some(opened),
                    () = cancel.cancelled() => None,
                }
            })
            .await;
        let Some(opened) = opened else {
            return Err(Error::Cancelled);
        };
        let mut stream = match opened {
            Ok(stream) => stream,
            Err(error) => {
                gauges.record_upstream(UpstreamOutcome::Failed(error.summary()));
                timer.failed(&error);
                return Err(error.into());
            }
        };
        timer.answered_by(stream.provider(), stream.model());
        let mut assembler = Assembler::new();
        let mut prefix_pending = !self.outcome.content.is_empty();
        let mut partial = String::new();
        loop {
            let cancel = &self.cancel;
            let next = timer
                .wait(async {
                    tokio::select! {
                        next = stream.next() => Some(next),
                        () = cancel.cancelled() => None,
                    }
                })
                .await;
            let Some(next) = next else {
                self.store_partial(&partial, "cancelled").await;
                return Err(Error::Cancelled);
            };
            let event = match next {
                None => break,
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    gauges.record_upstream(UpstreamOutcome::Failed(error.summary()));
                    timer.failed(&error);
                    self.store_partial(&partial, "error").await;
                    return Err(error.into());
                }
            };
            if let crate::llm::UpstreamEvent::TextDelta(text) = &event {
                let relayed = if prefix_pending {
                    prefix_pending = false;
                    format!("\n\n{text}")
                } else {
                    text.clone()
                };
                partial.push_str(text);
                self.outcome.content.push_str(&relayed);
                let _ = self.events.send(TurnEvent::TextDelta(relayed)).await;
            }
            assembler.apply(&event);
        }
        if !assembler.is_finished() {
            gauges.record_upstream(UpstreamOutcome::Failed("stream ended early".into()));
            self.store_partial(&partial, "error").await;
            let error = crate::llm::UpstreamError::Protocol(
                "the upstream stream ended before the answer finished".into(),
            );
            timer.failed(&error);
            return Err(error.into());
        }
        gauges.record_upstream(UpstreamOutcome::Ok);
        Ok(assembler.into_turn())
    }

    /// Runs server tool calls concurrently, each in its `execute_tool {name}` span; returns
    /// each call's result text, in call order.
    async fn execute_tools(&self, context: &ToolContext, calls: &[ToolCall]) -> Vec<String> {
        let runs = calls.iter().map(|call| {
            let span = genai::execute_tool_span(&call.function.name, &call.id);
            let tool_span = span.clone();
            let run = async move {
                let name = call.function.name.as_str();
                let arguments = call.function.arguments.as_str();
                let _ = self
                    .events
                    .send(TurnEvent::ToolStarted {
                        call_id: call.id.clone(),
                        name: name.to_owned(),
                        preview: ToolRegistry::preview(name, arguments),
                        arguments: serde_json::from_str(arguments)
                            .unwrap_or(serde_json::Value::Null),
                    })
                    .await;
                let started = Instant::now();
                let output = self.inner.tools.execute(context, name, arguments).await;
                genai::record_tool(
                    &tool_span,
                    self.inner.gauges.metrics(),
                    name,
                    !output.is_error,
                    arguments,
                    &output.content,
                );
                let result = Message::tool(call.id.clone(), output.content.clone());
                if let Err(error) = self.store(&result, Some(name), None).await {
                    tracing::warn!(%error, "could not store a tool result");
                }
                let _ = self
                    .events
                    .send(TurnEvent::ToolCompleted {
                        call_id: call.id.clone(),
                        name: name.to_owned(),
                        duration: started.elapsed(),
                        error: output.is_error.then(|| error_summary(&output.content)),
                    })
                    .await;
                output.content
            };
            run.instrument(span)
        });
        futures::future::join_all(runs).await
    }

    async fn store(
        &self,
        message: &Message,
        tool_name: Option<&str>,
        finish_reason: Option<&str>,
    ) -> Result<(), Error> {
        self.inner
            .store
            .append_message(
                &self.session_id,
                message_to_record(message, tool_name, finish_reason),
            )
            .await?;
        Ok(())
    }

    /// Keeps what the model said before a failure, marked so it never reads as a complete answer.
    async fn store_partial(&self, text: &str, finish_reason: &str) {
        if text.is_empty() {
            return;
        }
        let message = Message::assistant(text.to_owned());
        if let Err(error) = self.store(&message, None, Some(finish_reason)).await {
            tracing::warn!(%error, "could not store a partial answer");
        }
    }
}

/// The tool that made call `call_id`, from the assistant messages in `messages`.
fn tool_name_for(messages: &[Message], call_id: Option<&str>) -> Option<String> {
    let call_id = call_id?;
    messages
        .iter()
        .rev()
        .flat_map(|message| message.tool_calls.iter())
        .find(|call| call.id == call_id)
        .map(|call| call.function.name.clone())
}

/// A short error text for progress events (never the raw output).
fn error_summary(content: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(content).ok();
    let text = parsed
        .as_ref()
        .and_then(|value| {
            value
                .get("error")
                .or_else(|| value.get("message"))
                .or_else(|| value.get("status"))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "tool failed".to_owned());
    text.chars().take(200).collect()
}
