//! The Markdown of the report past the latency table: the target verdicts (issue targets, checked
//! against this run's medians), maximum throughput, streaming (first token, paced relay, burst
//! cost), memory and runs. The report's data and the latency table live in `report.rs`.

use std::fmt::Write as _;

use super::client::Path;
use super::report::{Report, RunsFigures, series_table};

/// The targets.
const REST_P50_US: f64 = 300.0;
const REST_P99_US: f64 = 1500.0;
const TTFT_US: f64 = 500.0;
const CHUNK_US: f64 = 20.0;
const IDLE_MB: f64 = 50.0;
const STREAM_KB: f64 = 50.0;

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn us(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_owned(), |v| format!("{v:.0} µs"))
}

/// The targets table.
pub fn verdicts(md: &mut String, report: &Report) {
    let measured_rest = report
        .rates
        .iter()
        .any(|s| s.get(Path::Rest).is_some_and(|p| p.samples > 0));
    if !measured_rest && report.memory.is_none() {
        return;
    }
    md.push_str("### Targets\n\n| target | measured | verdict |\n|---|---|---|\n");
    let at_1000 = report.rates.iter().find(|s| (s.rate - 1000.0).abs() < 0.5);
    let overhead = |path: Path| at_1000.and_then(|s| s.get(path)?.overhead);
    let rest = overhead(Path::Rest);
    let grpc = overhead(Path::Grpc);
    // A path that could not keep up is reported as saturated next to its (queueing) figures.
    let saturated = |path: Path| {
        at_1000
            .and_then(|s| s.get(path))
            .filter(|p| p.achieved_rps < 0.95 * 1000.0)
            .map_or_else(String::new, |p| {
                format!(" (saturated: {:.0} of 1,000 rps served)", p.achieved_rps)
            })
    };
    let mut row = |target: &str, measured: String, ok: Option<bool>| {
        let _ = writeln!(md, "| {target} | {measured} | {} |", verdict(ok));
    };
    row(
        "REST overhead p50 ≤ 0.3 ms at 1,000 rps",
        us(rest.map(|o| o.p50)) + &saturated(Path::Rest),
        rest.map(|o| o.p50 <= REST_P50_US),
    );
    row(
        "REST overhead p99 ≤ 1.5 ms at 1,000 rps",
        us(rest.map(|o| o.p99)) + &saturated(Path::Rest),
        rest.map(|o| o.p99 <= REST_P99_US),
    );
    row(
        "gRPC overhead ≤ REST overhead (p50, p99) at 1,000 rps",
        format!(
            "p50 {} vs {}, p99 {} vs {}{}",
            us(grpc.map(|o| o.p50)),
            us(rest.map(|o| o.p50)),
            us(grpc.map(|o| o.p99)),
            us(rest.map(|o| o.p99)),
            saturated(Path::Grpc)
        ),
        grpc.zip(rest)
            .map(|(g, r)| g.p50 <= r.p50 && g.p99 <= r.p99),
    );
    for path in [Path::Rest, Path::Grpc] {
        let ttft = report
            .first_token
            .as_ref()
            .and_then(|s| s.get(path)?.overhead)
            .map(|o| o.p50);
        row(
            &format!("{} streaming TTFT overhead (p50) ≤ 0.5 ms", path.name()),
            us(ttft),
            ttft.map(|v| v <= TTFT_US),
        );
        let relay = report
            .relay
            .as_ref()
            .and_then(|s| s.get(path)?.overhead)
            .map(|o| o.p50);
        row(
            &format!(
                "{} relay latency per chunk (p50 overhead) ≤ 20 µs",
                path.name()
            ),
            us(relay),
            relay.map(|v| v <= CHUNK_US),
        );
        let burst = report
            .burst
            .iter()
            .find(|b| b.path == path)
            .and_then(|b| b.overhead_us);
        row(
            &format!("{} relay cost per chunk under a burst ≤ 20 µs", path.name()),
            burst.map_or_else(|| "—".to_owned(), |v| format!("{v:.1} µs")),
            burst.map(|v| v <= CHUNK_US),
        );
    }
    if let Some(memory) = &report.memory {
        let idle_mb = memory.idle_kib as f64 * 1024.0 / 1e6;
        row(
            "RSS idle ≤ 50 MB",
            format!("{idle_mb:.1} MB"),
            Some(idle_mb <= IDLE_MB),
        );
        let per_kb = memory.per_stream_bytes.map(|b| b / 1e3);
        row(
            &format!(
                "RSS per open SSE stream ≤ 50 KB ({} streams)",
                memory.streams
            ),
            per_kb.map_or_else(|| "—".to_owned(), |kb| format!("{kb:.1} KB")),
            per_kb.map(|kb| kb <= STREAM_KB),
        );
    }
    md.push('\n');
}

/// Throughput, streaming, memory and runs sections.
pub fn rest(md: &mut String, report: &Report) {
    if !report.throughput.is_empty() {
        let floor = report
            .throughput
            .iter()
            .find(|t| t.path == Path::Direct)
            .map(|t| t.rps);
        let _ = writeln!(
            md,
            "### Maximum throughput, non-streamed (closed loop, {} in flight)\n\n\
             | path | completions/s (median) | per repetition | share of direct | server CPU per completion | errors |\n\
             |---|---:|---|---:|---:|---:|",
            report.concurrency
        );
        for t in &report.throughput {
            let reps: Vec<String> = t.reps.iter().map(|r| format!("{r:.0}")).collect();
            let share = floor
                .filter(|f| *f > 0.0)
                .map_or_else(|| "—".to_owned(), |f| format!("{:.1} %", 100.0 * t.rps / f));
            let cpu = t
                .server_cpu_us
                .map_or_else(|| "—".to_owned(), |us| format!("{us:.0} µs"));
            let _ = writeln!(
                md,
                "| {} | {:.0} | {} | {share} | {cpu} | {} |",
                t.path.name(),
                t.rps,
                reps.join(", "),
                t.errors
            );
        }
        md.push('\n');
    }
    if let Some(series) = &report.first_token {
        md.push_str("### Streaming time to first token (µs, open loop)\n\n");
        series_table(md, std::slice::from_ref(series), true);
    }
    if let Some(series) = &report.relay {
        md.push_str(
            "### Streaming relay latency per chunk (µs: mock write → client read, every chunk)\n\n",
        );
        series_table(md, std::slice::from_ref(series), true);
    }
    if !report.burst.is_empty() {
        md.push_str(
            "### Streaming relay cost per chunk under a burst ((mock write → last chunk read) / chunks, one stream at a time)\n\n\
             | path | chunks | µs per chunk (median) | overhead | errors |\n|---|---:|---:|---:|---:|\n",
        );
        for b in &report.burst {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                b.path.name(),
                b.chunks,
                b.per_chunk_us
                    .map_or_else(|| "—".into(), |v| format!("{v:.1}")),
                b.overhead_us
                    .map_or_else(|| "—".into(), |v| format!("{v:+.1}")),
                b.errors
            );
        }
        for b in report.burst.iter().filter(|b| b.errors > 0) {
            let _ = writeln!(
                md,
                "- {}: first error: {}",
                b.path.name(),
                b.first_error.as_deref().unwrap_or("?")
            );
        }
        md.push('\n');
    }
    if let Some(m) = &report.memory {
        let mb = |kib: u64| format!("{:.1} MB", kib as f64 * 1024.0 / 1e6);
        let _ = writeln!(
            md,
            "### Server memory (RSS)\n\n| state | RSS |\n|---|---:|\n\
             | idle after start | {} |\n| after the warm-up, before the streams | {} |\n\
             | {} REST SSE streams open | {} |\n| after they closed | {} |\n\
             | idle after every scenario | {} |\n| peak (VmHWM) | {} |\n\n\
             Per open stream: {}.{}\n",
            mb(m.idle_kib),
            mb(m.before_streams_kib),
            m.streams,
            mb(m.with_streams_kib),
            mb(m.after_close_kib),
            m.after_load_kib.map_or_else(|| "—".into(), mb),
            m.peak_kib.map_or_else(|| "—".into(), mb),
            m.per_stream_bytes
                .map_or_else(|| "—".into(), |b| format!("{:.1} KB", b / 1e3)),
            m.first_error
                .as_ref()
                .map(|e| format!(" {} streams failed to open; first error: {e}", m.errors))
                .unwrap_or_default()
        );
    }
    if let Some(runs) = &report.runs {
        md.push_str("### Runs (`/v1/runs` events delivered per second)\n\n");
        let _ = match runs {
            RunsFigures::Pending { reason } => writeln!(md, "pending runs — {reason}\n"),
            RunsFigures::Measured {
                runs,
                events,
                seconds,
                events_per_sec,
            } => writeln!(
                md,
                "{events} events from {runs} concurrent runs in {seconds:.2} s: \
                 {events_per_sec:.0} events/s\n"
            ),
            RunsFigures::Failed { error } => writeln!(md, "failed — {error}\n"),
        };
    }
}
