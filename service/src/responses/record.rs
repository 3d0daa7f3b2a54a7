//! Stored rows ⇄ what the core works with: the response object (protobuf), the transcript (chat
//! messages as JSON) and the input items (protobuf list); and the liveness rule for responses
//! whose process died mid-turn. A row that does not decode is an internal fault, never shown to
//! clients.

use std::time::Duration;

use caduceus_proto::v1::{
    InputItem, ListResponseInputItemsResponse, Response as ResponseObject, ResponseError,
    ResponseStreamEvent,
};
use prost::Message as _;

use super::not_found;
use crate::error::Error;
use crate::llm::Message;
use crate::store::Store;
use crate::store::responses::{EventRow, LIVE_STATUSES, ResponseRow};

/// A stored response, decoded.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub object: ResponseObject,
    pub transcript: Vec<Message>,
    pub input_items: Vec<InputItem>,
    pub session_id: String,
    pub conversation: Option<String>,
}

/// How often a runner records that it is alive.
pub(super) const HEARTBEAT_EVERY: Duration = Duration::from_secs(15);
/// A live response whose runner has been silent this long lost its process (crash, restart).
const ORPHANED_AFTER: Duration = Duration::from_secs(60);

/// Loads and decodes a response; unknown → 404 `response_not_found`. A live response whose
/// runner stopped beating (its process died) is ended here, once, as `failed` with
/// `response_interrupted`, so nothing waits on it forever.
pub(super) async fn load(store: &Store, id: &str) -> Result<Stored, Error> {
    let row = store.get_response(id).await?.ok_or_else(|| not_found(id))?;
    let stale_before = crate::store::now() - ORPHANED_AFTER.as_secs_f64();
    let orphaned = LIVE_STATUSES.contains(&row.status.as_str()) && row.updated_at < stale_before;
    let mut stored = decode(row)?;
    if orphaned {
        stored.object.status = "failed".into();
        stored.object.error = Some(ResponseError {
            code: "response_interrupted".into(),
            message: "The server running this response stopped before it finished; create it again"
                .into(),
        });
        let ended = store
            .end_orphaned_response(id, "failed", &stored.object.encode_to_vec(), stale_before)
            .await?;
        if !ended {
            // Its runner came back to life or another reader ended it: read it again.
            let row = store.get_response(id).await?.ok_or_else(|| not_found(id))?;
            return decode(row);
        }
    }
    Ok(stored)
}

/// Decodes a row; the row's status wins over the one inside the object.
pub(super) fn decode(row: ResponseRow) -> Result<Stored, Error> {
    let mut object = ResponseObject::decode(row.object.as_slice())
        .map_err(|error| Error::Internal(format!("stored response does not decode: {error}")))?;
    object.status = row.status;
    let transcript = serde_json::from_str(&row.transcript)
        .map_err(|error| Error::Internal(format!("stored transcript does not decode: {error}")))?;
    let input_items = ListResponseInputItemsResponse::decode(row.input_items.as_slice())
        .map_err(|error| Error::Internal(format!("stored input items do not decode: {error}")))?
        .data;
    Ok(Stored {
        object,
        transcript,
        input_items,
        session_id: row.session_id,
        conversation: row.conversation,
    })
}

/// The row for a new response.
pub(super) fn new_row(
    object: &ResponseObject,
    session_id: &str,
    transcript: &[Message],
    input_items: &[InputItem],
) -> ResponseRow {
    ResponseRow {
        id: object.id.clone(),
        status: object.status.clone(),
        background: object.background,
        session_id: session_id.to_owned(),
        conversation: object.conversation.clone(),
        previous_response_id: object.previous_response_id.clone(),
        created_at: crate::store::now(),
        updated_at: crate::store::now(),
        object: object.encode_to_vec(),
        transcript: transcript_json(transcript),
        input_items: ListResponseInputItemsResponse {
            data: input_items.to_vec(),
        }
        .encode_to_vec(),
    }
}

/// A transcript as stored.
pub(super) fn transcript_json(transcript: &[Message]) -> String {
    serde_json::to_string(transcript).unwrap_or_else(|_| "[]".to_owned())
}

/// An event as stored.
pub(super) fn event_row(event: &ResponseStreamEvent) -> EventRow {
    EventRow {
        sequence_number: event.sequence_number,
        kind: event.r#type.clone(),
        event: event.encode_to_vec(),
    }
}

/// A stored event back; `None` (logged) if it does not decode.
pub(super) fn event_of(row: &EventRow) -> Option<ResponseStreamEvent> {
    match ResponseStreamEvent::decode(row.event.as_slice()) {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::warn!(%error, "a stored response event does not decode");
            None
        }
    }
}

/// Whether an event type ends a response's stream.
pub(super) fn is_terminal(kind: &str) -> bool {
    matches!(
        kind,
        "response.completed" | "response.failed" | "response.incomplete"
    )
}
