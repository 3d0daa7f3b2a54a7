//! `caduceus-bench`: the performance harness (BENCHMARKS.md). `full` measures every path (direct
//! to the mock, REST, gRPC) against the real `caduceus` binary in a few minutes; `smoke` runs
//! every scenario once for a few seconds with no thresholds (CI); `mock` measures the mock alone;
//! `load` is the load test (held streams, RSS, runs with approvals), failing on errors or a leak.
//! Prints the Markdown report on stdout (progress on stderr); `--out`/`--json` also save it.
//! The harness itself lives in `caduceus_tests::bench`.

use std::io::Write as _;
use std::process::ExitCode;

use caduceus_tests::bench::{self, plan::Kind, plan::Options, plan::USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        eprintln!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("caduceus-bench: {error:#}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("caduceus-bench: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if options.plan.kind == Kind::Load {
        return load(&runtime, &options);
    }
    let report = match runtime.block_on(bench::run(&options)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("caduceus-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report.markdown();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(markdown.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    let saved = [
        options.out.as_deref().map(|p| (p, markdown.clone())),
        options
            .json
            .as_deref()
            .map(|p| (p, serde_json::to_string_pretty(&report).unwrap_or_default())),
    ];
    for (path, text) in saved.into_iter().flatten() {
        if let Err(error) = bench::write_file(path, &text) {
            eprintln!("caduceus-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    }
    // The smoke has no performance thresholds, but a request that fails is a broken path.
    if options.plan.kind == Kind::Smoke && report.errors() > 0 {
        eprintln!(
            "caduceus-bench: smoke: {} requests failed (see the report)",
            report.errors()
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `caduceus-bench load`: prints the summary, saves it (`--out`, `--json`), fails on a failure.
fn load(runtime: &tokio::runtime::Runtime, options: &Options) -> ExitCode {
    let report = match runtime.block_on(bench::capacity::run(options)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("caduceus-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let markdown = report.markdown();
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(markdown.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    let saved = [
        options.out.as_deref().map(|p| (p, markdown.clone())),
        options
            .json
            .as_deref()
            .map(|p| (p, serde_json::to_string_pretty(&report).unwrap_or_default())),
    ];
    for (path, text) in saved.into_iter().flatten() {
        if let Err(error) = bench::write_file(path, &text) {
            eprintln!("caduceus-bench: {error:#}");
            return ExitCode::FAILURE;
        }
    }
    match report.failure() {
        Some(why) => {
            eprintln!("caduceus-bench: load: {why}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}
