//! Request metadata shared by the agent RPCs: the session headers (validated once, here) and the
//! response metadata that echoes them.

use tonic::metadata::{MetadataMap, MetadataValue};

use crate::agent::{validate_session_id, validate_session_key};
use crate::error::Error;

/// `x-hermes-session-id` and `x-hermes-session-key` of a request, validated.
#[derive(Debug, Clone, Default)]
pub struct SessionHeaders {
    /// Continue (or create) this stored session.
    pub session_id: Option<String>,
    /// Stable caller identity scoping memory.
    pub session_key: Option<String>,
}

impl SessionHeaders {
    /// Reads and validates both headers; unreadable bytes count as invalid.
    pub fn from_metadata(metadata: &MetadataMap) -> Result<Self, Error> {
        let read = |name: &str, code: &'static str, param: &str| -> Result<Option<String>, Error> {
            match metadata.get(name) {
                None => Ok(None),
                Some(value) => value
                    .to_str()
                    .map(|text| Some(text.to_owned()))
                    .map_err(|_| {
                        Error::invalid_param(code, format!("{param} is not valid text"), param)
                    }),
            }
        };
        let session_id = read(
            "x-hermes-session-id",
            "invalid_session_id",
            "X-Hermes-Session-Id",
        )?
        .filter(|id| !id.is_empty());
        let session_key = read(
            "x-hermes-session-key",
            "invalid_session_key",
            "X-Hermes-Session-Key",
        )?
        .filter(|key| !key.is_empty());
        if let Some(id) = &session_id {
            validate_session_id(id)?;
        }
        if let Some(key) = &session_key {
            validate_session_key(key)?;
        }
        Ok(Self {
            session_id,
            session_key,
        })
    }
}

/// Adds `x-hermes-session-id` (and the echoed key) to response metadata.
pub fn echo_session(metadata: &mut MetadataMap, session_id: &str, session_key: Option<&str>) {
    if let Ok(value) = MetadataValue::try_from(session_id) {
        metadata.insert("x-hermes-session-id", value);
    }
    if let Some(key) = session_key
        && let Ok(value) = MetadataValue::try_from(key)
    {
        metadata.insert("x-hermes-session-key", value);
    }
}
