//! Resource scenarios on the server process: resident memory idle and per open SSE stream (streams
//! held open by the mock's `hold` mode, RSS read from `/proc`), and `/v1/runs` event delivery —
//! reported as pending while the server answers `POST /v1/runs` with 501 (runs not built yet).

use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::{mpsc, watch};

use super::client::{Path, Targets};
use super::mock::Mode;
use super::report::{MemoryFigures, RunsFigures};
use super::server::ServerUnderTest;
use super::sse::SseReader;
use super::stats::median;

/// How long all the streams of the memory test may take to open.
const OPEN_LIMIT: Duration = Duration::from_secs(60);

/// RSS before, with `count` REST SSE streams held open, and after they close.
pub async fn memory(
    server: &ServerUnderTest,
    targets: &Targets,
    count: usize,
    idle_kib: u64,
) -> anyhow::Result<MemoryFigures> {
    // One small round first so per-stream figures exclude first-use allocations.
    hold_streams(targets, count.min(20)).await?.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before_kib = sample_rss(server).await?;
    let held = hold_streams(targets, count).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with_streams_kib = sample_rss(server).await?;
    let opened = held.opened;
    let errors = held.errors;
    let first_error = held.first_error.clone();
    held.close().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_close_kib = sample_rss(server).await?;
    Ok(MemoryFigures {
        idle_kib,
        before_streams_kib: before_kib,
        with_streams_kib,
        streams: opened,
        per_stream_bytes: (opened > 0)
            .then(|| (with_streams_kib as f64 - before_kib as f64) * 1024.0 / opened as f64),
        after_close_kib,
        after_load_kib: None,
        peak_kib: server.peak_rss_kib().ok(),
        errors,
        first_error,
    })
}

/// Streams held open until [`Held::close`].
struct Held {
    opened: usize,
    errors: u64,
    first_error: Option<String>,
    release: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Held {
    async fn close(self) {
        let _ = self.release.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens `count` REST streams answered by the mock's `hold` mode (about 500 per second) and
/// waits until each has received its first content delta.
async fn hold_streams(targets: &Targets, count: usize) -> anyhow::Result<Held> {
    let (release, released) = watch::channel(false);
    let (ready, mut readies) = mpsc::channel::<Result<(), String>>(count.max(1));
    let mut tasks = Vec::with_capacity(count);
    for _ in 0..count {
        let targets = targets.clone();
        let ready = ready.clone();
        let mut released = released.clone();
        tasks.push(tokio::spawn(async move {
            let opened = async {
                let mut stream = targets.open_stream(Path::Rest, Mode::Hold).await?;
                stream.next_content().await?.context("no first chunk")?;
                Ok::<_, anyhow::Error>(stream)
            };
            match tokio::time::timeout(OPEN_LIMIT, opened).await {
                Ok(Ok(stream)) => {
                    let _ = ready.send(Ok(())).await;
                    let _ = released.wait_for(|r| *r).await;
                    drop(stream);
                }
                Ok(Err(error)) => {
                    let _ = ready.send(Err(format!("{error:#}"))).await;
                }
                Err(_) => {
                    let _ = ready.send(Err("timed out opening".into())).await;
                }
            }
        }));
        tokio::time::sleep(Duration::from_micros(2000)).await;
    }
    drop(ready);
    let mut held = Held {
        opened: 0,
        errors: 0,
        first_error: None,
        release,
        tasks,
    };
    let deadline = Instant::now() + OPEN_LIMIT + Duration::from_secs(5);
    while held.opened + (held.errors as usize) < count {
        let Ok(Some(outcome)) = tokio::time::timeout_at(deadline.into(), readies.recv()).await
        else {
            break;
        };
        match outcome {
            Ok(()) => held.opened += 1,
            Err(error) => {
                held.errors += 1;
                held.first_error.get_or_insert(error);
            }
        }
    }
    if held.opened == 0 && count > 0 {
        let error = held.first_error.clone().unwrap_or_default();
        held.close().await;
        bail!("no stream could be held open: {error}");
    }
    Ok(held)
}

/// The median of three RSS readings 100 ms apart.
async fn sample_rss(server: &ServerUnderTest) -> anyhow::Result<u64> {
    let mut readings = Vec::with_capacity(3);
    for _ in 0..3 {
        readings.push(server.rss_kib()? as f64);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(median(readings).unwrap_or_default() as u64)
}

/// Events per second delivered by `/v1/runs`: `count` runs answered by a burst, each watched
/// by one `GET /v1/runs/{id}/events` subscriber. Pending when the route answers 501/404.
pub async fn runs(targets: &Targets, count: usize) -> RunsFigures {
    let Some((base, auth)) = targets.server() else {
        return RunsFigures::Failed {
            error: "no server".into(),
        };
    };
    runs_at(base, auth, count).await
}

/// [`runs`] against the server at `base` with `Authorization: auth`.
pub async fn runs_at(base: &str, auth: &HeaderValue, count: usize) -> RunsFigures {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let create = |input: String| {
        Request::post(format!("{base}/v1/runs"))
            .header(AUTHORIZATION, auth.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(
                serde_json::json!({"input": input, "model": "burst"}).to_string(),
            )))
    };
    let started = Instant::now();
    let mut watchers = Vec::with_capacity(count);
    for i in 0..count.max(1) {
        let request = match create(format!("bench run {i}")) {
            Ok(request) => request,
            Err(error) => {
                return RunsFigures::Failed {
                    error: error.to_string(),
                };
            }
        };
        let response = match client.request(request).await {
            Ok(response) => response,
            Err(error) => {
                return RunsFigures::Failed {
                    error: error.to_string(),
                };
            }
        };
        let status = response.status();
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        let body = body.unwrap_or_default();
        if status.as_u16() == 501 || status.as_u16() == 404 {
            return RunsFigures::Pending {
                reason: format!(
                    "POST /v1/runs answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            };
        }
        let run_id = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["run_id"].as_str().map(str::to_owned));
        let Some(run_id) = run_id.filter(|_| status.is_success()) else {
            return RunsFigures::Failed {
                error: format!(
                    "POST /v1/runs answered {status}: {}",
                    String::from_utf8_lossy(&body)
                ),
            };
        };
        let base = base.to_owned();
        let auth = auth.clone();
        watchers.push(tokio::spawn(watch_run(base, auth, run_id)));
    }
    let mut events = 0;
    for watcher in watchers {
        match watcher.await.map_err(|e| anyhow!(e)).and_then(|r| r) {
            Ok(n) => events += n,
            Err(error) => {
                return RunsFigures::Failed {
                    error: format!("{error:#}"),
                };
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    RunsFigures::Measured {
        runs: count,
        events,
        seconds,
        events_per_sec: events as f64 / seconds,
    }
}

/// Counts the events of one run until its stream closes; a run that fails is an error.
async fn watch_run(base: String, auth: HeaderValue, run_id: String) -> anyhow::Result<u64> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(format!("{base}/v1/runs/{run_id}/events"))
        .header(AUTHORIZATION, auth)
        .body(Empty::new())?;
    let work = async {
        let response = client.request(request).await?;
        if !response.status().is_success() {
            bail!("run events answered {}", response.status());
        }
        let mut reader = SseReader::new(response.into_body());
        let mut count = 0;
        let mut completed = false;
        while let Some(data) = reader.next_data().await? {
            count += 1;
            let text = String::from_utf8_lossy(&data);
            if text.contains("\"run.failed\"") {
                bail!("run failed: {text}");
            }
            completed |= text.contains("\"run.completed\"");
        }
        if !completed {
            bail!("run {run_id} events ended without run.completed");
        }
        Ok(count)
    };
    tokio::time::timeout(Duration::from_secs(60), work)
        .await
        .context("run events timed out")?
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::{get, post};

    use super::*;

    /// A stand-in server whose `POST /v1/runs` answers `status` with `body`, and whose run
    /// events are two frames then the end.
    async fn stub(status: StatusCode, body: &'static str) -> String {
        let app = Router::new()
            .route("/v1/runs", post(move || async move { (status, body) }))
            .route(
                "/v1/runs/{id}/events",
                get(|| async {
                    "id: 1\ndata: {\"event\":\"run.started\"}\n\n\
                     id: 2\ndata: {\"event\":\"run.completed\"}\n\n: stream closed\n\n"
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    fn auth() -> HeaderValue {
        HeaderValue::from_static("Bearer test")
    }

    #[tokio::test]
    async fn runs_not_built_yet_are_reported_pending() {
        let base = stub(StatusCode::NOT_IMPLEMENTED, r#"{"error":{}}"#).await;
        let figures = runs_at(&base, &auth(), 2).await;
        assert!(
            matches!(&figures, RunsFigures::Pending { reason } if reason.contains("501")),
            "{figures:?}"
        );
    }

    #[tokio::test]
    async fn a_refused_run_is_a_failure() {
        let base = stub(StatusCode::BAD_REQUEST, r#"{"error":{"code":"invalid"}}"#).await;
        let figures = runs_at(&base, &auth(), 1).await;
        assert!(
            matches!(&figures, RunsFigures::Failed { error } if error.contains("400")),
            "{figures:?}"
        );
    }

    #[tokio::test]
    async fn events_are_counted_until_the_stream_closes() {
        let base = stub(
            StatusCode::ACCEPTED,
            r#"{"run_id":"run_1","status":"queued"}"#,
        )
        .await;
        let figures = runs_at(&base, &auth(), 3).await;
        assert!(
            matches!(
                figures,
                RunsFigures::Measured {
                    runs: 3,
                    events: 6,
                    ..
                }
            ),
            "{figures:?}"
        );
    }
}
