//! The `messages` table and the session counters that move with it: [`MessageRecord`] /
//! [`NewMessage`], appending (one transaction with the counter bump), token usage, and paginated
//! listing. Session rows themselves live in `sessions.rs`.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};

/// One stored chat message of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// Monotonic per database; the pagination cursor (`after_id`).
    pub id: i64,
    pub session_id: String,
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    pub content: Option<String>,
    /// For `tool` messages: the call this result answers.
    pub tool_call_id: Option<String>,
    /// For assistant messages: the OpenAI-shaped `tool_calls` array (stored as JSON text).
    pub tool_calls: Option<Value>,
    pub tool_name: Option<String>,
    /// Float Unix seconds.
    pub timestamp: f64,
    pub token_count: Option<i64>,
    pub finish_reason: Option<String>,
}

/// A message to append; id and timestamp are assigned by the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMessage {
    pub role: String,
    pub content: Option<String>,
    pub tool_call_id: Option<String>,
    pub tool_calls: Option<Value>,
    pub tool_name: Option<String>,
    pub token_count: Option<i64>,
    pub finish_reason: Option<String>,
}

impl NewMessage {
    /// A plain text message with the given role.
    pub fn text(role: &str, content: impl Into<String>) -> NewMessage {
        NewMessage {
            role: role.to_owned(),
            content: Some(content.into()),
            ..Default::default()
        }
    }

    /// How many tool calls this message carries (length of the `tool_calls` array).
    pub fn tool_call_len(&self) -> i64 {
        match &self.tool_calls {
            Some(Value::Array(calls)) => i64::try_from(calls.len()).unwrap_or(i64::MAX),
            _ => 0,
        }
    }
}

macro_rules! select_messages {
    () => {
        "SELECT id, session_id, role, content, tool_call_id, tool_calls, tool_name, timestamp, \
         token_count, finish_reason FROM messages WHERE session_id = $1 AND id > $2 ORDER BY id"
    };
}

impl Store {
    /// Appends a message and, in the same transaction, bumps the session's `message_count`,
    /// `tool_call_count` (by the number of tool calls) and `last_active`. Unknown session →
    /// `NotFound`.
    pub async fn append_message(
        &self,
        session_id: &str,
        message: NewMessage,
    ) -> Result<MessageRecord, StoreError> {
        let ts = now();
        let mut tx = self.begin_write().await?;
        let bumped = sqlx::query(
            "UPDATE sessions SET message_count = message_count + 1, \
             tool_call_count = tool_call_count + $2, last_active = $3 WHERE id = $1",
        )
        .bind(session_id)
        .bind(message.tool_call_len())
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        if bumped.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let tool_calls_json = message.tool_calls.as_ref().map(Value::to_string);
        let row = sqlx::query(
            "INSERT INTO messages (session_id, role, content, tool_call_id, tool_calls, \
             tool_name, timestamp, token_count, finish_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(session_id)
        .bind(&message.role)
        .bind(&message.content)
        .bind(&message.tool_call_id)
        .bind(tool_calls_json)
        .bind(&message.tool_name)
        .bind(ts)
        .bind(message.token_count)
        .bind(&message.finish_reason)
        .fetch_one(&mut *tx)
        .await?;
        let id: i64 = row.try_get(0)?;
        tx.commit().await?;
        Ok(MessageRecord {
            id,
            session_id: session_id.to_owned(),
            role: message.role,
            content: message.content,
            tool_call_id: message.tool_call_id,
            tool_calls: message.tool_calls,
            tool_name: message.tool_name,
            timestamp: ts,
            token_count: message.token_count,
            finish_reason: message.finish_reason,
        })
    }

    /// Adds token usage of a turn to the session's totals. Unknown session → `NotFound`.
    pub async fn add_usage(
        &self,
        session_id: &str,
        input_tokens: i64,
        output_tokens: i64,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET input_tokens = input_tokens + $2, \
             output_tokens = output_tokens + $3 WHERE id = $1",
        )
        .bind(session_id)
        .bind(input_tokens)
        .bind(output_tokens)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Messages in order, those with `id > after_id`, at most `limit` (all when `None`), and
    /// whether more follow. An unknown session simply has no messages; callers that must tell
    /// the difference check `get_session` first.
    pub async fn list_messages(
        &self,
        session_id: &str,
        limit: Option<i64>,
        after_id: Option<i64>,
    ) -> Result<(Vec<MessageRecord>, bool), StoreError> {
        let after = after_id.unwrap_or(0);
        let rows = match limit {
            Some(limit) => {
                sqlx::query(concat!(select_messages!(), " LIMIT $3"))
                    .bind(session_id)
                    .bind(after)
                    .bind(limit.max(0) + 1)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(select_messages!())
                    .bind(session_id)
                    .bind(after)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        let mut messages = rows
            .iter()
            .map(message_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = match limit {
            Some(limit) => {
                let limit = usize::try_from(limit.max(0)).unwrap_or(usize::MAX);
                let more = messages.len() > limit;
                messages.truncate(limit);
                more
            }
            None => false,
        };
        Ok((messages, has_more))
    }
}

fn message_from_row(row: &AnyRow) -> Result<MessageRecord, sqlx::Error> {
    let tool_calls: Option<String> = row.try_get("tool_calls")?;
    Ok(MessageRecord {
        id: row.try_get("id")?,
        session_id: row.try_get("session_id")?,
        role: row.try_get("role")?,
        content: row.try_get("content")?,
        tool_call_id: row.try_get("tool_call_id")?,
        // Written by us as JSON; tolerate hand-edited rows by keeping the raw text.
        tool_calls: tool_calls
            .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        tool_name: row.try_get("tool_name")?,
        timestamp: row.try_get("timestamp")?,
        token_count: row.try_get("token_count")?,
        finish_reason: row.try_get("finish_reason")?,
    })
}
