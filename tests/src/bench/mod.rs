//! The performance harness behind `caduceus-bench` (see BENCHMARKS.md): a lean mock upstream
//! (`mock`), the real `caduceus` binary under test (`server`), three request paths — direct to the
//! mock (the floor), REST, gRPC (`client`, `sse`) — open- and closed-loop load (`load`), the
//! scenarios (`scenarios`, `resources`) and the report (`report`, `report_tables`). [`run`] is
//! the whole sequence; the load test (`caduceus-bench load`) is [`capacity::run`]. The binary
//! only parses the command line and prints. Not used by the e2e suite.

pub mod capacity;
pub mod capacity_report;
pub mod client;
pub mod load;
pub mod mock;
pub mod plan;
pub mod report;
mod report_tables;
pub mod resources;
pub mod scenarios;
pub mod server;
pub mod sse;
pub mod stats;

use std::time::{Duration, Instant};

use anyhow::Context as _;

use client::{Path, Targets};
use load::closed_loop;
use mock::{MockUpstream, Mode};
use plan::{Kind, Options, Plan};
use report::{Machine, MockAlone, Report};
use scenarios::{Probe, series};
use server::{ServerOptions, ServerUnderTest};

/// Runs the plan of `options` and returns what it measured; progress goes to stderr.
pub async fn run(options: &Options) -> anyhow::Result<Report> {
    let started = Instant::now();
    let plan = &options.plan;
    let loadavg_start = loadavg();
    let mock = MockUpstream::start()?;
    let direct = Targets::direct_only(&mock.completions_url())?;
    progress("measuring the mock alone");
    scenarios::warm_up(&direct, plan, &[Path::Direct]).await?;
    let mock_alone = mock_alone(&direct, plan).await;
    let mut report = Report {
        kind: format!("{:?}", plan.kind).to_lowercase(),
        machine: machine(loadavg_start),
        server_bin: options.server_bin.display().to_string(),
        database: options.database_url.as_deref().map_or(
            "SQLite (default, file in the temp home)".to_owned(),
            |url| url.split('@').next_back().unwrap_or(url).to_owned(),
        ),
        segment_secs: plan.segment.as_secs_f64(),
        reps: plan.reps,
        concurrency: plan.concurrency,
        mock_alone: None,
        rates: Vec::new(),
        throughput: Vec::new(),
        first_token: None,
        relay: None,
        burst: Vec::new(),
        memory: None,
        runs: None,
        elapsed_secs: 0.0,
    };
    if plan.kind == Kind::Mock {
        let mut rates = Vec::new();
        for &rate in &plan.rates {
            rates.push(series(&direct, plan, format!("{rate:.0} rps"), rate, Probe::Unary).await);
        }
        report.rates = rates;
        report.mock_alone = Some(mock_alone);
        return Ok(finish(report, started));
    }
    report.mock_alone = Some(mock_alone);

    progress("starting the server");
    let routes = plan.routes();
    let server = ServerUnderTest::start(&ServerOptions {
        bin: &options.server_bin,
        upstream: &mock.base_url(),
        routes: &routes,
        database_url: options.database_url.as_deref(),
        wrapper: &options.wrapper,
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = server.rss_kib()?;
    let targets = Targets::with_server(
        &mock.completions_url(),
        &server.base(),
        server.key(),
        routes,
    )
    .await?;
    let outcome = if plan.kind == Kind::Profile {
        profile_load(&targets, plan, &server, &mut report).await
    } else {
        measure_server(&targets, plan, &server, idle_kib, &mut report).await
    };
    if let Err(error) = outcome {
        return Err(error.context(format!("server log tail:\n{}", server.log_tail(3000))));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    if let Some(memory) = &mut report.memory {
        memory.after_load_kib = server.rss_kib().ok();
        memory.peak_kib = server.peak_rss_kib().ok();
    }
    // A profiler writes its output at exit, which takes a while under valgrind.
    let status = server.stop(Duration::from_secs(if options.wrapper.is_empty() {
        10
    } else {
        120
    }))?;
    if !status.success() {
        progress(&format!(
            "note: the server exited with {status} after SIGTERM"
        ));
    }
    Ok(finish(report, started))
}

/// Every server scenario, in order.
async fn measure_server(
    targets: &Targets,
    plan: &Plan,
    server: &ServerUnderTest,
    idle_kib: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    progress("warming up");
    scenarios::warm_up(targets, plan, &Path::ALL).await?;
    // Memory first: after overload the allocator keeps freed heap that new streams would reuse,
    // hiding their cost.
    progress(&format!("memory with {} open streams", plan.streams));
    report.memory = Some(resources::memory(server, targets, plan.streams, idle_kib).await?);
    for &rate in &plan.rates {
        progress(&format!("latency at {rate:.0} rps"));
        let label = format!("{rate:.0} rps");
        report
            .rates
            .push(series(targets, plan, label, rate, Probe::Unary).await);
    }
    progress("maximum throughput");
    report.throughput = scenarios::throughput(targets, plan, Some(server.pid())).await;
    progress("time to first token");
    let label = format!("{:.0} streams/s", plan.ttft_rate);
    report.first_token =
        Some(series(targets, plan, label, plan.ttft_rate, Probe::FirstToken).await);
    progress("relay latency per chunk");
    let label = match plan.paced {
        Mode::Paced {
            chunks,
            interval_us,
        } => format!(
            "{:.0} streams/s × {chunks} chunks, 1 per {:.1} ms",
            plan.relay_rate,
            interval_us as f64 / 1e3
        ),
        other => format!("{other:?}"),
    };
    report.relay = Some(
        series(
            targets,
            plan,
            label,
            plan.relay_rate,
            Probe::Relay(plan.paced),
        )
        .await,
    );
    progress("relay cost per chunk (bursts)");
    report.burst = scenarios::burst(targets, plan).await;
    progress("runs");
    report.runs = Some(resources::runs(targets, plan.runs).await);
    Ok(())
}

/// The profile run: steady non-streamed load, then bursts, on every path.
async fn profile_load(
    targets: &Targets,
    plan: &Plan,
    server: &ServerUnderTest,
    report: &mut Report,
) -> anyhow::Result<()> {
    progress("warming up (profile)");
    scenarios::warm_up(targets, plan, &Path::ALL).await?;
    progress("steady non-streamed load (profile)");
    report.throughput = scenarios::throughput(targets, plan, Some(server.pid())).await;
    progress("bursts (profile)");
    report.burst = scenarios::burst(targets, plan).await;
    Ok(())
}

/// Closed-loop capacity of the mock, unary and streamed, with no server running.
async fn mock_alone(direct: &Targets, plan: &Plan) -> MockAlone {
    let unary = {
        let targets = direct.clone();
        closed_loop(plan.concurrency, plan.segment, move || {
            let targets = targets.clone();
            async move { targets.unary(Path::Direct).await }
        })
        .await
    };
    let stream = {
        let targets = direct.clone();
        closed_loop(plan.concurrency, plan.segment, move || {
            let targets = targets.clone();
            async move {
                let mut stream = targets.open_stream(Path::Direct, Mode::Fixed).await?;
                stream.drain().await.map(drop)
            }
        })
        .await
    };
    MockAlone {
        unary_rps: unary.rps,
        stream_rps: stream.rps,
    }
}

fn finish(mut report: Report, started: Instant) -> Report {
    report.machine.loadavg_end = loadavg();
    report.elapsed_secs = started.elapsed().as_secs_f64();
    report
}

fn progress(message: &str) {
    eprintln!("caduceus-bench: {message}");
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".into())
}

fn machine(loadavg_start: String) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split(':').nth(1))
        .map_or_else(|| "?".to_owned(), |model| model.trim().to_owned());
    let mem_total_kib = server::proc_status_kib_from(
        &std::fs::read_to_string("/proc/meminfo").unwrap_or_default(),
        "MemTotal:",
    )
    .unwrap_or_default();
    Machine {
        cpus: std::thread::available_parallelism().map_or(0, usize::from),
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| k.trim().to_owned())
            .unwrap_or_else(|_| "?".into()),
        mem_total_kib,
        loadavg_start,
        loadavg_end: String::new(),
        niceness: niceness().unwrap_or_else(|| "?".into()),
    }
}

/// This process's nice value (field 19 of `/proc/self/stat`).
fn niceness() -> Option<String> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.split_whitespace().nth(16).map(str::to_owned)
}

/// Writes `text` to `path`, naming the path on failure.
pub fn write_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}
