//! Sessions API rules and conversions: page bounds, id and title rules, the generated session id,
//! and stored rows (`SessionRecord`, `MessageRecord`) → `caduceus.v1` messages. No store access
//! and no RPC plumbing here (that is `mod.rs`), nothing about agent turns (`chat.rs`).

use caduceus_proto::v1::{FunctionCall, Session, SessionMessage, ToolCall, Usage};

use crate::agent::validate_session_id;
use crate::error::Error;
use crate::llm;
use crate::store::{MessageRecord, SessionRecord, StoreError};

/// Page size of `ListSessions` when the client gives none.
pub const DEFAULT_LIST_LIMIT: i32 = 50;
/// Largest page of `ListSessions`.
pub const MAX_LIST_LIMIT: i32 = 200;
/// Longest session title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// `source` of sessions created through this API.
pub const SOURCE_API_SERVER: &str = "api_server";

/// The 404 of every route that names a session that does not exist.
pub fn session_not_found(id: &str) -> Error {
    Error::not_found("session_not_found", format!("Session '{id}' not found"))
}

/// A store error about session `id`, with `NotFound` as the API's `session_not_found`.
pub fn store_error(id: &str, error: StoreError) -> Error {
    match error {
        StoreError::NotFound => session_not_found(id),
        other => other.into(),
    }
}

/// `limit` of `ListSessions`: default 50, else 1–200.
pub fn list_limit(limit: Option<i32>) -> Result<i32, Error> {
    match limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(limit) if (1..=MAX_LIST_LIMIT).contains(&limit) => Ok(limit),
        Some(limit) => Err(Error::invalid_param(
            "invalid_request",
            format!("'limit' must be between 1 and {MAX_LIST_LIMIT}, got {limit}"),
            "limit",
        )),
    }
}

/// `offset` of `ListSessions`: default 0, never negative.
pub fn list_offset(offset: Option<i32>) -> Result<i32, Error> {
    match offset {
        None => Ok(0),
        Some(offset) if offset >= 0 => Ok(offset),
        Some(offset) => Err(Error::invalid_param(
            "invalid_request",
            format!("'offset' must be 0 or more, got {offset}"),
            "offset",
        )),
    }
}

/// `limit` of `ListSessionMessages`: unset means every message, else at least 1.
pub fn message_limit(limit: Option<i32>) -> Result<Option<i64>, Error> {
    match limit {
        None => Ok(None),
        Some(limit) if limit >= 1 => Ok(Some(i64::from(limit))),
        Some(limit) => Err(Error::invalid_param(
            "invalid_request",
            format!("'limit' must be 1 or more, got {limit}"),
            "limit",
        )),
    }
}

/// `after_id` of `ListSessionMessages`: a message id cursor, never negative.
pub fn message_cursor(after_id: Option<i64>) -> Result<Option<i64>, Error> {
    match after_id {
        Some(after) if after < 0 => Err(Error::invalid_param(
            "invalid_request",
            format!("'after_id' must be 0 or more, got {after}"),
            "after_id",
        )),
        other => Ok(other),
    }
}

/// A client-chosen session id, checked with the `X-Hermes-Session-Id` rules (it names a
/// workspace folder) but reported against the body field `param`.
pub fn checked_id(id: &str, param: &str) -> Result<(), Error> {
    validate_session_id(id).map_err(|error| match error {
        Error::InvalidArgument { code, message, .. } => Error::InvalidArgument {
            code,
            message,
            param: Some(param.to_owned()),
        },
        other => other,
    })
}

/// The id of a new session: the client's (validated) or a generated one when unset or empty.
pub fn new_session_id(requested: Option<String>, param: &str) -> Result<String, Error> {
    match requested.filter(|id| !id.is_empty()) {
        Some(id) => {
            checked_id(&id, param)?;
            Ok(id)
        }
        None => Ok(generated_id()),
    }
}

/// `api_<unix seconds>_<8 hex>`.
pub fn generated_id() -> String {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    format!("api_{unix}_{:08x}", rand::random::<u32>())
}

/// A title from the client: trimmed; empty means none; more than 100 characters → 400
/// `invalid_title`. Uniqueness is the store's (a clash also answers `invalid_title`).
pub fn checked_title(title: Option<String>) -> Result<Option<String>, Error> {
    let Some(title) = title else {
        return Ok(None);
    };
    let title = title.trim();
    if title.is_empty() {
        return Ok(None);
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(Error::invalid_param(
            "invalid_title",
            format!("A session title has at most {MAX_TITLE_CHARS} characters"),
            "title",
        ));
    }
    crate::grpc::validate::stored_text(title, "invalid_title", "title")?;
    Ok(Some(title.to_owned()))
}

/// A stored session as the API shows it.
pub fn session_to_proto(record: SessionRecord) -> Session {
    Session {
        id: record.id,
        source: record.source,
        title: record.title,
        model: record.model,
        started_at: record.started_at,
        ended_at: record.ended_at,
        end_reason: record.end_reason,
        message_count: record.message_count,
        tool_call_count: record.tool_call_count,
        input_tokens: record.input_tokens,
        output_tokens: record.output_tokens,
        parent_session_id: record.parent_session_id,
        has_system_prompt: record.has_system_prompt,
        last_active: record.last_active,
        preview: record.preview,
    }
}

/// A stored message as the API shows it; stored tool calls become OpenAI-shaped calls (rows that
/// do not parse as calls show none rather than failing the page).
pub fn message_to_proto(record: MessageRecord) -> SessionMessage {
    let tool_calls: Vec<llm::ToolCall> = record
        .tool_calls
        .and_then(|value| serde_json::from_value(value).ok())
        .unwrap_or_default();
    SessionMessage {
        id: record.id,
        session_id: record.session_id,
        role: record.role,
        content: record.content,
        tool_call_id: record.tool_call_id,
        tool_calls: tool_calls
            .into_iter()
            .map(|call| ToolCall {
                id: call.id,
                r#type: call.kind,
                function: Some(FunctionCall {
                    name: call.function.name,
                    arguments: call.function.arguments,
                }),
            })
            .collect(),
        tool_name: record.tool_name,
        timestamp: record.timestamp,
        token_count: record.token_count,
        finish_reason: record.finish_reason,
    }
}

/// The agent's usage in the sessions API's words.
pub fn usage_to_proto(usage: llm::Usage) -> Usage {
    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Usage {
        input_tokens: tokens(usage.prompt_tokens),
        output_tokens: tokens(usage.completion_tokens),
        total_tokens: tokens(usage.total_tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code_and_param(error: Error) -> (&'static str, Option<String>) {
        match error {
            Error::InvalidArgument { code, param, .. } => (code, param),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn list_bounds() {
        assert_eq!(list_limit(None).unwrap(), 50);
        assert_eq!(list_limit(Some(1)).unwrap(), 1);
        assert_eq!(list_limit(Some(200)).unwrap(), 200);
        for bad in [0, -1, 201] {
            let (code, param) = code_and_param(list_limit(Some(bad)).unwrap_err());
            assert_eq!((code, param.as_deref()), ("invalid_request", Some("limit")));
        }
        assert_eq!(list_offset(None).unwrap(), 0);
        assert_eq!(list_offset(Some(7)).unwrap(), 7);
        let (code, param) = code_and_param(list_offset(Some(-1)).unwrap_err());
        assert_eq!(
            (code, param.as_deref()),
            ("invalid_request", Some("offset"))
        );
    }

    #[test]
    fn message_page_bounds() {
        assert_eq!(message_limit(None).unwrap(), None);
        assert_eq!(message_limit(Some(3)).unwrap(), Some(3));
        assert!(message_limit(Some(0)).is_err());
        assert_eq!(message_cursor(Some(0)).unwrap(), Some(0));
        let (_, param) = code_and_param(message_cursor(Some(-5)).unwrap_err());
        assert_eq!(param.as_deref(), Some("after_id"));
    }

    #[test]
    fn generated_ids_have_the_documented_shape() {
        let id = generated_id();
        let parts: Vec<&str> = id.split('_').collect();
        assert_eq!(parts.len(), 3, "{id}");
        assert_eq!(parts[0], "api");
        assert!(parts[1].parse::<u64>().is_ok(), "{id}");
        assert_eq!(parts[2].len(), 8);
        assert!(parts[2].chars().all(|c| c.is_ascii_hexdigit()), "{id}");
        assert_ne!(generated_id(), generated_id());
    }

    #[test]
    fn chosen_ids_follow_the_header_rules_and_name_the_field() {
        assert_eq!(
            new_session_id(Some("api_1234abcd".into()), "id").unwrap(),
            "api_1234abcd"
        );
        assert!(new_session_id(None, "id").unwrap().starts_with("api_"));
        assert!(new_session_id(Some(String::new()), "id").is_ok());
        for bad in ["a/b", "..", "a\nb", &"x".repeat(257)] {
            let error = new_session_id(Some(bad.to_owned()), "id").unwrap_err();
            let (code, param) = code_and_param(error);
            assert_eq!((code, param.as_deref()), ("invalid_session_id", Some("id")));
        }
    }

    #[test]
    fn title_rules() {
        assert_eq!(checked_title(None).unwrap(), None);
        assert_eq!(checked_title(Some("  ".into())).unwrap(), None);
        assert_eq!(
            checked_title(Some(" Plan ".into())).unwrap().as_deref(),
            Some("Plan")
        );
        assert!(checked_title(Some("é".repeat(100))).is_ok());
        let (code, param) = code_and_param(checked_title(Some("x".repeat(101))).unwrap_err());
        assert_eq!((code, param.as_deref()), ("invalid_title", Some("title")));
    }

    #[test]
    fn stored_tool_calls_become_openai_calls() {
        let record = MessageRecord {
            id: 4,
            session_id: "s".into(),
            role: "assistant".into(),
            content: None,
            tool_call_id: None,
            tool_calls: Some(serde_json::json!([{
                "id": "call_1", "type": "function",
                "function": {"name": "terminal", "arguments": "{\"command\":\"ls\"}"}
            }])),
            tool_name: None,
            timestamp: 1.5,
            token_count: None,
            finish_reason: Some("tool_calls".into()),
        };
        let message = message_to_proto(record.clone());
        assert_eq!(message.tool_calls.len(), 1);
        assert_eq!(message.tool_calls[0].id, "call_1");
        let function = message.tool_calls[0].function.clone().unwrap();
        assert_eq!(function.name, "terminal");
        let garbled = MessageRecord {
            tool_calls: Some(serde_json::json!("not calls")),
            ..record
        };
        assert!(message_to_proto(garbled).tool_calls.is_empty());
    }

    #[test]
    fn not_found_is_the_session_code() {
        let error = store_error("x", StoreError::NotFound);
        assert!(matches!(
            error,
            Error::NotFound {
                code: "session_not_found",
                ..
            }
        ));
    }
}
