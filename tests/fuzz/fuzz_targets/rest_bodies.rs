//! Fuzz target: arbitrary bytes as the body of each body-taking REST route, through the same
//! extractor parsing and translation function the handler uses
//! (`caduceus_rest::fuzzing::translate`). Checks: no panic; a failure is a clean 400 in the
//! OpenAI envelope (`type` invalid_request_error, a snake_case `code`, a message, `param` null
//! or text); a success keeps what it must (chat: one proto message per JSON message; the same
//! body always translates the same way).
//!
//! Input layout: byte 0 picks the route (`BodyRoute::ALL[byte % 8]`); the rest is the body.
#![no_main]

use caduceus_rest::fuzzing::{BodyRoute, Translated, translate};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let route = BodyRoute::ALL[usize::from(selector) % BodyRoute::ALL.len()];
    let first = translate(route, body);
    assert_eq!(
        first,
        translate(route, body),
        "translation is not deterministic"
    );
    match first {
        Err(rejection) => {
            assert_eq!(rejection.status, 400, "{route:?}: {rejection:?}");
            let error = &rejection.error;
            assert_eq!(error["type"], "invalid_request_error", "{error}");
            let code = error["code"].as_str().unwrap_or_default();
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "code must be snake_case: {error}"
            );
            assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|m| !m.trim().is_empty()),
                "message must be present: {error}"
            );
            assert!(
                error["param"].is_null() || error["param"].is_string(),
                "{error}"
            );
        }
        Ok(Translated::ChatCompletions(request)) => {
            let value: Value = serde_json::from_slice(body).expect("a translated body is JSON");
            let sent = value["messages"].as_array().map_or(0, Vec::len);
            assert_eq!(
                request.messages.len(),
                sent,
                "chat messages were dropped or added"
            );
        }
        Ok(_) => {}
    }
});
