//! Cross-replica notifications (PostgreSQL `LISTEN/NOTIFY`, API.md §12): what one replica tells
//! the others — "run X changed" (an event was appended, an approval answered, a stop requested,
//! the run ended) and "cancel background response Y" — and the per-process listener that feeds
//! them to a [`Sink`]. Writers send with [`crate::store::Store::notify`] (or inside their write
//! transaction, so the notice is delivered at commit). A notice is only a hint: receivers
//! re-read the database, so a notice lost while the listener reconnects costs nothing but
//! latency — on every (re)connect the sink is told to [`Sink::resync`] (wake everybody).
//! SQLite is single-process and has no listener.

mod listener;

pub use listener::{ListenerHealth, reconnect_backoff, spawn_listener};

/// Channel of "run changed" notices; the payload is the run id.
pub const RUN_CHANNEL: &str = "caduceus_run";
/// Channel of "cancel this background response" notices; the payload is the response id.
pub const RESPONSE_CANCEL_CHANNEL: &str = "caduceus_response_cancel";
/// Every channel a replica listens on.
pub const CHANNELS: [&str; 2] = [RUN_CHANNEL, RESPONSE_CANCEL_CHANNEL];

/// Longest id accepted in a payload (ids are `run_`/`resp_` + 32 hex; NOTIFY allows 8000 bytes).
const MAX_ID: usize = 200;

/// One notice between replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The run's durable state changed: waiters re-read it.
    Run(String),
    /// Stop the background response if it runs in this process.
    CancelResponse(String),
}

impl Notice {
    /// The notice a `(channel, payload)` pair carries; `None` for unknown channels or payloads
    /// that cannot be an id (never trusted further than a lookup key).
    pub fn parse(channel: &str, payload: &str) -> Option<Notice> {
        if payload.is_empty()
            || payload.len() > MAX_ID
            || !payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        match channel {
            RUN_CHANNEL => Some(Notice::Run(payload.to_owned())),
            RESPONSE_CANCEL_CHANNEL => Some(Notice::CancelResponse(payload.to_owned())),
            _ => None,
        }
    }

    /// The channel it travels on.
    pub fn channel(&self) -> &'static str {
        match self {
            Notice::Run(_) => RUN_CHANNEL,
            Notice::CancelResponse(_) => RESPONSE_CANCEL_CHANNEL,
        }
    }

    /// Its payload.
    pub fn payload(&self) -> &str {
        match self {
            Notice::Run(id) | Notice::CancelResponse(id) => id,
        }
    }
}

/// Where a replica's listener delivers notices.
pub trait Sink: Send + Sync {
    /// A notice arrived (from any replica, this one included).
    fn deliver(&self, notice: Notice);

    /// The listener (re)connected: notices may have been missed, so every waiter should re-read.
    fn resync(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_channel_and_payload() {
        for notice in [
            Notice::Run("run_0123abcd".into()),
            Notice::CancelResponse("resp_0123abcd".into()),
        ] {
            assert_eq!(
                Notice::parse(notice.channel(), notice.payload()),
                Some(notice)
            );
        }
    }

    #[test]
    fn unknown_channels_and_odd_payloads_are_ignored() {
        assert_eq!(Notice::parse("other", "run_1"), None);
        assert_eq!(Notice::parse(RUN_CHANNEL, ""), None);
        assert_eq!(Notice::parse(RUN_CHANNEL, "run 1; DROP"), None);
        assert_eq!(Notice::parse(RUN_CHANNEL, &"a".repeat(MAX_ID + 1)), None);
    }
}
