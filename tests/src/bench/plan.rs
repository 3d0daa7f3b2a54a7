//! What a bench run does: the [`Plan`] (rates, segment length, repetitions, stream counts) for the
//! full run and the CI smoke, and the command line that picks one and overrides it. Bounded by
//! construction: every scenario's request count is rate × segment × repetitions.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::mock::Mode;

/// Which run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every scenario at every rate (a few minutes).
    Full,
    /// One short pass of every scenario (seconds), no thresholds: a CI smoke test.
    Smoke,
    /// The mock alone, no server (to check it is never the bottleneck).
    Mock,
    /// Steady non-streamed and burst load only, for a profiler wrapping the server
    /// (`--wrapper "valgrind --tool=callgrind …"`); its timings are the profiler's, not the
    /// server's.
    Profile,
    /// The load test (`load.rs` is the open-loop generator; this is `capacity.rs`): many slow
    /// SSE streams held at once with the server's memory before, at peak and after, then many
    /// concurrent runs each answered through an approval. Fails on any error or a clear leak.
    Load,
}

/// Sizes of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: Kind,
    /// Open-loop rates of the non-streamed latency table, requests per second.
    pub rates: Vec<f64>,
    /// Length of one measured segment (one path at one rate, one repetition).
    pub segment: Duration,
    /// Repetitions; paths are interleaved within each, and medians taken over them.
    pub reps: usize,
    /// Requests per path before measuring (pools, caches, first-use allocations).
    pub warmup: usize,
    /// In-flight requests of the maximum-throughput test.
    pub concurrency: usize,
    /// Streams per second of the time-to-first-token test.
    pub ttft_rate: f64,
    /// Streams per second of the paced relay test.
    pub relay_rate: f64,
    /// The paced stream: chunk count and spacing.
    pub paced: Mode,
    /// Chunks per burst stream, and burst streams per path and repetition.
    pub burst: Mode,
    pub burst_streams: usize,
    /// SSE streams held open for the memory test.
    pub streams: usize,
    /// Concurrent runs of the runs test (the load test: runs that each wait for an approval).
    pub runs: usize,
    /// How long each load-test stream lasts: one chunk per second for this many seconds.
    pub hold_secs: u64,
    /// Measured rounds of held streams, back to back on one server: RSS that keeps growing from
    /// round to round is a leak, RSS that stays level is the allocator keeping its heap.
    pub rounds: usize,
}

impl Plan {
    /// The plan of `kind`.
    pub fn new(kind: Kind) -> Plan {
        let full = Plan {
            kind,
            rates: vec![100.0, 500.0, 1000.0, 2000.0],
            segment: Duration::from_secs(3),
            reps: 3,
            warmup: 300,
            concurrency: 32,
            ttft_rate: 200.0,
            relay_rate: 50.0,
            paced: Mode::Paced {
                chunks: 20,
                interval_us: 2000,
            },
            burst: Mode::Burst { chunks: 500 },
            burst_streams: 5,
            streams: 1000,
            runs: 10,
            hold_secs: 60,
            rounds: 2,
        };
        match kind {
            Kind::Load => Plan {
                streams: 1000,
                runs: 200,
                ..full
            },
            Kind::Full | Kind::Mock => full,
            Kind::Profile => Plan {
                rates: Vec::new(),
                segment: Duration::from_secs(10),
                reps: 1,
                warmup: 50,
                concurrency: 4,
                burst: Mode::Burst { chunks: 200 },
                burst_streams: 3,
                ..full
            },
            // Rates low enough for a debug build of the server on a busy CI machine.
            Kind::Smoke => Plan {
                rates: vec![50.0],
                segment: Duration::from_millis(500),
                reps: 1,
                warmup: 20,
                concurrency: 8,
                ttft_rate: 20.0,
                relay_rate: 10.0,
                paced: Mode::Paced {
                    chunks: 5,
                    interval_us: 2000,
                },
                burst: Mode::Burst { chunks: 50 },
                burst_streams: 2,
                streams: 50,
                runs: 2,
                ..full
            },
        }
    }

    /// The gateway aliases a server must be configured with for this plan.
    pub fn routes(&self) -> Vec<(&'static str, Mode)> {
        vec![
            ("paced", self.paced),
            ("burst", self.burst),
            ("hold", Mode::Hold),
        ]
    }
}

/// The parsed command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub plan: Plan,
    /// The `caduceus` executable under test.
    pub server_bin: PathBuf,
    /// `DATABASE_URL` for the server (default: SQLite in its temp home).
    pub database_url: Option<String>,
    /// Also write the Markdown report here.
    pub out: Option<PathBuf>,
    /// Also write the raw results as JSON here.
    pub json: Option<PathBuf>,
    /// A command to run the server under (split on spaces), e.g. a profiler.
    pub wrapper: Vec<String>,
}

/// The usage text.
pub const USAGE: &str = "usage: caduceus-bench [full|smoke|mock|profile|load] [--server-bin PATH] \
[--database-url URL] [--rates 100,500,...] [--segment-secs S] [--reps N] [--streams N] \
[--secs S] [--rounds R] [--runs N] [--wrapper \"CMD ARGS\"] [--out FILE.md] [--json FILE.json]

  full     every scenario (default; a few minutes)
  smoke    one short pass of every scenario, no thresholds (seconds)
  mock     the mock upstream alone
  profile  steady unary + burst load for a profiler given as --wrapper (one that runs the
           server in its own process, as valgrind does: stopping signals the wrapper's pid)
  load     after a warm-up round, --rounds R (2) measured rounds back to back, each holding
           --streams N (1000) SSE chat streams for --secs S (60) at one chunk per second; RSS
           before / peak / after each round; then --runs N (200) concurrent runs, each answered
           through an approval; fails on any error, if RSS after the last round > after the
           first + 10% (growth across rounds: a leak) or > before + 50%
The server binary defaults to $CADUCEUS_BIN, else `caduceus` next to this executable
(build it with `cargo build --release -p caduceus-service --bin caduceus`).";

impl Options {
    /// Parses `args` (without the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Options> {
        let mut args = args.into_iter().peekable();
        let kind = match args.peek().map(String::as_str) {
            Some("full") => Kind::Full,
            Some("smoke") => Kind::Smoke,
            Some("mock") => Kind::Mock,
            Some("profile") => Kind::Profile,
            Some("load") => Kind::Load,
            Some(other) if !other.starts_with("--") => bail!("unknown run `{other}`"),
            _ => Kind::Full,
        };
        if !matches!(args.peek().map(String::as_str), Some(flag) if flag.starts_with("--")) {
            args.next();
        }
        let mut options = Options {
            plan: Plan::new(kind),
            server_bin: default_server_bin(),
            database_url: None,
            out: None,
            json: None,
            wrapper: Vec::new(),
        };
        while let Some(flag) = args.next() {
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            let plan = &mut options.plan;
            match flag.as_str() {
                "--server-bin" => options.server_bin = PathBuf::from(value),
                "--database-url" => options.database_url = Some(value),
                "--out" => options.out = Some(PathBuf::from(value)),
                "--json" => options.json = Some(PathBuf::from(value)),
                "--wrapper" => {
                    options.wrapper = value.split_whitespace().map(str::to_owned).collect();
                }
                "--rates" => {
                    plan.rates = value
                        .split(',')
                        .map(|r| r.trim().parse::<f64>())
                        .collect::<Result<_, _>>()
                        .with_context(|| format!("bad --rates `{value}`"))?;
                    if plan.rates.iter().any(|&r| !(r > 0.0 && r <= 100_000.0)) {
                        bail!("--rates must be in (0, 100000]");
                    }
                }
                "--segment-secs" => {
                    let secs: f64 = value.parse().context("bad --segment-secs")?;
                    if !(0.05..=60.0).contains(&secs) {
                        bail!("--segment-secs must be between 0.05 and 60");
                    }
                    plan.segment = Duration::from_secs_f64(secs);
                }
                "--reps" => plan.reps = bounded(&value, "--reps", 1, 20)?,
                "--streams" => plan.streams = bounded(&value, "--streams", 1, 10_000)?,
                "--secs" => plan.hold_secs = bounded(&value, "--secs", 1, 3600)? as u64,
                "--runs" => plan.runs = bounded(&value, "--runs", 1, 5_000)?,
                "--rounds" => plan.rounds = bounded(&value, "--rounds", 1, 20)?,
                _ => bail!("unknown flag `{flag}`"),
            }
        }
        Ok(options)
    }
}

fn bounded(value: &str, flag: &str, low: usize, high: usize) -> anyhow::Result<usize> {
    let n: usize = value.parse().with_context(|| format!("bad {flag}"))?;
    if !(low..=high).contains(&n) {
        bail!("{flag} must be between {low} and {high}");
    }
    Ok(n)
}

fn default_server_bin() -> PathBuf {
    if let Ok(path) = std::env::var("CADUCEUS_BIN") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("caduceus")))
        .unwrap_or_else(|| PathBuf::from("target/release/caduceus"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Options> {
        Options::parse(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn picks_the_run_and_overrides() {
        assert_eq!(parse(&[]).unwrap().plan.kind, Kind::Full);
        assert_eq!(parse(&["smoke"]).unwrap().plan.kind, Kind::Smoke);
        let options = parse(&["mock", "--rates", "10, 20", "--reps", "2"]).unwrap();
        assert_eq!(options.plan.kind, Kind::Mock);
        assert_eq!(options.plan.rates, vec![10.0, 20.0]);
        assert_eq!(options.plan.reps, 2);
        let options = parse(&["--server-bin", "/x/caduceus", "--segment-secs", "0.5"]).unwrap();
        assert_eq!(options.server_bin, PathBuf::from("/x/caduceus"));
        assert_eq!(options.plan.segment, Duration::from_millis(500));
        let options = parse(&["profile", "--wrapper", "valgrind --tool=callgrind"]).unwrap();
        assert_eq!(options.plan.kind, Kind::Profile);
        assert_eq!(options.wrapper, ["valgrind", "--tool=callgrind"]);
        let options = parse(&["load", "--streams", "200", "--secs", "10", "--runs", "50"]).unwrap();
        assert_eq!(options.plan.kind, Kind::Load);
        assert_eq!(
            (
                options.plan.streams,
                options.plan.hold_secs,
                options.plan.runs
            ),
            (200, 10, 50)
        );
        let defaults = parse(&["load"]).unwrap().plan;
        assert_eq!(
            (
                defaults.streams,
                defaults.hold_secs,
                defaults.runs,
                defaults.rounds
            ),
            (1000, 60, 200, 2)
        );
        assert_eq!(parse(&["load", "--rounds", "5"]).unwrap().plan.rounds, 5);
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for (args, expected) in [
            (&["fast"][..], "unknown run"),
            (&["--reps"][..], "needs a value"),
            (&["--reps", "0"][..], "between 1 and 20"),
            (&["--rates", "10,x"][..], "bad --rates"),
            (&["--rates", "-5"][..], "must be in"),
            (&["--segment-secs", "999"][..], "between 0.05 and 60"),
            (&["--what", "1"][..], "unknown flag"),
            (&["load", "--secs", "0"][..], "between 1 and 3600"),
            (&["load", "--runs", "x"][..], "bad --runs"),
            (
                &["load", "--rounds", "0"][..],
                "--rounds must be between 1 and 20",
            ),
            (&["load", "--rounds", "two"][..], "bad --rounds"),
        ] {
            let error = format!("{:#}", parse(args).unwrap_err());
            assert!(error.contains(expected), "{args:?}: {error}");
        }
    }

    #[test]
    fn smoke_is_small() {
        let smoke = Plan::new(Kind::Smoke);
        assert!(smoke.segment <= Duration::from_secs(1));
        assert_eq!(smoke.reps, 1);
        assert!(smoke.streams <= 100);
        assert_eq!(smoke.routes().len(), 3);
    }
}
