//! Reading one upstream answer off the wire: the response body as SSE (`eventsource-stream`),
//! each wait for bytes bounded by the read timeout, the whole answer by [`BodyLimits`] (size and
//! total time), payloads decoded by [`ChunkDecoder`] into
//! [`UpstreamEvent`]s, exposed as [`UpstreamStream`]. Deciding whom to call and retrying lives in
//! `client.rs`; the chunk grammar lives in `decode.rs`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::stream::{self, BoxStream, Stream, StreamExt};

use super::decode::{ChunkDecoder, UpstreamEvent};
use super::error::UpstreamError;

/// The streamed answer of one upstream call. Yields events until `Finished`, or one error item
/// and then ends; never hangs longer than the read timeout between bytes. Dropping it drops the
/// HTTP response, which aborts the request upstream.
pub struct UpstreamStream {
    inner: BoxStream<'static, Result<UpstreamEvent, UpstreamError>>,
    first_byte: Arc<AtomicBool>,
    provider: String,
    model: String,
    span: tracing::Span,
}

impl std::fmt::Debug for UpstreamStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamStream")
            .field("provider", &self.provider)
            .field("model", &self.model)
            .field("first_byte_received", &self.first_byte_received())
            .finish_non_exhaustive()
    }
}

impl UpstreamStream {
    pub(crate) fn new(
        inner: BoxStream<'static, Result<UpstreamEvent, UpstreamError>>,
        first_byte: Arc<AtomicBool>,
        provider: String,
        model: String,
        span: tracing::Span,
    ) -> Self {
        UpstreamStream {
            inner,
            first_byte,
            provider,
            model,
            span,
        }
    }

    /// True once any byte of the answer body arrived. From then on nobody may retry the call:
    /// output may already have reached the client.
    pub fn first_byte_received(&self) -> bool {
        self.first_byte.load(Ordering::Acquire)
    }

    /// A shared flag with the same meaning as [`UpstreamStream::first_byte_received`], for
    /// callers that move the stream into another task.
    pub fn first_byte_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.first_byte)
    }

    /// The provider that is answering (after fallbacks).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The upstream model that is answering (after fallbacks).
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl Stream for UpstreamStream {
    type Item = Result<UpstreamEvent, UpstreamError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        let item = this.inner.poll_next_unpin(cx);
        if let Poll::Ready(Some(event)) = &item {
            match event {
                Ok(UpstreamEvent::Usage(usage)) => {
                    // As i64: OpenTelemetry has no unsigned attributes (u64 would become text).
                    let tokens = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                    this.span
                        .record("gen_ai.usage.input_tokens", tokens(usage.prompt_tokens));
                    this.span.record(
                        "gen_ai.usage.output_tokens",
                        tokens(usage.completion_tokens),
                    );
                }
                Ok(UpstreamEvent::Finished {
                    finish_reason: Some(reason),
                }) => {
                    this.span
                        .record("gen_ai.response.finish_reasons", reason.as_str());
                }
                Err(error) => {
                    this.span.record("otel.status_code", "ERROR");
                    this.span.record("error.type", error.summary().as_str());
                }
                Ok(_) => {}
            }
        }
        item
    }
}

/// The bounds on reading one upstream answer: the idle wait for the next bytes, the whole
/// answer's size and its total duration. Without them a stalled, endless or enormous answer
/// would hold a turn (and its memory) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimits {
    /// Longest wait for the next bytes (`model.read_timeout`).
    pub read_timeout: Duration,
    /// Most body bytes of one answer (`model.max_response_bytes`).
    pub max_bytes: u64,
    /// Longest time reading one answer's body (`model.max_response_seconds`).
    pub max_time: Duration,
}

/// Why reading body bytes stopped early.
#[derive(Debug)]
enum ReadError {
    Timeout,
    TooLarge(u64),
    Transport(String),
}

/// Body bytes of one answer, each wait bounded by the idle timeout and the overall deadline,
/// the total bounded by the size limit; the first failure ends the stream.
fn limited_body(
    response: reqwest::Response,
    limits: BodyLimits,
    first_byte: Arc<AtomicBool>,
) -> impl Stream<Item = Result<Bytes, ReadError>> + Send + 'static {
    let deadline = tokio::time::Instant::now() + limits.max_time;
    let body = Box::pin(response.bytes_stream());
    stream::unfold(Some((body, 0u64)), move |state| {
        let first_byte = Arc::clone(&first_byte);
        async move {
            let (mut body, seen) = state?;
            let wait = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(limits.read_timeout);
            match tokio::time::timeout(wait, body.next()).await {
                Err(_) => Some((Err(ReadError::Timeout), None)),
                Ok(None) => None,
                Ok(Some(Ok(bytes))) => {
                    if !bytes.is_empty() {
                        first_byte.store(true, Ordering::Release);
                    }
                    let seen = seen.saturating_add(bytes.len() as u64);
                    if seen > limits.max_bytes {
                        return Some((Err(ReadError::TooLarge(limits.max_bytes)), None));
                    }
                    Some((Ok(bytes), Some((body, seen))))
                }
                Ok(Some(Err(error))) => Some((Err(ReadError::Transport(body_error(&error))), None)),
            }
        }
    })
}

/// The events of a streaming response body.
pub(crate) fn events(
    response: reqwest::Response,
    limits: BodyLimits,
    first_byte: Arc<AtomicBool>,
) -> BoxStream<'static, Result<UpstreamEvent, UpstreamError>> {
    decode(limited_body(response, limits, first_byte).eventsource()).boxed()
}

/// The whole body of a non-streamed (JSON) answer, within the same limits as a stream.
pub(crate) async fn whole_body(
    response: reqwest::Response,
    limits: BodyLimits,
    first_byte: Arc<AtomicBool>,
) -> Result<Vec<u8>, UpstreamError> {
    let mut body = Box::pin(limited_body(response, limits, first_byte));
    let mut all = Vec::new();
    while let Some(bytes) = body.next().await {
        all.extend_from_slice(&bytes.map_err(|e| read_error(EventStreamError::Transport(e)))?);
    }
    Ok(all)
}

/// The events of an in-memory answer body arriving in `pieces`: the same SSE parsing and
/// decoding as a live response, without HTTP or timers, so the fuzz targets (tests/fuzz) can
/// drive the real path with arbitrary bytes split at arbitrary points. Not for production use.
#[doc(hidden)]
pub fn decode_pieces(
    pieces: Vec<Bytes>,
) -> impl Stream<Item = Result<UpstreamEvent, UpstreamError>> + Send + 'static {
    decode(stream::iter(pieces.into_iter().map(Ok::<Bytes, ReadError>)).eventsource())
}

/// SSE events → upstream events, ending after `Finished` or the first error.
fn decode<S>(sse: S) -> impl Stream<Item = Result<UpstreamEvent, UpstreamError>> + Send + 'static
where
    S: Stream<Item = Result<eventsource_stream::Event, EventStreamError<ReadError>>>
        + Send
        + 'static,
{
    struct State<S> {
        sse: Pin<Box<S>>,
        decoder: ChunkDecoder,
        queue: VecDeque<Result<UpstreamEvent, UpstreamError>>,
        ended: bool,
    }
    let state = State {
        sse: Box::pin(sse),
        decoder: ChunkDecoder::new(),
        queue: VecDeque::new(),
        ended: false,
    };
    stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.queue.pop_front() {
                return Some((item, state));
            }
            if state.ended {
                return None;
            }
            let decoded = match state.sse.next().await {
                Some(Ok(event)) => state.decoder.data(&event.data),
                Some(Err(error)) => Err(read_error(error)),
                None => state.decoder.end_of_stream(),
            };
            match decoded {
                Ok(events) => state.queue.extend(events.into_iter().map(Ok)),
                Err(error) => {
                    state.queue.push_back(Err(error));
                    state.ended = true;
                }
            }
            if state.decoder.is_done() {
                state.ended = true;
            }
        }
    })
}

fn read_error(error: EventStreamError<ReadError>) -> UpstreamError {
    match error {
        EventStreamError::Transport(ReadError::Timeout) => UpstreamError::Timeout,
        EventStreamError::Transport(ReadError::TooLarge(limit)) => UpstreamError::Protocol(
            format!("the answer exceeded {limit} bytes (model.max_response_bytes)"),
        ),
        EventStreamError::Transport(ReadError::Transport(detail)) => {
            UpstreamError::Protocol(format!("the connection broke mid-stream ({detail})"))
        }
        EventStreamError::Utf8(_) => {
            UpstreamError::Protocol("the stream is not valid UTF-8".to_owned())
        }
        EventStreamError::Parser(_) => {
            UpstreamError::Protocol("the stream is not valid server-sent events".to_owned())
        }
    }
}

/// A body read failure, described without the URL.
fn body_error(error: &reqwest::Error) -> String {
    let mut detail = String::from("body read failed");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    super::error::truncate(&detail)
}
