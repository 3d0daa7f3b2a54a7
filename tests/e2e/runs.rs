//! `/v1/runs` and `RunService` end to end (API.md §7 and the approvals part of §9): lifecycle and
//! durable replayable events, human approvals, stop, and restart safety. Helpers are in
//! `runs/support.rs`.

mod approvals;
mod history;
mod lifecycle;
mod stop_restart;
pub(crate) mod support;
