//! The figures of `caduceus-bench load` (`capacity.rs`), their pass/fail verdict and their
//! Markdown summary.

use serde::Serialize;

/// A clear leak: RSS after the streams closed above this multiple of RSS before them.
pub const LEAK_FACTOR: f64 = 1.5;

/// Part one: many slow streams held at once.
#[derive(Debug, Clone, Serialize)]
pub struct StreamsLoad {
    pub streams: usize,
    pub chunks_per_stream: u64,
    /// Streams that received every chunk and `[DONE]`.
    pub completed: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    /// From the first open to the last stream's end.
    pub seconds: f64,
    /// Right after start-up.
    pub rss_idle_kib: u64,
    /// After a warm-up round of as many concurrent (short) streams.
    pub rss_before_kib: u64,
    /// Highest RSS sampled (every 500 ms) while the streams were open.
    pub rss_peak_kib: u64,
    /// Two seconds after the last stream closed.
    pub rss_after_kib: u64,
    /// The kernel's high-water mark (`VmHWM`) at the end.
    pub vm_hwm_kib: Option<u64>,
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
        if s.errors > 0 || s.completed != s.streams {
            reasons.push(format!(
                "{} of {} streams failed (first: {})",
                s.streams - s.completed,
                s.streams,
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
             | streams | chunks each (1/s) | completed | errors | wall time |\n\
             |---:|---:|---:|---:|---:|\n\
             | {n} | {chunks} | {done} | {errs} | {secs:.1} s |\n\n\
             | server RSS | MiB |\n|---|---:|\n\
             | idle (after start-up) | {idle} |\n\
             | before (after a warm-up round of {n} short streams) | {before} |\n| peak (sampled) | {peak} |\n\
             | after close (+2 s) | {after} ({growth:+.0}% vs before; fail above +{leak:.0}%) |\n\
             | VmHWM | {hwm} |\n\n\
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
                completed: 10,
                errors: 0,
                first_error: None,
                seconds: 5.5,
                rss_idle_kib: 30_000,
                rss_before_kib: 40_960,
                rss_peak_kib: 81_920,
                rss_after_kib: 45_056,
                vm_hwm_kib: Some(90_000),
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

    #[test]
    fn a_clean_run_passes_and_says_so() {
        let report = report();
        assert_eq!(report.failure(), None);
        let text = report.markdown();
        assert!(text.contains("**PASS**"), "{text}");
        assert!(text.contains("short streams) | 40.0 |"), "{text}");
        assert!(text.contains("+10% vs before"), "{text}");
    }

    #[test]
    fn errors_incomplete_runs_and_leaks_fail() {
        let mut failed = report();
        failed.streams.errors = 1;
        failed.streams.completed = 9;
        failed.streams.first_error = Some("reset".into());
        assert!(
            failed
                .failure()
                .unwrap()
                .contains("1 of 10 streams failed (first: reset)")
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
