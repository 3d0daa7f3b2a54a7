//! The figures of `caduceus-bench load` (`capacity.rs`), their pass/fail verdict and their
//! Markdown summary.

use serde::Serialize;

/// A clear leak: RSS after the streams closed above this multiple of RSS before them.
pub const LEAK_FACTOR: f64 = 1.5;

/// A slow leak: RSS after the last measured round above this multiple of RSS after the first.
/// The allocator keeps the heap of the first round and reuses it, so only growth across rounds
/// is memory kept per finished stream.
pub const ROUND_GROWTH_FACTOR: f64 = 1.1;

/// One measured round of held streams.
#[derive(Debug, Clone, Serialize)]
pub struct RoundLoad {
    /// Streams that received every chunk and `[DONE]`.
    pub completed: usize,
    pub errors: usize,
    /// From the first open to the last stream's end.
    pub seconds: f64,
    /// Two seconds after the round's last stream closed.
    pub rss_after_kib: u64,
}

/// Part one: many slow streams held at once, in rounds back to back.
#[derive(Debug, Clone, Serialize)]
pub struct StreamsLoad {
    /// Streams per round.
    pub streams: usize,
    pub chunks_per_stream: u64,
    /// Streams that received every chunk and `[DONE]`, over all measured rounds.
    pub completed: usize,
    /// Failed streams, the warm-up round's included.
    pub errors: usize,
    pub first_error: Option<String>,
    /// Sum of the measured rounds' wall times.
    pub seconds: f64,
    /// Right after start-up.
    pub rss_idle_kib: u64,
    /// After a warm-up round of as many concurrent (short) streams.
    pub rss_before_kib: u64,
    /// Highest RSS sampled (every 500 ms) while the streams were open, over all rounds.
    pub rss_peak_kib: u64,
    /// Two seconds after the last round's last stream closed.
    pub rss_after_kib: u64,
    /// The kernel's high-water mark (`VmHWM`) at the end.
    pub vm_hwm_kib: Option<u64>,
    /// The measured rounds, in order.
    pub rounds: Vec<RoundLoad>,
}

impl StreamsLoad {
    /// RSS after the last round relative to after the first (1.0 = level); `None` without a
    /// measured round.
    pub fn round_growth(&self) -> Option<f64> {
        let first = self.rounds.first()?.rss_after_kib;
        let last = self.rounds.last()?.rss_after_kib;
        Some(last as f64 / first.max(1) as f64)
    }
}

/// Part two: concurrent runs, each answered through an approval.
#[derive(Debug, Clone, Serialize)]
pub struct RunsLoad {
    pub runs: usize,
    pub completed: usize,
    pub approvals: u64,
    pub events: u64,
    pub errors: usize,
    pub first_error: Option<String>,
    pub seconds: f64,
    pub events_per_sec: f64,
}

/// The whole load test.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// Open-file limit the harness and server ran with.
    pub fd_limit: u64,
    pub streams: StreamsLoad,
    pub runs: RunsLoad,
    pub elapsed_secs: f64,
}

impl LoadReport {
    /// Why the run failed, if it did: any error, an incomplete stream or run, or a clear leak.
    pub fn failure(&self) -> Option<String> {
        let s = &self.streams;
        let r = &self.runs;
        let mut reasons = Vec::new();
        // At least one round is planned (`--rounds` ≥ 1): none measured is a failure too.
        let planned = s.streams * s.rounds.len().max(1);
        if s.errors > 0 || s.completed != planned {
            reasons.push(format!(
                "{} of {} streams failed (first: {})",
                planned.saturating_sub(s.completed).max(s.errors),
                planned,
                s.first_error.as_deref().unwrap_or("?")
            ));
        }
        if r.errors > 0 || r.completed != r.runs {
            reasons.push(format!(
                "{} of {} runs failed (first: {})",
                r.runs - r.completed,
                r.runs,
                r.first_error.as_deref().unwrap_or("?")
            ));
        }
        if s.rss_after_kib as f64 > s.rss_before_kib as f64 * LEAK_FACTOR {
            reasons.push(format!(
                "memory did not come back: RSS {} MiB before the streams, {} MiB after",
                mib(s.rss_before_kib),
                mib(s.rss_after_kib)
            ));
        }
        if let (Some(growth), Some(first)) = (s.round_growth(), s.rounds.first())
            && growth > ROUND_GROWTH_FACTOR
        {
            reasons.push(format!(
                "memory grew across rounds: RSS {} MiB after round 1, {} MiB after round {} \
                 ({:+.0}%, limit +{:.0}%)",
                mib(first.rss_after_kib),
                mib(s.rss_after_kib),
                s.rounds.len(),
                (growth - 1.0) * 100.0,
                (ROUND_GROWTH_FACTOR - 1.0) * 100.0
            ));
        }
        (!reasons.is_empty()).then(|| reasons.join("; "))
    }

    /// The Markdown summary.
    pub fn markdown(&self) -> String {
        let s = &self.streams;
        let r = &self.runs;
        let verdict = self
            .failure()
            .map_or_else(|| "PASS".to_owned(), |why| format!("FAIL: {why}"));
        let growth = (s.rss_after_kib as f64 / s.rss_before_kib.max(1) as f64 - 1.0) * 100.0;
        format!(
            "# caduceus-bench load\n\n\
             **{verdict}** — {elapsed:.0} s, load average {la0} → {la1}, open-file limit {fd}\n\n\
             ## Held SSE streams\n\n\
             | streams per round | rounds | chunks each (1/s) | completed | errors | wall time |\n\
             |---:|---:|---:|---:|---:|---:|\n\
             | {n} | {nrounds} | {chunks} | {done} | {errs} | {secs:.1} s |\n\n\
             | server RSS | MiB |\n|---|---:|\n\
             | idle (after start-up) | {idle} |\n\
             | before (after a warm-up round of {n} short streams) | {before} |\n| peak (sampled) | {peak} |\n\
             | after the last round's close (+2 s) | {after} ({growth:+.0}% vs before; fail above +{leak:.0}%) |\n\
             | VmHWM | {hwm} |\n\n\
             RSS after each round (fail if the last is above the first + {round_limit:.0}%):\n\n\
             | round | completed | errors | wall time | RSS after close (+2 s), MiB | vs round 1 |\n\
             |---:|---:|---:|---:|---:|---:|\n\
             {round_rows}\n\
             ## Runs with approvals\n\n\
             | runs | completed | approvals | errors | events | time | events/s |\n\
             |---:|---:|---:|---:|---:|---:|---:|\n\
             | {rn} | {rdone} | {appr} | {rerrs} | {events} | {rsecs:.1} s | {eps:.0} |\n",
            elapsed = self.elapsed_secs,
            la0 = self.loadavg_start,
            la1 = self.loadavg_end,
            fd = self.fd_limit,
            n = s.streams,
            chunks = s.chunks_per_stream,
            done = s.completed,
            errs = s.errors,
            secs = s.seconds,
            idle = mib(s.rss_idle_kib),
            before = mib(s.rss_before_kib),
            peak = mib(s.rss_peak_kib),
            after = mib(s.rss_after_kib),
            leak = (LEAK_FACTOR - 1.0) * 100.0,
            nrounds = s.rounds.len(),
            round_limit = (ROUND_GROWTH_FACTOR - 1.0) * 100.0,
            round_rows = round_rows(&s.rounds),
            hwm = s.vm_hwm_kib.map_or_else(|| "?".to_owned(), mib),
            rn = r.runs,
            rdone = r.completed,
            appr = r.approvals,
            rerrs = r.errors,
            events = r.events,
            rsecs = r.seconds,
            eps = r.events_per_sec,
        )
    }
}

/// The rows of the per-round table.
fn round_rows(rounds: &[RoundLoad]) -> String {
    let first = rounds.first().map_or(1, |r| r.rss_after_kib.max(1));
    rounds
        .iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "| {} | {} | {} | {:.1} s | {} | {:+.1}% |\n",
                i + 1,
                r.completed,
                r.errors,
                r.seconds,
                mib(r.rss_after_kib),
                (r.rss_after_kib as f64 / first as f64 - 1.0) * 100.0
            )
        })
        .collect()
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> LoadReport {
        LoadReport {
            loadavg_start: "0.1 0.2 0.3".into(),
            loadavg_end: "1.0 0.5 0.4".into(),
            fd_limit: 20000,
            streams: StreamsLoad {
                streams: 10,
                chunks_per_stream: 5,
                completed: 20,
                errors: 0,
                first_error: None,
                seconds: 11.0,
                rss_idle_kib: 30_000,
                rss_before_kib: 40_960,
                rss_peak_kib: 81_920,
                rss_after_kib: 45_056,
                vm_hwm_kib: Some(90_000),
                rounds: vec![round(44_032), round(45_056)],
            },
            runs: RunsLoad {
                runs: 4,
                completed: 4,
                approvals: 4,
                events: 40,
                errors: 0,
                first_error: None,
                seconds: 2.0,
                events_per_sec: 20.0,
            },
            elapsed_secs: 9.0,
        }
    }

    fn round(rss_after_kib: u64) -> RoundLoad {
        RoundLoad {
            completed: 10,
            errors: 0,
            seconds: 5.5,
            rss_after_kib,
        }
    }

    /// `report()` with measured rounds ending at these RSS figures (KiB), all clean.
    fn with_rounds(rss: &[u64]) -> LoadReport {
        let mut report = report();
        report.streams.rounds = rss.iter().copied().map(round).collect();
        report.streams.completed = 10 * rss.len();
        report.streams.rss_after_kib = rss.last().copied().unwrap_or(0);
        report
    }

    #[test]
    fn a_clean_run_passes_and_says_so() {
        let report = report();
        assert_eq!(report.failure(), None);
        let text = report.markdown();
        assert!(text.contains("**PASS**"), "{text}");
        assert!(text.contains("short streams) | 40.0 |"), "{text}");
        assert!(text.contains("+10% vs before"), "{text}");
        assert!(text.contains("| 10 | 2 | 5 | 20 | 0 | 11.0 s |"), "{text}");
        assert!(
            text.contains("| 1 | 10 | 0 | 5.5 s | 43.0 | +0.0% |"),
            "{text}"
        );
        assert!(
            text.contains("| 2 | 10 | 0 | 5.5 s | 44.0 | +2.3% |"),
            "{text}"
        );
    }

    #[test]
    fn growth_across_rounds_fails_but_a_level_heap_passes() {
        // Kept heap: well above "before" after round 1, then level — not a leak.
        assert_eq!(with_rounds(&[55_000, 56_000, 55_500]).failure(), None);
        // Within +10% of round 1 after the last round passes.
        assert_eq!(with_rounds(&[50_000, 54_000, 55_000]).failure(), None);
        // Steady growth: +12% over round 1 fails, though still under before + 50%.
        let leak = with_rounds(&[50_000, 53_000, 56_000]);
        let why = leak.failure().unwrap();
        assert!(why.contains("memory grew across rounds"), "{why}");
        assert!(why.contains("after round 3 (+12%, limit +10%)"), "{why}");
        assert!(!why.contains("did not come back"), "{why}");
        assert!(
            leak.markdown()
                .contains("| 3 | 10 | 0 | 5.5 s | 54.7 | +12.0% |")
        );
        // The +50% over "before" rule still holds with a single, level round.
        let one = with_rounds(&[70_000]);
        let why = one.failure().unwrap();
        assert!(why.contains("memory did not come back"), "{why}");
        assert!(!why.contains("grew across rounds"), "{why}");
    }

    #[test]
    fn a_missing_or_failed_round_fails() {
        let mut short = with_rounds(&[44_000, 45_000]);
        short.streams.rounds[1].completed = 7;
        short.streams.completed = 17;
        let why = short.failure().unwrap();
        assert!(why.contains("3 of 20 streams failed"), "{why}");
        let none = with_rounds(&[]);
        let why = none.failure().unwrap();
        assert!(why.contains("10 of 10 streams failed"), "{why}");
        let mut warm = report();
        warm.streams.errors = 2;
        warm.streams.first_error = Some("2 warm-up streams failed".into());
        let why = warm.failure().unwrap();
        assert!(why.contains("(first: 2 warm-up streams failed)"), "{why}");
    }

    #[test]
    fn errors_incomplete_runs_and_leaks_fail() {
        let mut failed = report();
        failed.streams.errors = 1;
        failed.streams.completed = 19;
        failed.streams.first_error = Some("reset".into());
        assert!(
            failed
                .failure()
                .unwrap()
                .contains("1 of 20 streams failed (first: reset)")
        );
        let mut incomplete = report();
        incomplete.runs.completed = 3;
        assert!(incomplete.failure().unwrap().contains("1 of 4 runs failed"));
        let mut leak = report();
        leak.streams.rss_after_kib = 70_000;
        let why = leak.failure().unwrap();
        assert!(why.contains("memory did not come back"), "{why}");
        assert!(leak.markdown().contains("**FAIL: "));
    }
}
