//! The `responses` and `response_events` tables: stored Responses API objects (opaque encoded
//! payloads plus the columns queries need), their stream events for replay, least-recently-used
//! eviction, and the one read of `messages` the responses core needs (the last message id of a
//! session). What the payloads mean belongs to `crate::responses`; nothing here knows protobuf.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};

/// Statuses a response may still leave; never evicted, and the only ones a cancel can change.
pub const LIVE_STATUSES: [&str; 2] = ["queued", "in_progress"];

/// One stored response row.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    pub id: String,
    pub status: String,
    pub background: bool,
    /// The session the turn's messages are stored under.
    pub session_id: String,
    /// Client-chosen conversation name, if any.
    pub conversation: Option<String>,
    pub previous_response_id: Option<String>,
    /// Float Unix seconds.
    pub created_at: f64,
    /// Float Unix seconds of the last write or runner heartbeat.
    pub updated_at: f64,
    /// The encoded response object.
    pub object: Vec<u8>,
    /// JSON array of chat messages: history plus this turn.
    pub transcript: String,
    /// The encoded input-item list.
    pub input_items: Vec<u8>,
}

/// One stored stream event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub sequence_number: i64,
    /// The event type (`response.completed`, …).
    pub kind: String,
    /// The encoded event.
    pub event: Vec<u8>,
}

/// The response columns (a macro so queries stay static strings).
macro_rules! select_response {
    () => {
        "SELECT id, status, background, session_id, conversation, previous_response_id, \
         created_at, updated_at, object, transcript, input_items FROM responses"
    };
}

impl Store {
    /// Inserts a new response, then evicts the least recently used finished responses beyond
    /// `capacity` (0 = unlimited). Returns the ids evicted.
    pub async fn insert_response(
        &self,
        row: &ResponseRow,
        capacity: u32,
    ) -> Result<Vec<String>, StoreError> {
        let ts = now();
        sqlx::query(
            "INSERT INTO responses (id, status, background, session_id, conversation, \
             previous_response_id, created_at, updated_at, last_used, object, transcript, \
             input_items) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&row.id)
        .bind(&row.status)
        .bind(i64::from(row.background))
        .bind(&row.session_id)
        .bind(&row.conversation)
        .bind(&row.previous_response_id)
        .bind(row.created_at)
        .bind(row.updated_at)
        .bind(ts)
        .bind(hex::encode(&row.object))
        .bind(&row.transcript)
        .bind(hex::encode(&row.input_items))
        .execute(&self.pool)
        .await?;
        if capacity == 0 {
            return Ok(Vec::new());
        }
        self.evict_responses(i64::from(capacity)).await
    }

    /// Deletes the least recently used finished responses (and their events) so that at most
    /// `capacity` remain, as far as finished ones allow.
    async fn evict_responses(&self, capacity: i64) -> Result<Vec<String>, StoreError> {
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM responses")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?;
        let excess = count - capacity;
        if excess <= 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let rows = sqlx::query(
            "SELECT id FROM responses WHERE status <> $1 AND status <> $2 \
             ORDER BY last_used ASC, id ASC LIMIT $3",
        )
        .bind(LIVE_STATUSES[0])
        .bind(LIVE_STATUSES[1])
        .bind(excess)
        .fetch_all(&mut *tx)
        .await?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        for id in &ids {
            delete_in(&mut tx, id).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    /// The response, or `None`.
    pub async fn get_response(&self, id: &str) -> Result<Option<ResponseRow>, StoreError> {
        let row = sqlx::query(concat!(select_response!(), " WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(response_from_row).transpose()
    }

    /// The most recently created response of a conversation, or `None`.
    pub async fn latest_in_conversation(
        &self,
        conversation: &str,
    ) -> Result<Option<ResponseRow>, StoreError> {
        let row = sqlx::query(concat!(
            select_response!(),
            " WHERE conversation = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
        ))
        .bind(conversation)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(response_from_row).transpose()
    }

    /// Marks a response as just used (LRU). `false` if it does not exist.
    pub async fn touch_response(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE responses SET last_used = $2 WHERE id = $1")
            .bind(id)
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Writes a response's new status and object (and transcript when given), unless it was
    /// cancelled meanwhile (by another replica) or deleted. `false` when nothing was written.
    pub async fn update_response(
        &self,
        id: &str,
        status: &str,
        object: &[u8],
        transcript: Option<&str>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE responses SET status = $2, object = $3, \
             transcript = COALESCE($4, transcript), updated_at = $5 \
             WHERE id = $1 AND status <> 'cancelled'",
        )
        .bind(id)
        .bind(status)
        .bind(hex::encode(object))
        .bind(transcript)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Sets a still-live response to `cancelled` with this object (cancel without a local
    /// runner). `false` if it is not live any more.
    pub async fn cancel_live_response(&self, id: &str, object: &[u8]) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE responses SET status = 'cancelled', object = $2, updated_at = $3 \
             WHERE id = $1 AND (status = $4 OR status = $5)",
        )
        .bind(id)
        .bind(hex::encode(object))
        .bind(now())
        .bind(LIVE_STATUSES[0])
        .bind(LIVE_STATUSES[1])
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that the runner of a live response is still alive. `false` if it is not live.
    pub async fn heartbeat_response(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE responses SET updated_at = $2 WHERE id = $1 AND (status = $3 OR status = $4)",
        )
        .bind(id)
        .bind(now())
        .bind(LIVE_STATUSES[0])
        .bind(LIVE_STATUSES[1])
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends a live response whose runner stopped beating before `stale_before` (its process
    /// died) with `status` and this object. `false` if it is not (or no longer) such an orphan.
    pub async fn end_orphaned_response(
        &self,
        id: &str,
        status: &str,
        object: &[u8],
        stale_before: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE responses SET status = $7, object = $2, updated_at = $3 \
             WHERE id = $1 AND (status = $4 OR status = $5) AND updated_at < $6",
        )
        .bind(id)
        .bind(hex::encode(object))
        .bind(now())
        .bind(LIVE_STATUSES[0])
        .bind(LIVE_STATUSES[1])
        .bind(stale_before)
        .bind(status)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a response and its events. `false` if it did not exist.
    pub async fn delete_response(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = delete_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Appends one stream event, unless the response no longer exists (deleted or evicted while
    /// running). `false` when it was not stored.
    pub async fn append_response_event(
        &self,
        response_id: &str,
        event: &EventRow,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO response_events (response_id, sequence_number, kind, event) \
             SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM responses WHERE id = $1)",
        )
        .bind(response_id)
        .bind(event.sequence_number)
        .bind(&event.kind)
        .bind(hex::encode(&event.event))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stored events with a sequence number above `after`, in order.
    pub async fn response_events_after(
        &self,
        response_id: &str,
        after: i64,
    ) -> Result<Vec<EventRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT sequence_number, kind, event FROM response_events \
             WHERE response_id = $1 AND sequence_number > $2 ORDER BY sequence_number",
        )
        .bind(response_id)
        .bind(after)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(EventRow {
                    sequence_number: row.try_get("sequence_number")?,
                    kind: row.try_get("kind")?,
                    event: unhex(row.try_get("event")?)?,
                })
            })
            .collect()
    }

    /// The id of the newest message of a session (0 when it has none): where a turn's own rows
    /// begin.
    pub async fn last_message_id(&self, session_id: &str) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT MAX(id) FROM messages WHERE session_id = $1")
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?;
        let max: Option<i64> = row.try_get(0)?;
        Ok(max.unwrap_or(0))
    }
}

/// Deletes one response and its events inside `tx`.
async fn delete_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM response_events WHERE response_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let done = sqlx::query("DELETE FROM responses WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() > 0)
}

fn response_from_row(row: &AnyRow) -> Result<ResponseRow, StoreError> {
    let background: i64 = row.try_get("background")?;
    Ok(ResponseRow {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        background: background != 0,
        session_id: row.try_get("session_id")?,
        conversation: row.try_get("conversation")?,
        previous_response_id: row.try_get("previous_response_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        object: unhex(row.try_get("object")?)?,
        transcript: row.try_get("transcript")?,
        input_items: unhex(row.try_get("input_items")?)?,
    })
}

/// Hex text written by this module back to bytes; anything else is a corrupt row.
pub(super) fn unhex(text: String) -> Result<Vec<u8>, StoreError> {
    hex::decode(text.as_bytes())
        .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))
}

#[cfg(test)]
#[path = "responses_tests.rs"]
pub(super) mod tests;
