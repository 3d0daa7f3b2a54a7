//! [`Reply`]: one scripted answer of the fake upstream — what it streams (text, tool calls, raw
//! frames), how (delay between chunks) and how it ends (`[DONE]`, reset, stall, HTTP error).
//! Turning a reply into bytes lives in `render.rs`; the server in `fake_upstream.rs`.

use std::time::Duration;

use serde_json::Value;

/// One streamed piece of a scripted answer.
#[derive(Debug, Clone)]
pub(super) enum Part {
    /// A content delta.
    Text(String),
    /// A tool-call delta; `id`/`name` only on a call's first fragment.
    Call {
        index: usize,
        first: bool,
        name: String,
        args: String,
    },
    /// A `data:` payload sent verbatim (may be invalid JSON).
    Raw(String),
}

/// How a streamed reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum End {
    /// Finish chunk, usage, `[DONE]`.
    Done,
    /// Drop the connection without `[DONE]`.
    Reset,
    /// Keep the connection open and send nothing more.
    Stall,
    /// Close the body cleanly without a finish chunk or `[DONE]` (raw scripts).
    Close,
}

#[derive(Debug, Clone)]
pub(super) enum Script {
    Stream {
        parts: Vec<Part>,
        end: End,
        finish_reason: String,
    },
    HttpError {
        status: u16,
        body: String,
        retry_after: Option<String>,
    },
    /// Accept the request, never send response headers.
    Hang,
    /// `text/event-stream` headers, then this content delta repeated until the client leaves.
    Endless { chunk: String },
    /// A `chat.completion` JSON body of about this many bytes, produced lazily.
    HugeJson { bytes: usize },
    /// These bytes verbatim as a `text/event-stream` body, then a clean close.
    RawBytes(Vec<u8>),
}

/// A scripted upstream answer, queued with [`FakeUpstream::push`](super::FakeUpstream::push).
#[derive(Debug, Clone)]
pub struct Reply {
    pub(super) script: Script,
    pub(super) delay: Duration,
    pub(super) usage: (u64, u64),
    pub(super) tool_call_ids: bool,
}

impl Reply {
    fn stream(parts: Vec<Part>, end: End, finish_reason: &str) -> Reply {
        Reply {
            script: Script::Stream {
                parts,
                end,
                finish_reason: finish_reason.to_owned(),
            },
            delay: Duration::ZERO,
            usage: (10, 5),
            tool_call_ids: true,
        }
    }

    /// `text` streamed in a few chunks, then `finish_reason: "stop"`.
    pub fn text(text: &str) -> Reply {
        Self::text_chunks(split(text, 3))
    }

    /// Exactly these content chunks, then `stop`.
    pub fn text_chunks<S: Into<String>>(chunks: Vec<S>) -> Reply {
        Self::stream(text_parts(chunks), End::Done, "stop")
    }

    /// One tool call whose JSON arguments arrive split across chunks; `finish_reason: "tool_calls"`.
    pub fn tool_call(name: &str, args: Value) -> Reply {
        Self::tool_calls(vec![(name, args)])
    }

    /// Several tool calls in one message, each one's arguments split across chunks.
    pub fn tool_calls(calls: Vec<(&str, Value)>) -> Reply {
        let raw = calls
            .into_iter()
            .map(|(name, args)| (name, args.to_string()))
            .collect();
        Self::tool_calls_raw(raw)
    }

    /// Tool calls with argument text sent as given (e.g. invalid JSON, to test tool errors).
    pub fn tool_calls_raw(calls: Vec<(&str, String)>) -> Reply {
        let mut parts = Vec::new();
        for (index, (name, args)) in calls.into_iter().enumerate() {
            for (i, piece) in split(&args, 2).into_iter().enumerate() {
                parts.push(Part::Call {
                    index,
                    first: i == 0,
                    name: name.to_owned(),
                    args: piece,
                });
            }
            if args.is_empty() {
                parts.push(Part::Call {
                    index,
                    first: true,
                    name: name.to_owned(),
                    args: String::new(),
                });
            }
        }
        Self::stream(parts, End::Done, "tool_calls")
    }

    /// Some text, then tool calls, in one message.
    pub fn text_then_tool_calls(text: &str, calls: Vec<(&str, Value)>) -> Reply {
        let mut reply = Self::tool_calls(calls);
        if let Script::Stream { parts, .. } = &mut reply.script {
            let mut all = text_parts(split(text, 2));
            all.append(parts);
            *parts = all;
        }
        reply
    }

    /// Content chunks with `delay` before each one.
    pub fn slow_chunks<S: Into<String>>(chunks: Vec<S>, delay: Duration) -> Reply {
        Self::text_chunks(chunks).with_delay(delay)
    }

    /// An HTTP error status with this body (OpenAI error JSON or anything else).
    pub fn http_error(status: u16, body: &str) -> Reply {
        Reply {
            script: Script::HttpError {
                status,
                body: body.to_owned(),
                retry_after: None,
            },
            delay: Duration::ZERO,
            usage: (10, 5),
            tool_call_ids: true,
        }
    }

    /// An HTTP error whose body is the OpenAI error shape with `message`.
    pub fn http_error_message(status: u16, message: &str) -> Reply {
        let body = serde_json::json!({"error": {
            "message": message, "type": "invalid_request_error", "param": null, "code": null
        }});
        Self::http_error(status, &body.to_string())
    }

    /// Adds `Retry-After: <seconds>` to an HTTP error reply.
    pub fn with_retry_after(mut self, seconds: &str) -> Reply {
        if let Script::HttpError { retry_after, .. } = &mut self.script {
            *retry_after = Some(seconds.to_owned());
        }
        self
    }

    /// Streams these content chunks, then drops the connection without `[DONE]`.
    pub fn reset_after<S: Into<String>>(chunks: Vec<S>) -> Reply {
        Self::stream(text_parts(chunks), End::Reset, "stop")
    }

    /// One good content chunk ("partial"), then a data frame that is not JSON.
    pub fn malformed() -> Reply {
        let parts = vec![
            Part::Text("partial".to_owned()),
            Part::Raw("{not json".to_owned()),
        ];
        Self::stream(parts, End::Done, "stop")
    }

    /// One content chunk, then an OpenAI-style `{"error": …}` object inside the stream.
    pub fn stream_error(message: &str) -> Reply {
        let error = serde_json::json!({"error": {"message": message, "type": "server_error"}});
        let parts = vec![
            Part::Text("partial".to_owned()),
            Part::Raw(error.to_string()),
        ];
        Self::stream(parts, End::Close, "stop")
    }

    /// Response headers, then nothing: the connection stays open until the client gives up.
    pub fn stall() -> Reply {
        Self::stream(Vec::new(), End::Stall, "stop")
    }

    /// These content chunks, then nothing more: a stream that stalls midway.
    pub fn stall_after<S: Into<String>>(chunks: Vec<S>) -> Reply {
        Self::stream(text_parts(chunks), End::Stall, "stop")
    }

    /// Accepts the request and never answers, not even the response headers.
    pub fn hang() -> Reply {
        Self::script(Script::Hang)
    }

    /// A stream that never ends: `chunk` as a content delta, again and again, as fast as the
    /// client reads.
    pub fn endless(chunk: &str) -> Reply {
        Self::script(Script::Endless {
            chunk: chunk.to_owned(),
        })
    }

    /// A non-streamed `chat.completion` (`application/json`, even when streaming was asked)
    /// whose content makes the body about `bytes` long; generated piece by piece.
    pub fn huge_json(bytes: usize) -> Reply {
        Self::script(Script::HugeJson { bytes })
    }

    /// `bytes` verbatim as the event-stream body (e.g. invalid UTF-8), then a clean close.
    pub fn raw_bytes(bytes: Vec<u8>) -> Reply {
        Self::script(Script::RawBytes(bytes))
    }

    fn script(script: Script) -> Reply {
        Reply {
            script,
            delay: Duration::ZERO,
            usage: (10, 5),
            tool_call_ids: true,
        }
    }

    /// These `data:` payloads verbatim (include `"[DONE]"` yourself), then a clean close.
    pub fn raw_frames<S: Into<String>>(frames: Vec<S>) -> Reply {
        let parts = frames.into_iter().map(|f| Part::Raw(f.into())).collect();
        Self::stream(parts, End::Close, "stop")
    }

    /// Usage reported with the reply (default prompt 10 / completion 5).
    pub fn with_usage(mut self, prompt: u64, completion: u64) -> Reply {
        self.usage = (prompt, completion);
        self
    }

    /// Sleep `delay` before each streamed chunk.
    pub fn with_delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    /// Another `finish_reason` (e.g. `length`).
    pub fn with_finish_reason(mut self, reason: &str) -> Reply {
        if let Script::Stream { finish_reason, .. } = &mut self.script {
            *finish_reason = reason.to_owned();
        }
        self
    }

    /// Tool calls without `id` (some providers omit them; the client must generate ids).
    pub fn without_tool_call_ids(mut self) -> Reply {
        self.tool_call_ids = false;
        self
    }
}

fn text_parts<S: Into<String>>(chunks: Vec<S>) -> Vec<Part> {
    chunks.into_iter().map(|c| Part::Text(c.into())).collect()
}

/// `text` cut into at most `pieces` non-empty chunks on char boundaries.
fn split(text: &str, pieces: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return Vec::new();
    }
    let size = chars.len().div_ceil(pieces.max(1));
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
