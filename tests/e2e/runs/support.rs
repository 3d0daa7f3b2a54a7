//! Helpers of the runs suite: start a run over REST, read its SSE event stream frame by frame
//! (`id:` + `data:` frames, the `: stream closed` comment), wait for a status, answer approvals.

use std::time::Duration;

use caduceus_tests::app::{TestApp, TestOptions, upstream_config};
use caduceus_tests::fake_upstream::FakeUpstream;
use futures::StreamExt;
use serde_json::{Value, json};

/// Longest wait for any one frame or status.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// An app whose agent talks to `fake`, with `extra` config YAML.
pub async fn app_with(fake: &FakeUpstream, extra: &str) -> TestApp {
    TestApp::spawn_with(TestOptions {
        config_yaml: Some(upstream_config(&fake.base_url(), extra)),
        ..TestOptions::default()
    })
    .await
}

/// `POST /v1/runs` with `body`; asserts 202 and returns the run id.
pub async fn start_run(app: &TestApp, body: Value) -> String {
    let response = app.post("/v1/runs").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let json: Value = response.json().await.unwrap();
    assert_eq!(json["status"], "queued", "{json}");
    json["run_id"].as_str().unwrap().to_owned()
}

/// A run whose input is `text`.
pub async fn start(app: &TestApp, text: &str) -> String {
    start_run(app, json!({"input": text})).await
}

/// `GET /v1/runs/{id}` as JSON.
pub async fn get_run(app: &TestApp, run_id: &str) -> Value {
    app.get(&format!("/v1/runs/{run_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls until the run has `status`; returns the run object.
pub async fn wait_status(app: &TestApp, run_id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let run = get_run(app, run_id).await;
        if run["status"] == status {
            return run;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run never reached {status}: {run}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `POST /v1/runs/{id}/approval`: status and JSON.
pub async fn answer(app: &TestApp, run_id: &str, body: Value) -> (u16, Value) {
    let response = app
        .post(&format!("/v1/runs/{run_id}/approval"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// One SSE frame of a run stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The `id:` line.
    pub id: Option<i64>,
    /// The `data:` JSON.
    pub data: Value,
}

impl Frame {
    /// The `event` field.
    pub fn event(&self) -> &str {
        self.data["event"].as_str().unwrap_or("")
    }
}

/// Reads a run's `GET /v1/runs/{id}/events` stream.
pub struct EventReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    /// The `: stream closed` comment was seen.
    pub closed: bool,
}

impl EventReader {
    /// Subscribes, optionally resuming with `Last-Event-ID`.
    pub async fn open(app: &TestApp, run_id: &str, last_event_id: Option<i64>) -> EventReader {
        let mut request = app.get(&format!("/v1/runs/{run_id}/events"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        Self::from_request(request).await
    }

    /// Subscribes with an arbitrary request (e.g. `?after=`).
    pub async fn from_request(request: reqwest::RequestBuilder) -> EventReader {
        let response = tokio::time::timeout(PATIENCE, request.send())
            .await
            .expect("event stream headers")
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventReader {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            closed: false,
        }
    }

    /// The next frame; `None` at `: stream closed` or the end of the body.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    data: Value::Null,
                };
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        frame.id = id.trim().parse().ok();
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        frame.data = serde_json::from_str(data).unwrap();
                    } else if line.trim() == ": stream closed" {
                        self.closed = true;
                        return None;
                    }
                }
                if frame.data.is_null() {
                    continue; // keep-alive comment
                }
                return Some(frame);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.body.next())
                .await
                .expect("no SSE frame in time");
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Frames up to and including the first `event`.
    pub async fn until(&mut self, event: &str) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            let done = frame.event() == event;
            frames.push(frame);
            if done {
                return frames;
            }
        }
        panic!("stream ended before {event}: {frames:?}");
    }

    /// Every remaining frame, to the end of the stream.
    pub async fn rest(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            frames.push(frame);
        }
        frames
    }
}

/// Every event of a run, read from a fresh subscription to its end.
pub async fn all_events(app: &TestApp, run_id: &str) -> Vec<Frame> {
    let mut reader = EventReader::open(app, run_id, None).await;
    let frames = reader.rest().await;
    assert!(reader.closed, "stream must end with `: stream closed`");
    frames
}

/// Event types in order.
pub fn kinds(frames: &[Frame]) -> Vec<String> {
    frames.iter().map(|f| f.event().to_owned()).collect()
}

/// Asserts seqs are 1..=n, ids equal seqs, and every frame names the run.
pub fn assert_contiguous(frames: &[Frame], run_id: &str) {
    for (index, frame) in frames.iter().enumerate() {
        let seq = i64::try_from(index).unwrap() + 1;
        assert_eq!(frame.data["seq"], seq, "{frames:?}");
        assert_eq!(frame.id, Some(seq));
        assert_eq!(frame.data["run_id"], run_id);
        assert!(frame.data["timestamp"].as_f64().unwrap() > 0.0);
    }
}

/// The `tool` messages the upstream received in its `n`-th request.
pub fn tool_results(fake: &FakeUpstream, n: usize) -> Vec<String> {
    fake.requests()[n]
        .messages()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A string unique to one test (process markers, file names).
pub fn marker(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Whether a process whose command line contains `marker` is running.
pub fn process_running(marker: &str) -> bool {
    std::process::Command::new("pgrep")
        .args(["-f", marker])
        .stdout(std::process::Stdio::null())
        .status()
        .map(|status| status.success())
        .unwrap_or(false)
}
