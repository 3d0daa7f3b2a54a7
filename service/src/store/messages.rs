//! The `messages` table and the session counters that move with it: [`MessageRecord`] /
//! [`NewMessage`], appending (one transaction with the counter bump), token usage, paginated
//! listing, and a turn's two folded writes (input with get-or-create of the session; final answer
//! with usage). Session rows themselves live in `sessions.rs`.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

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
        bump_session(&mut tx, session_id, 1, message.tool_call_len(), ts, (0, 0)).await?;
        let id = insert_message(&mut tx, session_id, &message, ts).await?;
        tx.commit().await?;
        Ok(record(id, session_id, message, ts))
    }

    /// The first write of a turn, in one transaction: creates the session if it does not exist
    /// yet (as [`Store::ensure_session`] would, with `origin`), appends the turn's input messages
    /// in order and bumps the counters. Concurrent callers and replicas are safe: the session
    /// row is an upsert.
    pub async fn append_turn_input(
        &self,
        session_id: &str,
        origin: SessionOrigin<'_>,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let ts = now();
        let count = i64::try_from(messages.len()).unwrap_or(i64::MAX);
        let tool_calls: i64 = messages.iter().map(NewMessage::tool_call_len).sum();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO sessions (id, source, model, session_key, started_at, last_active, \
             message_count, tool_call_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET \
             message_count = sessions.message_count + excluded.message_count, \
             tool_call_count = sessions.tool_call_count + excluded.tool_call_count, \
             last_active = excluded.last_active",
        )
        .bind(session_id)
        .bind(origin.source)
        .bind(origin.model)
        .bind(origin.session_key)
        .bind(ts)
        .bind(ts)
        .bind(count)
        .bind(tool_calls)
        .execute(&mut *tx)
        .await?;
        let mut ids = Vec::with_capacity(messages.len());
        for message in &messages {
            ids.push(insert_message(&mut tx, session_id, message, ts).await?);
        }
        tx.commit().await?;
        Ok(ids
            .into_iter()
            .zip(messages)
            .map(|(id, message)| record(id, session_id, message, ts))
            .collect())
    }

    /// The last write of a turn, in one transaction: its final message (if any) and the token
    /// usage of the whole turn, so a stored answer always comes with its usage. Unknown session
    /// → `NotFound`.
    pub async fn append_turn_output(
        &self,
        session_id: &str,
        message: Option<NewMessage>,
        input_tokens: i64,
        output_tokens: i64,
    ) -> Result<Option<MessageRecord>, StoreError> {
        let Some(message) = message else {
            self.add_usage(session_id, input_tokens, output_tokens)
                .await?;
            return Ok(None);
        };
        let ts = now();
        let usage = (input_tokens, output_tokens);
        let mut tx = self.begin_write().await?;
        bump_session(&mut tx, session_id, 1, message.tool_call_len(), ts, usage).await?;
        let id = insert_message(&mut tx, session_id, &message, ts).await?;
        tx.commit().await?;
        Ok(Some(record(id, session_id, message, ts)))
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

/// How a turn's first write creates its session when it does not exist yet.
#[derive(Debug, Clone, Copy)]
pub struct SessionOrigin<'a> {
    /// Who creates it (`api_server`).
    pub source: &'a str,
    pub session_key: Option<&'a str>,
    pub model: Option<&'a str>,
}

/// Bumps the session's counters (`messages` appended, `tool_calls` among them, token `usage`)
/// and `last_active`; unknown session → `NotFound`.
async fn bump_session(
    tx: &mut Transaction<'static, Any>,
    session_id: &str,
    messages: i64,
    tool_calls: i64,
    ts: f64,
    (input_tokens, output_tokens): (i64, i64),
) -> Result<(), StoreError> {
    let bumped = sqlx::query(
        "UPDATE sessions SET message_count = message_count + $2, \
         tool_call_count = tool_call_count + $3, last_active = $4, \
         input_tokens = input_tokens + $5, output_tokens = output_tokens + $6 WHERE id = $1",
    )
    .bind(session_id)
    .bind(messages)
    .bind(tool_calls)
    .bind(ts)
    .bind(input_tokens)
    .bind(output_tokens)
    .execute(&mut **tx)
    .await?;
    if bumped.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Inserts one message row; returns its id.
async fn insert_message(
    tx: &mut Transaction<'static, Any>,
    session_id: &str,
    message: &NewMessage,
    ts: f64,
) -> Result<i64, StoreError> {
    let tool_calls_json = message.tool_calls.as_ref().map(Value::to_string);
    let content = message.content.as_deref().map(storable);
    let tool_call_id = message.tool_call_id.as_deref().map(storable);
    let tool_name = message.tool_name.as_deref().map(storable);
    let row = sqlx::query(
        "INSERT INTO messages (session_id, role, content, tool_call_id, tool_calls, \
         tool_name, timestamp, token_count, finish_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(session_id)
    .bind(&message.role)
    .bind(content.as_deref())
    .bind(tool_call_id.as_deref())
    .bind(tool_calls_json)
    .bind(tool_name.as_deref())
    .bind(ts)
    .bind(message.token_count)
    .bind(&message.finish_reason)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

/// `text` as every backend can store it: PostgreSQL refuses NUL in text columns, and NUL does
/// reach messages from the agent itself (a tool printing a binary file, a model emitting
/// `\u0000`). Each NUL becomes U+FFFD, the Unicode replacement character, on both backends so
/// stored history reads the same everywhere; text without NUL is not copied.
fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        std::borrow::Cow::Owned(text.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The stored form of `message`.
fn record(id: i64, session_id: &str, message: NewMessage, ts: f64) -> MessageRecord {
    MessageRecord {
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
