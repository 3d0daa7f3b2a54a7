//! Turning a [`RunSpec`] into the agent turn a run executes: `previous_response_id` resolved
//! through the Responses store (its transcript becomes the history, its instructions and
//! session are inherited), `session_id` validated and its stored history and system prompt
//! loaded (a new session per run otherwise), the upstream route checked before anything is
//! recorded.

use std::sync::Arc;

use super::{Prepared, RunManager, RunSpec};
use crate::agent::{Sampling, TurnInput, TurnRequest, record_to_message, validate_session_id};
use crate::approvals::NoApprovalChannel;
use crate::error::Error;
use crate::llm::Message;

impl RunManager {
    /// Session history and system text, the upstream route, the turn request.
    pub(super) async fn prepare(
        &self,
        run_id: &str,
        spec: RunSpec,
    ) -> Result<(Prepared, String), Error> {
        let chain = match spec.previous_response_id.as_deref() {
            Some(previous) => Some(self.inner.responses.chain(previous).await?),
            None => None,
        };
        self.inner.agent.check_route(spec.model.as_deref())?;
        let model = spec
            .model
            .clone()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| self.inner.config.model_name.clone());
        if let Some(id) = &spec.session_id {
            validate_session_id(id).map_err(|_| {
                Error::invalid_param(
                    "invalid_session_id",
                    "Invalid session_id: 1 to 256 characters, without CR, LF, NUL, '..', '/' or '\\'",
                    "session_id",
                )
            })?;
        }
        let (session_id, history, system_text) = match (chain, &spec.session_id) {
            // Continuing a stored response: its transcript is the history, its instructions
            // are inherited, its session is used unless the client names one.
            (Some(chain), session) => {
                let session_id = session.clone().unwrap_or(chain.session_id);
                let prompt = self
                    .inner
                    .store
                    .get_session(&session_id)
                    .await?
                    .and_then(|s| s.system_prompt);
                let instructions = spec.instructions.or(chain.instructions);
                (
                    session_id,
                    chain.history,
                    layer(prompt.as_deref(), instructions.as_deref()),
                )
            }
            (None, Some(id)) => {
                let session = self.inner.store.get_session(id).await?;
                let (records, _) = self.inner.store.list_messages(id, None, None).await?;
                let stored: Vec<Message> = records.iter().filter_map(record_to_message).collect();
                let history = if stored.is_empty() {
                    spec.history
                } else {
                    stored
                };
                let prompt = session.and_then(|s| s.system_prompt);
                (
                    id.clone(),
                    history,
                    layer(prompt.as_deref(), spec.instructions.as_deref()),
                )
            }
            (None, None) => (
                run_id.to_owned(),
                spec.history,
                layer(None, spec.instructions.as_deref()),
            ),
        };
        let request = TurnRequest {
            session_id,
            session_key: spec.session_key,
            requested_model: spec.model,
            system_text,
            history,
            input: TurnInput::User(spec.input),
            client_tools: Vec::new(),
            sampling: Sampling::default(),
            // Replaced by the run's own gate when the task starts.
            approvals: Arc::new(NoApprovalChannel),
        };
        let prepared = Prepared {
            run_id: run_id.to_owned(),
            request,
            mode: spec.approvals,
        };
        Ok((prepared, model))
    }
}

/// The session's system prompt, then the run's instructions on top.
fn layer(session_prompt: Option<&str>, instructions: Option<&str>) -> Option<String> {
    let joined = [session_prompt, instructions]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (!joined.is_empty()).then_some(joined)
}
