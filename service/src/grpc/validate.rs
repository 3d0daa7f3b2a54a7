//! Shape checks every RPC applies to the ids and text it is given, before any store access:
//! an empty required id is INVALID_ARGUMENT; an id no server ever hands out (over 256 characters,
//! or with control characters) is the family's NOT_FOUND at once — never a database round trip
//! (PostgreSQL refuses NUL in text) and never echoed back (a 10 KB id in `grpc-message` breaks
//! HTTP/2 header limits); session ids follow the session-id rule everywhere (`invalid_session_id`);
//! text the store keeps must not hold NUL. Meaning (does it exist, is it allowed) stays with the
//! core modules.

use crate::agent::validate_session_id;
use crate::error::Error;

/// Longest id any object of the API can have (session ids: 256 characters; server-generated ids
/// are far shorter).
pub const MAX_ID_CHARS: usize = 256;

/// The id of a server-named object (response, run, job). `not_found` is the family's reason
/// (`response_not_found`…), `what` its name in words.
pub fn object_id(id: &str, param: &str, not_found: &'static str, what: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid_param(
            "invalid_request",
            format!("'{param}' is required"),
            param,
        ));
    }
    if id.chars().count() > MAX_ID_CHARS || id.chars().any(char::is_control) {
        return Err(Error::not_found(
            not_found,
            format!("No {what} with this id exists"),
        ));
    }
    Ok(())
}

/// A session id named by the caller (path or body): the same rule as `X-Hermes-Session-Id`
/// (1–256 characters; no CR, LF, NUL, `..`, `/`, `\`), with `param` naming the field.
pub fn session_id(id: &str, param: &str) -> Result<(), Error> {
    validate_session_id(id).map_err(|error| match error {
        Error::InvalidArgument { code, message, .. } => Error::invalid_param(code, message, param),
        other => other,
    })
}

/// Text that will be stored: NUL cannot be stored by PostgreSQL, so it is refused on every
/// backend alike, with `code` and `param` naming the field.
pub fn stored_text(value: &str, code: &'static str, param: &str) -> Result<(), Error> {
    if value.contains('\0') {
        return Err(Error::invalid_param(
            code,
            format!("'{param}' must not contain NUL characters"),
            param,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<(), Error>) -> (&'static str, &'static str) {
        match result {
            Ok(()) => ("ok", ""),
            Err(Error::InvalidArgument { code, .. }) => ("invalid", code),
            Err(Error::NotFound { code, .. }) => ("not_found", code),
            Err(_) => ("other", ""),
        }
    }

    #[test]
    fn object_ids() {
        let check = |id: &str| reason(object_id(id, "run_id", "run_not_found", "run"));
        assert_eq!(check(""), ("invalid", "invalid_request"));
        assert_eq!(check("run_0123"), ("ok", ""));
        assert_eq!(check(".."), ("ok", ""));
        assert_eq!(check("a\0b"), ("not_found", "run_not_found"));
        assert_eq!(check(&"x".repeat(257)), ("not_found", "run_not_found"));
        assert_eq!(check("caf\u{e9}"), ("ok", ""));
    }

    #[test]
    fn session_ids_and_text() {
        assert_eq!(
            reason(session_id("", "id")),
            ("invalid", "invalid_session_id")
        );
        assert_eq!(
            reason(session_id("../x", "id")),
            ("invalid", "invalid_session_id")
        );
        assert_eq!(reason(session_id("api-1", "id")), ("ok", ""));
        match session_id("a\0", "session_id") {
            Err(Error::InvalidArgument { param, .. }) => {
                assert_eq!(param.as_deref(), Some("session_id"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            reason(stored_text("a\0b", "invalid_title", "title")),
            ("invalid", "invalid_title")
        );
        assert_eq!(
            reason(stored_text("fine", "invalid_title", "title")),
            ("ok", "")
        );
    }
}
