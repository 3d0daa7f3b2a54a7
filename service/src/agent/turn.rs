//! The loop of one turn: call the upstream with the tool schemas, relay text as it streams,
//! execute server tool calls (concurrently), append their results, repeat — until an answer
//! without tool calls, a client tool call (handed back to the client), or `max_iterations`
//! (then one final call without tools). Each message is stored as it happens, in order: the
//! input in one transaction with the session (overlapping the first upstream call), tool calls and
//! results as they come, the final answer in one transaction with the turn's token usage.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::history::message_to_record;
use super::{Inner, TurnEvent, TurnInput, TurnOutcome, TurnRequest};
use crate::error::Error;
use crate::llm::{ChatRequest, Message, ToolCall, ToolList, Usage};
use crate::store::{NewMessage, SessionOrigin};
use crate::telemetry::genai;
use crate::tools::{ToolContext, ToolRegistry};

mod relay;

/// Where the turn's messages go and what it has produced so far.
struct Turn<'a> {
    inner: &'a Inner,
    session_id: String,
    events: mpsc::Sender<TurnEvent>,
    cancel: CancellationToken,
    outcome: TurnOutcome,
    /// The final answer, stored with the turn's token usage in one transaction at the end.
    answer: Option<NewMessage>,
    /// What the model said before its call failed, stored once the turn's input is.
    partial: Option<(String, &'static str)>,
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
        answer: None,
        partial: None,
    };
    // Boxed, like the upstream call inside it: the task running a turn holds only the state in
    // use, not the largest state any await point needs.
    if let Err(error) = Box::pin(turn.drive(request)).await {
        turn.fail(error);
    }
    Box::pin(turn.finish()).await;
    turn.outcome
}

impl Turn<'_> {
    fn fail(&mut self, error: Error) {
        self.outcome.finish_reason = "error".into();
        self.outcome.error = Some(error);
    }

    /// The turn's last write: its final answer together with the usage of every call, or the
    /// usage alone. An answer that cannot be stored fails the turn.
    async fn finish(&mut self) {
        let usage = self.outcome.usage;
        let answer = self.answer.take();
        if answer.is_none() && usage.total_tokens == 0 && usage.prompt_tokens == 0 {
            return;
        }
        let had_answer = answer.is_some();
        let stored = self
            .inner
            .store
            .append_turn_output(
                &self.session_id,
                answer,
                i64::try_from(usage.prompt_tokens).unwrap_or(i64::MAX),
                i64::try_from(usage.completion_tokens).unwrap_or(i64::MAX),
            )
            .await;
        match stored {
            Ok(_) => {}
            Err(error) if had_answer => self.fail(error.into()),
            Err(error) => tracing::warn!(%error, "could not record token usage"),
        }
    }

    async fn drive(&mut self, mut request: TurnRequest) -> Result<(), Error> {
        let route = self
            .inner
            .upstream
            .resolve(request.requested_model.as_deref())?;
        genai::record_route(&route);
        let system = self
            .inner
            .prompts
            .system_prompt(
                &self.inner.config.home,
                request.session_key.as_deref(),
                request.system_text.as_deref(),
            )
            .await;

        let history = std::mem::take(&mut request.history);
        let mut messages = Vec::with_capacity(history.len() + 2);
        messages.push(Message::system(system));
        messages.extend(history);
        let mut input = Vec::new();
        match request.input {
            TurnInput::User(message) => {
                input.push(message_to_record(&message, None, None));
                messages.push(message);
            }
            TurnInput::ToolResults(results) => {
                for message in results {
                    let name = tool_name_for(&messages, message.tool_call_id.as_deref());
                    input.push(message_to_record(&message, name.as_deref(), None));
                    messages.push(message);
                }
            }
        }
        // A crash while a tool ran leaves its call unanswered in the stored history.
        crate::llm::close_dangling_tool_calls(&mut messages);

        // The input (and the session, on its first turn) is written in one transaction while
        // the first upstream call starts. Nothing of the answer is stored before that write
        // has committed, so the stored order stays input, then answer.
        let inner = self.inner;
        let session_id = self.session_id.clone();
        let session_key = request.session_key.clone();
        let model = route.model().to_owned();
        let mut input_write = Some(Box::pin(async move {
            let origin = SessionOrigin {
                source: "api_server",
                session_key: session_key.as_deref(),
                model: Some(&model),
            };
            inner
                .store
                .append_turn_input(&session_id, origin, input)
                .await
        }));

        let client_names: HashSet<String> = request
            .client_tools
            .iter()
            .map(|tool| tool.function.name.clone())
            .collect();
        let mut definitions = ToolList::shared(Arc::clone(&self.inner.server_tools), |name| {
            client_names.contains(name)
        });
        definitions.extend(std::mem::take(&mut request.client_tools));
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

            let upstream = Box::pin(self.call_upstream(&route, call));
            let answer = match input_write.take() {
                Some(write) => {
                    let (written, answer) = tokio::join!(write, upstream);
                    if let Err(error) = written {
                        // The question was not stored: report that, not an answer to it.
                        self.outcome.content.clear();
                        return Err(error.into());
                    }
                    answer
                }
                None => upstream.await,
            };
            if let Some((text, reason)) = self.partial.take() {
                self.store_partial(&text, reason).await;
            }
            let answer = answer?;
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
                let message = Message::assistant(answer.content);
                self.answer = Some(message_to_record(&message, None, Some(finish)));
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
    /// Stored after the turn's input (see `drive`), never from inside the upstream call.
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
