//! The REST → proto body translations as plain functions for the fuzz targets (tests/fuzz):
//! raw body bytes go through the same extractor parsing (`extract::parse_json`) and the same
//! translation function each handler uses, with no HTTP, state or gRPC around them. Hidden from
//! the docs: not part of the facade's API.

use axum::response::IntoResponse;
use caduceus_proto::v1::{
    ChatSessionRequest, CreateChatCompletionRequest, CreateJobRequest, CreateResponseRequest,
    CreateRunRequest, CreateSessionRequest, UpdateJobRequest, UpdateSessionRequest,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::extract::{JsonBody, parse_json};
use crate::routes::{chat, jobs, responses, runs, sessions};

/// The body-taking routes whose translation can be fuzzed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRoute {
    ChatCompletions,
    Responses,
    Runs,
    SessionsCreate,
    SessionsUpdate,
    SessionsChat,
    JobsCreate,
    JobsUpdate,
}

impl BodyRoute {
    /// Every route, so a fuzz input can pick one by its first byte.
    pub const ALL: [BodyRoute; 8] = [
        BodyRoute::ChatCompletions,
        BodyRoute::Responses,
        BodyRoute::Runs,
        BodyRoute::SessionsCreate,
        BodyRoute::SessionsUpdate,
        BodyRoute::SessionsChat,
        BodyRoute::JobsCreate,
        BodyRoute::JobsUpdate,
    ];
}

/// What a handler would send to the service.
#[derive(Debug, Clone, PartialEq)]
pub enum Translated {
    ChatCompletions(CreateChatCompletionRequest),
    Responses(CreateResponseRequest),
    Runs(CreateRunRequest),
    SessionsCreate(CreateSessionRequest),
    SessionsUpdate(UpdateSessionRequest),
    SessionsChat(ChatSessionRequest),
    JobsCreate(CreateJobRequest),
    JobsUpdate(UpdateJobRequest),
}

/// A translation failure as the client would see it: the HTTP status and the
/// `{"message","type","param","code"}` envelope object.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub status: u16,
    pub error: Value,
}

impl From<ApiError> for Rejection {
    fn from(error: ApiError) -> Self {
        let body = error.body();
        Rejection {
            status: error.into_response().status().as_u16(),
            error: body,
        }
    }
}

/// Parses a body that may be absent (blank → `None`), as `Option<JsonBody<T>>` does.
fn optional<T: DeserializeOwned>(body: &[u8]) -> Result<Option<JsonBody<T>>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_json(body).map(|value| Some(JsonBody(value)))
}

/// `body` as the handler of `route` would translate it (path ids are a fixed `"id"`).
pub fn translate(route: BodyRoute, body: &[u8]) -> Result<Translated, Rejection> {
    let id = || "id".to_owned();
    let translated = match route {
        BodyRoute::ChatCompletions => {
            Translated::ChatCompletions(chat::convert::to_request(parse_json(body)?)?)
        }
        BodyRoute::Responses => Translated::Responses(
            responses::create_request(parse_json(body)?).map_err(ApiError::from)?,
        ),
        BodyRoute::Runs => {
            Translated::Runs(runs::create_request(parse_json(body)?).map_err(ApiError::from)?)
        }
        BodyRoute::SessionsCreate => {
            let body: sessions::request::CreateBody = optional(body)?
                .map(|JsonBody(body)| body)
                .unwrap_or_default();
            Translated::SessionsCreate(CreateSessionRequest {
                id: body.id,
                title: body.title,
                model: body.model,
                system_prompt: body.system_prompt,
            })
        }
        BodyRoute::SessionsUpdate => Translated::SessionsUpdate(sessions::request::update_request(
            id(),
            parse_json::<Map<String, Value>>(body)?,
        )?),
        BodyRoute::SessionsChat => {
            Translated::SessionsChat(sessions::request::chat_request(id(), optional(body)?))
        }
        BodyRoute::JobsCreate => Translated::JobsCreate(jobs::create_request(parse_json(body)?)),
        BodyRoute::JobsUpdate => Translated::JobsUpdate(
            jobs::render::update_request(id(), &parse_json::<Map<String, Value>>(body)?)
                .map_err(ApiError::from)?,
        ),
    };
    Ok(translated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_like_the_handlers() {
        let body = br#"{"messages":[{"role":"user","content":"hi"}],"model":"m"}"#;
        let Ok(Translated::ChatCompletions(chat)) = translate(BodyRoute::ChatCompletions, body)
        else {
            panic!("a valid chat body translates");
        };
        assert_eq!(chat.messages.len(), 1);
        assert!(matches!(
            translate(BodyRoute::SessionsCreate, b"  "),
            Ok(Translated::SessionsCreate(_))
        ));
        let Ok(Translated::JobsUpdate(update)) =
            translate(BodyRoute::JobsUpdate, br#"{"enabled":false}"#)
        else {
            panic!("a valid job update translates");
        };
        assert_eq!(update.enabled, Some(false));
    }

    #[test]
    fn failures_are_the_envelope_400s() {
        for (route, body, code) in [
            (BodyRoute::ChatCompletions, &b"{"[..], "invalid_json"),
            (BodyRoute::Responses, br#"{"input":5}"#, "invalid_request"),
            (
                BodyRoute::SessionsUpdate,
                br#"{"nope":"x"}"#,
                "unsupported_session_field",
            ),
            (
                BodyRoute::JobsUpdate,
                br#"{"nope":1}"#,
                "unsupported_job_field",
            ),
        ] {
            let rejection = translate(route, body).unwrap_err();
            assert_eq!(rejection.status, 400, "{route:?}");
            assert_eq!(rejection.error["code"], code, "{route:?}: {rejection:?}");
            assert_eq!(rejection.error["type"], "invalid_request_error");
        }
    }
}
