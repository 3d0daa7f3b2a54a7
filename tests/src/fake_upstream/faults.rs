//! Bodies of the fake upstream's fault replies that are not a scripted list of frames: an endless
//! stream, a huge non-streamed JSON answer produced lazily (so the fake itself stays small in
//! memory), and raw bytes. Scripted frames live in `render.rs`; routing in `fake_upstream.rs`.

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde_json::json;

use super::Guard;
use super::render::Asked;

/// Size of each piece of a generated body.
const PIECE: usize = 64 * 1024;

fn response(content_type: &str, body: Body) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `data: {chunk with content}` frames forever; the guard counts the client's disconnect.
pub(super) fn endless(chunk: &str, asked: &Asked, guard: Guard) -> Response {
    let frame = json!({
        "id": format!("chatcmpl-fake-{}", asked.serial), "object": "chat.completion.chunk",
        "created": 1_700_000_000u64, "model": asked.model,
        "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": null}],
    });
    let frame = Bytes::from(format!("data: {frame}\n\n"));
    // Batch frames so the fake produces bytes much faster than the client can consume them.
    let batch = Bytes::from(frame.repeat((PIECE / frame.len()).max(1)));
    let body = stream::unfold(guard, move |guard| {
        let batch = batch.clone();
        async move {
            tokio::task::yield_now().await;
            Some((Ok::<Bytes, std::io::Error>(batch), guard))
        }
    });
    response("text/event-stream", Body::from_stream(body))
}

/// A `chat.completion` whose content is `bytes` of "x", streamed in 64 KiB pieces.
pub(super) fn huge_json(bytes: usize, asked: &Asked, guard: Guard) -> Response {
    let head = format!(
        r#"{{"id":"chatcmpl-fake-{}","object":"chat.completion","created":1700000000,"model":"{}","choices":[{{"index":0,"message":{{"role":"assistant","content":""#,
        asked.serial, asked.model
    );
    let tail = r#""},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#;
    let filler = Bytes::from(vec![b'x'; PIECE]);
    let mut pieces = vec![Bytes::from(head)];
    pieces.extend(std::iter::repeat_n(filler, bytes.div_ceil(PIECE)));
    pieces.push(Bytes::from_static(tail.as_bytes()));
    let body = stream::unfold(
        (pieces.into_iter(), guard),
        |(mut pieces, mut guard)| async move {
            let piece = pieces.next()?;
            if pieces.len() == 0 {
                guard.mark_complete();
            }
            Some((Ok::<Bytes, std::io::Error>(piece), (pieces, guard)))
        },
    );
    response("application/json", Body::from_stream(body))
}

/// `bytes` as an event-stream body, then a clean close.
pub(super) fn raw_bytes(bytes: Vec<u8>) -> Response {
    response("text/event-stream", Body::from(bytes))
}
