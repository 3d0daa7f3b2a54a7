//! Making a stored conversation acceptable to a provider again: OpenAI-compatible upstreams
//! reject a request in which an assistant tool call is not followed by its `tool` result, and a
//! stored session can hold one when the server died (kill -9, power loss) while the tool ran.
//! Message types live in `wire.rs`; the turn loop that calls this lives in `agent/`.

use std::collections::HashSet;

use super::wire::{Message, Role};

/// The result standing in for a tool result that was never recorded.
pub const MISSING_TOOL_RESULT: &str =
    r#"{"error":"no result: the tool was interrupted (the server stopped) before it finished"}"#;

/// Answers every assistant tool call that has no `tool` result right after it with
/// [`MISSING_TOOL_RESULT`], inserted after the results that do exist; everything else is left
/// as it is.
pub fn close_dangling_tool_calls(messages: &mut Vec<Message>) {
    let mut i = 0;
    while i < messages.len() {
        if messages[i].role != Role::Assistant || messages[i].tool_calls.is_empty() {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < messages.len() && messages[end].role == Role::Tool {
            end += 1;
        }
        let answered: HashSet<&str> = messages[i + 1..end]
            .iter()
            .filter_map(|m| m.tool_call_id.as_deref())
            .collect();
        let missing: Vec<Message> = messages[i]
            .tool_calls
            .iter()
            .filter(|call| !answered.contains(call.id.as_str()))
            .map(|call| Message::tool(call.id.clone(), MISSING_TOOL_RESULT))
            .collect();
        let added = missing.len();
        messages.splice(end..end, missing);
        i = end + added;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::ToolCall;

    fn calls(ids: &[&str]) -> Message {
        let calls = ids
            .iter()
            .map(|id| ToolCall::function(*id, "terminal", "{}"))
            .collect();
        Message::assistant_tool_calls("", calls)
    }

    #[test]
    fn dangling_calls_get_a_placeholder_result_in_place() {
        let mut messages = vec![
            Message::user("go"),
            calls(&["a", "b"]),
            Message::tool("a", "done"),
            Message::user("again"),
            calls(&["c"]),
        ];
        close_dangling_tool_calls(&mut messages);
        let shape: Vec<(Role, Option<&str>)> = messages
            .iter()
            .map(|m| (m.role, m.tool_call_id.as_deref()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (Role::User, None),
                (Role::Assistant, None),
                (Role::Tool, Some("a")),
                (Role::Tool, Some("b")),
                (Role::User, None),
                (Role::Assistant, None),
                (Role::Tool, Some("c")),
            ]
        );
        assert_eq!(messages[3].text().as_deref(), Some(MISSING_TOOL_RESULT));
    }

    #[test]
    fn complete_conversations_are_untouched() {
        let mut messages = vec![
            Message::user("go"),
            calls(&["a"]),
            Message::tool("a", "done"),
            Message::assistant("ok"),
        ];
        let before = messages.clone();
        close_dangling_tool_calls(&mut messages);
        assert_eq!(messages, before);
    }
}
