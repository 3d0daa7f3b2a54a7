//! From a validated request to a [`Plan`]: which stored response it continues (by
//! `previous_response_id`, or the latest of its `conversation`), the history (that response's
//! transcript, else `conversation_history`, else the stored messages of the session the
//! `x-hermes-session-id` header names), the instructions in force (inherited when chaining), the
//! session the turn is stored under (header, else the chain's, else the new response's own id),
//! and finally an admission slot. Request errors come before admission, so a bad request is a
//! 400/404, never a 429.

use std::sync::Arc;

use caduceus_proto::v1::{CreateResponseRequest, InputItem, Response as ResponseObject};
use tokio::sync::OwnedSemaphorePermit;

use super::input::{self, Parsed};
use super::{Chain, Inner, new_id, record};
use crate::agent::{TurnRequest, record_to_message};
use crate::approvals::NoApprovalChannel;
use crate::error::Error;
use crate::llm::{Message, Role};
use crate::store::responses::LIVE_STATUSES;

/// Characters per token assumed when `truncation: auto` trims history.
const CHARS_PER_TOKEN: usize = 4;

/// A validated, admitted response turn, ready to start.
pub struct Plan {
    /// The object at start (`queued` for background, else `in_progress`).
    pub(super) object: ResponseObject,
    /// `store` (default true).
    pub(super) store: bool,
    pub(super) turn: TurnRequest,
    /// History plus the input, as the transcript starts.
    pub(super) prefix: Vec<Message>,
    /// `input` as stored items.
    pub(super) input_items: Vec<InputItem>,
    /// How many rows the agent stores for the input before its own.
    pub(super) input_rows: usize,
    pub(super) permit: Option<OwnedSemaphorePermit>,
}

impl Plan {
    /// The new response's id.
    pub fn id(&self) -> &str {
        &self.object.id
    }

    /// The session the turn is stored under.
    pub fn session_id(&self) -> &str {
        &self.turn.session_id
    }

    /// The caller's `x-hermes-session-key`, echoed back.
    pub fn session_key(&self) -> Option<&str> {
        self.turn.session_key.as_deref()
    }

    /// Whether it runs detached.
    pub fn background(&self) -> bool {
        self.object.background
    }
}

pub(super) async fn prepare(
    inner: &Arc<Inner>,
    request: CreateResponseRequest,
    header_session: Option<String>,
    session_key: Option<String>,
) -> Result<Plan, Error> {
    let parsed = input::parse(&request)?;
    if request.background && request.store == Some(false) {
        return Err(Error::invalid_param(
            "invalid_request",
            "A background response must be stored to be polled: drop `store: false`",
            "background",
        ));
    }
    inner.agent.check_route(request.model.as_deref())?;

    let chain = match (&request.previous_response_id, &request.conversation) {
        (Some(previous), _) => Some(chain(inner, previous).await?),
        (None, Some(name)) if name.trim().is_empty() => {
            return Err(Error::invalid_param(
                "invalid_request",
                "`conversation` must be a non-empty name",
                "conversation",
            ));
        }
        (None, Some(name)) => match inner.store.latest_in_conversation(name).await? {
            Some(latest) => Some(chain(inner, &latest.id).await?),
            None => None,
        },
        (None, None) => None,
    };

    let id = new_id("resp");
    let session_id = header_session
        .clone()
        .or_else(|| chain.as_ref().map(|c| c.session_id.clone()))
        .unwrap_or_else(|| id.clone());
    let session = inner.store.get_session(&session_id).await?;

    let Parsed {
        system_text: input_system,
        history: input_history,
        input,
        input_messages,
        input_items,
        explicit_history,
        client_tools,
        sampling,
        truncate,
    } = parsed;
    let mut system_parts = vec![input_system];
    let mut history = if let Some(chain) = &chain {
        chain.history.clone()
    } else if !explicit_history.is_empty() {
        let (system, conversation): (Vec<Message>, Vec<Message>) = explicit_history
            .into_iter()
            .partition(|m| matches!(m.role, Role::System | Role::Developer));
        system_parts.extend(system.iter().filter_map(Message::text));
        conversation
    } else if header_session.is_some() {
        let (records, _) = inner.store.list_messages(&session_id, None, None).await?;
        records.iter().filter_map(record_to_message).collect()
    } else {
        Vec::new()
    };
    history.extend(input_history);
    if truncate && let Some(tokens) = inner.config.model.context_length {
        truncate_history(&mut history, tokens as usize * CHARS_PER_TOKEN / 2);
    }

    let instructions = request
        .instructions
        .clone()
        .or_else(|| chain.as_ref().and_then(|c| c.instructions.clone()));
    let mut layers = vec![session.and_then(|s| s.system_prompt).unwrap_or_default()];
    layers.extend(instructions.clone());
    layers.extend(system_parts);
    let system_text = layers
        .iter()
        .map(|text| text.trim())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");

    let permit = inner.admission.admit()?;
    let mut prefix = history.clone();
    prefix.extend(input_messages.iter().cloned());
    let object = ResponseObject {
        id,
        status: if request.background {
            "queued"
        } else {
            "in_progress"
        }
        .into(),
        created_at: unix_now(),
        model: request
            .model
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| inner.config.model_name.clone()),
        instructions,
        previous_response_id: chain.as_ref().map(|c| c.id.clone()),
        metadata: request.metadata.clone(),
        output: Vec::new(),
        usage: None,
        error: None,
        background: request.background,
        conversation: request.conversation.clone(),
        session_id: Some(session_id.clone()),
        output_text: String::new(),
    };
    Ok(Plan {
        object,
        store: request.store.unwrap_or(true),
        input_rows: input_messages.len(),
        turn: TurnRequest {
            session_id,
            session_key,
            requested_model: request.model,
            system_text: (!system_text.is_empty()).then_some(system_text),
            history,
            input,
            client_tools,
            sampling,
            approvals: Arc::new(NoApprovalChannel),
        },
        prefix,
        input_items,
        permit,
    })
}

/// The stored response `id` as a chain link (touched for LRU).
pub(super) async fn chain(inner: &Inner, id: &str) -> Result<Chain, Error> {
    let stored = record::load(&inner.store, id).await?;
    if LIVE_STATUSES.contains(&stored.object.status.as_str()) {
        return Err(Error::conflict(
            "response_in_progress",
            format!(
                "Response {id} has not finished yet; continue from it once it has (poll GET /v1/responses/{id})"
            ),
        ));
    }
    inner.store.touch_response(id).await?;
    Ok(Chain {
        id: id.to_owned(),
        history: stored.transcript,
        instructions: stored.object.instructions,
        session_id: stored.session_id,
        conversation: stored.conversation,
    })
}

/// `truncation: auto`: drops the oldest messages until the history's text fits `budget`
/// characters, then any leading non-user messages (no orphaned tool results).
fn truncate_history(history: &mut Vec<Message>, budget: usize) {
    let size = |m: &Message| {
        m.text().map_or(0, |t| t.len())
            + m.tool_calls
                .iter()
                .map(|c| c.function.arguments.len())
                .sum::<usize>()
    };
    let mut total: usize = history.iter().map(size).sum();
    let mut drop = 0;
    while total > budget && drop < history.len() {
        total -= size(&history[drop]);
        drop += 1;
    }
    while drop < history.len() && history[drop].role != Role::User {
        drop += 1;
    }
    if drop > 0 {
        history.drain(..drop);
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or_default())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_the_newest_turns_starting_at_a_user_message() {
        let mut history = vec![
            Message::user("a".repeat(100)),
            Message::assistant("b".repeat(100)),
            Message::user("c".repeat(10)),
            Message::assistant("d".repeat(10)),
        ];
        truncate_history(&mut history, 50);
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].text().unwrap(), "c".repeat(10));
        let mut short = vec![Message::user("x")];
        truncate_history(&mut short, 50);
        assert_eq!(short.len(), 1);
    }
}
