//! The `runs` and `run_events` tables: [`RunRecord`], the durable event log (sequence numbers
//! allocated from `runs.last_seq` in the same transaction as the insert, so they are contiguous
//! from 1 whichever process writes), terminal transitions (guarded so a run ends exactly once),
//! stop requests and the queries of restart recovery. Every committed change of a run also
//! notifies [`RUN_CHANNEL`] in the same transaction (PostgreSQL), so other replicas see it at
//! once. Approvals are in `approvals.rs`; what the events mean, and who publishes them live, is
//! `crate::runs`' business.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now};
use crate::notify::RUN_CHANNEL;

/// Statuses after which a run never changes again.
pub const TERMINAL_STATUSES: [&str; 4] = ["completed", "failed", "cancelled", "interrupted"];

/// `status IN (...)` of the statuses a run can still leave.
macro_rules! unfinished {
    () => {
        "status IN ('queued', 'running', 'waiting_for_approval')"
    };
}

/// One stored run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    /// `queued`, `running`, `waiting_for_approval`, or one of [`TERMINAL_STATUSES`].
    pub status: String,
    /// Float Unix seconds.
    pub created_at: f64,
    pub updated_at: f64,
    pub session_id: Option<String>,
    pub model: String,
    /// Type of the most recent event.
    pub last_event: Option<String>,
    /// Highest event seq written.
    pub last_seq: i64,
    pub output: Option<String>,
    /// `(input, output, total)` tokens, once finished.
    pub usage: Option<(i64, i64, i64)>,
    pub error: Option<String>,
    /// Instance id of the process executing it.
    pub owner: Option<String>,
    /// A StopRun arrived (on any replica).
    pub stop_requested: bool,
}

impl RunRecord {
    /// Whether the run has ended.
    pub fn is_finished(&self) -> bool {
        TERMINAL_STATUSES.contains(&self.status.as_str())
    }
}

/// One stored event; `payload` is the JSON object of its type-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub run_id: String,
    /// From 1, contiguous within the run.
    pub seq: i64,
    pub event: String,
    /// Float Unix seconds.
    pub timestamp: f64,
    pub payload: String,
}

/// How a run ended, written together with its terminal event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunEnding {
    /// One of [`TERMINAL_STATUSES`].
    pub status: String,
    pub output: Option<String>,
    pub usage: Option<(i64, i64, i64)>,
    pub error: Option<String>,
}

/// An event to append: its type and payload JSON.
pub type RunEventRow = (String, String);

const SELECT_RUN: &str = "SELECT id, status, created_at, updated_at, session_id, model, last_event, \
     last_seq, output, input_tokens, output_tokens, total_tokens, error, owner, stop_requested \
     FROM runs WHERE id = $1";

impl Store {
    /// Inserts a `queued` run owned by `owner`.
    pub async fn create_run(
        &self,
        id: &str,
        session_id: Option<&str>,
        model: &str,
        owner: &str,
    ) -> Result<RunRecord, StoreError> {
        let ts = now();
        sqlx::query(
            "INSERT INTO runs (id, status, created_at, updated_at, session_id, model, owner) \
             VALUES ($1, 'queued', $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(ts)
        .bind(ts)
        .bind(session_id)
        .bind(model)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        self.get_run(id).await?.ok_or(StoreError::NotFound)
    }

    /// The run, or `None`.
    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query(SELECT_RUN)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(run_from_row).transpose()?)
    }

    /// Appends events to an unfinished run in one transaction (seq = `last_seq` + 1, …), and
    /// sets `status` when given. `None` when the run does not exist or has already ended: nothing
    /// may follow a terminal event.
    pub async fn append_run_events(
        &self,
        run_id: &str,
        events: &[RunEventRow],
        status: Option<&str>,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        let Some(last) = events.last() else {
            return Ok(Some(Vec::new()));
        };
        let ts = now();
        let count = i64::try_from(events.len()).unwrap_or(i64::MAX);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE runs SET last_seq = last_seq + $2, last_event = $3, updated_at = $4, \
             status = COALESCE($5, status) WHERE id = $1 AND ",
            unfinished!(),
            " RETURNING last_seq"
        ))
        .bind(run_id)
        .bind(count)
        .bind(&last.0)
        .bind(ts)
        .bind(status)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let last_seq: i64 = row.try_get(0)?;
        let stored = insert_events(&mut tx, run_id, last_seq - count + 1, ts, events).await?;
        self.notify_in(&mut tx, RUN_CHANNEL, run_id).await?;
        tx.commit().await?;
        Ok(Some(stored))
    }

    /// Ends an unfinished run: status, output, usage and error, plus its terminal event, in one
    /// transaction; a job whose last run this was gets `last_status`/`last_error`. `None` when
    /// the run does not exist or has already ended (so a run ends exactly once).
    pub async fn finish_run(
        &self,
        run_id: &str,
        ending: &RunEnding,
        event: &RunEventRow,
    ) -> Result<Option<StoredEvent>, StoreError> {
        let ts = now();
        let (input, output, total) = match ending.usage {
            Some((i, o, t)) => (Some(i), Some(o), Some(t)),
            None => (None, None, None),
        };
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(concat!(
            "UPDATE runs SET last_seq = last_seq + 1, last_event = $2, updated_at = $3, \
             status = $4, output = $5, input_tokens = $6, output_tokens = $7, \
             total_tokens = $8, error = $9 WHERE id = $1 AND ",
            unfinished!(),
            " RETURNING last_seq"
        ))
        .bind(run_id)
        .bind(&event.0)
        .bind(ts)
        .bind(&ending.status)
        .bind(&ending.output)
        .bind(input)
        .bind(output)
        .bind(total)
        .bind(&ending.error)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let seq: i64 = row.try_get(0)?;
        let mut stored =
            insert_events(&mut tx, run_id, seq, ts, std::slice::from_ref(event)).await?;
        sqlx::query("UPDATE jobs SET last_status = $2, last_error = $3 WHERE last_run_id = $1")
            .bind(run_id)
            .bind(&ending.status)
            .bind(&ending.error)
            .execute(&mut *tx)
            .await?;
        // Pending approvals of a finished run can never be answered.
        sqlx::query(
            "UPDATE run_approvals SET choice = 'deny', resolved_by = 'finished', resolved_at = $2 \
             WHERE run_id = $1 AND choice IS NULL",
        )
        .bind(run_id)
        .bind(ts)
        .execute(&mut *tx)
        .await?;
        self.notify_in(&mut tx, RUN_CHANNEL, run_id).await?;
        tx.commit().await?;
        Ok(stored.pop())
    }

    /// Events with `seq > after`, in order, at most `limit`.
    pub async fn run_events_after(
        &self,
        run_id: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT run_id, seq, event, timestamp, payload FROM run_events \
             WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(run_id)
        .bind(after)
        .bind(limit.max(1))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(StoreError::from)
    }

    /// Records a stop request on an unfinished run and tells every replica (the owner stops
    /// it); `false` if it is missing or finished.
    pub async fn request_run_stop(&self, run_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(concat!(
            "UPDATE runs SET stop_requested = 1 WHERE id = $1 AND ",
            unfinished!()
        ))
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.notify_in(&mut tx, RUN_CHANNEL, run_id).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// `(id, owner)` of every unfinished run, oldest first.
    pub async fn unfinished_runs(&self) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT id, owner FROM runs WHERE ",
            unfinished!(),
            " ORDER BY created_at"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("owner")?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Sets an active run's status from its approvals: `waiting_for_approval` while any is
    /// pending, else `running`. Queued and finished runs are left alone.
    pub async fn refresh_run_approval_status(&self, run_id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET updated_at = $2, status = CASE WHEN EXISTS (SELECT 1 FROM \
             run_approvals a WHERE a.run_id = runs.id AND a.choice IS NULL) \
             THEN 'waiting_for_approval' ELSE 'running' END \
             WHERE id = $1 AND status IN ('running', 'waiting_for_approval')",
        )
        .bind(run_id)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Inserts `events` with seqs from `first_seq`.
async fn insert_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    run_id: &str,
    first_seq: i64,
    ts: f64,
    events: &[RunEventRow],
) -> Result<Vec<StoredEvent>, StoreError> {
    let mut stored = Vec::with_capacity(events.len());
    for (offset, (event, payload)) in events.iter().enumerate() {
        let seq = first_seq + i64::try_from(offset).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO run_events (run_id, seq, event, timestamp, payload) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(run_id)
        .bind(seq)
        .bind(event)
        .bind(ts)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
        stored.push(StoredEvent {
            run_id: run_id.to_owned(),
            seq,
            event: event.clone(),
            timestamp: ts,
            payload: payload.clone(),
        });
    }
    Ok(stored)
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord, sqlx::Error> {
    let input: Option<i64> = row.try_get("input_tokens")?;
    let output: Option<i64> = row.try_get("output_tokens")?;
    let total: Option<i64> = row.try_get("total_tokens")?;
    let stop: i64 = row.try_get("stop_requested")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        session_id: row.try_get("session_id")?,
        model: row.try_get("model")?,
        last_event: row.try_get("last_event")?,
        last_seq: row.try_get("last_seq")?,
        output: row.try_get("output")?,
        usage: match (input, output, total) {
            (Some(i), Some(o), Some(t)) => Some((i, o, t)),
            _ => None,
        },
        error: row.try_get("error")?,
        owner: row.try_get("owner")?,
        stop_requested: stop != 0,
    })
}

fn event_from_row(row: &AnyRow) -> Result<StoredEvent, sqlx::Error> {
    Ok(StoredEvent {
        run_id: row.try_get("run_id")?,
        seq: row.try_get("seq")?,
        event: row.try_get("event")?,
        timestamp: row.try_get("timestamp")?,
        payload: row.try_get("payload")?,
    })
}
