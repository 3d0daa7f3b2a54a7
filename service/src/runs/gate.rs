//! The approval gate of a run ([`RunGate`], an [`ApprovalGate`]): a dangerous command becomes a
//! durable pending approval plus an `approval.request` event, the run shows
//! `waiting_for_approval`, and the gate waits — re-reading the approval row whenever it is woken
//! — until a human answers (`RespondApproval`, possibly on another replica), the timeout denies
//! it, or the run is stopped. "session" answers pre-approve the pattern for the rest of the run,
//! "always" answers (stored by the responder) for every later run. Job runs use the same gate in
//! [`GateMode::DenyAll`]: nobody is asked. Parsing a client's choice lives here too.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Inner;
use super::events::EventPayload;
use super::log::LiveRun;
use super::wakeups::Wakeups as _;
use crate::approvals::{ApprovalDecision, ApprovalGate, ApprovalRequest};
use crate::error::Error;
use crate::store::ApprovalRecord;

/// The answers offered with every approval request.
pub const CHOICES: [&str; 4] = ["once", "session", "always", "deny"];

/// Who answers a run's approvals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateMode {
    /// A human, through `RespondApproval`.
    Human,
    /// Nobody (scheduled jobs): every request is denied without asking.
    DenyAll,
}

/// A client's approval answer, aliases folded (`approve`, `approved`, `allow` = `once`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Once,
    Session,
    Always,
    Deny,
}

impl Choice {
    /// Parses a client's choice (case-insensitive, trimmed); anything else → 400
    /// `invalid_approval_choice`.
    pub fn parse(text: &str) -> Result<Choice, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "once" | "approve" | "approved" | "allow" => Ok(Choice::Once),
            "session" => Ok(Choice::Session),
            "always" => Ok(Choice::Always),
            "deny" => Ok(Choice::Deny),
            _ => Err(Error::invalid_param(
                "invalid_approval_choice",
                format!(
                    "Invalid approval choice {:?}: use once, session, always or deny \
                     (approve, approved and allow mean once)",
                    clip(text)
                ),
                "choice",
            )),
        }
    }

    /// The stored/wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Once => "once",
            Choice::Session => "session",
            Choice::Always => "always",
            Choice::Deny => "deny",
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// The gate handed to the agent for one run.
pub(crate) struct RunGate {
    inner: Arc<Inner>,
    live: Arc<LiveRun>,
    run_id: String,
    mode: GateMode,
    /// Asks the event relay to store every agent event already queued, so `tool.started`
    /// precedes the `approval.request` it caused.
    flush: mpsc::Sender<oneshot::Sender<()>>,
    /// Pattern keys approved for this run ("session") or durably ("always").
    approved: Mutex<HashSet<String>>,
}

impl RunGate {
    pub(crate) fn new(
        inner: Arc<Inner>,
        live: Arc<LiveRun>,
        run_id: String,
        mode: GateMode,
        flush: mpsc::Sender<oneshot::Sender<()>>,
        always: Vec<String>,
    ) -> Self {
        Self {
            inner,
            live,
            run_id,
            mode,
            flush,
            approved: Mutex::new(always.into_iter().collect()),
        }
    }

    fn remember(&self, pattern_key: &str) {
        if let Ok(mut approved) = self.approved.lock() {
            approved.insert(pattern_key.to_owned());
        }
    }

    async fn ask(&self, request: ApprovalRequest) -> Result<ApprovalDecision, Error> {
        // Another run may have been told "always" for this pattern since this one started.
        if self
            .inner
            .store
            .approved_patterns()
            .await?
            .contains(&request.pattern_key)
        {
            self.remember(&request.pattern_key);
            return Ok(ApprovalDecision::Always);
        }
        let (done, flushed) = oneshot::channel();
        if self.flush.send(done).await.is_ok() {
            let _ = flushed.await;
        }
        let record = ApprovalRecord {
            id: format!("apr_{}", uuid::Uuid::new_v4().simple()),
            run_id: self.run_id.clone(),
            command: request.command.clone(),
            description: request.description.clone(),
            pattern_key: request.pattern_key.clone(),
            requested_at: crate::store::now(),
            choice: None,
            resolved_by: None,
        };
        self.inner.store.insert_approval(&record).await?;
        let payload = EventPayload::ApprovalRequest {
            approval_id: record.id.clone(),
            command: record.command.clone(),
            description: record.description.clone(),
            pattern_key: record.pattern_key.clone(),
            choices: CHOICES.iter().map(|c| (*c).to_owned()).collect(),
            allow_permanent: true,
        };
        self.inner
            .append(&self.run_id, &[payload], Some("waiting_for_approval"))
            .await?;

        let (choice, resolved_by) = self.wait_for_answer(&record.id).await?;
        self.inner
            .append(
                &self.run_id,
                &[EventPayload::ApprovalResponded {
                    approval_id: record.id.clone(),
                    choice: choice.clone(),
                }],
                None,
            )
            .await?;
        self.inner
            .store
            .refresh_run_approval_status(&self.run_id)
            .await?;
        let decision = match choice.as_str() {
            "once" => ApprovalDecision::Once,
            "session" => ApprovalDecision::Session,
            "always" => ApprovalDecision::Always,
            _ if resolved_by == "timeout" => ApprovalDecision::TimedOut,
            _ => ApprovalDecision::Deny,
        };
        if matches!(
            decision,
            ApprovalDecision::Session | ApprovalDecision::Always
        ) {
            self.remember(&record.pattern_key);
        }
        Ok(decision)
    }

    /// Waits until approval `id` is resolved; resolves it as a denial itself on timeout. A stop
    /// answers `Error::Cancelled` (the run's task then denies it). Returns `(choice, resolved_by)`.
    async fn wait_for_answer(&self, id: &str) -> Result<(String, String), Error> {
        let deadline = Instant::now() + self.inner.config.approvals.timeout;
        loop {
            let mut waiter = self.inner.wakeups.waiter(&self.run_id);
            let record = self
                .inner
                .store
                .get_approval(id)
                .await?
                .ok_or_else(|| Error::Internal(format!("approval {id} vanished")))?;
            if let Some(choice) = record.choice {
                return Ok((choice, record.resolved_by.unwrap_or_default()));
            }
            if self.live.cancel.is_cancelled() {
                // The run is stopping: its task resolves pending approvals as denials and records
                // them (`execute.rs`, `deny_pending`) after the turn ends, however this future
                // ends — resolving here could be dropped between the write and its event.
                return Err(Error::Cancelled);
            }
            let now = Instant::now();
            if now >= deadline {
                self.inner
                    .store
                    .resolve_approval(id, "deny", "timeout")
                    .await?;
                continue;
            }
            let remaining = deadline
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            tokio::select! {
                () = waiter.wait(remaining) => {}
                () = self.live.cancel.cancelled() => {}
            }
        }
    }
}

#[async_trait]
impl ApprovalGate for RunGate {
    async fn request(&self, request: ApprovalRequest) -> ApprovalDecision {
        if self.mode == GateMode::DenyAll {
            return ApprovalDecision::Deny;
        }
        match self.ask(request).await {
            Ok(decision) => decision,
            Err(Error::Cancelled) => ApprovalDecision::Deny,
            Err(error) => {
                tracing::warn!(run_id = %self.run_id, %error, "approval failed; denying the command");
                ApprovalDecision::Deny
            }
        }
    }

    fn is_preapproved(&self, pattern_key: &str) -> bool {
        self.approved
            .lock()
            .map(|approved| approved.contains(pattern_key))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_and_aliases() {
        for (text, choice) in [
            ("once", Choice::Once),
            ("approve", Choice::Once),
            ("Approved", Choice::Once),
            (" allow ", Choice::Once),
            ("session", Choice::Session),
            ("ALWAYS", Choice::Always),
            ("deny", Choice::Deny),
        ] {
            assert_eq!(Choice::parse(text).unwrap(), choice, "{text}");
        }
        for bad in ["", "yes", "never", "denied"] {
            let error = Choice::parse(bad).unwrap_err();
            assert!(
                matches!(error, Error::InvalidArgument { code: "invalid_approval_choice", param: Some(ref p), .. } if p == "choice"),
                "{bad}"
            );
        }
    }
}
