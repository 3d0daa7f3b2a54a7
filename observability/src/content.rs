//! The GenAI content-capture switch: message contents (prompts, answers, tool arguments and
//! results) go on spans only when an operator turns this on with `CADUCEUS_CAPTURE_CONTENT=true`
//! or the standard `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`. Off by default,
//! and never anything about secrets: keys and `Authorization` are not recorded in any mode.
//!
//! Captured content is set as OpenTelemetry attributes only (not `tracing` fields), so it reaches
//! the trace backend but never the log lines.

use std::sync::atomic::{AtomicBool, Ordering};

/// Longest captured text per attribute; longer content is cut (with "…").
pub const MAX_CAPTURED_CHARS: usize = 16 * 1024;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether content capture is on for this process (set once by [`crate::init`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Turns content capture on or off for the whole process.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Whether the variables found by `lookup` ask for content capture (`true`, `1`, `yes`, `on`).
pub fn enabled_by(lookup: &impl Fn(&str) -> Option<String>) -> bool {
    [
        "CADUCEUS_CAPTURE_CONTENT",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    ]
    .iter()
    .filter_map(|key| lookup(key))
    .any(|value| {
        matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

/// `text` cut to [`MAX_CAPTURED_CHARS`] characters on a char boundary.
pub fn bounded(text: &str) -> String {
    match text.char_indices().nth(MAX_CAPTURED_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_long_text_on_char_boundaries() {
        assert_eq!(bounded("short"), "short");
        let long = "é".repeat(MAX_CAPTURED_CHARS + 10);
        assert_eq!(bounded(&long).chars().count(), MAX_CAPTURED_CHARS + 1);
    }
}
