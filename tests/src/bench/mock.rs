//! [`MockUpstream`]: the bench's OpenAI-compatible upstream — lean on purpose so it is never the
//! bottleneck. It records nothing, parses nothing but the `model` and `stream` fields (byte
//! search, no JSON decoding), and answers from bytes rendered once at start-up. It runs on its own
//! OS thread and single-threaded runtime so its latency does not depend on the load generator's
//! scheduling. The `model` of a request picks the answer ([`Mode`]): fixed text, chunks paced and
//! stamped with the bench clock (relay latency), a burst of chunks (relay cost), or a stream held
//! open (memory per open stream). What is measured, and how, lives in `scenarios.rs`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

/// The body type of every mock answer.
pub type MockBody = UnsyncBoxBody<Bytes, Infallible>;

/// The text of a fixed answer, split into its streamed deltas.
pub const FIXED_PARTS: [&str; 4] = ["Hello", " from", " the", " mock."];

/// The fixed answer as one string (what a non-streamed completion carries).
pub const FIXED_TEXT: &str = "Hello from the mock.";

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds on the bench clock (one epoch per process). Paced chunks carry the time they
/// were written in this unit, so the client (same process) can compute each chunk's relay latency.
pub fn now_us() -> u64 {
    let elapsed = EPOCH.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

/// What the mock answers, chosen by the request's `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `fixed` (and any unknown model): [`FIXED_PARTS`] in one write, then usage and `[DONE]`.
    Fixed,
    /// `paced-N-US`: N content chunks `t<now_us>`, one every US microseconds.
    Paced { chunks: u32, interval_us: u64 },
    /// `burst-N`: N content chunks in one write, the first one `s<now_us>` (stamped when the
    /// burst is rendered), the others `b<i>`.
    Burst { chunks: u32 },
    /// `hold`: the role and one content chunk, then nothing until the client goes away.
    Hold,
    /// `approve`: a `terminal` tool call whose command needs approval ([`APPROVAL_COMMAND`]);
    /// once the request carries a tool result, the fixed answer (the load test's runs).
    Approve,
}

/// The command of [`Mode::Approve`]'s tool call: flagged as dangerous (SQL `DROP TABLE`), so a
/// run waits for approval, yet harmless once approved (it only prints).
pub const APPROVAL_COMMAND: &str = "echo 'DROP TABLE bench_load'";

impl Mode {
    /// The upstream model name that selects this mode.
    pub fn model_name(self) -> String {
        match self {
            Mode::Fixed => "fixed".to_owned(),
            Mode::Paced {
                chunks,
                interval_us,
            } => format!("paced-{chunks}-{interval_us}"),
            Mode::Burst { chunks } => format!("burst-{chunks}"),
            Mode::Hold => "hold".to_owned(),
            Mode::Approve => "approve".to_owned(),
        }
    }

    /// The mode a model name selects (unknown or malformed names answer [`Mode::Fixed`]).
    pub fn from_model(name: &str) -> Mode {
        let mut parts = name.split('-');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("hold"), None, None) => Mode::Hold,
            (Some("approve"), None, None) => Mode::Approve,
            (Some("burst"), Some(n), None) => n
                .parse()
                .map_or(Mode::Fixed, |chunks| Mode::Burst { chunks }),
            (Some("paced"), Some(n), Some(us)) => match (n.parse(), us.parse()) {
                (Ok(chunks), Ok(interval_us)) => Mode::Paced {
                    chunks,
                    interval_us,
                },
                _ => Mode::Fixed,
            },
            _ => Mode::Fixed,
        }
    }
}

/// The usage-only chunk OpenAI sends when `stream_options.include_usage` is set (the server
/// always sets it).
const USAGE_CHUNK: &str = "data: {\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,\"total_tokens\":16}}\n\n";

/// Bytes rendered once and shared by every answer.
struct Rendered {
    completion: Bytes,
    fixed_stream: Bytes,
    role: Bytes,
    tail: Bytes,
}

impl Rendered {
    fn new() -> Rendered {
        let role = chunk(r#"{"role":"assistant","content":""}"#, "null");
        let tail = format!("{}{USAGE_CHUNK}data: [DONE]\n\n", chunk("{}", r#""stop""#));
        let mut fixed = role.clone();
        for part in FIXED_PARTS {
            fixed.push_str(&content_chunk(part));
        }
        fixed.push_str(&tail);
        let completion = format!(
            r#"{{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock","choices":[{{"index":0,"message":{{"role":"assistant","content":"{FIXED_TEXT}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}}}"#
        );
        Rendered {
            completion: Bytes::from(completion),
            fixed_stream: Bytes::from(fixed),
            role: Bytes::from(role),
            tail: Bytes::from(tail),
        }
    }
}

/// One `chat.completion.chunk` SSE frame with `delta` and `finish_reason` given as JSON text.
fn chunk(delta: &str, finish: &str) -> String {
    format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"mock\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// A content delta frame; `text` must not need JSON escaping (the bench's texts never do).
fn content_chunk(text: &str) -> String {
    chunk(&format!("{{\"content\":\"{text}\"}}"), "null")
}

/// The running mock; dropping it stops it.
pub struct MockUpstream {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and serves on a dedicated thread.
    pub fn start() -> anyhow::Result<MockUpstream> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind the mock")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("mock runtime")?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("bench-mock".into())
            .spawn(move || runtime.block_on(serve(listener, stopped)))
            .context("mock thread")?;
        Ok(MockUpstream {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/v1`, the `model.base_url` to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1/chat/completions`, what the direct path calls.
    pub fn completions_url(&self) -> String {
        format!("{}/chat/completions", self.base_url())
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let rendered = Arc::new(Rendered::new());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let rendered = Arc::clone(&rendered);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request| answer(Arc::clone(&rendered), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    rendered: Arc<Rendered>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, Infallible> {
    if request.method() != Method::POST || request.uri().path() != "/v1/chat/completions" {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            "application/json",
            full(b"{}"),
        ));
    }
    let Ok(collected) = request.into_body().collect().await else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            "application/json",
            full(b"{}"),
        ));
    };
    let body = collected.to_bytes();
    // Callers put `stream` last (the server's request struct does), so search from the end.
    let stream = contains_from_end(&body, br#""stream":true"#);
    if !stream {
        return Ok(reply(
            StatusCode::OK,
            "application/json",
            Full::new(rendered.completion.clone()).boxed_unsync(),
        ));
    }
    let body = match model(&body).map_or(Mode::Fixed, Mode::from_model) {
        Mode::Fixed => Full::new(rendered.fixed_stream.clone()).boxed_unsync(),
        Mode::Burst { chunks } => {
            let mut text = String::from_utf8_lossy(&rendered.role).into_owned();
            text.push_str(&content_chunk(&format!("s{}", now_us())));
            for i in 1..chunks {
                text.push_str(&content_chunk(&format!("b{i}")));
            }
            text.push_str(&String::from_utf8_lossy(&rendered.tail));
            full(text.as_bytes())
        }
        Mode::Paced {
            chunks,
            interval_us,
        } => paced(rendered, chunks, Duration::from_micros(interval_us)),
        Mode::Hold => {
            let head = [rendered.role.clone(), Bytes::from(content_chunk("held"))];
            let frames = futures::stream::iter(head)
                .chain(futures::stream::pending())
                .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
            StreamBody::new(frames).boxed_unsync()
        }
        Mode::Approve if contains_from_end(&body, br#""role":"tool""#) => {
            Full::new(rendered.fixed_stream.clone()).boxed_unsync()
        }
        Mode::Approve => full(approval_stream(&rendered).as_bytes()),
    };
    Ok(reply(StatusCode::OK, "text/event-stream", body))
}

/// The role chunk now, then `chunks` content chunks stamped with [`now_us`] at write time, one
/// every `interval`, then the finish, usage and `[DONE]`.
fn paced(rendered: Arc<Rendered>, chunks: u32, interval: Duration) -> MockBody {
    let start = tokio::time::Instant::now();
    let frames = futures::stream::unfold(0u32, move |i| {
        let rendered = Arc::clone(&rendered);
        async move {
            if i == 0 {
                return Some((rendered.role.clone(), 1));
            }
            if i <= chunks {
                tokio::time::sleep_until(start + interval * i).await;
                let stamped = content_chunk(&format!("t{}", now_us()));
                return Some((Bytes::from(stamped), i + 1));
            }
            (i == chunks + 1).then(|| (rendered.tail.clone(), i + 1))
        }
    })
    .map(|bytes| Ok::<_, Infallible>(Frame::data(bytes)));
    StreamBody::new(frames).boxed_unsync()
}

/// The role chunk, one `terminal` call running [`APPROVAL_COMMAND`], the `tool_calls` finish,
/// usage and `[DONE]`.
fn approval_stream(rendered: &Rendered) -> String {
    let arguments = serde_json::json!({ "command": APPROVAL_COMMAND }).to_string();
    let call = serde_json::json!({"tool_calls": [{"index": 0, "id": "call_bench_approve",
        "type": "function", "function": {"name": "terminal", "arguments": arguments}}]});
    format!(
        "{}{}{}{USAGE_CHUNK}data: [DONE]\n\n",
        String::from_utf8_lossy(&rendered.role),
        chunk(&call.to_string(), "null"),
        chunk("{}", r#""tool_calls""#),
    )
}

fn full(bytes: &[u8]) -> MockBody {
    Full::new(Bytes::copy_from_slice(bytes)).boxed_unsync()
}

fn reply(status: StatusCode, content_type: &'static str, body: MockBody) -> Response<MockBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The value of the first `"model":"…"` in a JSON body (compact serialization, as both the
/// server and the bench client send).
fn model(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = br#""model":""#;
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = body.get(start..)?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(rest.get(..end)?).ok()
}

fn contains_from_end(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).rev().any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_model_names() {
        for mode in [
            Mode::Fixed,
            Mode::Hold,
            Mode::Approve,
            Mode::Burst { chunks: 12 },
            Mode::Paced {
                chunks: 3,
                interval_us: 2000,
            },
        ] {
            assert_eq!(Mode::from_model(&mode.model_name()), mode);
        }
        assert_eq!(Mode::from_model("gpt-4o"), Mode::Fixed);
        assert_eq!(Mode::from_model("burst-x"), Mode::Fixed);
        assert_eq!(Mode::from_model("paced-1"), Mode::Fixed);
    }

    #[test]
    fn finds_model_and_stream_flags() {
        let body = br#"{"model":"burst-3","messages":[],"stream":true}"#;
        assert_eq!(model(body), Some("burst-3"));
        assert!(contains_from_end(body, br#""stream":true"#));
        assert_eq!(model(b"{}"), None);
    }

    #[test]
    fn approve_mode_asks_for_a_command_that_needs_approval() {
        use caduceus_service::approvals::{Verdict, classify};
        use caduceus_service::llm::{Assembler, UpstreamEvent, decode_pieces};
        use futures::StreamExt;

        assert!(matches!(
            classify(APPROVAL_COMMAND),
            Verdict::Dangerous { .. }
        ));
        let body = approval_stream(&Rendered::new());
        let events: Vec<_> =
            futures::executor::block_on(decode_pieces(vec![Bytes::from(body)]).collect::<Vec<_>>());
        let mut assembler = Assembler::new();
        for event in &events {
            assembler.apply(event.as_ref().unwrap());
        }
        assert!(matches!(
            events.last(),
            Some(Ok(UpstreamEvent::Finished { .. }))
        ));
        let turn = assembler.into_turn();
        assert_eq!(turn.tool_calls.len(), 1);
        assert_eq!(turn.tool_calls[0].function.name, "terminal");
        let arguments: serde_json::Value =
            serde_json::from_str(&turn.tool_calls[0].function.arguments).unwrap();
        assert_eq!(arguments["command"], APPROVAL_COMMAND);
    }

    #[test]
    fn rendered_stream_is_well_formed_sse() {
        let rendered = Rendered::new();
        let text = String::from_utf8(rendered.fixed_stream.to_vec()).unwrap();
        let frames: Vec<&str> = text.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert!(frames.iter().all(|f| f.starts_with("data: ")));
        assert_eq!(frames.last(), Some(&"data: [DONE]"));
        for frame in &frames[..frames.len() - 1] {
            let json: serde_json::Value = serde_json::from_str(&frame[6..]).unwrap();
            assert_eq!(json["object"], "chat.completion.chunk");
        }
        let completion: serde_json::Value = serde_json::from_slice(&rendered.completion).unwrap();
        assert_eq!(completion["choices"][0]["message"]["content"], FIXED_TEXT);
    }
}
