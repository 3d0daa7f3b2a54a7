//! The `run_approvals` and `approved_patterns` tables: one row per approval a run asked for
//! (pending while `choice` is NULL, resolved at most once by a compare-and-set), and the pattern
//! keys a human answered "always" for. Resolving one notifies the run's channel (PostgreSQL), so
//! the owning replica wakes at once. Choice validation and what a choice means belong to
//! `crate::runs`.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};
use crate::notify::RUN_CHANNEL;

/// One approval of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalRecord {
    /// `apr_<hex>`.
    pub id: String,
    pub run_id: String,
    pub command: String,
    pub description: String,
    pub pattern_key: String,
    /// Float Unix seconds.
    pub requested_at: f64,
    /// `None` while pending; then `once`, `session`, `always` or `deny`.
    pub choice: Option<String>,
    /// `human`, `timeout`, `stopped` or `finished`, once resolved.
    pub resolved_by: Option<String>,
}

macro_rules! select_approvals {
    () => {
        "SELECT id, run_id, command, description, pattern_key, requested_at, choice, \
         resolved_by FROM run_approvals"
    };
}

impl Store {
    /// Records a pending approval (`choice` and `resolved_by` of `record` are ignored).
    pub async fn insert_approval(&self, record: &ApprovalRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO run_approvals (id, run_id, command, description, pattern_key, \
             requested_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&record.id)
        .bind(&record.run_id)
        .bind(&record.command)
        .bind(&record.description)
        .bind(&record.pattern_key)
        .bind(record.requested_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One approval, or `None`.
    pub async fn get_approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let row = sqlx::query(concat!(select_approvals!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(approval_from_row).transpose()?)
    }

    /// The run's pending approvals, oldest first.
    pub async fn pending_approvals(&self, run_id: &str) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            select_approvals!(),
            " WHERE run_id = $1 AND choice IS NULL ORDER BY requested_at, id"
        ))
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(approval_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)
    }

    /// Resolves a pending approval and tells every replica (the run's owner is waiting on it);
    /// `false` if it was already resolved (by a human, a timeout or a stop — whoever comes first
    /// wins).
    pub async fn resolve_approval(
        &self,
        id: &str,
        choice: &str,
        resolved_by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE run_approvals SET choice = $2, resolved_by = $3, resolved_at = $4 \
             WHERE id = $1 AND choice IS NULL RETURNING run_id",
        )
        .bind(id)
        .bind(choice)
        .bind(resolved_by)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let run_id: String = row.try_get(0)?;
        self.notify_in(&mut tx, RUN_CHANNEL, &run_id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Pre-approves `pattern_key` for every later run ("always"); idempotent.
    pub async fn approve_pattern(
        &self,
        pattern_key: &str,
        run_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO approved_patterns (pattern_key, approved_at, run_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(pattern_key)
        .bind(now())
        .bind(run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every pattern key answered "always".
    pub async fn approved_patterns(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT pattern_key FROM approved_patterns ORDER BY pattern_key")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<String>, _>>()
            .map_err(StoreError::from)
    }
}

fn approval_from_row(row: &AnyRow) -> Result<ApprovalRecord, sqlx::Error> {
    Ok(ApprovalRecord {
        id: row.try_get("id")?,
        run_id: row.try_get("run_id")?,
        command: row.try_get("command")?,
        description: row.try_get("description")?,
        pattern_key: row.try_get("pattern_key")?,
        requested_at: row.try_get("requested_at")?,
        choice: row.try_get("choice")?,
        resolved_by: row.try_get("resolved_by")?,
    })
}
