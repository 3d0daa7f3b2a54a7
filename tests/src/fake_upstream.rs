//! [`FakeUpstream`]: a scripted OpenAI-compatible LLM on `127.0.0.1:0` for tests. Tests queue
//! [`Reply`]s (FIFO; an empty queue answers a default text), then assert on what the server
//! really sent ([`RecordedRequest`]: body and headers) and on client disconnects (a guard in
//! each response body counts streams dropped before they finished). Reply scripting lives in
//! `fake_upstream/reply.rs`, wire rendering in `fake_upstream/render.rs`.

// Test support: failing to bind a loopback port should fail the test loudly.
#![allow(clippy::expect_used)]

mod faults;
mod render;
mod reply;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::stream;
use serde_json::{Value, json};
use tokio::sync::watch;

pub use reply::Reply;
use reply::{End, Script};

use render::Asked;

/// What a default (unscripted) request is answered with.
pub const DEFAULT_REPLY: &str = "(fake upstream: no scripted reply)";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The JSON body (a JSON string holding the raw text if it was not JSON).
    pub body: Value,
    pub headers: HeaderMap,
}

impl RecordedRequest {
    /// The `messages` array (empty if absent).
    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Shared {
    queue: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
    request_count: watch::Sender<usize>,
    disconnects: watch::Sender<usize>,
    serial: AtomicU64,
}

/// The running fake; dropping it stops accepting connections.
pub struct FakeUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    /// Starts the fake on an ephemeral port.
    pub async fn start() -> FakeUpstream {
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            request_count: watch::Sender::new(0),
            disconnects: watch::Sender::new(0),
            serial: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/v1/models", get(models))
            .fallback(not_found)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake upstream");
        let addr = listener.local_addr().expect("fake upstream addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeUpstream { addr, shared, task }
    }

    /// `http://127.0.0.1:PORT/v1` — what `model.base_url` should be.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues a reply for the next request.
    pub fn push(&self, reply: Reply) -> &Self {
        lock(&self.shared.queue).push_back(reply);
        self
    }

    /// Queues several replies in order.
    pub fn push_all(&self, replies: impl IntoIterator<Item = Reply>) -> &Self {
        lock(&self.shared.queue).extend(replies);
        self
    }

    /// Replies still queued.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.queue).len()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The most recent request.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        lock(&self.shared.requests).last().cloned()
    }

    /// How many requests arrived.
    pub fn request_count(&self) -> usize {
        *self.shared.request_count.borrow()
    }

    /// Waits until at least `n` requests arrived; false on timeout.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.request_count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Responses whose body the client dropped before it finished.
    pub fn disconnects(&self) -> usize {
        *self.shared.disconnects.borrow()
    }

    /// Waits until at least one disconnect was observed; false on timeout.
    pub async fn wait_for_disconnect(&self, timeout: Duration) -> bool {
        self.wait_for_disconnects(1, timeout).await
    }

    /// Waits until at least `n` disconnects were observed; false on timeout.
    pub async fn wait_for_disconnects(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.disconnects.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|count| *count >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `http://127.0.0.1:PORT/v1` on a port nothing listens on (connection refused).
pub async fn closed_base_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/v1")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let asked = Asked {
        model: body["model"].as_str().unwrap_or("fake-model").to_owned(),
        include_usage: body["stream_options"]["include_usage"].as_bool() == Some(true),
        serial: shared.serial.fetch_add(1, Ordering::SeqCst),
    };
    let streaming = body["stream"].as_bool() == Some(true);
    lock(&shared.requests).push(RecordedRequest { body, headers });
    shared.request_count.send_modify(|n| *n += 1);
    let reply = lock(&shared.queue)
        .pop_front()
        .unwrap_or_else(|| Reply::text(DEFAULT_REPLY));

    match &reply.script {
        Script::HttpError {
            status,
            body,
            retry_after,
        } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let content_type = if serde_json::from_str::<Value>(body).is_ok() {
                "application/json"
            } else {
                "text/plain"
            };
            let mut response =
                (status, [(header::CONTENT_TYPE, content_type)], body.clone()).into_response();
            if let Some(value) = retry_after
                .as_deref()
                .and_then(|s| HeaderValue::from_str(s).ok())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Script::Hang => {
            let guard = Guard {
                shared: Arc::clone(&shared),
                completed: false,
            };
            std::future::pending::<()>().await;
            drop(guard);
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Script::Endless { chunk } => faults::endless(chunk, &asked, guard(&shared)),
        Script::HugeJson { bytes } => faults::huge_json(*bytes, &asked, guard(&shared)),
        Script::RawBytes(bytes) => faults::raw_bytes(bytes.clone()),
        Script::Stream {
            parts,
            end,
            finish_reason,
        } => {
            if streaming {
                let frames = render::frames(&reply, parts, *end, finish_reason, &asked);
                sse_response(frames, *end, reply.delay, shared)
            } else {
                json_response(&reply, *end, &asked, shared)
            }
        }
    }
}

fn guard(shared: &Arc<Shared>) -> Guard {
    Guard {
        shared: Arc::clone(shared),
        completed: false,
    }
}

/// Counts a disconnect when dropped before the body completed.
struct Guard {
    shared: Arc<Shared>,
    completed: bool,
}

impl Guard {
    /// The body is finishing normally (or we abort it on purpose): not a disconnect.
    fn mark_complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.completed {
            self.shared.disconnects.send_modify(|n| *n += 1);
        }
    }
}

fn sse_response(frames: Vec<String>, end: End, delay: Duration, shared: Arc<Shared>) -> Response {
    let guard = Guard {
        shared,
        completed: false,
    };
    let state = (VecDeque::from(frames), guard);
    let body = stream::unfold(state, move |(mut frames, mut guard)| async move {
        if let Some(frame) = frames.pop_front() {
            if !delay.is_zero() && frame != "[DONE]" {
                tokio::time::sleep(delay).await;
            }
            if frames.is_empty() && matches!(end, End::Done | End::Close) {
                guard.mark_complete();
            }
            let bytes = Bytes::from(format!("data: {frame}\n\n"));
            return Some((Ok::<Bytes, std::io::Error>(bytes), (frames, guard)));
        }
        match end {
            End::Done | End::Close => {
                guard.mark_complete();
                None
            }
            End::Reset => {
                // Our own abort, not a client disconnect. Pause first so hyper flushes what was
                // already sent (else it may drop the buffered response along with the connection).
                guard.mark_complete();
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Err(std::io::Error::other("fake upstream reset")),
                    (frames, guard),
                ))
            }
            End::Stall => {
                // Hold the guard until the client gives up and hyper drops this body.
                std::future::pending::<()>().await;
                drop((frames, guard));
                None
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn json_response(reply: &Reply, end: End, asked: &Asked, shared: Arc<Shared>) -> Response {
    match end {
        End::Done | End::Close => axum::Json(render::completion(reply, asked)).into_response(),
        End::Reset | End::Stall => sse_response(Vec::new(), end, Duration::ZERO, shared),
    }
}

async fn models() -> axum::Json<Value> {
    axum::Json(json!({"object": "list", "data": [
        {"id": "fake-model", "object": "model", "created": 1_700_000_000u64, "owned_by": "fake"}
    ]}))
}

async fn not_found() -> Response {
    let body = json!({"error": {"message": "not found", "type": "invalid_request_error",
                                "param": null, "code": "not_found"}});
    (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
}
