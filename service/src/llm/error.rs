//! [`UpstreamError`]: everything that can go wrong talking to an upstream LLM, classified by what
//! the caller can do about it (retry, fall back, give up), and its one mapping into the domain
//! [`Error`]. Messages here never carry URLs, credentials or keys; the client that builds them
//! is responsible for scrubbing upstream text before it lands in a variant.

use crate::error::Error;

/// Longest upstream-provided text kept in an error message.
pub const MAX_UPSTREAM_MESSAGE: usize = 300;

/// A failed upstream call or stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Could not connect or the connection failed before a response (detail is safe to show).
    #[error("upstream unreachable: {0}")]
    Unreachable(String),
    /// No response, or no data for longer than the read timeout.
    #[error("upstream timed out")]
    Timeout,
    /// A 4xx other than 429: the request itself is wrong; retrying cannot help.
    #[error("upstream rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    /// Still rate limited (429) after the retries.
    #[error("upstream rate limited the request")]
    RateLimited,
    /// Still failing with a 5xx after the retries.
    #[error("upstream server error (HTTP {status})")]
    Server { status: u16 },
    /// The stream broke the protocol: malformed SSE or JSON, or it ended mid-answer.
    #[error("upstream protocol error: {0}")]
    Protocol(String),
    /// The upstream sent an error object inside an otherwise valid stream.
    #[error("upstream reported an error: {message}")]
    Reported { message: String },
}

impl UpstreamError {
    /// Worth another attempt (same provider after a backoff, then the fallbacks) — only ever
    /// before any byte of the answer was streamed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            UpstreamError::Unreachable(_)
                | UpstreamError::RateLimited
                | UpstreamError::Server { .. }
        )
    }

    /// A short, safe description for health checks and logs: "timeout", "HTTP 503",
    /// "connection refused".
    pub fn summary(&self) -> String {
        match self {
            UpstreamError::Unreachable(detail) => detail.clone(),
            UpstreamError::Timeout => "timeout".to_owned(),
            UpstreamError::Rejected { status, .. } | UpstreamError::Server { status } => {
                format!("HTTP {status}")
            }
            UpstreamError::RateLimited => "HTTP 429".to_owned(),
            UpstreamError::Protocol(_) => "invalid stream".to_owned(),
            UpstreamError::Reported { .. } => "error in stream".to_owned(),
        }
    }
}

impl From<UpstreamError> for Error {
    fn from(error: UpstreamError) -> Self {
        let unavailable = |message: String| Error::BadGateway {
            code: "upstream_unavailable",
            message,
        };
        match error {
            UpstreamError::Unreachable(detail) => {
                unavailable(format!("the upstream model is unreachable ({detail})"))
            }
            UpstreamError::Server { status } => unavailable(format!(
                "the upstream model failed (HTTP {status}) after retries"
            )),
            UpstreamError::Protocol(detail) => unavailable(format!(
                "the upstream model sent an invalid stream: {detail}"
            )),
            UpstreamError::Reported { message } => {
                unavailable(format!("the upstream model reported an error: {message}"))
            }
            UpstreamError::Timeout => Error::Timeout {
                code: "upstream_timeout",
                message: "the upstream model did not answer in time (model.read_timeout between \
                          bytes, model.max_response_seconds in total)"
                    .to_owned(),
            },
            UpstreamError::Rejected { status, message } => Error::BadGateway {
                code: "upstream_rejected",
                message: format!("upstream model rejected the request (HTTP {status}): {message}"),
            },
            UpstreamError::RateLimited => Error::BadGateway {
                code: "upstream_rate_limited",
                message: "the upstream model is rate limiting requests (HTTP 429) after retries"
                    .to_owned(),
            },
        }
    }
}

/// `text` cut to at most [`MAX_UPSTREAM_MESSAGE`] characters (on a char boundary), with "…"
/// appended when something was cut.
pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_UPSTREAM_MESSAGE) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(error: UpstreamError) -> &'static str {
        match Error::from(error) {
            Error::BadGateway { code, .. } | Error::Timeout { code, .. } => code,
            other => panic!("unexpected mapping {other:?}"),
        }
    }

    #[test]
    fn mapping_table() {
        assert_eq!(
            code(UpstreamError::Unreachable("x".into())),
            "upstream_unavailable"
        );
        assert_eq!(
            code(UpstreamError::Server { status: 503 }),
            "upstream_unavailable"
        );
        assert_eq!(
            code(UpstreamError::Protocol("x".into())),
            "upstream_unavailable"
        );
        assert_eq!(
            code(UpstreamError::Reported {
                message: "x".into()
            }),
            "upstream_unavailable"
        );
        assert_eq!(code(UpstreamError::Timeout), "upstream_timeout");
        assert_eq!(code(UpstreamError::RateLimited), "upstream_rate_limited");
        let rejected = Error::from(UpstreamError::Rejected {
            status: 400,
            message: "bad tool schema".into(),
        });
        assert!(matches!(
            rejected,
            Error::BadGateway { code: "upstream_rejected", ref message }
                if message == "upstream model rejected the request (HTTP 400): bad tool schema"
        ));
    }

    #[test]
    fn retryable_and_summary() {
        assert!(UpstreamError::Server { status: 502 }.is_retryable());
        assert!(UpstreamError::RateLimited.is_retryable());
        assert!(!UpstreamError::Timeout.is_retryable());
        assert!(
            !UpstreamError::Rejected {
                status: 401,
                message: String::new()
            }
            .is_retryable()
        );
        assert_eq!(UpstreamError::Server { status: 503 }.summary(), "HTTP 503");
        assert_eq!(UpstreamError::Timeout.summary(), "timeout");
    }

    #[test]
    fn truncates_on_char_boundaries() {
        let long = "é".repeat(400);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), MAX_UPSTREAM_MESSAGE + 1);
        assert_eq!(truncate(" short "), "short");
    }
}
