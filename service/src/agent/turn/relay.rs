//! One upstream call of a turn: open it (retries and fallbacks are the client's), relay its text
//! deltas to the turn's events as they arrive, time it for the GenAI metrics, and assemble the
//! answer. A failed or cancelled call leaves its partial text for the turn to store after its
//! input; storing, tools and the loop are `turn.rs`.

use futures::StreamExt;

use super::{Turn, TurnEvent};
use crate::error::Error;
use crate::llm::{Assembler, AssistantTurn, ChatRequest, Route};
use crate::state::UpstreamOutcome;
use crate::telemetry::genai::CallTimer;

impl Turn<'_> {
    /// One upstream call, timed for the GenAI metrics and the request's upstream time.
    pub(super) async fn call_upstream(
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
        // Boxed: opening (retries, fallbacks, the HTTP send) is the largest state of the turn and
        // is over once the stream is open.
        let open = Box::pin(upstream.stream_chat_in_conversation(route, call, conversation));
        let opened = timer
            .wait(async {
                tokio::select! {
                    opened = open => Some(opened),
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
                self.partial = Some((partial, "cancelled"));
                return Err(Error::Cancelled);
            };
            let event = match next {
                None => break,
                Some(Ok(event)) => event,
                Some(Err(error)) => {
                    gauges.record_upstream(UpstreamOutcome::Failed(error.summary()));
                    timer.failed(&error);
                    self.partial = Some((partial, "error"));
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
            self.partial = Some((partial, "error"));
            let error = crate::llm::UpstreamError::Protocol(
                "the upstream stream ended before the answer finished".into(),
            );
            timer.failed(&error);
            return Err(error.into());
        }
        gauges.record_upstream(UpstreamOutcome::Ok);
        Ok(assembler.into_turn())
    }
}
