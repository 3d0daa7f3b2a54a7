//! One agent turn inside a stored session: validating the request (`missing_message`, the
//! session id rules), admission, the session's stored messages as history, its `system_prompt`
//! layered under the call's `system_message`, and the unary answer. The named-event stream of the
//! same turn is `stream.rs`.

use std::sync::Arc;

use caduceus_proto::v1::{ChatMessage, ChatSessionRequest, ChatSessionResponse, chat_message};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;
use tonic::Request;

use super::convert::{checked_id, usage_to_proto};
use crate::agent::{Sampling, TurnInput, TurnRequest, failure_without_output, record_to_message};
use crate::approvals::NoApprovalChannel;
use crate::error::Error;
use crate::grpc::headers::SessionHeaders;
use crate::llm::Message;
use crate::state::AppState;

/// A validated, admitted session turn, ready to run.
pub(super) struct Prepared {
    /// What the agent runs.
    pub request: TurnRequest,
    /// The user's message as sent (for `run.started`).
    pub user_message: String,
    /// Id of the last stored message before this turn: rows after it are the turn's own.
    pub after_id: i64,
    /// `x-hermes-session-key`, echoed back.
    pub session_key: Option<String>,
    /// The concurrency slot, held until the turn ends.
    pub permit: Option<OwnedSemaphorePermit>,
}

/// Validates, admits and loads the session: its stored messages become the history and its own
/// system prompt goes under the call's `system_message`. The session is created on first use (by
/// the agent, source `api_server`).
pub(super) async fn prepare(
    state: &AppState,
    request: Request<ChatSessionRequest>,
) -> Result<Prepared, Error> {
    let headers = SessionHeaders::from_metadata(request.metadata())?;
    let body = request.into_inner();
    checked_id(&body.session_id, "session_id")?;
    if body.message.trim().is_empty() {
        return Err(Error::invalid_param(
            "missing_message",
            "Provide the user's text in 'message' (or 'input')",
            "message",
        ));
    }
    let requested_model = body.model.clone().filter(|model| !model.trim().is_empty());
    state.agent.check_route(requested_model.as_deref())?;
    let permit = state.admission.admit()?;

    let session = state.store.get_session(&body.session_id).await?;
    let (records, _) = state
        .store
        .list_messages(&body.session_id, None, None)
        .await?;
    let after_id = records.last().map_or(0, |record| record.id);
    let history: Vec<Message> = records.iter().filter_map(record_to_message).collect();
    let (session_prompt, session_model) = match session {
        Some(session) => (session.system_prompt, session.model),
        None => (None, None),
    };
    let system_text = layer(
        session_prompt.as_deref(),
        body.system_message.as_deref().unwrap_or(""),
    );
    Ok(Prepared {
        request: TurnRequest {
            session_id: body.session_id,
            session_key: headers.session_key.clone(),
            requested_model: requested_model.or(session_model),
            system_text: (!system_text.is_empty()).then_some(system_text),
            history,
            input: TurnInput::User(Message::user(body.message.clone())),
            client_tools: Vec::new(),
            sampling: Sampling::default(),
            approvals: Arc::new(NoApprovalChannel),
        },
        user_message: body.message,
        after_id,
        session_key: headers.session_key,
        permit,
    })
}

/// The session's own system prompt, then the call's system text on top (the same layering as
/// chat completions with a session id).
fn layer(session_prompt: Option<&str>, call_text: &str) -> String {
    [session_prompt.unwrap_or(""), call_text]
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Runs the turn to its end and answers with the final assistant text. A turn that failed
/// before producing any text answers with the chat routes' error (502/504, `agent_incomplete`…);
/// one that failed after some text answers that partial text. A dropped request cancels the turn.
pub(super) async fn complete(
    state: &AppState,
    prepared: Prepared,
) -> Result<ChatSessionResponse, Error> {
    let Prepared {
        request, permit, ..
    } = prepared;
    let session_id = request.session_id.clone();
    let cancel = CancellationToken::new();
    // A client that disconnects drops this future: the guard cancels the turn's tools.
    let _cancel_on_drop = cancel.clone().drop_guard();
    let (events, mut sink) = mpsc::channel(64);
    let drain = tokio::spawn(async move { while sink.recv().await.is_some() {} });
    let outcome = state.agent.run_turn(request, events, cancel).await;
    let _ = drain.await;
    drop(permit);
    let outcome = outcome
        .into_error_if_empty()
        .map_err(failure_without_output)?;
    Ok(ChatSessionResponse {
        session_id,
        message: Some(ChatMessage {
            role: "assistant".into(),
            content: Some(chat_message::Content::Text(outcome.content)),
            ..ChatMessage::default()
        }),
        usage: Some(usage_to_proto(outcome.usage)),
    })
}

#[cfg(test)]
mod tests {
    use super::layer;

    #[test]
    fn session_prompt_goes_under_the_call_text() {
        assert_eq!(layer(Some("Session."), "Call."), "Session.\n\nCall.");
        assert_eq!(layer(Some("  "), "Call."), "Call.");
        assert_eq!(layer(None, ""), "");
        assert_eq!(layer(Some("Session."), " "), "Session.");
    }
}
