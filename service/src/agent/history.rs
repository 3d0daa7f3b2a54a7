//! Sessions as the agent sees them: validation of the session headers, the derived session id of
//! header-less chat completions, and conversion between stored rows and wire messages.

use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::llm::{Message, MessageContent, Role, ToolCall};
use crate::store::{MessageRecord, NewMessage};

/// Longest accepted session id / session key.
pub const MAX_SESSION_HEADER: usize = 256;

/// `X-Hermes-Session-Id` rules: ≤ 256 chars; no CR, LF, NUL, `..`, `/` or `\` (it names a
/// workspace folder).
pub fn validate_session_id(id: &str) -> Result<(), Error> {
    let bad = id.is_empty()
        || id.chars().count() > MAX_SESSION_HEADER
        || id.contains(['\r', '\n', '\0', '/', '\\'])
        || id.contains("..");
    if bad {
        return Err(Error::invalid_param(
            "invalid_session_id",
            "Invalid session id: 1 to 256 characters, without CR, LF, NUL, '..', '/' or '\\'",
            "X-Hermes-Session-Id",
        ));
    }
    Ok(())
}

/// `X-Hermes-Session-Key` rules: ≤ 256 chars; no CR, LF or NUL.
pub fn validate_session_key(key: &str) -> Result<(), Error> {
    if key.chars().count() > MAX_SESSION_HEADER || key.contains(['\r', '\n', '\0']) {
        return Err(Error::invalid_param(
            "invalid_session_key",
            "Invalid session key: at most 256 characters, without CR, LF or NUL",
            "X-Hermes-Session-Key",
        ));
    }
    Ok(())
}

/// `api-` + 16 hex of SHA-256 over the system prompt, a newline and the first user message: the
/// same conversation opened twice lands in the same session.
pub fn derived_session_id(system_text: &str, first_user_message: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(system_text.as_bytes());
    hasher.update(b"\n");
    hasher.update(first_user_message.as_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("api-{}", &digest[..16])
}

/// A stored row as a wire message for the upstream; system rows are not history (the session's
/// system prompt is layered separately).
pub fn record_to_message(record: &MessageRecord) -> Option<Message> {
    let content = record.content.clone().map(MessageContent::Text);
    let message = match record.role.as_str() {
        "user" => Message {
            role: Role::User,
            content,
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        },
        "assistant" => {
            let tool_calls: Vec<ToolCall> = record
                .tool_calls
                .clone()
                .and_then(|value| serde_json::from_value(value).ok())
                .unwrap_or_default();
            Message {
                role: Role::Assistant,
                content,
                name: None,
                tool_calls,
                tool_call_id: None,
            }
        }
        "tool" => Message {
            role: Role::Tool,
            content: Some(content.unwrap_or_else(|| MessageContent::Text(String::new()))),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: record.tool_call_id.clone(),
        },
        _ => return None,
    };
    Some(message)
}

/// A wire message as a row to store (`tool_name` for tool results, `finish_reason` for answers).
pub fn message_to_record(
    message: &Message,
    tool_name: Option<&str>,
    finish_reason: Option<&str>,
) -> NewMessage {
    let role = match message.role {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    NewMessage {
        role: role.to_owned(),
        content: message.content.as_ref().map(MessageContent::text),
        tool_call_id: message.tool_call_id.clone(),
        tool_calls: (!message.tool_calls.is_empty())
            .then(|| serde_json::to_value(&message.tool_calls).ok())
            .flatten(),
        tool_name: tool_name.map(str::to_owned),
        token_count: None,
        finish_reason: finish_reason.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_rules() {
        assert!(validate_session_id("api_1234abcd").is_ok());
        for bad in [
            "",
            "a/b",
            "a\\b",
            "..",
            "a\nb",
            "a\rb",
            "a\0b",
            &"x".repeat(257),
        ] {
            assert!(validate_session_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_session_id(&"x".repeat(256)).is_ok());
    }

    #[test]
    fn session_key_rules() {
        assert!(validate_session_key("tu-session-key:formulario:contacto").is_ok());
        assert!(validate_session_key("a\r\nb").is_err());
        assert!(validate_session_key(&"k".repeat(257)).is_err());
    }

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let a = derived_session_id("sys", "hello");
        assert_eq!(a, derived_session_id("sys", "hello"));
        assert_ne!(a, derived_session_id("sys", "hello!"));
        assert!(a.starts_with("api-"));
        assert_eq!(a.len(), 4 + 16);
    }

    #[test]
    fn assistant_rows_round_trip_tool_calls() {
        let message = Message::assistant_tool_calls(
            "",
            vec![ToolCall::function(
                "call_1",
                "terminal",
                r#"{"command":"ls"}"#,
            )],
        );
        let row = message_to_record(&message, None, None);
        let record = MessageRecord {
            id: 1,
            session_id: "s".into(),
            role: row.role,
            content: row.content,
            tool_call_id: None,
            tool_calls: row.tool_calls,
            tool_name: None,
            timestamp: 0.0,
            token_count: None,
            finish_reason: None,
        };
        let back = record_to_message(&record).unwrap();
        assert_eq!(back.tool_calls, message.tool_calls);
    }
}
