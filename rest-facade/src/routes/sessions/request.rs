//! Request parsing for `/api/sessions`: the body and query shapes, and their translation into
//! `caduceus.v1` session messages (PATCH field rules, lenient query numbers and flags). Shape rules
//! only; what a valid id, title or page size is, the service decides.

use std::str::FromStr;

use caduceus_proto::v1::{ChatSessionRequest, UpdateSessionRequest};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::JsonBody;

/// Query values arrive as text so that `?source=&include_children=` (empty) means "unset".
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    pub(crate) limit: Option<String>,
    pub(crate) offset: Option<String>,
    pub(crate) source: Option<String>,
    pub(crate) include_children: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MessagesQuery {
    pub(crate) limit: Option<String>,
    pub(crate) after_id: Option<String>,
}

/// `POST /api/sessions` body (also its `/openapi.json` schema).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CreateSessionBody)]
pub(crate) struct CreateBody {
    pub(crate) id: Option<String>,
    pub(crate) title: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) system_prompt: Option<String>,
}

/// `POST /api/sessions/{id}/fork` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = ForkSessionBody)]
pub(crate) struct ForkBody {
    pub(crate) id: Option<String>,
    pub(crate) title: Option<String>,
}

/// Session chat body: `message` or `input`, `system_message` or `instructions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = SessionChatBody)]
pub(crate) struct ChatBody {
    pub(crate) message: Option<String>,
    pub(crate) input: Option<String>,
    pub(crate) system_message: Option<String>,
    pub(crate) instructions: Option<String>,
    pub(crate) model: Option<String>,
}

/// An optional integer query value; empty means unset, anything else unparsable → 400.
pub(crate) fn number<T: FromStr>(name: &str, value: Option<String>) -> Result<Option<T>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_request",
                format!("Query parameter '{name}' must be an integer, got '{text}'."),
            )
            .with_param(name)
        }),
    }
}

/// A boolean query value (`true/false/1/0/yes/no`, empty = false).
pub(crate) fn flag(name: &str, value: Option<String>) -> Result<bool, ApiError> {
    match value
        .as_deref()
        .map(str::trim)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("" | "false" | "0" | "no") => Ok(false),
        Some("true" | "1" | "yes") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "invalid_request",
            format!("Query parameter '{name}' must be true or false, got '{other}'."),
        )
        .with_param(name)),
    }
}

/// Builds the update from a PATCH body: only `title` and `end_reason`; `null` clears (empty string).
pub(crate) fn update_request(
    id: String,
    body: Map<String, Value>,
) -> Result<UpdateSessionRequest, ApiError> {
    let mut request = UpdateSessionRequest {
        id,
        title: None,
        end_reason: None,
    };
    for (key, value) in body {
        let value = match value {
            Value::Null => String::new(),
            Value::String(text) => text,
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_request",
                    format!("Invalid value for '{key}': must be a string or null."),
                )
                .with_param(key));
            }
        };
        match key.as_str() {
            "title" => request.title = Some(value),
            "end_reason" => request.end_reason = Some(value),
            _ => {
                return Err(ApiError::bad_request(
                    "unsupported_session_field",
                    format!("Field '{key}' cannot be updated; only 'title' and 'end_reason' can."),
                )
                .with_param(key));
            }
        }
    }
    Ok(request)
}

/// `message` or `input`; `system_message` or `instructions`. A missing message is passed as ""
/// so the service answers `missing_message`.
pub(crate) fn chat_request(
    session_id: String,
    body: Option<JsonBody<ChatBody>>,
) -> ChatSessionRequest {
    let body = body.map(|JsonBody(body)| body).unwrap_or_default();
    ChatSessionRequest {
        session_id,
        message: body
            .message
            .filter(|message| !message.is_empty())
            .or(body.input)
            .unwrap_or_default(),
        system_message: body.system_message.or(body.instructions),
        model: body.model,
    }
}
