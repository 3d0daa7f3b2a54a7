//! The `sessions` table: [`SessionRecord`] / [`NewSession`] and the session operations on
//! [`Store`] — create, get, list, update, delete, get-or-create. Forking is in `fork.rs`, message
//! rows and counters in `messages.rs`; request validation (id format, title length) belongs to
//! the API layer.

use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use sqlx::{Any, Executor, Row};

use super::{Store, StoreError, now};

/// The session columns plus a `preview` (first user message, whitespace-flattened, 60 chars).
macro_rules! select_sessions {
    () => {
        "SELECT s.id, s.source, s.title, s.model, s.system_prompt, s.session_key, s.started_at, \
         s.ended_at, s.end_reason, s.parent_session_id, s.last_active, s.message_count, \
         s.tool_call_count, s.input_tokens, s.output_tokens, \
         (SELECT substr(m.content, 1, 60) FROM messages m WHERE m.session_id = s.id \
          AND m.role = 'user' AND m.content IS NOT NULL ORDER BY m.id LIMIT 1) AS preview \
         FROM sessions s"
    };
}

/// One stored conversation, as the sessions API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: String,
    /// Who created it (`api_server` for this API).
    pub source: String,
    pub title: Option<String>,
    pub model: Option<String>,
    /// Layered on top of the agent prompt on every turn of this session.
    pub system_prompt: Option<String>,
    /// Routing key of the client that owns the session, if any.
    pub session_key: Option<String>,
    /// Float Unix seconds.
    pub started_at: f64,
    pub ended_at: Option<f64>,
    pub end_reason: Option<String>,
    /// Set on forks: the session they were branched from.
    pub parent_session_id: Option<String>,
    /// Float Unix seconds of the last appended message (creation time before that).
    pub last_active: f64,
    pub message_count: i64,
    pub tool_call_count: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// First user message, newlines flattened, at most 60 characters.
    pub preview: Option<String>,
    pub has_system_prompt: bool,
}

/// What a caller chooses when creating a session; times and counters are set by the store.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub id: String,
    pub source: String,
    pub title: Option<String>,
    pub model: Option<String>,
    pub system_prompt: Option<String>,
    pub session_key: Option<String>,
    pub parent_session_id: Option<String>,
}

impl Store {
    /// Inserts a session. Duplicate id → `Conflict("session_exists")`; a title another session
    /// already has → `Conflict("title_taken")`.
    pub async fn create_session(&self, new: NewSession) -> Result<SessionRecord, StoreError> {
        let ts = now();
        sqlx::query(
            "INSERT INTO sessions (id, source, title, model, system_prompt, session_key, \
             started_at, parent_session_id, last_active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&new.id)
        .bind(&new.source)
        .bind(&new.title)
        .bind(&new.model)
        .bind(&new.system_prompt)
        .bind(&new.session_key)
        .bind(ts)
        .bind(&new.parent_session_id)
        .bind(ts)
        .execute(&self.pool)
        .await
        .map_err(unique_to_conflict)?;
        fetch_session(&self.pool, &new.id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// The session, or `None` if it does not exist.
    pub async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        fetch_session(&self.pool, id).await
    }

    /// A page of sessions, most recent activity first, and whether more exist after it. Forks
    /// (sessions with a parent) are left out unless `include_children`.
    pub async fn list_sessions(
        &self,
        limit: i64,
        offset: i64,
        source: Option<&str>,
        include_children: bool,
    ) -> Result<(Vec<SessionRecord>, bool), StoreError> {
        let limit = limit.max(0);
        let rows = sqlx::query(concat!(
            select_sessions!(),
            " WHERE ($1 IS NULL OR s.source = $1) AND ($2 = 1 OR s.parent_session_id IS NULL) \
             ORDER BY s.last_active DESC, s.id DESC LIMIT $3 OFFSET $4"
        ))
        .bind(source)
        .bind(i64::from(include_children))
        .bind(limit + 1)
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        let mut sessions = rows
            .iter()
            .map(session_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let has_more = sessions.len() as i64 > limit;
        sessions.truncate(limit as usize);
        Ok((sessions, has_more))
    }

    /// Changes the title and/or the end reason (`Some(None)` clears). Setting an end reason also
    /// sets `ended_at` to now; clearing it clears `ended_at`. `None` if the session does not
    /// exist; a title in use elsewhere → `Conflict("title_taken")`.
    pub async fn update_session(
        &self,
        id: &str,
        title: Option<Option<String>>,
        end_reason: Option<Option<String>>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let mut tx = self.begin_write().await?;
        if let Some(title) = title {
            let done = sqlx::query("UPDATE sessions SET title = $2 WHERE id = $1")
                .bind(id)
                .bind(title)
                .execute(&mut *tx)
                .await
                .map_err(unique_to_conflict)?;
            if done.rows_affected() == 0 {
                return Ok(None);
            }
        }
        if let Some(reason) = end_reason {
            // Clearing has its own statement: under `Any` a NULL bind carries no type, so
            // PostgreSQL would cache this SQL with an untyped `$3` on the connection and then
            // refuse the float of the next call (SQLSTATE 22P03, a 500).
            let query = match reason {
                Some(reason) => {
                    sqlx::query("UPDATE sessions SET end_reason = $2, ended_at = $3 WHERE id = $1")
                        .bind(id)
                        .bind(reason)
                        .bind(now())
                }
                None => sqlx::query(
                    "UPDATE sessions SET end_reason = NULL, ended_at = NULL WHERE id = $1",
                )
                .bind(id),
            };
            query.execute(&mut *tx).await?;
        }
        let record = fetch_session(&mut *tx, id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes the session and its messages (explicitly, not relying on SQLite FK enforcement).
    /// `false` if it did not exist.
    pub async fn delete_session(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM messages WHERE session_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Gets the session, creating it first if it does not exist. Safe against concurrent callers
    /// (and replicas): the insert is `ON CONFLICT DO NOTHING`, then the row is read back.
    pub async fn ensure_session(
        &self,
        id: &str,
        source: &str,
        session_key: Option<&str>,
        model: Option<&str>,
    ) -> Result<SessionRecord, StoreError> {
        let ts = now();
        sqlx::query(
            "INSERT INTO sessions (id, source, model, session_key, started_at, last_active) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(source)
        .bind(model)
        .bind(session_key)
        .bind(ts)
        .bind(ts)
        .execute(&self.pool)
        .await?;
        fetch_session(&self.pool, id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Whether another session (not `except_id`) already has this title.
    pub async fn title_in_use(
        &self,
        title: &str,
        except_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT id FROM sessions WHERE title = $1 AND ($2 IS NULL OR id <> $2)")
                .bind(title)
                .bind(except_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.is_some())
    }
}

/// Maps a uniqueness violation on `sessions` to the API's conflict code.
pub(super) fn unique_to_conflict(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err
        && db.kind() == ErrorKind::UniqueViolation
    {
        let what = db.constraint().unwrap_or(db.message());
        let code = if what.contains("title") {
            "title_taken"
        } else {
            "session_exists"
        };
        return StoreError::Conflict(code.to_owned());
    }
    err.into()
}

/// Reads one session with any executor (pool, connection or transaction).
pub(super) async fn fetch_session<'e, E>(
    executor: E,
    id: &str,
) -> Result<Option<SessionRecord>, StoreError>
where
    E: Executor<'e, Database = Any>,
{
    let row = sqlx::query(concat!(select_sessions!(), " WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(row.as_ref().map(session_from_row).transpose()?)
}

fn session_from_row(row: &AnyRow) -> Result<SessionRecord, sqlx::Error> {
    let system_prompt: Option<String> = row.try_get("system_prompt")?;
    let preview: Option<String> = row.try_get("preview")?;
    Ok(SessionRecord {
        id: row.try_get("id")?,
        source: row.try_get("source")?,
        title: row.try_get("title")?,
        model: row.try_get("model")?,
        has_system_prompt: system_prompt
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty()),
        system_prompt,
        session_key: row.try_get("session_key")?,
        started_at: row.try_get("started_at")?,
        ended_at: row.try_get("ended_at")?,
        end_reason: row.try_get("end_reason")?,
        parent_session_id: row.try_get("parent_session_id")?,
        last_active: row.try_get("last_active")?,
        message_count: row.try_get("message_count")?,
        tool_call_count: row.try_get("tool_call_count")?,
        input_tokens: row.try_get("input_tokens")?,
        output_tokens: row.try_get("output_tokens")?,
        preview: preview.map(|p| p.replace(['\r', '\n', '\t'], " ").trim().to_owned()),
    })
}
