//! Request extractors whose rejections are the OpenAI error envelope instead of axum's plain-text
//! ones: [`JsonBody`] for bodies and [`QueryParams`] for query strings.
//!
//! Shape errors only: malformed JSON → 400 `invalid_json`, a JSON value that is not an object →
//! 400 `invalid_request`, wrong field type or missing field → 400 `invalid_request` with `param` =
//! the field path (`messages[0].content`), too large → 413 `body_too_large`. Semantic validation
//! belongs to the service. Any `Content-Type` is accepted (`curl -d` sends a form type).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON object body deserialized into `T`. `Option<JsonBody<T>>` treats an empty body as `None`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// A query string deserialized into `T`, with the same 400 mapping (`param` = the field).
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

/// The 413 every too-large body gets, whichever layer notices first.
pub(crate) fn body_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        "The request body exceeds the size limit.",
    )
}

/// Reads the whole body, honouring the router's `DefaultBodyLimit`.
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            body_too_large()
        } else {
            ApiError::bad_request("invalid_request", "The request body could not be read.")
        }
    })
}

/// Whether a body counts as absent (empty or only whitespace).
fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Parses a JSON object body into `T` with the envelope errors described in the module header.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if is_blank(bytes) {
        return Err(ApiError::bad_request(
            "invalid_json",
            "The request body is empty; a JSON object is required.",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request("invalid_json", "The request body is not valid UTF-8.")
    })?;
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => return Err(json_error::<T>(text, &error)),
    };
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "The request body must be a JSON object.",
        ));
    }
    if let Some(path) = nul_path(&value, String::new()) {
        return Err(field_error(&path, "text must not contain NUL characters"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner().to_string())
    })
}

/// The 400 for a body serde_json cannot read. Valid JSON whose number does not fit a float
/// (`1e400`) is a wrong value, not malformed JSON: reading again while tracking the path names
/// the field (`invalid_request`, `param`), like any other out-of-range value.
fn json_error<T: DeserializeOwned>(text: &str, error: &serde_json::Error) -> ApiError {
    if error.to_string().starts_with("number out of range") {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        if let Err(located) = serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
            let path = located.path().to_string();
            if path != "." {
                return field_error(&path, "number out of range");
            }
        }
    }
    ApiError::bad_request("invalid_json", format!("Malformed JSON body: {error}"))
}

/// The path (`messages[0].content`) of the first string or key holding NUL, which no backend
/// stores alike (PostgreSQL refuses it), so it is refused here for every route.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then_some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_path(item, format!("{path}[{index}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(path)
            } else {
                nul_path(item, path)
            }
        }),
        _ => None,
    }
}

/// A 400 naming the field at `path` (completed with the missing field's name, if that is the
/// error) so clients can point at it.
pub(crate) fn field_error(path: &str, message: &str) -> ApiError {
    let mut param = if path == "." {
        String::new()
    } else {
        path.to_owned()
    };
    if let Some(missing) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        if !param.is_empty() {
            param.push('.');
        }
        param.push_str(missing);
    }
    let error = if param.is_empty() {
        ApiError::bad_request("invalid_request", format!("Invalid request: {message}"))
    } else {
        ApiError::bad_request(
            "invalid_request",
            format!("Invalid value for '{param}': {message}"),
        )
    };
    if param.is_empty() {
        error
    } else {
        error.with_param(param)
    }
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

impl<T, S> OptionalFromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        if is_blank(&bytes) {
            return Ok(None);
        }
        parse_json(&bytes).map(|value| Some(JsonBody(value)))
    }
}

/// Parses a raw query string into `T` (`param` = the offending key).
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error(&path, &error.into_inner().to_string())
    })
}

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(QueryParams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        model: Option<String>,
        messages: Vec<Message>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Message {
        role: String,
        content: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Query {
        limit: Option<u32>,
        source: Option<String>,
    }

    fn err(bytes: &[u8]) -> ApiError {
        parse_json::<Body>(bytes).unwrap_err()
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        for body in [
            &b"{"[..],
            b"{\"a\":}",
            b"nope",
            b"",
            b"  \n",
            b"{\"a\":\"\xff\"}",
        ] {
            let error = err(body);
            assert_eq!(error.status(), StatusCode::BAD_REQUEST);
            assert_eq!(error.code(), Some("invalid_json"), "{body:?}");
        }
    }

    #[test]
    fn non_object_is_invalid_request() {
        for body in [&b"[1,2]"[..], b"\"x\"", b"3", b"null"] {
            let error = err(body);
            assert_eq!(error.code(), Some("invalid_request"), "{body:?}");
            assert_eq!(error.param(), None);
        }
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        let error = err(br#"{"messages":[{"role":"user","content":5}]}"#);
        assert_eq!(error.code(), Some("invalid_request"));
        assert_eq!(error.param(), Some("messages[0].content"));
        let error = err(br#"{"model":1,"messages":[]}"#);
        assert_eq!(error.param(), Some("model"));
    }

    #[test]
    fn missing_field_names_the_field() {
        assert_eq!(err(br#"{"model":"m"}"#).param(), Some("messages"));
        let error = err(br#"{"messages":[{"content":"x"}]}"#);
        assert_eq!(error.param(), Some("messages[0].role"));
    }

    #[test]
    fn numbers_out_of_range_name_the_field() {
        let error = err(br#"{"messages":[{"role":"user","content":1e999}]}"#);
        assert_eq!(error.code(), Some("invalid_request"));
        assert_eq!(error.param(), Some("messages[0].content"));
        // In a key the route ignores, nothing names it: the body as a whole is refused.
        let error = err(br#"{"messages":[{"role":"user","content":"x"}],"n":1e400}"#);
        assert_eq!(error.code(), Some("invalid_json"));
        assert_eq!(err(b"1e400").code(), Some("invalid_json"));
    }

    #[test]
    fn nul_in_any_string_names_the_field() {
        let error = err(br#"{"messages":[{"role":"user","content":"a\u0000b"}]}"#);
        assert_eq!(error.code(), Some("invalid_request"));
        assert_eq!(error.param(), Some("messages[0].content"));
        let error = err(br#"{"x":{"k\u0000":1},"messages":[]}"#);
        assert_eq!(error.param(), Some("x.k\u{0}"));
    }

    #[test]
    fn valid_body_and_unknown_fields() {
        let body: Body =
            parse_json(br#"{"messages":[{"role":"user","content":"hi"}],"extra":1}"#).unwrap();
        assert_eq!(body.messages.len(), 1);
    }

    #[test]
    fn query_errors_name_the_key() {
        let query: Query = parse_query("limit=5&source=api_server").unwrap();
        assert_eq!(query.limit, Some(5));
        let error = parse_query::<Query>("limit=abc").unwrap_err();
        assert_eq!(error.code(), Some("invalid_request"));
        assert_eq!(error.param(), Some("limit"));
    }
}
