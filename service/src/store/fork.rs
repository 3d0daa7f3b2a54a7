//! Forking (branching) a session: copying it and all its messages under a new id in one
//! transaction, ending the source with `end_reason = "branched"`, and choosing the default fork
//! title. Plain session CRUD lives in `sessions.rs`.

use std::collections::HashSet;

use sqlx::{AnyConnection, Row};

use super::sessions::{SessionRecord, fetch_session, unique_to_conflict};
use super::{Store, StoreError, now};

/// Title given to forks of untitled sessions.
const UNTITLED_FORK: &str = "fork";
/// `end_reason` set on a session that was forked.
pub const END_REASON_BRANCHED: &str = "branched";

impl Store {
    /// Branches a session: a new session `new_id` with the same source, model and system prompt,
    /// every message copied in order, `parent_session_id` = the source; the source is ended with
    /// `end_reason = "branched"`. All in one transaction. Without a `title` the fork is named
    /// `"<title> #N"` (lowest free N ≥ 2, any `" #N"` suffix of the source title stripped first),
    /// or `"fork"`, `"fork #2"`… for an untitled source. Unknown source → `NotFound`.
    pub async fn fork_session(
        &self,
        source_id: &str,
        new_id: &str,
        title: Option<String>,
    ) -> Result<SessionRecord, StoreError> {
        let mut tx = self.begin_write().await?;
        let src = fetch_session(&mut *tx, source_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        let title = match title {
            Some(title) => title,
            None => next_fork_title(&mut tx, src.title.as_deref()).await?,
        };
        let ts = now();
        sqlx::query(
            "INSERT INTO sessions (id, source, title, model, system_prompt, started_at, \
             parent_session_id, last_active, tool_call_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(new_id)
        .bind(&src.source)
        .bind(&title)
        .bind(&src.model)
        .bind(&src.system_prompt)
        .bind(ts)
        .bind(&src.id)
        .bind(ts)
        .bind(src.tool_call_count)
        .execute(&mut *tx)
        .await
        .map_err(unique_to_conflict)?;
        let copied = sqlx::query(
            "INSERT INTO messages (session_id, role, content, tool_call_id, tool_calls, \
             tool_name, timestamp, token_count, finish_reason) \
             SELECT $1, role, content, tool_call_id, tool_calls, tool_name, timestamp, \
             token_count, finish_reason FROM messages WHERE session_id = $2 ORDER BY id",
        )
        .bind(new_id)
        .bind(&src.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE sessions SET message_count = $2 WHERE id = $1")
            .bind(new_id)
            .bind(i64::try_from(copied).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET end_reason = $2, ended_at = $3 WHERE id = $1")
            .bind(&src.id)
            .bind(END_REASON_BRANCHED)
            .bind(ts)
            .execute(&mut *tx)
            .await?;
        let record = fetch_session(&mut *tx, new_id)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        Ok(record)
    }
}

/// Lowest free `"<base> #N"` (N ≥ 2), or `"fork"` first for untitled sources.
async fn next_fork_title(
    conn: &mut AnyConnection,
    source_title: Option<&str>,
) -> Result<String, StoreError> {
    let (base, first) = match source_title {
        Some(title) => (strip_number_suffix(title).to_owned(), None),
        None => (UNTITLED_FORK.to_owned(), Some(UNTITLED_FORK.to_owned())),
    };
    let pattern = format!("{} #%", escape_like(&base));
    let rows =
        sqlx::query("SELECT title FROM sessions WHERE title = $1 OR title LIKE $2 ESCAPE '\\'")
            .bind(&base)
            .bind(&pattern)
            .fetch_all(&mut *conn)
            .await?;
    let taken = rows
        .iter()
        .map(|row| row.try_get::<String, _>(0))
        .collect::<Result<HashSet<_>, _>>()?;
    if let Some(first) = first
        && !taken.contains(&first)
    {
        return Ok(first);
    }
    let free = (2u64..)
        .map(|n| format!("{base} #{n}"))
        .find(|candidate| !taken.contains(candidate));
    free.ok_or_else(|| StoreError::Conflict("title_taken".to_owned()))
}

/// `"Plan #3"` → `"Plan"`; titles without a numeric `" #N"` suffix are returned unchanged.
fn strip_number_suffix(title: &str) -> &str {
    match title.rsplit_once(" #") {
        Some((base, n))
            if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => title,
    }
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_suffix_is_stripped() {
        assert_eq!(strip_number_suffix("Plan #3"), "Plan");
        assert_eq!(strip_number_suffix("Plan #x"), "Plan #x");
        assert_eq!(strip_number_suffix("Plan"), "Plan");
        assert_eq!(strip_number_suffix(" #2"), " #2");
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
