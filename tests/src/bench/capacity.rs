//! `caduceus-bench load`: the load test against the real binary on loopback. Part one runs
//! `rounds` measured rounds back to back, each holding `streams` REST SSE chat streams at once,
//! answered by the mock at one chunk per second for `hold_secs`, and reads the server's RSS
//! before, at peak and after each round closed; part two starts `runs` runs at once, each asking
//! for a `terminal` command that needs approval, answers every approval through
//! `POST /v1/runs/{id}/approval` and follows each run's events to `run.completed`. The figures,
//! their verdict (errors, growth across rounds, a clear leak) and their Markdown are in
//! `capacity_report.rs`.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::task::JoinSet;

use super::capacity_report::{LoadReport, RoundLoad, RunsLoad, StreamsLoad};
use super::client::{Path, Targets};
use super::mock::{FIXED_TEXT, MockUpstream, Mode};
use super::plan::Options;
use super::server::{ServerOptions, ServerUnderTest};
use super::sse::SseReader;

/// Spacing between stream opens (200 per second), so the test measures holding, not a
/// connection storm.
const OPEN_SPACING: Duration = Duration::from_millis(5);

/// The warm-up round's streams: one chunk a second, long enough that all `count` streams are
/// open at once (they take `count` × [`OPEN_SPACING`] to open) for two seconds.
fn warm_mode(count: usize) -> Mode {
    let opening = OPEN_SPACING.as_secs_f64() * count as f64;
    Mode::Paced {
        chunks: opening.ceil() as u32 + 2,
        interval_us: 1_000_000,
    }
}

/// Runs the load test of `options.plan`; progress goes to stderr.
pub async fn run(options: &Options) -> anyhow::Result<LoadReport> {
    let started = Instant::now();
    let loadavg_start = super::loadavg();
    let plan = &options.plan;
    let fd_limit = raise_fd_limit();
    let slow = Mode::Paced {
        chunks: u32::try_from(plan.hold_secs).unwrap_or(u32::MAX),
        interval_us: 1_000_000,
    };
    let warm = warm_mode(plan.streams);
    let routes = vec![("slow", slow), ("warm", warm), ("approve", Mode::Approve)];
    let mock = MockUpstream::start()?;
    super::progress("starting the server");
    let server = ServerUnderTest::start(&ServerOptions {
        bin: &options.server_bin,
        upstream: &mock.base_url(),
        routes: &routes,
        database_url: options.database_url.as_deref(),
        wrapper: &options.wrapper,
    })
    .await?;
    let targets = Targets::with_server(
        &mock.completions_url(),
        &server.base(),
        server.key(),
        routes,
    )
    .await?;
    let outcome = async {
        let rounds = Rounds {
            count: plan.streams,
            warm,
            main: slow,
            chunks: plan.hold_secs,
            measured: plan.rounds,
        };
        let streams = hold(&server, &targets, &rounds).await?;
        super::progress(&format!("{} concurrent runs with approvals", plan.runs));
        let (base, auth) = targets.server().context("no server")?;
        let runs = approval_runs(base, auth, plan.runs).await;
        Ok::<_, anyhow::Error>((streams, runs))
    }
    .await;
    let (streams, runs) = match outcome {
        Ok(figures) => figures,
        Err(error) => {
            return Err(error.context(format!("server log tail:\n{}", server.log_tail(3000))));
        }
    };
    let _ = server.stop(Duration::from_secs(10));
    Ok(LoadReport {
        loadavg_start,
        loadavg_end: super::loadavg(),
        fd_limit,
        streams,
        runs,
        elapsed_secs: started.elapsed().as_secs_f64(),
    })
}

/// Raises this process's open-file soft limit to its hard limit (the server, spawned later,
/// inherits it): each held stream costs two descriptors here (client and mock side) and one in
/// the server. Returns the limit now in force.
fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(maximum) = limit.maximum
        && limit.current.is_some_and(|current| current < maximum)
    {
        let raised = rustix::process::Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return maximum;
        }
    }
    limit.current.unwrap_or(u64::MAX)
}

/// The rounds of held streams: one warm-up, then `measured` rounds.
struct Rounds {
    count: usize,
    /// The warm-up round's mode ([`warm_mode`]).
    warm: Mode,
    /// The measured rounds' mode: `chunks` content deltas, one per second.
    main: Mode,
    chunks: u64,
    measured: usize,
}

/// Holds `count` streams per round, each read to `[DONE]`, sampling the server's RSS every
/// 500 ms. A warm-up round with as many streams open at once comes first: the allocator keeps
/// the heap a burst needed, so "before" is taken after it. Then `measured` rounds back to back,
/// RSS read after each closed: level from round to round is the allocator reusing its heap,
/// growing from round to round is memory kept per finished stream — a leak.
async fn hold(
    server: &ServerUnderTest,
    targets: &Targets,
    rounds: &Rounds,
) -> anyhow::Result<StreamsLoad> {
    let (count, chunks) = (rounds.count, rounds.chunks);
    super::progress(&format!("warm-up: {count} short streams"));
    let idle_kib = server.rss_kib()?;
    let warm_chunks = match rounds.warm {
        Mode::Paced { chunks, .. } => u64::from(chunks),
        _ => 1,
    };
    let mut warm = open_all(targets, count, rounds.warm, warm_chunks).await;
    let mut warm_errors = 0;
    while let Some(done) = warm.join_next().await {
        if done.map_err(anyhow::Error::from).and_then(|r| r).is_err() {
            warm_errors += 1;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kib = server.rss_kib()?;
    let mut figures = StreamsLoad {
        streams: count,
        chunks_per_stream: chunks,
        completed: 0,
        errors: warm_errors,
        first_error: (warm_errors > 0).then(|| format!("{warm_errors} warm-up streams failed")),
        seconds: 0.0,
        rss_idle_kib: idle_kib,
        rss_before_kib: before_kib,
        rss_peak_kib: before_kib,
        rss_after_kib: 0,
        vm_hwm_kib: None,
        rounds: Vec::with_capacity(rounds.measured),
    };
    for round in 1..=rounds.measured {
        super::progress(&format!(
            "round {round} of {}: holding {count} streams for {chunks} s",
            rounds.measured
        ));
        let figures_of_round = measured_round(server, targets, rounds, &mut figures).await?;
        figures.completed += figures_of_round.completed;
        figures.errors += figures_of_round.errors;
        figures.seconds += figures_of_round.seconds;
        figures.rss_after_kib = figures_of_round.rss_after_kib;
        figures.rounds.push(figures_of_round);
    }
    figures.vm_hwm_kib = server.peak_rss_kib().ok();
    Ok(figures)
}

/// One measured round: opens `count` streams, waits for all to end while raising
/// `totals.rss_peak_kib`, then reads RSS two seconds after the last closed. The first error
/// goes to `totals.first_error`.
async fn measured_round(
    server: &ServerUnderTest,
    targets: &Targets,
    rounds: &Rounds,
    totals: &mut StreamsLoad,
) -> anyhow::Result<RoundLoad> {
    let started = Instant::now();
    let mut streams = open_all(targets, rounds.count, rounds.main, rounds.chunks).await;
    let mut round = RoundLoad {
        completed: 0,
        errors: 0,
        seconds: 0.0,
        rss_after_kib: 0,
    };
    let mut sampler = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            done = streams.join_next() => {
                let Some(done) = done else { break };
                match done.map_err(anyhow::Error::from).and_then(|r| r) {
                    Ok(()) => round.completed += 1,
                    Err(error) => {
                        round.errors += 1;
                        totals.first_error.get_or_insert_with(|| format!("{error:#}"));
                    }
                }
            }
            _ = sampler.tick() => {
                totals.rss_peak_kib = totals.rss_peak_kib.max(server.rss_kib()?);
            }
        }
    }
    round.seconds = started.elapsed().as_secs_f64();
    // Let the server finish storing the answers and drop per-stream state.
    tokio::time::sleep(Duration::from_secs(2)).await;
    round.rss_after_kib = server.rss_kib()?;
    Ok(round)
}

/// Opens `count` REST streams of `mode`, [`OPEN_SPACING`] apart; each task reads its stream
/// to `[DONE]` and fails unless exactly `chunks` content deltas arrived.
async fn open_all(
    targets: &Targets,
    count: usize,
    mode: Mode,
    chunks: u64,
) -> JoinSet<anyhow::Result<()>> {
    let limit = Duration::from_secs(chunks) + Duration::from_secs(60);
    let mut streams = JoinSet::new();
    for _ in 0..count {
        let targets = targets.clone();
        streams.spawn(async move {
            let read = async {
                let mut stream = targets.open_stream(Path::Rest, mode).await?;
                let got = stream.drain().await?;
                if got != chunks {
                    bail!("the stream ended after {got} of {chunks} chunks");
                }
                Ok(())
            };
            tokio::time::timeout(limit, read)
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("no [DONE] within {limit:?}")))
        });
        tokio::time::sleep(OPEN_SPACING).await;
    }
    streams
}

/// Starts `count` runs at once (model `approve`), answers each approval, follows each run to
/// `run.completed`.
async fn approval_runs(base: &str, auth: &HeaderValue, count: usize) -> RunsLoad {
    let started = Instant::now();
    let mut runs = JoinSet::new();
    for i in 0..count {
        let (base, auth) = (base.to_owned(), auth.clone());
        runs.spawn(async move {
            tokio::time::timeout(Duration::from_secs(120), one_run(&base, &auth, i))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("run {i} did not complete in 120 s")))
        });
    }
    let mut figures = RunsLoad {
        runs: count,
        completed: 0,
        approvals: 0,
        events: 0,
        errors: 0,
        first_error: None,
        seconds: 0.0,
        events_per_sec: 0.0,
    };
    while let Some(done) = runs.join_next().await {
        match done.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok((events, approvals)) => {
                figures.completed += 1;
                figures.events += events;
                figures.approvals += approvals;
            }
            Err(error) => {
                figures.errors += 1;
                figures
                    .first_error
                    .get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
    figures.seconds = started.elapsed().as_secs_f64();
    figures.events_per_sec = figures.events as f64 / figures.seconds.max(1e-9);
    figures
}

/// One run: create, follow the events, answer each `approval.request` with `once`. Returns
/// (events seen, approvals answered); a run that fails, is cancelled, or completes without an
/// approval or without the mock's answer is an error.
async fn one_run(base: &str, auth: &HeaderValue, i: usize) -> anyhow::Result<(u64, u64)> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let body = serde_json::json!({"input": format!("load run {i}"), "model": "approve"});
    let created = post_json(&client, &format!("{base}/v1/runs"), auth, &body).await?;
    let run_id = created["run_id"]
        .as_str()
        .context("POST /v1/runs answered without run_id")?
        .to_owned();
    let events: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let request = Request::get(format!("{base}/v1/runs/{run_id}/events"))
        .header(AUTHORIZATION, auth.clone())
        .body(Empty::new())?;
    let response = events.request(request).await?;
    if !response.status().is_success() {
        bail!("run events answered {}", response.status());
    }
    let mut reader = SseReader::new(response.into_body());
    let (mut count, mut approvals) = (0, 0);
    while let Some(data) = reader.next_data().await? {
        count += 1;
        let event: Value = serde_json::from_slice(&data).context("run event is not JSON")?;
        match event["event"].as_str().unwrap_or_default() {
            "approval.request" => {
                let approval = serde_json::json!({
                    "choice": "once",
                    "approval_id": event["approval_id"],
                });
                let url = format!("{base}/v1/runs/{run_id}/approval");
                let answer = post_json(&client, &url, auth, &approval).await?;
                if answer["resolved"].as_i64() != Some(1) {
                    bail!("approval of {run_id} resolved {}", answer["resolved"]);
                }
                approvals += 1;
            }
            "run.completed" => {
                if approvals == 0 {
                    bail!("run {run_id} completed without asking for approval");
                }
                if !event["output"].to_string().contains(FIXED_TEXT) {
                    bail!("run {run_id} completed without the mock's answer: {event}");
                }
                return Ok((count, approvals));
            }
            "run.failed" | "run.cancelled" => bail!("run {run_id} ended: {event}"),
            _ => {}
        }
    }
    bail!("run {run_id} events ended without run.completed")
}

/// POSTs `body`; a non-2xx answer is an error naming the status and body.
async fn post_json(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    url: &str,
    auth: &HeaderValue,
    body: &Value,
) -> anyhow::Result<Value> {
    let request = Request::post(url)
        .header(AUTHORIZATION, auth.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))?;
    let response = client.request(request).await?;
    let status = response.status();
    let bytes = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!(
            "POST {url} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    serde_json::from_slice(&bytes).with_context(|| format!("POST {url}: answer is not JSON"))
}
