//! What a bench run found ([`Report`] and its parts, serialisable as JSON) and its Markdown
//! rendering: the tables of BENCHMARKS.md and the target verdicts. Microseconds throughout;
//! memory in KiB as `/proc` gives it, shown in decimal MB/KB as the targets are written.

use std::fmt::Write as _;

use serde::Serialize;

use super::client::Path;
use super::stats::Percentiles;

/// One path's figures in a series.
#[derive(Debug, Clone, Serialize)]
pub struct PathFigures {
    pub path: Path,
    /// Median over repetitions of each segment's percentiles (µs).
    pub absolute: Option<Percentiles>,
    /// Median over repetitions of (this path − direct, same repetition) (µs).
    pub overhead: Option<Percentiles>,
    pub samples: usize,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Median completed requests per second.
    pub achieved_rps: f64,
}

/// One measured series: a probe at one rate over every path.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub label: String,
    pub rate: f64,
    pub paths: Vec<PathFigures>,
    /// How late the pacer started direct requests (µs): the client's own noise floor.
    pub pacer_lag: Option<Percentiles>,
}

impl Series {
    /// The figures of `path`.
    pub fn get(&self, path: Path) -> Option<&PathFigures> {
        self.paths.iter().find(|p| p.path == path)
    }
}

/// Maximum throughput of one path.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputFigures {
    pub path: Path,
    /// Median over repetitions.
    pub rps: f64,
    pub reps: Vec<f64>,
    /// Server CPU time (all threads) per completion, µs (median over repetitions; gateway
    /// paths only).
    pub server_cpu_us: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Per-chunk relay cost of one path under a burst.
#[derive(Debug, Clone, Serialize)]
pub struct BurstFigures {
    pub path: Path,
    pub chunks: u32,
    pub per_chunk_us: Option<f64>,
    pub overhead_us: Option<f64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// Server memory.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigures {
    /// Right after start-up (health answered, nothing else).
    pub idle_kib: u64,
    pub before_streams_kib: u64,
    pub with_streams_kib: u64,
    /// Streams actually held open.
    pub streams: usize,
    pub per_stream_bytes: Option<f64>,
    pub after_close_kib: u64,
    /// Idle again after every scenario.
    pub after_load_kib: Option<u64>,
    pub peak_kib: Option<u64>,
    pub errors: u64,
    pub first_error: Option<String>,
}

/// `/v1/runs` event delivery.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunsFigures {
    /// The route is not built yet.
    Pending {
        reason: String,
    },
    Measured {
        runs: usize,
        events: u64,
        seconds: f64,
        events_per_sec: f64,
    },
    Failed {
        error: String,
    },
}

/// The mock measured alone, before any server runs.
#[derive(Debug, Clone, Serialize)]
pub struct MockAlone {
    pub unary_rps: f64,
    pub stream_rps: f64,
}

/// Where the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub mem_total_kib: u64,
    pub loadavg_start: String,
    pub loadavg_end: String,
    pub niceness: String,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub kind: String,
    pub machine: Machine,
    pub server_bin: String,
    pub database: String,
    pub segment_secs: f64,
    pub reps: usize,
    pub concurrency: usize,
    pub mock_alone: Option<MockAlone>,
    pub rates: Vec<Series>,
    pub throughput: Vec<ThroughputFigures>,
    pub first_token: Option<Series>,
    pub relay: Option<Series>,
    pub burst: Vec<BurstFigures>,
    pub memory: Option<MemoryFigures>,
    pub runs: Option<RunsFigures>,
    pub elapsed_secs: f64,
}

impl Report {
    /// Total failed requests over every scenario.
    pub fn errors(&self) -> u64 {
        let series = self
            .rates
            .iter()
            .chain(&self.first_token)
            .chain(&self.relay)
            .flat_map(|s| &s.paths)
            .map(|p| p.errors);
        series.sum::<u64>()
            + self.throughput.iter().map(|t| t.errors).sum::<u64>()
            + self.burst.iter().map(|b| b.errors).sum::<u64>()
            + self.memory.as_ref().map_or(0, |m| m.errors)
            + u64::from(matches!(self.runs, Some(RunsFigures::Failed { .. })))
    }

    /// The whole report as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(
            md,
            "Run `{}`: {} CPUs ({}), kernel {}, {:.1} GB RAM, nice {}, load average {} at start \
             and {} at end; server `{}` on {}; segments of {:.1} s × {} repetitions, paths \
             interleaved; {:.0} s in all.\n",
            self.kind,
            m.cpus,
            m.cpu_model,
            m.kernel,
            m.mem_total_kib as f64 * 1024.0 / 1e9,
            m.niceness,
            m.loadavg_start,
            m.loadavg_end,
            self.server_bin,
            self.database,
            self.segment_secs,
            self.reps,
            self.elapsed_secs
        );
        if let Some(mock) = &self.mock_alone {
            let _ = writeln!(
                md,
                "### Mock upstream alone\n\nMaximum {:.0} non-streamed and {:.0} streamed \
                 completions/s (closed loop, {} in flight, client in the same process).\n",
                mock.unary_rps, mock.stream_rps, self.concurrency
            );
        }
        super::report_tables::verdicts(&mut md, self);
        if !self.rates.is_empty() {
            md.push_str("### Non-streamed chat completion latency (µs, open loop)\n\n");
            series_table(&mut md, &self.rates, true);
        }
        super::report_tables::rest(&mut md, self);
        md
    }
}

/// One table: a row per (series, path) with absolute and overhead percentiles.
pub fn series_table(md: &mut String, series: &[Series], overhead: bool) {
    md.push_str("| rate | path | p50 | p90 | p99 |");
    if overhead {
        md.push_str(" overhead p50 | overhead p90 | overhead p99 |");
    }
    md.push_str(" achieved/s | samples | errors |\n|---|---|---:|---:|---:|");
    if overhead {
        md.push_str("---:|---:|---:|");
    }
    md.push_str("---:|---:|---:|\n");
    for s in series {
        for p in &s.paths {
            if p.samples == 0 && p.errors == 0 {
                continue;
            }
            let a = p.absolute.unwrap_or_default();
            let _ = write!(
                md,
                "| {} | {} | {:.0} | {:.0} | {:.0} |",
                s.label,
                p.path.name(),
                a.p50,
                a.p90,
                a.p99
            );
            if overhead {
                match p.overhead {
                    Some(o) => {
                        let _ = write!(md, " {:+.0} | {:+.0} | {:+.0} |", o.p50, o.p90, o.p99);
                    }
                    None => md.push_str(" — | — | — |"),
                }
            }
            let _ = writeln!(
                md,
                " {:.0} | {} | {} |",
                p.achieved_rps, p.samples, p.errors
            );
        }
    }
    md.push('\n');
    for s in series {
        for p in s.paths.iter().filter(|p| p.errors > 0) {
            let _ = writeln!(
                md,
                "- {} {}: first error: {}",
                s.label,
                p.path.name(),
                p.first_error.as_deref().unwrap_or("?")
            );
        }
        if let Some(lag) = s.pacer_lag {
            let _ = writeln!(
                md,
                "- {}: client pacer lag (scheduled → task start, direct path) p50 {:.0} µs, \
                 p99 {:.0} µs",
                s.label, lag.p50, lag.p99
            );
        }
    }
    md.push('\n');
}
